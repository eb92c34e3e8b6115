"""English, Russian and Ukrainian: catalogues complete, every string wrapped, choice honoured."""

import io
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from conftest import login, post
from flask_babel import ngettext

from tz_app.extensions import db
from tz_app.i18n import LANGUAGES
from tz_app.models import User

ROOT = Path(__file__).resolve().parent.parent
TRANSLATIONS = ROOT / "tz_app" / "translations"
TRANSLATED = [code for code in LANGUAGES if code != "en"]
METHODS = [
    ("tz_app/**.py", "python"),
    ("tz_app/templates/**.html", "jinja2"),
    ("tz_app/templates/**.txt", "jinja2"),
]
KEYWORDS = {
    "_": None,
    "_l": None,
    "gettext": None,
    "raw_gettext": None,
    "ngettext": (1, 2),
    "lazy_gettext": None,
}


def client_in(app, language: str):
    """A test client whose browser asks for ``language``."""
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = language
    return client


def catalog(code: str):
    with (TRANSLATIONS / code / "LC_MESSAGES" / "messages.po").open("rb") as f:
        return read_po(f, locale=code)


def source_messages() -> set[str]:
    found = set()
    for _filename, _lineno, message, _comments, _context in extract_from_dir(
        str(ROOT), METHODS, keywords=KEYWORDS
    ):
        found.add(message if isinstance(message, str) else message[0])
    return found


@pytest.mark.parametrize("code", TRANSLATED)
def test_catalogue_is_complete_and_valid(code):
    cat = catalog(code)
    assert cat.num_plurals == 3
    problems = []
    for message in cat:
        if not message.id:
            continue
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if not all(strings):
            problems.append(f"untranslated: {message.id!r}")
        if message.fuzzy:
            problems.append(f"fuzzy: {message.id!r}")
    for message, errors in cat.check():
        problems += [f"{message.id!r}: {error}" for error in errors]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("code", TRANSLATED)
def test_every_wrapped_string_is_in_the_catalogue(code):
    ids = {m.id if isinstance(m.id, str) else m.id[0] for m in catalog(code) if m.id}
    missing = sorted(source_messages() - ids)
    assert not missing, "run `make i18n`; missing from the catalogue: " + "; ".join(missing)


@pytest.mark.parametrize("code", TRANSLATED)
def test_compiled_catalogue_matches_the_po_file(code):
    expected = io.BytesIO()
    write_mo(expected, catalog(code))
    compiled = (TRANSLATIONS / code / "LC_MESSAGES" / "messages.mo").read_bytes()
    assert compiled == expected.getvalue(), "run `make i18n` to recompile the catalogues"


class VisibleText(HTMLParser):
    """Text a person reads: text nodes and the attributes shown or spoken."""

    SPOKEN = frozenset({"placeholder", "title", "aria-label", "data-confirm", "data-label", "alt"})

    def __init__(self):
        super().__init__()
        self.parts: list[str] = []
        self.skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style", "template"):
            self.skip += 1
        for name, value in attrs:
            if name in self.SPOKEN and value:
                self.parts.append(value)

    def handle_endtag(self, tag):
        if tag in ("script", "style", "template"):
            self.skip -= 1

    def handle_data(self, data):
        if not self.skip and data.strip():
            self.parts.append(data)


# Not English words: data, endonyms of the languages, the product's name.
ALLOWED = {"tz_app", "UTC", "EN", "RU", "UK", "English"}
EMAIL = re.compile(r"\S+@\S+")


def english_words(html: str, data: set[str]) -> set[str]:
    parser = VisibleText()
    parser.feed(html)
    words = set()
    for part in parser.parts:
        text = EMAIL.sub(" ", part)
        for value in data:
            text = text.replace(value, " ")
        words |= {w for w in re.findall(r"[A-Za-z][A-Za-z_']+", text) if w not in ALLOWED}
    return words


@pytest.mark.parametrize("code", TRANSLATED)
def test_no_english_word_on_any_page(app, make_user, code):
    admin = make_user("admin", name="Олена", last_name="Коваленко")
    other = make_user("user", name="Петро", last_name="Шевченко", paternity_name="Іванович")
    client = client_in(app, code)
    pages = ["/login/", "/signup/", "/nowhere/"]
    seen = {path: client.get(path).get_data(as_text=True) for path in pages}
    login(client, admin.email)
    post(client, f"/users/{other.id}/update/", {"name": "Петрусь", "role": "manager"})
    post(client, "/admin/rules/", {"cell": "user:audit", "user:audit:read": "on"})
    post(client, "/admin/roles/", {"name": "auditor"})
    login(app.test_client(), other.email, "not the password")
    for path in [
        "/home/",
        "/home/?q=нікого",
        "/home/?show=deleted",
        f"/users/{other.id}/edit/",
        "/users/new/",
        "/profile/",
        "/sessions/",
        "/admin/rules/",
        "/admin/roles/",
        "/admin/audit/",
        "/users/999999/edit/",
    ]:
        seen[path] = client.get(path).get_data(as_text=True)
    user_client = client_in(app, code)
    login(user_client, other.email)
    seen["403"] = user_client.get("/admin/rules/").get_data(as_text=True)
    seen["errors"] = post(
        client, "/users/new/", {"name": "", "email": "x", "password": "1", "role": "user"}
    ).get_data(as_text=True)
    data = {"auditor", "Олена", "Коваленко", "Петрусь", "Шевченко", "Іванович", "Tester"}
    found = {path: english_words(html, data) for path, html in seen.items()}
    assert not any(found.values()), {p: sorted(w) for p, w in found.items() if w}


def test_language_follows_the_browser_then_the_choice(app, client, make_user):
    assert '<html lang="en">' in client.get("/login/").get_data(as_text=True)
    page = client.get("/login/", headers={"Accept-Language": "uk,en;q=0.5"})
    assert '<html lang="uk">' in page.get_data(as_text=True)
    response = post(client, "/language/", {"language": "ru", "next": "/login/"})
    assert response.status_code == 302 and response.headers["Location"] == "/login/"
    page = client.get("/login/", headers={"Accept-Language": "uk"}).get_data(as_text=True)
    assert '<html lang="ru">' in page
    assert post(client, "/language/", {"language": "de"}).status_code == 400


def test_a_signed_in_choice_is_remembered_for_the_user(app, make_user):
    account = make_user("user")
    first = app.test_client()
    login(first, account.email)
    post(first, "/language/", {"language": "uk", "next": "https://evil.example/"})
    with app.app_context():
        assert db.session.get(User, account.id).locale == "uk"
    elsewhere = client_in(app, "en")
    login(elsewhere, account.email)
    assert '<html lang="uk">' in elsewhere.get("/home/").get_data(as_text=True)


@pytest.mark.parametrize("code", TRANSLATED)
def test_three_plural_forms(app, code):
    with app.test_request_context(headers={"Accept-Language": code}):
        forms = [
            ngettext(
                "Too many failed sign-in attempts for this account. Try again in %(num)d minute.",
                "Too many failed sign-in attempts for this account. Try again in %(num)d minutes.",
                n,
            )
            for n in (1, 3, 5, 21)
        ]
    assert len({f.replace(str(n), "N") for f, n in zip(forms, (1, 3, 5, 21), strict=True)}) == 3
    assert forms[0].replace("1", "N") == forms[3].replace("21", "N")


def test_dates_follow_the_locale(app, make_user):
    account = make_user("user")
    client = client_in(app, "uk")
    login(client, account.email)
    with app.app_context():
        created = db.session.get(User, account.id).created_at
    from babel.dates import format_date

    assert format_date(created, "long", locale="uk") in client.get("/profile/").get_data(
        as_text=True
    )

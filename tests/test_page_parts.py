"""Parts of pages built once and kept (tz_app.fragments), and how a request's
transaction ends (tz_app.transactions)."""

import html
import re

import pytest
from conftest import post
from flask_babel import force_locale, gettext
from sqlalchemy import select, text, update

from tz_app import fragments
from tz_app.extensions import db
from tz_app.models import User
from tz_app.permissions import public


def nav_links(html: str) -> list[tuple[str, bool]]:
    """The main navigation's links: (href, marked as the current page)."""
    nav = re.search(r'<nav class="main-nav"[^>]*>(.*?)</nav>', html, re.S).group(1)
    return [
        (href, "aria-current" in rest)
        for href, rest in re.findall(r'<a href="([^"]+)"([^>]*)>', nav)
    ]


# Every signed-in user's own pages, first in the navigation.
OWN = ["/home/", "/profile/", "/mfa/", "/sessions/"]


def hrefs(html: str) -> list[str]:
    return [href for href, _current in nav_links(html)]


def test_the_navigation_follows_a_rule_change_at_once(signed_in):
    admin, _ = signed_in("admin")
    manager, _ = signed_in("manager")
    assert "/admin/audit/" not in hrefs(manager.get("/home/").get_data(as_text=True))

    grant = {"cell": ["manager:audit"], "manager:audit:read_all": "on"}
    assert post(admin, "/admin/rules/", grant).status_code == 302
    assert "/admin/audit/" in hrefs(manager.get("/home/").get_data(as_text=True))

    assert post(admin, "/admin/rules/", {"cell": ["manager:audit"]}).status_code == 302
    assert "/admin/audit/" not in hrefs(manager.get("/home/").get_data(as_text=True))
    # Another role's links were never mixed in.
    assert "/admin/audit/" in hrefs(admin.get("/home/").get_data(as_text=True))


@pytest.mark.parametrize("role", ["admin", "manager", "user"])
def test_each_role_sees_the_links_its_rules_allow(signed_in, role):
    client, _ = signed_in(role)
    client.get("/profile/")  # another page's parts first: each is kept apart
    links = hrefs(client.get("/home/").get_data(as_text=True))
    expected = {
        "admin": [*OWN, "/admin/rules/", "/admin/roles/", "/admin/audit/"],
        "manager": [*OWN, "/admin/roles/"],
        "user": OWN,
    }
    assert links == expected[role]


def test_the_current_page_is_marked_on_each_page(signed_in):
    client, _ = signed_in("admin")
    for path in ("/home/", "/profile/", "/admin/roles/", "/home/"):
        links = nav_links(client.get(path).get_data(as_text=True))
        assert [href for href, current in links if current] == [path]


def test_parts_are_kept_per_language(app, signed_in):
    client, _ = signed_in("manager")
    english = client.get("/home/").get_data(as_text=True)
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "uk"
    post(client, "/language/", {"language": "uk"})
    ukrainian = client.get("/home/").get_data(as_text=True)
    with app.test_request_context(), force_locale("uk"):
        labels = [gettext("Users"), gettext("Sessions"), gettext("Search"), gettext("Last name")]
    assert '<html lang="uk">' in ukrainian
    assert all(f">{label}<" in ukrainian for label in labels)
    assert ">Sessions<" in english and ">Sessions<" not in ukrainian
    assert '"save": "Save"' in english and '"save": "Save"' not in ukrainian
    assert 'aria-pressed="true"\n                title="Українська"' in ukrainian


def test_parts_are_kept_per_app_root(signed_in):
    """The same process serving under two prefixes never hands one's links to the other."""
    client, _ = signed_in("admin")
    plain = client.get("/home/").get_data(as_text=True)
    under = client.get("/home/", environ_overrides={"SCRIPT_NAME": "/tz"}).get_data(as_text=True)
    assert hrefs(plain)[0] == "/home/" and '"/static/app.css"' in plain
    assert hrefs(under)[0] == "/tz/home/" and '"/tz/static/app.css"' in under
    assert all(href.startswith("/tz/") for href in hrefs(under))
    assert 'action="/tz/language/"' in under


def test_kept_parts_stay_bounded(app, signed_in, monkeypatch):
    monkeypatch.setattr(fragments, "MAX_FRAGMENTS", 4)
    client, _ = signed_in("admin")
    for path in ("/home/", "/profile/", "/sessions/", "/admin/roles/", "/home/?per_page=50"):
        html = client.get(path).get_data(as_text=True)
        assert len(app.extensions["tz_fragments"]) <= 4
        assert [href for href, current in nav_links(html) if current] == [path.split("?")[0]]
    assert '<option value="50" selected>' in html


def test_a_page_that_wrote_without_committing_leaves_nothing(app, client, make_user):
    """Only a transaction that sent nothing but SELECTs ends with COMMIT."""
    account = make_user("user")

    @public
    def scribble_core():
        db.session.execute(update(User).where(User.id == account.id).values(name="Core"))
        return "written, not committed"

    @public
    def scribble_orm():
        db.session.get(User, account.id).name = "Pending"
        return "changed, not flushed"

    @public
    def scribble_flushed():
        db.session.get(User, account.id).name = "Flushed"
        db.session.flush()
        db.session.scalar(select(User.id).limit(1))
        return "flushed, then read"

    views = (scribble_core, scribble_orm, scribble_flushed)
    for view in views:
        app.add_url_rule(f"/test/{view.__name__}/", view_func=view)
    for view in views:
        assert client.get(f"/test/{view.__name__}/").status_code == 200
        with app.app_context():
            assert db.session.get(User, account.id).name == account.name


def test_pages_keep_their_prepared_statements(app, signed_in, backend):
    """psycopg forgets its prepared statements on ROLLBACK; a page that only
    read ends with COMMIT, so PostgreSQL plans its queries once, not per request."""
    if backend != "postgresql":
        pytest.skip("prepared statements are the PostgreSQL driver's")
    client, _ = signed_in("admin")
    for _ in range(8):
        assert client.get("/home/").status_code == 200
    with app.app_context():
        prepared = db.session.scalars(text("SELECT statement FROM pg_prepared_statements")).all()
    assert any("FROM sessions" in statement for statement in prepared), prepared
    assert any("FROM users" in statement for statement in prepared), prepared


def page_numbers(page: str) -> list[str]:
    """The addresses the page links of a page lead to."""
    nav = re.search(r'<nav class="pagination"[^>]*>(.*?)</nav>', page, re.S)
    return [html.unescape(href) for href in re.findall(r'href="([^"]+)"', nav.group(1))]


def test_page_links_follow_the_list_and_the_search(signed_in, make_user):
    client, _ = signed_in("admin")
    for _ in range(24):
        make_user("user", last_name="Pagerson")
    links = page_numbers(client.get("/home/?per_page=10").get_data(as_text=True))
    # 2 and 3, then "Next", for 25 users and the admin.
    assert links == [f"/home/?per_page=10&page={n}" for n in (2, 3, 2)]
    for _ in range(10):
        make_user("user", last_name="Pagerson")
    links = page_numbers(client.get("/home/?per_page=10").get_data(as_text=True))
    assert "/home/?per_page=10&page=4" in links
    searched = page_numbers(client.get("/home/?per_page=10&q=pagerson").get_data(as_text=True))
    assert searched and all(
        link.startswith("/home/?q=pagerson&per_page=10&page=") for link in searched
    )
    other = page_numbers(client.get("/home/?per_page=10&q=pagers").get_data(as_text=True))
    assert other and all(link.startswith("/home/?q=pagers&per_page=10&page=") for link in other)

"""The users page: row actions through one shared form, and work that does not grow per row."""

import re
from html.parser import HTMLParser

import pytest
from conftest import login
from test_queries import statements

from tz_app.extensions import db
from tz_app.models import Counter, User


class Controls(HTMLParser):
    """Forms, their fields, and the row controls of a page, as a browser would see them."""

    def __init__(self):
        super().__init__()
        self.forms: dict[str, dict] = {}
        self.controls: list[dict] = []
        self.form_stack: list[dict] = []
        self.row_id: str | None = None
        self.forms_in_rows = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "tr" and "data-user-id" in attrs:
            self.row_id = attrs["data-user-id"]
        if tag == "form":
            form = {"attrs": attrs, "fields": {}}
            self.form_stack.append(form)
            if attrs.get("id"):
                self.forms[attrs["id"]] = form
            if self.row_id is not None:
                self.forms_in_rows += 1
        if tag == "input" and self.form_stack and attrs.get("name"):
            self.form_stack[-1]["fields"][attrs["name"]] = attrs.get("value", "")
        if "data-action" in attrs and self.row_id is not None:
            self.controls.append({"tag": tag, "row": self.row_id, **attrs})

    def handle_endtag(self, tag):
        if tag == "form" and self.form_stack:
            self.form_stack.pop()
        if tag == "tr":
            self.row_id = None


def controls(html: str) -> Controls:
    parser = Controls()
    parser.feed(html)
    return parser


def submit(client, page: Controls, button: dict):
    """What a browser without JavaScript sends when ``button`` is pressed."""
    form = page.forms[button["form"]]
    assert form["attrs"].get("method", "").lower() == "post"
    return client.post(button["formaction"], data=form["fields"])


@pytest.fixture
def crowd(make_user):
    return [make_user("user", last_name=f"Crowd{n:03d}") for n in range(30)]


def test_row_actions_post_one_shared_form(app, signed_in, crowd):
    admin, _ = signed_in("admin")
    page = controls(admin.get("/home/?per_page=20").get_data(as_text=True))
    assert page.forms_in_rows == 0
    deletes = [c for c in page.controls if c["data-action"] == "delete"]
    edits = [c for c in page.controls if c["data-action"] == "edit"]
    assert len(deletes) == len(edits) == 20
    for button in deletes:
        assert button["tag"] == "button"
        assert button["formaction"] == f"/users/{button['row']}/delete/"
        assert "csrf_token" in page.forms[button["form"]]["fields"]
    for link in edits:
        assert link["tag"] == "a" and link["href"] == f"/users/{link['row']}/edit/"
    assert len({button["form"] for button in deletes}) == 1


def test_delete_without_javascript_through_the_shared_form(app, signed_in, crowd):
    admin, _ = signed_in("admin")
    page = controls(admin.get("/home/?q=crowd007").get_data(as_text=True))
    [button] = [c for c in page.controls if c["data-action"] == "delete"]
    response = submit(admin, page, button)
    assert response.status_code == 302 and response.headers["Location"] == "/home/"
    with app.app_context():
        assert db.session.get(User, crowd[7].id).is_active is False


def test_restore_without_javascript_through_the_shared_form(app, signed_in, make_user):
    admin, _ = signed_in("admin")
    gone = make_user("user", is_active=False)
    page = controls(admin.get("/home/?show=deleted").get_data(as_text=True))
    [button] = [c for c in page.controls if c["data-action"] == "restore"]
    assert button["row"] == str(gone.id) and button["tag"] == "button"
    assert submit(admin, page, button).status_code == 302
    with app.app_context():
        assert db.session.get(User, gone.id).is_active is True


def test_a_user_gets_controls_for_their_own_row_only(app, crowd, make_user):
    me = make_user("user")
    client = app.test_client()
    login(client, me.email)
    page = controls(client.get("/home/").get_data(as_text=True))
    assert {(c["row"], c["data-action"]) for c in page.controls} == {
        (str(me.id), "edit"),
        (str(me.id), "delete"),
    }


def test_a_row_costs_under_500_bytes(app, signed_in, crowd):
    admin, _ = signed_in("admin")
    ten = len(admin.get("/home/?per_page=10").data)
    thirty = len(admin.get("/home/?per_page=30").data)
    assert (thirty - ten) / 20 < 500


class Calls:
    """Counts the calls a template makes to one of its globals."""

    def __init__(self, app, name):
        self.real = app.jinja_env.globals[name]
        self.count = 0
        # Jinja passes the context to callables marked for it, such as gettext.
        self.jinja_pass_arg = getattr(self.real, "jinja_pass_arg", None)
        app.jinja_env.globals[name] = self

    def __call__(self, *args, **kwargs):
        self.count += 1
        return self.real(*args, **kwargs)


@pytest.mark.parametrize("name", ["url_for", "can", "gettext", "_"])
def test_template_work_does_not_grow_with_the_rows(app, signed_in, crowd, name):
    admin, _ = signed_in("admin")
    admin.get("/home/")
    calls = Calls(app, name)
    counts = []
    for per_page in (5, 30):
        calls.count = 0
        assert admin.get(f"/home/?per_page={per_page}").status_code == 200
        counts.append(calls.count)
    assert counts[0] == counts[1], counts


def listed(html: str) -> list[int]:
    return [int(uid) for uid in re.findall(r'<tr data-user-id="(\d+)"', html)]


def test_page_one_reads_its_total_with_its_rows(app, signed_in, crowd):
    admin, _ = signed_in("admin")
    admin.get("/home/")
    with statements(app) as seen:
        html = admin.get("/home/").get_data(as_text=True)
    assert "Showing 1–20 of 31 users." in html
    assert len(seen) == 2, seen  # who is asking; the page with its total


def test_a_page_past_the_end_shows_the_last_page(app, signed_in, crowd):
    admin, _ = signed_in("admin")
    last = admin.get("/home/?per_page=10&page=4").get_data(as_text=True)
    assert (
        admin.get("/home/?per_page=10&page=999").get_data(as_text=True).count("data-user-id=")
        == last.count("data-user-id=")
        == 1
    )
    assert "Showing 31–31 of 31 users." in admin.get("/home/?per_page=10&page=999").get_data(
        as_text=True
    )
    assert "No users." in admin.get("/home/?show=deleted").get_data(as_text=True)


def test_without_a_counter_the_users_are_counted(app, signed_in, crowd):
    admin, _ = signed_in("admin")
    with app.app_context():
        kept = dict(db.session.execute(db.select(Counter.name, Counter.value)).all())
        db.session.execute(db.delete(Counter))
        db.session.commit()
    try:
        html = admin.get("/home/?per_page=10&page=2").get_data(as_text=True)
        assert "Showing 11–20 of 31 users." in html
        assert len(listed(html)) == 10
    finally:
        with app.app_context():
            db.session.add_all(Counter(name=name, value=value) for name, value in kept.items())
            db.session.commit()

"""Odd numbers, text that grows when folded, and one spelling per email address."""

import re
import sys
import urllib.parse

import pytest
from alembic.script import ScriptDirectory
from conftest import PASSWORD, PostgresDatabase, csrf_token, login, make_test_app, post
from flask import current_app
from flask_migrate import upgrade
from sqlalchemy import column, insert, select, table

from tz_app.extensions import db
from tz_app.models import AuditEvent, Role, Session, User, UTCDateTime, utcnow

ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
FULL_WIDTH_DIGITS = str.maketrans("0123456789", "０１２３４５６７８９")
FULL_WIDTH = "ｕｓｅｒ@ｅｘａｍｐｌｅ.ｃｏｍ"
USER_ROW = re.compile(r'data-user-id="(\d+)"')
EVENT_ROW = re.compile(r'data-event-id="(\d+)"')


def odd_spellings(n: int) -> list[str]:
    """Ways to write a number that are not plain ASCII digits, and numbers out of range."""
    other_digits = [str(n).translate(ARABIC_INDIC), str(n).translate(FULL_WIDTH_DIGITS)]
    return ["²", *other_digits, "-1", "0", f"+{n}", f" {n}", "9999999999", str(10**30), "1e3", ""]


def test_odd_ids_in_paths_are_404(app, client, make_user, signed_in):
    admin = make_user("admin")
    target = make_user("user")
    deleted = make_user("user", is_active=False)
    _victim_client, victim = signed_in("user")
    with app.app_context():
        session_id = db.session.scalar(select(Session.id).where(Session.user_id == victim.id))
        role = Role(name="temporary")
        db.session.add(role)
        db.session.commit()
        role_id = role.id
    login(client, admin.email)
    token = csrf_token(client, "/home/")
    assert client.get(f"/users/{target.id}/edit/").status_code == 200
    routes = [
        ("GET", "/users/{}/edit/", target.id),
        ("POST", "/users/{}/update/", target.id),
        ("POST", "/users/{}/restore/", deleted.id),
        ("POST", "/sessions/{}/revoke/", session_id),
        ("POST", "/admin/roles/{}/rename/", role_id),
        ("POST", "/admin/roles/{}/delete/", role_id),
        ("POST", "/users/{}/delete/", target.id),
    ]
    answers = {}
    for method, path, n in routes:
        for odd in odd_spellings(n):
            url = path.format(urllib.parse.quote(odd))
            data = {"csrf_token": token, "name": "Changed"} if method == "POST" else None
            response = client.open(url, method=method, data=data, follow_redirects=True)
            answers[(method, url)] = response.status_code
    assert {key: code for key, code in answers.items() if code != 404} == {}
    with app.app_context():
        assert db.session.get(User, target.id).is_active
        assert db.session.get(User, target.id).name != "Changed"
        assert db.session.get(Session, session_id).is_active
        assert db.session.get(Role, role_id).name == "temporary"


def test_odd_user_filter_on_the_sessions_page_is_404(client, make_user):
    admin = make_user("admin")
    victim = make_user("user", name="Victim")
    login(client, admin.email)
    answers = {
        odd: client.get("/sessions/", query_string={"user": odd}).status_code
        for odd in odd_spellings(victim.id)
        if odd
    }
    assert {odd: code for odd, code in answers.items() if code != 404} == {}
    assert "Victim" in client.get(f"/sessions/?user={victim.id}").get_data(as_text=True)
    own = client.get("/sessions/?user=")
    assert own.status_code == 200 and "Victim" not in own.get_data(as_text=True)


# (value, page shown) with 5 rows, 2 a page; (value, rows shown) on page 1 by default.
PAGE_CASES = [("2", 2), ("9999999999", 3), (str(10**30), 3), ("-1", 1), ("0", 1)] + [
    (odd, 1) for odd in ("", "²", "٢", "２", "+2", " 2", "1e3", "2.0", "0x2")
]
PER_PAGE_CASES = [("2", 2), ("9999999999", 5), (str(10**30), 5), ("-1", 1), ("0", 1)] + [
    (odd, 5) for odd in ("", "²", "٢", "２", "+2", " 2", "1e3", "2.0", "0x2")
]


def _paging_answers(client, path, row, ordered):
    """{(parameter, value): (expected ids, shown ids)} for the page/per_page cases."""
    answers = {}
    for value, page in PAGE_CASES:
        response = client.get(path, query_string={"page": value, "per_page": "2"})
        assert response.status_code == 200, (value, response.status_code)
        shown = [int(i) for i in row.findall(response.get_data(as_text=True))]
        answers[("page", value)] = (ordered[(page - 1) * 2 : page * 2], shown)
    for value, rows in PER_PAGE_CASES:
        response = client.get(path, query_string={"per_page": value})
        assert response.status_code == 200, (value, response.status_code)
        shown = [int(i) for i in row.findall(response.get_data(as_text=True))]
        answers[("per_page", value)] = (ordered[:rows], shown)
    return {key: pair for key, pair in answers.items() if pair[0] != pair[1]}


def test_odd_page_numbers_are_clamped_or_default_on_the_users_page(app, client, make_user):
    admin = make_user("admin")
    for n in range(4):
        make_user("user", last_name=f"Row{n}")
    login(client, admin.email)
    with app.app_context():
        ordered = list(
            db.session.scalars(
                select(User.id).order_by(User.last_name, User.name, User.id).limit(5)
            )
        )
    assert _paging_answers(client, "/home/", USER_ROW, ordered) == {}


def test_odd_page_numbers_are_clamped_or_default_in_the_audit_log(app, client, make_user):
    login(client, make_user("admin").email)
    with app.app_context():
        db.session.add_all(AuditEvent(kind="user.updated", detail={}) for _ in range(4))
        db.session.commit()
        ordered = list(
            db.session.scalars(
                select(AuditEvent.id).order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc())
            )
        )
    assert len(ordered) == 5
    assert _paging_answers(client, "/admin/audit/", EVENT_ROW, ordered) == {}


def test_search_text_has_room_for_the_longest_fold():
    growth = max(
        len(chr(c).casefold()) for c in range(sys.maxunicode + 1) if not 0xD800 <= c < 0xE000
    )
    columns = User.__table__.c
    parts = ("name", "last_name", "paternity_name", "email")
    room = growth * sum(columns[p].type.length for p in parts) + len(parts) - 1
    assert columns.search_text.type.length >= room


def _finds(client, q, user_id) -> bool:
    page = client.get("/home/", query_string={"q": q}).get_data(as_text=True)
    return str(user_id) in USER_ROW.findall(page)


def _person(name, email, **more):
    return {"name": name, "last_name": name, "paternity_name": name, "email": email, **more}


def test_names_that_grow_when_folded_fit_through_every_form(app, client, make_user):
    """ﬃ folds to ffi, ß and ẞ to ss: 100 of them make 300 and 200 characters of search text."""
    admin = app.test_client()
    login(admin, make_user("admin").email)
    passwords = {"password": PASSWORD, "password_confirm": PASSWORD}
    signup = post(client, "/signup/", _person("ﬃ" * 100, "ligature@example.com", **passwords))
    assert signup.status_code == 302
    created = post(
        admin, "/users/new/", _person("ẞ" * 100, "sharp@example.com", role="user", **passwords)
    )
    assert created.status_code == 302
    own = make_user("user")
    own_client = app.test_client()
    login(own_client, own.email)
    updated = post(own_client, f"/users/{own.id}/update/", _person("ß" * 100, own.email), json=True)
    assert updated.status_code == 200
    with app.app_context():
        ids = {
            email: user_id
            for email, user_id in db.session.execute(select(User.email, User.id))
            if email in ("ligature@example.com", "sharp@example.com", own.email)
        }
    for email, typed, folded in [
        ("ligature@example.com", "ﬃ" * 100, "ffi" * 33),
        ("sharp@example.com", "ẞ" * 100, "ss" * 50),
        (own.email, "ß" * 100, "ss" * 50),
    ]:
        assert _finds(admin, typed, ids[email]) and _finds(admin, folded, ids[email])
        assert _finds(admin, email, ids[email])


def test_odd_user_agent_and_forwarded_address_are_stored_safely(app, database_url, make_user):
    account = make_user("user")
    proxied = make_test_app(database_url, TRUSTED_PROXIES=1)
    client = proxied.test_client()
    headers = {"User-Agent": "Odd\x00Agent/1 " + "x" * 2000, "X-Forwarded-For": "\x00" + "9" * 90}
    try:
        token = csrf_token(client, "/login/")
        response = client.post(
            "/login/",
            data={"email": account.email, "password": PASSWORD, "csrf_token": token},
            headers=headers,
        )
    finally:
        with proxied.app_context():
            db.session.remove()
            db.engine.dispose()
    assert response.status_code == 302
    with app.app_context():
        stored = db.session.scalars(select(Session).where(Session.user_id == account.id)).one()
        assert stored.ip is None
        assert stored.user_agent.startswith("OddAgent/1 x") and len(stored.user_agent) <= 512
        assert all(ip is None for ip in db.session.scalars(select(AuditEvent.ip)))


def _emails(app) -> list[str]:
    with app.app_context():
        return sorted(db.session.scalars(select(User.email)))


def test_full_width_email_is_the_same_account(app, client, make_user):
    account = make_user("user", email="user@example.com")
    assert login(client, FULL_WIDTH).status_code == 302
    with app.app_context():
        assert db.session.scalar(select(Session.user_id)) == account.id
    again = post(
        app.test_client(),
        "/signup/",
        _person("Twin", FULL_WIDTH, password=PASSWORD, password_confirm=PASSWORD),
    )
    assert again.status_code == 200
    assert "An account with this email already exists." in again.get_data(as_text=True)
    other = make_user("user", email="other@example.com")
    admin = app.test_client()
    login(admin, make_user("admin", email="admin@example.com").email)
    taken = post(admin, f"/users/{other.id}/update/", {"email": FULL_WIDTH}, json=True)
    assert taken.status_code == 400 and "email" in taken.get_json()["errors"]
    assert _emails(app) == ["admin@example.com", "other@example.com", "user@example.com"]


def test_sharp_s_and_double_s_are_one_account(app, client):
    person = _person("Straße", "Straße@x.com", password=PASSWORD, password_confirm=PASSWORD)
    assert post(client, "/signup/", person).status_code == 302
    assert _emails(app) == ["strasse@x.com"]
    assert login(app.test_client(), "STRASSE@x.com").status_code == 302
    twice = post(app.test_client(), "/signup/", {**person, "email": "STRASSE@x.com"})
    assert twice.status_code == 200 and _emails(app) == ["strasse@x.com"]


def test_an_email_too_long_once_normalised_is_a_form_error(app, client):
    email = "㎒" * 100 + "@example.com"  # 112 characters, 312 once ㎒ becomes mhz
    person = _person("Long", email, password=PASSWORD, password_confirm=PASSWORD)
    response = post(client, "/signup/", person)
    assert response.status_code == 200 and _emails(app) == []
    assert login(client, email).status_code == 200


def test_failed_sign_ins_count_once_whatever_the_spelling(client, make_user):
    make_user("user", email="user@example.com")
    spellings = [FULL_WIDTH, "USER@example.com", "user@ｅxample.com", " User@Example.COM "]
    for email in [*spellings, "ｕser@example.com"]:
        assert login(client, email, "wrong password").status_code in (200, 429)
    assert login(client, "user@example.com").status_code == 429


def test_create_admin_stores_the_normal_form(app, runner):
    def create(email):
        return runner.invoke(
            args=["create-admin", "--email", email, "--password", "a long admin passphrase"]
        )

    assert create("ＡＤＭＩＮ@Example.com").exit_code == 0
    assert _emails(app) == ["admin@example.com"]
    again = create("admin@EXAMPLE.com")
    assert again.exit_code != 0 and "already has an account" in again.output
    for bad in ("not an email", "a" * 300 + "@example.com", "㎒" * 100 + "@example.com"):
        assert create(bad).exit_code != 0
    assert _emails(app) == ["admin@example.com"]


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_database(request, tmp_path):
    if request.param == "sqlite":
        yield "sqlite:///" + str(tmp_path / "fresh.sqlite3")
        return
    request.getfixturevalue("postgres_database")
    database = PostgresDatabase()
    yield database.url
    database.drop()


def test_migration_renormalises_stored_emails_without_merging_accounts(fresh_database, capfd):
    app = make_test_app(fresh_database)
    users = table(
        "users",
        *map(column, ("id", "name", "last_name", "email", "password_hash", "search_text")),
        *map(column, ("role_id", "is_active")),
        *(column(name, UTCDateTime) for name in ("created_at", "updated_at")),
    )
    rows = {  # id: (stored before, stored after)
        1: ("ａｌｉｃｅ@example.com", "alice@example.com"),
        2: ("user@example.com", "user@example.com"),
        3: ("ｕｓｅｒ@example.com", "ｕｓｅｒ@example.com"),  # clashes with 2: kept as it was
        4: ("straße@x.com", "strasse@x.com"),
        5: ("ｂob@x.com", "bob@x.com"),
        6: ("bｏb@x.com", "bｏb@x.com"),  # clashes with 5, which came first
    }
    with app.app_context():
        config = current_app.extensions["migrate"].migrate.get_config()
        script = ScriptDirectory.from_config(config)
        upgrade(revision=script.get_revision("0005_email_normal_form").down_revision)
        now = utcnow()
        # The schema of that revision, not today's models: the role is written as a row.
        roles = table(
            "roles",
            column("id"),
            column("name"),
            column("rules_version"),
            column("created_at", UTCDateTime),
        )
        db.session.execute(insert(roles).values(name="user", rules_version="v", created_at=now))
        role_id = db.session.scalar(select(roles.c.id).where(roles.c.name == "user"))
        same = {"name": "N", "last_name": "L", "password_hash": "x", "role_id": role_id}
        same |= {"is_active": True, "created_at": now, "updated_at": now}
        db.session.execute(
            insert(users),
            [
                {"id": n, "email": before, "search_text": f"n l {before}", **same}
                for n, (before, _after) in rows.items()
            ],
        )
        db.session.commit()
        capfd.readouterr()
        try:
            upgrade()
            stored = dict(db.session.execute(select(User.id, User.email)).all())
            alice = db.session.get(User, 1).search_text
        finally:
            db.session.remove()
            db.engine.dispose()
    assert stored == {n: after for n, (_before, after) in rows.items()}
    assert alice == "n l alice@example.com"
    log = capfd.readouterr().err
    left = "users {} left with their stored email: its normal form {!r} belongs to user {}"
    assert left.format(3, "user@example.com", 2) in log
    assert left.format(6, "bob@x.com", 5) in log

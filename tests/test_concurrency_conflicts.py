"""Requests racing each other on a real gunicorn: the last administrator, unique names."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from conftest import PASSWORD
from http_client import Browser
from servers import GunicornServer
from sqlalchemy import func, select, true, update

from tz_app.extensions import db
from tz_app.models import Role, User

ROUNDS = 10
ROLE_TAKEN = "A role with this name already exists."
EMAIL_TAKEN = "An account with this email already exists."


@pytest.fixture(scope="module")
def server(database_url):
    """gunicorn on the tests' database; each test's ``app`` fixture empties it first."""
    with GunicornServer(database_url, workers=2, threads=4) as instance:
        yield instance


def race(*calls):
    """Start every call at one moment, each in its own thread; their results in order."""
    barrier = threading.Barrier(len(calls), timeout=10)

    def run(call):
        barrier.wait()
        return call()

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


def browser_of(server, account=None, page="/home/"):
    """A browser holding a CSRF token, signed in as ``account`` when one is given."""
    browser = Browser()
    if account is not None:
        browser.login(server.url, account.email, account.password)
    browser.get(server.url + page)
    return browser


def poster(browser, url, data):
    return lambda: browser.post(url, data)


def assert_one_won(responses, won, refused, message):
    """One request did it; each other one got the form back with ``message``, or 409."""
    codes = [status for status, _, _ in responses]
    assert codes.count(won) == 1, codes
    for status, _, body in responses:
        if status != won:
            assert status == 409 or (status in refused and message in body), (codes, body[-2000:])


def active_admin_ids(app) -> list[int]:
    with app.app_context():
        return list(
            db.session.scalars(
                select(User.id)
                .join(User.role)
                .where(Role.name == "admin", User.is_active == true())
                .order_by(User.id)
            )
        )


def count_email(app, email: str) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count(User.id)).where(User.email == email))


def retire_admins(app) -> None:
    with app.app_context():
        admin = db.session.scalar(select(Role.id).where(Role.name == "admin"))
        db.session.execute(update(User).where(User.role_id == admin).values(is_active=False))
        db.session.commit()


def test_two_admins_removing_each_other_leave_one(app, make_user, server):
    """A deletes B while B demotes A: one wins, the other meets the last-admin 409.

    A loser whose request arrives after the winner's commit is turned away
    earlier (B deleted: 401; A demoted: 403); at least one round must be a
    true race, answered by the last-admin check itself.
    """
    conflicts = 0
    for _ in range(ROUNDS):
        retire_admins(app)
        a, b = make_user("admin"), make_user("admin")
        as_a, as_b = browser_of(server, a), browser_of(server, b)
        (delete, _, _), (demote, _, _) = race(
            poster(as_a, f"{server.url}/users/{b.id}/delete/", {}),
            poster(as_b, f"{server.url}/users/{a.id}/update/", {"role": "user"}),
        )
        survivors = active_admin_ids(app)
        assert survivors in ([a.id], [b.id]), (delete, demote, survivors)
        if survivors == [a.id]:
            assert (delete, demote) in ((302, 409), (302, 401)), (delete, demote)
        else:
            assert (delete, demote) in ((409, 302), (403, 302)), (delete, demote)
        conflicts += 409 in (delete, demote)
    assert conflicts, "no round raced: every loser arrived after the winner's commit"


def test_demoting_and_deleting_one_admin_at_once_both_land(app, make_user, server):
    """A deletes B while C demotes B: the two queue on B's row, neither deadlocks (503)."""
    for _ in range(ROUNDS):
        retire_admins(app)
        a, b, c = make_user("admin"), make_user("admin"), make_user("admin")
        as_a, as_c = browser_of(server, a), browser_of(server, c)
        (delete, _, _), (demote, _, _) = race(
            poster(as_a, f"{server.url}/users/{b.id}/delete/", {}),
            poster(as_c, f"{server.url}/users/{b.id}/update/", {"role": "user"}),
        )
        assert delete == 302 and demote in (302, 404), (delete, demote)
        assert active_admin_ids(app) == [a.id, c.id]


def test_six_role_creations_with_one_name_make_one_role(app, make_user, server):
    admin = make_user("admin")
    browsers = [browser_of(server, admin) for _ in range(6)]
    responses = race(
        *(
            poster(browser, f"{server.url}/admin/roles/", {"name": "auditor"})
            for browser in browsers
        )
    )
    assert_one_won(responses, 302, (400,), ROLE_TAKEN)
    with app.app_context():
        assert db.session.scalar(select(func.count(Role.id)).where(Role.name == "auditor")) == 1


def test_four_renames_to_one_name_rename_one_role(app, make_user, server):
    admin = make_user("admin")
    old_names = ["clerk", "editor", "intern", "viewer"]
    with app.app_context():
        roles = [Role(name=name) for name in old_names]
        db.session.add_all(roles)
        db.session.commit()
        ids = [role.id for role in roles]
    responses = race(
        *(
            poster(
                browser_of(server, admin),
                f"{server.url}/admin/roles/{i}/rename/",
                {"name": "auditor"},
            )
            for i in ids
        )
    )
    assert_one_won(responses, 302, (400,), ROLE_TAKEN)
    with app.app_context():
        names = set(db.session.scalars(select(Role.name).where(Role.id.in_(ids))))
    assert "auditor" in names and len(names & set(old_names)) == 3, names


def test_two_signups_with_one_email_make_one_account(app, server):
    form = {
        "name": "Twin",
        "last_name": "Racer",
        "email": "twin@example.com",
        "password": PASSWORD,
        "password_confirm": PASSWORD,
    }
    responses = race(
        *(poster(browser_of(server, page="/signup/"), f"{server.url}/signup/", form) for _ in "ab")
    )
    assert_one_won(responses, 302, (200, 400), EMAIL_TAKEN)
    assert count_email(app, "twin@example.com") == 1


def test_two_admin_creations_with_one_email_make_one_account(app, make_user, server):
    admin = make_user("admin")
    form = {
        "name": "New",
        "last_name": "Hire",
        "email": "hire@example.com",
        "password": PASSWORD,
        "role": "user",
    }
    responses = race(
        *(poster(browser_of(server, admin), f"{server.url}/users/new/", form) for _ in "ab")
    )
    assert_one_won(responses, 302, (400,), EMAIL_TAKEN)
    assert count_email(app, "hire@example.com") == 1


@pytest.mark.parametrize("with_password", [False, True], ids=["email", "email+password"])
def test_two_email_changes_to_one_address_change_one(app, make_user, server, with_password):
    admin = make_user("admin")
    x, y = make_user("user"), make_user("user")
    data = {"email": "taken@example.com"}
    if with_password:
        data["password"] = "another long passphrase"
    responses = race(
        *(
            poster(browser_of(server, admin), f"{server.url}/users/{target.id}/update/", data)
            for target in (x, y)
        )
    )
    assert_one_won(responses, 302, (400,), EMAIL_TAKEN)
    assert count_email(app, "taken@example.com") == 1


def test_a_unique_conflict_that_reaches_the_error_handler_is_a_409(app):
    """The last line of defence: no unique conflict becomes a 500, and nothing is kept."""

    def duplicate_role():
        db.session.add(Role(name="auditor"))
        db.session.flush()
        db.session.add(Role(name="user"))
        db.session.flush()
        return "unreachable"

    app.add_url_rule("/duplicate-role/", view_func=duplicate_role)
    client = app.test_client()

    page = client.get("/duplicate-role/")
    assert page.status_code == 409
    assert "Conflict" in page.get_data(as_text=True)
    as_json = client.get("/duplicate-role/", headers={"Accept": "application/json"})
    assert as_json.status_code == 409 and as_json.get_json()["status"] == 409
    with app.app_context():
        assert db.session.scalar(select(Role.id).where(Role.name == "auditor")) is None

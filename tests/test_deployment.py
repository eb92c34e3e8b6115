"""Two gunicorn instances, two workers each, one PostgreSQL database.

This is how tz_app scales past one machine: stateless app servers over a
shared database. Whatever one instance does, the other honours on its next
request.
"""

import http.cookiejar
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from conftest import PostgresDatabase
from http_client import Browser
from servers import GunicornServer, prepare_database
from sqlalchemy import create_engine, select

from tz_app.models import User


@pytest.fixture(scope="module")
def cluster(request):
    request.getfixturevalue("postgres_database")  # skipped (or failed on CI) without PostgreSQL
    database = PostgresDatabase()
    prepare_database(database.url)
    a = GunicornServer(database.url, workers=2)
    b = GunicornServer(database.url, workers=2)
    try:
        a.start()
        b.start()
        yield a, b, database
    finally:
        a.stop()
        b.stop()
        database.drop()


def logs(cluster):
    a, b, _ = cluster
    return f"\n--- A ---\n{a.log()}\n--- B ---\n{b.log()}"


def sign_up(base, email):
    browser = Browser()
    browser.get(base + "/signup/")
    status, _, _ = browser.post(
        base + "/signup/",
        {
            "name": "Node",
            "last_name": email.split("@")[0],
            "email": email,
            "password": "shared database",
            "password_confirm": "shared database",
        },
    )
    assert status == 302
    return browser


def user_id(cluster, email) -> int:
    engine = create_engine(cluster[2].url)
    try:
        with engine.connect() as conn:
            return conn.scalar(select(User.id).where(User.email == email))
    finally:
        engine.dispose()


def test_a_session_made_on_one_instance_works_on_the_other(cluster):
    a, b, _ = cluster
    browser = Browser()
    browser.login(a.url, "user@test.com", "user123")
    status, _, page = browser.get(b.url + "/home/")
    assert status == 200 and "User" in page, logs(cluster)


def test_logout_on_one_instance_ends_the_session_on_the_other(cluster):
    a, b, _ = cluster
    browser = Browser()
    browser.login(a.url, "manager@test.com", "manager123")
    assert browser.signed_in(b.url)
    status, _, _ = browser.post(a.url + "/logout/", {})
    assert status == 302
    assert not browser.signed_in(b.url), logs(cluster)


def test_password_change_deletion_and_role_change_cross_instances(cluster):
    a, b, _ = cluster
    changer = sign_up(a.url, "changer@example.com")
    other_tab = Browser()
    other_tab.login(b.url, "changer@example.com", "shared database")
    changer.get(a.url + "/profile/")
    status, _, _ = changer.post(
        a.url + "/profile/password/",
        {
            "current_password": "shared database",
            "new_password": "another shared phrase",
            "new_password_confirm": "another shared phrase",
        },
    )
    assert status == 302, logs(cluster)
    assert not other_tab.signed_in(b.url)
    assert changer.signed_in(b.url)

    admin = Browser()
    admin.login(a.url, "admin@test.com", "admin123")
    promoted = sign_up(b.url, "promoted@example.com")
    assert promoted.get(b.url + "/home/")[2].count("data-user-id=") == 1
    pid = user_id(cluster, "promoted@example.com")
    status, _, _ = admin.post(a.url + f"/users/{pid}/update/", {"role": "manager"})
    assert status == 302
    assert promoted.get(b.url + "/home/")[2].count("data-user-id=") > 1, logs(cluster)

    doomed = sign_up(b.url, "doomed@example.com")
    did = user_id(cluster, "doomed@example.com")
    admin.get(a.url + "/home/")
    assert admin.post(a.url + f"/users/{did}/delete/", {})[0] == 302
    assert not doomed.signed_in(b.url), logs(cluster)


def test_a_rule_change_on_one_instance_applies_on_the_other(cluster):
    a, b, _ = cluster
    target = sign_up(a.url, "target@example.com")
    assert target
    tid = user_id(cluster, "target@example.com")
    manager = Browser()
    manager.login(b.url, "manager@test.com", "manager123")
    assert manager.post(b.url + f"/users/{tid}/update/", {"name": "Nope"})[0] == 403
    admin = Browser()
    admin.login(a.url, "admin@test.com", "admin123")
    admin.get(a.url + "/admin/rules/")
    grant = {
        "cell": "manager:users",
        **{
            f"manager:users:{f}": "on"
            for f in ("read", "read_all", "update", "update_all", "delete")
        },
    }
    assert admin.post(a.url + "/admin/rules/", grant)[0] == 302
    try:
        assert manager.post(b.url + f"/users/{tid}/update/", {"name": "Yes"})[0] == 302, logs(
            cluster
        )
    finally:
        restore = {
            "cell": "manager:users",
            **{f"manager:users:{f}": "on" for f in ("read", "read_all", "update", "delete")},
        }
        admin.post(a.url + "/admin/rules/", restore)
    assert manager.post(b.url + f"/users/{tid}/update/", {"name": "Nope"})[0] == 403


def fake_user_ids(database_url: str, count: int) -> list[int]:
    from conftest import make_test_app

    from tz_app.extensions import db
    from tz_app.seed import seed_fake_users

    app = make_test_app(database_url)
    with app.app_context():
        before = set(db.session.scalars(select(User.id)))
        seed_fake_users(count)
        db.session.commit()
        ids = sorted(set(db.session.scalars(select(User.id))) - before)
        db.session.remove()
        db.engine.dispose()
    return ids


def test_two_hundred_concurrent_mixed_requests(cluster):
    """Sign-ins, page views and updates at once: no 5xx, and every update is stored."""
    a, b, database = cluster
    bases = [a.url, b.url]
    targets = fake_user_ids(database.url, 50)
    admins = [Browser() for _ in range(4)]
    for n, admin in enumerate(admins):
        admin.login(bases[n % 2], "admin@test.com", "admin123")
        admin.get(bases[n % 2] + "/home/")
    readers = [Browser() for _ in range(4)]
    for n, reader in enumerate(readers):
        reader.login(bases[n % 2], "user@test.com", "user123")

    def job(i):
        base = bases[i % 2]
        kind = i % 4
        if kind == 0:  # 50 updates, one per target user
            uid = targets[i // 4]
            status, _, body = admins[i % len(admins)].post(
                base + f"/users/{uid}/update/", {"name": f"Updated {i}"}, accept="application/json"
            )
            return ("update", status, uid, f"Updated {i}", body)
        if kind == 1:
            fresh = Browser()
            fresh.get(base + "/login/")
            status = fresh.post(
                base + "/login/", {"email": "manager@test.com", "password": "manager123"}
            )[0]
            return ("signin", status)
        reader = readers[i % len(readers)]
        return ("view", reader.get(base + ("/home/" if kind == 2 else "/profile/"))[0])

    started = time.monotonic()
    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(job, range(200)))
    assert time.monotonic() - started < 60
    assert all(r[1] < 500 for r in results), ([r[:2] for r in results], logs(cluster))
    assert {r[1] for r in results if r[0] == "signin"} == {302}
    assert {r[1] for r in results if r[0] == "view"} == {200}
    updates = [r for r in results if r[0] == "update"]
    assert len(updates) == 50 and {r[1] for r in updates} == {200}, updates[:3]
    engine = create_engine(database.url)
    try:
        with engine.connect() as conn:
            stored = dict(
                conn.execute(select(User.id, User.name).where(User.id.in_(targets))).all()
            )
    finally:
        engine.dispose()
    assert stored == {uid: name for _, _, uid, name, _ in updates}


def test_what_an_attacker_tries_over_http(cluster):
    """Fixation, open redirects, missing CSRF, brute force: against gunicorn itself."""
    a, b, _ = cluster
    attacker = Browser()
    attacker.get(a.url + "/login/")
    cookie = http.cookiejar.Cookie(
        0,
        "custom_sessionid",
        "planted-by-attacker",
        None,
        False,
        "127.0.0.1",
        False,
        False,
        "/",
        True,
        False,
        None,
        False,
        None,
        None,
        {},
    )
    attacker.jar.set_cookie(cookie)
    status, headers, _ = attacker.post(
        a.url + "/login/",
        {"email": "user@test.com", "password": "user123", "next": "//evil.example/"},
    )
    assert status == 302 and headers["Location"] == "/home/"
    assert attacker.cookie() not in (None, "planted-by-attacker")
    status, headers, _ = attacker.get(b.url + "/home/")
    assert (
        headers["X-Frame-Options"] == "DENY"
        and "frame-ancestors" in headers["Content-Security-Policy"]
    )
    assert headers["Cache-Control"] == "no-store"
    no_token = attacker.request("POST", b.url + "/logout/", {})
    assert no_token[0] == 400
    assert attacker.signed_in(a.url)

    guesser = Browser()
    guesser.get(b.url + "/login/")
    answers = [
        guesser.post(
            (a.url, b.url)[n % 2] + "/login/", {"email": "victim@example.com", "password": "x"}
        )
        for n in range(6)
    ]
    assert [s for s, _, _ in answers] == [200] * 4 + [429] * 2
    assert int(answers[-1][1]["Retry-After"]) > 0

"""Headers, bad input and races: what an attacker or a clumsy client meets."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
from conftest import _pg_admin_conninfo, csrf_token, login, make_test_app, post
from sqlalchemy import event

from tz_app.extensions import db
from tz_app.models import User
from tz_app.passwords import hash_password


def test_security_headers_on_pages(client, make_user):
    response = client.get("/login/")
    csp = response.headers["Content-Security-Policy"]
    assert "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert "script-src 'self'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "same-origin"
    account = make_user("user")
    login(client, account.email)
    assert client.get("/home/").headers["Cache-Control"] == "no-store"


def test_every_page_has_the_csrf_meta_tag(client, make_user):
    account = make_user("admin")
    for path in ("/login/", "/signup/", "/nowhere/"):
        assert csrf_token(client, path)
    login(client, account.email)
    for path in ("/home/", "/profile/", "/sessions/", "/admin/rules/", "/admin/audit/"):
        assert csrf_token(client, path)


@pytest.mark.parametrize(
    "path",
    [
        "/users/abc/edit/",
        "/users/0/edit/",
        "/users/99999999999999999999/edit/",
        "/users/2147483648/edit/",
        "/sessions/99999999999/revoke/",
    ],
)
def test_odd_ids_are_404(client, make_user, path):
    login(client, make_user("admin").email)
    method = client.get if path.endswith("edit/") else (lambda p: post(client, p, {}))
    assert method(path).status_code == 404


def test_nul_bytes_and_invalid_utf8_never_500(app, client, make_user):
    account = make_user("admin")
    assert login(client, "nul\x00@example.com", "pass\x00word").status_code == 200
    login(client, account.email)
    response = post(client, f"/users/{account.id}/update/", {"name": "a\x00b"}, json=True)
    assert response.status_code == 400 and "name" in response.get_json()["errors"]
    token = csrf_token(client, "/home/")
    raw = b"name=%FF%FE%00&csrf_token=" + token.encode()
    response = client.post(
        f"/users/{account.id}/update/",
        data=raw,
        content_type="application/x-www-form-urlencoded",
        headers={"Accept": "application/json"},
    )
    assert response.status_code == 400
    for query in ("q=%00", "q=%FF%FE", "q=" + "x" * 5000, "page=1e9", "per_page=-1"):
        assert client.get(f"/home/?{query}").status_code == 200
    assert client.get("/admin/audit/?actor=%00&kind=%FF").status_code == 200
    with app.app_context():
        assert db.session.get(User, account.id).name == account.name


def test_overlong_fields_get_form_errors(client, make_user):
    account = make_user("admin")
    login(client, account.email)
    response = post(
        client,
        f"/users/{account.id}/update/",
        {"name": "n" * 101, "email": "e" * 250 + "@example.com"},
        json=True,
    )
    assert response.status_code == 400
    assert set(response.get_json()["errors"]) == {"name", "email"}


def test_too_large_a_body_is_413(client, make_user):
    login(client, make_user("admin").email)
    token = csrf_token(client, "/home/")
    response = client.post(
        "/users/new/", data={"name": "x" * (2 * 1024 * 1024), "csrf_token": token}
    )
    assert response.status_code == 413


def test_json_errors_for_json_clients(client):
    response = client.get("/nowhere/", headers={"Accept": "application/json"})
    assert response.status_code == 404 and response.get_json()["status"] == 404
    page = client.get("/nowhere/", headers={"Accept": "*/*"})
    assert page.status_code == 404 and page.content_type.startswith("text/html")


def test_concurrent_signups_with_one_email_make_one_account(database_url, backend, app):
    if backend != "postgresql":
        pytest.skip("SQLite serialises writers; the race needs a server")
    apps = [make_test_app(database_url) for _ in range(6)]

    def sign_up(instance):
        client = instance.test_client()
        return post(
            client,
            "/signup/",
            {
                "name": "Twin",
                "last_name": "Racer",
                "email": "race@example.com",
                "password": "racing passphrase",
                "password_confirm": "racing passphrase",
            },
        ).status_code

    with ThreadPoolExecutor(len(apps)) as pool:
        codes = list(pool.map(sign_up, apps))
    assert codes.count(302) == 1 and all(code in (200, 302) for code in codes), codes
    with app.app_context():
        count = db.session.scalar(
            db.select(db.func.count(User.id)).where(User.email == "race@example.com")
        )
    assert count == 1
    for instance in apps:
        with instance.app_context():
            db.session.remove()
            db.engine.dispose()


def test_concurrent_updates_of_one_user_keep_search_text_true(
    database_url, backend, app, make_user
):
    """Two editors change different fields of one user at once: both land, and the
    user is found by the names actually stored."""
    admin = make_user("admin")
    targets = [make_user("user", name=f"Old{n}", last_name="Before") for n in range(8)]
    apps = [make_test_app(database_url) for _ in range(2)]
    clients = []
    for instance in apps:
        client = instance.test_client()
        login(client, admin.email)
        clients.append((client, csrf_token(client, "/home/")))

    def edit(job):
        (client, token), uid, field, value = job
        return client.post(
            f"/users/{uid}/update/",
            data={field: value, "csrf_token": token},
            headers={"Accept": "application/json"},
        ).status_code

    jobs = []
    for n, target in enumerate(targets):
        jobs.append((clients[0], target.id, "name", f"First{n}"))
        jobs.append((clients[1], target.id, "last_name", f"Last{n}"))
    with ThreadPoolExecutor(len(jobs)) as pool:
        assert set(pool.map(edit, jobs)) == {200}
    with app.app_context():
        for n, target in enumerate(targets):
            user = db.session.get(User, target.id)
            assert (user.name, user.last_name) == (f"First{n}", f"Last{n}")
            assert user.search_text.startswith(f"first{n} last{n} "), user.search_text
    for instance in apps:
        with instance.app_context():
            db.session.remove()
            db.engine.dispose()


def test_csrf_secret_planted_before_sign_in_is_worthless_after(app, make_user):
    """An attacker's Flask session cookie, planted before the victim signs in, carries no token."""
    victim = make_user("user")
    browser = app.test_client()
    planted = csrf_token(browser, "/login/")  # the attacker's session, now in this browser
    assert login(browser, victim.email).status_code == 302
    refused = browser.post("/logout/", data={"csrf_token": planted})
    assert refused.status_code == 400
    assert browser.get("/home/").status_code == 200  # still signed in
    fresh = csrf_token(browser, "/home/")
    assert fresh != planted
    assert browser.post("/logout/", data={"csrf_token": fresh}).status_code == 302


def test_csrf_secret_does_not_outlive_sign_out(app, make_user):
    """On a shared browser, the token of the person who signed out is no good for the next one."""
    first, second = make_user("user"), make_user("user")
    browser = app.test_client()
    login(browser, first.email)
    before = csrf_token(browser, "/home/")
    assert browser.post("/logout/", data={"csrf_token": before}).status_code == 302
    assert login(browser, second.email).status_code == 302
    assert browser.post("/logout/", data={"csrf_token": before}).status_code == 400


def _sign_in(client, account):
    for email in (account.email, "nobody@example.com"):
        assert login(client, email, "a wrong password").status_code == 200
    assert login(client, account.email, account.password).status_code == 302


def _sign_up(client, account):
    fields = {"name": "New", "last_name": "Person", "email": "new-person@example.com"}
    phrase = {"password": "slow hash phrase", "password_confirm": "slow hash phrase"}
    assert post(client, "/signup/", {**fields, **phrase}).status_code == 302


def _own_row_password(client, account):
    assert login(client, account.email, account.password).status_code == 302
    token = csrf_token(client, "/home/")
    sent = {"password": "another slow phrase"}
    assert post(client, f"/users/{account.id}/update/", sent, token=token).status_code == 302


def _profile_password(client, account):
    assert login(client, account.email, account.password).status_code == 302
    new = "another slow phrase"
    sent = {"current_password": account.password, "new_password": new, "new_password_confirm": new}
    token = csrf_token(client, "/profile/")
    assert post(client, "/profile/password/", sent, token=token).status_code == 302


def _admin_creates_a_user(client, account):
    assert login(client, account.email, account.password).status_code == 302
    fields = {"name": "Made", "last_name": "ByAdmin", "email": "made-by-admin@example.com"}
    token = csrf_token(client, "/users/new/")
    sent = {**fields, "password": "slow hash phrase", "role": "user"}
    assert post(client, "/users/new/", sent, token=token).status_code == 302


@pytest.mark.parametrize(
    "action",
    [_sign_in, _sign_up, _own_row_password, _profile_password, _admin_creates_a_user],
    ids=lambda action: action.__name__.strip("_"),
)
def test_no_transaction_stays_open_while_bcrypt_works(database_url, backend, make_user, action):
    """No request holds a transaction (no locks, no idle backend in one) while it hashes."""
    if backend != "postgresql":
        pytest.skip("pg_stat_activity shows the transactions")
    slow = make_test_app(database_url, BCRYPT_ROUNDS=13)
    account = make_user("admin")
    with slow.app_context():
        user = db.session.get(User, account.id)
        user.password_hash = hash_password(account.password, rounds=13)
        db.session.commit()
        name = db.engine.url.database
    started = time.perf_counter()
    hash_password("timing one check", rounds=13)
    bcrypt_seconds = time.perf_counter() - started
    ages = []  # how long each open transaction seen had been open, in seconds
    done = threading.Event()

    def watch():
        with psycopg.connect(_pg_admin_conninfo(), autocommit=True) as conn:
            while not done.is_set():
                ages.extend(
                    row[0]
                    for row in conn.execute(
                        "SELECT extract(epoch FROM now() - xact_start)::float "
                        "FROM pg_stat_activity WHERE datname = %s "
                        "AND pid <> pg_backend_pid() AND xact_start IS NOT NULL",
                        (name,),
                    )
                )
                time.sleep(0.01)

    # Every transaction the app itself begins, timed from its start to its end:
    # the watcher samples every 10 ms and may miss short ones, these do not.
    lengths, begun = [], {}

    def began(conn):
        begun[id(conn)] = time.perf_counter()

    def ended(conn):
        if id(conn) in begun:
            lengths.append(time.perf_counter() - begun.pop(id(conn)))

    with slow.app_context():
        engine = db.engine
    hooks = [("begin", began), ("commit", ended), ("rollback", ended)]
    for kind, hook in hooks:
        event.listen(engine, kind, hook)
    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        action(slow.test_client(), account)
    finally:
        done.set()
        watcher.join()
        for kind, hook in hooks:
            event.remove(engine, kind, hook)
        with slow.app_context():
            db.session.remove()
            db.engine.dispose()
    assert lengths, "the app began no transaction at all"
    # With bcrypt inside, a transaction stays open for the whole hash, or longer.
    assert max(lengths) < bcrypt_seconds * 0.75, (max(lengths), bcrypt_seconds)
    assert max(ages, default=0) < bcrypt_seconds * 0.75, (max(ages), bcrypt_seconds)

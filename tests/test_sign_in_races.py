"""Sign-in under concurrency: real gunicorn, real threads, on SQLite and PostgreSQL.

Each test sends requests at the same moment (a barrier) and then asserts
what is stored or what a browser can still do.
"""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from conftest import PostgresDatabase
from http_client import Browser
from servers import GunicornServer, prepare_database
from sqlalchemy import create_engine, delete, func, select

from tz_app.models import AuditEvent, User

OLD = "the old passphrase"
NEW = "a brand new passphrase"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def server(request, tmp_path_factory):
    """gunicorn with 16 threads; bcrypt at cost 10 so a check takes a while, as in life."""
    if request.param == "sqlite":
        url = "sqlite:///" + str(tmp_path_factory.mktemp("races") / "races.sqlite3")
        database = None
    else:
        request.getfixturevalue("postgres_database")  # skipped (or failed on CI) without it
        database = PostgresDatabase()
        url = database.url
    prepare_database(url)
    instance = GunicornServer(url, workers=2, threads=8, BCRYPT_ROUNDS="10")
    try:
        instance.start()
        instance.database_url = url
        yield instance
    finally:
        instance.stop()
        if database is not None:
            database.drop()


def stored(server, stmt):
    engine = create_engine(server.database_url)
    try:
        with engine.connect() as conn:
            return conn.scalar(stmt)
    finally:
        engine.dispose()


_emails = iter(range(10**6))


def sign_up(server, password=OLD) -> tuple[Browser, str]:
    email = f"racer{next(_emails)}-{time.monotonic_ns()}@example.com"
    browser = Browser()
    browser.get(server.url + "/signup/")
    status, _, _ = browser.post(
        server.url + "/signup/",
        {
            "name": "Race",
            "last_name": "Runner",
            "email": email,
            "password": password,
            "password_confirm": password,
        },
    )
    assert status == 302, server.log()
    return browser, email


def at_once(jobs, workers):
    """Run the callables together, released by one barrier; their results in order."""
    barrier = threading.Barrier(len(jobs))

    def run(job):
        barrier.wait(timeout=20)
        return job()

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(run, jobs))


def fresh_browser(server) -> Browser:
    browser = Browser()
    browser.get(server.url + "/login/")
    return browser


@pytest.mark.parametrize("round_", range(3))
def test_a_burst_of_wrong_passwords_gets_at_most_the_limit_of_checks(server, round_):
    _, email = sign_up(server)
    browsers = [fresh_browser(server) for _ in range(16)]
    wrong = {"email": email, "password": "wrong guess!"}
    answers = at_once(
        [
            lambda b=b: b.request("POST", server.url + "/login/", {**wrong, "csrf_token": b.token})[
                0
            ]
            for b in browsers
        ],
        workers=16,
    )
    assert set(answers) <= {200, 429}, (answers, server.log())
    checks = stored(
        server,
        select(func.count(AuditEvent.id)).where(
            AuditEvent.email == email, AuditEvent.kind == "auth.login_failed"
        ),
    )
    assert checks <= 5, f"{checks} password checks for one account in one burst: {answers}"
    assert answers.count(429) >= 11
    # The right password is refused too while the account is locked.
    status, headers, _ = fresh_browser(server).post(
        server.url + "/login/", {"email": email, "password": OLD}
    )
    assert status == 429 and int(headers["Retry-After"]) > 0


def sign_ins_during(server, email, change, rounds=8, threads=4):
    """Sign in with ``OLD`` from ``threads`` browsers, over and over, while ``change()`` runs.

    Returns the browsers whose sign-in succeeded (302). Fewer threads than
    the failure limit: attempts in flight count toward it until they succeed.
    """
    stop = threading.Event()
    winners = []
    durations = []
    lock = threading.Lock()

    def keep_signing_in():
        for _ in range(rounds):
            if stop.is_set():
                return
            browser = fresh_browser(server)
            started = time.monotonic()
            status, _, _ = browser.request(
                "POST",
                server.url + "/login/",
                {"email": email, "password": OLD, "csrf_token": browser.token},
            )
            if status == 302:
                with lock:
                    durations.append(time.monotonic() - started)
                    winners.append(browser)

    with ThreadPoolExecutor(max_workers=threads) as pool:
        futures = [pool.submit(keep_signing_in) for _ in range(threads)]
        deadline = time.monotonic() + 10
        while not winners and time.monotonic() < deadline:
            time.sleep(0.01)
        # The next sign-ins are now half-way through checking the password.
        time.sleep(min(durations, default=0) / 2)
        change()
        time.sleep(0.3)
        stop.set()
        for future in futures:
            future.result(timeout=60)
    return winners


def test_no_sign_in_racing_a_password_change_survives_it(server):
    owner, email = sign_up(server)
    owner.get(server.url + "/profile/")

    def change_password():
        status, _, _ = owner.post(
            server.url + "/profile/password/",
            {"current_password": OLD, "new_password": NEW, "new_password_confirm": NEW},
        )
        assert status == 302, server.log()

    winners = sign_ins_during(server, email, change_password)
    assert winners, "no sign-in got through before the change: the race was not exercised"
    surviving = [b for b in winners if b.signed_in(server.url)]
    assert not surviving, f"{len(surviving)} of {len(winners)} old-password sessions still work"
    assert owner.signed_in(server.url)


def test_no_sign_in_racing_a_deletion_comes_back_with_a_restore(server):
    _, email = sign_up(server)
    uid = stored(server, select(User.id).where(User.email == email))
    admin = Browser()
    admin.login(server.url, "admin@test.com", "admin123")
    admin.get(server.url + "/home/")

    def delete():
        assert admin.post(server.url + f"/users/{uid}/delete/", {})[0] == 302

    surviving, raced = 0, 0
    for _ in range(3):
        winners = sign_ins_during(server, email, delete, rounds=4)
        assert admin.post(server.url + f"/users/{uid}/restore/", {})[0] == 302
        raced += len(winners)
        surviving += sum(b.signed_in(server.url) for b in winners)
        clear_failures(server, email)
    assert raced, "no sign-in got through before the deletion: the race was not exercised"
    assert not surviving, f"{surviving} of {raced} sessions from before a deletion work again"
    # The account itself works again after the restore.
    assert (
        fresh_browser(server).post(server.url + "/login/", {"email": email, "password": OLD})[0]
        == 302
    )


def clear_failures(server, email):
    """Forget the failed sign-ins of ``email``, so the next round is not locked out."""
    engine = create_engine(server.database_url)
    try:
        with engine.begin() as conn:
            conn.execute(delete(AuditEvent).where(AuditEvent.email == email))
    finally:
        engine.dispose()

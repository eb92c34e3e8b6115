"""A database that drops, refuses, blocks or ignores connections: the app's own 503, in time.

Whatever the database does, a request ends within DB_STATEMENT_TIMEOUT (or
DB_CONNECT_TIMEOUT) plus a little, with the app's 503 (its headers, JSON when
asked), never a bare 500; /healthz answers within 2 seconds; and the app
recovers by itself once the database is back.
"""

import http.client
import socket
import threading
import time

import pytest
from conftest import PostgresDatabase, login, make_test_app
from faults import (
    Load,
    TableLock,
    allow_connections,
    connections_per_worker,
    connections_refused,
    refuse_connections,
    terminate_backends,
    timed_request,
)
from http_client import Browser
from servers import GunicornServer, prepare_database
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from tz_app import create_app
from tz_app.config import ConfigError
from tz_app.extensions import db
from tz_app.models import User

JSON = {"Accept": "application/json"}
UNAVAILABLE = "briefly unavailable"


def dispose(app) -> None:
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def in_thread(call, limit: float):
    """(result, seconds) of ``call()``, or (None, limit) when it takes longer."""
    outcome = {}

    def run():
        started = time.monotonic()
        outcome["result"] = call()
        outcome["seconds"] = time.monotonic() - started

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(limit)
    return outcome.get("result"), outcome.get("seconds", limit)


def assert_apps_503(response, *, json: bool) -> None:
    assert response.status_code == 503, response.status_code
    assert response.headers.get("X-Request-ID")
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    if json:
        assert response.get_json()["status"] == 503
    else:
        assert response.mimetype == "text/html"


@pytest.mark.parametrize("name", ["DB_STATEMENT_TIMEOUT", "DB_CONNECT_TIMEOUT"])
def test_database_timeouts_are_positive_seconds(monkeypatch, name):
    monkeypatch.setenv(name, "0")
    with pytest.raises(ConfigError, match=name):
        create_app({"APP_ENV": "testing", "SQLALCHEMY_DATABASE_URI": "sqlite://"})


def test_a_request_blocked_by_a_lock_gets_503_within_the_statement_timeout(
    database_url, app, make_user
):
    account = make_user("user")
    timed = make_test_app(database_url, DB_STATEMENT_TIMEOUT=1)
    client = timed.test_client()
    assert login(client, account.email).status_code == 302
    try:
        with TableLock(database_url) as lock:
            lock.release_after(6)
            started = time.monotonic()
            page = client.get("/home/")
            json = client.get("/home/", headers=JSON)
            elapsed = time.monotonic() - started
    finally:
        dispose(timed)
    assert_apps_503(page, json=False)
    assert UNAVAILABLE in page.get_data(as_text=True)
    assert_apps_503(json, json=True)
    assert elapsed < 2 * (1 + 1), elapsed


def test_a_database_lost_mid_request_gets_the_apps_503_in_the_users_language(
    database_url, backend, app, make_user
):
    """The error page is built from what the request already knows, never from the database."""
    if backend != "postgresql":
        pytest.skip("needs a server that drops connections")
    account = make_user("user")
    with app.app_context():
        db.session.get(User, account.id).locale = "ru"
        db.session.commit()
    lossy = make_test_app(database_url)
    name = make_url(database_url).database

    @lossy.get("/lose-the-database/")
    def lose_the_database():
        db.session.execute(select(1))
        refuse_connections(name)
        db.session.execute(select(1))
        return "the database answered after all"

    client = lossy.test_client()
    assert login(client, account.email).status_code == 302
    answers = {}
    try:
        for accept in ("text/html", "application/json"):
            try:
                answers[accept] = client.get("/lose-the-database/", headers={"Accept": accept})
            finally:
                allow_connections(name)
    finally:
        dispose(lossy)
    page = answers["text/html"]
    assert_apps_503(page, json=False)
    text = page.get_data(as_text=True)
    assert '<html lang="ru">' in text and "Сервис недоступен" in text
    assert_apps_503(answers["application/json"], json=True)


def test_a_page_whose_connection_dies_after_rendering_still_goes_out(database_url, backend, app):
    """Ending the request's session on a killed connection must not turn the page into a 500."""
    if backend != "postgresql":
        pytest.skip("needs a server that drops connections")
    lossy = make_test_app(database_url)
    name = make_url(database_url).database

    @lossy.get("/rendered-then-cut/")
    def rendered_then_cut():
        db.session.scalar(select(func.pg_backend_pid()))
        terminate_backends(name)
        time.sleep(0.2)
        return "rendered"

    try:
        response = lossy.test_client().get("/rendered-then-cut/")
    finally:
        dispose(lossy)
    assert response.status_code == 200
    assert response.get_data(as_text=True) == "rendered"


def test_health_and_pages_answer_in_time_when_the_database_does_not_answer():
    """A server that accepts connections and never answers: a hung host, a full backlog."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(32)
        port = silent.getsockname()[1]
        hung = make_test_app(
            f"postgresql+psycopg://postgres@127.0.0.1:{port}/silent", DB_CONNECT_TIMEOUT=2
        )
        signed = hung.test_client()
        signed.set_cookie("custom_sessionid", "t" * 43)
        health, health_seconds = in_thread(lambda: hung.test_client().get("/healthz"), 6)
        page, page_seconds = in_thread(lambda: signed.get("/home/", headers=JSON), 8)
    dispose(hung)
    assert health is not None, "no answer from /healthz"
    assert health.status_code == 503 and health_seconds < 2, health_seconds
    assert health.get_json() == {"status": "unavailable", "reason": "database unreachable"}
    assert page is not None, "no answer from /home/"
    assert_apps_503(page, json=True)
    assert page_seconds < 2 + 1.5, page_seconds


# Through gunicorn, as deployed.


@pytest.fixture(scope="module")
def fault_database(request):
    request.getfixturevalue("postgres_database")  # skipped (or failed on CI) without PostgreSQL
    database = PostgresDatabase()
    try:
        prepare_database(database.url)
        yield database
    finally:
        database.drop()


def signed_in_cookie(server) -> str:
    browser = Browser()
    browser.login(server.url, "user@test.com", "user123")
    return browser.cookie()


def test_healthz_answers_while_every_worker_thread_waits_on_a_lock(fault_database):
    url = fault_database.url
    with GunicornServer(url, workers=1, threads=2, DB_STATEMENT_TIMEOUT="4") as server:
        cookie = signed_in_cookie(server)
        pages = []
        with TableLock(url) as lock:
            lock.release_after(5)
            blocked = [
                threading.Thread(
                    target=lambda: pages.append(timed_request(server.url, "/home/", cookie))
                )
                for _ in range(6)
            ]
            for thread in blocked:
                thread.start()
            time.sleep(0.5)
            status, _, body, seconds = timed_request(server.url, "/healthz")
            for thread in blocked:
                thread.join()
        log = server.log()
    assert status == 200 and seconds < 2, (status, seconds, body, log)
    assert all(page[0] in (200, 503) for page in pages), (pages, log)


def test_gunicorn_keeps_its_promises_through_refused_connections_and_a_held_lock(fault_database):
    """Zero 500s, every 5xx the app's 503 with its headers, nothing slower than the
    statement timeout plus a few seconds, /healthz within 2 s, full recovery."""
    url = fault_database.url
    timeout = 2
    with GunicornServer(url, workers=2, threads=4, DB_STATEMENT_TIMEOUT=str(timeout)) as server:
        cookies = [signed_in_cookie(server) for _ in range(4)]
        with Load(server, cookies) as load:
            time.sleep(1)
            for _ in range(4):  # a database that comes and goes
                with connections_refused(url):
                    time.sleep(0.4)
                time.sleep(0.4)
            refused = time.monotonic()
            with connections_refused(url):
                time.sleep(2)
            locked = time.monotonic()
            with TableLock(url):
                time.sleep(6)
            recovered = time.monotonic() + 1
            time.sleep(3)
        log = server.log()

    results = load.results
    assert results, log
    for started, path, accept, status, headers, body, seconds in results:
        where = (round(started - refused, 2), path, accept, status, round(seconds, 2), body[:300])
        assert status in (200, 503), (where, log)
        limit = 2 if path == "/healthz" else timeout + 3
        assert seconds < limit, where
        if status == 503:
            assert headers.get("X-Request-ID"), where
            assert "frame-ancestors 'none'" in headers.get("Content-Security-Policy", ""), where
            if accept == "application/json" or path == "/healthz":
                assert headers.get_content_type() == "application/json", where
            else:
                assert UNAVAILABLE in body, where
        if started >= recovered:
            assert status == 200, where
    pages = [r for r in results if r[1] != "/healthz"]
    assert any(r[3] == 503 and refused <= r[0] < locked for r in pages), "refusal not seen"
    assert any(r[3] == 503 and r[0] >= locked for r in pages), "lock not seen"
    assert any(r[0] >= recovered for r in pages), "no request after recovery"


def test_keep_alive_connections_spread_over_the_workers(fault_database):
    """Clients that keep their connection open land on every worker, not on one or two."""
    with GunicornServer(fault_database.url, workers=4, threads=1) as server:
        connections = []
        try:
            for _ in range(80):
                conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
                conn.request("GET", "/login/")
                conn.getresponse().read()
                connections.append(conn)
            time.sleep(0.2)
            spread = connections_per_worker(server.process.pid, server.port)
        finally:
            for conn in connections:
                conn.close()
    assert sum(spread) == 80, spread
    assert all(5 <= held <= 40 for held in spread), spread

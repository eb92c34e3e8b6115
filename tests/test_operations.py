"""What operators rely on: logs, request ids, and behaviour when the database is gone."""

import logging

import psycopg
import pytest
from conftest import PASSWORD, _pg_admin_conninfo, auth_cookie, login, make_test_app

from tz_app.extensions import db

UNREACHABLE = "postgresql+psycopg://postgres@127.0.0.1:1/nowhere?connect_timeout=2"


def test_request_id_is_echoed_or_made(client):
    made = client.get("/login/").headers["X-Request-ID"]
    assert len(made) == 32
    assert (
        client.get("/login/", headers={"X-Request-ID": "abc-123"}).headers["X-Request-ID"]
        == "abc-123"
    )
    odd = client.get("/login/", headers={"X-Request-ID": "bad id with spaces"})
    assert odd.headers["X-Request-ID"] != "bad id with spaces"


def test_log_lines_carry_the_request_id_and_no_secrets(app, make_user, caplog, capsys):
    account = make_user("user")
    other = make_user("user")
    client = app.test_client()
    with caplog.at_level(logging.INFO, logger="tz_app"):
        login(client, account.email)
        token = auth_cookie(client).value
        client.get(f"/users/{other.id}/edit/", headers={"X-Request-ID": "req-42"})  # 403
        for _ in range(5):
            login(app.test_client(), account.email, "a wrong password")
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if " tz_app." in line]
    assert any("[req-42]" in line and "denied" in line for line in lines), out
    text = out + "\n".join(r.getMessage() for r in caplog.records)
    for secret in (PASSWORD, "a wrong password", token):
        assert secret not in text


def test_pages_answer_503_when_the_database_is_gone(app, client, make_user):
    account = make_user("user")
    login(client, account.email)
    down = make_test_app(UNREACHABLE)
    down_client = down.test_client()
    down_client.set_cookie("custom_sessionid", auth_cookie(client).value)
    response = down_client.get("/home/")
    assert response.status_code == 503
    page = response.get_data(as_text=True)
    assert "briefly unavailable" in page and "Traceback" not in page
    health = down_client.get("/healthz")
    assert health.status_code == 503
    assert health.get_json()["status"] == "unavailable"
    json = down_client.get("/home/", headers={"Accept": "application/json"})
    assert json.status_code == 503 and json.get_json()["status"] == 503
    with down.app_context():
        db.engine.dispose()


def test_the_app_recovers_when_the_database_returns(app, backend, make_user):
    """PostgreSQL drops every connection (a restart): at most one request fails, with 503."""
    if backend != "postgresql":
        pytest.skip("needs a server to drop connections")
    account = make_user("user")
    client = app.test_client()
    assert login(client, account.email).status_code == 302
    assert client.get("/home/").status_code == 200
    with app.app_context():
        name = db.engine.url.database
        with psycopg.connect(_pg_admin_conninfo(), autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )
    first = client.get("/home/")
    assert first.status_code in (200, 503)
    assert client.get("/home/").status_code == 200

"""The mail queue: queued with its transaction, delivered once, retried while SMTP is down."""

import email
import email.policy
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from datetime import timedelta
from pathlib import Path

import pytest
from conftest import make_test_app
from mail_app import KIND, with_test_letters
from servers import ROOT, GunicornServer
from smtp import smtp_server  # noqa: F401  (a fixture)
from sqlalchemy import func, select, update

from tz_app import create_app, mail
from tz_app.config import ConfigError
from tz_app.extensions import db
from tz_app.mail.delivery import claim_due
from tz_app.models import MailMessage, User, utcnow

LANGUAGE_SIGN_IN = {"en": "Sign in", "ru": "Войти", "uk": "Увійти"}


@pytest.fixture(autouse=True)
def no_thread_left():
    """Every test stops what it started: servers, deliverers."""
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + 5
    while set(threading.enumerate()) - before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert set(threading.enumerate()) - before == set()


def _dispose(*apps):
    for each in apps:
        with each.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def mail_app(app, database_url, smtp_server):  # noqa: F811
    """An app on the test database (cleared by ``app``) that sends to the test SMTP server."""
    built = with_test_letters(make_test_app(database_url, **smtp_server.config))
    yield built
    _dispose(built)


def _queue(app, count=1, **kwargs) -> list[int]:
    with app.app_context():
        ids = [mail.queue(KIND, **kwargs) for _ in range(count)]
        db.session.commit()
        return [m.id for m in ids]


def _rows(app) -> list[MailMessage]:
    with app.app_context():
        return db.session.scalars(select(MailMessage).order_by(MailMessage.id)).all()


def _deliver(app, **kwargs) -> int:
    with app.app_context():
        return mail.deliver_due(**kwargs)


def _make_due(app) -> None:
    with app.app_context():
        db.session.execute(update(MailMessage).values(next_attempt_at=utcnow()))
        db.session.commit()


def test_a_queued_message_rolls_back_with_its_transaction(mail_app, make_user, smtp_server):  # noqa: F811
    account = make_user()
    with mail_app.app_context():
        user = db.session.get(User, account.id)
        user.name = "Changed"
        mail.queue(KIND, user=user)
        db.session.rollback()
    assert _rows(mail_app) == []
    assert _deliver(mail_app) == 0
    assert smtp_server.count() == 0
    with mail_app.app_context():
        assert db.session.get(User, account.id).name != "Changed"


@pytest.mark.parametrize("language", ["en", "ru", "uk"])
def test_delivery_sends_text_and_html_in_the_users_language(
    mail_app,
    make_user,
    smtp_server,  # noqa: F811
    language,
):
    account = make_user(name="Olena")
    with mail_app.app_context():
        db.session.get(User, account.id).locale = language
        db.session.commit()
    [message_id] = _queue(mail_app, user=db_user(mail_app, account.id))
    assert _rows(mail_app)[0].language == language
    assert _deliver(mail_app) == 1
    [got] = smtp_server.wait_for(1)
    assert got.rcpt_tos == [account.email]
    assert got.message["To"] == account.email
    assert got.subject == f"{LANGUAGE_SIGN_IN[language]} #{message_id}"
    link = f"http://localhost:5000/login/?next=/note/{message_id}/"
    text, html = got.body("plain"), got.body("html")
    assert "Olena" in text and link in text
    assert f'href="{link}"'.replace("&", "&amp;") in html and f">{link}<" in html
    assert f'lang="{language}"' in html
    assert _rows(mail_app)[0].sent_at is not None


def db_user(app, user_id) -> User:
    with app.app_context():
        return db.session.get(User, user_id)


def test_language_comes_from_the_request_when_the_user_chose_none(mail_app, make_user):
    account = make_user()
    with mail_app.test_request_context("/", headers={"Accept-Language": "uk,en;q=0.5"}):
        message = mail.queue(KIND, user=db.session.get(User, account.id))
        assert message.language == "uk"
        assert mail.queue(KIND, to_email="x@example.com", language="ru").language == "ru"
        db.session.rollback()


def test_a_letter_for_a_deleted_account_is_dropped(mail_app, make_user, smtp_server, caplog):  # noqa: F811
    account = make_user(is_active=False)
    _queue(mail_app, user=db_user(mail_app, account.id))
    with caplog.at_level(logging.INFO, logger="tz_app"):
        assert _deliver(mail_app) == 0
    assert _rows(mail_app) == []
    assert smtp_server.count() == 0
    assert account.email not in caplog.text


def test_smtp_down_keeps_the_row_and_retries_with_back_off(mail_app, smtp_server, caplog):  # noqa: F811
    _queue(mail_app, to_email="someone@example.com")
    smtp_server.stop()
    with caplog.at_level(logging.WARNING, logger="tz_app"):
        assert _deliver(mail_app) == 0
    [row] = _rows(mail_app)
    assert row.sent_at is None and row.attempts == 1 and row.last_error
    assert row.claimed_until is None
    assert timedelta(seconds=20) < row.next_attempt_at - utcnow() <= timedelta(seconds=30)
    [warning] = [r for r in caplog.records if r.name == "tz_app.mail"]
    assert warning.levelno == logging.WARNING

    smtp_server.start()
    assert _deliver(mail_app) == 0  # not due yet
    _make_due(mail_app)
    assert _deliver(mail_app) == 1
    assert [r.rcpt_tos for r in smtp_server.wait_for(1)] == [["someone@example.com"]]
    [row] = _rows(mail_app)
    assert row.sent_at is not None and row.attempts == 1


def test_after_many_failures_it_retries_hourly_and_says_so(mail_app, smtp_server, caplog):  # noqa: F811
    _queue(mail_app, to_email="someone@example.com")
    with mail_app.app_context():
        db.session.execute(update(MailMessage).values(attempts=12))
        db.session.commit()
    smtp_server.stop()
    with caplog.at_level(logging.WARNING, logger="tz_app"):
        assert _deliver(mail_app) == 0
    [row] = _rows(mail_app)
    assert row.attempts == 13 and row.sent_at is None
    assert timedelta(minutes=59) < row.next_attempt_at - utcnow() <= timedelta(hours=1)
    assert [r.levelno for r in caplog.records if r.name == "tz_app.mail"] == [logging.ERROR]


def test_two_deliverers_send_each_message_exactly_once(app, database_url, smtp_server):  # noqa: F811
    apps = [with_test_letters(make_test_app(database_url, **smtp_server.config)) for _ in range(2)]
    ids = _queue(apps[0], count=50, to_email="many@example.com")
    barrier = threading.Barrier(2)
    sent = [0, 0]
    errors = []

    def deliver(n):
        try:
            barrier.wait(timeout=10)
            while (batch := _deliver(apps[n], limit=5)) > 0:
                sent[n] += batch
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=deliver, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    _dispose(*apps)
    assert errors == []
    assert sum(sent) == 50
    subjects = sorted(r.subject for r in smtp_server.wait_for(50))
    assert subjects == sorted(f"Sign in #{i}" for i in ids)
    assert all(row.sent_at is not None for row in _rows(app))


def test_concurrent_claims_never_overlap(app, database_url):
    """Two deliverers claiming at the same moment never get the same row."""
    apps = [make_test_app(database_url) for _ in range(2)]

    def claim(n, barrier, claimed):
        with apps[n].app_context():
            barrier.wait(timeout=10)
            claimed[n] = set(claim_due(20)[0])

    try:
        for _ in range(3):
            ids = set(_queue(apps[0], count=20, to_email="claims@example.com"))
            barrier = threading.Barrier(2)
            claimed = [set(), set()]
            threads = [threading.Thread(target=claim, args=(n, barrier, claimed)) for n in range(2)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=30)
            assert claimed[0] & claimed[1] == set()
            assert claimed[0] | claimed[1] == ids
            with apps[0].app_context():
                db.session.execute(update(MailMessage).values(sent_at=utcnow()))
                db.session.commit()
    finally:
        _dispose(*apps)


def test_a_dead_deliverers_claim_expires(mail_app, database_url, smtp_server):  # noqa: F811
    _queue(mail_app, to_email="late@example.com")
    dead = make_test_app(database_url, **smtp_server.config)
    with dead.app_context():
        claimed, _lease = claim_due(10)
    _dispose(dead)
    assert len(claimed) == 1
    assert _deliver(mail_app) == 0  # still held by the claim
    with mail_app.app_context():
        db.session.execute(update(MailMessage).values(claimed_until=utcnow()))
        db.session.commit()
    assert _deliver(mail_app) == 1
    assert smtp_server.wait_for(1)[0].rcpt_tos == ["late@example.com"]


def test_outbox_in_development(app, database_url, tmp_path, caplog):
    outbox = tmp_path / "outbox"
    dev = with_test_letters(
        make_test_app(database_url, APP_ENV="development", MAIL_OUTBOX=str(outbox))
    )
    try:
        [message_id] = _queue(dev, to_email="reader@example.com")
        with caplog.at_level(logging.INFO, logger="tz_app"):
            assert _deliver(dev) == 1
    finally:
        _dispose(dev)
    [path] = outbox.iterdir()
    assert path.name.endswith(f"-{message_id}.eml")
    parsed = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert parsed["To"] == "reader@example.com"
    assert parsed["Subject"] == f"Sign in #{message_id}"
    link = f"http://localhost:5000/login/?next=/note/{message_id}/"
    assert link in parsed.get_body(preferencelist=("plain",)).get_content()
    assert link in parsed.get_body(preferencelist=("html",)).get_content()
    [line] = [r.getMessage() for r in caplog.records if r.name == "tz_app.mail"]
    assert f"Sign in #{message_id}" in line and "reader@example.com" in line and path.name in line


def test_the_in_process_deliverer_wakes_after_commit_and_stops(app, database_url, smtp_server):  # noqa: F811
    served = with_test_letters(
        make_test_app(
            database_url, MAIL_DELIVERY="process", MAIL_POLL_INTERVAL=3600, **smtp_server.config
        )
    )
    try:
        assert served.test_client().get("/login/").status_code == 200  # the first request
        deliverer = served.extensions["tz_mail_deliverer"]
        assert deliverer.running
        _queue(served, to_email="woken@example.com")
        assert smtp_server.wait_for(1)[0].rcpt_tos == ["woken@example.com"]
    finally:
        served.extensions["tz_mail_deliverer"].stop()
        _dispose(served)
    assert not deliverer.running


def test_gunicorn_delivers_after_a_request_without_any_command(app, database_url, smtp_server):  # noqa: F811
    server = GunicornServer(
        database_url,
        workers=1,
        threads=2,
        MAIL_DELIVERY="process",
        MAIL_SERVER=smtp_server.host,
        MAIL_PORT=str(smtp_server.port),
        PYTHONPATH=str(ROOT / "tests"),
    )
    server.args[-1] = "mail_app:create_test_app()"
    with server:
        body = urllib.parse.urlencode({"to": "served@example.com"}).encode()
        with urllib.request.urlopen(server.url + "/test/mail/", data=body, timeout=10) as answer:
            assert answer.status == 201
        got = smtp_server.wait_for(1)
    assert [r.rcpt_tos for r in got] == [["served@example.com"]]
    assert "Traceback" not in server.log()


def test_flask_mail_deliver(mail_app, smtp_server):  # noqa: F811
    _queue(mail_app, count=2, to_email="cli@example.com")
    result = mail_app.test_cli_runner().invoke(args=["mail", "deliver"])
    assert result.exit_code == 0, result.output
    assert "Sent 2, failed 0." in result.output
    assert len(smtp_server.wait_for(2)) == 2

    smtp_server.stop()
    _queue(mail_app, to_email="cli@example.com")
    result = mail_app.test_cli_runner().invoke(args=["mail", "deliver"])
    assert result.exit_code == 1
    assert "Sent 0, failed 1." in result.output


def test_flask_mail_deliver_watch_runs_until_stopped(app, database_url, make_user, smtp_server):  # noqa: F811
    account = make_user()
    with app.app_context():
        mail.notify_security_change(db.session.get(User, account.id), "password")
        db.session.commit()
    env = {
        **os.environ,
        "APP_ENV": "testing",
        "DATABASE_URL": database_url,
        "MAIL_SERVER": smtp_server.host,
        "MAIL_PORT": str(smtp_server.port),
    }
    flask = [str(Path(sys.executable).with_name("flask")), "--app", "wsgi", "mail", "deliver"]
    process = subprocess.Popen(
        [*flask, "--watch", "--interval", "0.2"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        assert smtp_server.wait_for(1, timeout=30)[0].rcpt_tos == [account.email]
        with app.app_context():
            mail.notify_security_change(db.session.get(User, account.id), "second_factors")
            db.session.commit()
        assert len(smtp_server.wait_for(2)) == 2
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=15)
    assert process.returncode == 0, output
    assert b"Sent 2, failed 0." in output


def test_security_notices(mail_app, make_user, smtp_server):  # noqa: F811
    account = make_user(name="Taras")
    with mail_app.app_context():
        user = db.session.get(User, account.id)
        for what in ("password", "second_factors"):
            mail.notify_security_change(user, what)
        user.email = "new-address@example.com"
        mail.notify_security_change(user, "email", old_email=account.email)
        db.session.commit()
        with pytest.raises(ValueError):
            mail.notify_security_change(user, "mood")
        with pytest.raises(ValueError):
            mail.notify_security_change(user, "email")
    assert _deliver(mail_app) == 3
    got = {r.subject: r for r in smtp_server.wait_for(3)}
    assert set(got) == {
        "Your password was changed",
        "Your second factors were changed",
        "Your email address was changed",
    }
    changed = got["Your email address was changed"]
    assert changed.rcpt_tos == [account.email]
    assert "new-address@example.com" in changed.body("plain")
    assert got["Your password was changed"].rcpt_tos == ["new-address@example.com"]
    for received in got.values():
        assert "Taras" in received.body("plain")
        assert "http://localhost:5000/login/" in received.body("plain")
        assert 'href="http://localhost:5000/login/"' in received.body("html")


PRODUCTION = {
    "APP_ENV": "production",
    "SECRET_KEY": "x" * 64,
    "SQLALCHEMY_DATABASE_URI": "sqlite://",
}


def test_production_requires_public_url():
    with pytest.raises(ConfigError, match="PUBLIC_URL"):
        create_app(dict(PRODUCTION))
    for bad in ("example.com", "ftp://example.com", "https://"):
        with pytest.raises(ConfigError, match="PUBLIC_URL"):
            create_app({**PRODUCTION, "PUBLIC_URL": bad})


def test_production_without_mail_server_says_mail_is_off(caplog):
    with caplog.at_level(logging.WARNING, logger="tz_app"):
        app = create_app({**PRODUCTION, "PUBLIC_URL": "https://accounts.example.com"})
    assert app.config["MAIL_ENABLED"] is False
    assert "MAIL_SERVER" in caplog.text
    with app.app_context():
        user = User(email="a@example.com", name="A", last_name="B", password_hash="!")
        assert mail.notify_security_change(user, "password") is None
    assert "MAIL_SERVER" in app.test_cli_runner().invoke(args=["mail", "deliver"]).output


def test_settings_from_the_environment(monkeypatch):
    for name, value in {
        "PUBLIC_URL": "https://accounts.example.com/tz/",
        "MAIL_SERVER": "smtp.example.com",
        "MAIL_PORT": "587",
        "MAIL_USE_TLS": "true",
        "MAIL_USERNAME": "tz",
        "MAIL_PASSWORD": "secret",
        "MAIL_DEFAULT_SENDER": "Accounts <accounts@example.com>",
        "PASSWORD_RESET_TTL": "600",
        "EMAIL_TOKEN_TTL": "700",
        "INVITE_TTL": "800",
        "REQUIRE_VERIFIED_EMAIL": "yes",
        "MAIL_DELIVERY": "command",
    }.items():
        monkeypatch.setenv(name, value)
    config = create_app({**PRODUCTION}).config
    assert config["PUBLIC_URL"] == "https://accounts.example.com/tz"
    assert (config["MAIL_SERVER"], config["MAIL_PORT"], config["MAIL_USE_TLS"]) == (
        "smtp.example.com",
        587,
        True,
    )
    assert config["MAIL_USE_SSL"] is False and config["MAIL_ENABLED"] is True
    assert config["MAIL_DEFAULT_SENDER"] == "Accounts <accounts@example.com>"
    assert (config["PASSWORD_RESET_TTL"], config["EMAIL_TOKEN_TTL"], config["INVITE_TTL"]) == (
        600,
        700,
        800,
    )
    assert config["REQUIRE_VERIFIED_EMAIL"] is True and config["MAIL_DELIVERY"] == "command"
    monkeypatch.setenv("REQUIRE_VERIFIED_EMAIL", "perhaps")
    with pytest.raises(ConfigError, match="REQUIRE_VERIFIED_EMAIL"):
        create_app({**PRODUCTION})


def test_defaults_in_development():
    app = create_app(
        {"APP_ENV": "development", "SECRET_KEY": "dev", "SQLALCHEMY_DATABASE_URI": "sqlite://"}
    )
    config = app.config
    assert config["PUBLIC_URL"] == "http://localhost:5000"
    assert config["MAIL_SERVER"] is None and config["MAIL_ENABLED"] is True
    assert config["MAIL_DELIVERY"] == "process"
    assert config["MAIL_DEFAULT_SENDER"] == "noreply@localhost"
    assert (config["PASSWORD_RESET_TTL"], config["EMAIL_TOKEN_TTL"], config["INVITE_TTL"]) == (
        3600,
        259200,
        604800,
    )
    assert config["REQUIRE_VERIFIED_EMAIL"] is False
    assert Path(config["MAIL_OUTBOX"]) == Path(app.instance_path) / "outbox"


def test_links_come_from_public_url_never_from_the_request():
    app = make_test_app(
        "sqlite://", PUBLIC_URL="https://accounts.example.com/tz", TRUSTED_PROXIES=1
    )
    forged = {"Host": "evil.example", "X-Forwarded-Host": "evil.example"}
    with app.test_request_context("/", headers=forged, base_url="http://evil.example"):
        assert mail.public_url("auth.login") == "https://accounts.example.com/tz/login/"
    with app.app_context():
        assert mail.public_url("auth.login", next="/a b/") == (
            "https://accounts.example.com/tz/login/?next=/a+b/"
        )


def test_queue_refuses_what_it_cannot_deliver(app):
    with app.app_context():
        with pytest.raises(ValueError):
            mail.queue("no_such_letter", to_email="a@example.com")
        with pytest.raises(ValueError):
            mail.queue(KIND)
        with pytest.raises(ValueError):
            mail.queue(KIND, to_email="a@example.com", language="xx")
        assert db.session.scalar(select(func.count()).select_from(MailMessage)) == 0

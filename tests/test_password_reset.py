"""Forgot password and reset by mail: one answer for all, links from PUBLIC_URL, single-use."""

import socket
import threading
import time

import pytest
from conftest import CSRF_META, auth_cookie, login, make_test_app, post
from recovery_mail import audited, deliver, dispose, flashes, link_in, mail_app  # noqa: F401
from smtp import smtp_server  # noqa: F401  (a fixture)
from sqlalchemy import create_engine, func, select, update

from tz_app import mail
from tz_app.extensions import db
from tz_app.models import AuditEvent, LinkToken, MailMessage, Session, User, utcnow
from tz_app.passwords import check_password
from tz_app.sessions import hash_token

FORGOT = "/password/forgot/"
RESET = "/password/reset/"
NEW_PASSWORD = "a brand new passphrase"
AUDITED = ("password.reset_requested", "password.reset_limited")
ON_ITS_WAY = (
    "If an account with this address exists, a link to choose a new password is on its way to it."
)


def forgot(client, email, **kwargs):
    return post(client, FORGOT, {"email": email}, **kwargs)


def choose(client, path, password=NEW_PASSWORD, confirm=None):
    return post(
        client,
        path,
        {"new_password": password, "new_password_confirm": confirm or password},
        token=token_on(client, path),
    )


def token_on(client, path) -> str:
    """The CSRF token of the page at ``path`` (a 404 page has one too)."""
    return CSRF_META.search(client.get(path).get_data(as_text=True)).group(1)


def reset_link(app, server) -> str:
    """Deliver what is due; the link in the newest reset mail that arrived."""
    deliver(app)
    resets = [r for r in server.wait_for(1) if r.subject == "Reset your password"]
    return link_in(resets[-1], RESET)


def make_test_app_with(database_url, smtp_server, **overrides):  # noqa: F811
    """An app on the test database sending to ``smtp_server``, with ``overrides``."""
    return make_test_app(database_url, **{**smtp_server.config, **overrides})


def stored_hash(app, user_id) -> str:
    with app.app_context():
        return db.session.get(User, user_id).password_hash


def test_the_login_page_links_to_forgot_password(client):
    page = client.get("/login/").get_data(as_text=True)
    assert f'href="{FORGOT}"' in page and "Forgot your password?" in page
    form = client.get(FORGOT)
    assert form.status_code == 200 and 'name="email"' in form.get_data(as_text=True)


def test_forgot_mail_reset_then_sign_in_with_the_new_password(mail_app, make_user, smtp_server):  # noqa: F811
    account = make_user(name="Mariia")
    client = mail_app.test_client()
    answer = forgot(client, f"  {account.email.upper()} ")
    assert answer.status_code == 302 and answer.headers["Location"] == "/login/"
    assert flashes(client) == [ON_ITS_WAY]
    assert smtp_server.count() == 0  # nothing is sent by the request itself

    path = reset_link(mail_app, smtp_server)
    [got] = smtp_server.received
    assert got.rcpt_tos == [account.email] and got.subject == "Reset your password"
    assert "Mariia" in got.body("plain") and "in 1 hour" in got.body("plain")
    for _ in range(2):  # opening the link, however often, uses nothing up
        page = client.get(path)
        assert page.status_code == 200 and 'name="new_password_confirm"' in page.get_data(True)
        assert page.headers["Referrer-Policy"] == "no-referrer"
        assert "no-store" in page.headers["Cache-Control"]

    done = choose(client, path)
    assert done.status_code == 302 and done.headers["Location"] == "/login/"
    assert auth_cookie(client) is None  # not signed in by the reset
    assert flashes(client) == ["Your password has been changed. Sign in with the new one."]
    assert check_password(stored_hash(mail_app, account.id), NEW_PASSWORD)
    assert login(mail_app.test_client(), account.email).status_code == 200  # the old one
    assert login(mail_app.test_client(), account.email, NEW_PASSWORD).status_code == 302

    again = choose(client, path, "yet another passphrase")
    assert again.status_code == 404
    assert f'href="{FORGOT}"' in again.get_data(as_text=True)
    assert check_password(stored_hash(mail_app, account.id), NEW_PASSWORD)

    assert audited(mail_app, "password.reset_requested", "password.reset") == [
        ("password.reset_requested", account.email),
        ("password.reset", account.email),
    ]
    raw = path.split("/")[-2]
    with mail_app.app_context():
        audit_text = " ".join(str(e.detail) for e in db.session.scalars(select(AuditEvent)))
        queue_text = " ".join(str(m.params) for m in db.session.scalars(select(MailMessage)))
    assert raw not in audit_text and raw not in queue_text

    deliver(mail_app)  # the password-changed notice
    notice = smtp_server.wait_for(2)[1]
    assert notice.rcpt_tos == [account.email] and notice.subject == "Your password was changed"


def test_the_same_answer_whether_or_not_the_account_exists(mail_app, make_user, smtp_server):  # noqa: F811
    active = make_user()
    deleted = make_user(is_active=False)
    answers = {}
    for who, email in (
        ("active", active.email),
        ("unknown", "nobody-here@example.com"),
        ("deleted", deleted.email),
    ):
        client = mail_app.test_client()
        response = forgot(client, email)
        answers[who] = (response.status_code, response.headers["Location"], flashes(client))
    assert answers["active"] == answers["unknown"] == answers["deleted"]
    with mail_app.app_context():
        queued = db.session.scalars(select(MailMessage.to_email).order_by(MailMessage.id)).all()
    assert queued == [active.email, "nobody-here@example.com", deleted.email]

    assert deliver(mail_app) == 1
    assert [r.rcpt_tos for r in smtp_server.wait_for(1)] == [[active.email]]
    time.sleep(0.2)
    assert smtp_server.count() == 1  # the deleted account got nothing
    with mail_app.app_context():
        assert db.session.scalars(select(MailMessage.to_email)).all() == [active.email]
        assert db.session.scalars(select(LinkToken.user_id)).all() == [active.id]


@pytest.mark.parametrize("proxies", [0, 1])
def test_a_forged_host_never_reaches_the_link(app, database_url, make_user, smtp_server, proxies):  # noqa: F811
    public = "https://accounts.example.com/tz"
    served = make_test_app_with(
        database_url, smtp_server, PUBLIC_URL=public, TRUSTED_PROXIES=proxies
    )
    try:
        account = make_user()
        forged = {
            "Host": "evil.example",
            "X-Forwarded-Host": "evil.example",
            "X-Forwarded-Proto": "http",
        }
        client = served.test_client()
        token = CSRF_META.search(client.get(FORGOT, headers=forged).get_data(True)).group(1)
        answer = client.post(
            FORGOT, data={"email": account.email, "csrf_token": token}, headers=forged
        )
        assert answer.status_code == 302
        assert deliver(served) == 1
    finally:
        dispose(served)
    [got] = smtp_server.wait_for(1)
    assert link_in(got, RESET, base=public).startswith(RESET)
    for body in (got.body("plain"), got.body("html")):
        assert "evil" not in body


def race_for(app, path, passwords) -> list[int]:
    """POST ``path`` from two browsers at once, one password each; their statuses."""
    clients = [app.test_client() for _ in passwords]
    tokens = [token_on(c, path) for c in clients]
    barrier = threading.Barrier(len(passwords))
    statuses = [0] * len(passwords)

    def run(n):
        barrier.wait(timeout=10)
        data = {"new_password": passwords[n], "new_password_confirm": passwords[n]}
        statuses[n] = post(clients[n], path, data, token=tokens[n]).status_code

    threads = [threading.Thread(target=run, args=(n,)) for n in range(len(passwords))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return statuses


def test_two_concurrent_posts_of_one_link_one_wins(mail_app, make_user, smtp_server):  # noqa: F811
    for round_ in range(3):
        account = make_user()
        forgot(mail_app.test_client(), account.email)
        path = reset_link(mail_app, smtp_server)
        passwords = [f"first racer passphrase {round_}", f"second racer passphrase {round_}"]
        statuses = race_for(mail_app, path, passwords)
        assert sorted(statuses) == [302, 404]
        winner = passwords[statuses.index(302)]
        assert check_password(stored_hash(mail_app, account.id), winner)
    assert len(audited(mail_app, "password.reset")) == 3


def test_an_expired_link_is_404_and_offers_a_new_one(mail_app, make_user, smtp_server):  # noqa: F811
    mail_app.config["PASSWORD_RESET_TTL"] = 1
    account = make_user()
    client = mail_app.test_client()
    forgot(client, account.email)
    path = reset_link(mail_app, smtp_server)
    time.sleep(1.2)
    for response in (client.get(path), choose(client, path)):
        assert response.status_code == 404
        page = response.get_data(as_text=True)
        assert f'href="{FORGOT}"' in page and "Send a new link" in page
    assert not check_password(stored_hash(mail_app, account.id), NEW_PASSWORD)


def test_a_password_changed_on_the_profile_voids_the_link_and_is_notified(
    mail_app,  # noqa: F811
    make_user,
    smtp_server,  # noqa: F811
):
    account = make_user()
    client = mail_app.test_client()
    forgot(client, account.email)
    path = reset_link(mail_app, smtp_server)
    login(client, account.email)
    changed = post(
        client,
        "/profile/password/",
        {
            "current_password": account.password,
            "new_password": "profile passphrase here",
            "new_password_confirm": "profile passphrase here",
        },
        token=token_on(client, "/profile/"),
    )
    assert changed.status_code == 302
    assert mail_app.test_client().get(path).status_code == 404
    assert choose(mail_app.test_client(), path).status_code == 404
    deliver(mail_app)
    notice = smtp_server.wait_for(2)[1]
    assert (notice.rcpt_tos, notice.subject) == ([account.email], "Your password was changed")


@pytest.mark.parametrize("editor", ["self", "admin"])
def test_a_password_changed_on_the_users_page_voids_the_link_and_is_notified(
    mail_app,  # noqa: F811
    make_user,
    smtp_server,  # noqa: F811
    editor,
):
    account = make_user()
    forgot(mail_app.test_client(), account.email)
    path = reset_link(mail_app, smtp_server)
    client = mail_app.test_client()
    if editor == "self":
        login(client, account.email)
    else:
        login(client, make_user("admin").email)
    saved = post(
        client,
        f"/users/{account.id}/update/",
        {"password": "users page passphrase"},
        token=token_on(client, "/home/"),
    )
    assert saved.status_code == 302
    assert mail_app.test_client().get(path).status_code == 404
    deliver(mail_app)
    notice = smtp_server.wait_for(2)[1]
    assert (notice.rcpt_tos, notice.subject) == ([account.email], "Your password was changed")


def test_a_link_dies_when_the_address_changes(mail_app, make_user, smtp_server):  # noqa: F811
    account = make_user()
    forgot(mail_app.test_client(), account.email)
    path = reset_link(mail_app, smtp_server)
    admin = mail_app.test_client()
    login(admin, make_user("admin").email)
    changed = {"email": "moved-elsewhere@example.com"}
    token = token_on(admin, "/home/")
    assert post(admin, f"/users/{account.id}/update/", changed, token=token).status_code == 302
    client = mail_app.test_client()
    assert client.get(path).status_code == 404
    assert choose(client, path).status_code == 404
    assert not check_password(stored_hash(mail_app, account.id), NEW_PASSWORD)


def test_a_newer_link_voids_the_older(mail_app, make_user, smtp_server):  # noqa: F811
    account = make_user()
    forgot(mail_app.test_client(), account.email)
    older = reset_link(mail_app, smtp_server)
    forgot(mail_app.test_client(), account.email)
    newer = reset_link(mail_app, smtp_server)
    assert older != newer
    client = mail_app.test_client()
    assert client.get(older).status_code == 404
    assert choose(client, newer).status_code == 302


def test_at_most_three_mails_an_hour_per_address(mail_app, make_user, smtp_server):  # noqa: F811
    account = make_user()
    unknown = "unknown-address@example.com"
    answers = set()
    for email in (account.email, unknown):
        for _ in range(4):
            client = mail_app.test_client()
            response = forgot(client, email)
            answers.add((response.status_code, response.headers["Location"], *flashes(client)))
    assert answers == {(302, "/login/", ON_ITS_WAY)}
    assert deliver(mail_app) == 3
    time.sleep(0.2)
    assert [r.rcpt_tos for r in smtp_server.wait_for(3)] == [[account.email]] * 3
    for email in (account.email, unknown):
        recorded = [kind for kind, e in audited(mail_app, *AUDITED) if e == email]
        assert recorded == ["password.reset_requested"] * 3 + ["password.reset_limited"]
    with mail_app.app_context():  # an hour later, the address may ask again
        db.session.execute(update(AuditEvent).values(created_at=utcnow().replace(year=2000)))
        db.session.commit()
    forgot(mail_app.test_client(), account.email)
    assert deliver(mail_app) == 1


def test_a_reset_ends_every_session_and_the_failed_sign_in_count(
    mail_app,  # noqa: F811
    make_user,
    smtp_server,  # noqa: F811
):
    account = make_user()
    browsers = [mail_app.test_client() for _ in range(2)]
    for browser in browsers:
        assert login(browser, account.email).status_code == 302
    guesser = mail_app.test_client()
    statuses = [login(guesser, account.email, "wrong guess").status_code for _ in range(5)]
    assert statuses == [200] * 4 + [429]

    forgot(browsers[0], account.email)  # signed in or not, the same request
    path = reset_link(mail_app, smtp_server)
    assert choose(browsers[0], path).status_code == 302
    with mail_app.app_context():
        live = db.session.scalars(
            select(Session).where(Session.user_id == account.id, Session.is_active)
        ).all()
    assert live == []
    for browser in browsers:
        assert browser.get("/home/").status_code == 302
    assert login(mail_app.test_client(), account.email, NEW_PASSWORD).status_code == 302


def test_the_new_password_must_follow_the_policy(mail_app, make_user, smtp_server):  # noqa: F811
    account = make_user()
    client = mail_app.test_client()
    forgot(client, account.email)
    path = reset_link(mail_app, smtp_server)
    for password, confirm in (("short", "short"), (NEW_PASSWORD, "something else entirely")):
        refused = choose(client, path, password, confirm)
        assert refused.status_code == 400
        assert 'class="field-error"' in refused.get_data(as_text=True)
    refused = choose(client, path, account.email, account.email)
    assert refused.status_code == 400
    assert choose(client, path).status_code == 302


def test_the_letter_is_in_the_language_of_the_request(mail_app, make_user, smtp_server):  # noqa: F811
    account = make_user()
    client = mail_app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "uk"
    forgot(client, account.email)
    deliver(mail_app)
    [got] = smtp_server.wait_for(1)
    assert '<html lang="uk">' in got.body("html")
    assert "через 1 годину" in got.body("plain")  # when the link expires


class Blackhole:
    """A listening socket on the SMTP server's port that never answers: SMTP is down, slowly."""

    def __init__(self, port: int):
        self.socket = socket.create_server(("127.0.0.1", port))

    def close(self) -> None:
        self.socket.close()


def test_smtp_down_the_page_answers_at_once_and_the_mail_comes_later(
    app,
    database_url,
    make_user,
    smtp_server,  # noqa: F811
):
    smtp_server.stop()
    blackhole = Blackhole(smtp_server.port)
    served = make_test_app_with(
        database_url, smtp_server, MAIL_DELIVERY="process", MAIL_POLL_INTERVAL=3600, MAIL_TIMEOUT=2
    )
    deliverer = None
    try:
        account = make_user()
        client = served.test_client()
        token = token_on(client, FORGOT)
        deliverer = served.extensions["tz_mail_deliverer"]
        assert deliverer.running
        started = time.monotonic()
        answer = post(client, FORGOT, {"email": account.email}, token=token)
        assert answer.status_code == 302
        assert time.monotonic() - started < 1
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and attempts(served) == 0:
            time.sleep(0.1)
        assert attempts(served) == 1  # tried, failed, kept

        blackhole.close()
        smtp_server.start()
        with served.app_context():
            db.session.execute(update(MailMessage).values(next_attempt_at=utcnow()))
            db.session.commit()
        deliverer.wake()
        [got] = smtp_server.wait_for(1, timeout=10)
    finally:
        blackhole.close()
        if deliverer is not None:
            deliverer.stop()
        dispose(served)
    assert got.rcpt_tos == [account.email]
    assert choose(app.test_client(), link_in(got, RESET)).status_code == 302


def attempts(app) -> int:
    with app.app_context():
        return db.session.scalar(select(MailMessage.attempts))


def test_with_mail_off_the_page_says_to_ask_an_administrator(app, make_user):
    app.config["MAIL_ENABLED"] = False
    account = make_user()
    client = app.test_client()
    page = client.get(FORGOT).get_data(as_text=True)
    assert "Ask an administrator" in page and 'name="email"' not in page
    answer = post(client, FORGOT, {"email": account.email})
    assert answer.status_code == 200 and "Ask an administrator" in answer.get_data(True)
    with app.app_context():
        assert db.session.scalars(select(MailMessage)).all() == []
        assert mail.deliver_due() == 0


def test_an_unknown_link_is_404_and_offers_a_new_one(client):
    for path in (RESET + "not-a-token/", RESET + "x" * 300 + "/"):
        for response in (client.get(path), choose(client, path)):
            assert response.status_code == 404
            assert f'href="{FORGOT}"' in response.get_data(as_text=True)


def test_a_reset_link_opens_the_moment_its_letter_arrives(
    mail_app,  # noqa: F811
    make_user,
    smtp_server,  # noqa: F811
    database_url,
):
    """The token is stored before its letter leaves: a reader, or a mail scanner,
    quicker than the deliverer's last write still finds the link working."""
    account = make_user()
    forgot(mail_app.test_client(), account.email)
    # A connection of its own sees only what the deliverer has committed.
    engine = create_engine(database_url)
    stored_on_arrival = []

    class CheckedOnArrival(list):
        def append(self, received):
            raw = link_in(received, RESET).strip("/").rsplit("/", 1)[-1]
            with engine.connect() as conn:
                stored_on_arrival.append(
                    conn.scalar(
                        select(func.count())
                        .select_from(LinkToken)
                        .where(LinkToken.token_hash == hash_token(raw))
                    )
                )
            super().append(received)

    smtp_server.received = CheckedOnArrival()
    try:
        path = reset_link(mail_app, smtp_server)
    finally:
        engine.dispose()
    assert stored_on_arrival == [1]
    assert choose(mail_app.test_client(), path).status_code == 302

"""Email confirmation: at sign-up, on request, required for sign-in when so configured."""

import re
import threading
from datetime import timedelta

import pytest
from conftest import CSRF_META, auth_cookie, login, make_test_app, post
from recovery_mail import audited, deliver, dispose, flashes, link_in, mail_app  # noqa: F401
from smtp import smtp_server  # noqa: F401  (a fixture)
from sqlalchemy import select, update

from tz_app.extensions import db
from tz_app.models import AuditEvent, LinkToken, MailMessage, User, utcnow

VERIFY = "/email/verify/"
RESEND = "/email/verify/resend/"
PASSWORD = "a sign-up passphrase"
CHECK_MAIL = "We sent a message to {}: follow the link in it to confirm the address."
NOT_CONFIRMED = "Your email address is not confirmed yet."
RESEND_ANSWER = (
    "If an account with this address is waiting for confirmation, a new link is on its way to it."
)


def sign_up(client, email, password=PASSWORD, **headers):
    data = {
        "name": "Olha",
        "last_name": "Kobylianska",
        "email": email,
        "password": password,
        "password_confirm": password,
    }
    return post(client, "/signup/", data, headers=headers)


def confirm(client, path):
    return post(client, path, token=token_on(client, path))


def token_on(client, path) -> str:
    return CSRF_META.search(client.get(path).get_data(as_text=True)).group(1)


def user_by_email(app, email) -> User:
    with app.app_context():
        return db.session.scalar(select(User).where(User.email == email))


def queued(app) -> list[tuple[str, int | None, str | None]]:
    with app.app_context():
        rows = db.session.execute(
            select(MailMessage.kind, MailMessage.user_id, MailMessage.to_email).order_by(
                MailMessage.id
            )
        )
        return [tuple(row) for row in rows]


def without_csrf(html: str) -> str:
    return CSRF_META.sub("", re.sub(r'name="csrf_token"[^>]*value="[^"]*"', "", html))


@pytest.fixture
def strict_app(app, database_url, smtp_server):  # noqa: F811
    """An app that sends to the test SMTP server and lets only confirmed addresses sign in."""
    built = make_test_app(database_url, **smtp_server.config, REQUIRE_VERIFIED_EMAIL=True)
    yield built
    dispose(built)


def test_sign_up_mails_a_link_and_following_it_confirms(mail_app, smtp_server):  # noqa: F811
    client = mail_app.test_client()
    answer = sign_up(client, " Olha@Example.com ")
    assert answer.status_code == 302 and answer.headers["Location"] == "/home/"
    assert auth_cookie(client) is not None  # signed in: confirmation is not required
    page = client.get("/profile/").get_data(as_text=True)
    assert CHECK_MAIL.format("olha@example.com") in page
    assert 'data-email-state="unconfirmed"' in page
    assert smtp_server.count() == 0  # the page never waits for SMTP

    assert deliver(mail_app) == 1
    [got] = smtp_server.received
    assert got.rcpt_tos == ["olha@example.com"] and got.subject == "Confirm your email address"
    assert "Olha" in got.body("plain") and "in 3 days" in got.body("plain")
    path = link_in(got, VERIFY)

    for _ in range(2):  # opening the link, however often, changes nothing
        shown = client.get(path)
        assert shown.status_code == 200 and shown.headers["Referrer-Policy"] == "no-referrer"
        assert "Confirm that olha@example.com is the email address" in shown.get_data(True)
    assert user_by_email(mail_app, "olha@example.com").email_verified_at is None
    with mail_app.app_context():
        assert db.session.scalars(select(LinkToken.used_at)).all() == [None]

    done = confirm(client, path)
    assert done.status_code == 302 and done.headers["Location"] == "/profile/"
    page = client.get("/profile/").get_data(as_text=True)
    assert "Your email address olha@example.com is confirmed." in page
    assert 'data-email-state="confirmed"' in page
    assert user_by_email(mail_app, "olha@example.com").email_state == "confirmed"

    again = confirm(mail_app.test_client(), path)  # single use
    assert again.status_code == 404
    assert f'action="{RESEND}"' in again.get_data(as_text=True)
    assert audited(mail_app, "email.verification_sent", "email.verified") == [
        ("email.verification_sent", "olha@example.com"),
        ("email.verified", "olha@example.com"),
    ]
    raw = path.split("/")[-2]
    with mail_app.app_context():
        stored = " ".join(str(e.detail) for e in db.session.scalars(select(AuditEvent)))
        stored += " ".join(str(m.params) for m in db.session.scalars(select(MailMessage)))
    assert raw not in stored


def test_the_letter_is_in_the_language_of_the_sign_up(app, client):
    sign_up(client, "mova@example.com", **{"Accept-Language": "uk"})
    with app.app_context():
        assert db.session.scalar(select(MailMessage.language)) == "uk"


def test_an_expired_link_confirms_nothing(mail_app, smtp_server):  # noqa: F811
    client = mail_app.test_client()
    sign_up(client, "late@example.com")
    deliver(mail_app)
    path = link_in(smtp_server.wait_for(1)[0], VERIFY)
    with mail_app.app_context():
        db.session.execute(update(LinkToken).values(expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
    assert client.get(path).status_code == 404
    assert confirm(client, path).status_code == 404
    assert user_by_email(mail_app, "late@example.com").email_verified_at is None


def test_a_link_for_an_address_the_account_no_longer_has_confirms_nothing(
    mail_app,  # noqa: F811
    smtp_server,  # noqa: F811
):
    client = mail_app.test_client()
    sign_up(client, "before@example.com")
    deliver(mail_app)
    path = link_in(smtp_server.wait_for(1)[0], VERIFY)
    with mail_app.app_context():
        db.session.execute(update(User).values(email="after@example.com"))
        db.session.commit()
    assert confirm(client, path).status_code == 404
    assert user_by_email(mail_app, "after@example.com").email_verified_at is None


def test_with_required_confirmation_a_taken_address_answers_as_a_new_one(
    strict_app,
    make_user,
    smtp_server,  # noqa: F811
):
    owner = make_user(email="taken@example.com", name="Owner")
    answers = {}
    for email in ("taken@example.com", "fresh@example.com"):
        client = strict_app.test_client()
        answer = sign_up(client, email.replace("taken", "TAKEN"))
        login_page = client.get(answer.headers["Location"]).get_data(as_text=True)
        assert auth_cookie(client) is None  # not signed in before the address is confirmed
        answers[email] = (
            answer.status_code,
            answer.headers["Location"],
            answer.get_data(),
            without_csrf(login_page.replace(email, "ADDRESS")),
        )
    assert answers["taken@example.com"] == answers["fresh@example.com"]
    assert answers["fresh@example.com"][:2] == (302, "/login/")
    assert CHECK_MAIL.format("ADDRESS") in answers["fresh@example.com"][3]
    assert user_by_email(strict_app, "taken@example.com").id == owner.id  # untouched
    assert user_by_email(strict_app, "taken@example.com").name == "Owner"

    assert deliver(strict_app) == 2
    letters = {got.rcpt_tos[0]: got for got in smtp_server.wait_for(2)}
    warning = letters["taken@example.com"]
    assert warning.subject == "Someone tried to sign up with your address"
    assert "already has one" in warning.body("plain") and VERIFY not in warning.body("plain")
    assert letters["fresh@example.com"].subject == "Confirm your email address"
    assert audited(strict_app, "user.signup_taken", "email.verification_sent") == [
        ("user.signup_taken", "taken@example.com"),
        ("email.verification_sent", "fresh@example.com"),
    ]


def test_with_required_confirmation_sign_in_waits_for_the_link(strict_app, smtp_server):  # noqa: F811
    sign_up(strict_app.test_client(), "waiting@example.com")
    deliver(strict_app)
    path = link_in(smtp_server.wait_for(1)[0], VERIFY)

    client = strict_app.test_client()
    wrong = login(client, "waiting@example.com", "not the passphrase")
    assert wrong.status_code == 200 and NOT_CONFIRMED not in wrong.get_data(as_text=True)
    assert "Invalid email or password." in wrong.get_data(as_text=True)
    right = login(client, "waiting@example.com", PASSWORD)
    page = right.get_data(as_text=True)
    assert right.status_code == 403 and auth_cookie(client) is None
    assert NOT_CONFIRMED in page and f'action="{RESEND}"' in page
    assert 'name="email" value="waiting@example.com"' in page
    assert audited(strict_app, "auth.login_failed", "auth.login_unconfirmed", "auth.login") == [
        ("auth.login_failed", "waiting@example.com"),
        ("auth.login_unconfirmed", "waiting@example.com"),
    ]

    again = post(client, RESEND, {"email": "waiting@example.com"})
    assert again.status_code == 302 and flashes(client) == [RESEND_ANSWER]
    assert deliver(strict_app) == 1
    newer = link_in(smtp_server.wait_for(2)[1], VERIFY)
    assert newer != path

    assert confirm(client, path).status_code == 302  # either link works, once
    assert login(client, "waiting@example.com", PASSWORD).status_code == 302
    assert auth_cookie(client) is not None


def test_resend_answers_alike_for_any_address_and_mails_only_a_waiting_account(
    mail_app,  # noqa: F811
    make_user,
    smtp_server,  # noqa: F811
):
    waiting = make_user(email="waiting@example.com")
    make_user(email="done@example.com")
    with mail_app.app_context():
        db.session.execute(
            update(User).where(User.email == "done@example.com").values(email_verified_at=utcnow())
        )
        db.session.commit()
    answers = []
    for email in ("waiting@example.com", "nobody@example.com", "done@example.com"):
        client = mail_app.test_client()
        answer = post(client, RESEND, {"email": email.upper()})
        answers.append((answer.status_code, answer.headers["Location"], flashes(client)))
    assert answers == [(302, "/login/", [RESEND_ANSWER])] * 3
    assert deliver(mail_app) == 1
    [got] = smtp_server.received
    assert got.rcpt_tos == [waiting.email] and got.subject == "Confirm your email address"


def test_resend_sends_at_most_three_links_an_hour_to_an_address(mail_app):  # noqa: F811
    client = mail_app.test_client()
    sign_up(client, "often@example.com")  # the first link
    for _ in range(3):
        assert post(client, RESEND).status_code == 302
    assert [kind for kind, *_ in queued(mail_app)] == ["email_verify"] * 3
    page = client.get("/profile/").get_data(as_text=True)
    assert "Too many links were mailed to this address in the last hour." in page
    stranger = mail_app.test_client()
    assert post(stranger, RESEND, {"email": "often@example.com"}).status_code == 302
    assert flashes(stranger) == [RESEND_ANSWER]
    assert len(queued(mail_app)) == 3


def at_once(calls) -> list:
    """Run each call in a thread of its own, all released together; their results."""
    barrier = threading.Barrier(len(calls))
    results = [None] * len(calls)

    def run(n):
        barrier.wait(timeout=10)
        results[n] = calls[n]()

    threads = [threading.Thread(target=run, args=(n,)) for n in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return results


def test_concurrent_resends_still_send_at_most_three(mail_app, make_user):  # noqa: F811
    waiting = make_user()
    clients = [mail_app.test_client() for _ in range(6)]
    tokens = [token_on(c, "/login/") for c in clients]
    calls = [
        lambda c=c, t=t: post(c, RESEND, {"email": waiting.email}, token=t).status_code
        for c, t in zip(clients, tokens, strict=True)
    ]
    assert at_once(calls) == [302] * 6
    assert len(queued(mail_app)) == 3
    limited = audited(mail_app, "email.verification_sent", "email.mail_limited")
    assert (
        sorted(kind for kind, _ in limited)
        == ["email.mail_limited"] * 3 + ["email.verification_sent"] * 3
    )


def test_two_concurrent_confirmations_of_one_link_one_wins(mail_app, smtp_server):  # noqa: F811
    sign_up(mail_app.test_client(), "racer@example.com")
    deliver(mail_app)
    path = link_in(smtp_server.wait_for(1)[0], VERIFY)
    clients = [mail_app.test_client() for _ in range(2)]
    tokens = [token_on(c, path) for c in clients]
    calls = [
        lambda c=c, t=t: post(c, path, token=t).status_code
        for c, t in zip(clients, tokens, strict=True)
    ]
    assert sorted(at_once(calls)) == [302, 404]
    assert audited(mail_app, "email.verified") == [("email.verified", "racer@example.com")]


def test_a_confirmed_user_is_told_so_and_gets_no_mail(mail_app, signed_in):  # noqa: F811
    client, _ = signed_in()
    with mail_app.app_context():
        db.session.execute(update(User).values(email_verified_at=utcnow()))
        db.session.commit()
    assert post(client, RESEND).headers["Location"] == "/profile/"
    assert "Your email address is already confirmed." in client.get("/profile/").get_data(True)
    assert queued(mail_app) == []


def test_confirmation_is_required_only_while_mail_is_on(app):
    app.config["REQUIRE_VERIFIED_EMAIL"] = True
    client = app.test_client()
    answer = sign_up(client, "mail@example.com")
    assert answer.headers["Location"] == "/login/" and auth_cookie(client) is None
    assert [kind for kind, *_ in queued(app)] == ["email_verify"]

    app.config["MAIL_ENABLED"] = False  # production without MAIL_SERVER
    client = app.test_client()
    answer = sign_up(client, "nomail@example.com")
    assert answer.headers["Location"] == "/home/" and auth_cookie(client) is not None
    assert len(queued(app)) == 1
    assert post(client, RESEND).status_code == 404


def test_demo_and_command_line_accounts_are_confirmed(app, runner):
    assert runner.invoke(args=["seed", "--demo"]).exit_code == 0
    result = runner.invoke(
        args=["create-admin", "--email", "root@example.com", "--password", "a root passphrase"]
    )
    assert result.exit_code == 0, result.output
    for email in ("admin@test.com", "user@test.com", "root@example.com"):
        assert user_by_email(app, email).email_state == "confirmed"


def test_home_rows_carry_the_email_state(app, make_user, signed_in):
    admin, _ = signed_in("admin")
    confirmed = make_user(last_name="Aconfirmed")
    unconfirmed = make_user(last_name="Bunconfirmed")
    invited = make_user(last_name="Cinvited")
    with app.app_context():
        db.session.execute(
            update(User).where(User.id == confirmed.id).values(email_verified_at=utcnow())
        )
        db.session.execute(
            update(User).where(User.id == invited.id).values(password_hash="!never-matches")
        )
        db.session.commit()
    page = admin.get("/home/").get_data(as_text=True)
    for account, state in ((confirmed, "confirmed"), (unconfirmed, "unconfirmed")):
        assert f'<tr data-user-id="{account.id}" data-email-state="{state}">' in page
    assert f'<tr data-user-id="{invited.id}" data-email-state="invited">' in page
    resend = f'formaction="/users/{invited.id}/invite/" data-action="invite">Resend invitation'
    assert resend in page
    assert page.count('data-action="invite"') == 1
    searched = admin.get("/home/?q=Cinvited").get_data(as_text=True)
    assert 'data-email-state="invited"' in searched and resend in searched

    client, own = signed_in("user")
    mine = client.get("/home/").get_data(as_text=True)
    assert f'data-user-id="{own.id}" data-email-state="unconfirmed"' in mine
    assert 'data-action="invite"' not in mine

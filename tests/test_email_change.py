"""Changing an email address: one's own waits for the new address; an administrator's applies."""

from conftest import CSRF_META, login, post
from recovery_mail import audited, deliver, link_in, mail_app  # noqa: F401
from smtp import smtp_server  # noqa: F401  (a fixture)
from sqlalchemy import select, update

from tz_app.extensions import db
from tz_app.models import LinkToken, MailMessage, User

VERIFY = "/email/verify/"
CHANGE = "/profile/email/"
PENDING = "We sent a link to {}. Your email address changes once you follow it."


def token_on(client, path) -> str:
    return CSRF_META.search(client.get(path).get_data(as_text=True)).group(1)


def ask(client, email, **kwargs):
    return post(client, CHANGE, {"email": email}, token=token_on(client, "/profile/"), **kwargs)


def confirm(client, path):
    return post(client, path, token=token_on(client, path))


def signed_in_client(app, account):
    client = app.test_client()
    assert login(client, account.email).status_code == 302
    return client


def email_of(app, user_id) -> str:
    with app.app_context():
        return db.session.get(User, user_id).email


def state_of(app, user_id) -> str:
    with app.app_context():
        return db.session.get(User, user_id).email_state


def queued_kinds(app) -> list[str]:
    with app.app_context():
        return db.session.scalars(select(MailMessage.kind).order_by(MailMessage.id)).all()


def test_an_own_change_waits_for_the_new_address(mail_app, make_user, smtp_server):  # noqa: F811
    account = make_user(email="old@example.com", name="Lesia")
    client = signed_in_client(mail_app, account)
    answer = ask(client, " New@Example.com ")
    assert answer.status_code == 302 and answer.headers["Location"] == "/profile/"
    page = client.get("/profile/").get_data(as_text=True)
    assert PENDING.format("new@example.com") in page
    assert 'data-pending-email="new@example.com"' in page
    assert email_of(mail_app, account.id) == "old@example.com"

    assert deliver(mail_app) == 2
    letters = {got.rcpt_tos[0]: got for got in smtp_server.wait_for(2)}
    link = letters["new@example.com"]
    assert link.subject == "Confirm your new email address" and "Lesia" in link.body("plain")
    notice = letters["old@example.com"]
    assert notice.subject == "Your email address is about to change"
    assert "new@example.com" in notice.body("plain") and VERIFY not in notice.body("plain")
    path = link_in(link, VERIFY)
    assert 'data-pending-email="new@example.com"' in client.get("/profile/").get_data(True)

    # Meanwhile the old address still signs in, and the link's page changes nothing.
    assert login(mail_app.test_client(), "old@example.com").status_code == 302
    assert client.get(path).status_code == 200
    assert "Confirm that new@example.com is" in client.get(path).get_data(as_text=True)
    assert email_of(mail_app, account.id) == "old@example.com"

    done = confirm(client, path)
    assert done.status_code == 302 and done.headers["Location"] == "/profile/"
    page = client.get("/profile/").get_data(as_text=True)
    assert "Your email address is now new@example.com." in page
    assert "data-pending-email" not in page and 'data-email-state="confirmed"' in page
    assert email_of(mail_app, account.id) == "new@example.com"
    assert login(mail_app.test_client(), "old@example.com").status_code == 200
    assert login(mail_app.test_client(), "new@example.com").status_code == 302
    assert confirm(client, path).status_code == 404  # single use

    assert deliver(mail_app) == 1
    changed = smtp_server.wait_for(3)[2]
    assert changed.rcpt_tos == ["old@example.com"]
    assert changed.subject == "Your email address was changed"
    assert "new@example.com" in changed.body("plain")
    assert audited(mail_app, "email.change_requested", "email.changed", "email.verified") == [
        ("email.change_requested", "new@example.com"),
        ("email.changed", "new@example.com"),
        ("email.verified", "new@example.com"),
    ]


def test_an_own_change_in_json_answers_202(mail_app, make_user):  # noqa: F811
    account = make_user(email="json-old@example.com")
    client = signed_in_client(mail_app, account)
    answer = ask(client, "json-new@example.com", json=True)
    assert answer.status_code == 202
    assert answer.get_json() == {"pending_email": "json-new@example.com"}
    row = post(
        client,
        f"/users/{account.id}/update/",
        {"email": "row-new@example.com"},
        json=True,
        token=token_on(client, "/home/"),
    )
    assert row.status_code == 202
    body = row.get_json()
    assert body["pending_email"] == "row-new@example.com"
    assert body["email"] == "json-old@example.com"
    assert email_of(mail_app, account.id) == "json-old@example.com"
    assert queued_kinds(mail_app) == ["email_change", "email_change_requested"] * 2


def test_an_own_change_from_the_users_page_says_it_is_pending(mail_app, make_user):  # noqa: F811
    account = make_user(email="row-old@example.com")
    client = signed_in_client(mail_app, account)
    answer = post(
        client,
        f"/users/{account.id}/update/",
        {"email": "row-new@example.com", "name": "Marko"},
        token=token_on(client, "/home/"),
    )
    assert answer.status_code == 302
    page = client.get("/home/").get_data(as_text=True)
    assert PENDING.format("row-new@example.com") in page
    with mail_app.app_context():
        user = db.session.get(User, account.id)
        assert (user.name, user.email) == ("Marko", "row-old@example.com")


def test_a_newer_request_voids_the_older_link(mail_app, make_user, smtp_server):  # noqa: F811
    account = make_user(email="first@example.com")
    client = signed_in_client(mail_app, account)
    ask(client, "second@example.com")
    deliver(mail_app)
    older = link_in(smtp_server.wait_for(2)[0], VERIFY)
    ask(client, "third@example.com")
    ask(client, "fourth@example.com")
    assert deliver(mail_app) == 3  # the link to third@ was replaced before it was sent
    later = smtp_server.wait_for(5)[2:]
    assert sorted(got.rcpt_tos[0] for got in later) == [
        "first@example.com",
        "first@example.com",
        "fourth@example.com",
    ]
    newer = [got for got in later if got.rcpt_tos == ["fourth@example.com"]]
    assert confirm(client, older).status_code == 404
    assert email_of(mail_app, account.id) == "first@example.com"
    assert confirm(client, link_in(newer[0], VERIFY)).status_code == 302
    assert email_of(mail_app, account.id) == "fourth@example.com"


def test_a_link_to_an_address_taken_meanwhile_fails_cleanly(mail_app, make_user, smtp_server):  # noqa: F811
    account = make_user(email="mine@example.com")
    client = signed_in_client(mail_app, account)
    ask(client, "wanted@example.com")
    deliver(mail_app)
    path = link_in(smtp_server.wait_for(2)[0], VERIFY)
    make_user(email="wanted@example.com")
    refused = confirm(client, path)
    assert refused.status_code == 409
    assert "Another account uses wanted@example.com now" in refused.get_data(as_text=True)
    assert email_of(mail_app, account.id) == "mine@example.com"
    with mail_app.app_context():
        assert db.session.scalars(select(LinkToken.used_at)).all() == [None]


def test_the_form_refuses_a_taken_or_the_same_address(mail_app, make_user):  # noqa: F811
    account = make_user(email="me@example.com")
    other = make_user(email="other@example.com")
    client = signed_in_client(mail_app, account)
    taken = ask(client, other.email.upper())
    assert taken.status_code == 400
    assert "An account with this email already exists." in taken.get_data(as_text=True)
    same = ask(client, "ME@example.com")
    assert same.status_code == 400
    assert "This is already your email address." in same.get_data(as_text=True)
    assert queued_kinds(mail_app) == []


def test_at_most_three_change_links_an_hour_to_an_address(mail_app, make_user):  # noqa: F811
    account = make_user(email="spam-from@example.com")
    client = signed_in_client(mail_app, account)
    for _ in range(3):
        assert ask(client, "victim@example.com").status_code == 302
    refused = ask(client, "victim@example.com")
    assert refused.status_code == 400
    assert "Too many links were mailed to this address" in refused.get_data(as_text=True)
    assert queued_kinds(mail_app).count("email_change") == 3


def test_an_administrator_changes_another_address_at_once(mail_app, make_user, smtp_server):  # noqa: F811
    admin = signed_in_client(mail_app, make_user("admin"))
    account = make_user(email="before@example.com", name="Ivan")
    with mail_app.app_context():
        db.session.execute(update(User).where(User.id == account.id).values(email_verified_at=None))
        db.session.commit()
    answer = post(
        admin,
        f"/users/{account.id}/update/",
        {"email": "after@example.com"},
        token=token_on(admin, "/home/"),
    )
    assert answer.status_code == 302
    assert email_of(mail_app, account.id) == "after@example.com"
    assert state_of(mail_app, account.id) == "unconfirmed"
    assert 'data-email-state="unconfirmed"' in admin.get("/home/").get_data(as_text=True)

    assert deliver(mail_app) == 2
    letters = {got.rcpt_tos[0]: got for got in smtp_server.wait_for(2)}
    assert letters["before@example.com"].subject == "Your email address was changed"
    assert "after@example.com" in letters["before@example.com"].body("plain")
    assert letters["after@example.com"].subject == "Confirm your email address"
    user = mail_app.test_client()
    assert login(user, "after@example.com").status_code == 302
    assert confirm(user, link_in(letters["after@example.com"], VERIFY)).status_code == 302
    assert state_of(mail_app, account.id) == "confirmed"
    assert audited(mail_app, "email.changed", "email.verification_sent") == [
        ("email.changed", "after@example.com"),
        ("email.verification_sent", "after@example.com"),
    ]


def test_an_administrator_own_change_waits_too(mail_app, make_user):  # noqa: F811
    account = make_user("admin", email="boss@example.com")
    admin = signed_in_client(mail_app, account)
    answer = post(
        admin,
        f"/users/{account.id}/update/",
        {"email": "boss-new@example.com"},
        json=True,
        token=token_on(admin, "/home/"),
    )
    assert answer.status_code == 202
    assert email_of(mail_app, account.id) == "boss@example.com"


def test_without_mail_an_own_change_applies_at_once(app, signed_in):
    app.config["MAIL_ENABLED"] = False
    client, account = signed_in()
    answer = ask(client, "direct@example.com")
    assert answer.status_code == 302
    assert email_of(app, account.id) == "direct@example.com"
    assert "Your email address is now direct@example.com." in client.get("/profile/").get_data(
        as_text=True
    )
    assert queued_kinds(app) == []

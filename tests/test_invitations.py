"""Invitations: an account created without a password, and its first password set from the link."""

import pytest
from conftest import CSRF_META, auth_cookie, login, post
from recovery_mail import deliver, link_in, mail_app  # noqa: F401
from smtp import smtp_server  # noqa: F401  (a fixture)
from sqlalchemy import select

from tz_app.extensions import db
from tz_app.models import AuditEvent, MailMessage, User
from tz_app.passwords import check_password

INVITE = "/invite/"
FIRST_PASSWORD = "my very own passphrase"
PERSON = {"name": "Ivanna", "last_name": "Franko", "role": "user"}


def token_on(client, path) -> str:
    return CSRF_META.search(client.get(path).get_data(as_text=True)).group(1)


def admin_client(app, make_user):
    client = app.test_client()
    assert login(client, make_user("admin").email).status_code == 302
    return client


def create(client, email, password="", **fields):
    data = {**PERSON, "email": email, "password": password, **fields}
    return post(client, "/users/new/", data, token=token_on(client, "/users/new/"))


def choose(client, path, password=FIRST_PASSWORD, confirm=None):
    data = {"new_password": password, "new_password_confirm": confirm or password}
    return post(client, path, data, token=token_on(client, path))


def user_by_email(app, email) -> User:
    with app.app_context():
        return db.session.scalar(select(User).where(User.email == email))


def kinds(app) -> list[str]:
    with app.app_context():
        return db.session.scalars(select(AuditEvent.kind).order_by(AuditEvent.id)).all()


def invitation_link(app, server, count=1) -> str:
    deliver(app)
    return link_in(server.wait_for(count)[count - 1], INVITE)


def test_an_invited_person_sets_a_first_password_and_is_signed_in(
    mail_app,  # noqa: F811
    make_user,
    smtp_server,  # noqa: F811
):
    admin = admin_client(mail_app, make_user)
    form = admin.get("/users/new/").get_data(as_text=True)
    assert "Leave empty to send an invitation by mail" in form
    created = create(admin, "Ivanna@Example.com")
    assert created.status_code == 302 and created.headers["Location"] == "/home/"
    user = user_by_email(mail_app, "ivanna@example.com")
    assert user.password_hash.startswith("!") and len(user.password_hash) > 20
    assert user.email_state == "invited" and user.email_verified_at is None
    page = admin.get("/home/").get_data(as_text=True)
    assert "Created Ivanna Franko (ivanna@example.com) and sent an invitation by mail." in page

    stranger = mail_app.test_client()
    assert login(stranger, "ivanna@example.com", "!").status_code == 200  # no password yet
    assert login(stranger, "ivanna@example.com", user.password_hash).status_code == 200

    path = invitation_link(mail_app, smtp_server)
    [got] = smtp_server.received
    assert got.rcpt_tos == ["ivanna@example.com"]
    assert got.subject == "Your account at localhost:5000"
    assert "Ivanna" in got.body("plain") and "Admin1 Tester" in got.body("plain")
    invited = mail_app.test_client()
    for _ in range(2):
        page = invited.get(path)
        assert page.status_code == 200 and 'name="new_password"' in page.get_data(True)
        assert page.headers["Referrer-Policy"] == "no-referrer"
    done = choose(invited, path)
    assert done.status_code == 302 and done.headers["Location"] == "/home/"
    assert auth_cookie(invited) is not None
    home = invited.get("/home/")
    assert home.status_code == 200 and "Franko" in home.get_data(as_text=True)
    user = user_by_email(mail_app, "ivanna@example.com")
    assert check_password(user.password_hash, FIRST_PASSWORD)
    assert user.email_state == "confirmed" and user.email_verified_at is not None
    assert choose(mail_app.test_client(), path).status_code == 404
    assert login(mail_app.test_client(), "ivanna@example.com", FIRST_PASSWORD).status_code == 302
    assert [k for k in kinds(mail_app) if k.startswith("user.")] == [
        "user.created",
        "user.invited",
        "user.invitation_accepted",
    ]
    assert deliver(mail_app) == 0  # a first password is no change to be warned of


def test_with_a_password_no_mail_is_sent_and_the_form_says_so(mail_app, make_user):  # noqa: F811
    admin = admin_client(mail_app, make_user)
    form = admin.get("/users/new/").get_data(as_text=True)
    assert "With a password, no mail is sent." in form
    created = create(admin, "direct@example.com", "an initial passphrase")
    assert created.status_code == 302
    user = user_by_email(mail_app, "direct@example.com")
    assert user.email_state == "unconfirmed"
    assert check_password(user.password_hash, "an initial passphrase")
    with mail_app.app_context():
        assert db.session.scalars(select(MailMessage)).all() == []
    assert "user.invited" not in kinds(mail_app)


def test_json_creation_without_a_password_invites(mail_app, make_user):  # noqa: F811
    admin = admin_client(mail_app, make_user)
    data = {**PERSON, "email": "json@example.com", "password": ""}
    created = post(admin, "/users/new/", data, json=True, token=token_on(admin, "/users/new/"))
    assert created.status_code == 201 and created.get_json()["email"] == "json@example.com"
    with mail_app.app_context():
        [queued] = db.session.scalars(select(MailMessage)).all()
        assert (queued.kind, queued.user_id) == ("invite", created.get_json()["id"])


def test_the_password_may_be_left_empty_only_while_mail_is_on(app, make_user):
    admin = admin_client(app, make_user)
    assert create(admin, "mail-on@example.com").status_code == 302
    assert user_by_email(app, "mail-on@example.com").email_state == "invited"
    app.config["MAIL_ENABLED"] = False
    form = admin.get("/users/new/").get_data(as_text=True)
    assert "Leave empty to send an invitation" not in form
    refused = create(admin, "mail-off@example.com")
    assert refused.status_code == 400
    assert "Choose an initial password." in refused.get_data(as_text=True)
    assert user_by_email(app, "mail-off@example.com") is None


def test_the_invitation_can_be_sent_again_and_the_older_link_dies(
    mail_app,  # noqa: F811
    make_user,
    smtp_server,  # noqa: F811
):
    admin = admin_client(mail_app, make_user)
    create(admin, "again@example.com")
    user_id = user_by_email(mail_app, "again@example.com").id
    older = invitation_link(mail_app, smtp_server)
    again = post(admin, f"/users/{user_id}/invite/", token=token_on(admin, "/home/"))
    assert again.status_code == 302 and again.headers["Location"] == "/home/"
    assert "Sent a new invitation to again@example.com." in admin.get("/home/").get_data(True)
    newer = invitation_link(mail_app, smtp_server, 2)
    assert smtp_server.received[1].rcpt_tos == ["again@example.com"]
    assert older != newer
    assert mail_app.test_client().get(older).status_code == 404
    assert choose(mail_app.test_client(), newer).status_code == 302
    assert kinds(mail_app).count("user.invited") == 2

    accepted = post(admin, f"/users/{user_id}/invite/", token=token_on(admin, "/home/"))
    assert accepted.status_code == 409
    as_json = post(admin, f"/users/{user_id}/invite/", json=True, token=token_on(admin, "/home/"))
    assert as_json.status_code == 409
    assert deliver(mail_app) == 0


def test_sending_again_answers_json(mail_app, make_user):  # noqa: F811
    admin = admin_client(mail_app, make_user)
    create(admin, "json-again@example.com")
    user_id = user_by_email(mail_app, "json-again@example.com").id
    answer = post(admin, f"/users/{user_id}/invite/", json=True, token=token_on(admin, "/home/"))
    assert answer.status_code == 200 and answer.get_json() == {"invited": user_id}


@pytest.mark.parametrize(
    ("who", "status"), [("manager", 403), ("user", 403), ("anonymous", 401), ("admin", 302)]
)
def test_who_may_send_an_invitation_again(mail_app, make_user, who, status):  # noqa: F811
    admin = admin_client(mail_app, make_user)
    create(admin, f"{who}-target@example.com")
    user_id = user_by_email(mail_app, f"{who}-target@example.com").id
    client = mail_app.test_client()
    if who != "anonymous":
        login(client, make_user(who).email)
    answer = post(client, f"/users/{user_id}/invite/", json=who == "anonymous")
    assert answer.status_code == status
    with mail_app.app_context():
        queued = len(db.session.scalars(select(MailMessage)).all())
    assert queued == (2 if who == "admin" else 1)


def test_sending_again_to_a_missing_or_deleted_account_is_404(mail_app, make_user):  # noqa: F811
    admin = admin_client(mail_app, make_user)
    create(admin, "deleted-later@example.com")
    gone = user_by_email(mail_app, "deleted-later@example.com")
    token = token_on(admin, "/home/")
    assert post(admin, f"/users/{gone.id}/invite/", token=token).status_code == 302
    assert post(admin, f"/users/{gone.id}/delete/", token=token).status_code == 302
    for user_id in (gone.id, 999999):
        answer = post(admin, f"/users/{user_id}/invite/", token=token_on(admin, "/home/"))
        assert answer.status_code == 404


def test_a_password_set_by_an_administrator_voids_the_invitation(
    mail_app,  # noqa: F811
    make_user,
    smtp_server,  # noqa: F811
):
    admin = admin_client(mail_app, make_user)
    create(admin, "overtaken@example.com")
    user_id = user_by_email(mail_app, "overtaken@example.com").id
    path = invitation_link(mail_app, smtp_server)
    saved = post(
        admin,
        f"/users/{user_id}/update/",
        {"password": "set by the admin"},
        token=token_on(admin, "/home/"),
    )
    assert saved.status_code == 302
    assert mail_app.test_client().get(path).status_code == 404
    assert choose(mail_app.test_client(), path).status_code == 404
    assert check_password(
        user_by_email(mail_app, "overtaken@example.com").password_hash, "set by the admin"
    )


def test_an_invitation_for_a_deleted_account_is_not_sent(mail_app, make_user, smtp_server):  # noqa: F811
    admin = admin_client(mail_app, make_user)
    create(admin, "deleted-early@example.com")
    user_id = user_by_email(mail_app, "deleted-early@example.com").id
    assert (
        post(admin, f"/users/{user_id}/delete/", token=token_on(admin, "/home/")).status_code == 302
    )
    assert deliver(mail_app) == 0
    assert smtp_server.count() == 0


def test_the_first_password_follows_the_policy(mail_app, make_user, smtp_server):  # noqa: F811
    admin = admin_client(mail_app, make_user)
    create(admin, "policy@example.com")
    path = invitation_link(mail_app, smtp_server)
    client = mail_app.test_client()
    assert choose(client, path, "short").status_code == 400
    assert choose(client, path, "policy@example.com").status_code == 400
    assert choose(client, path, FIRST_PASSWORD, "not the same at all").status_code == 400
    assert auth_cookie(client) is None
    assert choose(client, path).status_code == 302

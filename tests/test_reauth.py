"""Re-authentication: sensitive actions want a sign-in or a confirmation within REAUTH_WINDOW."""

import time

import pytest
from conftest import PASSWORD, login, make_test_app, post
from mfa_support import age_sessions, code, enable_totp, page_token
from sqlalchemy import select

from tz_app.extensions import db
from tz_app.models import AuditEvent, Role, User

LATE = 3600  # seconds since the sign-in: past the default 15-minute window
NEW_PASSWORD = "a different passphrase"


def password_of(app, user_id):
    with app.app_context():
        return db.session.get(User, user_id).password_hash


def confirm(client, **fields):
    page = client.get("/reauth/")
    return post(client, "/reauth/", fields, token=page_token(page))


# Each sensitive request, as (method path, form) made by the signed-in account.
def own_row_password(account):
    return f"/users/{account.id}/update/", {"password": NEW_PASSWORD}


def own_row_email(account):
    return f"/users/{account.id}/update/", {"email": "moved-" + account.email}


def profile_password(account):
    return "/profile/password/", {
        "current_password": PASSWORD,
        "new_password": NEW_PASSWORD,
        "new_password_confirm": NEW_PASSWORD,
    }


def profile_email(account):
    return "/profile/email/", {"email": "moved-" + account.email}


@pytest.mark.parametrize(
    "request_for", [own_row_password, own_row_email, profile_password, profile_email]
)
def test_a_stolen_old_session_cannot_change_how_its_owner_signs_in(app, signed_in, request_for):
    client, account = signed_in("user")
    before = password_of(app, account.id)
    age_sessions(app, account.id, LATE)
    path, data = request_for(account)
    as_json = post(client, path, data, json=True)
    assert as_json.status_code == 401
    assert as_json.get_json() == {"error": "reauth_required"}
    as_form = post(client, path, data, headers={"Referer": "http://localhost/profile/"})
    assert as_form.status_code == 401
    assert 'action="/reauth/"' in as_form.get_data(as_text=True)
    assert 'name="next" type="hidden" value="/profile/"' in as_form.get_data(as_text=True)
    with app.app_context():
        user = db.session.get(User, account.id)
        assert user.password_hash == before
        assert user.email == account.email
    # Confirmed with the password, the same request goes through.
    assert confirm(client, password=PASSWORD, next="/profile/").headers["Location"] == "/profile/"
    assert post(client, path, data).status_code in (302, 202)


def test_other_fields_of_ones_own_row_need_no_confirmation(app, signed_in):
    client, account = signed_in("user")
    age_sessions(app, account.id, LATE)
    done = post(client, f"/users/{account.id}/update/", {"name": "Renamed"}, json=True)
    assert done.status_code == 200
    assert done.get_json()["name"] == "Renamed"


def test_a_page_get_outside_the_window_goes_to_reauth_and_back(app, signed_in):
    client, account = signed_in("user")
    age_sessions(app, account.id, LATE)
    page = client.get("/mfa/totp/")
    assert page.status_code == 302
    assert page.headers["Location"] == "/reauth/?next=/mfa/totp/"
    form = client.get(page.headers["Location"])
    assert form.status_code == 200
    wrong = confirm(client, password="not the password", next="/mfa/totp/")
    assert wrong.status_code == 400
    assert client.get("/mfa/totp/").status_code == 302
    right = confirm(client, password=PASSWORD, next="/mfa/totp/")
    assert right.headers["Location"] == "/mfa/totp/"
    assert client.get("/mfa/totp/").status_code == 200
    with app.app_context():
        events = db.session.scalars(
            select(AuditEvent.kind).where(AuditEvent.target_id == account.id)
        ).all()
    assert "auth.reauth" in events and "auth.password_check_failed" in events


def test_a_code_confirms_too_and_is_used_up(app, signed_in):
    client, account = signed_in("user")
    secret, codes = enable_totp(client)
    age_sessions(app, account.id, LATE)
    assert post(client, "/mfa/totp/disable/", {}).status_code == 401
    answer = code(secret, +1)
    assert confirm(client, code=answer).status_code == 302
    age_sessions(app, account.id, LATE)
    # The same code a second time confirms nothing.
    assert confirm(client, code=answer).status_code == 400
    assert confirm(client, code=codes[0]).status_code == 302
    assert post(client, "/mfa/totp/disable/", {}).status_code == 302


def test_wrong_confirmations_count_toward_the_sign_in_limit(app, signed_in):
    client, account = signed_in("user")
    age_sessions(app, account.id, LATE)
    statuses = [
        confirm(client, password="wrong guess").status_code
        for _ in range(app.config["LOGIN_MAX_FAILURES"])
    ]
    assert statuses[-1] == 429
    locked = confirm(client, password=PASSWORD)
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) > 0


def test_an_empty_confirmation_is_a_form_error(app, signed_in):
    client, _account = signed_in("user")
    answer = confirm(client, password="", code="")
    assert answer.status_code == 400
    assert "Enter your password or a code." in answer.get_data(as_text=True)


def test_next_is_followed_only_to_a_local_path(app, signed_in):
    client, _account = signed_in("user")
    answer = confirm(client, password=PASSWORD, next="//evil.example/")
    assert answer.headers["Location"] == "/home/"


def test_administrators_confirm_before_changing_rules_roles_and_others_factors(
    app, signed_in, make_user
):
    admin, account = signed_in("admin")
    other = make_user("user")
    with app.app_context():
        user_role = db.session.scalar(select(Role).where(Role.name == "user"))
        role_id = user_role.id
    age_sessions(app, account.id, LATE)
    checks = [
        ("/admin/rules/", {"user:users:read": "on"}),
        ("/admin/roles/", {"name": "auditors"}),
        (f"/admin/roles/{role_id}/", {"mfa_required": "on"}),
        (f"/users/{other.id}/mfa/reset/", {}),
    ]
    for path, data in checks:
        answer = post(admin, path, data, json=True)
        assert answer.status_code == 401, path
        assert answer.get_json() == {"error": "reauth_required"}
    with app.app_context():
        assert not db.session.get(Role, role_id).mfa_required
        assert db.session.scalar(select(Role).where(Role.name == "auditors")) is None
    confirm(admin, password=PASSWORD)
    assert post(admin, f"/admin/roles/{role_id}/", {"mfa_required": "on"}).status_code == 302
    with app.app_context():
        assert db.session.get(Role, role_id).mfa_required


def test_a_short_window_expires_on_its_own(app, make_user):
    """An app with REAUTH_WINDOW=1: allowed right after signing in, refused a moment later."""
    short = make_test_app(app.config["SQLALCHEMY_DATABASE_URI"], REAUTH_WINDOW=1)
    try:
        account = make_user("user")
        client = short.test_client()
        login(client, account.email, account.password)
        first = post(client, "/profile/email/", {"email": "x-" + account.email}, json=True)
        assert first.status_code == 202
        time.sleep(1.5)
        late = post(client, "/profile/email/", {"email": "y-" + account.email}, json=True)
        assert late.status_code == 401
        assert late.get_json() == {"error": "reauth_required"}
    finally:
        with short.app_context():
            db.session.remove()
            db.engine.dispose()


def test_a_stolen_admin_session_cannot_hand_out_roles_or_take_other_accounts(
    app, signed_in, make_user
):
    admin, account = signed_in("admin")
    other = make_user("user")
    age_sessions(app, account.id, LATE)
    for data in (
        {"role": "admin"},
        {"password": NEW_PASSWORD},
        {"email": "taken-over@example.com"},
    ):
        answer = post(admin, f"/users/{other.id}/update/", data, json=True)
        assert answer.status_code == 401, data
        assert answer.get_json() == {"error": "reauth_required"}
    new_admin = {
        "name": "Mallory",
        "last_name": "Intruder",
        "email": "mallory@example.com",
        "password": "a password mallory knows",
        "role": "admin",
    }
    assert post(admin, "/users/new/", new_admin, json=True).status_code == 401
    with app.app_context():
        user = db.session.get(User, other.id)
        assert user.role.name == "user" and user.email == other.email
        assert db.session.scalar(select(User).where(User.email == "mallory@example.com")) is None
    # Names and plain accounts need no confirmation.
    assert (
        post(admin, f"/users/{other.id}/update/", {"name": "Renamed"}, json=True).status_code == 200
    )
    plain = {**new_admin, "email": "plain@example.com", "role": "user"}
    assert post(admin, "/users/new/", plain, json=True).status_code == 201
    confirm(admin, password=PASSWORD)
    assert (
        post(admin, f"/users/{other.id}/update/", {"role": "admin"}, json=True).status_code == 200
    )

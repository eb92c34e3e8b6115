"""A second factor per role, an administrator's reset, `flask mfa reset` and key rotation."""

import pytest
from conftest import PASSWORD, auth_cookie, login, make_test_app, post
from mfa_support import code, enable_totp, password_step, second_step
from recovery_mail import mail_app  # noqa: F401  (a fixture)
from smtp import smtp_server  # noqa: F401  (a fixture)
from sqlalchemy import select, update
from test_password_reset import choose, forgot, reset_link

from tz_app.extensions import db
from tz_app.mfa import crypto
from tz_app.models import AuditEvent, LinkToken, MailMessage, Role, Session, TotpSecret, User


def require_for(app, role_name, required=True):
    with app.app_context():
        db.session.execute(update(Role).where(Role.name == role_name).values(mfa_required=required))
        db.session.commit()


def test_a_role_that_requires_a_factor_leads_its_holders_to_set_one_up(app, signed_in):
    client, account = signed_in("manager")
    require_for(app, "manager")
    for path in ("/home/", "/profile/", "/sessions/", f"/users/{account.id}/edit/"):
        page = client.get(path)
        assert page.status_code == 302, path
        assert page.headers["Location"] == "/mfa/"
    as_json = client.get("/home/", headers={"Accept": "application/json"})
    assert as_json.status_code == 403
    assert as_json.get_json() == {"error": "mfa_setup_required"}
    # A form post goes to the set-up too, and changes nothing.
    renamed = post(client, f"/users/{account.id}/update/", {"name": "Sneaky"}, token=_token(client))
    assert renamed.status_code == 302 and renamed.headers["Location"] == "/mfa/"
    with app.app_context():
        assert db.session.get(User, account.id).name != "Sneaky"
    setup = client.get("/mfa/")
    assert setup.status_code == 200
    assert "data-mfa-setup-required" in setup.get_data(as_text=True)
    assert client.get("/reauth/").status_code == 200
    enable_totp(client)
    assert client.get("/home/").status_code == 200
    # Others of roles without the requirement are not concerned.
    user_client, _user = signed_in("user")
    assert user_client.get("/home/").status_code == 200
    # Signing out stays possible for someone without a factor.
    stuck, _stuck_account = signed_in("manager")
    assert post(stuck, "/logout/", {}, token=_token(stuck)).headers["Location"] == "/login/"


def _token(client):
    from mfa_support import page_token

    return page_token(client.get("/mfa/"))


def test_the_roles_page_sets_the_requirement_and_audits_it(app, signed_in):
    admin, _account = signed_in("admin")
    with app.app_context():
        role_id = db.session.scalar(select(Role.id).where(Role.name == "user"))
    page = admin.get("/admin/roles/")
    assert f'action="/admin/roles/{role_id}/"' in page.get_data(as_text=True)
    assert post(admin, f"/admin/roles/{role_id}/", {"mfa_required": "on"}).status_code == 302
    with app.app_context():
        assert db.session.get(Role, role_id).mfa_required
    assert post(admin, f"/admin/roles/{role_id}/", {"mfa_required": "yes"}).status_code == 400
    assert post(admin, f"/admin/roles/{role_id}/", {}).status_code == 302
    with app.app_context():
        assert not db.session.get(Role, role_id).mfa_required
        changes = db.session.scalars(
            select(AuditEvent.detail).where(AuditEvent.kind == "role.mfa_required")
        ).all()
    assert [c["required"] for c in changes] == [True, False]
    assert post(admin, "/admin/roles/999999/", {"mfa_required": "on"}).status_code == 404
    # Only with the right to update roles.
    manager, _m = signed_in("manager")
    assert post(manager, f"/admin/roles/{role_id}/", {"mfa_required": "on"}).status_code == 403


def test_an_administrator_removes_a_lost_phone(app, signed_in):
    victim_client, victim = signed_in("user")
    secret, _codes = enable_totp(victim_client)
    admin, admin_account = signed_in("admin")
    edit = admin.get(f"/users/{victim.id}/edit/")
    assert f'action="/users/{victim.id}/mfa/reset/"' in edit.get_data(as_text=True)
    done = post(admin, f"/users/{victim.id}/mfa/reset/", {})
    assert done.status_code == 302
    with app.app_context():
        user = db.session.get(User, victim.id)
        assert not user.mfa_enabled
        assert db.session.get(TotpSecret, victim.id) is None
        assert not db.session.scalars(
            select(Session).where(Session.user_id == victim.id, Session.is_active)
        ).all()
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.kind == "mfa.reset"))
        assert event.actor_id == admin_account.id and event.target_id == victim.id
        assert event.detail["removed"] == ["totp", "recovery"]
        notices = db.session.scalars(
            select(MailMessage).where(
                MailMessage.user_id == victim.id, MailMessage.kind == "security_notice"
            )
        ).all()
        assert [n.params["what"] for n in notices].count("second_factors") >= 2
    # Signed out, and the password alone signs in again.
    assert victim_client.get("/home/").status_code == 302
    again = app.test_client()
    assert login(again, victim.email, victim.password).headers["Location"] == "/home/"
    # Without update_all on users, no reset.
    manager, _m = signed_in("manager")
    assert post(manager, f"/users/{victim.id}/mfa/reset/", {}).status_code == 403
    assert post(admin, "/users/999999/mfa/reset/", {}).status_code == 404
    assert secret


def test_the_cli_resets_a_locked_out_administrator(app, signed_in, runner):
    client, account = signed_in("admin")
    secret, _codes = enable_totp(client)
    result = runner.invoke(args=["mfa", "reset", "--email", account.email.upper()])
    assert result.exit_code == 0, result.output
    assert "Removed totp, recovery" in result.output
    browser = app.test_client()
    assert login(browser, account.email, PASSWORD).headers["Location"] == "/home/"
    assert auth_cookie(browser) is not None
    missing = runner.invoke(args=["mfa", "reset", "--email", "nobody@example.com"])
    assert missing.exit_code != 0 and "No active account" in missing.output
    with app.app_context():
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.kind == "mfa.reset"))
        assert event.detail["via"] == "cli" and event.actor_id is None
    assert secret


def test_a_password_reset_link_never_skips_the_second_factor(
    app,
    signed_in,
    mail_app,  # noqa: F811
    smtp_server,  # noqa: F811
):
    client, account = signed_in("user")
    secret, _codes = enable_totp(client)
    with app.app_context():
        # The factor change voided any reset link issued before it.
        assert not db.session.scalars(
            select(LinkToken).where(
                LinkToken.user_id == account.id,
                LinkToken.purpose == "password_reset",
                LinkToken.used_at.is_(None),
            )
        ).all()
    browser = mail_app.test_client()
    forgot(browser, account.email)
    link = reset_link(mail_app, smtp_server)
    assert choose(browser, link).headers["Location"].startswith("/login/")
    assert auth_cookie(browser) is None
    step = password_step(browser, account.email, "a brand new passphrase")
    assert step.headers["Location"].endswith("/login/mfa/")
    assert auth_cookie(browser) is None
    assert second_step(browser, code(secret, +1)).status_code == 302
    assert auth_cookie(browser) is not None


def test_secrets_are_encrypted_and_keys_rotate(app, signed_in, runner, database_url):
    client, account = signed_in("user")
    secret, _codes = enable_totp(client)
    with app.app_context():
        stored = db.session.get(TotpSecret, account.id).secret
    assert secret not in stored
    new_key = crypto.Fernet.generate_key().decode()
    rotated = make_test_app(database_url, MFA_ENCRYPTION_KEYS=new_key)
    try:
        result = rotated.test_cli_runner().invoke(args=["mfa", "rotate-key"])
        assert result.exit_code == 0, result.output
        assert "Re-encrypted 1 secret" in result.output
        with rotated.app_context():
            restored = db.session.get(TotpSecret, account.id).secret
            assert restored != stored
            assert crypto.Fernet(new_key.encode()).decrypt(restored.encode()).decode() == secret
    finally:
        with rotated.app_context():
            db.session.remove()
            db.engine.dispose()
    # An app with another SECRET_KEY and no key of ours reads nothing, and says so.
    stranger = make_test_app(database_url, SECRET_KEY="another key entirely")
    try:
        result = stranger.test_cli_runner().invoke(args=["mfa", "rotate-key"])
        assert result.exit_code != 0 and "open with none of the configured keys" in result.output
    finally:
        with stranger.app_context():
            db.session.remove()
            db.engine.dispose()


def test_a_malformed_key_stops_the_app_at_start(database_url):
    from tz_app.config import ConfigError

    with pytest.raises(ConfigError, match="MFA_ENCRYPTION_KEYS"):
        make_test_app(database_url, MFA_ENCRYPTION_KEYS="not-a-key")


def test_without_a_factor_an_administrator_reaches_no_other_mfa_action(app, signed_in):
    victim_client, victim = signed_in("user")
    enable_totp(victim_client)
    admin, _account = signed_in("admin")
    require_for(app, "admin")
    answer = post(admin, f"/users/{victim.id}/mfa/reset/", {}, token=_token(admin))
    assert answer.status_code == 302 and answer.headers["Location"] == "/mfa/"
    with app.app_context():
        assert db.session.get(User, victim.id).mfa_enabled


def test_a_secret_no_key_opens_refuses_codes_instead_of_failing(app, signed_in, database_url):
    client, account = signed_in("user")
    secret, _codes = enable_totp(client)
    moved = make_test_app(database_url, SECRET_KEY="a changed secret key")
    try:
        browser = moved.test_client()
        step = password_step(browser, account.email, PASSWORD)
        assert step.headers["Location"].endswith("/login/mfa/")
        answer = second_step(browser, code(secret, +1))
        assert answer.status_code == 200
        assert "not right" in answer.get_data(as_text=True)
        assert auth_cookie(browser) is None
    finally:
        with moved.app_context():
            db.session.remove()
            db.engine.dispose()

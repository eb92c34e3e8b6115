"""The authenticator app and recovery codes: set-up, the sign-in step, replay, throttle, reset."""

import pytest
from conftest import auth_cookie, login, post
from mfa_support import (
    RECOVERY,
    SECRET,
    code,
    enable_totp,
    forget_used_codes,
    page_token,
    password_step,
    second_step,
)
from sqlalchemy import select, update

from tz_app.extensions import db
from tz_app.models import AuditEvent, LinkToken, RecoveryCode, Session, TotpSecret, User


def kinds(app, user_id):
    with app.app_context():
        return [
            e.kind
            for e in db.session.scalars(
                select(AuditEvent).where(AuditEvent.target_id == user_id).order_by(AuditEvent.id)
            )
        ]


@pytest.fixture
def with_app(signed_in):
    """A signed-in user who just turned the app on: (client, account, secret, codes)."""
    client, account = signed_in("user")
    secret, codes = enable_totp(client)
    return client, account, secret, codes


def test_set_up_shows_a_qr_code_and_the_secret_and_needs_a_code(app, signed_in):
    client, account = signed_in("user")
    page = client.get("/mfa/totp/")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "<svg" in html and "<script" not in html.split("<main", 1)[1].split("</main>")[0]
    secret = SECRET.search(html).group(1)
    assert len(secret) * 5 >= 160
    # Reloading shows the same secret: the one scanned stays the one to confirm.
    assert SECRET.search(client.get("/mfa/totp/").get_data(as_text=True)).group(1) == secret
    wrong = post(client, "/mfa/totp/", {"code": "000000"}, token=page_token(page))
    assert wrong.status_code == 400
    assert "not right" in wrong.get_data(as_text=True)
    with app.app_context():
        assert not db.session.get(User, account.id).mfa_enabled
    right = post(client, "/mfa/totp/", {"code": code(secret)}, token=page_token(page))
    assert right.status_code == 200
    assert right.get_data(as_text=True).count("data-recovery-code") == 10
    with app.app_context():
        user = db.session.get(User, account.id)
        assert user.mfa_enabled
        stored = db.session.get(TotpSecret, account.id)
        # Not readable from the database alone.
        assert secret not in stored.secret and stored.confirmed_at is not None
        assert (
            db.session.scalar(
                select(db.func.count())
                .select_from(RecoveryCode)
                .where(RecoveryCode.user_id == account.id)
            )
            == 10
        )
    assert "mfa.totp_enabled" in kinds(app, account.id)
    # The page now says it is on, and a second set-up is refused.
    assert 'data-totp-state="on"' in client.get("/mfa/").get_data(as_text=True)
    assert client.get("/mfa/totp/").status_code == 302


def test_a_right_password_alone_sets_no_session_cookie(app, with_app):
    _client, account, secret, _codes = with_app
    browser = app.test_client()
    first = password_step(browser, account.email, account.password, next="/profile/")
    assert first.status_code == 302
    assert first.headers["Location"].endswith("/login/mfa/")
    assert auth_cookie(browser) is None
    assert browser.get_cookie("mfa_pending", path="/login/") is not None
    # Nothing behind the sign-in opens yet.
    assert browser.get("/home/").status_code == 302
    assert browser.get("/home/").headers["Location"].startswith("/login/")
    done = second_step(browser, code(secret, +1))
    assert done.status_code == 302
    assert done.headers["Location"] == "/profile/"
    assert auth_cookie(browser) is not None
    assert browser.get("/home/").status_code == 200
    with app.app_context():
        methods = db.session.scalars(
            select(Session.auth_method).where(Session.user_id == account.id, Session.is_active)
        ).all()
    assert "password+totp" in methods
    sessions = browser.get("/sessions/").get_data(as_text=True)
    assert 'data-auth-method="password+totp">Password and authenticator app<' in sessions


def test_a_wrong_code_and_a_replayed_code_are_refused(app, with_app):
    _client, account, secret, _codes = with_app
    browser = app.test_client()
    password_step(browser, account.email, account.password)
    wrong = second_step(browser, "123456" if code(secret, +1) != "123456" else "654321")
    assert "not right" in wrong.get_data(as_text=True)
    assert auth_cookie(browser) is None
    fresh = code(secret, +1)
    assert second_step(browser, fresh).status_code == 302
    assert auth_cookie(browser) is not None
    # The same code again, from another browser that knows the password.
    thief = app.test_client()
    password_step(thief, account.email, account.password)
    replay = second_step(thief, fresh)
    assert replay.status_code == 200
    assert "not right" in replay.get_data(as_text=True)
    assert auth_cookie(thief) is None
    # An older step than the last one used is no better.
    assert "not right" in second_step(thief, code(secret)).get_data(as_text=True)
    assert auth_cookie(thief) is None
    assert kinds(app, account.id).count("mfa.failed") >= 3


def test_a_recovery_code_works_once(app, with_app):
    _client, account, _secret, codes = with_app
    browser = app.test_client()
    password_step(browser, account.email, account.password)
    done = second_step(browser, codes[0].lower().replace("-", " "))
    assert done.status_code == 302
    assert auth_cookie(browser) is not None
    with app.app_context():
        methods = db.session.scalars(
            select(Session.auth_method).where(Session.user_id == account.id)
        ).all()
    assert "password+recovery" in methods
    assert "9 codes are left" in browser.get("/home/").get_data(as_text=True)
    again = app.test_client()
    password_step(again, account.email, account.password)
    assert "not right" in second_step(again, codes[0]).get_data(as_text=True)
    assert auth_cookie(again) is None
    page = again.get("/login/mfa/")
    assert page.status_code == 200
    assert 'data-recovery-remaining="9"' in _client.get("/mfa/").get_data(as_text=True)


def test_wrong_codes_count_toward_the_sign_in_limit(app, with_app):
    _client, account, secret, _codes = with_app
    browser = app.test_client()
    password_step(browser, account.email, account.password)
    answers = []
    for _ in range(app.config["LOGIN_MAX_FAILURES"]):
        answers.append(second_step(browser, "000000").status_code)
    assert answers[-1] == 429
    locked = second_step(browser, code(secret, +1))
    assert locked.status_code == 429
    assert int(locked.headers["Retry-After"]) > 0
    assert auth_cookie(browser) is None
    # Knowing the password buys no new guesses: the password step is locked too.
    again = app.test_client()
    assert login(again, account.email, account.password).status_code == 429


def test_the_pending_sign_in_is_held_by_one_browser_for_a_few_minutes(app, with_app):
    _client, account, secret, _codes = with_app
    browser = app.test_client()
    password_step(browser, account.email, account.password)
    # Another browser without the cookie has nothing to complete.
    other = app.test_client()
    page = other.get("/login/mfa/")
    assert page.status_code == 302 and page.headers["Location"].startswith("/login/")
    # Expired.
    with app.app_context():
        db.session.execute(
            update(LinkToken)
            .where(LinkToken.user_id == account.id, LinkToken.purpose == "mfa_sign_in")
            .values(expires_at=LinkToken.created_at)
        )
        db.session.commit()
    late = second_step(browser, code(secret, +1))
    assert late.status_code == 302 and late.headers["Location"].startswith("/login/")
    assert auth_cookie(browser) is None
    assert app.config["MFA_SIGN_IN_TTL"] <= 300


def test_a_password_change_voids_a_pending_sign_in(app, with_app):
    client, account, secret, _codes = with_app
    browser = app.test_client()
    password_step(browser, account.email, account.password)
    changed = post(
        client,
        "/profile/password/",
        {
            "current_password": account.password,
            "new_password": "another long passphrase",
            "new_password_confirm": "another long passphrase",
        },
    )
    assert changed.status_code == 302
    late = second_step(browser, code(secret, +1))
    assert late.status_code == 302 and late.headers["Location"].startswith("/login/")
    assert auth_cookie(browser) is None


def test_turning_the_app_off_lets_the_password_alone_sign_in(app, with_app):
    client, account, _secret, _codes = with_app
    assert post(client, "/mfa/totp/disable/", {}).status_code == 302
    with app.app_context():
        user = db.session.get(User, account.id)
        assert not user.mfa_enabled
        assert db.session.get(TotpSecret, account.id) is None
        # Codes that stand in for no factor are gone with it.
        assert not db.session.scalars(
            select(RecoveryCode).where(RecoveryCode.user_id == account.id)
        ).all()
    browser = app.test_client()
    assert login(browser, account.email, account.password).headers["Location"] == "/home/"
    assert auth_cookie(browser) is not None
    assert "mfa.totp_disabled" in kinds(app, account.id)
    # Recovery codes stand in for a factor: none without one.
    refused = post(client, "/mfa/recovery-codes/", {})
    assert refused.status_code == 409
    assert "Set up an authenticator app or a passkey first." in refused.get_data(as_text=True)


def test_new_recovery_codes_replace_the_old_ones(app, with_app):
    client, account, _secret, codes = with_app
    page = post(client, "/mfa/recovery-codes/", {})
    assert page.status_code == 200
    fresh = RECOVERY.findall(page.get_data(as_text=True))
    assert len(fresh) == 10 and not set(fresh) & set(codes)
    browser = app.test_client()
    password_step(browser, account.email, account.password)
    assert "not right" in second_step(browser, codes[1]).get_data(as_text=True)
    assert second_step(browser, fresh[0]).status_code == 302
    assert "mfa.recovery_codes_generated" in kinds(app, account.id)


def test_codes_are_accepted_one_step_either_side_only(app, with_app):
    _client, account, secret, _codes = with_app
    for steps, accepted in ((-3, False), (+3, False), (+1, True)):
        forget_used_codes(app, account.id)
        browser = app.test_client()
        password_step(browser, account.email, account.password)
        second_step(browser, code(secret, steps))
        assert (auth_cookie(browser) is not None) is accepted, steps


def test_codes_in_other_digits_are_read_or_refused_never_a_500(app, with_app):
    _client, account, secret, _codes = with_app
    browser = app.test_client()
    password_step(browser, account.email, account.password)
    arabic = second_step(browser, "١٢٣٤٥٦")
    assert arabic.status_code == 200 and "not right" in arabic.get_data(as_text=True)
    assert second_step(browser, "1234567").status_code == 200
    # Full-width digits are the same digits.
    wide = "".join(chr(ord(d) + 0xFEE0) for d in code(secret, +1))
    assert second_step(browser, wide).status_code == 302
    assert auth_cookie(browser) is not None

"""Login throttling: per email, in the database, shared by every app instance."""

import pytest
from conftest import PASSWORD, csrf_token, login, make_test_app, post

from tz_app.extensions import db
from tz_app.models import AuditEvent


def fail(client, email, times=1):
    for _ in range(times):
        response = login(client, email, "not the password")
    return response


def test_fifth_failure_locks_with_retry_after(client, make_user):
    account = make_user("user")
    for _ in range(4):
        assert fail(client, account.email).status_code == 200
    response = fail(client, account.email)
    assert response.status_code == 429
    retry = int(response.headers["Retry-After"])
    assert 0 < retry <= 15 * 60
    assert "Too many failed sign-in attempts" in response.get_data(as_text=True)


def test_locked_account_refuses_the_right_password(client, make_user):
    account = make_user("user")
    fail(client, account.email, 5)
    response = login(client, account.email, PASSWORD)
    assert response.status_code == 429
    assert client.get_cookie("custom_sessionid") is None


def test_lock_does_not_reach_other_accounts(app, make_user):
    victim, bystander = make_user("user"), make_user("user")
    attacker = app.test_client()
    fail(attacker, victim.email, 5)
    assert login(attacker, bystander.email).status_code == 302


def test_unknown_email_is_throttled_like_a_real_one(client, make_user):
    real = make_user("user")
    ghost = "nobody-here@example.com"
    answers = []
    for email in (real.email, ghost):
        answers.append([fail(client, email).status_code for _ in range(6)])
    assert answers[0] == answers[1] == [200, 200, 200, 200, 429, 429]


def test_success_resets_the_count(client, make_user):
    account = make_user("user")
    fail(client, account.email, 4)
    assert login(client, account.email).status_code == 302
    other = client.application.test_client()
    assert [fail(other, account.email).status_code for _ in range(5)] == [200] * 4 + [429]


def test_lock_lifts_after_the_window(app, client, make_user):
    account = make_user("user")
    fail(client, account.email, 5)
    with app.app_context():
        for event in db.session.scalars(
            db.select(AuditEvent).where(AuditEvent.email == account.email)
        ):
            event.created_at = event.created_at.replace(year=event.created_at.year - 1)
        db.session.commit()
    assert login(client, account.email).status_code == 302


def test_lock_holds_across_app_instances(database_url, app, make_user):
    """Two app instances (two workers, two machines) share one count."""
    account = make_user("user")
    first = app.test_client()
    second_app = make_test_app(database_url)
    second = second_app.test_client()
    fail(first, account.email, 3)
    fail(second, account.email, 2)
    assert login(first, account.email).status_code == 429
    assert login(second, account.email).status_code == 429
    with second_app.app_context():
        db.session.remove()
        db.engine.dispose()


def test_failures_and_lockout_are_audited(app, client, make_user):
    account = make_user("user")
    fail(client, account.email, 5)
    with app.app_context():
        kinds = db.session.scalars(
            db.select(AuditEvent.kind).where(AuditEvent.email == account.email)
        ).all()
    assert kinds.count("auth.login_failed") == 5
    assert kinds.count("auth.lockout") == 1


@pytest.mark.parametrize("limit", [2])
def test_limit_is_configurable(database_url, make_user, limit, app):
    account = make_user("user")
    custom = make_test_app(database_url, LOGIN_MAX_FAILURES=limit)
    c = custom.test_client()
    assert [fail(c, account.email).status_code for _ in range(limit)] == [200, 429]
    with custom.app_context():
        db.session.remove()
        db.engine.dispose()


def change_password(client, current, new="a fresh passphrase here"):
    return post(
        client,
        "/profile/password/",
        {"current_password": current, "new_password": new, "new_password_confirm": new},
        token=csrf_token(client, "/profile/"),
    )


def test_current_password_guesses_share_the_sign_in_limit(app, signed_in):
    """A stolen session is no password oracle: wrong current passwords lock the account."""
    client, account = signed_in("user")
    answers = [change_password(client, f"guess number {n}").status_code for n in range(5)]
    assert answers == [400] * 4 + [429]
    refused = change_password(client, PASSWORD)
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    assert "Too many failed sign-in attempts" in refused.get_data(as_text=True)
    # The same count locks sign-in, and the password is unchanged.
    assert login(app.test_client(), account.email).status_code == 429
    with app.app_context():
        kinds = db.session.scalars(
            db.select(AuditEvent.kind).where(AuditEvent.email == account.email)
        ).all()
    assert kinds.count("auth.password_check_failed") == 5
    assert "user.password_changed" not in kinds


def test_sign_in_failures_count_toward_the_current_password_check(app, signed_in):
    client, account = signed_in("user")
    fail(app.test_client(), account.email, 4)
    assert change_password(client, "one more guess").status_code == 429


def test_a_right_current_password_starts_the_count_again(app, signed_in):
    client, account = signed_in("user")
    fail(app.test_client(), account.email, 4)
    assert change_password(client, PASSWORD).status_code == 302
    assert [fail(app.test_client(), account.email).status_code for _ in range(5)] == [200] * 4 + [
        429
    ]

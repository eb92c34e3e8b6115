"""Your own account: password changes, the sessions page, and long passwords."""

import pytest
from conftest import auth_cookie, login, post

from tz_app.extensions import db
from tz_app.models import AuditEvent, Session
from tz_app.passwords import check_password, hash_password, needs_rehash, password_problems


def change(client, current, new, confirm=None):
    return post(
        client,
        "/profile/password/",
        {"current_password": current, "new_password": new, "new_password_confirm": confirm or new},
    )


def test_password_change_keeps_this_session_with_a_new_token(app, make_user):
    account = make_user("user")
    here, there = app.test_client(), app.test_client()
    login(here, account.email)
    login(there, account.email)
    old_token = auth_cookie(here).value
    wrong = change(here, "not my password", "fresh passphrase 1")
    assert wrong.status_code == 400 and "not your current password" in wrong.get_data(as_text=True)
    assert there.get("/home/").status_code == 200
    response = change(here, account.password, "fresh passphrase 1")
    assert response.status_code == 302 and response.headers["Location"] == "/profile/"
    assert auth_cookie(here).value != old_token
    assert here.get("/profile/").status_code == 200
    assert there.get("/home/").status_code == 302
    replay = app.test_client()
    replay.set_cookie("custom_sessionid", old_token)
    assert replay.get("/home/").status_code == 302
    with app.app_context():
        kinds = db.session.scalars(
            db.select(AuditEvent.kind).where(AuditEvent.target_id == account.id)
        ).all()
    assert "user.password_changed" in kinds


@pytest.mark.parametrize(
    "new, confirm, message",
    [
        ("short", None, "at least 8"),
        ("password123", None, "too common"),
        ("fresh passphrase 1", "another one", "do not match"),
    ],
)
def test_password_change_policy(app, make_user, new, confirm, message):
    account = make_user("user")
    client = app.test_client()
    login(client, account.email)
    response = change(client, account.password, new, confirm)
    assert response.status_code == 400 and message in response.get_data(as_text=True)


def session_ids(app, user_id):
    with app.app_context():
        return [
            s.id
            for s in db.session.scalars(
                db.select(Session).where(Session.user_id == user_id, Session.is_active)
            )
        ]


def test_sessions_page_lists_and_revokes(app, make_user):
    account = make_user("user")
    here, there = app.test_client(), app.test_client()
    login(here, account.email)
    login(there, account.email)
    page = here.get("/sessions/").get_data(as_text=True)
    assert page.count("data-session-id=") == 2 and "this browser" in page
    mine, other = sorted(session_ids(app, account.id))
    # `here` signed in first, so `there` holds the newer session.
    response = post(here, f"/sessions/{other}/revoke/", {})
    assert response.status_code == 302 and response.headers["Location"] == "/sessions/"
    assert there.get("/home/").status_code == 302
    response = post(here, f"/sessions/{mine}/revoke/", {})
    assert response.headers["Location"] == "/login/"
    assert here.get("/home/").status_code == 302


def test_other_peoples_sessions(app, make_user):
    victim = make_user("user")
    victim_client = app.test_client()
    login(victim_client, victim.email)
    (victim_session,) = session_ids(app, victim.id)
    snoop = app.test_client()
    login(snoop, make_user("user").email)
    assert snoop.get(f"/sessions/?user={victim.id}").status_code == 403
    assert post(snoop, f"/sessions/{victim_session}/revoke/", {}).status_code == 403
    assert victim_client.get("/home/").status_code == 200
    admin = app.test_client()
    login(admin, make_user("admin").email)
    page = admin.get(f"/sessions/?user={victim.id}").get_data(as_text=True)
    assert page.count("data-session-id=") == 1
    response = post(admin, f"/sessions/{victim_session}/revoke/", {})
    assert response.headers["Location"] == f"/sessions/?user={victim.id}"
    assert victim_client.get("/home/").status_code == 302
    assert admin.get("/sessions/?user=99999").status_code == 404


def test_long_passwords_count_in_full():
    base = "x" * 72
    stored = hash_password(base + "A", rounds=4)
    assert check_password(stored, base + "A")
    assert not check_password(stored, base + "B")  # differs only after byte 72
    assert not check_password(stored, base)
    wide = "пароль" * 20  # 240 bytes in UTF-8
    assert check_password(hash_password(wide, rounds=4), wide)
    nul = "before\x00after"
    assert not check_password(hash_password(nul, rounds=4), "before")
    assert not check_password("not a bcrypt hash", "anything")
    assert not check_password("", "")


def test_cost_upgrade_on_sign_in(app, make_user):
    account = make_user("user")
    with app.app_context():
        from tz_app.models import User

        user = db.session.get(User, account.id)
        user.password_hash = hash_password(account.password, rounds=5)
        db.session.commit()
        assert needs_rehash(user.password_hash)
    login(app.test_client(), account.email)
    with app.app_context():
        assert not needs_rehash(db.session.get(User, account.id).password_hash)


def test_policy_messages():
    assert password_problems("a sensible passphrase") == []
    assert password_problems("qwerty123")
    assert password_problems("me@example.com", "Me@Example.com")
    assert password_problems("longname1", "longname1@example.com")
    assert password_problems("y" * 2000)


def test_a_hundred_character_passphrase_end_to_end(app, client):
    phrase = "correct horse battery staple " * 3 + "and then some more words!!"
    assert len(phrase) >= 100
    post(
        client,
        "/signup/",
        {
            "name": "Long",
            "last_name": "Phrase",
            "email": "long@example.com",
            "password": phrase,
            "password_confirm": phrase,
        },
    )
    assert login(app.test_client(), "long@example.com", phrase).status_code == 302
    assert login(app.test_client(), "long@example.com", phrase[:-1]).status_code == 200

"""Sign-up, sign-in, sign-out and the session cookie, as the contract states them."""

import hashlib
from datetime import timedelta

import pytest
from conftest import PASSWORD, auth_cookie, csrf_token, login, make_test_app, post

from tz_app.extensions import db
from tz_app.models import Session, User


def set_cookie_header(response, name="custom_sessionid"):
    return next((h for h in response.headers.getlist("Set-Cookie") if h.startswith(name)), None)


def test_signup_creates_an_active_user_and_signs_in(app, client):
    response = post(
        client,
        "/signup/",
        {
            "name": "Olena",
            "last_name": "Koval",
            "email": "Olena@Example.COM",
            "password": "a long passphrase",
            "password_confirm": "a long passphrase",
        },
    )
    assert response.status_code == 302 and response.headers["Location"] == "/home/"
    assert auth_cookie(client) is not None
    with app.app_context():
        user = db.session.scalar(db.select(User).where(User.email == "olena@example.com"))
        assert user.is_active and user.role.name == "user" and user.paternity_name is None
    page = client.get("/home/").get_data(as_text=True)
    assert page.count("data-user-id=") == 1 and "Olena" in page


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"name": ""}, "Enter a first name."),
        ({"email": "not-an-email"}, "Enter a valid email address."),
        ({"password_confirm": "something else"}, "The passwords do not match."),
        ({"password": "short", "password_confirm": "short"}, "Use at least 8 characters."),
        ({"password": "password1", "password_confirm": "password1"}, "too common"),
        ({"password": "sam@example.com", "password_confirm": "sam@example.com"}, "email"),
        ({"name": "x" * 101}, "Use at most 100 characters."),
        ({"name": "bad\x00name"}, "not allowed"),
    ],
)
def test_signup_errors_are_shown_on_the_form(app, client, fields, message):
    data = {
        "name": "Sam",
        "last_name": "Smith",
        "email": "sam@example.com",
        "password": "a long passphrase",
        "password_confirm": "a long passphrase",
        **fields,
    }
    response = post(client, "/signup/", data)
    assert response.status_code == 200
    assert message in response.get_data(as_text=True)
    assert auth_cookie(client) is None
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(User.id))) == 0


def test_signup_with_a_taken_email_in_other_case(client, make_user):
    make_user("user", email="taken@example.com")
    response = post(
        client,
        "/signup/",
        {
            "name": "A",
            "last_name": "B",
            "email": "TAKEN@example.com",
            "password": "a long passphrase",
            "password_confirm": "a long passphrase",
        },
    )
    assert "already exists" in response.get_data(as_text=True)


def test_login_sets_a_hashed_session_and_strict_cookie(app, client, make_user):
    account = make_user("user")
    response = login(client, account.email)
    assert response.status_code == 302 and response.headers["Location"] == "/home/"
    header = set_cookie_header(response)
    assert "HttpOnly" in header and "SameSite=Lax" in header and "Path=/" in header
    assert "Secure" not in header
    token = auth_cookie(client).value
    assert len(token) >= 32
    with app.app_context():
        row = db.session.scalar(db.select(Session).where(Session.user_id == account.id))
        assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
        assert token not in row.token_hash


@pytest.mark.parametrize("case", ["wrong password", "unknown email", "deactivated"])
def test_failed_login_is_generic_and_sets_no_cookie(client, make_user, case):
    account = make_user("user", is_active=case != "deactivated")
    email = "nobody@example.com" if case == "unknown email" else account.email
    password = "wrong password" if case == "wrong password" else PASSWORD
    response = login(client, email, password)
    assert response.status_code == 200
    assert "Invalid email or password." in response.get_data(as_text=True)
    assert set_cookie_header(response) is None
    assert auth_cookie(client) is None


@pytest.mark.parametrize(
    "target, expected",
    [
        ("/profile/", "/profile/"),
        ("/home/?q=a&page=2", "/home/?q=a&page=2"),
        ("//evil.example", "/home/"),
        ("/\\evil.example", "/home/"),
        ("https://evil.example/", "/home/"),
        ("javascript:alert(1)", "/home/"),
        ("/\\\\evil", "/home/"),
        ("/%0d%0aSet-Cookie:x", "/%0d%0aSet-Cookie:x"),
        ("home", "/home/"),
    ],
)
def test_next_is_followed_only_to_local_paths(client, make_user, target, expected):
    account = make_user("user")
    response = login(client, account.email, next=target)
    assert response.status_code == 302
    assert response.headers["Location"] == expected


def test_anonymous_page_redirects_to_login_with_next(client):
    response = client.get("/home/?q=x")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login/?next=/home/?q%3Dx"


def test_logout_ends_the_session_and_the_cookie_cannot_be_replayed(app, client, make_user):
    account = make_user("user")
    login(client, account.email)
    token = auth_cookie(client).value
    assert client.get("/logout/").status_code == 405
    response = post(client, "/logout/", {})
    assert response.status_code == 302 and response.headers["Location"] == "/login/"
    assert auth_cookie(client) is None
    with app.app_context():
        row = db.session.scalar(db.select(Session).where(Session.user_id == account.id))
        assert row.is_active is False and row.ended_at is not None
    replay = app.test_client()
    replay.set_cookie("custom_sessionid", token)
    assert replay.get("/home/").status_code == 302
    assert post(replay, f"/users/{account.id}/update/", {"name": "x"}).status_code == 401


def test_a_token_from_before_login_is_never_adopted(app, client, make_user):
    account = make_user("user")
    client.set_cookie("custom_sessionid", "attacker-chosen-value")
    login(client, account.email)
    assert auth_cookie(client).value != "attacker-chosen-value"
    first = auth_cookie(client).value
    login(client, account.email)  # signing in again while signed in
    assert auth_cookie(client).value != first
    with app.app_context():
        rows = db.session.scalars(db.select(Session).where(Session.user_id == account.id)).all()
        assert sorted(r.is_active for r in rows) == [False, True]
    old = app.test_client()
    old.set_cookie("custom_sessionid", first)
    assert old.get("/home/").status_code == 302


def test_identity_never_comes_from_flasks_session_cookie(client, make_user):
    account = make_user("user")
    login(client, account.email)
    client.delete_cookie("session")
    assert client.get("/home/").status_code == 200
    client.delete_cookie("custom_sessionid")
    assert client.get("/home/").status_code == 302


@pytest.mark.parametrize("column", ["expires_at", "last_seen_at"])
def test_expired_and_idle_sessions_are_refused(app, client, make_user, column):
    account = make_user("user")
    login(client, account.email)
    with app.app_context():
        row = db.session.scalar(db.select(Session).where(Session.user_id == account.id))
        setattr(row, column, getattr(row, column) - timedelta(days=30))
        db.session.commit()
    assert client.get("/home/").status_code == 302


def test_lifetimes_come_from_configuration(database_url, make_user):
    account = make_user("user")
    app = make_test_app(database_url, SESSION_LIFETIME=60, SESSION_IDLE_TIMEOUT=30)
    client = app.test_client()
    login(client, account.email)
    with app.app_context():
        row = db.session.scalar(db.select(Session).where(Session.user_id == account.id))
        assert timedelta(seconds=55) < row.expires_at - row.created_at <= timedelta(seconds=60)
        row.last_seen_at -= timedelta(seconds=31)
        db.session.commit()
    assert client.get("/home/").status_code == 302
    with app.app_context():
        db.engine.dispose()


def test_deactivated_users_cookie_stops_working(app, client, make_user):
    account = make_user("user")
    login(client, account.email)
    with app.app_context():
        db.session.get(User, account.id).is_active = False
        db.session.commit()
    assert client.get("/home/").status_code == 302


def test_csrf_is_required_on_every_post(app, client, make_user):
    account = make_user("user")
    assert (
        client.post("/login/", data={"email": account.email, "password": PASSWORD}).status_code
        == 400
    )
    assert auth_cookie(client) is None
    login(client, account.email)
    for path, data in [("/logout/", {}), (f"/users/{account.id}/update/", {"name": "Hacked"})]:
        assert client.post(path, data=data).status_code == 400
        assert client.post(path, data={**data, "csrf_token": "forged"}).status_code == 400
    with app.app_context():
        assert db.session.get(User, account.id).name != "Hacked"
    token = csrf_token(client, "/home/")
    response = client.post(
        f"/users/{account.id}/update/",
        data={"name": "ByHeader"},
        headers={"X-CSRFToken": token, "Accept": "application/json"},
    )
    assert response.status_code == 200 and response.get_json()["name"] == "ByHeader"


def test_production_cookies_are_secure(database_url, make_user):
    account = make_user("user")
    app = make_test_app(database_url, APP_ENV="production", SECRET_KEY="s" * 40)
    client = app.test_client()
    response = login(client, account.email)
    cookies = response.headers.getlist("Set-Cookie")
    assert cookies and all("Secure" in c for c in cookies)
    with app.app_context():
        db.engine.dispose()

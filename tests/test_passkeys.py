"""Passkeys through the server's real WebAuthn checks, answered by a software authenticator."""

import pytest
from conftest import PASSWORD, auth_cookie, post
from mfa_support import age_sessions, page_token, password_step
from sqlalchemy import select, update
from webauthn_soft import SoftAuthenticator, b64url, unb64url

from tz_app.extensions import db
from tz_app.models import AuditEvent, Passkey, Session, User, WebAuthnChallenge


def post_json(client, path, body=None, token=None, page="/login/"):
    token = token or page_token(client.get(page))
    return client.post(
        path,
        json=body if body is not None else {},
        headers={"X-CSRFToken": token, "Accept": "application/json"},
    )


def register(client, device, name="Laptop"):
    token = page_token(client.get("/mfa/"))
    options = post_json(client, "/mfa/passkeys/options/", token=token).get_json()
    answer = post_json(
        client, "/mfa/passkeys/", {"name": name, "credential": device.create(options)}, token
    )
    assert answer.status_code == 201, answer.get_data(as_text=True)
    return answer.get_json()


def passkey_sign_in(app, device, **get_kwargs):
    browser = app.test_client()
    options = post_json(browser, "/login/passkey/options/").get_json()
    answer = post_json(
        browser, "/login/passkey/", {"credential": device.get(options, **get_kwargs)}
    )
    return browser, answer


@pytest.fixture
def with_passkey(signed_in):
    client, account = signed_in("user")
    device = SoftAuthenticator()
    created = register(client, device)
    return client, account, device, created


def kinds(app, user_id):
    with app.app_context():
        return db.session.scalars(
            select(AuditEvent.kind).where(AuditEvent.target_id == user_id).order_by(AuditEvent.id)
        ).all()


def test_register_list_and_sign_in_with_the_passkey_alone(app, with_passkey):
    client, account, device, created = with_passkey
    assert created["name"] == "Laptop"
    page = client.get("/mfa/").get_data(as_text=True)
    assert f'data-passkey-id="{created["id"]}"' in page and "Laptop" in page
    with app.app_context():
        assert db.session.get(User, account.id).mfa_enabled
        stored = db.session.get(Passkey, created["id"])
        assert stored.transports == ["internal"] and stored.sign_count == 0
    browser, answer = passkey_sign_in(app, device)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert answer.get_json() == {"redirect": "/home/"}
    assert auth_cookie(browser) is not None
    assert browser.get("/home/").status_code == 200
    with app.app_context():
        method = db.session.scalar(
            select(Session.auth_method)
            .where(Session.user_id == account.id)
            .order_by(Session.id.desc())
        )
        assert method == "passkey"
        assert db.session.get(Passkey, created["id"]).sign_count == 1
    assert "mfa.passkey_added" in kinds(app, account.id)
    assert "mfa.used" in kinds(app, account.id)


def test_a_challenge_serves_one_answer_for_one_purpose_and_expires(app, with_passkey):
    client, _account, device, _created = with_passkey
    browser = app.test_client()
    options = post_json(browser, "/login/passkey/options/").get_json()
    first = device.get(options)
    assert post_json(browser, "/login/passkey/", {"credential": first}).status_code == 200
    replay = app.test_client()
    again = post_json(replay, "/login/passkey/", {"credential": first})
    assert again.status_code == 401 and "error" in again.get_json()
    assert auth_cookie(replay) is None
    # A registration challenge does not sign anyone in.
    token = page_token(client.get("/mfa/"))
    foreign = post_json(client, "/mfa/passkeys/options/", token=token).get_json()
    stranger = app.test_client()
    wrong_purpose = post_json(
        stranger, "/login/passkey/", {"credential": device.get({**foreign, "rpId": "localhost"})}
    )
    assert wrong_purpose.status_code == 401 and auth_cookie(stranger) is None
    # Expired.
    late = app.test_client()
    options = post_json(late, "/login/passkey/options/").get_json()
    with app.app_context():
        db.session.execute(
            update(WebAuthnChallenge).values(expires_at=WebAuthnChallenge.created_at)
        )
        db.session.commit()
    expired = post_json(late, "/login/passkey/", {"credential": device.get(options)})
    assert expired.status_code == 401 and auth_cookie(late) is None


@pytest.mark.parametrize(
    "tamper",
    ["origin", "rp_id", "counter", "unknown", "handle", "unverified", "signature"],
)
def test_answers_that_do_not_hold_sign_nobody_in(app, with_passkey, tamper):
    _client, _account, device, _created = with_passkey
    browser = app.test_client()
    options = post_json(browser, "/login/passkey/options/").get_json()
    if tamper == "origin":
        credential = device.get(options, origin="http://evil.example")
    elif tamper == "rp_id":
        credential = device.get({**options, "rpId": "evil.example"})
    elif tamper == "counter":
        device.get({**options}, count=5)  # the device's count moves on unseen...
        credential = device.get(options, count=0)  # ...and a cloned key answers with an old one
        with app.app_context():
            db.session.execute(update(Passkey).values(sign_count=3))
            db.session.commit()
    elif tamper == "unknown":
        other = SoftAuthenticator()  # a device never registered here
        other.create({**options, "rp": {"id": "localhost"}, "user": {"id": b64url(b"x")}})
        credential = other.get(options)
    elif tamper == "handle":
        credential = device.get(options)
        credential["response"]["userHandle"] = b64url(b"someone else")
    elif tamper == "unverified":
        device.user_verified = False
        credential = device.get(options)
    else:
        credential = device.get(options)
        signature = bytearray(unb64url(credential["response"]["signature"]))
        signature[-1] ^= 1
        credential["response"]["signature"] = b64url(bytes(signature))
    answer = post_json(browser, "/login/passkey/", {"credential": credential})
    assert answer.status_code == 401, tamper
    assert set(answer.get_json()) == {"error"}
    assert auth_cookie(browser) is None
    assert "custom_sessionid" not in answer.headers.get("Set-Cookie", "")


@pytest.mark.parametrize(
    "body",
    [
        None,
        "not json",
        [],
        {"credential": "x"},
        {"credential": {"response": 5}},
        {"credential": None},
    ],
)
def test_malformed_answers_get_4xx_never_500(app, with_passkey, body):
    browser = app.test_client()
    token = page_token(browser.get("/login/"))
    headers = {"X-CSRFToken": token, "Accept": "application/json"}
    if body == "not json":
        answer = browser.post(
            "/login/passkey/", data="{oops", headers={**headers, "Content-Type": "application/json"}
        )
    else:
        answer = browser.post("/login/passkey/", json=body, headers=headers)
    assert answer.status_code in (400, 401)
    assert auth_cookie(browser) is None


def test_a_passkey_as_the_second_factor(app, with_passkey, signed_in):
    _client, account, device, _created = with_passkey
    other_client, _other = signed_in("user")
    other_device = SoftAuthenticator()
    register(other_client, other_device)
    browser = app.test_client()
    step = password_step(browser, account.email, PASSWORD, next="/profile/")
    assert step.headers["Location"].endswith("/login/mfa/")
    page = browser.get("/login/mfa/")
    assert 'data-passkey="second-factor"' in page.get_data(as_text=True)
    token = page_token(page)
    options = post_json(browser, "/login/mfa/passkey/options/", token=token).get_json()
    assert len(options["allowCredentials"]) == 1
    # Someone else's passkey is no second factor for this account.
    wrong = post_json(
        browser,
        "/login/mfa/passkey/",
        {"credential": other_device.get(options, next(iter(other_device.keys)))},
        token,
    )
    assert wrong.status_code == 401 and auth_cookie(browser) is None
    options = post_json(browser, "/login/mfa/passkey/options/", token=token).get_json()
    done = post_json(browser, "/login/mfa/passkey/", {"credential": device.get(options)}, token)
    assert done.status_code == 200 and done.get_json() == {"redirect": "/profile/"}
    assert auth_cookie(browser) is not None
    with app.app_context():
        method = db.session.scalar(
            select(Session.auth_method)
            .where(Session.user_id == account.id)
            .order_by(Session.id.desc())
        )
    assert method == "password+passkey"
    # Without a pending sign-in there is nothing to answer.
    fresh = app.test_client()
    assert post_json(fresh, "/login/mfa/passkey/options/").status_code == 401


def test_removing_passkeys_is_the_owners_alone(app, with_passkey, signed_in):
    client, account, device, created = with_passkey
    intruder, _i = signed_in("admin")
    assert post(intruder, f"/mfa/passkeys/{created['id']}/delete/", {}).status_code == 404
    assert post(client, f"/mfa/passkeys/{created['id']}/delete/", {}).status_code == 302
    with app.app_context():
        assert db.session.get(Passkey, created["id"]) is None
        assert not db.session.get(User, account.id).mfa_enabled
    assert "mfa.passkey_removed" in kinds(app, account.id)
    _browser, answer = passkey_sign_in(app, device)
    assert answer.status_code == 401


def test_a_deactivated_account_signs_in_with_no_passkey(app, with_passkey):
    _client, account, device, _created = with_passkey
    with app.app_context():
        db.session.execute(update(User).where(User.id == account.id).values(is_active=False))
        db.session.commit()
    browser, answer = passkey_sign_in(app, device)
    assert answer.status_code == 401 and auth_cookie(browser) is None


def test_adding_a_passkey_wants_a_recent_confirmation_and_a_passkey_gives_one(app, with_passkey):
    client, account, device, _created = with_passkey
    age_sessions(app, account.id, 3600)
    token = page_token(client.get("/mfa/"))
    refused = post_json(client, "/mfa/passkeys/options/", token=token)
    assert refused.status_code == 401 and refused.get_json() == {"error": "reauth_required"}
    options = post_json(client, "/reauth/passkey/options/", token=token).get_json()
    confirmed = post_json(
        client, "/reauth/passkey/?next=/mfa/", {"credential": device.get(options)}, token
    )
    assert confirmed.status_code == 200 and confirmed.get_json() == {"redirect": "/mfa/"}
    assert post_json(client, "/mfa/passkeys/options/", token=token).status_code == 200

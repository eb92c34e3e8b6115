"""Passkeys through the server's real WebAuthn checks, answered by a software authenticator."""

import hashlib
import threading
from datetime import timedelta
from functools import partial

import pytest
from conftest import PASSWORD, auth_cookie, login, make_test_app, post
from mfa_support import age_sessions, enable_totp, page_token, password_step, second_step
from sqlalchemy import func, insert, select, update
from webauthn_soft import SoftAuthenticator, b64url, unb64url

from tz_app.extensions import db
from tz_app.models import (
    AuditEvent,
    Passkey,
    Role,
    Session,
    User,
    WebAuthnChallenge,
    utcnow,
)


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


def passkey_sign_in(app, device, path="/login/passkey/", **get_kwargs):
    browser = app.test_client()
    options = post_json(browser, "/login/passkey/options/").get_json()
    answer = post_json(browser, path, {"credential": device.get(options, **get_kwargs)})
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


def last_method(app, user_id):
    with app.app_context():
        return db.session.scalar(
            select(Session.auth_method)
            .where(Session.user_id == user_id)
            .order_by(Session.id.desc())
        )


def passkey_count(app, user_id=None):
    with app.app_context():
        query = select(func.count()).select_from(Passkey)
        if user_id is not None:
            query = query.where(Passkey.user_id == user_id)
        return db.session.scalar(query)


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
    # Both factors at once.
    assert last_method(app, account.id) == "passkey"
    with app.app_context():
        used = db.session.get(Passkey, created["id"])
        assert used.sign_count == 1 and used.last_used_at is not None
    assert "mfa.passkey_added" in kinds(app, account.id)
    assert "mfa.used" in kinds(app, account.id)


def test_options_name_this_site_and_store_only_a_hash_of_the_challenge(app, with_passkey):
    client, account, _device, created = with_passkey
    token = page_token(client.get("/mfa/"))
    options = post_json(client, "/mfa/passkeys/options/", token=token).get_json()
    assert options["rp"]["id"] == "localhost"
    assert options["authenticatorSelection"]["residentKey"] == "required"
    assert options["authenticatorSelection"]["userVerification"] == "required"
    assert options["user"]["name"] == account.email
    # The user handle is opaque (no account number) and stable.
    handle = unb64url(options["user"]["id"])
    assert len(handle) == 32 and handle != str(account.id).encode()
    again = post_json(client, "/mfa/passkeys/options/", token=token).get_json()
    assert again["user"]["id"] == options["user"]["id"]
    with app.app_context():
        stored = db.session.get(Passkey, created["id"])
        assert [unb64url(c["id"]) for c in options["excludeCredentials"]] == [stored.credential_id]
    sign_in = post_json(app.test_client(), "/login/passkey/options/").get_json()
    assert sign_in["rpId"] == "localhost"
    assert sign_in["allowCredentials"] == [] and sign_in["userVerification"] == "required"
    with app.app_context():
        rows = db.session.scalars(select(WebAuthnChallenge).order_by(WebAuthnChallenge.id)).all()
    by_hash = {row.challenge_hash: row for row in rows}
    for sent, purpose, owner in (
        (options, "register", account.id),
        (sign_in, "sign_in", None),
    ):
        raw = unb64url(sent["challenge"])
        assert len(raw) == 32
        row = by_hash[hashlib.sha256(raw).hexdigest()]
        assert (row.purpose, row.user_id, row.used_at) == (purpose, owner, None)
        assert row.expires_at - row.created_at == timedelta(minutes=5)
    assert all(sent["challenge"] not in str(vars(row)) for row in rows)


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
    # Nor does a challenge handed out to confirm who one is.
    mine = post_json(client, "/reauth/passkey/options/", token=token).get_json()
    other = app.test_client()
    assert post_json(other, "/login/passkey/", {"credential": device.get(mine)}).status_code == 401
    assert auth_cookie(other) is None
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
    assert expired.get_json() == {"error": "The request expired. Try again."}


def test_a_challenge_handed_to_one_user_confirms_no_other(app, with_passkey, signed_in):
    client, _account, _device, _created = with_passkey
    other_client, other = signed_in("user")
    other_device = SoftAuthenticator()
    register(other_client, other_device)
    age_sessions(app, other.id, 3600)
    token = page_token(client.get("/mfa/"))
    theirs = post_json(client, "/reauth/passkey/options/", token=token).get_json()
    other_token = page_token(other_client.get("/mfa/"))
    answer = post_json(
        other_client,
        "/reauth/passkey/",
        {"credential": other_device.get(theirs, next(iter(other_device.keys)))},
        other_token,
    )
    assert answer.status_code == 401
    # Still unconfirmed: adding a passkey is refused.
    refused = post_json(other_client, "/mfa/passkeys/options/", token=other_token)
    assert refused.get_json() == {"error": "reauth_required"}
    assert "mfa.failed" in kinds(app, other.id)
    assert "auth.reauth" not in kinds(app, other.id)


@pytest.mark.parametrize(
    "tamper",
    ["origin", "rp_id", "counter", "unknown", "handle", "unverified", "signature"],
)
def test_answers_that_do_not_hold_sign_nobody_in(app, with_passkey, tamper):
    _client, account, device, created = with_passkey
    browser = app.test_client()
    options = post_json(browser, "/login/passkey/options/").get_json()
    if tamper == "origin":
        credential = device.get(options, origin="http://evil.example")
    elif tamper == "rp_id":
        credential = device.get({**options, "rpId": "evil.example"})
    elif tamper == "counter":
        # The real device has moved on to 5; a copy of its key answers with 2.
        with app.app_context():
            db.session.execute(update(Passkey).values(sign_count=5))
            db.session.commit()
        credential = device.get(options, count=2)
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
    with app.app_context():
        stored = db.session.get(Passkey, created["id"])
        assert stored.sign_count == (5 if tamper == "counter" else 0)
        assert stored.last_used_at is None
    if tamper in ("counter", "unverified", "signature", "origin", "rp_id"):
        # The passkey is this account's: its owner sees the failure in the audit log.
        assert kinds(app, account.id)[-1] == "mfa.failed"
    assert "mfa.used" not in kinds(app, account.id)


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        "form",
        [],
        {},
        {"credential": "x"},
        {"credential": None},
        {"credential": {"response": 5}},
        {"credential": {"rawId": 5, "response": {"clientDataJSON": "!!"}}},
        {"credential": {"response": {"clientDataJSON": b64url(b"[1, 2]")}}},
        "deep json",
        {"credential": {"response": {"clientDataJSON": b64url(b"[" * 50000 + b"]" * 50000)}}},
    ],
    ids=lambda body: repr(body)[:40],
)
@pytest.mark.parametrize(
    "path", ["/login/passkey/", "/login/mfa/passkey/", "/reauth/passkey/", "/mfa/passkeys/"]
)
def test_malformed_answers_get_400_never_500(app, with_passkey, path, body):
    client, account, _device, _created = with_passkey
    if path.startswith("/login/"):
        client = app.test_client()
        if path == "/login/mfa/passkey/":
            assert password_step(client, account.email, PASSWORD).status_code == 302
            token = page_token(client.get("/login/mfa/"))
        else:
            token = page_token(client.get("/login/"))
    else:
        token = page_token(client.get("/mfa/"))
    headers = {"X-CSRFToken": token, "Accept": "application/json"}
    if body in ("not json", "deep json"):
        data = "{oops" if body == "not json" else "[" * 100_000 + "]" * 100_000
        answer = client.post(
            path, data=data, headers={**headers, "Content-Type": "application/json"}
        )
    elif body == "form":
        answer = client.post(path, data={"credential": "x"}, headers=headers)
    else:
        answer = client.post(path, json=body, headers=headers)
    assert answer.status_code == 400, answer.get_data(as_text=True)
    assert isinstance(answer.get_json()["error"], str) and answer.get_json()["error"]
    if path.startswith("/login/"):
        assert auth_cookie(client) is None
    assert passkey_count(app) == 1
    assert "mfa.failed" not in kinds(app, account.id)


def test_an_oversized_answer_is_refused_before_it_is_read(app, with_passkey):
    browser = app.test_client()
    token = page_token(browser.get("/login/"))
    huge = b'{"credential": {"id": "' + b"A" * (2 * 1024 * 1024) + b'"}}'
    answer = browser.post(
        "/login/passkey/",
        data=huge,
        headers={
            "X-CSRFToken": token,
            "Accept": "application/json",
            "Content-Type": "application/json",
        },
    )
    assert answer.status_code == 413 and auth_cookie(browser) is None


def test_names_are_trimmed_numbered_when_empty_and_bounded(app, with_passkey):
    client, account, _device, _created = with_passkey
    device = SoftAuthenticator()
    token = page_token(client.get("/mfa/"))
    options = post_json(client, "/mfa/passkeys/options/", token=token).get_json()
    credential = device.create(options)
    for name, error in (
        ("x" * 65, "Use at most 64 characters."),
        ("bad\x00name", "Contains characters that are not allowed."),
        (["list"], "The browser's answer could not be read. Try again."),
    ):
        refused = post_json(
            client, "/mfa/passkeys/", {"name": name, "credential": credential}, token
        )
        assert refused.status_code == 400 and refused.get_json() == {"error": error}
    assert passkey_count(app, account.id) == 1
    # A refused name uses nothing up: the same answer with a better name is taken.
    added = post_json(client, "/mfa/passkeys/", {"name": "   ", "credential": credential}, token)
    assert added.status_code == 201 and added.get_json()["name"] == "Passkey 2"
    assert register(client, SoftAuthenticator(), name="  Phone  ")["name"] == "Phone"
    assert register(client, SoftAuthenticator(), name="ä" * 64)["name"] == "ä" * 64


def test_a_passkey_registered_once_cannot_be_registered_again(app, with_passkey, signed_in):
    _client, account, device, created = with_passkey
    same_key = next(iter(device.keys))
    other_client, other = signed_in("user")
    token = page_token(other_client.get("/mfa/"))
    options = post_json(other_client, "/mfa/passkeys/options/", token=token).get_json()
    again = post_json(
        other_client,
        "/mfa/passkeys/",
        {"name": "Copy", "credential": device.create(options, reuse=same_key)},
        token,
    )
    assert again.status_code == 400
    assert again.get_json() == {"error": "This passkey is already registered."}
    assert passkey_count(app, other.id) == 0
    with app.app_context():
        assert db.session.get(Passkey, created["id"]).user_id == account.id
        assert not db.session.get(User, other.id).mfa_enabled


def test_a_passkey_as_the_second_factor(app, with_passkey, signed_in):
    _client, account, device, _created = with_passkey
    other_client, _other = signed_in("user")
    other_device = SoftAuthenticator()
    register(other_client, other_device)
    browser = app.test_client()
    step = password_step(browser, account.email, PASSWORD, next="/profile/")
    assert step.headers["Location"].endswith("/login/mfa/")
    assert auth_cookie(browser) is None
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
    assert kinds(app, account.id)[-1] == "mfa.failed"
    options = post_json(browser, "/login/mfa/passkey/options/", token=token).get_json()
    done = post_json(browser, "/login/mfa/passkey/", {"credential": device.get(options)}, token)
    assert done.status_code == 200 and done.get_json() == {"redirect": "/profile/"}
    assert auth_cookie(browser) is not None
    assert last_method(app, account.id) == "password+passkey"
    # The pending sign-in is used up.
    assert post_json(browser, "/login/mfa/passkey/options/", page="/home/").status_code == 401
    # Without a pending sign-in there is nothing to answer.
    fresh = app.test_client()
    assert post_json(fresh, "/login/mfa/passkey/options/").status_code == 401
    late = post_json(fresh, "/login/mfa/passkey/", {"credential": device.get(options)})
    assert late.status_code == 401 and auth_cookie(fresh) is None


def test_sign_in_follows_a_local_next_only(app, with_passkey):
    _client, _account, device, _created = with_passkey
    _b, local = passkey_sign_in(app, device, path="/login/passkey/?next=/profile/")
    assert local.get_json() == {"redirect": "/profile/"}
    _b, foreign = passkey_sign_in(app, device, path="/login/passkey/?next=//evil.example/")
    assert foreign.get_json() == {"redirect": "/home/"}


def test_removing_passkeys_is_the_owners_alone(app, with_passkey, signed_in):
    client, account, device, created = with_passkey
    intruder, _i = signed_in("admin")
    assert post(intruder, f"/mfa/passkeys/{created['id']}/delete/", {}).status_code == 404
    assert post(client, "/mfa/passkeys/999999/delete/", {}).status_code == 404
    assert passkey_count(app, account.id) == 1
    removed = post(client, f"/mfa/passkeys/{created['id']}/delete/", {})
    assert removed.status_code == 302 and removed.headers["Location"].endswith("/mfa/")
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
    assert answer.get_json() == {"error": "This passkey is not registered here."}


def test_a_passkey_satisfies_a_role_that_requires_a_second_factor(app, with_passkey):
    _client, _account, device, _created = with_passkey
    with app.app_context():
        db.session.execute(update(Role).where(Role.name == "user").values(mfa_required=True))
        db.session.commit()
    browser, answer = passkey_sign_in(app, device)
    assert answer.status_code == 200
    assert browser.get("/home/").status_code == 200


def test_changes_to_passkeys_want_a_recent_confirmation_and_a_passkey_gives_one(app, with_passkey):
    client, account, device, created = with_passkey
    age_sessions(app, account.id, 3600)
    token = page_token(client.get("/mfa/"))
    refused = post_json(client, "/mfa/passkeys/options/", token=token)
    assert refused.status_code == 401 and refused.get_json() == {"error": "reauth_required"}
    adding = post_json(client, "/mfa/passkeys/", {"name": "x", "credential": {}}, token)
    assert adding.status_code == 401 and adding.get_json() == {"error": "reauth_required"}
    removing = post(client, f"/mfa/passkeys/{created['id']}/delete/", {}, json=True, token=token)
    assert removing.status_code == 401 and removing.get_json() == {"error": "reauth_required"}
    assert passkey_count(app, account.id) == 1
    options = post_json(client, "/reauth/passkey/options/", token=token).get_json()
    assert [unb64url(c["id"]) for c in options["allowCredentials"]] == list(device.keys)
    confirmed = post_json(
        client, "/reauth/passkey/?next=/mfa/", {"credential": device.get(options)}, token
    )
    assert confirmed.status_code == 200 and confirmed.get_json() == {"redirect": "/mfa/"}
    assert "auth.reauth" in kinds(app, account.id)
    assert post_json(client, "/mfa/passkeys/options/", token=token).status_code == 200
    assert post(client, f"/mfa/passkeys/{created['id']}/delete/", {}).status_code == 302
    assert passkey_count(app, account.id) == 0


def test_asking_for_a_challenge_clears_away_expired_ones(app):
    long_ago = utcnow() - timedelta(days=1)
    with app.app_context():
        db.session.execute(
            insert(WebAuthnChallenge),
            [
                {
                    "challenge_hash": f"{n:064x}",
                    "purpose": "sign_in",
                    "created_at": long_ago,
                    "expires_at": long_ago + timedelta(minutes=5),
                }
                for n in range(5)
            ],
        )
        db.session.commit()
    options = post_json(app.test_client(), "/login/passkey/options/").get_json()
    with app.app_context():
        hashes = db.session.scalars(select(WebAuthnChallenge.challenge_hash)).all()
    assert hashes == [hashlib.sha256(unb64url(options["challenge"])).hexdigest()]


def test_an_unconfirmed_address_signs_in_with_no_passkey_when_confirmation_is_required(
    app, with_passkey, database_url
):
    _client, account, device, _created = with_passkey
    with app.app_context():
        db.session.execute(update(User).where(User.id == account.id).values(email_verified_at=None))
        db.session.commit()
    strict = make_test_app(database_url, REQUIRE_VERIFIED_EMAIL=True)
    try:
        browser, answer = passkey_sign_in(strict, device)
        assert answer.status_code == 403
        assert "not confirmed" in answer.get_json()["error"]
        assert auth_cookie(browser) is None
    finally:
        with strict.app_context():
            db.session.remove()
            db.engine.dispose()


def _at_once(*calls) -> list:
    """Run ``calls`` in threads released together; their results in order."""
    barrier = threading.Barrier(len(calls))
    results = [None] * len(calls)

    def run(index, call):
        barrier.wait()
        results[index] = call()

    threads = [threading.Thread(target=run, args=pair) for pair in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_factors_changed_at_once_keep_the_flag_true_to_what_is_stored(app, signed_in, backend):
    """The app turned off while a passkey is added elsewhere: a second factor remains."""
    if backend != "postgresql":
        pytest.skip("SQLite serialises writers; the race needs a server")
    for _round in range(5):
        client, account = signed_in("user")
        _secret, codes = enable_totp(client)
        other = app.test_client()
        login(other, account.email, PASSWORD)
        assert second_step(other, codes[0]).status_code == 302
        token, other_token = page_token(client.get("/mfa/")), page_token(other.get("/mfa/"))
        options = post_json(other, "/mfa/passkeys/options/", token=other_token).get_json()
        body = {"name": "k", "credential": SoftAuthenticator().create(options)}
        answers = _at_once(
            partial(post, client, "/mfa/totp/disable/", {}, token=token),
            partial(post_json, other, "/mfa/passkeys/", body, other_token),
        )
        assert [answer.status_code for answer in answers] == [302, 201]
        with app.app_context():
            assert db.session.get(User, account.id).mfa_enabled
        browser = app.test_client()
        assert login(browser, account.email, PASSWORD).headers["Location"].endswith("/login/mfa/")

"""Passkeys (WebAuthn, with py_webauthn): a second factor, and a sign-in of their own.

A ceremony is two requests. The first hands the browser options with a
challenge: 32 random bytes, stored only as their SHA-256 with the purpose
they serve and whose they are (``webauthn_challenges``), valid for
``WEBAUTHN_CHALLENGE_TTL`` seconds. The second brings the browser's signed
answer: the challenge is read back from its ``clientDataJSON`` and used up by
one conditional ``UPDATE`` before anything else is checked, so every
challenge serves one attempt, right or wrong. py_webauthn then checks the
origin and relying party (from ``PUBLIC_URL``, never from the request),
the signature, user presence and verification, and that the signature
counter moved forward.

Purposes: ``register`` (adding a passkey, signed in), ``second_factor``
(after a right password), ``reauth`` (confirming who you are) and
``sign_in`` ("Sign in with a passkey": a discoverable credential with user
verification, both factors at once). Compare Flask-Security-Too's
``webauthn.py`` and allauth's ``mfa/webauthn``.
"""

import hashlib
import json
import secrets
from datetime import timedelta
from urllib.parse import urlsplit

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, select, true, update
from sqlalchemy.exc import IntegrityError
from webauthn import (
    base64url_to_bytes,
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from ..extensions import db
from ..models import Passkey, User, WebAuthnChallenge, utcnow

KIND = "passkey"
PURPOSES = ("register", "second_factor", "reauth", "sign_in")
# User verification (a fingerprint, a face, a PIN) is required where the
# passkey stands alone: signing in with it, or confirming who you are.
VERIFIED_PURPOSES = frozenset({"sign_in", "reauth"})
NAME_MAX = 64

FAILED = _l("This passkey could not be used. Try again, or use another way.")
UNKNOWN = _l("This passkey is not registered here.")
EXPIRED = _l("The request expired. Try again.")
TAKEN = _l("This passkey is already registered.")


class PasskeyError(Exception):
    """A passkey ceremony that did not succeed; ``message`` says so for people."""

    def __init__(self, message):
        super().__init__(str(message))
        self.message = str(message)


def relying_party() -> tuple[str, str]:
    """The relying party id (a host name) and the origin, both from PUBLIC_URL."""
    url = current_app.config["PUBLIC_URL"]
    parts = urlsplit(url)
    return parts.hostname, f"{parts.scheme}://{parts.netloc}"


def user_handle(user: User) -> bytes:
    """The WebAuthn user handle: stable and opaque, saying nothing of the account."""
    return hashlib.sha256(b"tz_app user handle " + str(user.id).encode()).digest()


def _hash(challenge: bytes) -> str:
    return hashlib.sha256(challenge).hexdigest()


def _new_challenge(purpose: str, user: User | None) -> bytes:
    if purpose not in PURPOSES:
        raise ValueError(f"unknown passkey purpose {purpose!r}")
    challenge = secrets.token_bytes(32)
    now = utcnow()
    ttl = timedelta(seconds=current_app.config["WEBAUTHN_CHALLENGE_TTL"])
    db.session.add(
        WebAuthnChallenge(
            challenge_hash=_hash(challenge),
            purpose=purpose,
            user_id=user.id if user is not None else None,
            created_at=now,
            expires_at=now + ttl,
        )
    )
    return challenge


def _use_challenge(credential: dict, purpose: str, user: User | None) -> bytes:
    """The challenge the answer signed, used up. PasskeyError unless ours, live and unused."""
    try:
        client_data = json.loads(base64url_to_bytes(credential["response"]["clientDataJSON"]))
        challenge = base64url_to_bytes(client_data["challenge"])
    except (KeyError, TypeError, ValueError, AttributeError):
        raise PasskeyError(FAILED) from None
    now = utcnow()
    owner = (
        WebAuthnChallenge.user_id.is_(None)
        if user is None
        else WebAuthnChallenge.user_id == user.id
    )
    won = db.session.execute(
        update(WebAuthnChallenge)
        .where(
            WebAuthnChallenge.challenge_hash == _hash(challenge),
            WebAuthnChallenge.purpose == purpose,
            owner,
            WebAuthnChallenge.used_at.is_(None),
            WebAuthnChallenge.expires_at > now,
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if won != 1:
        raise PasskeyError(EXPIRED)
    return challenge


def _known_transports(stored: list) -> list[AuthenticatorTransport] | None:
    known = {t.value for t in AuthenticatorTransport}
    return [AuthenticatorTransport(t) for t in stored or () if t in known] or None


def _descriptors(user: User) -> list[PublicKeyCredentialDescriptor]:
    return [
        PublicKeyCredentialDescriptor(
            id=key.credential_id, transports=_known_transports(key.transports)
        )
        for key in describe(user)
    ]


def _options(options) -> dict:
    return json.loads(options_to_json(options))


def registration_options(user: User) -> dict:
    """Options for ``navigator.credentials.create()``; the caller commits (the challenge)."""
    rp_id, _origin = relying_party()
    return _options(
        generate_registration_options(
            rp_id=rp_id,
            rp_name="tz_app",
            user_name=user.email,
            user_id=user_handle(user),
            user_display_name=user.full_name,
            challenge=_new_challenge("register", user),
            authenticator_selection=AuthenticatorSelectionCriteria(
                resident_key=ResidentKeyRequirement.REQUIRED,
                user_verification=UserVerificationRequirement.REQUIRED,
            ),
            exclude_credentials=_descriptors(user),
        )
    )


def clean_name(name, user: User) -> str:
    """The name as given (trimmed, printable, at most 64 characters), or a numbered default."""
    if not isinstance(name, str):
        name = ""
    name = "".join(ch for ch in name if ch.isprintable()).strip()[:NAME_MAX]
    return name or str(_l("Passkey %(num)d", num=len(describe(user)) + 1))


def _transports(credential: dict) -> list[str]:
    sent = (credential.get("response") or {}).get("transports") or []
    if not isinstance(sent, list):
        return []
    return [t for t in sent if isinstance(t, str) and len(t) <= 20][:8]


def register(user: User, name, credential) -> Passkey:
    """Verify a new passkey's attestation and store it; the caller commits. Raises PasskeyError."""
    if not isinstance(credential, dict):
        raise PasskeyError(FAILED)
    challenge = _use_challenge(credential, "register", user)
    rp_id, origin = relying_party()
    try:
        verified = verify_registration_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=rp_id,
            expected_origin=origin,
            require_user_verification=True,
        )
    except (WebAuthnException, KeyError, TypeError, ValueError):
        raise PasskeyError(FAILED) from None
    passkey = Passkey(
        user_id=user.id,
        credential_id=verified.credential_id,
        public_key=verified.credential_public_key,
        sign_count=verified.sign_count,
        transports=_transports(credential),
        name=clean_name(name, user),
        backed_up=verified.credential_backed_up,
        created_at=utcnow(),
    )
    try:
        with db.session.begin_nested():
            db.session.add(passkey)
    except IntegrityError:
        raise PasskeyError(TAKEN) from None
    return passkey


def authentication_options(purpose: str, user: User | None = None) -> dict:
    """Options for ``navigator.credentials.get()``; the caller commits (the challenge).

    With ``user``, only their passkeys are offered; without, the browser
    offers any passkey it holds for this site (a discoverable credential).
    """
    rp_id, _origin = relying_party()
    required = purpose in VERIFIED_PURPOSES
    return _options(
        generate_authentication_options(
            rp_id=rp_id,
            challenge=_new_challenge(purpose, user),
            allow_credentials=_descriptors(user) if user is not None else [],
            user_verification=(
                UserVerificationRequirement.REQUIRED
                if required
                else UserVerificationRequirement.PREFERRED
            ),
        )
    )


def _credential_id(credential: dict) -> bytes:
    try:
        raw = base64url_to_bytes(credential["rawId"])
    except (KeyError, TypeError, ValueError):
        raise PasskeyError(FAILED) from None
    if not 1 <= len(raw) <= 1023:
        raise PasskeyError(FAILED)
    return raw


def verify(credential, purpose: str, user: User | None = None) -> Passkey:
    """The passkey that signed this answer to a ``purpose`` challenge, its counter moved on.

    ``user`` is whose passkey it must be (a second factor, a confirmation);
    None for "Sign in with a passkey", where the passkey says whose it is
    (the user handle it returns must agree). The challenge is used up first,
    whatever the outcome. Raises PasskeyError. The caller commits.
    """
    if purpose not in PURPOSES or purpose == "register":
        raise ValueError(f"not an authentication purpose: {purpose!r}")
    if not isinstance(credential, dict):
        raise PasskeyError(FAILED)
    challenge = _use_challenge(credential, purpose, user)
    passkey = db.session.scalar(
        select(Passkey)
        .join(Passkey.user)
        .where(Passkey.credential_id == _credential_id(credential), User.is_active == true())
    )
    if passkey is None or (user is not None and passkey.user_id != user.id):
        raise PasskeyError(UNKNOWN)
    handle = (credential.get("response") or {}).get("userHandle")
    if user is None:
        try:
            same_user = base64url_to_bytes(handle) == user_handle(passkey.user)
        except (TypeError, ValueError):
            same_user = False
        if not same_user:
            raise PasskeyError(UNKNOWN)
    rp_id, origin = relying_party()
    try:
        verified = verify_authentication_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=rp_id,
            expected_origin=origin,
            credential_public_key=passkey.public_key,
            credential_current_sign_count=passkey.sign_count,
            require_user_verification=purpose in VERIFIED_PURPOSES,
        )
    except (WebAuthnException, KeyError, TypeError, ValueError):
        raise PasskeyError(FAILED) from None
    passkey.sign_count = verified.new_sign_count
    passkey.backed_up = verified.credential_backed_up
    passkey.last_used_at = utcnow()
    return passkey


def describe(user: User) -> list[Passkey]:
    """The user's passkeys, oldest first, as /mfa/ lists them."""
    return db.session.scalars(
        select(Passkey).where(Passkey.user_id == user.id).order_by(Passkey.id)
    ).all()


def owned(user: User, passkey_id: int) -> Passkey | None:
    return db.session.scalar(
        select(Passkey).where(Passkey.id == passkey_id, Passkey.user_id == user.id)
    )


def remove(user: User) -> int:
    """Remove every passkey of ``user``; how many."""
    return db.session.execute(delete(Passkey).where(Passkey.user_id == user.id)).rowcount

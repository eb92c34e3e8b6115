"""Passkeys (WebAuthn, with py_webauthn): a second factor, and a sign-in of their own.

A ceremony is two requests. The first hands the browser options with a
challenge (tz_app.mfa.challenges: single-use, short-lived, stored as a
hash with its purpose and user). The second brings the browser's signed
answer: the challenge is read back from its ``clientDataJSON`` and used up
before anything else is checked, so every challenge serves one attempt,
right or wrong. py_webauthn then checks the
origin and relying party (from ``PUBLIC_URL``, never from the request),
the signature, user presence and verification, and that the signature
counter moved forward.

Purposes: ``register`` (adding a passkey, signed in), ``second_factor``
(after a right password), ``reauth`` (confirming who you are) and
``sign_in`` ("Sign in with a passkey": a discoverable credential with user
verification, both factors at once).
"""

import hashlib
import hmac
import json
import unicodedata
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
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from ..extensions import db
from ..models import Passkey, User, utcnow
from . import challenges

KIND = "passkey"
PURPOSES = ("register", "second_factor", "reauth", "sign_in")
# User verification (a fingerprint, a face, a PIN) is required where the
# passkey stands alone: signing in with it, or confirming who you are.
VERIFIED_PURPOSES = frozenset({"sign_in", "reauth"})
NAME_MAX = 64

# The longest credential id WebAuthn allows.
CREDENTIAL_ID_MAX = 1023

FAILED = _l("This passkey could not be used. Try again, or use another way.")
UNKNOWN = _l("This passkey is not registered here.")
EXPIRED = _l("The request expired. Try again.")
TAKEN = _l("This passkey is already registered.")
MALFORMED = _l("The browser's answer could not be read. Try again.")
NAME_TOO_LONG = _l("Use at most %(max)d characters.", max=NAME_MAX)
NAME_NOT_PRINTABLE = _l("Contains characters that are not allowed.")


class PasskeyError(Exception):
    """A passkey ceremony that did not succeed; ``message`` says so for people.

    ``user`` is whose passkey answered, when the answer named one of ours:
    the failure is theirs to see in the audit log.
    """

    def __init__(self, message, user: User | None = None):
        super().__init__(str(message))
        self.message = str(message)
        self.user = user


class Malformed(PasskeyError):
    """A request that is no answer at all: not JSON of the right shape, or a bad name."""


def relying_party() -> tuple[str, str]:
    """The relying party id (a host name) and the origin, both from PUBLIC_URL."""
    url = current_app.config["PUBLIC_URL"]
    parts = urlsplit(url)
    return parts.hostname, f"{parts.scheme}://{parts.netloc}"


def user_handle(user: User) -> bytes:
    """The WebAuthn user handle: stable and opaque, saying nothing of the account."""
    return hashlib.sha256(b"tz_app user handle " + str(user.id).encode()).digest()


def _new_challenge(purpose: str, user: User | None) -> bytes:
    if purpose not in PURPOSES:
        raise ValueError(f"unknown passkey purpose {purpose!r}")
    return challenges.issue(purpose, user)


def _use_challenge(credential: dict, purpose: str, user: User | None) -> bytes:
    """The challenge the answer signed, used up. PasskeyError unless ours, live and unused."""
    try:
        client_data = json.loads(base64url_to_bytes(credential["response"]["clientDataJSON"]))
        challenge = base64url_to_bytes(client_data["challenge"])
    except (KeyError, TypeError, ValueError, AttributeError, RecursionError):
        raise Malformed(MALFORMED) from None
    if not challenges.use(challenge, purpose, user):
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
    """The name as given, trimmed, or a numbered default ("Passkey 2") when none is.

    Raises Malformed for a name that is not text, is longer than 64
    characters or holds control characters.
    """
    if name is None:
        name = ""
    if not isinstance(name, str):
        raise Malformed(MALFORMED)
    name = name.strip()
    if len(name) > NAME_MAX:
        raise Malformed(NAME_TOO_LONG)
    if any(unicodedata.category(ch) in ("Cc", "Cs") for ch in name):
        raise Malformed(NAME_NOT_PRINTABLE)
    return name or str(_l("Passkey %(num)d", num=len(describe(user)) + 1))


def _transports(credential: dict) -> list[str]:
    """The transports the browser reported, those WebAuthn knows (a hint for later requests)."""
    response = credential.get("response")
    sent = response.get("transports") if isinstance(response, dict) else None
    if not isinstance(sent, list):
        return []
    known = {t.value for t in AuthenticatorTransport}
    return [t for t in sent if isinstance(t, str) and t in known][:8]


def register(user: User, name, credential) -> Passkey:
    """Verify a new passkey's attestation and store it; the caller commits.

    The name is checked before the challenge is used, so a refused name can
    be corrected and the same answer sent again. Raises Malformed, or
    PasskeyError when the answer does not hold or the passkey is already
    registered (to anyone).
    """
    if not isinstance(credential, dict):
        raise Malformed(MALFORMED)
    name = clean_name(name, user)
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
    except Exception:
        raise PasskeyError(FAILED) from None
    if len(verified.credential_id) > CREDENTIAL_ID_MAX:
        raise PasskeyError(FAILED)
    passkey = Passkey(
        user_id=user.id,
        credential_id=verified.credential_id,
        public_key=verified.credential_public_key,
        sign_count=verified.sign_count,
        transports=_transports(credential),
        name=name,
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
    except (KeyError, TypeError, ValueError, AttributeError):
        raise Malformed(MALFORMED) from None
    if not 1 <= len(raw) <= CREDENTIAL_ID_MAX:
        raise Malformed(MALFORMED)
    return raw


def _signed_by(passkey: Passkey, credential: dict) -> bool:
    """Whether the user handle the authenticator returned is the passkey owner's."""
    response = credential.get("response")
    handle = response.get("userHandle") if isinstance(response, dict) else None
    try:
        return hmac.compare_digest(base64url_to_bytes(handle), user_handle(passkey.user))
    except (TypeError, ValueError, AttributeError):
        return False


def verify(credential, purpose: str, user: User | None = None) -> Passkey:
    """The passkey that signed this answer to a ``purpose`` challenge, its counter moved on.

    ``user`` is whose passkey it must be (a second factor, a confirmation);
    None for "Sign in with a passkey", where the passkey says whose it is
    (the user handle it returns must agree). Passkeys of deactivated
    accounts answer nothing. The challenge is used up first, whatever the
    outcome. Raises Malformed, or PasskeyError (with ``user`` set once the
    passkey is known to be theirs). The caller commits.
    """
    if purpose not in PURPOSES or purpose == "register":
        raise ValueError(f"not an authentication purpose: {purpose!r}")
    if not isinstance(credential, dict):
        raise Malformed(MALFORMED)
    challenge = _use_challenge(credential, purpose, user)
    passkey = db.session.scalar(
        select(Passkey)
        .join(Passkey.user)
        .where(Passkey.credential_id == _credential_id(credential), User.is_active == true())
    )
    if passkey is None or (user is not None and passkey.user_id != user.id):
        raise PasskeyError(UNKNOWN)
    owner = passkey.user
    if user is None and not _signed_by(passkey, credential):
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
    except Exception:
        raise PasskeyError(FAILED, owner) from None
    # The counter moves only from the value just checked against: of two
    # answers racing with one counter value (a cloned key), one wins.
    moved = db.session.execute(
        update(Passkey)
        .where(Passkey.id == passkey.id, Passkey.sign_count == passkey.sign_count)
        .values(
            sign_count=verified.new_sign_count,
            backed_up=verified.credential_backed_up,
            last_used_at=utcnow(),
        )
        .execution_options(synchronize_session="fetch")
    ).rowcount
    if moved != 1:
        raise PasskeyError(FAILED, owner)
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

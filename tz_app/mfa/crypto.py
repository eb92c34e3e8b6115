"""Encryption of authenticator secrets at rest, with keys from the configuration.

A copy of the database alone reads no secret: each is a Fernet token
(AES-128-CBC with HMAC-SHA256, from ``cryptography``) made with the first key
of ``MFA_ENCRYPTION_KEYS``. Every key of the list decrypts, and so does one
derived from ``SECRET_KEY`` (the default when the list is empty), so keys are
rotated by putting a new one first and running ``flask mfa rotate-key``,
which re-encrypts every secret with it; then the old key can go.
"""

import base64

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app

__all__ = ["InvalidToken", "decrypt", "encrypt", "keys_from", "rotate"]


def _derived_key(secret_key: str) -> bytes:
    """A Fernet key for this purpose only, derived from SECRET_KEY."""
    raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"tz_app totp secrets").derive(
        secret_key.encode("utf-8")
    )
    return base64.urlsafe_b64encode(raw)


def keys_from(configured: str | None, secret_key: str) -> MultiFernet:
    """The keys ``MFA_ENCRYPTION_KEYS`` names (comma-separated), then SECRET_KEY's.

    Raises ValueError for a key that is not a Fernet key (32 bytes, URL-safe
    base64), so a typo stops the app at start, not at a sign-in.
    """
    keys = [Fernet(key.strip()) for key in (configured or "").split(",") if key.strip()]
    keys.append(Fernet(_derived_key(secret_key)))
    return MultiFernet(keys)


def _keys() -> MultiFernet:
    app = current_app._get_current_object()
    keys = app.extensions.get("tz_mfa_keys")
    if keys is None:
        keys = keys_from(app.config["MFA_ENCRYPTION_KEYS"], app.config["SECRET_KEY"])
        app.extensions["tz_mfa_keys"] = keys
    return keys


def encrypt(secret: str) -> str:
    return _keys().encrypt(secret.encode("ascii")).decode("ascii")


def decrypt(stored: str) -> str:
    """The secret; raises InvalidToken when no configured key opens it."""
    return _keys().decrypt(stored.encode("ascii")).decode("ascii")


def rotate(stored: str) -> str:
    """``stored`` encrypted again with the first key. Raises InvalidToken."""
    return _keys().rotate(stored.encode("ascii")).decode("ascii")

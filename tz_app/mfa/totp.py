"""The authenticator app (RFC 6238 TOTP: SHA-1, 6 digits, 30-second steps) as a second factor.

The secret (160 random bits) is stored encrypted (tz_app.mfa.crypto). It is
on once a code from the app confirmed it. A code is accepted one step either
side of now, and only for a step later than the last one accepted: a code
seen over a shoulder or replayed from a log opens nothing. Compare pyotp's
``TOTP.verify`` (which has no memory of used codes) and django-otp's
``TOTPDevice.last_t``.
"""

import hmac
import logging
import re
import time
import unicodedata
from urllib.parse import urlsplit

import pyotp
import segno
from flask import current_app
from sqlalchemy import delete, or_, select, update

from ..extensions import db
from ..models import TotpSecret, User, utcnow
from . import crypto

log = logging.getLogger("tz_app.mfa")

KIND = "totp"
STEP_SECONDS = 30
DIGITS = 6
# Steps either side of the present a code may come from: clocks drift.
DRIFT_STEPS = 1
CODE_PATTERN = re.compile(r"[0-9]{6}")


def normalize(code: str | None) -> str:
    """A code as typed ("123 456", "123-456", full-width digits) reduced to its digits."""
    return re.sub(r"[\s-]", "", unicodedata.normalize("NFKC", code or ""))


def looks_like_code(code: str | None) -> bool:
    return bool(CODE_PATTERN.fullmatch(normalize(code)))


def _row(user: User) -> TotpSecret | None:
    return db.session.get(TotpSecret, user.id)


def is_on(user: User) -> bool:
    row = _row(user)
    return row is not None and row.confirmed_at is not None


def describe(user: User) -> dict | None:
    """What /mfa/ shows: whether the app is on, and since when."""
    row = _row(user)
    if row is None or row.confirmed_at is None:
        return None
    return {"since": row.confirmed_at}


def pending_secret(user: User) -> str | None:
    """The secret being set up (shown until confirmed), or None when it is on or absent."""
    row = _row(user)
    if row is None or row.confirmed_at is not None:
        return None
    return _readable(row.secret, user)


def begin(user: User) -> str:
    """A new secret to set up, replacing one not yet confirmed; the caller commits.

    Raises ValueError when the app is already on: it is turned off first.
    """
    row = _row(user)
    if row is not None and row.confirmed_at is not None:
        raise ValueError("the authenticator app is already on")
    secret = pyotp.random_base32(32)  # 32 base32 characters: 160 bits
    if row is None:
        db.session.add(TotpSecret(user_id=user.id, secret=crypto.encrypt(secret)))
    else:
        row.secret = crypto.encrypt(secret)
        row.created_at = utcnow()
    return secret


def provisioning_uri(user: User, secret: str) -> str:
    # The app lists the account under the address people sign in at.
    issuer = urlsplit(current_app.config["PUBLIC_URL"]).hostname
    return pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=issuer)


def qr_svg(uri: str) -> str:
    """The otpauth URI as an inline SVG QR code (no script, no style attribute)."""
    return segno.make(uri, error="m").svg_inline(scale=5, dark="#000", light="#fff")


def _matching_step(secret: str, code: str, now: float) -> int | None:
    """The time step, within the allowed drift, whose code is ``code``."""
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)
    current = int(now // STEP_SECONDS)
    found = None
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        # Every candidate is compared, in constant time each.
        if hmac.compare_digest(totp.generate_otp(step), code):
            found = step
    return found


def _readable(stored: str, user: User) -> str | None:
    """The secret, or None (logged) when no configured key opens it: then no code is right."""
    try:
        return crypto.decrypt(stored)
    except crypto.InvalidToken:
        log.error(
            "the authenticator secret of user %s opens with none of the configured keys: "
            "was SECRET_KEY changed without MFA_ENCRYPTION_KEYS? (see the README)",
            user.id,
        )
        return None


def _accept_step(user: User, step: int) -> bool:
    """Record ``step`` as used unless it, or a later one, already was: one UPDATE decides."""
    won = db.session.execute(
        update(TotpSecret)
        .where(
            TotpSecret.user_id == user.id,
            TotpSecret.confirmed_at.is_not(None),
            or_(TotpSecret.last_used_step.is_(None), TotpSecret.last_used_step < step),
        )
        .values(last_used_step=step)
        .execution_options(synchronize_session=False)
    ).rowcount
    return won == 1


def verify(user: User, code: str, *, now: float | None = None) -> bool:
    """Whether ``code`` is a fresh code of the user's confirmed app; a right one is used up.

    The caller commits (or rolls back, and the code stays unused).
    """
    code = normalize(code)
    if not CODE_PATTERN.fullmatch(code):
        return False
    secret = db.session.scalar(
        select(TotpSecret.secret).where(
            TotpSecret.user_id == user.id, TotpSecret.confirmed_at.is_not(None)
        )
    )
    if secret is None:
        return False
    plain = _readable(secret, user)
    if plain is None:
        return False
    step = _matching_step(plain, code, time.time() if now is None else now)
    return step is not None and _accept_step(user, step)


def confirm(user: User, code: str, *, now: float | None = None) -> bool:
    """Turn the app being set up on when ``code`` comes from it; the caller commits."""
    code = normalize(code)
    row = _row(user)
    if row is None or row.confirmed_at is not None or not CODE_PATTERN.fullmatch(code):
        return False
    plain = _readable(row.secret, user)
    if plain is None:
        return False
    step = _matching_step(plain, code, time.time() if now is None else now)
    if step is None:
        return False
    won = db.session.execute(
        update(TotpSecret)
        .where(TotpSecret.user_id == user.id, TotpSecret.confirmed_at.is_(None))
        .values(confirmed_at=utcnow(), last_used_step=step)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.expire(row)
    return won == 1


def remove(user: User) -> int:
    """Turn the app off (or drop one being set up); how many were removed."""
    return db.session.execute(delete(TotpSecret).where(TotpSecret.user_id == user.id)).rowcount

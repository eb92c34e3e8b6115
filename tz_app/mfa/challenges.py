"""WebAuthn challenges: handed out once, kept only as a hash, used once, soon stale.

Each is 32 random bytes. The table keeps their SHA-256 with the ceremony
they serve (``purpose``, tz_app.mfa.passkeys) and whose they are (None for
"Sign in with a passkey"), for ``WEBAUTHN_CHALLENGE_TTL`` seconds. Using one
is a single conditional ``UPDATE``: of two answers racing with one
challenge, one wins.
"""

import hashlib
import secrets
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import delete, select, update

from ..extensions import db
from ..models import User, WebAuthnChallenge, utcnow

SIZE = 32
# Stale challenges deleted by each new one: more than one, so the table drains.
PURGE_BATCH = 20


def _hash(challenge: bytes) -> str:
    return hashlib.sha256(challenge).hexdigest()


def issue(purpose: str, user: User | None) -> bytes:
    """A new challenge for ``purpose``, ``user``'s (or nobody's yet). The caller commits."""
    challenge = secrets.token_bytes(SIZE)
    now = utcnow()
    purge_stale(now)
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


def use(challenge: bytes, purpose: str, user: User | None) -> bool:
    """Use ``challenge`` up: whether it was ours for this purpose and user, live, unused."""
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
    return won == 1


def purge_stale(now: datetime) -> None:
    """Delete a few expired challenges: anyone may ask for one, so none may pile up.

    Rows another request is deleting are skipped (PostgreSQL), never waited for.
    """
    stale = (
        select(WebAuthnChallenge.id)
        .where(WebAuthnChallenge.expires_at <= now)
        .limit(PURGE_BATCH)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    db.session.execute(
        delete(WebAuthnChallenge)
        .where(WebAuthnChallenge.id.in_(stale))
        .execution_options(synchronize_session=False)
    )

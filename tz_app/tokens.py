"""Link tokens for mail: random, stored as a hash, single-use, expiring, voided by the epoch.

The API (the callers commit):

- ``issue(user, purpose, *, email=None) -> str``: a new raw token for a link.
  Letter builders call it while the message is delivered, so the raw token
  exists only in the mail. Issuing a ``password_reset`` or ``invite`` voids
  the user's older unused ones of that purpose.
- ``peek(raw, purpose) -> LinkToken | None``: the token if the link is valid
  now; writes nothing (a ``GET`` of the link uses it, so a mail scanner that
  opens links consumes nothing).
- ``consume(raw, purpose) -> LinkToken | None``: marks it used, atomically:
  of two requests with one link, exactly one gets the token.
- ``void(user, purpose=None) -> int``: ends the user's unused tokens.

A token is valid while it is unused, unexpired, of that purpose, its user is
active, and the user's ``session_epoch`` is the one it was issued under:
every password change, deletion or "end every session" moves the epoch
(tz_app.sessions.end_user_sessions), and every link issued before dies. Only
the SHA-256 of a token is stored, so a copy of the table opens no account.
Compare Django's ``contrib/auth/tokens.py`` (links that die with the
password) and allauth's password reset flow.
"""

import secrets
from datetime import timedelta

from flask import current_app
from sqlalchemy import select, true, update
from sqlalchemy.orm import aliased, contains_eager
from sqlalchemy.orm.attributes import set_committed_value

from .extensions import db
from .models import LinkToken, User, utcnow
from .sessions import MAX_TOKEN_LENGTH, hash_token

# Each purpose and the setting that says how many seconds its links live.
PURPOSES = {
    "password_reset": "PASSWORD_RESET_TTL",
    "email_verify": "EMAIL_TOKEN_TTL",
    "invite": "INVITE_TTL",
    "email_change": "EMAIL_TOKEN_TTL",
    # Not a link: a correct password waiting for its second factor, held by
    # one browser's cookie (tz_app.mfa.signin).
    "mfa_sign_in": "MFA_SIGN_IN_TTL",
}
# Purposes with at most one live link: a new one voids the older.
ONE_LIVE_LINK = frozenset({"password_reset", "invite"})
# 256 random bits, URL-safe: 43 characters.
TOKEN_BYTES = 32


def _ttl(purpose: str) -> timedelta:
    if purpose not in PURPOSES:
        raise ValueError(f"unknown link purpose {purpose!r}")
    return timedelta(seconds=current_app.config[PURPOSES[purpose]])


def issue(user: User, purpose: str, *, email: str | None = None, epoch: int | None = None) -> str:
    """A new link token for ``user`` (already stored); returns the raw token.

    ``email`` is the address the link confirms (the user's own by default;
    the new one for an email change). The epoch is read from the database,
    not from ``user``, which may be older than the last "end every session",
    unless given: the one read before a password was checked, so that a
    token issued for that check dies if the password changed meanwhile.
    Raises ValueError for an unknown purpose.
    """
    ttl = _ttl(purpose)
    if purpose in ONE_LIVE_LINK:
        void(user, purpose)
    if epoch is None:
        epoch = db.session.scalar(select(User.session_epoch).where(User.id == user.id))
    raw = secrets.token_urlsafe(TOKEN_BYTES)
    now = utcnow()
    db.session.add(
        LinkToken(
            purpose=purpose,
            token_hash=hash_token(raw),
            user_id=user.id,
            email=email or user.email,
            epoch=epoch,
            created_at=now,
            expires_at=now + ttl,
        )
    )
    return raw


def _valid(now):
    """The conditions under which a stored token opens its link, in SQL."""
    owner = aliased(User)
    current_epoch = (
        select(owner.session_epoch)
        .where(owner.id == LinkToken.user_id, owner.is_active == true())
        .scalar_subquery()
    )
    return (
        LinkToken.used_at.is_(None),
        LinkToken.expires_at > now,
        LinkToken.epoch == current_epoch,
    )


def peek(raw: str, purpose: str) -> LinkToken | None:
    """The valid token ``raw`` of ``purpose`` with its user loaded, or None; writes nothing."""
    if not raw or len(raw) > MAX_TOKEN_LENGTH:
        return None
    return db.session.scalar(
        select(LinkToken)
        .join(LinkToken.user)
        .options(contains_eager(LinkToken.user))
        .where(
            LinkToken.token_hash == hash_token(raw),
            LinkToken.purpose == purpose,
            *_valid(utcnow()),
        )
    )


def consume(raw: str, purpose: str) -> LinkToken | None:
    """Mark the valid token ``raw`` used and return it, or None when it is not valid.

    One conditional UPDATE decides: of concurrent consumers of one link, the
    database lets exactly one change the row. The caller commits (with the
    change the link asked for), or rolls back and the link stays valid.
    """
    token = peek(raw, purpose)
    if token is None:
        return None
    now = utcnow()
    won = db.session.execute(
        update(LinkToken)
        .where(LinkToken.id == token.id, *_valid(now))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if won != 1:
        return None
    set_committed_value(token, "used_at", now)
    return token


def void(user: User, purpose: str | None = None) -> int:
    """End ``user``'s unused links (of ``purpose``, or all); how many.

    The tokens are loaded and changed as objects, written at the next flush:
    a deliverer issuing a new link writes nothing until the mail is sent.
    """
    now = utcnow()
    stmt = select(LinkToken).where(
        LinkToken.user_id == user.id, LinkToken.used_at.is_(None), LinkToken.expires_at > now
    )
    if purpose is not None:
        stmt = stmt.where(LinkToken.purpose == purpose)
    live = db.session.scalars(stmt).all()
    for token in live:
        token.used_at = now
    return len(live)

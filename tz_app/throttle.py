"""Password-guessing limits per account, kept in the database so every worker agrees.

Every check of a password (sign-in, the current password on the profile page)
first reserves an attempt: an audit event of a ``FAILED_KINDS`` kind written
and committed *before* bcrypt runs, in a transaction that counts the recent
failures under a per-account lock. However many requests arrive at once, at
most ``LOGIN_MAX_FAILURES`` of them get to check a password in a window. An
attempt that succeeds is rewritten to a ``SUCCEEDED_KINDS`` kind, which starts
the count again; one that fails (or never finishes) stays counted.

Accounts that do not exist are counted the same way, so the answer never tells
which emails have accounts.
"""

from datetime import datetime, timedelta
from math import ceil

from flask import current_app
from flask_babel import ngettext
from sqlalchemy import func, select

from . import audit, quotas
from .extensions import db
from .models import AuditEvent, User, utcnow

FAILED = "auth.login_failed"
SUCCEEDED = "auth.login"
LOCKED = "auth.lockout"
PASSWORD_CHECK_FAILED = "auth.password_check_failed"
PASSWORD_CHECKED = "auth.password_checked"
# A password set from a mailed link proves the mailbox, not a guess: the
# count starts again after it too.
PASSWORD_RESET = "password.reset"
INVITATION_ACCEPTED = "user.invitation_accepted"
# The right password of an account that may not sign in until its address is
# confirmed: no session, but no failure either.
UNCONFIRMED = "auth.login_unconfirmed"

# Second factors: a code at sign-in or to confirm a sensitive action counts
# like a password. A right password still waiting for its second factor
# neither counts nor starts the count again: knowing the password must not
# buy more guesses at the code.
MFA_FAILED = "auth.mfa_failed"
MFA_CHECKED = "auth.mfa_checked"
PASSWORD_OK = "auth.password_ok"

FAILED_KINDS = (FAILED, PASSWORD_CHECK_FAILED, MFA_FAILED)
SUCCEEDED_KINDS = (
    SUCCEEDED,
    PASSWORD_CHECKED,
    MFA_CHECKED,
    PASSWORD_RESET,
    INVITATION_ACCEPTED,
    UNCONFIRMED,
)


class Throttled(Exception):
    """Too many recent failures for one account; ``retry_after`` in seconds."""

    def __init__(self, retry_after: int):
        super().__init__(retry_after)
        self.retry_after = retry_after


def lockout_message(wait: int) -> str:
    minutes = max(1, ceil(wait / 60))
    return ngettext(
        "Too many failed sign-in attempts for this account. Try again in %(num)d minute.",
        "Too many failed sign-in attempts for this account. Try again in %(num)d minutes.",
        minutes,
    )


def _window() -> timedelta:
    return timedelta(seconds=current_app.config["LOGIN_FAILURE_WINDOW"])


def _limit() -> int:
    return current_app.config["LOGIN_MAX_FAILURES"]


def _recent_failures(
    email: str, now: datetime, limit: int, exclude: int | None = None
) -> list[datetime]:
    """Times of the failures that count (since the last success), newest first."""
    since = now - _window()
    last_success = db.session.scalar(
        select(func.max(AuditEvent.created_at)).where(
            AuditEvent.kind.in_(SUCCEEDED_KINDS), AuditEvent.email == email
        )
    )
    if last_success is not None:
        since = max(since, last_success)
    return quotas.recent(email, FAILED_KINDS, since=since, limit=limit, exclude=exclude)


def _wait(failures: list[datetime], now: datetime) -> int | None:
    """Seconds until the oldest counted failure leaves the window, once at the limit."""
    limit = _limit()
    if len(failures) < limit:
        return None
    unlock_at = failures[limit - 1] + _window()
    return max(1, ceil((unlock_at - now).total_seconds()))


def reserve(email: str, kind: str = FAILED, user: User | None = None) -> AuditEvent:
    """Count one attempt at ``email``'s password before it is checked, and commit.

    Returns the attempt's audit event, recorded as a failure until
    ``succeeded`` says otherwise. Raises Throttled, reserving nothing, when
    the account already has too many recent failures.
    """
    db.session.commit()  # whatever the request read so far is not part of this
    quotas.take_turn("sign-in", email)
    attempt = audit.record(kind, actor=user, target=user, email=email)
    db.session.flush()
    now = utcnow()
    wait = _wait(_recent_failures(email, now, _limit(), exclude=attempt.id), now)
    if wait is not None:
        db.session.rollback()
        raise Throttled(wait)
    db.session.commit()
    return attempt


def failed(attempt: AuditEvent) -> int | None:
    """After a wrong password: seconds to wait when this failure reached the limit.

    The attempt is already counted; this records the lockout when it begins.
    The caller commits.
    """
    now = utcnow()
    wait = _wait(_recent_failures(attempt.email, now, _limit()), now)
    if wait is not None:
        audit.record(LOCKED, actor=None, email=attempt.email)
    return wait


def succeeded(attempt: AuditEvent, kind: str, user: User) -> None:
    """Turn a reserved attempt into a success, which starts the count again. The caller commits."""
    attempt.kind = kind
    attempt.actor = user
    attempt.target = user

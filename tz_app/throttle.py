"""Login throttling per email, kept in the database so every worker agrees.

Failures are the ``auth.login_failed`` audit events; a successful sign-in
(``auth.login``) starts the count again. Accounts that do not exist are
counted the same way, so the answer never tells which emails have accounts.
"""

from datetime import datetime, timedelta
from math import ceil

from flask import current_app
from sqlalchemy import func, select

from .extensions import db
from .models import AuditEvent, utcnow

FAILED = "auth.login_failed"
SUCCEEDED = "auth.login"
LOCKED = "auth.lockout"


def _window() -> timedelta:
    return timedelta(seconds=current_app.config["LOGIN_FAILURE_WINDOW"])


def _recent_failures(email: str, now: datetime) -> list[datetime]:
    """Times of the failures that count, newest first, at most the limit."""
    limit = current_app.config["LOGIN_MAX_FAILURES"]
    since = now - _window()
    last_success = db.session.scalar(
        select(func.max(AuditEvent.created_at)).where(
            AuditEvent.kind == SUCCEEDED, AuditEvent.email == email
        )
    )
    if last_success is not None:
        since = max(since, last_success)
    return list(
        db.session.scalars(
            select(AuditEvent.created_at)
            .where(
                AuditEvent.kind == FAILED,
                AuditEvent.email == email,
                AuditEvent.created_at > since,
            )
            .order_by(AuditEvent.created_at.desc())
            .limit(limit)
        )
    )


def retry_after(email: str) -> int | None:
    """Seconds until ``email`` may try again, or None when it may try now."""
    now = utcnow()
    failures = _recent_failures(email, now)
    if len(failures) < current_app.config["LOGIN_MAX_FAILURES"]:
        return None
    unlock_at = failures[-1] + _window()
    return max(1, ceil((unlock_at - now).total_seconds()))

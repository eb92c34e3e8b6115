"""Per-address limits counted from the audit log, that hold however many requests arrive at once."""

import hashlib
from datetime import datetime, timedelta

from sqlalchemy import func, select

from . import audit
from .extensions import db
from .models import AuditEvent, utcnow


def take_turn(scope: str, key: str) -> None:
    """Hold a lock on (``scope``, ``key``) until the transaction ends.

    PostgreSQL: a transaction-scoped advisory lock on their hash. SQLite: the
    audit INSERT each caller issues next, before counting, takes the
    database's write lock, so counting and recording are one step there.
    """
    if db.session.get_bind().dialect.name == "postgresql":
        digest = hashlib.sha256(f"{scope}:{key}".encode()).digest()
        db.session.execute(
            select(func.pg_advisory_xact_lock(int.from_bytes(digest[:8], "big", signed=True)))
        )


def recorded_within(
    kind: str,
    *,
    email: str,
    counted: tuple[str, ...],
    limit: int,
    window: timedelta,
    over_limit_kind: str,
    **detail,
) -> bool:
    """Record ``kind`` for ``email``; whether it is within ``limit`` per ``window``.

    Counts the address's recent events of the ``counted`` kinds; past the
    limit the event is recorded as ``over_limit_kind`` instead and the caller
    does nothing more. Calls for one address take turns. The caller commits.
    """
    take_turn(over_limit_kind, email)
    event = audit.record(kind, email=email, **detail)
    db.session.flush()
    if len(recent(email, counted, since=utcnow() - window, limit=limit, exclude=event.id)) >= limit:
        event.kind = over_limit_kind
        return False
    return True


def recent(
    email: str,
    kinds: tuple[str, ...],
    *,
    since: datetime,
    limit: int,
    exclude: int | None = None,
) -> list[datetime]:
    """Times of ``email``'s events of ``kinds`` after ``since``, newest first, at most ``limit``."""
    stmt = (
        select(AuditEvent.created_at)
        .where(
            AuditEvent.kind.in_(kinds),
            AuditEvent.email == email,
            AuditEvent.created_at > since,
        )
        .order_by(AuditEvent.created_at.desc())
        .limit(limit)
    )
    if exclude is not None:
        stmt = stmt.where(AuditEvent.id != exclude)
    return list(db.session.scalars(stmt))

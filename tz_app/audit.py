"""Recording who did what to whom, for the audit log."""

from flask import g, has_request_context

from .extensions import db
from .models import AuditEvent, User
from .sessions import client_ip


def record(
    kind: str,
    *,
    actor: User | None = None,
    target: User | None = None,
    email: str | None = None,
    **detail,
) -> AuditEvent:
    """Add an audit event to the current transaction; the caller commits.

    ``actor`` defaults to the signed-in user. ``detail`` must never hold a
    password or a token.
    """
    if actor is None and has_request_context():
        actor = g.get("user")
    event = AuditEvent(
        kind=kind,
        actor=actor,
        target=target,
        email=email[:254] if email else None,
        ip=client_ip() if has_request_context() else None,
        detail=detail,
    )
    db.session.add(event)
    return event

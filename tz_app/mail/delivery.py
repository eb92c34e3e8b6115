"""The queue: letters queued with the change that causes them, claimed and sent by deliverers."""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app, g, has_request_context
from flask_babel import force_locale, get_locale
from sqlalchemy import delete, event, or_, select, update

from ..extensions import db
from ..i18n import DEFAULT_LANGUAGE, LANGUAGES
from ..models import MailMessage, User, utcnow
from .letters import builder_for
from .transport import open_transport

log = logging.getLogger("tz_app.mail")

# app.extensions key of the process's MailDeliverer, when it has one.
DELIVERER = "tz_mail_deliverer"
# Back-off after a failed attempt: 30 s, doubling, at most an hour, for ever.
FIRST_RETRY = 30
LAST_RETRY = 3600
ERROR_MAX = 500
_QUEUED = "tz_mail_queued"


def queue(
    kind: str,
    *,
    user: User | None = None,
    to_email: str | None = None,
    language: str | None = None,
    **params,
) -> MailMessage:
    """Add a letter of ``kind`` to the current transaction; the caller commits.

    It goes to ``to_email`` or else to the user's address as it is when the
    letter is sent. ``params`` are small JSON values for the letter's builder,
    never a token. The language is ``language``, else the user's choice,
    else the request's. Once the transaction commits, this process's
    deliverer (if any) is woken. Raises ValueError for a kind no builder is
    registered for, a language the app does not speak, or a letter with
    neither user nor address.
    """
    if builder_for(kind) is None:
        raise ValueError(f"no letter is registered for kind {kind!r}")
    if user is None and not to_email:
        raise ValueError("a letter needs a user or an address")
    if language is not None and language not in LANGUAGES:
        raise ValueError(f"no such language {language!r}; one of {', '.join(LANGUAGES)}")
    now = utcnow()
    message = MailMessage(
        kind=kind,
        to_email=to_email,
        language=language or _language_for(user),
        params=params,
        created_at=now,
        next_attempt_at=now,
        attempts=0,
    )
    if user is not None and user.id is None:
        message.user = user  # created in this same transaction
    elif user is not None:
        message.user_id = user.id
    db.session.add(message)
    _wake_after_commit()
    return message


def _language_for(user: User | None) -> str:
    if user is not None and user.locale in LANGUAGES:
        return user.locale
    if has_request_context():
        return str(get_locale())
    return DEFAULT_LANGUAGE


def _wake_after_commit() -> None:
    session = db.session()
    session.info[_QUEUED] = True
    if not event.contains(session, "after_commit", _wake_deliverer):
        event.listen(session, "after_commit", _wake_deliverer)


def _wake_deliverer(session) -> None:
    if session.info.pop(_QUEUED, False):
        deliverer = current_app.extensions.get(DELIVERER)
        if deliverer is not None:
            deliverer.wake()


@dataclass
class Delivery:
    """What one batch did: letters sent, failed (to be retried) and dropped (nothing to send)."""

    sent: int = 0
    failed: int = 0
    dropped: int = 0

    @property
    def claimed(self) -> int:
        return self.sent + self.failed + self.dropped


def _due(now: datetime) -> tuple:
    return (
        MailMessage.sent_at.is_(None),
        MailMessage.next_attempt_at <= now,
        or_(MailMessage.claimed_until.is_(None), MailMessage.claimed_until < now),
    )


def claim_due(limit: int) -> tuple[list[int], datetime]:
    """Claim up to ``limit`` due messages for this deliverer; their ids and the lease's end.

    PostgreSQL locks the rows with ``FOR UPDATE SKIP LOCKED`` (other
    deliverers pass them by instead of waiting); SQLite, where writers take
    turns, claims each row with a conditional UPDATE and keeps those it
    changed. Either way a row is claimed by one deliverer at a time, and the
    claim is committed before any mail is sent: a deliverer that dies leaves
    its rows to others once the lease ends.
    """
    now = utcnow()
    lease = now + timedelta(seconds=current_app.config["MAIL_CLAIM_SECONDS"])
    due = (
        select(MailMessage.id)
        .where(*_due(now))
        .order_by(MailMessage.next_attempt_at, MailMessage.id)
        .limit(limit)
    )
    claim = update(MailMessage).values(claimed_until=lease)
    claim = claim.execution_options(synchronize_session=False)
    if db.session.get_bind().dialect.name == "postgresql":
        ids = list(db.session.scalars(due.with_for_update(skip_locked=True)))
        if ids:
            db.session.execute(claim.where(MailMessage.id.in_(ids)))
    else:
        ids = [
            message_id
            for message_id in db.session.scalars(due).all()
            if db.session.execute(claim.where(MailMessage.id == message_id, *_due(now))).rowcount
        ]
    db.session.commit()
    return ids, lease


def deliver_due(limit: int = 50) -> int:
    """Send up to ``limit`` due messages; how many were sent."""
    return deliver_batch(limit).sent


def deliver_batch(limit: int = 50) -> Delivery:
    """Claim up to ``limit`` due messages, build and send each, and record what happened.

    Each message is built (and its link token issued and committed) and sent
    in an app context of its own, and only then marked sent; nothing is
    written to the database while SMTP talks. When the SMTP server
    cannot be reached, every claimed message counts a failed attempt and
    none is built. Messages the lease would not cover are left for the next
    batch. Nothing is sent while mail is off (production without MAIL_SERVER).
    """
    outcome = Delivery()
    if not current_app.config["MAIL_ENABLED"]:
        return outcome
    ids, lease = claim_due(limit)
    if not ids:
        return outcome
    app = current_app._get_current_object()
    # Room for one slow SMTP conversation before the lease ends.
    margin = timedelta(seconds=6 * app.config["MAIL_TIMEOUT"])
    try:
        transport = open_transport()
    except OSError as exc:
        for message_id in ids:
            _record_failure(message_id, exc)
        outcome.failed = len(ids)
        return outcome
    try:
        for position, message_id in enumerate(ids):
            if utcnow() + margin >= lease:
                _release(ids[position:])
                break
            with app.app_context():
                result = _deliver(message_id, lease, transport)
            if result:
                setattr(outcome, result, getattr(outcome, result) + 1)
    finally:
        transport.close()
    return outcome


def _deliver(message_id: int, lease: datetime, transport) -> str | None:
    """Build and send one claimed message: ``"sent"``, ``"failed"``, ``"dropped"`` or None."""
    # Flask-Babel's force_locale does nothing while ``g`` is empty.
    g.mail_message_id = message_id
    message = db.session.get(MailMessage, message_id)
    if message is None:  # its user was removed meanwhile
        return "dropped"
    if message.sent_at is not None or message.claimed_until != lease:
        return None
    kind = message.kind
    build = builder_for(kind)
    try:
        if build is None:
            raise LookupError(f"no letter is registered for kind {kind!r}")
        language = message.language if message.language in LANGUAGES else DEFAULT_LANGUAGE
        with db.session.no_autoflush, force_locale(language):
            letter = build(message)
        if letter is not None:
            # A link must open the moment its letter arrives: what building
            # the letter stored (its token) is committed before it is sent.
            # Should the sending fail, the next try's token replaces it.
            db.session.commit()
            transport.send(letter, message.id)
    except Exception as exc:  # any failure keeps the message for another try
        db.session.rollback()
        _record_failure(message_id, exc)
        return "failed"
    if letter is None:
        db.session.rollback()
        db.session.execute(delete(MailMessage).where(MailMessage.id == message_id))
        db.session.commit()
        log.info("Mail #%d (%s) dropped: nothing to send, no such account", message_id, kind)
        return "dropped"
    message.sent_at = utcnow()
    message.claimed_until = None
    db.session.commit()
    return "sent"


def _record_failure(message_id: int, exc: Exception) -> None:
    """Count a failed attempt and set the next one, 30 s later doubling to an hourly retry.

    A transport failure (an OSError: refused, timed out, rejected) is logged
    as a WARNING, any other as an ERROR with its traceback; so is every
    failure once the retries are an hour apart.
    """
    attempts = db.session.scalar(select(MailMessage.attempts).where(MailMessage.id == message_id))
    if attempts is None:
        return
    delay = min(FIRST_RETRY * 2 ** min(attempts, 16), LAST_RETRY)
    error = f"{exc.__class__.__name__}: {exc}"[:ERROR_MAX]
    db.session.execute(
        update(MailMessage)
        .where(MailMessage.id == message_id)
        .values(
            attempts=MailMessage.attempts + 1,
            last_error=error,
            next_attempt_at=utcnow() + timedelta(seconds=delay),
            claimed_until=None,
        )
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    transient = isinstance(exc, OSError)
    level = logging.WARNING if transient and delay < LAST_RETRY else logging.ERROR
    log.log(
        level,
        "Mail #%d not sent (attempt %d), next try in %d s: %s",
        message_id,
        attempts + 1,
        delay,
        error,
        exc_info=not transient,
    )


def _release(ids: list[int]) -> None:
    """Give claimed messages back, unattempted, for the next batch."""
    db.session.execute(
        update(MailMessage)
        .where(MailMessage.id.in_(ids))
        .values(claimed_until=None)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()

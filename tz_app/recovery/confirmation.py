"""Email confirmation and changes of address: what is queued, recorded and changed (callers commit).

An address is confirmed by following a link mailed to it. The letters are
queued here, in the transaction of the change that causes them, and built by
the deliverer (tz_app.recovery.letters), which issues the link token just
before the mail leaves. So a change of one's own address is pending from the
moment it is asked for: first as a queued ``email_change`` letter, then, once
sent, as the unused ``email_change`` link token it carries.
"""

from datetime import timedelta

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, literal, select, union_all

from .. import audit, quotas, tokens
from ..accounts import find_by_email, lock_for_update
from ..extensions import db
from ..mail import notify_security_change, queue
from ..models import LinkToken, MailMessage, User, utcnow

CONFIRM = "email_verify"
CHANGE = "email_change"
CHANGE_REQUESTED = "email_change_requested"
SIGNUP_ATTEMPT = "signup_attempt"

VERIFICATION_SENT = "email.verification_sent"
VERIFIED = "email.verified"
CHANGE_ASKED = "email.change_requested"
CHANGED = "email.changed"
SIGNUP_TAKEN = "user.signup_taken"
# A step past the address's hourly limit: recorded, no mail queued.
MAIL_LIMITED = "email.mail_limited"
# Mail these steps send to an address counts toward that address's hourly limit.
MAILING_KINDS = (VERIFICATION_SENT, CHANGE_ASKED, SIGNUP_TAKEN)
MAILS_PER_HOUR = 3
HOUR = timedelta(hours=1)

# What ``change_email`` did, as apply_changes names changes.
APPLIED = "email"
PENDING = "pending_email"

TOO_MANY = _l("Too many links were mailed to this address in the last hour. Try again later.")


def check_mail(email: str) -> str:
    """What a page says once a confirmation link is on its way."""
    return _(
        "We sent a message to %(email)s: follow the link in it to confirm the address.", email=email
    )


def pending_change(email: str) -> str:
    """What a page says once a change of one's own address waits for its confirmation."""
    return _(
        "We sent a link to %(email)s. Your email address changes once you follow it.", email=email
    )


class TooManyMails(Exception):
    """The address was mailed MAILS_PER_HOUR links in the last hour already."""


def mail_on() -> bool:
    return current_app.config["MAIL_ENABLED"]


def required() -> bool:
    """Whether an unconfirmed account is kept from signing in (never while mail is off)."""
    return current_app.config["REQUIRE_VERIFIED_EMAIL"] and mail_on()


def awaits_confirmation(user: User) -> bool:
    return required() and user.email_verified_at is None


def record_mailing(kind: str, email: str, **record) -> bool:
    """Record a step that mails ``email``; whether the address may have that mail.

    At most MAILS_PER_HOUR such mails an address an hour, whether or not an
    account has it; past that the step is recorded as MAIL_LIMITED and the
    caller queues nothing. Steps for one address take turns, so that
    concurrent ones cannot all find room for one more mail.
    """
    return quotas.recorded_within(
        kind,
        email=email,
        counted=MAILING_KINDS,
        limit=MAILS_PER_HOUR,
        window=HOUR,
        over_limit_kind=MAIL_LIMITED,
        **record,
    )


def send_link(user: User) -> bool:
    """Queue a confirmation link to ``user``'s address; False when mail is off or over the limit."""
    if not mail_on() or not record_mailing(VERIFICATION_SENT, user.email, target=user):
        return False
    queue(CONFIRM, user=user)
    return True


def send_link_to(email: str) -> None:
    """Queue a new link for whoever's unconfirmed account has ``email``, if any.

    The same work whether or not it exists: the deliverer looks the account
    up, and drops the letter when there is nothing to confirm.
    """
    if mail_on() and record_mailing(VERIFICATION_SENT, email):
        queue(CONFIRM, to_email=email)


def warn_owner(email: str) -> None:
    """Someone signed up with ``email``, which has an account: tell its owner, not them."""
    owner = find_by_email(email)
    if owner is not None and record_mailing(SIGNUP_TAKEN, email, actor=None, target=owner):
        queue(SIGNUP_ATTEMPT, user=owner)


def change_email(user: User, new_email: str, *, by: User) -> str:
    """Change ``user``'s address to ``new_email``, as ``by`` may; APPLIED or PENDING.

    One's own change waits for a confirmation from the new address (PENDING;
    the old one is told), unless mail is off. An administrator's change to
    someone else's applies at once, unconfirmed, and mails both addresses.
    Raises TooManyMails, changing nothing, when one's own new address had
    enough mail this hour.
    """
    if by.id != user.id or not mail_on():
        _apply(user, new_email, confirmed=False)
        send_link(user)
        return APPLIED
    if not record_mailing(CHANGE_ASKED, new_email, target=user):
        raise TooManyMails(new_email)
    tokens.void(user, CHANGE)
    queue(CHANGE, user=user, to_email=new_email)
    queue(CHANGE_REQUESTED, user=user, to_email=user.email, new_email=new_email)
    return PENDING


def _apply(user: User, new_email: str, *, confirmed: bool) -> None:
    """Set the address; the old one is told. The caller commits, or meets the unique index."""
    old_email = user.email
    user.email = new_email
    user.email_verified_at = utcnow() if confirmed else None
    tokens.void(user, CHANGE)
    notify_security_change(user, "email", old_email=old_email)
    audit.record(CHANGED, target=user, email=new_email, old_email=old_email)


def pending_email(user: User) -> str | None:
    """The address ``user`` asked to change to and has not confirmed yet, if any; one statement.

    The latest request wins: a letter still in the queue, else the live link
    a sent one carries.
    """
    queued = select(
        MailMessage.to_email.label("email"), literal(1).label("rank"), MailMessage.id
    ).where(
        MailMessage.user_id == user.id,
        MailMessage.kind == CHANGE,
        MailMessage.sent_at.is_(None),
    )
    linked = (
        select(LinkToken.email, literal(0), LinkToken.id)
        .join(LinkToken.user)
        .where(
            LinkToken.user_id == user.id,
            LinkToken.purpose == CHANGE,
            LinkToken.used_at.is_(None),
            LinkToken.expires_at > utcnow(),
            LinkToken.epoch == User.session_epoch,
        )
    )
    either = union_all(queued, linked).subquery()
    return db.session.scalar(
        select(either.c.email).order_by(either.c.rank.desc(), either.c.id.desc()).limit(1)
    )


def newest_change(user_id: int) -> int | None:
    """The id of the user's latest ``email_change`` letter: an older one is superseded."""
    return db.session.scalar(
        select(func.max(MailMessage.id)).where(
            MailMessage.user_id == user_id, MailMessage.kind == CHANGE
        )
    )


def _current(token: LinkToken | None) -> LinkToken | None:
    """A confirmation link for an address the account no longer has confirms nothing."""
    if token is not None and token.purpose == CONFIRM and token.email != token.user.email:
        return None
    return token


def open_link(raw: str) -> LinkToken | None:
    """The valid confirmation or change link ``raw``, or None; writes nothing."""
    return _current(tokens.peek(raw, CONFIRM) or tokens.peek(raw, CHANGE))


def use_link(raw: str) -> LinkToken | None:
    """Consume the link ``raw`` (see tokens.consume); None when it is not valid.

    The caller rolls back on None: the consumption of a stale link is not kept.
    """
    return _current(tokens.consume(raw, CONFIRM) or tokens.consume(raw, CHANGE))


class AddressTaken(Exception):
    """The address a link confirms belongs to another account by now."""


def confirm(token: LinkToken) -> None:
    """Act on a consumed link: confirm the address, or apply the change it confirms.

    Raises AddressTaken when another account took the new address since the
    change was asked for (the unique index has the last word: the caller
    flushes and handles IntegrityError the same way).
    """
    user = token.user
    lock_for_update(user)
    if token.purpose == CONFIRM:
        user.email_verified_at = utcnow()
        audit.record(VERIFIED, target=user, email=user.email)
        return
    other = find_by_email(token.email)
    if other is not None and other.id != user.id:
        raise AddressTaken(token.email)
    _apply(user, token.email, confirmed=True)
    audit.record(VERIFIED, target=user, email=token.email)

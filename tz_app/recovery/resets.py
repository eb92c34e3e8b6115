"""Password resets: asked for by address, three mails an address an hour, applied from a link."""

from datetime import timedelta

from flask import g

from .. import audit, mail, quotas, throttle
from ..accounts import set_password_hash
from ..extensions import db
from ..models import LinkToken, utcnow
from ..sessions import end_session
from .letters import PASSWORD_RESET

REQUESTED = "password.reset_requested"
# A request past the limit: answered like any other, no mail queued.
LIMITED = "password.reset_limited"
MAILS_PER_HOUR = 3
HOUR = timedelta(hours=1)


def request_reset(email: str) -> bool:
    """Queue a reset letter to ``email`` unless it had three this hour; whether one was queued.

    The same work whether or not an account has the address: nothing is
    looked up here (the letter's builder does that, later), so neither the
    answer nor its time tells. Requests for one address take turns, so that
    concurrent ones cannot all find room for one more mail. The caller commits.
    """
    db.session.commit()  # what the request read so far is not part of this
    if not quotas.recorded_within(
        REQUESTED,
        email=email,
        counted=(REQUESTED,),
        limit=MAILS_PER_HOUR,
        window=HOUR,
        over_limit_kind=LIMITED,
    ):
        return False
    mail.queue(PASSWORD_RESET, to_email=email)
    return True


def confirm_address(link: LinkToken) -> None:
    """A link mailed to the account's address, and followed, proves the address is the owner's."""
    user = link.user
    if user.email_verified_at is None and link.email == user.email:
        user.email_verified_at = utcnow()


def apply_reset(link: LinkToken, password_hash: str) -> None:
    """Set the password from a consumed reset link; the caller commits.

    Every session of the user ends, the one in this browser too (the reset
    does not sign in), the failed sign-in count starts again, and the owner
    gets a notice.
    """
    user = link.user
    here = g.get("auth_session")
    if here is not None and here.user_id == user.id:
        end_session(here)
    ended = set_password_hash(user, password_hash)
    confirm_address(link)
    audit.record(
        throttle.PASSWORD_RESET, actor=user, target=user, email=user.email, sessions_ended=ended
    )
    mail.notify_security_change(user, "password")

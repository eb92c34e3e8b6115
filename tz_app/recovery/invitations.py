"""Invitations: an account created without a password, and the first password set from the link."""

from flask import g

from .. import audit, mail, throttle
from ..accounts import set_password_hash
from ..models import LinkToken, User
from ..sessions import start_session
from .letters import INVITATION
from .resets import confirm_address

INVITED = "user.invited"


def send_invitation(user: User) -> None:
    """Queue an invitation to ``user``, from the signed-in administrator; the caller commits.

    A newer invitation's link voids the older one when it is sent.
    """
    inviter = g.get("user")
    mail.queue(INVITATION, user=user, inviter=inviter.full_name if inviter is not None else None)
    audit.record(INVITED, target=user, email=user.email)


def accept_invitation(link: LinkToken, password_hash: str) -> User:
    """Set the first password from a consumed invitation link and sign in; the caller commits.

    Following the link proves the address, so it counts as confirmed.
    """
    user = link.user
    set_password_hash(user, password_hash)
    confirm_address(link)
    start_session(user)
    audit.record(throttle.INVITATION_ACCEPTED, actor=user, target=user, email=user.email)
    return user

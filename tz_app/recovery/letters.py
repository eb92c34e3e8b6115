"""The recovery letters: what a queued reset, invitation or confirmation becomes when it is sent.

Each builder runs in the deliverer, just before the mail leaves: it finds the
account (None when there is none to write to: the message is dropped),
issues the link token, and renders the letter from ``templates/mail/``.
"""

from datetime import timedelta
from urllib.parse import urlsplit

from flask import current_app
from flask_babel import format_timedelta
from flask_babel import lazy_gettext as _l

from .. import tokens
from ..accounts import find_by_email
from ..extensions import db
from ..mail import Letter, compose, public_url, register
from ..models import MailMessage, User
from . import confirmation


def expires_in(setting: str) -> str:
    """When a link issued now stops working, in the letter's language ("in 1 hour")."""
    return format_timedelta(timedelta(seconds=current_app.config[setting]), add_direction=True)


def site() -> str:
    """The site's name in letters: PUBLIC_URL's host."""
    return urlsplit(current_app.config["PUBLIC_URL"]).netloc


# --- Password reset and invitations ------------------------------------------

PASSWORD_RESET = "password_reset"
INVITATION = "invite"


@register(PASSWORD_RESET)
def build_password_reset(message: MailMessage) -> Letter | None:
    """A reset link for the active account with the address asked for, if there is one.

    The request queued the address as typed (normalised) without looking it
    up, so that it did the same work whether or not an account has it; the
    look-up happens here, where nobody waits for the answer.
    """
    user = find_by_email(message.to_email)
    if user is None or not user.is_active:
        return None
    raw = tokens.issue(user, "password_reset")
    return compose(
        message,
        to=user.email,
        subject=_l("Reset your password"),
        user=user,
        expires=expires_in("PASSWORD_RESET_TTL"),
        link=public_url("recovery.reset_password", token=raw),
        link_label=_l("Choose a new password"),
    )


@register(INVITATION)
def build_invitation(message: MailMessage) -> Letter | None:
    """A link to choose a first password, while the account is active and still has none."""
    user = db.session.get(User, message.user_id) if message.user_id is not None else None
    if user is None or not user.is_active or user.has_usable_password:
        return None
    raw = tokens.issue(user, "invite")
    return compose(
        message,
        to=user.email,
        subject=_l("Your account at %(site)s", site=site()),
        user=user,
        inviter=message.params.get("inviter"),
        expires=expires_in("INVITE_TTL"),
        link=public_url("recovery.accept_invitation", token=raw),
        link_label=_l("Choose your password"),
    )


# --- Email confirmation and changes of address -------------------------------


def _addressee(message: MailMessage) -> User | None:
    """The active account a letter is for: by id, or by the address a visitor typed."""
    if message.user_id is not None:
        user = db.session.get(User, message.user_id)
    else:
        user = find_by_email(message.to_email)
    return user if user is not None and user.is_active else None


@register(confirmation.CONFIRM)
def build_confirmation(message: MailMessage) -> Letter | None:
    """A link confirming the account's address as it is now, while there is one to confirm.

    Invited accounts confirm theirs with the invitation; confirmed ones have
    nothing to do.
    """
    user = _addressee(message)
    if user is None or user.email_verified_at is not None or not user.has_usable_password:
        return None
    raw = tokens.issue(user, confirmation.CONFIRM)
    return _confirmation_letter(message, user, user.email, _l("Confirm your email address"), raw)


@register(confirmation.CHANGE)
def build_change(message: MailMessage) -> Letter | None:
    """To the new address: the link that makes it the account's, unless a later request won."""
    user = _addressee(message)
    if user is None or confirmation.newest_change(user.id) != message.id:
        return None
    tokens.void(user, confirmation.CHANGE)
    raw = tokens.issue(user, confirmation.CHANGE, email=message.to_email)
    subject = _l("Confirm your new email address")
    return _confirmation_letter(message, user, message.to_email, subject, raw)


def _confirmation_letter(message: MailMessage, user, to: str, subject, raw: str) -> Letter:
    """A letter whose link, ``raw``, confirms the address it is sent to."""
    return compose(
        message,
        to=to,
        subject=subject,
        user=user,
        expires=expires_in("EMAIL_TOKEN_TTL"),
        link=public_url("recovery.verify_email", token=raw),
        link_label=_l("Confirm your address"),
    )


@register(confirmation.CHANGE_REQUESTED)
def build_change_requested(message: MailMessage) -> Letter | None:
    """To the old address: a change to another one was asked for (it waits for confirmation)."""
    user = _addressee(message)
    if user is None:
        return None
    return compose(
        message,
        to=message.to_email,
        subject=_l("Your email address is about to change"),
        user=user,
        new_email=message.params.get("new_email"),
        link=public_url("auth.login"),
        link_label=_l("Sign in"),
    )


@register(confirmation.SIGNUP_ATTEMPT)
def build_signup_attempt(message: MailMessage) -> Letter | None:
    """To the owner of an address someone tried to sign up with: sign-up told them nothing."""
    user = _addressee(message)
    if user is None:
        return None
    return compose(
        message,
        to=user.email,
        subject=_l("Someone tried to sign up with your address"),
        user=user,
        link=public_url("auth.login"),
        link_label=_l("Sign in"),
    )

"""Security notices: mail telling people that their password, email or second factors changed."""

from flask import current_app
from flask_babel import lazy_gettext as _l

from ..extensions import db
from ..models import MailMessage, User
from .delivery import queue
from .letters import Letter, compose, public_url, register

KIND = "security_notice"
SUBJECTS = {
    "password": _l("Your password was changed"),
    "email": _l("Your email address was changed"),
    "second_factors": _l("Your second factors were changed"),
}


def notify_security_change(
    user: User, what: str, *, old_email: str | None = None
) -> MailMessage | None:
    """Queue a notice to ``user`` that ``what`` changed; the caller commits with the change.

    ``what`` is ``"password"``, ``"email"`` (the notice goes to ``old_email``,
    the address before the change, and names the new one) or
    ``"second_factors"``. Returns None, queueing nothing, when mail is off.
    Raises ValueError for anything else, or an email change without
    ``old_email``.
    """
    if what not in SUBJECTS:
        raise ValueError(f"unknown security change {what!r}; one of {', '.join(SUBJECTS)}")
    if what == "email" and not old_email:
        raise ValueError("an email change is notified to the old address: pass old_email")
    if not current_app.config["MAIL_ENABLED"]:
        return None
    if what == "email":
        return queue(KIND, user=user, to_email=old_email, what=what, new_email=user.email)
    return queue(KIND, user=user, what=what)


@register(KIND)
def build_security_notice(message: MailMessage) -> Letter | None:
    user = db.session.get(User, message.user_id) if message.user_id is not None else None
    if user is None or not user.is_active:
        return None
    what = message.params.get("what")
    if what not in SUBJECTS:
        raise ValueError(f"security notice about {what!r}")
    return compose(
        message,
        to=message.to_email or user.email,
        subject=SUBJECTS[what],
        user=user,
        what=what,
        new_email=message.params.get("new_email"),
        link=public_url("auth.login"),
        link_label=_l("Sign in"),
    )

"""Form field validators and filters shared by the blueprints."""

import unicodedata

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError
from wtforms.validators import Email, Length, StopValidation, ValidationError

from .emails import normalize_email
from .extensions import db
from .models import EMAIL_MAX, NAME_MAX  # noqa: F401  (the forms' limits are the columns')
from .passwords import password_problems


def max_length(limit: int) -> Length:
    return Length(max=limit, message=_l("Use at most %(max)d characters."))


def strip(value):
    return value.strip() if isinstance(value, str) else value


def lower(value):
    return value.lower() if isinstance(value, str) else value


def normal_email(value):
    """Filter for email fields: the address in its one normal form (tz_app.emails)."""
    return normalize_email(value) if isinstance(value, str) else value


def printable(form, field):
    """Refuse control characters (NUL included): no database stores them well."""
    value = field.data
    if isinstance(value, str) and any(
        unicodedata.category(ch) in ("Cc", "Cs") and ch not in "\t" for ch in value
    ):
        raise StopValidation(_("Contains characters that are not allowed."))


def email_format(form, field):
    if field.data:
        Email(message=_("Enter a valid email address."), check_deliverability=False)(form, field)


class PasswordPolicy:
    """The password policy of tz_app.passwords.

    It is judged against the form's ``email`` field or, for forms without one,
    the form's ``account_email`` attribute (the signed-in user's address).
    """

    def __call__(self, form, field):
        email = form.email.data if "email" in form else getattr(form, "account_email", None)
        problems = password_problems(field.data or "", email)
        if problems:
            raise ValidationError(" ".join(problems))


def stored_unless_taken(field, message) -> bool:
    """Flush the session; False when a unique index refuses what was added.

    Then the transaction is rolled back and ``message`` is put on ``field``.
    Two requests may both pass a form's check a moment apart: the unique
    index decides, never the earlier look-up.
    """
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        field.errors.append(str(message))
        return False
    return True

"""Forms of the recovery pages: addresses to send a link to, and passwords chosen from a link."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField
from wtforms.validators import DataRequired, Optional, ValidationError

from ..accounts import EMAIL_TAKEN, find_by_email
from ..validators import (
    EMAIL_MAX,
    email_format,
    max_length,
    normal_email,
    printable,
)

# --- Forgot password, reset and invitations ---------------------------------


class ForgotPasswordForm(FlaskForm):
    email = EmailField(
        _l("Email"),
        filters=[normal_email],
        validators=[
            DataRequired(_l("Enter your email.")),
            max_length(EMAIL_MAX),
            printable,
            email_format,
        ],
    )


# --- Email confirmation and changes of address -------------------------------

EMAIL_FIELD_CHECKS = [max_length(EMAIL_MAX), printable, email_format]


class ResendConfirmationForm(FlaskForm):
    """A new confirmation link: for the signed-in user (no field), or for the address given."""

    email = EmailField(
        _l("Email"), filters=[normal_email], validators=[Optional(), *EMAIL_FIELD_CHECKS]
    )


class EmailChangeForm(FlaskForm):
    """A new address for the signed-in user. The view sets ``account_email``, the current one."""

    email = EmailField(
        _l("New email address"),
        filters=[normal_email],
        validators=[DataRequired(_l("Enter an email address.")), *EMAIL_FIELD_CHECKS],
    )
    account_email = None

    def validate_email(self, field):
        if field.data == self.account_email:
            raise ValidationError(_l("This is already your email address."))
        if find_by_email(field.data) is not None:
            raise ValidationError(EMAIL_TAKEN)

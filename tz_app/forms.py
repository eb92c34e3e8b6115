"""Forms shared by the blueprints: the fields that describe a person, and a new password."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, InputRequired, Optional, ValidationError

from .accounts import EMAIL_TAKEN, find_by_email
from .validators import (
    EMAIL_MAX,
    NAME_MAX,
    PasswordPolicy,
    email_format,
    max_length,
    normal_email,
    printable,
    strip,
)


class PersonForm(FlaskForm):
    """Names and email. ``editing`` is the user being changed, None for a new one."""

    name = StringField(
        _l("First name"),
        filters=[strip],
        validators=[DataRequired(_l("Enter a first name.")), max_length(NAME_MAX), printable],
    )
    last_name = StringField(
        _l("Last name"),
        filters=[strip],
        validators=[DataRequired(_l("Enter a last name.")), max_length(NAME_MAX), printable],
    )
    paternity_name = StringField(
        _l("Patronymic (optional)"),
        filters=[strip],
        validators=[Optional(), max_length(NAME_MAX), printable],
    )
    email = EmailField(
        _l("Email"),
        filters=[normal_email],
        validators=[
            DataRequired(_l("Enter an email address.")),
            max_length(EMAIL_MAX),
            printable,
            email_format,
        ],
    )

    editing = None

    def validate_email(self, field):
        other = find_by_email(field.data)
        if other is not None and (self.editing is None or other.id != self.editing.id):
            raise ValidationError(EMAIL_TAKEN)


class NewPasswordForm(FlaskForm):
    """A new password, typed twice: chosen from a mailed link, or changed on the profile.

    The view sets ``account_email`` (the policy refuses the address itself).
    """

    new_password = PasswordField(
        _l("New password"),
        validators=[InputRequired(_l("Choose a new password.")), printable, PasswordPolicy()],
    )
    new_password_confirm = PasswordField(
        _l("Repeat new password"),
        validators=[
            InputRequired(_l("Repeat the new password.")),
            EqualTo("new_password", _l("The passwords do not match.")),
        ],
    )

"""The fields that describe a person, shared by sign-up and the user forms."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, StringField
from wtforms.validators import DataRequired, Optional, ValidationError

from .accounts import EMAIL_TAKEN, find_by_email
from .validators import EMAIL_MAX, NAME_MAX, email_format, lower, max_length, printable, strip


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
        filters=[strip, lower],
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

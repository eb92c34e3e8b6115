"""Sign-up and sign-in forms."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, InputRequired, Length, Optional

from ..passwords import MAX_LENGTH as PASSWORD_MAX
from ..validators import (
    EMAIL_MAX,
    NAME_MAX,
    PasswordPolicy,
    email_format,
    lower,
    max_length,
    printable,
    strip,
)


class LoginForm(FlaskForm):
    email = EmailField(
        _l("Email"),
        filters=[strip, lower],
        validators=[DataRequired(_l("Enter your email.")), max_length(EMAIL_MAX), printable],
    )
    password = PasswordField(
        _l("Password"),
        validators=[InputRequired(_l("Enter your password.")), max_length(PASSWORD_MAX)],
    )
    next = HiddenField(validators=[Optional(), Length(max=2000), printable])


class SignupForm(FlaskForm):
    name = StringField(
        _l("First name"),
        filters=[strip],
        validators=[DataRequired(_l("Enter your first name.")), max_length(NAME_MAX), printable],
    )
    last_name = StringField(
        _l("Last name"),
        filters=[strip],
        validators=[DataRequired(_l("Enter your last name.")), max_length(NAME_MAX), printable],
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
            DataRequired(_l("Enter your email.")),
            max_length(EMAIL_MAX),
            printable,
            email_format,
        ],
    )
    password = PasswordField(
        _l("Password"),
        validators=[InputRequired(_l("Choose a password.")), printable, PasswordPolicy()],
    )
    password_confirm = PasswordField(
        _l("Repeat password"),
        validators=[
            InputRequired(_l("Repeat the password.")),
            EqualTo("password", _l("The passwords do not match.")),
        ],
    )

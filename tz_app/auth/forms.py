"""Sign-up, sign-in and password forms."""

from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, PasswordField, StringField
from wtforms.validators import EqualTo, InputRequired, Length, Optional

from ..passwords import MAX_LENGTH as PASSWORD_MAX
from ..validators import (
    EMAIL_MAX,
    NAME_MAX,
    PasswordPolicy,
    email_format,
    lower,
    printable,
    strip,
)


class LoginForm(FlaskForm):
    email = EmailField(
        "Email",
        filters=[strip, lower],
        validators=[InputRequired("Enter your email."), Length(max=EMAIL_MAX), printable],
    )
    password = PasswordField(
        "Password",
        validators=[InputRequired("Enter your password."), Length(max=PASSWORD_MAX)],
    )
    next = HiddenField(validators=[Optional(), Length(max=2000), printable])


class SignupForm(FlaskForm):
    name = StringField(
        "First name",
        filters=[strip],
        validators=[InputRequired("Enter your first name."), Length(max=NAME_MAX), printable],
    )
    last_name = StringField(
        "Last name",
        filters=[strip],
        validators=[InputRequired("Enter your last name."), Length(max=NAME_MAX), printable],
    )
    paternity_name = StringField(
        "Patronymic (optional)",
        filters=[strip],
        validators=[Optional(), Length(max=NAME_MAX), printable],
    )
    email = EmailField(
        "Email",
        filters=[strip, lower],
        validators=[
            InputRequired("Enter your email."),
            Length(max=EMAIL_MAX),
            printable,
            email_format,
        ],
    )
    password = PasswordField(
        "Password",
        validators=[InputRequired("Choose a password."), printable, PasswordPolicy()],
    )
    password_confirm = PasswordField(
        "Repeat password",
        validators=[
            InputRequired("Repeat the password."),
            EqualTo("password", "The passwords do not match."),
        ],
    )

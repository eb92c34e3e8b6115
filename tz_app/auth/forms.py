"""Sign-up and sign-in forms."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, PasswordField
from wtforms.validators import DataRequired, EqualTo, InputRequired, Length, Optional

from ..forms import PersonForm
from ..passwords import MAX_LENGTH as PASSWORD_MAX
from ..recovery import confirmation
from ..validators import (
    EMAIL_MAX,
    PasswordPolicy,
    max_length,
    normal_email,
    printable,
)


class LoginForm(FlaskForm):
    email = EmailField(
        _l("Email"),
        filters=[normal_email],
        validators=[DataRequired(_l("Enter your email.")), max_length(EMAIL_MAX), printable],
    )
    password = PasswordField(
        _l("Password"),
        validators=[InputRequired(_l("Enter your password.")), max_length(PASSWORD_MAX)],
    )
    next = HiddenField(validators=[Optional(), Length(max=2000), printable])


class SignupForm(PersonForm):
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

    def validate_email(self, field):
        """With REQUIRE_VERIFIED_EMAIL a taken address is no error: sign-up must not tell.

        The view answers as for a new address and mails the owner instead.
        """
        if not confirmation.required():
            super().validate_email(field)

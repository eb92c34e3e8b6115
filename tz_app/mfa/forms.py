"""Forms of the second-factor pages."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, PasswordField, StringField
from wtforms.validators import InputRequired, Length, Optional

from ..passwords import MAX_LENGTH as PASSWORD_MAX
from ..validators import max_length, printable

# Long enough for a recovery code typed with spaces; anything longer is no code.
CODE_MAX = 40


class CodeForm(FlaskForm):
    """One code: from the authenticator app, or a recovery code."""

    code = StringField(
        _l("Code"),
        description=_l("The 6-digit code from your authenticator app, or a recovery code."),
        validators=[InputRequired(_l("Enter a code.")), max_length(CODE_MAX), printable],
    )


class TotpConfirmForm(FlaskForm):
    code = StringField(
        _l("Code from the app"),
        validators=[InputRequired(_l("Enter the 6-digit code.")), max_length(CODE_MAX), printable],
    )


class ReauthForm(FlaskForm):
    """Confirm who you are: the password, or a code (a passkey has its own button)."""

    password = PasswordField(_l("Password"), validators=[Optional(), max_length(PASSWORD_MAX)])
    code = StringField(
        _l("Or a code"),
        description=_l("From your authenticator app, or a recovery code."),
        validators=[Optional(), max_length(CODE_MAX), printable],
    )
    next = HiddenField(validators=[Optional(), Length(max=2000), printable])

    def validate(self, extra_validators=None) -> bool:
        if not super().validate(extra_validators):
            return False
        if not self.password.data and not (self.code.data or "").strip():
            self.password.errors.append(str(_l("Enter your password or a code.")))
            return False
        return True

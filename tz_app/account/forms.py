"""Forms for the signed-in user's own account."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import PasswordField
from wtforms.validators import EqualTo, InputRequired

from ..passwords import MAX_LENGTH as PASSWORD_MAX
from ..validators import PasswordPolicy, max_length, printable


class PasswordChangeForm(FlaskForm):
    current_password = PasswordField(
        _l("Current password"),
        validators=[InputRequired(_l("Enter your current password.")), max_length(PASSWORD_MAX)],
    )
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

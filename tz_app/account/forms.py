"""Forms for the signed-in user's own account."""

from flask_wtf import FlaskForm
from wtforms import PasswordField
from wtforms.validators import EqualTo, InputRequired, Length

from ..passwords import MAX_LENGTH as PASSWORD_MAX
from ..validators import PasswordPolicy, printable


class PasswordChangeForm(FlaskForm):
    current_password = PasswordField(
        "Current password",
        validators=[InputRequired("Enter your current password."), Length(max=PASSWORD_MAX)],
    )
    new_password = PasswordField(
        "New password",
        validators=[InputRequired("Choose a new password."), printable, PasswordPolicy()],
    )
    new_password_confirm = PasswordField(
        "Repeat new password",
        validators=[
            InputRequired("Repeat the new password."),
            EqualTo("new_password", "The passwords do not match."),
        ],
    )

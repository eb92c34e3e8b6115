"""Forms for the signed-in user's own account."""

from flask_babel import lazy_gettext as _l
from wtforms import PasswordField
from wtforms.validators import InputRequired

from ..forms import NewPasswordForm
from ..passwords import MAX_LENGTH as PASSWORD_MAX
from ..validators import max_length


class PasswordChangeForm(NewPasswordForm):
    current_password = PasswordField(
        _l("Current password"),
        validators=[InputRequired(_l("Enter your current password.")), max_length(PASSWORD_MAX)],
    )

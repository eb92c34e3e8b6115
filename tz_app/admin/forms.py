"""Forms of the administration pages."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import DataRequired, Regexp, ValidationError

from ..accounts import role_named
from ..validators import lower, max_length, strip

ROLE_NAME = Regexp(
    r"^[a-z0-9][a-z0-9_.-]*$",
    message=_l("Use lower-case Latin letters, digits, dots, dashes and underscores."),
)
ROLE_TAKEN = _l("A role with this name already exists.")


class RoleForm(FlaskForm):
    name = StringField(
        _l("Role name"),
        filters=[strip, lower],
        validators=[DataRequired(_l("Enter a role name.")), max_length(64), ROLE_NAME],
    )

    def validate_name(self, field):
        if role_named(field.data) is not None:
            raise ValidationError(ROLE_TAKEN)

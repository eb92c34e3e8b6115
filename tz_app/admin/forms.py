"""Forms of the administration pages."""

from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import InputRequired, Length, Regexp, ValidationError

from ..accounts import role_named
from ..validators import lower, strip

ROLE_NAME = Regexp(
    r"^[a-z0-9][a-z0-9_.-]*$",
    message="Use lower-case letters, digits, dots, dashes and underscores.",
)


class RoleForm(FlaskForm):
    name = StringField(
        "Role name",
        filters=[strip, lower],
        validators=[InputRequired("Enter a role name."), Length(max=64), ROLE_NAME],
    )

    def validate_name(self, field):
        if role_named(field.data) is not None:
            raise ValidationError("A role with this name already exists.")

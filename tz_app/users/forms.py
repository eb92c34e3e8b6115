"""The user form, shared by the edit page, the inline editor and admin create."""

from flask_babel import lazy_gettext as _l
from wtforms import PasswordField, SelectField
from wtforms.validators import InputRequired, Optional

from ..forms import PersonForm
from ..i18n import role_label
from ..passwords import MAX_LENGTH as PASSWORD_MAX
from ..validators import (
    PasswordPolicy,
    max_length,
    printable,
)


class UserForm(PersonForm):
    password = PasswordField(
        _l("New password"),
        description=_l("Leave empty to keep the current password."),
        validators=[Optional(), max_length(PASSWORD_MAX), printable, PasswordPolicy()],
    )
    role = SelectField(_l("Role"), choices=[])

    def __init__(self, *args, editing=None, role_names=None, **kwargs):
        """``editing``: the user being changed (None when creating one).

        ``role_names``: the roles to offer, or None to leave the role field
        out entirely, for editors who may not change roles.
        """
        super().__init__(*args, **kwargs)
        self.editing = editing
        self.account_email = editing.email if editing is not None else None
        if role_names is None:
            del self.role
        else:
            self.role.choices = [(n, role_label(n)) for n in role_names]

    def changes_password(self) -> bool:
        return "password" in self and bool(self.password.data)

    def changes_sign_in(self, user) -> bool:
        """Whether it sets a new password or email for ``user``: what signs them in."""
        return self.changes_password() or ("email" in self and self.email.data != user.email)

    def changes_role(self, user) -> bool:
        return "role" in self and self.role.data != user.role.name

    def keep_only(self, sent) -> None:
        """Drop the fields the request did not send: absent means unchanged."""
        for name in [f.name for f in self if f.name != "csrf_token"]:
            if name not in sent:
                delattr(self, name)


class NewUserForm(UserForm):
    """An account an administrator creates directly, with its first password."""

    password = PasswordField(
        _l("Initial password"),
        description=_l("Share it with the person; they can change it on their profile."),
        validators=[
            InputRequired(_l("Choose an initial password.")),
            max_length(PASSWORD_MAX),
            printable,
            PasswordPolicy(),
        ],
    )


class NewUserInvitationForm(NewUserForm):
    """An account an administrator creates while mail works: without a password, it is invited."""

    password = PasswordField(
        _l("Initial password"),
        description=_l(
            "Leave empty to send an invitation by mail: the person chooses their own "
            "password. With a password, no mail is sent."
        ),
        validators=[Optional(), max_length(PASSWORD_MAX), printable, PasswordPolicy()],
    )

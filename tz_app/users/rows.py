"""The rows of the users table, as HTML.

A page holds up to 100 rows. Written in Jinja, each row's dozen values cost
a lookup, a call, an escape and a yield apiece, about 40 µs a row; one format
string per row, every value escaped, costs a fraction of that. The table
around the rows, and what they mean, stay in ``templates/users/home.html``.
Cells leave out their optional end tags, to keep a row small.
"""

from markupsafe import Markup

from ..i18n import role_label
from ..i18n import template_gettext as _


def escape(text: str) -> str:
    """``text`` escaped as markupsafe.escape does it, to the same entities,
    without a Markup object for each of a row's values."""
    return (
        text.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&#34;")
        .replace("'", "&#39;")
    )


def render_rows(rows, *, users_url: str, restore: bool, invite: bool) -> Markup:
    """``rows`` of (user row, may edit, may delete), as the view decided them.

    ``users_url``: where every user's address starts. ``restore``: the list of
    deleted users, whose rows offer Restore and nothing else. ``invite``: a
    Resend button on the rows of invited users.
    """
    prefix = escape(users_url)
    edit, delete = escape(_("Edit")), escape(_("Delete"))
    restore_label, invite_label = escape(_("Restore")), escape(_("Resend invitation"))
    labels = {}
    html = []
    for user, may_edit, may_delete in rows:
        uid = int(user.id)
        state = user.email_state
        # Every Delete, Restore and Resend button submits the page's one form
        # (``row-action``), to its own address.
        if restore:
            actions = (
                f'<button class="btn" form="row-action" formaction="{prefix}{uid}/restore/"'
                f' data-action="restore">{restore_label}</button>'
            )
        else:
            actions = ""
            if may_edit:
                actions += (
                    f'<a class="btn" href="{prefix}{uid}/edit/" data-action="edit">{edit}</a>'
                )
            if invite and state == "invited":
                actions += (
                    f' <button class="btn" form="row-action" formaction="{prefix}{uid}/invite/"'
                    f' data-action="invite">{invite_label}</button>'
                )
            if may_delete:
                actions += (
                    f' <button class="btn btn-danger" form="row-action"'
                    f' formaction="{prefix}{uid}/delete/" data-action="delete">{delete}</button>'
                )
        role = user.role
        label = labels.get(role)
        if label is None:
            label = labels[role] = escape(role_label(role))
        html.append(
            f'\n<tr data-user-id="{uid}" data-email-state="{escape(state)}">'
            f'<td data-field="last_name">{escape(user.last_name)}'
            f'<td data-field="name">{escape(user.name)}'
            f'<td data-field="paternity_name">{escape(user.paternity_name or "")}'
            f'<td data-field="email">{escape(user.email)}'
            f'<td data-field="role"><span class="badge role-{escape(role)}">{label}</span>'
            f'<td class="actions">{actions}</tr>'
        )
    return Markup("".join(html))  # noqa: S704  (every value above is escaped)

"""The rules matrix page: every role × element with its eight flags."""

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from .. import audit
from ..extensions import db
from ..mfa import reauth
from ..models import FLAGS
from ..permissions import ELEMENTS, is_locked, permission_required
from ..rules import (
    describe_change,
    describe_change_for_people,
    elements,
    matrix,
    roles,
    set_flags,
)

bp = Blueprint("rules", __name__)


@bp.get("/admin/rules/")
@permission_required("access_rules", "read")
def show():
    return render_template(
        "admin/rules.html",
        roles=roles(),
        elements=elements(),
        matrix=matrix(),
        flags=FLAGS,
        labels=ELEMENTS,
        is_locked=is_locked,
    )


def _parse_matrix_form(role_names: set[str], element_codes: set[str]):
    """(cells on the form, {(role, element): flags sent}); 400 on a malformed name.

    The page lists its cells in hidden ``cell`` fields, so a role created while
    the page was open is left alone. A script may leave them out: then the
    form covers every role and element.
    """
    cells = set()
    for value in request.form.getlist("cell"):
        role, _sep, element = value.partition(":")
        if role not in role_names or element not in element_codes:
            abort(400, _("Unknown rule cell %(name)s.", name=repr(value)))
        cells.add((role, element))
    if not cells:
        cells = {(r, e) for r in role_names for e in element_codes}
    sent: dict[tuple[str, str], set[str]] = {cell: set() for cell in cells}
    for key in request.form:
        if key in ("csrf_token", "cell"):
            continue
        if key.count(":") != 2:
            abort(400, _("Unknown rule field %(name)s.", name=repr(key)))
        role, element, flag = key.split(":")
        if role not in role_names or element not in element_codes or flag not in FLAGS:
            abort(400, _("Unknown rule field %(name)s.", name=repr(key)))
        if (role, element) not in sent:
            abort(400, _("Field %(name)s is outside the cells on the form.", name=repr(key)))
        sent[(role, element)].add(flag)
    return sent


@bp.post("/admin/rules/")
@permission_required("access_rules", "update")
@reauth.required
def save():
    """Set exactly the flags sent, in one transaction. Locked cells are kept."""
    role_rows = {r.name: r for r in roles()}
    element_rows = {e.code: e for e in elements()}
    sent = _parse_matrix_form(set(role_rows), set(element_rows))
    changes, shown = [], []
    for (role, element), flags in sorted(sent.items()):
        if is_locked(role, element):
            continue
        turned_on, turned_off = set_flags(role_rows[role], element_rows[element], flags)
        changes += describe_change(role, element, turned_on, turned_off)
        shown += describe_change_for_people(role, element, turned_on, turned_off)
    if changes:
        audit.record("rules.changed", changes=changes)
        db.session.commit()
        flash(_("Saved: %(changes)s", changes="; ".join(shown)), "success")
    else:
        flash(_("No rule changed."), "info")
    return redirect(url_for("admin.rules.show"))

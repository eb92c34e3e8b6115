"""Roles: list with how many users hold each, create, rename, delete."""

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import false, func, select

from .. import audit
from ..accounts import ADMIN_ROLE, DEFAULT_ROLE
from ..extensions import db
from ..i18n import role_label
from ..mfa import reauth
from ..models import Role, User
from ..permissions import permission_required
from ..rules import roles_changed
from ..validators import stored_unless_taken
from .forms import ROLE_TAKEN, RoleForm

bp = Blueprint("roles", __name__)

# Code depends on these names: the admin role's locked rights, sign-up's role.
BUILT_IN = (ADMIN_ROLE, DEFAULT_ROLE)


def _roles_with_counts():
    """Each role, how many users hold it, and how many of them have no second factor."""
    held = (
        select(
            User.role_id,
            func.count(User.id).label("n"),
            func.count(User.id).filter(User.mfa_enabled == false()).label("without"),
        )
        .group_by(User.role_id)
        .subquery()
    )
    return db.session.execute(
        select(Role, func.coalesce(held.c.n, 0), func.coalesce(held.c.without, 0))
        .outerjoin(held, held.c.role_id == Role.id)
        .order_by(Role.name)
    ).all()


def _page(form: RoleForm, rename_forms=None, status=200):
    return (
        render_template(
            "admin/roles.html",
            roles=_roles_with_counts(),
            form=form,
            built_in=BUILT_IN,
            rename_forms=rename_forms or {},
        ),
        status,
    )


@bp.get("/admin/roles/")
@permission_required("roles", "read")
def index():
    return _page(RoleForm(formdata=None))


@bp.post("/admin/roles/")
@permission_required("roles", "create")
@reauth.required
def create():
    form = RoleForm()
    if not form.validate():
        return _page(form, status=400)
    # Every role's row first (each gets a new rules version): changes to the
    # set of roles queue here instead of deadlocking over each other's rows.
    roles_changed()
    role = Role(name=form.name.data)
    db.session.add(role)
    audit.record("role.created", role=role.name)
    if not stored_unless_taken(form.name, ROLE_TAKEN):
        return _page(form, status=400)
    db.session.commit()
    flash(
        _("Created role %(name)s. It has no rights until you grant some.", name=role.name),
        "success",
    )
    return redirect(url_for("admin.roles.index"))


def _editable_role(role_id: int) -> Role:
    role = db.get_or_404(Role, role_id)
    if role.name in BUILT_IN:
        abort(
            409,
            _(
                "The %(name)s role is built in and cannot be renamed or deleted.",
                name=role_label(role.name),
            ),
        )
    return role


@bp.post("/admin/roles/<id:role_id>/rename/")
@permission_required("roles", "update")
@reauth.required
def rename(role_id):
    role = _editable_role(role_id)
    form = RoleForm()
    if not form.validate():
        return _page(RoleForm(formdata=None), rename_forms={role.id: form}, status=400)
    roles_changed()  # every role's row first, as in create
    old, role.name = role.name, form.name.data
    audit.record("role.renamed", old=old, new=role.name)
    if not stored_unless_taken(form.name, ROLE_TAKEN):
        return _page(RoleForm(formdata=None), rename_forms={role.id: form}, status=400)
    db.session.commit()
    flash(_("Renamed role %(old)s to %(new)s.", old=old, new=role.name), "success")
    return redirect(url_for("admin.roles.index"))


@bp.post("/admin/roles/<id:role_id>/")
@permission_required("roles", "update")
@reauth.required
def update(role_id):
    """Whether the role requires a second factor (field ``mfa_required``: on or absent)."""
    role = db.get_or_404(Role, role_id)
    raw = request.form.get("mfa_required")
    if raw not in (None, "on"):
        abort(400, _("mfa_required is on or absent."))
    required = raw == "on"
    if role.mfa_required != required:
        role.mfa_required = required
        audit.record("role.mfa_required", role=role.name, required=required)
        db.session.commit()
    if required:
        flash(
            _(
                "Holders of %(name)s now need a second factor; those without one "
                "are led to set it up.",
                name=role_label(role.name),
            ),
            "success",
        )
    else:
        flash(
            _("%(name)s no longer requires a second factor.", name=role_label(role.name)), "success"
        )
    return redirect(url_for("admin.roles.index"))


@bp.post("/admin/roles/<id:role_id>/delete/")
@permission_required("roles", "delete")
@reauth.required
def delete(role_id):
    role = _editable_role(role_id)
    holders = db.session.scalar(select(func.count(User.id)).where(User.role_id == role.id))
    if holders:
        abort(
            409,
            ngettext(
                "The %(name)s role is held by %(num)d user; give them another role first.",
                "The %(name)s role is held by %(num)d users; give them another role first.",
                holders,
                name=role.name,
            ),
        )
    roles_changed()  # every role's row first, as in create
    audit.record("role.deleted", role=role.name)
    db.session.delete(role)
    db.session.commit()
    flash(_("Deleted role %(name)s.", name=role.name), "success")
    return redirect(url_for("admin.roles.index"))

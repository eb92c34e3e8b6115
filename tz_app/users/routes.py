"""The user list, and editing, deleting and restoring users."""

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from sqlalchemy import false, select, true
from sqlalchemy.exc import IntegrityError

from .. import audit
from ..accounts import (
    DEFAULT_ROLE,
    EMAIL_TAKEN,
    add_user_from,
    deactivate,
    is_last_admin,
    lock_for_update,
    role_named,
    set_password,
)
from ..extensions import db
from ..http import form_errors, wants_json
from ..models import Counter, User, search_key
from ..pagination import MAX_PER_PAGE, clamp_int, paginate
from ..permissions import can, permission_required, policy_for, viewer
from .forms import NewUserForm, UserForm

bp = Blueprint("users", __name__)

SEARCH_MAX = 100
# A search counts its matches up to this many, then says "more than".
SEARCH_COUNT_CAP = 1000
PROFILE_FIELDS = ("name", "last_name", "paternity_name", "email")


def active_user_or_404(user_id: int) -> User:
    """The user with this id; a deleted user is as good as missing."""
    user = db.get_or_404(User, user_id)
    if not user.is_active:
        abort(404)
    return user


def active_owner(user_id: int) -> int:
    """``owner`` for permission_required: a user account is owned by its user."""
    return active_user_or_404(user_id).id


def deleted_owner(user_id: int) -> int:
    user = db.get_or_404(User, user_id)
    if user.is_active:
        abort(404)
    return user.id


def user_count(active: bool) -> int | None:
    """Active (or deleted) users, from the trigger-kept counter; None without one."""
    counter = db.session.get(Counter, "users.active" if active else "users.deleted")
    return counter.value if counter is not None else None


def search_text() -> str:
    """The ``q`` parameter, trimmed, without control characters, length-capped."""
    raw = request.args.get("q", "")
    return "".join(ch for ch in raw if ch.isprintable()).strip()[:SEARCH_MAX]


def role_choices() -> list[str] | None:
    """Role names for the role field, or None when the viewer may not assign roles."""
    if not can(g.user, "roles", "update"):
        return None
    return list(policy_for(g.user.role).role_names)


@bp.route("/home/")
@permission_required("users", "read", owner=viewer)
def home():
    q = search_text()
    page = clamp_int(request.args.get("page"), 1, 1, 10**6)
    per_page = clamp_int(
        request.args.get("per_page"), current_app.config["USERS_PER_PAGE"], 1, MAX_PER_PAGE
    )
    show_deleted = request.args.get("show") == "deleted" and can(g.user, "users", "update")

    stmt = select(User).where(User.is_active == (false() if show_deleted else true()))
    read_all = can(g.user, "users", "read")
    if not read_all:
        stmt = stmt.where(User.id == g.user.id)
    if q:
        # Every word must appear somewhere in the names or the email.
        stmt = stmt.where(
            *(User.search_text.contains(word, autoescape=True) for word in search_key(q).split())
        )
    stmt = stmt.order_by(User.last_name, User.name, User.id)
    total = user_count(active=not show_deleted) if read_all and not q else None
    users = paginate(stmt, page, per_page, total=total, count_cap=SEARCH_COUNT_CAP, key=User.id)
    return render_template(
        "users/home.html",
        users=users,
        q=q,
        show_deleted=show_deleted,
        role_names=role_choices(),
    )


@bp.route("/users/new/", methods=["GET", "POST"])
@permission_required("users", "create")
def create():
    roles = role_choices()
    form = NewUserForm(role_names=roles)
    if request.method == "GET" and roles:
        form.role.data = DEFAULT_ROLE
    if form.validate_on_submit():
        role = role_named(form.role.data if roles else DEFAULT_ROLE)
        user = add_user_from(form, role)
        if user is not None:
            audit.record("user.created", target=user, role=role.name)
            db.session.commit()
            if wants_json():
                return jsonify(user.to_dict()), 201
            flash(
                _("Created %(name)s (%(email)s).", name=user.full_name, email=user.email), "success"
            )
            return redirect(url_for("users.home"))
    if request.method == "POST" and wants_json():
        return jsonify(errors=form_errors(form)), 400
    status = 400 if request.method == "POST" else 200
    return render_template("users/new.html", form=form), status


@bp.route("/users/<id:user_id>/edit/")
@permission_required("users", "update", owner=active_owner)
def edit(user_id):
    user = active_user_or_404(user_id)
    form = UserForm(obj=user, editing=user, role_names=role_choices())
    if "role" in form:
        form.role.data = user.role.name
    return render_template("users/edit.html", form=form, user=user)


@bp.route("/users/<id:user_id>/update/", methods=["POST"])
@permission_required("users", "update", owner=active_owner)
def update(user_id):
    user = active_user_or_404(user_id)
    # Without the right to change roles, a sent role is ignored, never applied.
    form = UserForm(editing=user, role_names=role_choices())
    form.keep_only(request.form)
    if form.validate():
        lock_for_update(user)
        changed = apply_changes(user, form)
        try:
            db.session.commit()
        except IntegrityError:
            db.session.rollback()
            form.email.errors.append(str(EMAIL_TAKEN))
        else:
            if wants_json():
                return jsonify(user.to_dict())
            flash(
                _("Saved %(name)s.", name=user.full_name) if changed else _("Nothing to change."),
                "success" if changed else "info",
            )
            return redirect(url_for("users.home"))
    if wants_json():
        return jsonify(errors=form_errors(form)), 400
    return render_template("users/edit.html", form=form, user=user), 400


def apply_changes(user: User, form: UserForm) -> list[str]:
    """Copy the sent fields onto ``user``; what changed. Raises 409 for the last admin."""
    changed = []
    for name in PROFILE_FIELDS:
        if name in form:
            value = form[name].data or None if name == "paternity_name" else form[name].data
            if getattr(user, name) != value:
                setattr(user, name, value)
                changed.append(name)
    if "role" in form and form.role.data != user.role.name:
        new_role = role_named(form.role.data)
        if is_last_admin(user):
            db.session.rollback()
            abort(
                409,
                _(
                    "This is the last active administrator: make someone else an "
                    "administrator before changing this role."
                ),
            )
        audit.record("user.role_changed", target=user, old=user.role.name, new=new_role.name)
        user.role = new_role
        changed.append("role")
    if "password" in form and form.password.data:
        set_password(user, form.password.data)
        audit.record("user.password_changed", target=user)
        changed.append("password")
    if changed:
        audit.record("user.updated", target=user, fields=changed)
    return changed


@bp.route("/users/<id:user_id>/delete/", methods=["POST"])
@permission_required("users", "delete", owner=active_owner)
def delete(user_id):
    user = active_user_or_404(user_id)
    if is_last_admin(user):
        db.session.rollback()
        abort(409, _("This is the last active administrator and cannot be deleted."))
    audit.record("user.deleted", target=user)
    deactivate(user)
    db.session.commit()
    signed_out = g.user is None
    if wants_json():
        return jsonify(deleted=user.id, signed_out=signed_out)
    if signed_out:
        flash(_("Your account has been deleted and you have been signed out."), "info")
        return redirect(url_for("auth.login"))
    flash(_("Deleted %(name)s.", name=user.full_name), "success")
    return redirect(url_for("users.home"))


@bp.route("/users/<id:user_id>/restore/", methods=["POST"])
@permission_required("users", "update", owner=None)
def restore(user_id):
    user = db.get_or_404(User, deleted_owner(user_id))
    user.is_active = True
    audit.record("user.restored", target=user)
    db.session.commit()
    if wants_json():
        return jsonify(user.to_dict())
    flash(_("Restored %(name)s. They can sign in again.", name=user.full_name), "success")
    return redirect(url_for("users.home", show="deleted"))

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
    set_password_hash,
)
from ..extensions import db
from ..http import form_errors, wants_json
from ..mail import notify_security_change
from ..mfa import reauth
from ..models import User
from ..pagination import MAX_PER_PAGE, clamp_int
from ..passwords import hash_password
from ..permissions import can, permission_required, policy_for, viewer
from ..recovery.confirmation import PENDING, TOO_MANY, TooManyMails, change_email, pending_change
from ..recovery.invitations import send_invitation
from .forms import NewUserForm, NewUserInvitationForm, UserForm
from .rows import render_rows
from .search import list_page, search_page, search_words

bp = Blueprint("users", __name__)

SEARCH_MAX = 100
# A search counts its matches up to this many, then says "more than".
SEARCH_COUNT_CAP = 1000
PROFILE_FIELDS = ("name", "last_name", "paternity_name")


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
    may = {
        "read_all": can(g.user, "users", "read"),
        "update_all": can(g.user, "users", "update"),
        "create": can(g.user, "users", "create"),
    }
    show_deleted = request.args.get("show") == "deleted" and may["update_all"]

    # A viewer who may read only themselves is listed alone.
    only = None if may["read_all"] else g.user.id
    if q:
        words = search_words(q)
        users = search_page(
            words, page, per_page, cap=SEARCH_COUNT_CAP, active=not show_deleted, only=only
        )
    else:
        users = list_page(not show_deleted, only, page, per_page)
    rows = row_rights(users.items)
    prefix = users_url()
    return render_template(
        "users/home.html",
        users=users,
        rows=render_rows(rows, users_url=prefix, restore=show_deleted, invite=may["create"]),
        may=may,
        users_url=prefix,
        q=q,
        show_deleted=show_deleted,
        role_names=role_choices(),
    )


def row_rights(rows: list) -> list[tuple]:
    """Each listed user's row, with whether the viewer may edit and delete that user.

    Decided here through can(), so the template only shows what was decided
    and never compares ids itself: once for the page when the right covers
    every user, else once per row.
    """
    anyone = {action: can(g.user, "users", action) for action in ("update", "delete")}

    def may(action, row):
        return anyone[action] or can(g.user, "users", action, owner_id=row.id)

    return [(row, may("update", row), may("delete", row)) for row in rows]


def users_url() -> str:
    """Where every user's URL starts (``/users/`` under the app's root).

    A row's links are this, the id and the action: one url_for per page
    instead of several per row.
    """
    return url_for("users.edit", user_id=0).removesuffix("0/edit/")


@bp.route("/users/new/", methods=["GET", "POST"])
@permission_required("users", "create")
def create():
    roles = role_choices()
    # Without a password the account is invited by mail: only while mail works.
    form_class = NewUserInvitationForm if current_app.config["MAIL_ENABLED"] else NewUserForm
    form = form_class(role_names=roles)
    if request.method == "GET" and roles:
        form.role.data = DEFAULT_ROLE
    if form.validate_on_submit():
        role = role_named(form.role.data if roles else DEFAULT_ROLE)
        # An account with more than the default role is a change of who holds
        # which role: it wants a recent proof of who you are.
        if role is not None and role.name != DEFAULT_ROLE and not reauth.recently_confirmed():
            return reauth.demand()
        user = add_user_from(form, role)
        if user is not None:
            audit.record("user.created", target=user, role=role.name)
            invited = not user.has_usable_password
            if invited:
                send_invitation(user)
            db.session.commit()
            if wants_json():
                return jsonify(user.to_dict()), 201
            names = {"name": user.full_name, "email": user.email}
            if invited:
                done = _("Created %(name)s (%(email)s) and sent an invitation by mail.", **names)
            else:
                done = _("Created %(name)s (%(email)s).", **names)
            flash(done, "success")
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
        # A new password or email (anyone's) or role: only with a recent proof
        # of who you are (tz_app.mfa.reauth), or a stolen session could take
        # this account, or make itself an administrator.
        sensitive = form.changes_sign_in(user) or form.changes_role(user)
        if sensitive and not reauth.recently_confirmed():
            return reauth.demand()
        # bcrypt outside any transaction, and so never while holding the row lock.
        db.session.commit()
        new_hash = hash_password(form.password.data) if form.changes_password() else None
        lock_for_update(user)
        try:
            # The unique index has the last word on the email: a request a
            # moment earlier may have taken it, and any query in
            # apply_changes may already flush it.
            changed = apply_changes(user, form, new_hash)
            db.session.commit()
        except IntegrityError:
            db.session.rollback()
            form.email.errors.append(str(EMAIL_TAKEN))
        except TooManyMails:
            db.session.rollback()
            form.email.errors.append(str(TOO_MANY))
        else:
            # One's own new address waits for its confirmation.
            pending = form.email.data if PENDING in changed else None
            if wants_json() and pending:
                return jsonify({**user.to_dict(), "pending_email": pending}), 202
            if wants_json():
                return jsonify(user.to_dict())
            flash(
                _("Saved %(name)s.", name=user.full_name) if changed else _("Nothing to change."),
                "success" if changed else "info",
            )
            if pending:
                flash(pending_change(pending), "info")
            return redirect(url_for("users.home"))
    if wants_json():
        return jsonify(errors=form_errors(form)), 400
    return render_template("users/edit.html", form=form, user=user), 400


def apply_changes(user: User, form: UserForm, new_hash: str | None) -> list[str]:
    """Copy the sent fields onto ``user``; what changed. Raises 409 for the last admin.

    ``new_hash`` is the hash of the new password the form sends, if it sends one.
    A new email is applied (``"email"``) or waits for its confirmation
    (``"pending_email"``) as tz_app.recovery.confirmation.change_email
    decides; it raises TooManyMails.
    """
    changed = []
    for name in PROFILE_FIELDS:
        if name in form:
            value = form[name].data or None if name == "paternity_name" else form[name].data
            if getattr(user, name) != value:
                setattr(user, name, value)
                changed.append(name)
    if "email" in form and form.email.data != user.email:
        changed.append(change_email(user, form.email.data, by=g.user))
    if "role" in form and form.role.data != user.role.name:
        new_role = role_named(form.role.data)
        if new_role is None:  # deleted since the form was checked
            db.session.rollback()
            abort(409, _("This role no longer exists. Reload the page and choose another."))
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
    if new_hash is not None:
        set_password_hash(user, new_hash)
        audit.record("user.password_changed", target=user)
        notify_security_change(user, "password")
        changed.append("password")
    if changed:
        audit.record("user.updated", target=user, fields=changed)
    return changed


@bp.route("/users/<id:user_id>/delete/", methods=["POST"])
@permission_required("users", "delete", owner=active_owner)
def delete(user_id):
    user = active_user_or_404(user_id)
    # The user's row before the admin role's, in the order update takes them.
    lock_for_update(user)
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

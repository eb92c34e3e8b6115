"""The signed-in user's own account: profile, password and sessions."""

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select, true

from .. import audit
from ..accounts import set_password
from ..extensions import db
from ..models import Session, User, utcnow
from ..passwords import check_password
from ..permissions import can, login_required, permission_required
from ..sessions import end_session, idle_cutoff
from ..useragent import describe
from .forms import PasswordChangeForm

bp = Blueprint("account", __name__)


def _password_form() -> PasswordChangeForm:
    form = PasswordChangeForm()
    form.account_email = g.user.email
    return form


@bp.route("/profile/")
@login_required
def profile():
    return render_template("account/profile.html", form=_password_form())


@bp.route("/profile/password/", methods=["POST"])
@login_required
def change_password():
    form = _password_form()
    if form.validate_on_submit():
        if not check_password(g.user.password_hash, form.current_password.data):
            form.current_password.errors.append(_("This is not your current password."))
        else:
            ended = set_password(g.user, form.new_password.data)
            audit.record("user.password_changed", target=g.user, sessions_ended=ended)
            db.session.commit()
            flash(
                _(
                    "Your password has been changed. You stay signed in here; "
                    "every other session has been signed out."
                ),
                "success",
            )
            return redirect(url_for("account.profile"))
    return render_template("account/profile.html", form=form), 400


def sessions_subject(**_kwargs) -> int:
    """``owner`` for the sessions page: the user whose sessions are asked for."""
    requested = request.args.get("user", "")
    if requested.isdigit() and len(requested) < 11:
        return db.get_or_404(User, int(requested)).id
    return g.user.id


def session_owner(session_id: int) -> int:
    return db.get_or_404(Session, session_id).user_id


@bp.route("/sessions/")
@permission_required("sessions", "read", owner=sessions_subject)
def sessions():
    subject = db.session.get(User, sessions_subject())
    now = utcnow()
    rows = db.session.scalars(
        select(Session)
        .where(
            Session.user_id == subject.id,
            Session.is_active == true(),
            Session.expires_at > now,
            Session.last_seen_at > idle_cutoff(now),
        )
        .order_by(Session.last_seen_at.desc())
    ).all()
    return render_template(
        "account/sessions.html",
        subject=subject,
        rows=rows,
        describe=describe,
        may_browse=can(g.user, "sessions", "read"),
    )


@bp.route("/sessions/<id:session_id>/revoke/", methods=["POST"])
@permission_required("sessions", "delete", owner=session_owner)
def revoke_session(session_id):
    target = db.session.get(Session, session_id)
    was_current = target is g.auth_session
    owner = target.user
    if target.is_active:
        end_session(target)
        audit.record("session.revoked", target=owner, session_id=target.id)
        db.session.commit()
    if was_current:
        flash(_("You have been signed out."), "info")
        return redirect(url_for("auth.login"))
    flash(_("The session has been signed out."), "success")
    if owner.id != g.user.id:
        return redirect(url_for("account.sessions", user=owner.id))
    return redirect(url_for("account.sessions"))

"""The signed-in user's own account: profile, password and sessions."""

from flask import Blueprint, abort, flash, g, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select, true
from sqlalchemy.exc import IntegrityError

from .. import audit, throttle
from ..accounts import EMAIL_TAKEN, lock_for_update, set_password_hash
from ..extensions import db
from ..http import form_errors, wants_json
from ..mail import notify_security_change
from ..mfa import reauth
from ..mfa.factors import METHODS
from ..models import Session, User, utcnow
from ..numbers import parse_id
from ..passwords import check_password, hash_password
from ..permissions import can, login_required, permission_required
from ..recovery import confirmation
from ..recovery.forms import EmailChangeForm
from ..sessions import end_session, idle_cutoff
from ..useragent import describe
from .forms import PasswordChangeForm

bp = Blueprint("account", __name__)


def _password_form() -> PasswordChangeForm:
    form = PasswordChangeForm()
    form.account_email = g.user.email
    return form


def _email_form() -> EmailChangeForm:
    form = EmailChangeForm()
    form.account_email = g.user.email
    return form


def _profile(form: PasswordChangeForm | None = None, email_form: EmailChangeForm | None = None):
    """The profile page; its forms are new ones unless given (with their errors)."""
    return render_template(
        "account/profile.html",
        form=form or _password_form(),
        email_form=email_form or _email_form(),
        pending_email=confirmation.pending_email(g.user),
        mail_on=confirmation.mail_on(),
    )


@bp.route("/profile/")
@login_required
def profile():
    return _profile()


@bp.route("/profile/email/", methods=["POST"])
@login_required
@reauth.required
def change_email():
    """A new address of one's own: it takes effect once confirmed from it (JSON: 202)."""
    user = g.user
    form = _email_form()
    if form.validate_on_submit():
        new_email = form.email.data
        lock_for_update(user)
        try:
            outcome = confirmation.change_email(user, new_email, by=user)
            db.session.commit()
        except IntegrityError:  # applied at once (mail is off) to an address just taken
            db.session.rollback()
            form.email.errors.append(str(EMAIL_TAKEN))
        except confirmation.TooManyMails:
            db.session.rollback()
            form.email.errors.append(str(confirmation.TOO_MANY))
        else:
            if outcome == confirmation.PENDING and wants_json():
                return jsonify(pending_email=new_email), 202
            if wants_json():
                return jsonify(user.to_dict())
            if outcome == confirmation.PENDING:
                flash(confirmation.pending_change(new_email), "info")
            else:
                flash(_("Your email address is now %(email)s.", email=new_email), "success")
            return redirect(url_for("account.profile"))
    if wants_json():
        return jsonify(errors=form_errors(form)), 400
    return _profile(email_form=form), 400


@bp.route("/profile/password/", methods=["POST"])
@login_required
@reauth.required
def change_password():
    form = _password_form()
    if not form.validate_on_submit():
        return _profile(form), 400
    user = g.user
    # The current password counts toward the same limit as sign-in: a stolen
    # session must not become a way to guess the password.
    try:
        attempt = throttle.reserve(user.email, throttle.PASSWORD_CHECK_FAILED, user)
    except throttle.Throttled as refused:
        return _password_locked_out(form, refused.retry_after)
    checked_hash = user.password_hash
    right = check_password(checked_hash, form.current_password.data)
    new_hash = hash_password(form.new_password.data) if right else None
    if right:
        lock_for_update(user)
        # Changed by another request while it was checked: no longer current.
        right = user.password_hash == checked_hash
    if not right:
        wait = throttle.failed(attempt)
        db.session.commit()
        if wait is not None:
            return _password_locked_out(form, wait)
        form.current_password.errors.append(_("This is not your current password."))
        return _profile(form), 400
    ended = set_password_hash(user, new_hash)
    throttle.succeeded(attempt, throttle.PASSWORD_CHECKED, user)
    audit.record("user.password_changed", target=user, sessions_ended=ended)
    notify_security_change(user, "password")
    db.session.commit()
    flash(
        _(
            "Your password has been changed. You stay signed in here; "
            "every other session has been signed out."
        ),
        "success",
    )
    return redirect(url_for("account.profile"))


def _password_locked_out(form: PasswordChangeForm, wait: int):
    form.current_password.errors.append(throttle.lockout_message(wait))
    body = _profile(form)
    return body, 429, {"Retry-After": str(wait)}


def sessions_subject(**_kwargs) -> int:
    """``owner`` for the sessions page: the user whose sessions are asked for.

    No ``user`` (or an empty one) means the viewer; a value that names no
    user, however it is written, is a 404.
    """
    requested = request.args.get("user", "")
    if not requested:
        return g.user.id
    user_id = parse_id(requested)
    if user_id is None:
        abort(404)
    return db.get_or_404(User, user_id).id


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
        methods=METHODS,
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

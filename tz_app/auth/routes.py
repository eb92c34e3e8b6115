"""Signing up, in and out."""

import logging

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from .. import audit, throttle
from ..accounts import DEFAULT_ROLE, add_user_from, authenticate, role_named
from ..extensions import db
from ..mfa import signin
from ..permissions import login_required, public
from ..recovery import confirmation
from ..sessions import client_ip, end_session, start_session
from ..urls import safe_next
from .forms import LoginForm, SignupForm

bp = Blueprint("auth", __name__)
log = logging.getLogger("tz_app.auth")

LOGIN_FAILED = _l("Invalid email or password.")


def _home():
    return redirect(url_for("users.home"))


@bp.route("/signup/", methods=["GET", "POST"])
@public
def signup():
    form = SignupForm()
    if form.validate_on_submit():
        role = role_named(DEFAULT_ROLE)
        if role is None:
            # `flask seed` has not run: nothing a visitor can fix.
            return render_template("auth/signup.html", form=form, setup_missing=True), 503
        user = add_user_from(form, role)
        if user is None and confirmation.required():
            # Answered as for a new address: only the owner learns of it, by mail.
            confirmation.warn_owner(form.email.data)
            return _check_mail(form.email.data)
        if user is not None:
            audit.record("user.signup", actor=user, target=user)
            sent = confirmation.send_link(user)
            if confirmation.required():
                return _check_mail(user.email)
            start_session(user)
            db.session.commit()
            flash(_("Welcome, %(name)s! Your account is ready.", name=user.name), "success")
            if sent:
                flash(confirmation.check_mail(user.email), "info")
            return _home()
    return render_template("auth/signup.html", form=form)


def _check_mail(email: str):
    """Sign-up done, sign-in once the address is confirmed: the same answer for any address."""
    db.session.commit()
    flash(confirmation.check_mail(email), "info")
    return redirect(url_for("auth.login"))


@bp.route("/login/", methods=["GET", "POST"])
@public
def login():
    form = LoginForm(next=request.args.get("next", ""))
    if request.method == "GET" and g.user is not None:
        return redirect(safe_next(form.next.data) or url_for("users.home"))
    if not form.validate_on_submit():
        return render_template("auth/login.html", form=form)
    email = form.email.data
    try:
        attempt = throttle.reserve(email)
    except throttle.Throttled as refused:
        log.warning("login refused: too many failures for one account (ip=%s)", client_ip())
        return _locked_out(form, refused.retry_after)
    verified = authenticate(email, form.password.data)
    if verified is not None and confirmation.awaits_confirmation(verified.user):
        # The right password, so the answer tells a guesser nothing.
        throttle.succeeded(attempt, throttle.UNCONFIRMED, verified.user)
        db.session.commit()
        return render_template("auth/login.html", form=form, unconfirmed=True), 403
    if verified is None:
        return _login_failed(form, attempt)
    user = verified.user
    if verified.upgraded_hash is not None:
        user.password_hash = verified.upgraded_hash
    if user.mfa_enabled:
        # No session yet: the second factor first (tz_app.mfa.signin).
        signin.await_second_factor(verified, attempt, form.next.data)
        db.session.commit()
        return redirect(url_for("mfa.second_factor"))
    target = signin.complete(
        user, "password", epoch=verified.epoch, attempt=attempt, next_url=form.next.data
    )
    if target is None:
        # The password changed, or the account was deleted, while it was checked.
        db.session.rollback()
        return _login_failed(form, attempt)
    db.session.commit()
    return redirect(target)


def _login_failed(form: LoginForm, attempt):
    wait = throttle.failed(attempt)
    db.session.commit()
    if wait is not None:
        return _locked_out(form, wait)
    return render_template("auth/login.html", form=form, error=LOGIN_FAILED)


def _locked_out(form: LoginForm, wait: int):
    body = render_template("auth/login.html", form=form, error=throttle.lockout_message(wait))
    return body, 429, {"Retry-After": str(wait)}


@bp.route("/logout/", methods=["POST"])
@login_required
def logout():
    user = g.user
    end_session(g.auth_session)
    audit.record("auth.logout", actor=user, target=user)
    db.session.commit()
    flash(_("You have been signed out."), "info")
    return redirect(url_for("auth.login"))

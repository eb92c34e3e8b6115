"""Signing up, in and out."""

import logging
from math import ceil

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext

from .. import audit, throttle
from ..accounts import DEFAULT_ROLE, add_user_from, authenticate, role_named
from ..extensions import db
from ..permissions import login_required, public
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
        if user is not None:
            start_session(user)
            audit.record("user.signup", actor=user, target=user)
            db.session.commit()
            flash(_("Welcome, %(name)s! Your account is ready.", name=user.name), "success")
            return _home()
    return render_template("auth/signup.html", form=form)


@bp.route("/login/", methods=["GET", "POST"])
@public
def login():
    form = LoginForm(next=request.args.get("next", ""))
    if request.method == "GET" and g.user is not None:
        return redirect(safe_next(form.next.data) or url_for("users.home"))
    if not form.validate_on_submit():
        return render_template("auth/login.html", form=form)
    email = form.email.data
    wait = throttle.retry_after(email)
    if wait is not None:
        log.warning("login refused: too many failures for one account (ip=%s)", client_ip())
        return _locked_out(form, wait)
    user = authenticate(email, form.password.data)
    if user is None:
        audit.record(throttle.FAILED, actor=None, email=email)
        wait = throttle.retry_after(email)
        if wait is not None:
            audit.record(throttle.LOCKED, actor=None, email=email)
        db.session.commit()
        if wait is not None:
            return _locked_out(form, wait)
        return render_template("auth/login.html", form=form, error=LOGIN_FAILED)
    start_session(user)
    audit.record(throttle.SUCCEEDED, actor=user, target=user, email=email)
    db.session.commit()
    return redirect(safe_next(form.next.data) or url_for("users.home"))


def _locked_out(form: LoginForm, wait: int):
    minutes = max(1, ceil(wait / 60))
    message = ngettext(
        "Too many failed sign-in attempts for this account. Try again in %(num)d minute.",
        "Too many failed sign-in attempts for this account. Try again in %(num)d minutes.",
        minutes,
    )
    body = render_template("auth/login.html", form=form, error=message)
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

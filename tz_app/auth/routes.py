"""Signing up, in and out."""

from urllib.parse import urlsplit

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from sqlalchemy.exc import IntegrityError

from .. import audit
from ..accounts import DEFAULT_ROLE, authenticate, create_user, find_by_email, role_named
from ..extensions import db
from ..permissions import login_required, public
from ..sessions import end_session, start_session
from .forms import LoginForm, SignupForm

bp = Blueprint("auth", __name__)

LOGIN_FAILED = "Invalid email or password."


def safe_next(target: str | None) -> str | None:
    """``target`` when it is a path on this site, else None (no open redirects)."""
    if not target or len(target) > 2000 or not target.startswith("/"):
        return None
    if target.startswith("//") or "\\" in target:
        return None
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target


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
        if find_by_email(form.email.data) is not None:
            form.email.errors.append("An account with this email already exists.")
        else:
            user = create_user(
                name=form.name.data,
                last_name=form.last_name.data,
                paternity_name=form.paternity_name.data,
                email=form.email.data,
                password=form.password.data,
                role=role,
            )
            try:
                db.session.flush()
            except IntegrityError:
                # Someone signed up with the same email a moment ago.
                db.session.rollback()
                form.email.errors.append("An account with this email already exists.")
            else:
                start_session(user)
                audit.record("user.signup", actor=user, target=user)
                db.session.commit()
                flash(f"Welcome, {user.name}! Your account is ready.", "success")
                return _home()
    return render_template("auth/signup.html", form=form)


@bp.route("/login/", methods=["GET", "POST"])
@public
def login():
    form = LoginForm(next=request.args.get("next", ""))
    if request.method == "GET" and g.user is not None:
        return redirect(safe_next(form.next.data) or url_for("users.home"))
    failed = False
    if form.validate_on_submit():
        user = authenticate(form.email.data, form.password.data)
        if user is not None:
            start_session(user)
            audit.record("auth.login", actor=user, target=user, email=user.email)
            db.session.commit()
            return redirect(safe_next(form.next.data) or url_for("users.home"))
        audit.record("auth.login_failed", actor=None, email=form.email.data)
        db.session.commit()
        failed = True
    return render_template("auth/login.html", form=form, error=LOGIN_FAILED if failed else None)


@bp.route("/logout/", methods=["POST"])
@login_required
def logout():
    user = g.user
    end_session(g.auth_session)
    audit.record("auth.logout", actor=user, target=user)
    db.session.commit()
    flash("You have been signed out.", "info")
    return redirect(url_for("auth.login"))

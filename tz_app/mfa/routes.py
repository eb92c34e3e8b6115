"""Pages of the second factors: set-up, the sign-in step, re-authentication, an admin's reset."""

from flask import abort, flash, g, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from sqlalchemy import exists, select

from .. import throttle
from ..extensions import db
from ..models import Passkey, User
from ..passwords import check_password
from ..permissions import login_required, permission_required, public
from ..sessions import end_user_sessions
from . import bp, factors, passkeys, reauth, recovery_codes, signin, totp
from .forms import CodeForm, ReauthForm, TotpConfirmForm

WRONG_CODE = _l("This code is not right, or it was already used.")


def has_passkeys(user: User) -> bool:
    return bool(db.session.scalar(select(exists().where(Passkey.user_id == user.id))))


def _check_code(user: User, code: str, purpose: str) -> str | None:
    """Which factor ``code`` is a fresh answer of (``totp`` or ``recovery``), using it up.

    Audited either way, for ``purpose`` (``sign_in`` or ``reauth``).
    """
    module = totp if totp.looks_like_code(code) else recovery_codes
    if not module.verify(user, code):
        factors.failed(user, module.KIND, purpose)
        return None
    factors.used(user, module.KIND, purpose)
    return module.KIND


def _codes_shown(codes: list[str], first: bool):
    """The new recovery codes, on a page of their own: the only time anyone sees them."""
    return render_template("mfa/recovery_codes.html", codes=codes, first=first)


# --- Your second factors ------------------------------------------------------


@bp.get("/mfa/")
@login_required
def index():
    user = g.user
    return render_template(
        "mfa/index.html",
        totp_state=totp.describe(user),
        passkeys=passkeys.describe(user),
        recovery=recovery_codes.describe(user),
        required=user.role.mfa_required and not user.mfa_enabled,
    )


@bp.route("/mfa/totp/", methods=["GET", "POST"])
@login_required
@reauth.required
def totp_setup():
    user = g.user
    if totp.is_on(user):
        flash(_("The authenticator app is already on."), "info")
        return redirect(url_for("mfa.index"))
    form = TotpConfirmForm()
    if form.validate_on_submit():
        if totp.confirm(user, form.code.data):
            codes = recovery_codes.generate(user)
            factors.changed(user, "totp_enabled")
            db.session.commit()
            flash(_("The authenticator app is on."), "success")
            return _codes_shown(codes, first=True)
        form.code.errors.append(str(WRONG_CODE))
    secret = totp.pending_secret(user)
    if secret is None:
        secret = totp.begin(user)
        db.session.commit()
    uri = totp.provisioning_uri(user, secret)
    status = 400 if form.errors else 200
    return render_template(
        "mfa/totp.html", form=form, secret=secret, uri=uri, qr=totp.qr_svg(uri)
    ), status


@bp.post("/mfa/totp/disable/")
@login_required
@reauth.required
def totp_disable():
    user = g.user
    if totp.remove(user):
        factors.changed(user, "totp_disabled")
        db.session.commit()
        flash(_("The authenticator app is off."), "success")
    return redirect(url_for("mfa.index"))


@bp.post("/mfa/recovery-codes/")
@login_required
@reauth.required
def recovery_codes_new():
    user = g.user
    if not user.mfa_enabled:
        abort(409, _("Set up an authenticator app or a passkey first."))
    codes = recovery_codes.generate(user)
    factors.changed(user, "recovery_codes_generated")
    db.session.commit()
    return _codes_shown(codes, first=False)


# --- The second step of signing in -------------------------------------------


def _sign_in_again():
    signin.abandon()
    flash(_("Your sign-in has expired. Enter your password again."), "info")
    return redirect(url_for("auth.login"))


@bp.route("/login/mfa/", methods=["GET", "POST"])
@public
def second_factor():
    waiting = signin.pending()
    if waiting is None:
        return _sign_in_again()
    user = waiting.user
    form = CodeForm()
    page = {"form": form, "passkeys": has_passkeys(user), "has_totp": totp.is_on(user)}
    if not form.validate_on_submit():
        return render_template("mfa/second_factor.html", **page), 400 if form.errors else 200
    try:
        attempt = throttle.reserve(user.email, throttle.MFA_FAILED, user)
    except throttle.Throttled as refused:
        form.code.errors.append(throttle.lockout_message(refused.retry_after))
        body = render_template("mfa/second_factor.html", **page)
        return body, 429, {"Retry-After": str(refused.retry_after)}
    factor = _check_code(user, form.code.data, "sign_in")
    if factor is None:
        wait = throttle.failed(attempt)
        db.session.commit()
        if wait is not None:
            form.code.errors.append(throttle.lockout_message(wait))
            body = render_template("mfa/second_factor.html", **page)
            return body, 429, {"Retry-After": str(wait)}
        form.code.errors.append(str(WRONG_CODE))
        return render_template("mfa/second_factor.html", **page)
    target = signin.complete(user, f"password+{factor}", pending=waiting, attempt=attempt)
    if target is None:
        db.session.rollback()
        return _sign_in_again()
    db.session.commit()
    if factor == recovery_codes.KIND:
        left = recovery_codes.remaining(user)
        flash(
            ngettext(
                "You signed in with a recovery code. %(num)d code is left.",
                "You signed in with a recovery code. %(num)d codes are left.",
                left,
            ),
            "info" if left > 2 else "error",
        )
    return redirect(target)


# --- Confirming who you are ---------------------------------------------------


def reauth_page(next_url: str | None = None, status: int = 200, form: ReauthForm | None = None):
    """The re-authentication page, sending the user to ``next_url`` once confirmed."""
    user = g.user
    form = form or ReauthForm(formdata=None, next=next_url or "")
    page = render_template(
        "mfa/reauth.html",
        form=form,
        codes=totp.is_on(user) or recovery_codes.remaining(user) > 0,
        passkeys=has_passkeys(user),
    )
    return page, status


def _confirm_with_password(user: User, form: ReauthForm):
    try:
        attempt = throttle.reserve(user.email, throttle.PASSWORD_CHECK_FAILED, user)
    except throttle.Throttled as refused:
        return refused.retry_after, False
    stored = user.password_hash
    db.session.commit()  # no transaction open while bcrypt runs
    if check_password(stored, form.password.data):
        throttle.succeeded(attempt, throttle.PASSWORD_CHECKED, user)
        reauth.confirm("password")
        return None, True
    return throttle.failed(attempt), False


def _confirm_with_code(user: User, form: ReauthForm):
    try:
        attempt = throttle.reserve(user.email, throttle.MFA_FAILED, user)
    except throttle.Throttled as refused:
        return refused.retry_after, False
    factor = _check_code(user, form.code.data, "reauth")
    if factor is None:
        return throttle.failed(attempt), False
    throttle.succeeded(attempt, throttle.MFA_CHECKED, user)
    reauth.confirm(factor)
    return None, True


@bp.route("/reauth/", methods=["GET", "POST"], endpoint="reauth")
@login_required
def reauth_view():
    form = ReauthForm()
    if not form.validate_on_submit():
        if form.errors:
            return reauth_page(form=form, status=400)
        return reauth_page(next_url=reauth.next_url())
    user = g.user
    if form.password.data:
        wait, confirmed = _confirm_with_password(user, form)
        field, wrong = form.password, _("This is not your password.")
    else:
        wait, confirmed = _confirm_with_code(user, form)
        field, wrong = form.code, str(WRONG_CODE)
    db.session.commit()
    if confirmed:
        return redirect(reauth.next_url())
    if wait is not None:
        field.errors.append(throttle.lockout_message(wait))
        page, _status = reauth_page(form=form)
        return page, 429, {"Retry-After": str(wait)}
    field.errors.append(wrong)
    return reauth_page(form=form, status=400)


# --- An administrator's reset ------------------------------------------------


@bp.post("/users/<id:user_id>/mfa/reset/")
@permission_required("users", "update")
@reauth.required
def reset(user_id):
    user = db.get_or_404(User, user_id)
    if not user.is_active:
        abort(404)
    removed = [kind for kind, count in factors.remove_all(user).items() if count]
    ended = end_user_sessions(user)
    factors.changed(user, "reset", removed=removed, sessions_ended=ended)
    db.session.commit()
    flash(
        _(
            "Removed the second factors of %(name)s; they are signed out everywhere.",
            name=user.full_name,
        ),
        "success",
    )
    if g.get("user") is None:  # one's own: signed out with the rest
        return redirect(url_for("auth.login"))
    return redirect(url_for("users.edit", user_id=user.id))

"""Forgot password, reset from a link, and invitations to set a first password."""

from collections.abc import Callable
from functools import wraps

from flask import (
    abort,
    current_app,
    flash,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from .. import tokens
from ..extensions import db
from ..forms import NewPasswordForm
from ..http import wants_json
from ..models import LinkToken, User
from ..passwords import hash_password
from ..permissions import permission_required, public
from . import bp, invitations
from .forms import ForgotPasswordForm
from .resets import apply_reset, request_reset

RESET_PAGE = {"title": _l("Choose a new password")}
INVITATION_PAGE = {"title": _l("Choose your password")}


def link_page(view: Callable) -> Callable:
    """For pages whose address holds a token: no Referer carries it off, no cache keeps them."""

    @wraps(view)
    def private(**kwargs):
        response = make_response(view(**kwargs))
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["Cache-Control"] = "no-store"
        return response

    return private


@bp.route("/password/forgot/", methods=["GET", "POST"])
@public
def forgot_password():
    if not current_app.config["MAIL_ENABLED"]:
        return render_template("recovery/forgot.html", form=None)
    form = ForgotPasswordForm()
    if not form.validate_on_submit():
        status = 400 if request.method == "POST" else 200
        return render_template("recovery/forgot.html", form=form), status
    request_reset(form.email.data)
    db.session.commit()
    flash(
        _(
            "If an account with this address exists, a link to choose a new password "
            "is on its way to it."
        ),
        "info",
    )
    return redirect(url_for("auth.login"))


@bp.route("/password/reset/<token>/", methods=["GET", "POST"])
@public
@link_page
def reset_password(token):
    return _password_from_link(token, "password_reset", RESET_PAGE, _finish_reset)


def _finish_reset(link: LinkToken, password_hash: str):
    apply_reset(link, password_hash)
    db.session.commit()
    flash(_("Your password has been changed. Sign in with the new one."), "success")
    return redirect(url_for("auth.login"))


@bp.route("/invite/<token>/", methods=["GET", "POST"])
@public
@link_page
def accept_invitation(token):
    return _password_from_link(token, "invite", INVITATION_PAGE, _finish_invitation)


def _finish_invitation(link: LinkToken, password_hash: str):
    user = invitations.accept_invitation(link, password_hash)
    db.session.commit()
    flash(_("Welcome, %(name)s! Your account is ready.", name=user.name), "success")
    return redirect(url_for("users.home"))


def _password_from_link(raw: str, purpose: str, page: dict, finish: Callable):
    """The form of a link that sets a password; ``finish`` applies it once the link is used up.

    ``GET`` only looks the link up. The password is hashed with no
    transaction open; then the link is consumed, atomically: of two
    submissions of one link, one gets it, the other the invalid-link page.
    """
    link = _open(raw, purpose)
    if link is None:
        return _invalid_link()
    form = NewPasswordForm()
    form.account_email = link.user.email
    if not form.validate_on_submit():
        status = 400 if request.method == "POST" else 200
        body = render_template("recovery/choose_password.html", form=form, user=link.user, **page)
        return body, status
    db.session.commit()  # no transaction stays open while bcrypt works
    password_hash = hash_password(form.new_password.data)
    link = _open(raw, purpose, consume=True)
    if link is None:  # used, replaced or voided meanwhile
        db.session.rollback()
        return _invalid_link()
    return finish(link, password_hash)


def _open(raw: str, purpose: str, *, consume: bool = False) -> LinkToken | None:
    """The valid link ``raw``, used up when ``consume``; None when invalid.

    A link also dies when the account's address is no longer the one it was
    mailed to: whoever reads the old mailbox has no say over the account.
    """
    link = tokens.consume(raw, purpose) if consume else tokens.peek(raw, purpose)
    if link is None or link.email != link.user.email:
        return None
    return link


def _invalid_link():
    return render_template("recovery/link_invalid.html"), 404


@bp.route("/users/<id:user_id>/invite/", methods=["POST"])
@permission_required("users", "create")
def resend_invitation(user_id):
    """Send the invitation again, to an account still waiting for its first password."""
    user = db.get_or_404(User, user_id)
    if not user.is_active:
        abort(404)
    if user.has_usable_password:
        abort(409, _("This account already has a password."))
    if not current_app.config["MAIL_ENABLED"]:
        abort(409, _("Mail is off: set a password for this account instead."))
    invitations.send_invitation(user)
    db.session.commit()
    if wants_json():
        return jsonify(invited=user.id)
    flash(_("Sent a new invitation to %(email)s.", email=user.email), "success")
    return redirect(url_for("users.home"))

"""Confirming an email address from a mailed link, and asking for a new link."""

from flask import abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import Conflict

from ..extensions import db
from ..http import handle_http_error
from ..permissions import public
from . import bp, confirmation
from .forms import ResendConfirmationForm
from .password import link_page


@bp.route("/email/verify/<token>/", methods=["GET", "POST"])
@public
@link_page
def verify_email(token):
    """``GET`` asks to confirm and changes nothing (mail scanners open links); ``POST`` confirms."""
    link = confirmation.open_link(token)
    if link is None:
        return _invalid_link()
    if request.method == "GET":
        return render_template("recovery/verify_email.html", email=link.email)
    link = confirmation.use_link(token)
    if link is None:  # used or replaced meanwhile
        db.session.rollback()
        return _invalid_link()
    user, email = link.user, link.email
    try:
        confirmation.confirm(link)
        db.session.commit()
    except (confirmation.AddressTaken, IntegrityError):
        db.session.rollback()
        return handle_http_error(
            Conflict(_("Another account uses %(email)s now: nothing was changed.", email=email))
        )
    if link.purpose == confirmation.CHANGE:
        flash(_("Your email address is now %(email)s.", email=email), "success")
    else:
        flash(_("Your email address %(email)s is confirmed.", email=email), "success")
    if g.user is not None and g.user.id == user.id:
        return redirect(url_for("account.profile"))
    return redirect(url_for("auth.login"))


def _invalid_link():
    form = ResendConfirmationForm()
    return render_template("recovery/verify_invalid.html", form=form), 404


@bp.route("/email/verify/resend/", methods=["POST"])
@public
def resend_confirmation():
    """A new link: for the signed-in user, or for the address sent, the same answer for any."""
    if not confirmation.mail_on():
        abort(404)
    if g.user is not None:
        return _resend_own()
    form = ResendConfirmationForm()
    if not form.validate() or not form.email.data:
        abort(400)
    confirmation.send_link_to(form.email.data)
    db.session.commit()
    flash(
        _(
            "If an account with this address is waiting for confirmation, "
            "a new link is on its way to it."
        ),
        "info",
    )
    return redirect(url_for("auth.login"))


def _resend_own():
    user = g.user
    if user.email_verified_at is not None:
        flash(_("Your email address is already confirmed."), "info")
    elif confirmation.send_link(user):
        flash(confirmation.check_mail(user.email), "info")
    else:
        flash(str(confirmation.TOO_MANY), "error")
    db.session.commit()
    return redirect(url_for("account.profile"))

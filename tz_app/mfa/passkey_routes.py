"""The passkey requests: options for the browser, then its signed answer, for each ceremony.

Every answer is JSON. Success: ``{"redirect": url}`` (and, for a new
passkey, its ``id`` and ``name``); failure: ``{"error": message}`` with
``400`` for a request that is no answer at all, ``401`` for an answer that
does not hold, and never a session cookie.
"""

from flask import abort, flash, g, jsonify, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from ..extensions import db
from ..permissions import login_required, public
from ..recovery import confirmation
from . import bp, factors, passkeys, reauth, signin

NOT_JSON = _l("Send a JSON object.")
SIGN_IN_AGAIN = _l("Your sign-in has expired. Enter your password again.")
UNCONFIRMED = _l(
    "Your email address is not confirmed yet. Follow the link we mailed to it, "
    "or ask for a new one."
)


def _body() -> dict:
    """The JSON object the request carries. Raises Malformed for anything else."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise passkeys.Malformed(NOT_JSON)
    return body


def _credential():
    return _body().get("credential")


def _refused(error: passkeys.PasskeyError, status: int = 401):
    """The failure as JSON; whatever the answer used up (its challenge) stays used."""
    db.session.commit()
    if isinstance(error, passkeys.Malformed):
        status = 400
    return jsonify(error=error.message), status


def _answered_by(user, purpose: str, *, audited_as: str):
    """Check the request's answer as ``user``'s passkey for ``purpose``, audited either way.

    Returns the refusal to send, or None when the passkey answered. The
    caller commits.
    """
    try:
        passkeys.verify(_credential(), purpose, user)
    except passkeys.PasskeyError as error:
        if _attempted(error):
            factors.failed(user, passkeys.KIND, audited_as)
        return _refused(error)
    factors.used(user, passkeys.KIND, audited_as)
    return None


def _attempted(error: passkeys.PasskeyError) -> bool:
    """Whether the request was an answer at all (a malformed one is no attempt to record)."""
    return not isinstance(error, passkeys.Malformed)


# --- Adding and removing one's passkeys --------------------------------------


@bp.post("/mfa/passkeys/options/")
@login_required
@reauth.required
def passkey_options():
    options = passkeys.registration_options(g.user)
    db.session.commit()
    return jsonify(options)


@bp.post("/mfa/passkeys/")
@login_required
@reauth.required
def passkey_add():
    user = g.user
    try:
        body = _body()
        passkey = passkeys.register(user, body.get("name"), body.get("credential"))
    except passkeys.PasskeyError as error:
        if _attempted(error):
            factors.failed(user, passkeys.KIND, "register")
        return _refused(error, 400)
    factors.changed(user, "passkey_added", name=passkey.name)
    db.session.commit()
    flash(_("Added the passkey %(name)s.", name=passkey.name), "success")
    return jsonify(id=passkey.id, name=passkey.name, redirect=url_for("mfa.index")), 201


@bp.post("/mfa/passkeys/<id:passkey_id>/delete/")
@login_required
@reauth.required
def passkey_delete(passkey_id):
    user = g.user
    passkey = passkeys.owned(user, passkey_id)
    if passkey is None:
        abort(404)
    name = passkey.name
    db.session.delete(passkey)
    factors.changed(user, "passkey_removed", name=name)
    db.session.commit()
    flash(_("Removed the passkey %(name)s.", name=name), "success")
    return redirect(url_for("mfa.index"))


# --- Sign in with a passkey: both factors at once -----------------------------


@bp.post("/login/passkey/options/")
@public
def login_passkey_options():
    options = passkeys.authentication_options("sign_in")
    db.session.commit()
    return jsonify(options)


@bp.post("/login/passkey/")
@public
def login_passkey():
    try:
        passkey = passkeys.verify(_credential(), "sign_in")
    except passkeys.PasskeyError as error:
        if error.user is not None:
            factors.failed(error.user, passkeys.KIND, "sign_in")
        return _refused(error)
    user = passkey.user
    if confirmation.awaits_confirmation(user):
        # As for the password: no sign-in until the address is confirmed.
        db.session.commit()  # the challenge stays used
        return jsonify(error=str(UNCONFIRMED)), 403
    # The epoch read with the passkey: a deletion or "end every session"
    # committed since then leaves this sign-in nothing to start.
    target = signin.complete(
        user, "passkey", epoch=user.session_epoch, next_url=request.args.get("next")
    )
    if target is None:
        db.session.rollback()
        return jsonify(error=str(passkeys.FAILED)), 401
    factors.used(user, passkeys.KIND, "sign_in")
    db.session.commit()
    return jsonify(redirect=target)


# --- A passkey as the second factor after the password -----------------------


def _expired():
    signin.abandon()
    return jsonify(error=str(SIGN_IN_AGAIN)), 401


@bp.post("/login/mfa/passkey/options/")
@public
def second_factor_passkey_options():
    waiting = signin.pending()
    if waiting is None:
        return _expired()
    options = passkeys.authentication_options("second_factor", waiting.user)
    db.session.commit()
    return jsonify(options)


@bp.post("/login/mfa/passkey/")
@public
def second_factor_passkey():
    waiting = signin.pending()
    if waiting is None:
        return _expired()
    user = waiting.user
    refused = _answered_by(user, "second_factor", audited_as="sign_in")
    if refused is not None:
        return refused
    target = signin.complete(user, "password+passkey", pending=waiting)
    if target is None:
        db.session.rollback()
        return _expired()
    db.session.commit()
    return jsonify(redirect=target)


# --- Confirming who you are with a passkey -----------------------------------


@bp.post("/reauth/passkey/options/")
@login_required
def reauth_passkey_options():
    options = passkeys.authentication_options("reauth", g.user)
    db.session.commit()
    return jsonify(options)


@bp.post("/reauth/passkey/")
@login_required
def reauth_passkey():
    refused = _answered_by(g.user, "reauth", audited_as="reauth")
    if refused is not None:
        return refused
    reauth.confirm(passkeys.KIND)
    db.session.commit()
    return jsonify(redirect=reauth.next_url())

"""The passkey requests: options for the browser, then its signed answer, for each ceremony.

Every answer is JSON. Success: ``{"redirect": url}`` (or the new passkey),
failure: ``400`` or ``401`` with ``{"error": message}`` and never a cookie.
"""

from flask import abort, flash, g, jsonify, redirect, request, url_for
from flask_babel import gettext as _

from ..extensions import db
from ..permissions import login_required, public
from . import bp, factors, passkeys, reauth, signin

NOT_JSON = "Send JSON."


def _body() -> dict:
    """The JSON object the request carries; 400 for anything else."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        abort(400, _(NOT_JSON))
    return body


def _failed(error: passkeys.PasskeyError, status: int = 400):
    return jsonify(error=error.message), status


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
    body = _body()
    user = g.user
    try:
        passkey = passkeys.register(user, body.get("name"), body.get("credential"))
    except passkeys.PasskeyError as error:
        db.session.commit()  # the challenge stays used
        return _failed(error)
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
    body = _body()
    try:
        passkey = passkeys.verify(body.get("credential"), "sign_in")
    except passkeys.PasskeyError as error:
        db.session.commit()
        return _failed(error, 401)
    user = passkey.user
    target = signin.complete(user, "passkey", next_url=request.args.get("next"))
    if target is None:
        db.session.rollback()
        return jsonify(error=_("Sign in again.")), 401
    factors.used(user, passkeys.KIND, "sign_in")
    db.session.commit()
    return jsonify(redirect=target)


# --- A passkey as the second factor after the password -----------------------


def _waiting():
    waiting = signin.pending()
    if waiting is None:
        return None, (jsonify(error=_("Your sign-in has expired. Enter your password again.")), 401)
    return waiting, None


@bp.post("/login/mfa/passkey/options/")
@public
def second_factor_passkey_options():
    waiting, refused = _waiting()
    if refused:
        return refused
    options = passkeys.authentication_options("second_factor", waiting.user)
    db.session.commit()
    return jsonify(options)


@bp.post("/login/mfa/passkey/")
@public
def second_factor_passkey():
    body = _body()
    waiting, refused = _waiting()
    if refused:
        return refused
    user = waiting.user
    try:
        passkeys.verify(body.get("credential"), "second_factor", user)
    except passkeys.PasskeyError as error:
        factors.failed(user, passkeys.KIND, "sign_in")
        db.session.commit()
        return _failed(error, 401)
    target = signin.complete(user, "password+passkey", pending=waiting)
    if target is None:
        db.session.rollback()
        signin.abandon()
        return jsonify(error=_("Your sign-in has expired. Enter your password again.")), 401
    factors.used(user, passkeys.KIND, "sign_in")
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
    body = _body()
    user = g.user
    try:
        passkeys.verify(body.get("credential"), "reauth", user)
    except passkeys.PasskeyError as error:
        factors.failed(user, passkeys.KIND, "reauth")
        db.session.commit()
        return _failed(error, 401)
    factors.used(user, passkeys.KIND, "reauth")
    reauth.confirm(passkeys.KIND)
    db.session.commit()
    return jsonify(redirect=reauth.next_url())

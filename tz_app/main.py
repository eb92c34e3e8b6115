"""The front door, the language switch and the health check."""

from flask import Blueprint, abort, current_app, g, jsonify, redirect, request, url_for
from flask_babel import gettext as _

from .extensions import db
from .i18n import LANGUAGES, set_language_cookie
from .permissions import public
from .urls import safe_next

bp = Blueprint("main", __name__)


@bp.route("/")
@public
def index():
    return redirect(url_for("users.home" if g.user is not None else "auth.login"))


@bp.route("/language/", methods=["POST"])
@public
def language():
    """Switch the interface language: for this browser, and for the user if signed in."""
    chosen = request.form.get("language", "")
    if chosen not in LANGUAGES:
        abort(400, _("Unknown language."))
    if g.user is not None and g.user.locale != chosen:
        g.user.locale = chosen
        db.session.commit()
    response = redirect(safe_next(request.form.get("next")) or url_for("main.index"))
    return set_language_cookie(response, chosen)


@bp.route("/healthz")
@public
def healthz():
    """Whether this instance reaches its database, answered within 2 seconds.

    Load balancers ask while pages may be waiting on a lock or on a database
    that stopped answering: the check has its own connection and deadline
    (tz_app.health), and gunicorn.conf.py serves it apart from the threads
    pages use.
    """
    if not current_app.extensions["tz_health"].database_answers():
        return jsonify(status="unavailable", reason="database unreachable"), 503
    return jsonify(status="ok")

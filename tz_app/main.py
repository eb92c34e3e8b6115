"""The front door, the language switch and the health check."""

import logging

from flask import Blueprint, abort, g, jsonify, redirect, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from .extensions import db
from .i18n import LANGUAGES, set_language_cookie
from .permissions import public
from .urls import safe_next

bp = Blueprint("main", __name__)
log = logging.getLogger("tz_app.health")


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
    try:
        db.session.execute(select(1))
    except SQLAlchemyError as exc:
        db.session.rollback()
        log.error("health check: database unreachable: %s", exc.__class__.__name__)
        return jsonify(status="unavailable", reason="database unreachable"), 503
    return jsonify(status="ok")

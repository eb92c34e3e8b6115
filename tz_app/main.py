"""The front door and the health check."""

import logging

from flask import Blueprint, g, jsonify, redirect, url_for
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from .extensions import db
from .permissions import public

bp = Blueprint("main", __name__)
log = logging.getLogger("tz_app.health")


@bp.route("/")
@public
def index():
    return redirect(url_for("users.home" if g.user is not None else "auth.login"))


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

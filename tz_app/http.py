"""HTTP plumbing: content negotiation, error pages, security headers, URL ids."""

import logging

from flask import current_app, g, jsonify, render_template, request
from werkzeug.exceptions import HTTPException, InternalServerError
from werkzeug.routing import IntegerConverter

from .extensions import db

log = logging.getLogger("tz_app.http")

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


class IdConverter(IntegerConverter):
    """A database id: 1 to 2**31-1, so a huge number is a 404, not a DB error."""

    def __init__(self, url_map):
        super().__init__(url_map, min=1, max=2**31 - 1)


def wants_json() -> bool:
    """Whether the client prefers JSON to HTML; ``*/*`` gets HTML."""
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json"


def handle_http_error(error: HTTPException):
    """One handler for every error page, HTML or JSON as the client asked."""
    code = error.code or 500
    if code >= 500:
        db.session.rollback()
    description = error.description or ""
    if wants_json():
        response = jsonify(error=error.name, message=description, status=code)
        response.status_code = code
    else:
        response = current_app.make_response(
            (render_template("errors/error.html", error=error, code=code), code)
        )
    # Keep headers an error carries, such as Allow for 405 or Retry-After for 429.
    for name, value in error.get_headers():
        if name.lower() != "content-type":
            response.headers[name] = value
    return response


def handle_unexpected_error(error: Exception):
    log.exception("unhandled error on %s %s", request.method, request.path)
    return handle_http_error(InternalServerError())


def security_headers(response):
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    if g.get("user") is not None or g.get("new_auth_token"):
        headers["Cache-Control"] = "no-store"
        headers.add("Vary", "Cookie")
    return response

"""HTTP plumbing: content negotiation, error pages, security headers, URL ids."""

import logging

from flask import current_app, g, jsonify, render_template, request
from flask.json.provider import DefaultJSONProvider
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import (
    DisconnectionError,
    IntegrityError,
    InterfaceError,
    OperationalError,
    SQLAlchemyError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from werkzeug.exceptions import Conflict, HTTPException, InternalServerError, ServiceUnavailable
from werkzeug.routing import BaseConverter, ValidationError

from .extensions import db
from .numbers import parse_id

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


class IdConverter(BaseConverter):
    """A database id in a URL: ASCII digits, 1 to ID_MAX; anything else is a 404.

    Werkzeug's ``int`` converter matches ``\\d``, which takes any script's
    digits (``/users/٣/`` would be user 3); a huge number would reach the
    database and fail there.
    """

    regex = "[0-9]+"
    weight = 50

    def to_python(self, value: str) -> int:
        number = parse_id(value)
        if number is None:
            raise ValidationError()
        return number

    def to_url(self, value: int) -> str:
        return str(int(value))


def wants_json() -> bool:
    """Whether the client prefers JSON to HTML; ``*/*`` gets HTML."""
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json"


ERROR_TEXTS = {
    400: (
        _l("Bad request"),
        _l("The request could not be understood. Reload the page and try again."),
    ),
    401: (_l("Sign-in required"), _l("Sign in to continue.")),
    403: (_l("Not allowed"), _l("You are not allowed to do this.")),
    404: (_l("Not found"), _l("There is nothing at this address.")),
    405: (_l("Method not allowed"), _l("This address does not accept this kind of request.")),
    409: (_l("Conflict"), _l("This change conflicts with the current state of the data.")),
    413: (_l("Request too large"), _l("The request is larger than this site accepts.")),
    414: (_l("Address too long"), _l("The address is longer than this site accepts.")),
    429: (_l("Too many requests"), _l("Too many attempts. Wait a moment and try again.")),
    431: (_l("Headers too large"), _l("The request headers are larger than this site accepts.")),
    500: (
        _l("Something went wrong"),
        _l("An unexpected error happened on our side. It has been logged."),
    ),
    503: (
        _l("Service unavailable"),
        _l("The service is briefly unavailable. Please try again shortly."),
    ),
}
CSRF_EXPIRED = _l(
    "This form has expired or was not sent from this site. Reload the page and try again."
)


def error_texts(error: HTTPException) -> tuple[str, str]:
    """(title, description) in the interface language.

    A description given where the error was raised (a 403's reason, a 409's
    conflict) is kept; Werkzeug's stock descriptions are replaced by ours.
    """
    title, stock = ERROR_TEXTS.get(error.code or 500, (error.name, error.description))
    if isinstance(error, CSRFError):
        return str(title), str(CSRF_EXPIRED)
    description = error.description
    if not description or description == type(error).description:
        description = stock
    return str(title), str(description)


def form_errors(form) -> dict[str, list[str]]:
    """A form's errors, ready for JSON."""
    return {name: [str(m) for m in messages] for name, messages in form.errors.items()}


def release_session(_error: BaseException | None = None) -> None:
    """End the request's database session; never raises, never waits on the database.

    A connection the database dropped cannot even roll back: it is thrown
    away instead. Objects the request loaded stay readable (detached), so an
    error page can still be built from what the request already knew. Run at
    the end of every request too: a failure there would turn a page already
    rendered into an empty 500.
    """
    try:
        db.session.remove()
    except SQLAlchemyError:
        db.session().invalidate()
        db.session.remove()


def handle_http_error(error: HTTPException):
    """One handler for every error page, HTML or JSON as the client asked.

    A 5xx page is built without the database: it may be the reason for it.
    """
    code = error.code or 500
    if code >= 500:
        release_session()
    title, description = error_texts(error)
    if wants_json():
        response = jsonify(error=error.name, message=description, status=code)
        response.status_code = code
    else:
        response = current_app.make_response(
            (
                render_template(
                    "errors/error.html", code=code, title=title, description=description
                ),
                code,
            )
        )
    # Keep headers an error carries, such as Allow for 405 or Retry-After for 429.
    for name, value in error.get_headers():
        if name.lower() != "content-type":
            response.headers[name] = value
    return response


def handle_integrity_error(error: IntegrityError):
    """Answer 409, with nothing kept, for a constraint no view caught.

    A unique name another request took a moment earlier is the data refusing
    the change, a conflict, not a server error. Only the error's type is
    logged: PostgreSQL's message quotes the conflicting value (an email).
    """
    log.warning("conflict on %s %s: %s", request.method, request.path, type(error.orig).__name__)
    release_session()  # what the page shows of the user stays readable, without a query
    return handle_http_error(Conflict())


# The database is down, refusing connections, or kept a statement or a lock
# wait past DB_STATEMENT_TIMEOUT: psycopg's QueryCanceled and LockNotAvailable
# arrive as OperationalError, a pool that cannot hand out a connection in time
# as PoolTimeoutError.
DATABASE_UNAVAILABLE = (OperationalError, InterfaceError, DisconnectionError, PoolTimeoutError)


def handle_database_unavailable(error: SQLAlchemyError):
    logging.getLogger("tz_app.db").error(
        "database unavailable: %s", getattr(error, "orig", None) or error
    )
    return handle_http_error(ServiceUnavailable())


def handle_unexpected_error(error: Exception):
    log.exception("unhandled error on %s %s", request.method, request.path)
    return handle_http_error(InternalServerError())


class JSONProvider(DefaultJSONProvider):
    """Flask's JSON, where a body nested too deeply to parse is bad input like any other.

    ``json.loads`` raises RecursionError for a few hundred kilobytes of
    ``[[[[…``; as a ValueError it is what ``request.get_json`` answers 400 to
    (or None, when silent).
    """

    def loads(self, s, **kwargs):
        try:
            return super().loads(s, **kwargs)
        except RecursionError:
            raise ValueError("JSON nested too deeply") from None


def write_cookie(
    response,
    name: str,
    value: str | None,
    *,
    clear: bool,
    max_age: int,
    path: str = "/",
    samesite: str = "Lax",
):
    """Set cookie ``name`` to ``value``, or delete it if ``clear``; Secure in production."""
    flags = {
        "path": path,
        "httponly": True,
        "samesite": samesite,
        "secure": current_app.config["SESSION_COOKIE_SECURE"],
    }
    if value:
        response.set_cookie(name, value, max_age=max_age, **flags)
    elif clear:
        response.delete_cookie(name, **flags)
    return response


SECURITY_HEADERS = (
    ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "same-origin"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
)


def security_headers(response):
    """SECURITY_HEADERS on every response that does not set its own, and no caching
    of what a signed-in user sees."""
    headers = response.headers
    present = {name.lower() for name, _value in headers.items()}
    headers.extend([header for header in SECURITY_HEADERS if header[0].lower() not in present])
    if g.get("user") is not None or g.get("new_auth_token"):
        headers["Cache-Control"] = "no-store"
        headers.add("Vary", "Cookie")
    return response

"""Re-authentication ("sudo mode"): sensitive actions want a recent proof of who you are.

A session is confirmed when it signs in and again whenever its user proves
themselves at ``/reauth/`` (password, code or passkey). For ``REAUTH_WINDOW``
seconds after that, sensitive actions need nothing more; after it, a page
``GET`` is sent to ``/reauth/?next=...`` and anything else gets ``401``
(JSON ``{"error": "reauth_required"}``). A stolen session cookie alone then
changes no password, email, second factor, rule or role. Compare GitHub's
"sudo mode" and Django's ``PasswordChangeView``, which asks for the old
password on one route only.
"""

from datetime import timedelta
from functools import wraps
from urllib.parse import urlsplit

from flask import current_app, g, jsonify, redirect, request, url_for

from .. import audit
from ..http import wants_json
from ..models import utcnow
from ..urls import safe_next

REQUIRED = "reauth_required"


def recently_confirmed() -> bool:
    """Whether the current session proved its user within ``REAUTH_WINDOW``."""
    auth_session = g.get("auth_session")
    if auth_session is None:
        return False
    confirmed = auth_session.confirmed_at or auth_session.created_at
    window = timedelta(seconds=current_app.config["REAUTH_WINDOW"])
    return confirmed > utcnow() - window


def _came_from() -> str | None:
    """The page a form was sent from, when it is one of ours."""
    referrer = request.referrer
    if not referrer:
        return None
    parts = urlsplit(referrer)
    if parts.netloc != request.host:
        return None
    return safe_next(parts.path + (f"?{parts.query}" if parts.query else ""))


def demand():
    """The answer to a sensitive request made outside the window."""
    if request.method in ("GET", "HEAD") and not wants_json():
        return redirect(url_for("mfa.reauth", next=request.full_path.rstrip("?")))
    if wants_json():
        return jsonify(error=REQUIRED), 401
    # A form sent from a page: confirm, then back to that page to send it again.
    from .routes import reauth_page

    return reauth_page(next_url=_came_from(), status=401)


def required(view):
    """Let ``view`` run only within the window; put it under the permission decorator."""

    @wraps(view)
    def guarded(**kwargs):
        if g.get("user") is not None and not recently_confirmed():
            return demand()
        return view(**kwargs)

    guarded.reauth = True
    return guarded


def confirm(method: str) -> None:
    """The user just proved themselves by ``method``: the window starts anew. Caller commits."""
    g.auth_session.confirmed_at = utcnow()
    audit.record("auth.reauth", target=g.user, method=method)


def next_url() -> str:
    """Where to go after confirming: the request's local ``next``, else the users page."""
    candidate = request.values.get("next")
    if candidate is None and request.is_json:
        body = request.get_json(silent=True)
        if isinstance(body, dict) and isinstance(body.get("next"), str):
            candidate = body["next"]
    return safe_next(candidate) or url_for("users.home")

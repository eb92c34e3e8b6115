"""Signing in: password, then the second factor when there is one, then the session.

1. ``/login/`` checks the password (tz_app.auth.routes). An account without
   a second factor is signed in there (``complete``). An account with one
   gets no session: ``await_second_factor`` issues a short-lived token
   (``MFA_SIGN_IN_TTL``, 5 minutes) held by this browser's ``mfa_pending``
   cookie, and the browser goes to ``/login/mfa/``.
2. ``/login/mfa/`` (tz_app.mfa.routes) reads it back with ``pending`` and
   checks a code or a passkey; wrong codes count toward the same per-account
   limit as wrong passwords.
3. ``complete`` uses the token up and starts the session, which records how
   it signed in. A password change or a deletion meanwhile voids the token
   (it carries the session epoch read before the password was checked).

"Sign in with a passkey" is both factors at once and goes straight to 3.
A password reset signs nobody in, so it never skips step 2.
"""

from flask import current_app, g, request, session, url_for

from .. import audit, throttle, tokens
from ..accounts import Verified
from ..http import write_cookie
from ..models import AuditEvent, LinkToken, User
from ..sessions import CredentialsChanged, start_session
from ..urls import safe_next

COOKIE = "mfa_pending"
COOKIE_PATH = "/login/"
PURPOSE = "mfa_sign_in"
NEXT_KEY = "mfa_next"


def await_second_factor(verified: Verified, attempt: AuditEvent, next_url: str | None) -> None:
    """The password was right; hold the sign-in for the second factor. The caller commits."""
    user = verified.user
    raw = tokens.issue(user, PURPOSE, epoch=verified.epoch)
    attempt.kind = throttle.PASSWORD_OK
    attempt.actor = user
    attempt.target = user
    session[NEXT_KEY] = safe_next(next_url) or ""
    g.mfa_pending_cookie = raw


def pending() -> LinkToken | None:
    """This browser's sign-in waiting for a second factor (``.user`` is who), or None."""
    raw = request.cookies.get(COOKIE)
    return tokens.peek(raw, PURPOSE) if raw else None


def abandon() -> None:
    """Forget this browser's pending sign-in (the cookie is cleared)."""
    g.clear_mfa_pending = True
    session.pop(NEXT_KEY, None)


def complete(
    user: User,
    method: str,
    *,
    pending: LinkToken | None = None,
    epoch: int | None = None,
    attempt: AuditEvent | None = None,
    next_url: str | None = None,
) -> str | None:
    """Start ``user``'s session signed in by ``method``; the URL to go to next.

    ``pending`` is the sign-in that waited for this second factor: it is used
    up here, atomically, and its ``next`` followed. ``epoch`` is the session
    epoch read before a password was checked (tz_app.sessions.start_session).
    ``attempt`` is the reserved throttle attempt this sign-in ends; without one
    the sign-in is audited here. Returns None, starting nothing, when the
    pending sign-in was used or voided meanwhile, or the account's sessions
    were ended since the password was checked: the caller rolls back and
    asks for a new sign-in. The caller commits.
    """
    if pending is not None:
        token = tokens.consume(request.cookies.get(COOKIE, ""), PURPOSE)
        if token is None or token.id != pending.id:
            return None
        epoch = token.epoch
        next_url = session.pop(NEXT_KEY, None)
        g.clear_mfa_pending = True
    try:
        start_session(user, epoch=epoch, method=method)
    except CredentialsChanged:
        return None
    if attempt is not None:
        throttle.succeeded(attempt, throttle.SUCCEEDED, user)
        attempt.detail = {**(attempt.detail or {}), "method": method}
    else:
        audit.record(throttle.SUCCEEDED, actor=user, target=user, email=user.email, method=method)
    return safe_next(next_url) or url_for("users.home")


def write_pending_cookie(response):
    """Set or clear the ``mfa_pending`` cookie as the request decided."""
    return write_cookie(
        response,
        COOKIE,
        g.get("mfa_pending_cookie"),
        clear=bool(g.get("clear_mfa_pending")) and COOKIE in request.cookies,
        max_age=current_app.config["MFA_SIGN_IN_TTL"],
        path=COOKIE_PATH,
        samesite="Strict",
    )

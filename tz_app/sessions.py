"""Server-side sessions: the ``custom_sessionid`` cookie turned into ``g.user``."""

import hashlib
import ipaddress
import secrets
from datetime import datetime, timedelta
from functools import cache

from flask import current_app, g, request, session
from sqlalchemy import Select, bindparam, select, true, update
from sqlalchemy.orm import contains_eager

from .extensions import db
from .http import write_cookie
from .models import Session, User, utcnow

# last_seen_at is written at most this often per session, not on every request.
LAST_SEEN_RESOLUTION = timedelta(seconds=60)
# Anything longer is not a token we issued; it is not worth a query.
MAX_TOKEN_LENGTH = 128


def hash_token(token: str) -> str:
    """The stored form of a token: a leaked sessions table signs nobody in."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def client_ip() -> str | None:
    """The client's IP address, or None when what was given is not one.

    Behind a trusted proxy it comes from X-Forwarded-For, which a client can
    fill with anything: only an address is kept, so it fits its column.
    """
    try:
        return str(ipaddress.ip_address(request.remote_addr or ""))[:45]
    except ValueError:
        return None


def client_user_agent() -> str | None:
    """The User-Agent header without control characters, cut to fit its column."""
    header = request.user_agent.string or ""
    return "".join(ch for ch in header if ch.isprintable())[:512] or None


def _new_token() -> str:
    return secrets.token_urlsafe(32)


def idle_cutoff(now: datetime) -> datetime:
    """Sessions last seen before this have been idle too long."""
    return now - timedelta(seconds=current_app.config["SESSION_IDLE_TIMEOUT"])


def load_identity() -> None:
    """Set ``g.user`` and ``g.auth_session`` from the cookie, or leave them None.

    One statement finds the session, its user and the user's role (with the
    role's rules version, see tz_app.permissions). Unknown, ended, expired,
    idle and deactivated sessions all read as "not signed in".
    """
    g.user = None
    g.auth_session = None
    token = request.cookies.get(current_app.config["AUTH_COOKIE_NAME"])
    if not token:
        return
    if len(token) > MAX_TOKEN_LENGTH:
        g.clear_auth_cookie = True
        return
    now = utcnow()
    found = db.session.scalars(
        _identity_statement(),
        {"token_hash": hash_token(token), "now": now, "idle_cutoff": idle_cutoff(now)},
    )
    auth_session = found.one_or_none()
    if auth_session is None:
        g.clear_auth_cookie = True
        return
    if now - auth_session.last_seen_at >= LAST_SEEN_RESOLUTION:
        db.session.execute(
            update(Session).where(Session.id == auth_session.id).values(last_seen_at=now)
        )
        db.session.commit()
        auth_session.last_seen_at = now
    g.auth_session = auth_session
    g.user = auth_session.user


@cache
def _identity_statement() -> Select:
    """load_identity's statement, built once with its values as parameters:
    building it, and its cache key, cost about 0.3 ms on every request."""
    return (
        select(Session)
        .join(Session.user)
        .join(User.role)
        .options(contains_eager(Session.user).contains_eager(User.role))
        .where(
            Session.token_hash == bindparam("token_hash"),
            Session.is_active == true(),
            Session.expires_at > bindparam("now"),
            Session.last_seen_at > bindparam("idle_cutoff"),
            User.is_active == true(),
        )
    )


class CredentialsChanged(Exception):
    """Every session of the user was ended after their password was checked."""


def _hold_epoch(user: User, epoch: int) -> None:
    """Lock ``user``'s row if its session epoch is still ``epoch``; else raise.

    Ending every session of a user takes the same row lock and moves the
    epoch (``end_user_sessions``), so of a sign-in and a password change (or a
    deletion) racing each other, either the sign-in's session exists before
    the sessions are ended, and is ended with them, or the sign-in sees the
    new epoch here and starts nothing. Raises CredentialsChanged.
    """
    held = db.session.execute(
        update(User)
        .where(User.id == user.id, User.session_epoch == epoch, User.is_active == true())
        .values(session_epoch=User.session_epoch, updated_at=User.updated_at)
        .execution_options(synchronize_session=False)
    ).rowcount
    if not held:
        raise CredentialsChanged


def renew_csrf_secret() -> None:
    """Forget the CSRF secret in Flask's session cookie; the next page makes a new one.

    Done whenever who is signed in changes, so a secret planted in the browser
    before a sign-in, or left by the previous person, is worthless after it.
    """
    field = current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token")
    session.pop(field, None)
    g.pop(field, None)


def start_session(user: User, epoch: int | None = None, method: str = "password") -> Session:
    """Sign ``user`` in with a new session and a fresh token.

    ``epoch`` is the user's ``session_epoch`` as read before their password
    was checked; when every session of the user has been ended since,
    nothing starts and CredentialsChanged is raised. Any session the browser
    already had is ended first: a token that existed before the sign-in is
    never carried over (no session fixation), nor is the CSRF secret.
    ``method`` is how the user proved who they are (tz_app.mfa.factors.METHODS);
    the sign-in also counts as a confirmation for sensitive actions
    (tz_app.mfa.reauth). The caller commits.
    """
    if epoch is not None:
        _hold_epoch(user, epoch)
    if g.get("auth_session") is not None:
        end_session(g.auth_session)
    renew_csrf_secret()
    now = utcnow()
    token = _new_token()
    auth_session = Session(
        user=user,
        token_hash=hash_token(token),
        created_at=now,
        last_seen_at=now,
        confirmed_at=now,
        auth_method=method,
        expires_at=now + timedelta(seconds=current_app.config["SESSION_LIFETIME"]),
        ip=client_ip(),
        user_agent=client_user_agent(),
    )
    db.session.add(auth_session)
    g.user = user
    g.auth_session = auth_session
    g.new_auth_token = token
    g.clear_auth_cookie = False
    return auth_session


def rotate_token(auth_session: Session) -> None:
    """Give the current session a new token; the old one stops working."""
    token = _new_token()
    auth_session.token_hash = hash_token(token)
    g.new_auth_token = token


def end_session(auth_session: Session) -> None:
    """End one session; when it is the current one, the cookie is cleared too."""
    auth_session.is_active = False
    auth_session.ended_at = utcnow()
    if auth_session is g.get("auth_session"):
        renew_csrf_secret()
        g.user = None
        g.auth_session = None
        g.new_auth_token = None
        g.clear_auth_cookie = True


def end_user_sessions(user: User, keep: Session | None = None) -> int:
    """End every active session of ``user`` except ``keep``; how many ended.

    The user's session epoch moves first, under the user's row lock, so a
    sign-in that checked the old password cannot add a session afterwards
    (see ``start_session``).
    """
    db.session.execute(
        update(User)
        .where(User.id == user.id)
        .values(session_epoch=User.session_epoch + 1)
        .execution_options(synchronize_session=False)
    )
    stmt = (
        update(Session)
        .where(Session.user_id == user.id, Session.is_active == true())
        .values(is_active=False, ended_at=utcnow())
    )
    if keep is not None:
        stmt = stmt.where(Session.id != keep.id)
    ended = db.session.execute(stmt).rowcount
    current = g.get("auth_session")
    if current is not None and current.user_id == user.id and current is not keep:
        end_session(current)
    return ended


def write_auth_cookie(response):
    """Set or clear ``custom_sessionid`` as the request decided."""
    config = current_app.config
    return write_cookie(
        response,
        config["AUTH_COOKIE_NAME"],
        g.get("new_auth_token"),
        clear=bool(g.get("clear_auth_cookie")),
        max_age=config["SESSION_LIFETIME"],
    )

"""Account operations shared by the views and the CLI: the callers commit."""

import secrets
from dataclasses import dataclass

from flask import g
from flask_babel import lazy_gettext as _l
from sqlalchemy import select, true, update

from .emails import normalize_email
from .extensions import db
from .models import UNUSABLE_PASSWORD_PREFIX, Role, User
from .passwords import burn_check_time, check_password, hash_password, needs_rehash
from .sessions import end_user_sessions, rotate_token
from .validators import stored_unless_taken

EMAIL_TAKEN = _l("An account with this email already exists.")
ADMIN_ROLE = "admin"
DEFAULT_ROLE = "user"


def find_by_email(email: str) -> User | None:
    return db.session.scalar(select(User).where(User.email == normalize_email(email)))


def role_named(name: str) -> Role | None:
    return db.session.scalar(select(Role).where(Role.name == name))


def lock_for_update(user: User) -> None:
    """Hold ``user``'s row until the transaction ends, and reload it.

    A no-op UPDATE takes the row lock on PostgreSQL and the write lock on
    SQLite alike, so two requests changing the same user run one after the
    other, and the second starts from what the first stored (the derived
    ``search_text`` included).
    """
    db.session.execute(
        update(User)
        .where(User.id == user.id)
        .values(id=User.id)
        .execution_options(synchronize_session=False)
    )
    db.session.refresh(user)


@dataclass(frozen=True)
class Verified:
    """A user whose password was just checked, and what the check read.

    ``epoch`` is the user's session epoch at the time (see
    tz_app.sessions.start_session); ``upgraded_hash`` a new hash at the
    configured cost when the stored one was made at another, to store once
    the sign-in goes ahead.
    """

    user: User
    epoch: int
    upgraded_hash: str | None = None


def authenticate(email: str, password: str) -> Verified | None:
    """The active user with this email and password, or None.

    Costs one bcrypt check whether or not the account exists. The account is
    read and that transaction ended before bcrypt runs: a sign-in holds no
    lock and no transaction while it hashes.
    """
    user = find_by_email(email)
    db.session.commit()
    if user is None:
        burn_check_time(password)
        return None
    if not check_password(user.password_hash, password) or not user.is_active:
        return None
    upgraded = hash_password(password) if needs_rehash(user.password_hash) else None
    return Verified(user, user.session_epoch, upgraded)


def create_user(
    *,
    name: str,
    last_name: str,
    email: str,
    password_hash: str | None,
    role: Role,
    paternity_name: str | None = None,
) -> User:
    """A new active user with a ``hash_password`` hash; without one, an invited account.

    An invited account has no usable password until its invitation is accepted.
    """
    user = User(
        name=name,
        last_name=last_name,
        paternity_name=paternity_name or None,
        email=normalize_email(email),
        password_hash=password_hash or unusable_password_hash(),
        role=role,
        is_active=True,
    )
    db.session.add(user)
    return user


def unusable_password_hash() -> str:
    """A stored password no password matches, unique like a real hash (an invited account)."""
    return UNUSABLE_PASSWORD_PREFIX + secrets.token_urlsafe(32)


def add_user_from(form, role: Role) -> User | None:
    """Create a user from a PersonForm's fields and ``password``; the caller commits.

    An empty ``password`` (an administrator's invitation) leaves the account
    without a usable one. Returns None (and puts the error on the form) when the email is taken,
    even by a request that got there a moment earlier: the unique index
    decides, not the earlier look-up.
    """
    # bcrypt outside any transaction: what the request read so far is done with.
    db.session.commit()
    user = create_user(
        name=form.name.data,
        last_name=form.last_name.data,
        paternity_name=form.paternity_name.data,
        email=form.email.data,
        password_hash=hash_password(form.password.data) if form.password.data else None,
        role=role,
    )
    return user if stored_unless_taken(form.email, EMAIL_TAKEN) else None


def set_password_hash(user: User, password_hash: str) -> int:
    """Store a new password (its ``hash_password`` hash) and end every other session.

    The caller hashes before the transaction that calls this, so no lock is
    held while bcrypt works. When users change their own password, their
    current session stays but gets a new token, so a copy of the old cookie
    is worthless. Returns how many sessions ended.
    """
    user.password_hash = password_hash
    current = g.get("auth_session")
    keep = current if current is not None and current.user_id == user.id else None
    ended = end_user_sessions(user, keep=keep)
    if keep is not None:
        rotate_token(keep)
    return ended


def deactivate(user: User) -> None:
    """Soft-delete: the account stays for the record, its sessions end at once."""
    user.is_active = False
    end_user_sessions(user)


def is_last_admin(user: User) -> bool:
    """Whether ``user`` is the only active administrator.

    Every change that could remove an administrator asks this first, and the
    question takes the admin role's row with a no-op UPDATE: a row lock on
    PostgreSQL, the write lock on SQLite (where SELECT ... FOR UPDATE locks
    nothing). Two admins removing each other at once so run one after the
    other, and the second decides on what the first stored: the target's role
    and state are read after the lock, never taken from the object in hand.
    Callers lock the target's row first (``lock_for_update``): always the
    user's row, then the role's, so two such changes never deadlock.
    """
    db.session.execute(
        update(Role)
        .where(Role.name == ADMIN_ROLE)
        .values(id=Role.id)
        .execution_options(synchronize_session=False)
    )
    admins = db.session.scalars(
        select(User.id)
        .join(User.role)
        .where(Role.name == ADMIN_ROLE, User.is_active == true())
        .limit(2)
    ).all()
    return admins == [user.id]

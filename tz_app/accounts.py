"""Account operations shared by the views and the CLI: the callers commit."""

from flask import g
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, true, update
from sqlalchemy.exc import IntegrityError

from .extensions import db
from .models import Role, User
from .passwords import burn_check_time, check_password, hash_password, needs_rehash
from .sessions import end_user_sessions, rotate_token

EMAIL_TAKEN = _l("An account with this email already exists.")
ADMIN_ROLE = "admin"
DEFAULT_ROLE = "user"


def find_by_email(email: str) -> User | None:
    return db.session.scalar(select(User).where(User.email == email.strip().lower()))


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


def authenticate(email: str, password: str) -> User | None:
    """The active user with this email and password, or None.

    Costs one bcrypt check whether or not the account exists. A hash made at
    an outdated cost is upgraded on the way (the caller commits).
    """
    user = find_by_email(email)
    if user is None:
        burn_check_time(password)
        return None
    if not check_password(user.password_hash, password) or not user.is_active:
        return None
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return user


def create_user(
    *,
    name: str,
    last_name: str,
    email: str,
    password: str,
    role: Role,
    paternity_name: str | None = None,
) -> User:
    user = User(
        name=name,
        last_name=last_name,
        paternity_name=paternity_name or None,
        email=email.strip().lower(),
        password_hash=hash_password(password),
        role=role,
        is_active=True,
    )
    db.session.add(user)
    return user


def add_user_from(form, role: Role) -> User | None:
    """Create a user from a PersonForm's fields and ``password``; the caller commits.

    Returns None (and puts the error on the form) when the email is taken,
    even by a request that got there a moment earlier: the unique index
    decides, not the earlier look-up.
    """
    user = create_user(
        name=form.name.data,
        last_name=form.last_name.data,
        paternity_name=form.paternity_name.data,
        email=form.email.data,
        password=form.password.data,
        role=role,
    )
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        form.email.errors.append(str(EMAIL_TAKEN))
        return None
    return user


def set_password(user: User, password: str) -> int:
    """Change the password and end every other session of the user.

    When users change their own password, their current session stays but gets
    a new token, so a copy of the old cookie is worthless. Returns how many
    sessions ended.
    """
    user.password_hash = hash_password(password)
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

    Takes a row lock on the admin role first (PostgreSQL), so two admins
    removing each other at once cannot both succeed.
    """
    if user.role.name != ADMIN_ROLE or not user.is_active:
        return False
    db.session.execute(select(Role.id).where(Role.name == ADMIN_ROLE).with_for_update())
    others = db.session.scalar(
        select(func.count(User.id))
        .join(User.role)
        .where(Role.name == ADMIN_ROLE, User.is_active == true(), User.id != user.id)
    )
    return others == 0

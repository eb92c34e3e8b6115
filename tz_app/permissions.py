"""The access policy: ``can()``, and the decorators that apply it to views."""

import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps

from flask import abort, current_app, g, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from .accounts import ADMIN_ROLE
from .extensions import db
from .http import wants_json
from .i18n import role_label
from .models import ACTIONS, AccessRoleRule, BusinessElement, Role, User

log = logging.getLogger("tz_app.permissions")

ELEMENTS = {
    "users": _l("User accounts"),
    "roles": _l("Roles"),
    "access_rules": _l("Access rules"),
    "sessions": _l("Sign-in sessions"),
    "audit": _l("Audit log"),
}
ACTION_LABELS = {
    "read": _l("see"),
    "create": _l("create"),
    "update": _l("change"),
    "delete": _l("delete"),
}

# The admin role keeps every right on these, so the system never loses the
# ability to manage its own rights.
LOCKED_ROLE = ADMIN_ROLE
LOCKED_ELEMENTS = ("roles", "access_rules")


@dataclass(frozen=True)
class Policy:
    """What one role may do, and the roles that exist, as of one rules version."""

    version: str
    rules: dict[str, frozenset[str]]
    role_names: tuple[str, ...]


def policy_for(role: Role) -> Policy:
    """The policy of ``role``, cached per process under its ``rules_version``.

    The version is read fresh with the user on every request, and every change
    to a role's rules (or to the set of roles) replaces it: a change made
    anywhere reaches every worker on its next request, and an unchanged role
    costs no query at all.
    """
    cache = current_app.extensions.setdefault("tz_policies", {})
    hit = cache.get(role.id)
    if hit is not None and hit.version == role.rules_version:
        return hit
    rows = db.session.execute(
        select(BusinessElement.code, AccessRoleRule)
        .join(AccessRoleRule.element)
        .where(AccessRoleRule.role_id == role.id)
    ).all()
    policy = Policy(
        version=role.rules_version,
        rules={code: rule.flags() for code, rule in rows},
        role_names=tuple(db.session.scalars(select(Role.name).order_by(Role.name))),
    )
    cache[role.id] = policy
    return policy


def can(user: User | None, element: str, action: str, owner_id: int | None = None) -> bool:
    """Whether ``user`` may do ``action`` on ``element`` (owned by ``owner_id``).

    ``<action>_all`` allows it for everything; ``<action>`` only for what the
    user owns. Anything not granted is denied: no user, an inactive user, an
    unknown element, a missing rule. Raises ValueError for an unknown action,
    which is a programming error, not a denial.
    """
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}; expected one of {', '.join(ACTIONS)}")
    if user is None or not user.is_active:
        return False
    flags = policy_for(user.role).rules.get(element)
    if not flags:
        return False
    if f"{action}_all" in flags:
        return True
    return action in flags and owner_id is not None and owner_id == user.id


def is_locked(role_name: str, element: str) -> bool:
    return role_name == LOCKED_ROLE and element in LOCKED_ELEMENTS


def current_user() -> User | None:
    return g.get("user")


def _unauthenticated():
    """Not signed in: a page asks the browser to sign in, anything else gets 401."""
    if request.method in ("GET", "HEAD") and not wants_json():
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
    abort(401)


def deny(element: str, action: str, owner_id: int | None = None):
    """Refuse with 403, log why. Raises the HTTPException."""
    user = g.user
    log.warning(
        "denied user=%s role=%s %s %s owner=%s %s %s",
        user.id,
        user.role.name,
        action,
        element,
        owner_id,
        request.method,
        request.path,
    )
    what = str(ELEMENTS.get(element, element)).lower()
    values = {"role": role_label(user.role.name), "action": ACTION_LABELS[action], "what": what}
    if owner_id not in (None, user.id):
        message = _(
            "Your role (%(role)s) does not allow you to %(action)s %(what)s that are not yours.",
            **values,
        )
    else:
        message = _("Your role (%(role)s) does not allow you to %(action)s %(what)s.", **values)
    abort(403, message)


def public(view: Callable) -> Callable:
    """Mark a view as open to everyone, signed in or not."""
    view.access = "public"
    return view


def login_required(view: Callable) -> Callable:
    """Any signed-in user; what they may see is decided inside the view by can()."""

    @wraps(view)
    def guarded(**kwargs):
        if g.user is None:
            return _unauthenticated()
        return view(**kwargs)

    guarded.access = "signed-in"
    return guarded


def permission_required(
    element: str, action: str, owner: Callable[..., int | None] | None = None
) -> Callable:
    """Allow the view only when ``can(g.user, element, action, owner_id)``.

    ``owner`` receives the view's URL arguments and returns the id of the user
    who owns the object (loading it, so a missing object is a 404 before any
    403); without it the object belongs to nobody and only ``*_all`` counts.
    """
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}")

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def guarded(**kwargs):
            if g.user is None:
                return _unauthenticated()
            owner_id = owner(**kwargs) if owner is not None else None
            if not can(g.user, element, action, owner_id=owner_id):
                deny(element, action, owner_id)
            return view(**kwargs)

        guarded.access = (element, action)
        return guarded

    return decorator


def viewer(**_kwargs) -> int:
    """``owner`` for views about the signed-in user's own things."""
    return g.user.id

"""Reading and changing the access rules; every change bumps the role's version."""

from flask_babel import get_locale
from flask_babel import gettext as _
from sqlalchemy import select, update

from .extensions import db
from .i18n import DEFAULT_LANGUAGE, FLAG_LABELS, role_label
from .models import FLAGS, AccessRoleRule, BusinessElement, Role, new_version
from .permissions import ELEMENTS, is_locked


class LockedRuleError(ValueError):
    """The change would take a locked right away from the admin role."""


def rules_changed(role: Role) -> None:
    """Give ``role`` a new rules version, so every process reloads its policy.

    An UPDATE by id, not an attribute change: it holds even when ``role`` was
    loaded in another session.
    """
    db.session.execute(update(Role).where(Role.id == role.id).values(rules_version=new_version()))


def roles_changed() -> None:
    """The set of roles changed: every role's cached policy must be reloaded."""
    db.session.execute(update(Role).values(rules_version=new_version()))


def elements() -> list[BusinessElement]:
    return list(db.session.scalars(select(BusinessElement).order_by(BusinessElement.id)))


def roles() -> list[Role]:
    return list(db.session.scalars(select(Role).order_by(Role.id)))


def matrix() -> dict[tuple[str, str], frozenset[str]]:
    """Every rule as {(role name, element code): flags}."""
    rows = db.session.execute(
        select(Role.name, BusinessElement.code, AccessRoleRule)
        .join(AccessRoleRule.role)
        .join(AccessRoleRule.element)
    ).all()
    return {(role, element): rule.flags() for role, element, rule in rows}


def set_flags(role: Role, element: BusinessElement, flags) -> tuple[set[str], set[str]]:
    """Make the rule for (role, element) exactly ``flags``; the caller commits.

    Returns (flags turned on, flags turned off). Raises LockedRuleError when a
    locked right would be removed, and ValueError for an unknown flag.
    """
    flags = set(flags)
    unknown = flags - set(FLAGS)
    if unknown:
        raise ValueError(f"unknown flag(s): {', '.join(sorted(unknown))}")
    if is_locked(role.name, element.code) and flags != set(FLAGS):
        raise LockedRuleError(
            f"the {role.name} role keeps every right on {element.code}; it cannot be changed"
        )
    rule = db.session.scalar(
        select(AccessRoleRule).where(
            AccessRoleRule.role_id == role.id, AccessRoleRule.element_id == element.id
        )
    )
    if rule is None:
        rule = AccessRoleRule(role=role, element=element)
        db.session.add(rule)
        before = set()
    else:
        before = set(rule.flags())
    turned_on, turned_off = flags - before, before - flags
    if turned_on or turned_off or rule.id is None:
        rule.set_flags(flags)
        rules_changed(role)
    return turned_on, turned_off


def describe_change_for_people(role: str, element: str, turned_on, turned_off) -> list[str]:
    """The same lines in the interface language, with names instead of codes.

    English keeps the codes an administrator also meets in ``flask rules``.
    """
    if str(get_locale()) == DEFAULT_LANGUAGE:
        return describe_change(role, element, turned_on, turned_off)
    who, what = role_label(role), str(ELEMENTS.get(element, element))
    return [
        _("%(role)s: %(element)s: %(flag)s on", role=who, element=what, flag=FLAG_LABELS[f])
        for f in sorted(turned_on, key=FLAGS.index)
    ] + [
        _("%(role)s: %(element)s: %(flag)s off", role=who, element=what, flag=FLAG_LABELS[f])
        for f in sorted(turned_off, key=FLAGS.index)
    ]


def describe_change(role: str, element: str, turned_on, turned_off) -> list[str]:
    """Lines such as ``manager: users: update_all on``, for the audit log and the CLI."""
    return [f"{role}: {element}: {flag} on" for flag in sorted(turned_on, key=FLAGS.index)] + [
        f"{role}: {element}: {flag} off" for flag in sorted(turned_off, key=FLAGS.index)
    ]

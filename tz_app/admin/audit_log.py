"""The audit log page: newest first, filtered by actor, target and kind."""

import re

from flask import Blueprint, render_template, request
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import aliased, joinedload

from ..i18n import FLAG_LABELS, role_label
from ..mfa.factors import FACTOR_LABELS, METHODS
from ..models import AuditEvent, User
from ..pagination import MAX_PER_PAGE, clamp_int, paginate
from ..permissions import permission_required
from ..rules import describe_change_for_people

bp = Blueprint("audit", __name__)

KINDS = {
    "auth.login": _l("Signed in"),
    "auth.login_failed": _l("Sign-in failed"),
    "auth.lockout": _l("Sign-in locked"),
    "auth.logout": _l("Signed out"),
    "auth.password_check_failed": _l("Wrong current password"),
    "auth.password_checked": _l("Current password confirmed"),
    "auth.login_unconfirmed": _l("Sign-in refused: email not confirmed"),
    "password.reset_requested": _l("Password reset asked for"),
    "password.reset_limited": _l("Password reset refused: hourly limit"),
    "password.reset": _l("Password reset"),
    "user.invited": _l("Invitation sent"),
    "user.invitation_accepted": _l("Invitation accepted"),
    "user.signup_taken": _l("Sign-up with a taken email"),
    "email.verification_sent": _l("Confirmation link sent"),
    "email.verified": _l("Email confirmed"),
    "email.change_requested": _l("Email change asked for"),
    "email.changed": _l("Email changed"),
    "email.mail_limited": _l("Mail refused: hourly limit"),
    "user.signup": _l("Signed up"),
    "user.created": _l("User created"),
    "user.updated": _l("User updated"),
    "user.role_changed": _l("Role changed"),
    "user.password_changed": _l("Password changed"),
    "user.deleted": _l("User deleted"),
    "user.restored": _l("User restored"),
    "session.revoked": _l("Session signed out"),
    "rules.changed": _l("Rules changed"),
    "role.created": _l("Role created"),
    "role.renamed": _l("Role renamed"),
    "role.deleted": _l("Role deleted"),
    "role.mfa_required": _l("Second factor requirement changed"),
    "auth.password_ok": _l("Password right, second factor awaited"),
    "auth.mfa_failed": _l("Wrong code"),
    "auth.mfa_checked": _l("Code confirmed"),
    "auth.reauth": _l("Identity confirmed"),
    "mfa.used": _l("Second factor used"),
    "mfa.failed": _l("Second factor failed"),
    "mfa.totp_enabled": _l("Authenticator app turned on"),
    "mfa.totp_disabled": _l("Authenticator app turned off"),
    "mfa.recovery_codes_generated": _l("New recovery codes"),
    "mfa.passkey_added": _l("Passkey added"),
    "mfa.passkey_removed": _l("Passkey removed"),
    "mfa.reset": _l("Second factors removed by an administrator"),
}


DETAIL_LABELS = {
    "changes": _l("Changes"),
    "fields": _l("Fields"),
    "old": _l("Before"),
    "new": _l("After"),
    "role": _l("Role"),
    "via": _l("Through"),
    "sessions_ended": _l("Sessions ended"),
    "old_email": _l("Previous email"),
    "session_id": _l("Session"),
    "method": _l("Method"),
    "factor": _l("Factor"),
    "purpose": _l("For"),
    "removed": _l("Removed"),
    "name": _l("Name"),
    "required": _l("Required"),
}
FIELD_LABELS = {
    "name": _l("First name"),
    "last_name": _l("Last name"),
    "paternity_name": _l("Patronymic"),
    "email": _l("Email"),
    "role": _l("Role"),
    "password": _l("Password"),
    "pending_email": _l("New email, to be confirmed"),
}
MFA_WORDS = {
    **METHODS,
    **FACTOR_LABELS,
    "sign_in": _l("signing in"),
    "reauth": _l("confirming identity"),
    "register": _l("adding a passkey"),
}
CHANGE_LINE = re.compile(r"^(?P<role>[^:]+): (?P<element>[^:]+): (?P<flag>\w+) (?P<state>on|off)$")


def _change_for_people(line: str) -> str:
    match = CHANGE_LINE.match(line)
    if match is None or match["flag"] not in FLAG_LABELS:
        return line
    on, off = ({match["flag"]}, set()) if match["state"] == "on" else (set(), {match["flag"]})
    return describe_change_for_people(match["role"], match["element"], on, off)[0]


def describe_detail(detail: dict) -> list[tuple[str, str]]:
    """An event's details as (label, text) pairs in the interface language."""
    shown = []
    for key, value in (detail or {}).items():
        if key == "changes":
            text = "; ".join(_change_for_people(line) for line in value)
        elif key == "fields":
            text = ", ".join(str(FIELD_LABELS.get(f, f)) for f in value)
        elif key in ("old", "new", "role"):
            text = role_label(str(value))
        elif key in ("method", "factor", "purpose"):
            text = str(MFA_WORDS.get(value, value))
        elif isinstance(value, list):
            text = ", ".join(str(MFA_WORDS.get(item, item)) for item in value)
        else:
            text = str(value)
        shown.append((str(DETAIL_LABELS.get(key, key)), text))
    return shown


def _text(name: str) -> str:
    raw = request.args.get(name, "")
    return "".join(ch for ch in raw if ch.isprintable()).strip()[:254]


@bp.get("/admin/audit/")
@permission_required("audit", "read")
def index():
    actor_q, target_q, kind = _text("actor"), _text("target"), _text("kind")
    page = clamp_int(request.args.get("page"), 1, 1, 10**6)
    per_page = clamp_int(request.args.get("per_page"), 50, 1, MAX_PER_PAGE)
    stmt = select(AuditEvent).options(joinedload(AuditEvent.actor), joinedload(AuditEvent.target))
    if kind:
        stmt = stmt.where(AuditEvent.kind == kind)
    if actor_q:
        actor = aliased(User)
        stmt = stmt.join(actor, AuditEvent.actor_id == actor.id).where(
            actor.email.icontains(actor_q, autoescape=True)
        )
    if target_q:
        target = aliased(User)
        stmt = stmt.outerjoin(target, AuditEvent.target_id == target.id).where(
            target.email.icontains(target_q, autoescape=True)
            | AuditEvent.email.icontains(target_q, autoescape=True)
        )
    stmt = stmt.order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc())
    events = paginate(stmt, page, per_page)
    return render_template(
        "admin/audit.html",
        events=events,
        kinds=KINDS,
        filters={"actor": actor_q, "target": target_q, "kind": kind},
        describe_detail=describe_detail,
    )

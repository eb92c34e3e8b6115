"""The audit log page: newest first, filtered by actor, target and kind."""

from flask import Blueprint, current_app, render_template, request
from sqlalchemy import select
from sqlalchemy.orm import aliased, joinedload

from ..models import AuditEvent, User
from ..pagination import MAX_PER_PAGE, clamp_int, paginate
from ..permissions import permission_required

bp = Blueprint("audit", __name__)

KINDS = {
    "auth.login": "Signed in",
    "auth.login_failed": "Sign-in failed",
    "auth.lockout": "Sign-in locked",
    "auth.logout": "Signed out",
    "user.signup": "Signed up",
    "user.created": "User created",
    "user.updated": "User updated",
    "user.role_changed": "Role changed",
    "user.password_changed": "Password changed",
    "user.deleted": "User deleted",
    "user.restored": "User restored",
    "session.revoked": "Session signed out",
    "rules.changed": "Rules changed",
    "role.created": "Role created",
    "role.renamed": "Role renamed",
    "role.deleted": "Role deleted",
}


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
        per_page_default=current_app.config["USERS_PER_PAGE"],
    )

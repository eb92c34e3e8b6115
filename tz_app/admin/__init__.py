"""Administration: the rules matrix, roles and the audit log."""

from flask import Blueprint

from . import audit_log, roles, rules

bp = Blueprint("admin", __name__)
bp.register_blueprint(rules.bp)
bp.register_blueprint(roles.bp)
bp.register_blueprint(audit_log.bp)

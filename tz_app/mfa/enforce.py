"""Roles that require a second factor: their holders set one up before anything else.

Runs after identity on every request, from what identity already loaded
(the role's ``mfa_required`` and the user's ``mfa_enabled``): no query.
"""

from flask import g, jsonify, redirect, request, url_for

from ..http import wants_json

# Reachable without a second factor: setting one up, confirming who you are
# (which setting one up asks for), signing out, the language switch and what
# every page needs.
OPEN_ENDPOINTS = frozenset(
    {
        "mfa.index",
        "mfa.totp_setup",
        "mfa.passkey_options",
        "mfa.passkey_add",
        "mfa.reauth",
        "mfa.reauth_passkey_options",
        "mfa.reauth_passkey",
        "auth.logout",
        "main.language",
        "main.healthz",
        "static",
    }
)


def setup_required():
    """A redirect to /mfa/ (JSON: 403) while the user's role wants a factor they lack."""
    user = g.get("user")
    if user is None or user.mfa_enabled or not user.role.mfa_required:
        return None
    if request.endpoint in OPEN_ENDPOINTS:
        return None
    if wants_json():
        return jsonify(error="mfa_setup_required"), 403
    return redirect(url_for("mfa.index"))

"""Second factors: an authenticator app, recovery codes and passkeys; re-authentication.

One blueprint holds every URL of them, the sign-in step and ``/reauth/``
included. Each factor is one module (tz_app.mfa.totp, .recovery_codes,
.passkeys) behind the interface tz_app.mfa.factors describes; the sign-in
flow reads in one place, tz_app.mfa.signin.
"""

from flask import Blueprint

bp = Blueprint("mfa", __name__)

from . import passkey_routes, routes  # noqa: E402,F401  (the views register on bp)

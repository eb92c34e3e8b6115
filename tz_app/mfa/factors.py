"""What every second factor has in common, and the one place that records changes to them.

A factor is a module with the same small interface: ``KIND``,
``describe(user)`` (what /mfa/ shows), ``remove(user)`` (all of the user's,
for a reset) and a ``verify`` of its own kind of answer: a code
(tz_app.mfa.totp, tz_app.mfa.recovery_codes) or a signed challenge
(tz_app.mfa.passkeys). A new factor is one more such module, listed in
``modules()``.

``User.mfa_enabled`` says whether a user has a second factor proper (an
authenticator app that is on, or a passkey); recovery codes only stand in for
one. It is kept here, so that identity, which runs on every request, reads it
from the user's row.
"""

from flask_babel import lazy_gettext as _l
from sqlalchemy import exists, or_, select

from .. import audit, tokens
from ..accounts import lock_for_update
from ..extensions import db
from ..mail import notify_security_change
from ..models import Passkey, TotpSecret, User

# How a session signed in, as /sessions/ shows it.
METHODS = {
    "password": _l("Password"),
    "password+totp": _l("Password and authenticator app"),
    "password+recovery": _l("Password and recovery code"),
    "password+passkey": _l("Password and passkey"),
    "passkey": _l("Passkey"),
}
FACTOR_LABELS = {
    "totp": _l("authenticator app"),
    "recovery": _l("recovery code"),
    "passkey": _l("passkey"),
    "password": _l("password"),
}


def modules() -> tuple:
    """The factor modules, each with KIND, describe(user) and remove(user)."""
    from . import passkeys, recovery_codes, totp

    return (totp, passkeys, recovery_codes)


def refresh_enabled(user: User) -> None:
    """Recompute ``user.mfa_enabled`` from what is stored (pending changes flushed first).

    The user's row is locked, and reloaded, before the factors are counted:
    two changes at once (a passkey added while the app is turned off) then
    count one after the other, and the second sees what the first stored.
    """
    db.session.flush()
    lock_for_update(user)
    has_factor = db.session.scalar(
        select(
            or_(
                exists().where(TotpSecret.user_id == user.id, TotpSecret.confirmed_at.is_not(None)),
                exists().where(Passkey.user_id == user.id),
            )
        )
    )
    user.mfa_enabled = bool(has_factor)
    if not user.mfa_enabled:
        # Codes that stand in for no factor would only wait to be found.
        from . import recovery_codes

        recovery_codes.remove(user)


def changed(user: User, event: str, **detail) -> None:
    """Record a change to ``user``'s second factors; the caller commits with it.

    Audited as ``mfa.<event>``, ``mfa_enabled`` brought up to date, the user's
    password-reset links voided (whoever changes factors could otherwise keep
    a way round them) and a notice mailed.
    """
    refresh_enabled(user)
    audit.record(f"mfa.{event}", target=user, **detail)
    tokens.void(user, "password_reset")
    notify_security_change(user, "second_factors")


def used(user: User, factor: str, purpose: str) -> None:
    audit.record("mfa.used", actor=user, target=user, factor=factor, purpose=purpose)


def failed(user: User, factor: str, purpose: str) -> None:
    audit.record("mfa.failed", actor=user, target=user, factor=factor, purpose=purpose)


def remove_all(user: User) -> dict[str, int]:
    """Remove every second factor of ``user`` (a lost phone); how many of each kind."""
    return {module.KIND: module.remove(user) for module in modules()}

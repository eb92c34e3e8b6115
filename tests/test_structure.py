"""No route can be added without a guard from tz_app.permissions."""

import re
from pathlib import Path

from tz_app import create_app

PUBLIC = {
    "main.index",
    "main.healthz",
    "main.language",
    "auth.login",
    "auth.signup",
    "recovery.forgot_password",
    "recovery.reset_password",
    "recovery.accept_invitation",
    "recovery.verify_email",
    "recovery.resend_confirmation",
    # The second step of signing in, and signing in with a passkey.
    "mfa.second_factor",
    "mfa.second_factor_passkey_options",
    "mfa.second_factor_passkey",
    "mfa.login_passkey_options",
    "mfa.login_passkey",
    "static",
}
# Pages with a form, shown by GET and sent to the same address by POST.
FORM_PAGES = {
    "auth.login",
    "auth.signup",
    "users.create",
    "recovery.forgot_password",
    "recovery.reset_password",
    "recovery.accept_invitation",
    "recovery.verify_email",
    "mfa.totp_setup",
    "mfa.second_factor",
    "mfa.reauth",
}
# Changes that want a recent proof of who you are (tz_app.mfa.reauth). The own
# row of the users page asks for it only for a new password or email
# (tests/test_reauth.py).
SENSITIVE = {
    "account.change_password",
    "account.change_email",
    "admin.rules.save",
    "admin.roles.create",
    "admin.roles.rename",
    "admin.roles.update",
    "admin.roles.delete",
    "mfa.totp_setup",
    "mfa.totp_disable",
    "mfa.recovery_codes_new",
    "mfa.passkey_options",
    "mfa.passkey_add",
    "mfa.passkey_delete",
    "mfa.reset",
}


def _app():
    return create_app({"APP_ENV": "testing", "SQLALCHEMY_DATABASE_URI": "sqlite://"})


def unguarded_routes(app) -> list[str]:
    """Routes whose view carries no guard from tz_app.permissions."""
    found = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint in PUBLIC:
            continue
        access = getattr(app.view_functions[rule.endpoint], "access", None)
        if access is None or access == "public":
            found.append(f"{rule.rule} ({rule.endpoint})")
    return found


def test_every_endpoint_is_guarded():
    app = _app()
    assert unguarded_routes(app) == []
    for endpoint in PUBLIC - {"static"}:
        assert app.view_functions[endpoint].access == "public"


def test_sensitive_changes_want_a_recent_confirmation():
    app = _app()
    for endpoint in SENSITIVE:
        assert getattr(app.view_functions[endpoint], "reauth", False), endpoint


def test_state_changes_are_posts_only():
    app = _app()
    for rule in app.url_map.iter_rules():
        methods = rule.methods - {"HEAD", "OPTIONS"}
        if rule.endpoint in FORM_PAGES:
            assert methods == {"GET", "POST"}
        elif "POST" in methods:
            assert methods == {"POST"}, f"{rule.rule} mixes POST with {methods}"


def test_a_new_unguarded_route_is_caught():
    app = _app()

    @app.route("/oops/")
    def oops():
        return "nobody checked"

    assert unguarded_routes(app) == ["/oops/ (oops)"]


# What the README's how-to makes, not what the repository holds.
ADDED_BY_THE_READER = {"tz_app/translations/pl/LC_MESSAGES/messages.po"}


def test_every_file_and_folder_the_readme_names_exists():
    """The README points readers at tests, scripts and modules; none of them may be missing."""
    root = Path(__file__).resolve().parent.parent
    text = (root / "README.md").read_text()
    named = set(re.findall(r"(?<![\w/.])((?:tests|bench|tz_app|migrations|docs)/[\w./-]*\w)", text))
    named -= ADDED_BY_THE_READER
    assert len(named) > 10
    missing = sorted(p for p in named if not (root / p).exists())
    assert missing == []

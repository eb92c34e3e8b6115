"""No route can be added without a guard from tz_app.permissions."""

from tz_app import create_app

PUBLIC = {"main.index", "main.healthz", "main.language", "auth.login", "auth.signup", "static"}


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


def test_state_changes_are_posts_only():
    app = _app()
    for rule in app.url_map.iter_rules():
        methods = rule.methods - {"HEAD", "OPTIONS"}
        if rule.endpoint in ("auth.login", "auth.signup", "users.create"):
            assert methods == {"GET", "POST"}
        elif "POST" in methods:
            assert methods == {"POST"}, f"{rule.rule} mixes POST with {methods}"


def test_a_new_unguarded_route_is_caught():
    app = _app()

    @app.route("/oops/")
    def oops():
        return "nobody checked"

    assert unguarded_routes(app) == ["/oops/ (oops)"]

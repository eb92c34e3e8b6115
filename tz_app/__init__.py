"""tz_app: user accounts with custom server-side sessions and database-stored RBAC."""

import os

from flask import Flask, g, request
from flask_babel import get_locale
from sqlalchemy import event
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from . import main, transactions
from .account.routes import bp as account_bp
from .admin import bp as admin_bp
from .auth.routes import bp as auth_bp
from .cli import commands
from .config import config_for_environment
from .extensions import babel, csrf, db, migrate
from .fragments import FragmentCache
from .health import DatabaseProbe
from .http import (
    DATABASE_UNAVAILABLE,
    IdConverter,
    JSONProvider,
    handle_database_unavailable,
    handle_http_error,
    handle_integrity_error,
    handle_unexpected_error,
    security_headers,
)
from .i18n import (
    FLAG_LABELS,
    LANGUAGES,
    install_template_gettext,
    role_label,
    select_locale,
    template_gettext,
)
from .logs import assign_request_id, configure_logging, echo_request_id
from .mail import init_app as init_mail
from .mfa import bp as mfa_bp
from .mfa.enforce import setup_required
from .mfa.signin import write_pending_cookie
from .permissions import ELEMENTS, can, current_user
from .recovery.routes import bp as recovery_bp
from .sessions import load_identity, write_auth_cookie
from .users.routes import bp as users_bp

# Served without looking at the session cookie: no query, whatever the cookie.
ANONYMOUS_ENDPOINTS = frozenset({"static", "main.healthz"})
MIGRATIONS_DIR = os.path.join(os.path.dirname(os.path.dirname(__file__)), "migrations")


def create_app(config: dict | None = None) -> Flask:
    """Build the application.

    Settings come from the class APP_ENV names (``config`` may name it too),
    then ``instance/config.py`` if present, then ``config``. Raises
    tz_app.config.ConfigError when they do not describe a runnable app, for
    example production without SECRET_KEY.
    """
    config = dict(config or {})
    app = Flask(__name__, instance_relative_config=True)
    app.json = JSONProvider(app)
    settings = config_for_environment(app.instance_path, config.get("APP_ENV"))
    app.config.from_object(settings)
    app.config.from_pyfile("config.py", silent=True)
    app.config.update(config)
    settings.finalize(app.config)
    os.makedirs(app.instance_path, exist_ok=True)

    configure_logging(app)
    register_extensions(app)
    register_blueprints(app)
    register_error_handlers(app)
    register_request_hooks(app)
    register_cli(app)
    register_template_helpers(app)
    return app


def register_extensions(app: Flask) -> None:
    proxies = app.config["TRUSTED_PROXIES"]
    if proxies:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies)
    app.url_map.converters["id"] = IdConverter
    db.init_app(app)
    # Runs before Flask-SQLAlchemy's own teardown, which would raise on a
    # connection the database dropped.
    app.teardown_appcontext(transactions.end_request)
    with app.app_context():
        transactions.watch(db.engine)
        if db.engine.dialect.name == "sqlite":
            event.listen(db.engine, "connect", _sqlite_pragmas)
    app.extensions["tz_health"] = DatabaseProbe(app.config["SQLALCHEMY_DATABASE_URI"])
    migrate.init_app(app, db, directory=MIGRATIONS_DIR)
    csrf.init_app(app)
    babel.init_app(app, locale_selector=select_locale)
    init_mail(app)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    """SQLite enforces foreign keys (and so ON DELETE) only when asked, per connection."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def register_blueprints(app: Flask) -> None:
    app.register_blueprint(main.bp)
    app.register_blueprint(auth_bp)
    app.register_blueprint(users_bp)
    app.register_blueprint(account_bp)
    app.register_blueprint(admin_bp)
    app.register_blueprint(recovery_bp)
    app.register_blueprint(mfa_bp)


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(HTTPException, handle_http_error)
    for error in DATABASE_UNAVAILABLE:
        app.register_error_handler(error, handle_database_unavailable)
    app.register_error_handler(IntegrityError, handle_integrity_error)
    app.register_error_handler(Exception, handle_unexpected_error)


def register_request_hooks(app: Flask) -> None:
    @app.before_request
    def identify():
        assign_request_id()
        if request.endpoint in ANONYMOUS_ENDPOINTS:
            g.user = None
            return
        load_identity()
        return setup_required()

    app.after_request(write_auth_cookie)
    app.after_request(write_pending_cookie)
    app.after_request(security_headers)
    app.after_request(echo_request_id)


def register_cli(app: Flask) -> None:
    for command in commands:
        app.cli.add_command(command)


def register_template_helpers(app: Flask) -> None:
    # Flask-Babel's own callables resolve the catalogue on every string; a
    # users page has a few hundred of them.
    install_template_gettext(app.jinja_env)
    app.jinja_env.add_extension(FragmentCache)
    app.jinja_env.globals.update(
        can=can,
        raw_gettext=template_gettext,
        ELEMENTS=ELEMENTS,
        LANGUAGES=LANGUAGES,
        FLAG_LABELS=FLAG_LABELS,
        role_label=role_label,
        current_locale=get_locale,
    )

    @app.context_processor
    def inject_user():
        return {"current_user": current_user(), "current_auth_session": g.get("auth_session")}

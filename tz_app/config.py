"""Configuration classes, read from the environment when the app is created."""

import os
import warnings
from pathlib import Path
from typing import ClassVar
from urllib.parse import urlsplit

from sqlalchemy.engine import make_url

DEV_SECRET_KEY = "dev-only-insecure-key-change-me"
DEV_PUBLIC_URL = "http://localhost:5000"
MAIL_DELIVERIES = ("process", "command")


class ConfigError(RuntimeError):
    """The environment does not describe a runnable configuration."""


def _int_env(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None


def _bool_env(name: str, default: bool) -> bool:
    raw = (os.environ.get(name) or "").strip().lower()
    if raw == "":
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


def _sqlite_url(instance_path: str) -> str:
    return "sqlite:///" + str(Path(instance_path) / "tz_app.sqlite3")


def database_connect_args(url: str, statement_timeout: float, connect_timeout: float) -> dict:
    """DBAPI connect() arguments that bound how long the database may keep a caller waiting.

    PostgreSQL: ``connect_timeout`` (psycopg's shortest is 2 s), and
    ``statement_timeout`` and ``lock_timeout`` set for the whole connection
    when it opens, at no cost per request; options already in the URL come
    after ours, so they win. TCP keep-alives and ``tcp_user_timeout`` end a
    connection whose server stopped answering at the network level.
    SQLite: how long to wait for another connection's lock before
    "database is locked".
    """
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return {"timeout": statement_timeout}
    if backend != "postgresql":
        return {}
    milliseconds = round(statement_timeout * 1000)
    options = f"-c statement_timeout={milliseconds} -c lock_timeout={milliseconds}"
    args = {
        "options": " ".join(filter(None, [options, parsed.query.get("options")])),
        # A server that vanished from the network (no reset, no answer) is
        # given up on by the kernel after the timeouts, not after ~15 minutes.
        "keepalives": 1,
        "keepalives_idle": max(1, round(statement_timeout)),
        "keepalives_interval": 1,
        "keepalives_count": 3,
        "tcp_user_timeout": milliseconds + round(connect_timeout * 1000),
    }
    if "connect_timeout" not in parsed.query:
        args["connect_timeout"] = connect_timeout
    return args


def _engine_options(settings: dict) -> dict:
    """The engine's options with the database timeouts added.

    A connection the database dropped (a restart, a failover) is found by a
    ping when it leaves the pool, not by the page that would have used it.
    """
    options = dict(settings["SQLALCHEMY_ENGINE_OPTIONS"])
    options.setdefault("pool_pre_ping", True)
    timeouts = database_connect_args(
        settings["SQLALCHEMY_DATABASE_URI"],
        settings["DB_STATEMENT_TIMEOUT"],
        settings["DB_CONNECT_TIMEOUT"],
    )
    options["connect_args"] = {**timeouts, **options.get("connect_args", {})}
    return options


class Config:
    """Settings shared by every environment; each read from the environment."""

    APP_ENV = "development"
    TESTING = False

    # Cookies: Flask's own session cookie carries only the CSRF secret and flash
    # messages; identity lives in ``custom_sessionid`` (see tz_app.sessions).
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = False
    AUTH_COOKIE_NAME = "custom_sessionid"

    # The CSRF token lives as long as the browser session, so a page left open
    # for an afternoon still saves.
    WTF_CSRF_TIME_LIMIT = None

    MAX_CONTENT_LENGTH = 1024 * 1024
    # Keep bound values (emails, hashes) out of error messages and so out of logs.
    SQLALCHEMY_ENGINE_OPTIONS: ClassVar[dict] = {"hide_parameters": True}

    USERS_PER_PAGE = 20
    LOGIN_MAX_FAILURES = 5
    LOGIN_FAILURE_WINDOW = 15 * 60

    # Mail (tz_app.mail). The SMTP backend of Flask-Mailman whatever the
    # environment; seconds an SMTP conversation may stall; how often an idle
    # deliverer looks for due mail; how long a deliverer's claim on queued
    # mail lasts before another may take it over. MAIL_DELIVERY "process"
    # runs a deliverer thread in each app process, "command" leaves delivery
    # to ``flask mail deliver --watch``.
    MAIL_BACKEND = "smtp"
    MAIL_TIMEOUT = 10
    MAIL_POLL_INTERVAL = 5
    MAIL_CLAIM_SECONDS = 300
    MAIL_DELIVERY = "process"

    # Seconds a correct password waits for its second factor (bound to the
    # browser by a cookie), and a passkey challenge for its answer.
    MFA_SIGN_IN_TTL = 5 * 60
    WEBAUTHN_CHALLENGE_TTL = 5 * 60

    def __init__(self, instance_path: str):
        self.SECRET_KEY = os.environ.get("SECRET_KEY") or None
        self.SQLALCHEMY_DATABASE_URI = os.environ.get("DATABASE_URL") or _sqlite_url(instance_path)
        self.BCRYPT_ROUNDS = _int_env("BCRYPT_ROUNDS", 12)
        self.SESSION_LIFETIME = _int_env("SESSION_LIFETIME", 14 * 24 * 3600)
        self.SESSION_IDLE_TIMEOUT = _int_env("SESSION_IDLE_TIMEOUT", 2 * 3600)
        self.LOGIN_MAX_FAILURES = _int_env("LOGIN_MAX_FAILURES", self.LOGIN_MAX_FAILURES)
        self.LOGIN_FAILURE_WINDOW = _int_env("LOGIN_FAILURE_WINDOW", self.LOGIN_FAILURE_WINDOW)
        # How many reverse proxies stand in front of the app and set
        # X-Forwarded-For/-Proto/-Host; 0 trusts none of those headers.
        self.TRUSTED_PROXIES = _int_env("TRUSTED_PROXIES", 0)
        # Seconds a statement or a lock wait / a new connection may take before
        # the request gets 503.
        self.DB_STATEMENT_TIMEOUT = _int_env("DB_STATEMENT_TIMEOUT", 10)
        self.DB_CONNECT_TIMEOUT = _int_env("DB_CONNECT_TIMEOUT", 5)
        # Where people reach the app: every link in a mail is built from it.
        self.PUBLIC_URL = os.environ.get("PUBLIC_URL") or None
        self.MAIL_SERVER = os.environ.get("MAIL_SERVER") or None
        self.MAIL_PORT = _int_env("MAIL_PORT", 25)
        self.MAIL_USE_TLS = _bool_env("MAIL_USE_TLS", False)
        self.MAIL_USE_SSL = _bool_env("MAIL_USE_SSL", False)
        self.MAIL_USERNAME = os.environ.get("MAIL_USERNAME") or None
        self.MAIL_PASSWORD = os.environ.get("MAIL_PASSWORD") or None
        self.MAIL_DEFAULT_SENDER = os.environ.get("MAIL_DEFAULT_SENDER") or None
        self.MAIL_DELIVERY = os.environ.get("MAIL_DELIVERY") or self.MAIL_DELIVERY
        self.MAIL_OUTBOX = os.environ.get("MAIL_OUTBOX") or str(Path(instance_path) / "outbox")
        self.PASSWORD_RESET_TTL = _int_env("PASSWORD_RESET_TTL", 3600)
        self.EMAIL_TOKEN_TTL = _int_env("EMAIL_TOKEN_TTL", 3 * 24 * 3600)
        self.INVITE_TTL = _int_env("INVITE_TTL", 7 * 24 * 3600)
        self.REQUIRE_VERIFIED_EMAIL = _bool_env("REQUIRE_VERIFIED_EMAIL", False)
        # Second factors (tz_app.mfa): seconds after a sign-in or a confirmation
        # during which sensitive actions need no new one; the keys that encrypt
        # authenticator secrets, newest first (by default one derived from
        # SECRET_KEY).
        self.REAUTH_WINDOW = _int_env("REAUTH_WINDOW", 15 * 60)
        self.MFA_ENCRYPTION_KEYS = os.environ.get("MFA_ENCRYPTION_KEYS") or None

    def finalize(self, settings: dict) -> None:
        """Check the merged settings; fill in what may default. Raises ConfigError."""
        if not settings.get("SECRET_KEY"):
            warnings.warn(
                "SECRET_KEY is not set: using the development key. "
                "Set SECRET_KEY (required with APP_ENV=production).",
                RuntimeWarning,
                stacklevel=2,
            )
            settings["SECRET_KEY"] = DEV_SECRET_KEY
        if not 4 <= settings["BCRYPT_ROUNDS"] <= 31:
            raise ConfigError("BCRYPT_ROUNDS must be between 4 and 31")
        for name in (
            "SESSION_LIFETIME",
            "SESSION_IDLE_TIMEOUT",
            "DB_STATEMENT_TIMEOUT",
            "DB_CONNECT_TIMEOUT",
            "PASSWORD_RESET_TTL",
            "EMAIL_TOKEN_TTL",
            "INVITE_TTL",
            "REAUTH_WINDOW",
            "MFA_SIGN_IN_TTL",
            "WEBAUTHN_CHALLENGE_TTL",
        ):
            if settings[name] <= 0:
                raise ConfigError(f"{name} must be a positive number of seconds")
        settings["SQLALCHEMY_ENGINE_OPTIONS"] = _engine_options(settings)
        _finalize_mail(settings)
        _finalize_mfa(settings)


def _finalize_mail(settings: dict) -> None:
    """Check PUBLIC_URL and the mail settings; decide whether mail can be sent at all.

    Without MAIL_SERVER, development and testing write mail to the outbox
    folder; production has no mail (MAIL_ENABLED is False) and says so at start.
    """
    url = (settings.get("PUBLIC_URL") or DEV_PUBLIC_URL).strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query:
        raise ConfigError(
            f"PUBLIC_URL must be the address people reach the app at, such as "
            f"https://accounts.example.com; got {url!r}"
        )
    settings["PUBLIC_URL"] = url
    if settings["MAIL_USE_TLS"] and settings["MAIL_USE_SSL"]:
        raise ConfigError("Set MAIL_USE_TLS (STARTTLS) or MAIL_USE_SSL, not both")
    if settings["MAIL_DELIVERY"] not in MAIL_DELIVERIES:
        raise ConfigError(f"MAIL_DELIVERY must be one of {', '.join(MAIL_DELIVERIES)}")
    settings["MAIL_ENABLED"] = bool(settings["MAIL_SERVER"]) or settings["APP_ENV"] != "production"
    if not settings["MAIL_DEFAULT_SENDER"]:
        settings["MAIL_DEFAULT_SENDER"] = f"noreply@{parts.hostname}"


def _finalize_mfa(settings: dict) -> None:
    """Refuse MFA_ENCRYPTION_KEYS that are not Fernet keys, at start rather than at a sign-in."""
    from .mfa.crypto import keys_from

    try:
        keys_from(settings["MFA_ENCRYPTION_KEYS"], settings["SECRET_KEY"])
    except ValueError:
        raise ConfigError(
            "MFA_ENCRYPTION_KEYS must be comma-separated Fernet keys (for example: python -c "
            "'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')"
        ) from None


class DevelopmentConfig(Config):
    pass


class TestingConfig(Config):
    APP_ENV = "testing"
    TESTING = True
    MAIL_DELIVERY = "command"

    def __init__(self, instance_path: str):
        super().__init__(instance_path)
        self.SECRET_KEY = "testing-secret-key"
        self.BCRYPT_ROUNDS = 4


class ProductionConfig(Config):
    APP_ENV = "production"
    SESSION_COOKIE_SECURE = True

    def finalize(self, settings: dict) -> None:
        secret = settings.get("SECRET_KEY")
        if not secret or secret == DEV_SECRET_KEY:
            raise ConfigError(
                "SECRET_KEY must be set to a long random value when APP_ENV=production "
                "(for example: python -c 'import secrets; print(secrets.token_hex(32))')"
            )
        if not settings.get("PUBLIC_URL"):
            raise ConfigError(
                "PUBLIC_URL must be set when APP_ENV=production: the address people reach "
                "the app at (links in mail are built from it), such as https://accounts.example.com"
            )
        super().finalize(settings)


CONFIGS = {
    "development": DevelopmentConfig,
    "testing": TestingConfig,
    "production": ProductionConfig,
}


def config_for_environment(instance_path: str, name: str | None = None) -> Config:
    """The config object for ``name``, by default APP_ENV's. Raises ConfigError."""
    name = (name or os.environ.get("APP_ENV") or "development").strip().lower()
    try:
        return CONFIGS[name](instance_path)
    except KeyError:
        raise ConfigError(f"APP_ENV must be one of {', '.join(CONFIGS)}, got {name!r}") from None

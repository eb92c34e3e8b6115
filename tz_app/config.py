"""Configuration classes, read from the environment when the app is created."""

import os
import warnings
from pathlib import Path
from typing import ClassVar

DEV_SECRET_KEY = "dev-only-insecure-key-change-me"


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


def _sqlite_url(instance_path: str) -> str:
    return "sqlite:///" + str(Path(instance_path) / "tz_app.sqlite3")


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
        for name in ("SESSION_LIFETIME", "SESSION_IDLE_TIMEOUT"):
            if settings[name] <= 0:
                raise ConfigError(f"{name} must be a positive number of seconds")


class DevelopmentConfig(Config):
    pass


class TestingConfig(Config):
    APP_ENV = "testing"
    TESTING = True

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

"""Databases for the tests: throw-away PostgreSQL databases and app factories."""

import atexit
import os
import shutil
import tempfile
import uuid

import psycopg
from sqlalchemy.engine import make_url

from tz_app import create_app

PG_ADMIN_URL = os.environ.get(
    "TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
# Mail the tests' apps and servers write to files goes here, never into instance/.
TEST_OUTBOX = tempfile.mkdtemp(prefix="tz_app-test-outbox-")
atexit.register(shutil.rmtree, TEST_OUTBOX, ignore_errors=True)
REQUIRE_POSTGRES = os.environ.get("CI", "").lower() == "true" or bool(
    os.environ.get("TZ_REQUIRE_POSTGRES")
)


def _pg_admin_conninfo() -> str:
    url = make_url(PG_ADMIN_URL)
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def _pg_available() -> str | None:
    """None when PostgreSQL answers, else why not."""
    try:
        with psycopg.connect(_pg_admin_conninfo(), connect_timeout=3):
            return None
    except psycopg.Error as exc:
        return str(exc).strip().splitlines()[0]


class PostgresDatabase:
    """A throw-away database on the test server, dropped at the end."""

    def __init__(self):
        self.name = f"tz_app_test_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(_pg_admin_conninfo(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.name}"')
        self.url = (
            make_url(PG_ADMIN_URL).set(database=self.name).render_as_string(hide_password=False)
        )

    def drop(self):
        with psycopg.connect(_pg_admin_conninfo(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


def make_test_app(database_url: str, **overrides):
    config = {
        "APP_ENV": "testing",
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SECRET_KEY": "test-secret",
        "BCRYPT_ROUNDS": 4,
        # Required with APP_ENV=production, which some tests build.
        "PUBLIC_URL": "http://localhost:5000",
        "MAIL_OUTBOX": TEST_OUTBOX,
    }
    config.update(overrides)
    return create_app(config)

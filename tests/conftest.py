"""Fixtures: an app per test on SQLite and PostgreSQL, clients, users, sign-in."""

import re
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from databases import (  # noqa: F401  (re-exported for the tests)
    PG_ADMIN_URL,
    REQUIRE_POSTGRES,
    PostgresDatabase,
    _pg_admin_conninfo,
    _pg_available,
    make_test_app,
)
from flask_migrate import upgrade
from sqlalchemy import delete

from tz_app.extensions import db
from tz_app.models import Role, User
from tz_app.passwords import hash_password
from tz_app.seed import seed_rules

PASSWORD = "correct horse battery"
CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)">')


@pytest.fixture(scope="session")
def postgres_database():
    """A fresh PostgreSQL database for one test session, or a skip (a failure on CI)."""
    reason = _pg_available()
    if reason is not None:
        message = f"PostgreSQL is not reachable at {PG_ADMIN_URL}: {reason}"
        if REQUIRE_POSTGRES:
            pytest.fail(message)
        pytest.skip(message)
    database = PostgresDatabase()
    yield database
    database.drop()


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def database_url(request, tmp_path_factory):
    """A migrated, empty database of each kind, shared by the tests of a session."""
    if request.param == "sqlite":
        url = "sqlite:///" + str(tmp_path_factory.mktemp("db") / "test.sqlite3")
    else:
        url = request.getfixturevalue("postgres_database").url
    app = make_test_app(url)
    with app.app_context():
        upgrade()
        db.session.remove()
        db.engine.dispose()
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(request, tmp_path):
    """The URL of a database of each kind with nothing in it, not even migrations."""
    if request.param == "sqlite":
        yield "sqlite:///" + str(tmp_path / "fresh.sqlite3")
        return
    request.getfixturevalue("postgres_database")  # skip or fail as the suite does
    database = PostgresDatabase()
    yield database.url
    database.drop()


def clear_database():
    """Empty every table. The counters stay: the triggers bring them back to zero."""
    for table in reversed(db.metadata.sorted_tables):
        if table.name != "counters":
            db.session.execute(delete(table))
    db.session.commit()


@pytest.fixture
def app(database_url):
    app = make_test_app(database_url)
    with app.app_context():
        clear_database()
        seed_rules()
        db.session.commit()
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def backend(database_url):
    return "postgresql" if database_url.startswith("postgresql") else "sqlite"


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@dataclass
class Account:
    id: int
    email: str
    password: str
    role: str
    name: str


@pytest.fixture
def make_user(app):
    """Create an active user of ``role``; returns an Account (id, email, password)."""
    counter = iter(range(1, 10**6))

    def make(
        role="user",
        *,
        email=None,
        password=PASSWORD,
        name=None,
        last_name=None,
        is_active=True,
        paternity_name=None,
    ):
        n = next(counter)
        email = email or f"{role}{n}-{uuid.uuid4().hex[:6]}@example.com"
        with app.app_context():
            role_row = db.session.scalar(db.select(Role).where(Role.name == role))
            user = User(
                name=name or f"{role.title()}{n}",
                last_name=last_name or "Tester",
                paternity_name=paternity_name,
                email=email,
                password_hash=hash_password(password),
                role=role_row,
                is_active=is_active,
            )
            db.session.add(user)
            db.session.commit()
            return Account(user.id, email, password, role, user.name)

    return make


def csrf_token(client, path="/signup/") -> str:
    """The token from a page's ``<meta name="csrf-token">``, as a script reads it."""
    response = client.get(path)
    match = CSRF_META.search(response.get_data(as_text=True))
    assert match, f"no csrf meta tag on {path} ({response.status_code})"
    return match.group(1)


def post(client, path, data=None, *, json=False, token=None, **kwargs):
    """POST with a valid CSRF token (form field), optionally asking for JSON."""
    data = dict(data or {})
    data.setdefault("csrf_token", token or csrf_token(client))
    headers = kwargs.pop("headers", {})
    if json:
        headers["Accept"] = "application/json"
    return client.post(path, data=data, headers=headers, **kwargs)


def login(client, email, password=PASSWORD, next=None):
    data = {"email": email, "password": password}
    if next is not None:
        data["next"] = next
    return post(client, "/login/", data)


def auth_cookie(client):
    return client.get_cookie("custom_sessionid")


@pytest.fixture
def signed_in(app, make_user):
    """A new test client signed in as a new user of ``role``: (client, account)."""

    def sign_in(role="user", **kwargs):
        account = make_user(role, **kwargs)
        c = app.test_client()
        response = login(c, account.email, account.password)
        assert response.status_code == 302, response.get_data(as_text=True)
        return c, account

    return sign_in


@pytest.fixture(scope="session", autouse=True)
def instance_folder_untouched():
    """Tests write their databases and mail elsewhere: the developer's instance/ stays as it was."""
    instance = Path(__file__).resolve().parent.parent / "instance"

    def listing():
        return sorted(str(p.relative_to(instance)) for p in instance.rglob("*"))

    before = listing()
    yield
    assert listing() == before

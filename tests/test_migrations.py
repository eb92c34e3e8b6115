"""The migrations build the schema the models describe, on SQLite and PostgreSQL."""

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from conftest import PostgresDatabase, make_test_app
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect

from tz_app.extensions import db

# Made by migrations 0003 and 0009 on PostgreSQL only; the models leave them
# out so that SQLite does not get useless copies.
POSTGRES_ONLY = {"ix_users_search_text_trgm", "ix_users_search_chars"}
# Made by migrations 0006 and 0009 on SQLite only: the FTS5 search index and
# the tables SQLite keeps it in (no model describes a virtual table), and the
# characters table kept by triggers, which only the search reads.
SQLITE_ONLY = {
    *(f"users_search{part}" for part in ("", "_config", "_data", "_docsize", "_idx")),
    "users_search_chars",
}


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(request, tmp_path):
    if request.param == "sqlite":
        yield "sqlite:///" + str(tmp_path / "fresh.sqlite3")
        return
    request.getfixturevalue("postgres_database")  # skip or fail as the suite does
    database = PostgresDatabase()
    yield database.url
    database.drop()


def differences(app) -> list:
    def include(obj, name, type_, reflected, compare_to):
        return name not in POSTGRES_ONLY | SQLITE_ONLY

    with db.engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "include_object": include}
        )
        return compare_metadata(context, db.metadata)


def test_upgrade_builds_the_models_schema(empty_database):
    app = make_test_app(empty_database)
    with app.app_context():
        upgrade()
        upgrade()  # a second run is a no-op
        tables = set(inspect(db.engine).get_table_names())
        assert set(db.metadata.tables) <= tables
        assert differences(app) == []
        downgrade(revision="base")
        assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
        upgrade()
        db.session.remove()
        db.engine.dispose()

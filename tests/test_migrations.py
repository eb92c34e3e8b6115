"""The migrations build the schema the models describe, on SQLite and PostgreSQL."""

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from conftest import PostgresDatabase, make_test_app
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect

from tz_app.extensions import db

# Made by migration 0003 on PostgreSQL only; the models leave it out so that
# SQLite does not get a useless copy.
POSTGRES_ONLY = {"ix_users_search_text_trgm"}
# Made by migration 0006 on SQLite only: the FTS5 search index and the tables
# SQLite keeps it in. No model describes a virtual table.
SQLITE_ONLY = {f"users_search{part}" for part in ("", "_config", "_data", "_docsize", "_idx")}


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

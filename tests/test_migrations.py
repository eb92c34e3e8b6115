"""The migrations build the schema the models describe, on SQLite and PostgreSQL."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from conftest import make_test_app
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect

from tz_app.extensions import db

# Made by migrations 0003, 0009 and 0010 on PostgreSQL only; the models leave
# them out so that SQLite does not get useless copies.
POSTGRES_ONLY = {"ix_users_search_text_trgm", "ix_users_search_chars", "ix_search_words_word_trgm"}
# Made by migrations 0006, 0009 and 0010 on SQLite only: the FTS5 search
# indexes and the tables SQLite keeps them in (no model describes a virtual
# table), and the characters table kept by triggers, which only search reads.
FTS5_PARTS = ("", "_config", "_data", "_docsize", "_idx")
SQLITE_ONLY = {
    *(f"users_search{part}" for part in FTS5_PARTS),
    *(f"search_words_fts{part}" for part in FTS5_PARTS),
    "users_search_chars",
}
# Made by migration 0010 on both, kept by triggers and read only by search.
SEARCH_TABLES = {"search_words", "users_search_words"}


def differences(app) -> list:
    def include(obj, name, type_, reflected, compare_to):
        return name not in POSTGRES_ONLY | SQLITE_ONLY | SEARCH_TABLES

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

"""A trigram index for substring search over users on PostgreSQL.

Revision ID: 0003_user_search_index
Revises: 0002_user_counters

Needs the pg_trgm extension, which any role allowed to create objects in the
database may install (it is a trusted extension since PostgreSQL 13). Where
it cannot be installed the index is skipped with a warning: search still
works, by scanning.
"""

import logging

from alembic import op

revision = "0003_user_search_index"
down_revision = "0002_user_counters"
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")
INDEX = "ix_users_search_text_trgm"


def upgrade():
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    savepoint = bind.begin_nested()
    try:
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except Exception as exc:  # noqa: BLE001 - any refusal means: no index
        savepoint.rollback()
        log.warning("pg_trgm is not available (%s); user search will scan", exc.__class__.__name__)
        return
    savepoint.commit()
    op.create_index(
        INDEX,
        "users",
        ["search_text"],
        postgresql_using="gin",
        postgresql_ops={"search_text": "gin_trgm_ops"},
    )


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP INDEX IF EXISTS {INDEX}")

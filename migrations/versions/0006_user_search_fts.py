"""A trigram full-text index of active users' search text on SQLite, kept by triggers.

Revision ID: 0006_user_search_fts
Revises: 0005_email_normal_form

SQLite has no substring index of its own: without this every search reads the
whole users table. ``users_search`` is a contentless FTS5 table with the
trigram tokenizer, so a word of three characters or more is looked up rather
than scanned for (tz_app.users.search). It holds the rows of active users
only, under their ids; triggers add, replace and remove them as users are
created, renamed, deleted, restored or removed. A later migration that drops
or rebuilds ``users.search_text`` or ``users.is_active`` must drop these
triggers first and recreate them after.

PostgreSQL searches through the trigram index of 0003 and gets nothing here.
Where SQLite was built without FTS5 the table is skipped with a warning:
search still works, by scanning.
"""

import logging

from alembic import op

revision = "0006_user_search_fts"
down_revision = "0005_email_normal_form"
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")

# case_sensitive: search_text and the words looked for are both case-folded
# by Python already; the index compares them as they are.
CREATE_TABLE = (
    "CREATE VIRTUAL TABLE users_search USING fts5("
    "search_text, content='', tokenize='trigram case_sensitive 1')"
)
# A contentless table forgets a row only when told the text it was given.
TRIGGERS = {
    "users_search_insert": """
        CREATE TRIGGER users_search_insert AFTER INSERT ON users WHEN NEW.is_active BEGIN
            INSERT INTO users_search(rowid, search_text) VALUES (NEW.id, NEW.search_text);
        END""",
    "users_search_update": """
        CREATE TRIGGER users_search_update AFTER UPDATE OF is_active, search_text ON users
        WHEN OLD.is_active IS NOT NEW.is_active OR OLD.search_text IS NOT NEW.search_text BEGIN
            INSERT INTO users_search(users_search, rowid, search_text)
                SELECT 'delete', OLD.id, OLD.search_text WHERE OLD.is_active;
            INSERT INTO users_search(rowid, search_text)
                SELECT NEW.id, NEW.search_text WHERE NEW.is_active;
        END""",
    "users_search_delete": """
        CREATE TRIGGER users_search_delete AFTER DELETE ON users WHEN OLD.is_active BEGIN
            INSERT INTO users_search(users_search, rowid, search_text)
                VALUES ('delete', OLD.id, OLD.search_text);
        END""",
}


def upgrade():
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    try:
        op.execute(CREATE_TABLE)
    except Exception as exc:  # any refusal means: no index
        log.warning("FTS5 is not available (%s); user search will scan", exc.__class__.__name__)
        return
    op.execute(
        "INSERT INTO users_search(rowid, search_text) "
        "SELECT id, search_text FROM users WHERE is_active"
    )
    for statement in TRIGGERS.values():
        op.execute(statement)


def downgrade():
    if op.get_bind().dialect.name != "sqlite":
        return
    for name in TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.execute("DROP TABLE IF EXISTS users_search")

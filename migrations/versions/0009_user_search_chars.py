"""An index of the characters in users' search text, for words too short for trigrams.

Revision ID: 0009_user_search_chars
Revises: 0008_second_factors

A trigram index finds words of three characters or more; a word of one or two
characters used to be looked for in every row. With this index a search
starts from the users whose text holds the word's characters
(tz_app.users.search).

SQLite: ``users_search_chars`` holds a row (character, user id) for each
distinct character of an active user's search text, kept by triggers as
users are created, renamed, deleted, restored or removed, like the trigram
table of 0006 (a later migration that drops or rebuilds ``users.search_text``
or ``users.is_active`` must drop these triggers first and recreate them after).

PostgreSQL: a GIN index over the text as an array of its characters
(``string_to_array(search_text, NULL)``), which the planner takes for
``@>`` when the characters are rare.
"""

from alembic import op

revision = "0009_user_search_chars"
down_revision = "0008_second_factors"
branch_labels = None
depends_on = None

PG_INDEX = "ix_users_search_chars"
# Each character of a text, once: positions 1 to its length, counted by a
# recursive select, which SQLite allows inside a trigger as a subquery.
CHARACTERS_OF = """
    SELECT DISTINCT substr({text}, n, 1) AS ch FROM (
        WITH RECURSIVE positions(n) AS (
            SELECT 1 UNION ALL SELECT n + 1 FROM positions WHERE n < length({text})
        )
        SELECT n FROM positions
    ) WHERE n <= length({text})"""
TRIGGERS = {
    "users_search_chars_insert": f"""
        CREATE TRIGGER users_search_chars_insert AFTER INSERT ON users WHEN NEW.is_active BEGIN
            INSERT OR IGNORE INTO users_search_chars(ch, user_id)
                SELECT ch, NEW.id FROM ({CHARACTERS_OF.format(text="NEW.search_text")});
        END""",
    "users_search_chars_update": f"""
        CREATE TRIGGER users_search_chars_update AFTER UPDATE OF id, is_active, search_text ON users
        WHEN OLD.id IS NOT NEW.id OR OLD.is_active IS NOT NEW.is_active
            OR OLD.search_text IS NOT NEW.search_text BEGIN
            DELETE FROM users_search_chars WHERE user_id = OLD.id;
            INSERT OR IGNORE INTO users_search_chars(ch, user_id)
                SELECT ch, NEW.id FROM ({CHARACTERS_OF.format(text="NEW.search_text")})
                WHERE NEW.is_active;
        END""",
    "users_search_chars_delete": """
        CREATE TRIGGER users_search_chars_delete AFTER DELETE ON users WHEN OLD.is_active BEGIN
            DELETE FROM users_search_chars WHERE user_id = OLD.id;
        END""",
}


def upgrade():
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute(
            f"CREATE INDEX {PG_INDEX} ON users USING gin (string_to_array(search_text::text, NULL))"
        )
        return
    if bind.dialect.name != "sqlite":
        return
    op.execute(
        "CREATE TABLE users_search_chars ("
        "ch TEXT NOT NULL, user_id INTEGER NOT NULL, PRIMARY KEY (ch, user_id)"
        ") WITHOUT ROWID"
    )
    op.execute(
        "INSERT OR IGNORE INTO users_search_chars(ch, user_id) "
        "SELECT substr(users.search_text, positions.n, 1), users.id FROM users JOIN ("
        "WITH RECURSIVE positions(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM positions "
        "WHERE n < (SELECT max(length(search_text)) FROM users)) SELECT n FROM positions"
        ") AS positions ON positions.n <= length(users.search_text) WHERE users.is_active"
    )
    for statement in TRIGGERS.values():
        op.execute(statement)


def downgrade():
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute(f"DROP INDEX IF EXISTS {PG_INDEX}")
        return
    if bind.dialect.name != "sqlite":
        return
    for name in TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.execute("DROP TABLE IF EXISTS users_search_chars")

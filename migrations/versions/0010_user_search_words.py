"""Each word of active users' search text, with the users holding it in list order.

Revision ID: 0010_user_search_words
Revises: 0009_user_search_chars

A trigram index finds the users holding a word, but not in the order the
users page lists them (last name, name, id): a page of a word thousands of
users hold, such as a common last or first name, meant finding and sorting
them all. Here every word (what the search text holds between spaces: each
part of a name, the email) is listed once in ``search_words``, looked up
through a trigram index of its own, and ``users_search_words`` holds each
(word, last name, name, user) of the active users, so the users holding a
word are read in list order from its primary key, a page at a time
(tz_app.users.search).

Triggers keep both as users are created, renamed, deleted, restored or
removed (a later migration that drops or rebuilds ``users.search_text``,
``users.is_active``, ``users.last_name`` or ``users.name`` must drop them
first and recreate them after). A word stays in ``search_words`` when its
last holder goes: removing it could race a transaction adding a holder, and
a word nobody holds only costs its row. On SQLite it also remakes 0006's
trigger for changes so that, like these, it follows a change of a user's id.

The trigram index of words: SQLite's FTS5 table ``search_words_fts``
(skipped where SQLite lacks FTS5), pg_trgm's GIN index on PostgreSQL
(skipped where pg_trgm could not be installed, see 0003). Without it the
search does not use the words.
"""

import importlib.util
import logging
from pathlib import Path

from alembic import op

revision = "0010_user_search_words"
down_revision = "0009_user_search_chars"
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")

PG_WORDS_INDEX = "ix_search_words_word_trgm"

# SQLite: the distinct words of a text, split at spaces by a recursive select
# (allowed inside a trigger as a subquery).
SQLITE_WORDS_OF = """
    SELECT DISTINCT word FROM (
        WITH RECURSIVE split(word, rest) AS (
            SELECT '', {text} || ' '
            UNION ALL
            SELECT substr(rest, 1, instr(rest, ' ') - 1), substr(rest, instr(rest, ' ') + 1)
            FROM split WHERE rest <> ''
        )
        SELECT word FROM split
    ) WHERE word <> ''"""


# What a row's words add and remove; {row} is NEW or OLD, {words} SQLITE_WORDS_OF.
SQLITE_ADD = """
            INSERT OR IGNORE INTO search_words(word) {words};
            INSERT OR IGNORE INTO users_search_words(word_id, last_name, name, user_id)
                SELECT id, {row}.last_name, {row}.name, {row}.id FROM search_words
                WHERE word IN ({words}) AND {row}.is_active;"""
SQLITE_REMOVE = """
            DELETE FROM users_search_words
                WHERE word_id IN (SELECT id FROM search_words WHERE word IN ({words}))
                AND last_name = {row}.last_name AND name = {row}.name AND user_id = {row}.id;"""


def _sqlite_add(row: str) -> str:
    return SQLITE_ADD.format(row=row, words=SQLITE_WORDS_OF.format(text=f"{row}.search_text"))


def _sqlite_remove(row: str) -> str:
    return SQLITE_REMOVE.format(row=row, words=SQLITE_WORDS_OF.format(text=f"{row}.search_text"))


CHANGED = (
    "OLD.id IS NOT NEW.id OR OLD.is_active IS NOT NEW.is_active "
    "OR OLD.search_text IS NOT NEW.search_text "
    "OR OLD.last_name IS NOT NEW.last_name OR OLD.name IS NOT NEW.name"
)
SQLITE_TRIGGERS = {
    "users_search_words_insert": f"""
        CREATE TRIGGER users_search_words_insert AFTER INSERT ON users WHEN NEW.is_active BEGIN
            {_sqlite_add("NEW")}
        END""",
    "users_search_words_update": f"""
        CREATE TRIGGER users_search_words_update
        AFTER UPDATE OF id, is_active, search_text, last_name, name ON users WHEN {CHANGED} BEGIN
            {_sqlite_remove("OLD")}
            {_sqlite_add("NEW")}
        END""",
    "users_search_words_delete": f"""
        CREATE TRIGGER users_search_words_delete AFTER DELETE ON users WHEN OLD.is_active BEGIN
            {_sqlite_remove("OLD")}
        END""",
    "search_words_fts_insert": """
        CREATE TRIGGER search_words_fts_insert AFTER INSERT ON search_words BEGIN
            INSERT INTO search_words_fts(rowid, word) VALUES (NEW.id, NEW.word);
        END""",
}

# Every active user's words, then who holds each (the triggers' work, for the
# users already there).
SQLITE_SPLIT = """
    WITH RECURSIVE split(id, word, rest) AS (
        SELECT id, '', search_text || ' ' FROM users WHERE is_active
        UNION ALL
        SELECT id, substr(rest, 1, instr(rest, ' ') - 1), substr(rest, instr(rest, ' ') + 1)
        FROM split WHERE rest <> ''
    )"""
SQLITE_BACKFILL_WORDS = """
    INSERT OR IGNORE INTO search_words(word)
    SELECT word FROM split WHERE word <> ''"""
SQLITE_BACKFILL_HELD = """
    INSERT OR IGNORE INTO users_search_words(word_id, last_name, name, user_id)
    SELECT search_words.id, users.last_name, users.name, users.id
    FROM split JOIN search_words ON search_words.word = split.word
    JOIN users ON users.id = split.id"""

PG_FUNCTION = """
CREATE FUNCTION users_search_words_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' AND OLD.is_active THEN
        DELETE FROM users_search_words AS held USING search_words AS words
        WHERE held.word_id = words.id
          AND words.word = ANY (string_to_array(OLD.search_text, ' '))
          AND held.last_name = OLD.last_name AND held.name = OLD.name
          AND held.user_id = OLD.id;
    END IF;
    IF TG_OP <> 'DELETE' AND NEW.is_active THEN
        -- ON CONFLICT takes an id from the sequence for every word of every
        -- write, known or not: the ids are bigint, which no write rate uses up.
        INSERT INTO search_words (word)
            SELECT DISTINCT word FROM unnest(string_to_array(NEW.search_text, ' ')) AS word
            WHERE word <> ''
            ON CONFLICT (word) DO NOTHING;
        INSERT INTO users_search_words (word_id, last_name, name, user_id)
            SELECT words.id, NEW.last_name, NEW.name, NEW.id FROM search_words AS words
            WHERE words.word = ANY (string_to_array(NEW.search_text, ' '))
            ON CONFLICT DO NOTHING;
    END IF;
    RETURN NULL;
END
$$"""
PG_CHANGED = CHANGED.replace(" IS NOT ", " IS DISTINCT FROM ")
PG_TRIGGERS = {
    "users_search_words_insert": "AFTER INSERT ON users FOR EACH ROW WHEN (NEW.is_active)",
    "users_search_words_update": f"AFTER UPDATE ON users FOR EACH ROW WHEN ({PG_CHANGED})",
    "users_search_words_delete": "AFTER DELETE ON users FOR EACH ROW WHEN (OLD.is_active)",
}


def _fts_update_triggers() -> dict[str, str]:
    """0006's trigger for changes as 0006 made it ("before"), and made to
    follow a change of id as well ("after"): a user's id never changes through
    the app, but the indexes should not depend on it."""
    path = Path(__file__).with_name("0006_user_search_fts.py")
    spec = importlib.util.spec_from_file_location("user_search_fts_0006", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    before = module.TRIGGERS["users_search_update"]
    after = before.replace("AFTER UPDATE OF is_active", "AFTER UPDATE OF id, is_active").replace(
        "WHEN OLD.is_active", "WHEN OLD.id IS NOT NEW.id OR OLD.is_active"
    )
    assert after.count("OLD.id IS NOT NEW.id") == 1
    return {"before": before, "after": after}


def _replace_fts_update(version: str) -> None:
    """0006's update trigger as it was ("before") or as this migration makes it."""
    exists = (
        op.get_bind()
        .exec_driver_sql(
            "SELECT 1 FROM sqlite_master WHERE type = 'trigger' AND name = 'users_search_update'"
        )
        .scalar()
    )
    if exists:
        op.execute("DROP TRIGGER users_search_update")
        op.execute(_fts_update_triggers()[version])


def upgrade():
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        _upgrade_postgresql()
    elif dialect == "sqlite":
        _upgrade_sqlite()


def _upgrade_postgresql():
    op.execute("CREATE TABLE search_words (id bigserial PRIMARY KEY, word text NOT NULL UNIQUE)")
    op.execute(
        "CREATE TABLE users_search_words ("
        "word_id bigint NOT NULL, last_name varchar(100) NOT NULL, "
        "name varchar(100) NOT NULL, user_id integer NOT NULL, "
        "PRIMARY KEY (word_id, last_name, name, user_id))"
    )
    op.execute(
        "INSERT INTO search_words (word) SELECT DISTINCT word FROM users, "
        "unnest(string_to_array(users.search_text, ' ')) AS word "
        "WHERE users.is_active AND word <> ''"
    )
    op.execute(
        "INSERT INTO users_search_words (word_id, last_name, name, user_id) "
        "SELECT DISTINCT words.id, users.last_name, users.name, users.id FROM users "
        "CROSS JOIN unnest(string_to_array(users.search_text, ' ')) AS word "
        "JOIN search_words AS words ON words.word = word.word WHERE users.is_active"
    )
    op.execute(PG_FUNCTION)
    for name, when in PG_TRIGGERS.items():
        op.execute(f"CREATE TRIGGER {name} {when} EXECUTE FUNCTION users_search_words_changed()")
    bind = op.get_bind()
    installed = bind.exec_driver_sql(
        "SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'"
    ).scalar()
    if not installed:
        log.warning("pg_trgm is not installed; search will not use the words of 0010")
        return
    op.execute(f"CREATE INDEX {PG_WORDS_INDEX} ON search_words USING gin (word gin_trgm_ops)")


def _upgrade_sqlite():
    op.execute("CREATE TABLE search_words (id INTEGER PRIMARY KEY, word TEXT NOT NULL UNIQUE)")
    op.execute(
        "CREATE TABLE users_search_words ("
        "word_id INTEGER NOT NULL, last_name TEXT NOT NULL, name TEXT NOT NULL, "
        "user_id INTEGER NOT NULL, PRIMARY KEY (word_id, last_name, name, user_id)"
        ") WITHOUT ROWID"
    )
    for backfill in (SQLITE_BACKFILL_WORDS, SQLITE_BACKFILL_HELD):
        op.execute(SQLITE_SPLIT + backfill)
    for name, statement in SQLITE_TRIGGERS.items():
        if name != "search_words_fts_insert":
            op.execute(statement)
    _replace_fts_update("after")
    try:
        op.execute(
            "CREATE VIRTUAL TABLE search_words_fts USING fts5("
            "word, content='', tokenize='trigram case_sensitive 1')"
        )
    except Exception as exc:  # any refusal means: no index
        log.warning(
            "FTS5 is not available (%s); search will not use the words of 0010",
            exc.__class__.__name__,
        )
        return
    op.execute("INSERT INTO search_words_fts(rowid, word) SELECT id, word FROM search_words")
    op.execute(SQLITE_TRIGGERS["search_words_fts_insert"])


def downgrade():
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        for name in PG_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON users")
        op.execute("DROP FUNCTION IF EXISTS users_search_words_changed()")
    elif dialect == "sqlite":
        _replace_fts_update("before")
        for name in SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute("DROP TABLE IF EXISTS search_words_fts")
    else:
        return
    op.execute("DROP TABLE IF EXISTS users_search_words")
    op.execute("DROP TABLE IF EXISTS search_words")

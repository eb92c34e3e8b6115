"""The users list (its rows, conditions and order) and searching it by name or email.

A search finds the users whose names or email hold every word, in any case.
A page of results needs them in list order (last name, name, id), counted
up to a cap. Three ways lead there, tried in this order:

1. One word of three characters or more (short words may come with it): the
   words holding it are looked up among every word of the active users'
   text (``search_words``, migration 0010, through a trigram index of its
   own), and their holders read from ``users_search_words``, whose primary
   key lists each word's holders in list order. A page costs the rows up
   to it and the count, not every match: a common last or first name is
   found as fast as a rare one. Not taken when more than MAX_WORDS words
   hold the word (the domain of every address: the list's first rows hold a
   page), nor for several such words with short ones to check.
2. Otherwise an index finds the matches: a trigram index for words of three
   characters or more (SQLite's FTS5 table ``users_search`` of 0006, active
   users only; pg_trgm's index on ``users.search_text`` of 0003); for words
   of one or two an index of the characters each user's text holds (0009:
   SQLite's ``users_search_chars``, read from the word's rarest character
   when that is rare enough to help; on PostgreSQL a GIN index over the text
   as an array of characters, used for characters its statistics call
   rare). What an index does not decide, a LIKE of each word checks. One
   statement takes up to ``cap`` + 1 matches, counts them and sorts them for
   the page: up to the cap that is the answer.
3. Past the cap, the list is walked in order over its first rows only,
   keeping the rows that match, and when those do not hold the page every
   match is sorted after all.

Each kind of search (how many words of each length, which index leads, which
list) is built into statements once and kept, its words passed as
parameters: building a select costs more than SQLite takes to run one.
"""

import time
from functools import cache, lru_cache, partial

from flask import current_app
from sqlalchemy import (
    Integer,
    Select,
    String,
    Text,
    bindparam,
    column,
    false,
    func,
    inspect,
    literal,
    null,
    select,
    table,
    text,
    true,
    tuple_,
    union,
    union_all,
)
from sqlalchemy.dialects.postgresql import array

from ..extensions import db
from ..models import Counter, Role, User, search_key
from ..pagination import Page, PagedSelect, last_page

# The users page lists users in this order; the last column is unique.
LIST_ORDER = (User.last_name, User.name, User.id)
# The shortest word a trigram index can look up.
TRIGRAM = 3
# Before sorting every match of a broad search, the walk reads this many
# list rows for each row up to the end of the page asked for: the page is
# found there whenever at least 1 in this many rows matches.
PROBE_ROWS_PER_MATCH = 50

# PostgreSQL: a short word's characters are looked up in the index of
# characters when one of them is held by fewer than this share of users, by
# the statistics ANALYZE keeps, read again after STATS_SECONDS.
RARE_SHARE = 0.01
STATS_SECONDS = 300
CHAR_STATS = text(
    "SELECT most_common_elems::text::text[] AS elems, most_common_elem_freqs AS freqs "
    "FROM pg_stats WHERE schemaname = current_schema() AND tablename = 'ix_users_search_chars'"
)

# The SQLite search index (migration 0006): its rowids are user ids.
FTS = table("users_search", column("rowid", Integer), column("users_search"))
# The SQLite index of characters (migration 0009).
CHARS = table("users_search_chars", column("ch", String), column("user_id", Integer))
# Every word of the active users' text, and who holds each, in list order
# (migration 0010); the trigram index of the words on SQLite.
WORDS = table("search_words", column("id", Integer), column("word", String))
HELD = table(
    "users_search_words",
    column("word_id", Integer),
    column("last_name", String),
    column("name", String),
    column("user_id", Integer),
)
WORDS_FTS = table("search_words_fts", column("rowid", Integer), column("search_words_fts"))
# A search's one long word is read from the words holding it when at most this
# many do; past it (the domain of every address, say) the word is common
# enough for the walk of the list.
MAX_WORDS = 16


def listed_rows() -> Select:
    """What the users page shows of each user, as plain rows: no entity to build.

    The role's name is a column of its own, not a join, so that a select of
    the ids alone (paginate's deferred join) reads the list's index alone.
    """
    role = select(Role.name).where(Role.id == User.role_id).scalar_subquery()
    return select(
        User.id,
        User.last_name,
        User.name,
        User.paternity_name,
        User.email,
        role.label("role"),
        User.email_state.label("email_state"),
    )


def listing(active: bool, only=None) -> list:
    """The users page's conditions: active users (or deleted ones), all or ``only`` one
    (an id, or a parameter for it)."""
    conditions = [User.is_active == (true() if active else false())]
    if only is not None:
        conditions.append(User.id == only)
    return conditions


def list_page(active: bool, only: int | None, page: int, per_page: int) -> Page:
    """A page of the users list (see listing), paged by a deferred join.

    The list of every user reads its total from the counter the database's
    triggers keep, with the page's rows.
    """
    return _list_select(active, only is not None).page(page, per_page, {"only": only})


@cache
def _list_select(active: bool, one: bool) -> PagedSelect:
    """The users list's select, built once for each kind of list; ``one``: a
    parameter ``only`` names the one user listed."""
    stmt = listed_rows().where(*listing(active, bindparam("only") if one else None))
    total = None if one else _counter(active)
    return PagedSelect(stmt.order_by(*LIST_ORDER), key=User.id, total=total)


def _counter(active: bool):
    """Active (or deleted) users, from the trigger-kept counter (NULL without one)."""
    name = "users.active" if active else "users.deleted"
    return select(Counter.value).where(Counter.name == name).scalar_subquery()


def search_words(query: str) -> list[str]:
    """The distinct words of ``query``, folded as stored search text is."""
    return list(dict.fromkeys(search_key(query).split()))


def search_page(
    words: list[str],
    page: int,
    per_page: int,
    *,
    cap: int,
    active: bool,
    only: int | None = None,
) -> Page:
    """The ``page`` of the list (see listing) holding the users whose search text
    holds every word. Counts up to ``cap`` matches; past it the page says
    "more than"."""
    long = [w for w in words if len(w) >= TRIGRAM]
    short = [w for w in words if len(w) < TRIGRAM]
    dialect = db.engine.dialect.name
    if len(long) == 1 and active and only is None and _words_ready():
        found = _by_word(dialect, long[0], short, page, per_page, cap)
        if found is not None:
            return found
    params = {"only": only, "cap": cap + 1}
    params.update((f"w{i}", _pattern(word)) for i, word in enumerate(long + short))
    indexed = active and only is None and dialect == "sqlite"
    lead = None
    if indexed and long and _has_table(FTS.name):
        lead = "fts"
        params["fts"] = _fts_query(long)
    elif indexed and not long and _has_table(CHARS.name):
        char, count = _rarest_char(short, cap + 1)
        if count == 0:
            return Page(items=[], page=1, per_page=per_page, total=0)
        if count <= cap:
            lead = "chars"
            params["char"] = char
    # PostgreSQL: the characters of each short word with a rare one, for the
    # planner to look up in the index of characters.
    looked_up = [_chars(w) if dialect == "postgresql" and _rare(w) else [] for w in short]
    params.update(
        (f"c{i}_{j}", char) for i, chars in enumerate(looked_up) for j, char in enumerate(chars)
    )
    plan = _plan(dialect, len(long), tuple(map(len, looked_up)), lead, active, only is not None)

    total, items = plan.first(params, page, per_page)
    if total <= cap:
        return _answer(partial(plan.first, params), total, items, page, per_page, cap)
    page = min(page, last_page(cap, per_page))
    items = plan.walk(params, page, per_page) or plan.sorted(params, page, per_page)[1]
    return Page(items=items, page=page, per_page=per_page, total=cap, more=True)


def _answer(run, total: int, items: list, page: int, per_page: int, cap: int) -> Page:
    """The page from a first run of ``run(page, per_page)`` (``total`` matches
    counted up to ``cap`` + 1, the page's ``items``), which holds the first
    ``cap`` + 1 matches in list order; a page past the end shows the last."""
    shown = min(total, cap)
    if page > last_page(shown, per_page):
        page = last_page(shown, per_page)
        items = run(page, per_page)[1] if total else []
    return Page(items=items, page=page, per_page=per_page, total=shown, more=total > cap)


def _by_word(
    dialect: str, word: str, short: list[str], page: int, per_page: int, cap: int
) -> Page | None:
    """The page of active users holding ``word`` and the ``short`` words, read in
    list order from the words holding ``word`` (migration 0010); None when
    the search is better made the other way."""
    lookup = {"limit": MAX_WORDS + 1}
    if dialect == "sqlite":
        lookup["fts"] = _fts_query([word])
    else:
        lookup["pattern"] = _pattern(word)
    holding = [row[0] for row in _rows(_word_lookup(dialect), lookup)]
    if not holding:
        return Page(items=[], page=1, per_page=per_page, total=0)
    if len(holding) > MAX_WORDS or (short and len(holding) > 1):
        # Common enough for the walk of the list; or short words to check on
        # the holders of several words, which costs more than the trigram
        # index finding them.
        return None
    # Enough holders to count past the cap and to fill its last page.
    taken = max(cap + 1, last_page(cap, per_page) * per_page)
    params = {f"d{i}": word_id for i, word_id in enumerate(holding)} | {"cap": taken}
    params.update((f"w{i}", _pattern(w)) for i, w in enumerate(short))
    stmt = _held_by_words(dialect, len(holding), len(short))
    run = partial(_Plan.counted, stmt, params)
    return _answer(run, *run(page, per_page), page, per_page, cap)


@cache
def _word_lookup(dialect: str) -> Select:
    """The ids of the words holding a word: through FTS5 on SQLite; on PostgreSQL
    through pg_trgm's index or a scan, as the planner judges the pattern,
    written in for it to judge."""
    if dialect == "sqlite":
        found = WORDS_FTS.c.search_words_fts.op("MATCH")(bindparam("fts"))
        return select(WORDS_FTS.c.rowid).where(found).limit(bindparam("limit"))
    held = WORDS.c.word.like(_written("pattern"), escape="/")
    return select(WORDS.c.id).where(held).limit(bindparam("limit"))


@lru_cache(maxsize=64)
def _held_by_words(dialect: str, words: int, short: int) -> Select:
    """Up to ``cap`` users holding any of the words ``d0``… ``d{words-1}`` (ids)
    and each short word ``w0``…, in list order, counted and paged as
    _counted_page does.

    Each word's holders come from the primary key already in list order, so
    no more of them are read than the count and the page need. Several
    words' are merged by UNION, which also drops a user holding two of them.
    SQLite merges the ordered arms as they come. PostgreSQL sorts a UNION
    whole, by the collation's slow comparisons: it counts the users among
    each word's first ``cap`` holders (in any order), and takes the page from
    each word's first ``page_end`` holders.
    """
    source = HELD.join(User, User.id == HELD.c.user_id) if short else HELD
    held = [User.search_text.like(_written(f"w{j}"), escape="/") for j in range(short)]
    order = (HELD.c.last_name, HELD.c.name, HELD.c.user_id)
    keys = (HELD.c.last_name, HELD.c.name, HELD.c.user_id.label("id"))

    def holders(i: int, *columns) -> Select:
        return (
            select(*columns).select_from(source).where(HELD.c.word_id == bindparam(f"d{i}"), *held)
        )

    if words == 1:
        return _counted_page(holders(0, *keys).order_by(*order).limit(bindparam("cap")))
    if dialect != "postgresql":
        merged = union(*(holders(i, *keys) for i in range(words)))
        return _counted_page(merged.order_by(*merged.selected_columns).limit(bindparam("cap")))
    counted = union(
        *(holders(i, HELD.c.user_id).limit(bindparam("cap")) for i in range(words))
    ).subquery("counted")
    firsts = union(
        *(holders(i, *keys).order_by(*order).limit(bindparam("page_end")) for i in range(words))
    ).subquery("firsts")
    return _with_total(
        select(func.count().label("total")).select_from(counted),
        select(firsts.c.id).order_by(*firsts.c),
    )


class _Plan:
    """The statements of one kind of search, built once.

    ``matches`` selects the sort keys of the matching users (led by an index
    where one serves); ``conditions`` are the list's conditions and a LIKE of
    each word, which the walk checks row by row.
    """

    def __init__(self, matches: Select, conditions: list, listed: list):
        self.capped = _counted_page(matches.limit(bindparam("cap")))
        self.every = _counted_page(matches)
        probed = select(*LIST_ORDER).where(*listed).order_by(*LIST_ORDER)
        probed = probed.offset(bindparam("probe_offset")).limit(1)
        self.walked = (
            listed_rows()
            .where(*conditions, tuple_(*LIST_ORDER) <= probed.scalar_subquery())
            .order_by(*LIST_ORDER)
            .limit(bindparam("page_limit"))
            .offset(bindparam("page_offset"))
        )

    def first(self, params: dict, page: int, per_page: int) -> tuple[int, list]:
        """Up to ``cap`` matches (the parameter: one more than the count's
        cap): how many, and the page's rows among them."""
        return self.counted(self.capped, params, page, per_page)

    def sorted(self, params: dict, page: int, per_page: int) -> tuple[int, list]:
        """Every match: how many, and the page's rows, from sorting them all."""
        return self.counted(self.every, params, page, per_page)

    def walk(self, params: dict, page: int, per_page: int) -> list | None:
        """The page, from walking the first rows of the list; None when they do not hold it."""
        params = _paged(params, page, per_page)
        params["probe_offset"] = PROBE_ROWS_PER_MATCH * params["page_end"] - 1
        items = _rows(self.walked, params)
        return items if len(items) == per_page else None

    @staticmethod
    def counted(stmt: Select, params: dict, page: int, per_page: int) -> tuple[int, list]:
        """Run a statement of _counted_page: (its total, the page's rows)."""
        rows = _rows(stmt, _paged(params, page, per_page))
        return rows[0].total, [row for row in rows if row.id is not None]


def _paged(params: dict, page: int, per_page: int) -> dict:
    """``params`` with the ``page``'s limit, offset and end (offset + limit)."""
    offset = (page - 1) * per_page
    return {**params, "page_limit": per_page, "page_offset": offset, "page_end": offset + per_page}


@lru_cache(maxsize=256)
def _plan(
    dialect: str, long: int, short: tuple[int, ...], lead: str | None, active: bool, one: bool
) -> _Plan:
    """The statements for ``long`` words of three characters or more and the
    short words, ``short`` giving for each how many of its characters
    PostgreSQL looks up in its index of characters (parameters ``c{i}_{j}``;
    none: the LIKE alone), led by the index ``lead`` (SQLite's "fts" or
    "chars", or none), on the list of active (or deleted) users, of one user
    (``only``) when ``one``."""
    listed = listing(active, bindparam("only") if one else None)
    likes = _contains(long + len(short))
    # Written in like the patterns, for the planner to weigh each character.
    chars = func.string_to_array(User.search_text, null(), type_=Text)
    holds = [
        chars.op("@>")(array([_written(f"c{i}_{j}") for j in range(count)]))
        for i, count in enumerate(short)
        if count
    ]
    matches = select(*LIST_ORDER)
    if lead == "fts":
        found = FTS.c.users_search.op("MATCH")(bindparam("fts"))
        matches = matches.select_from(FTS).join(User, User.id == FTS.c.rowid).where(found)
    elif lead == "chars":
        matches = matches.select_from(CHARS).join(User, User.id == CHARS.c.user_id)
        matches = matches.where(CHARS.c.ch == bindparam("char"))
    # Where the trigram index leads, its phrase match is the long words' test.
    checked = likes[long:] if lead == "fts" else likes
    matches = matches.where(*listed, *checked, *holds)
    return _Plan(matches, [*listed, *likes], listed)


def _counted_page(matches: Select) -> Select:
    """One row per listed user of the page of ``matches`` (bound parameters
    ``page_limit`` and ``page_offset``), each with ``total``, the number of
    matches; a row of NULLs but ``total`` when the page holds none.

    MATERIALIZED keeps PostgreSQL from merging the matches back into a walk
    of the list order, which it prefers whenever it expects matches to be
    spread evenly, as they are not for a common last name.
    """
    found = matches.cte("matches").prefix_with("MATERIALIZED")
    return _with_total(
        select(func.count().label("total")).select_from(found),
        select(found.c.id).order_by(*found.c),
    )


def _with_total(total: Select, ids: Select) -> Select:
    """The listed rows of the page of ``ids`` (in list order), each with the
    ``total`` selected; a row of NULLs but ``total`` when the page is empty."""
    ids = ids.limit(bindparam("page_limit")).offset(bindparam("page_offset")).subquery("page")
    rows = listed_rows().join(ids, User.id == ids.c.id).subquery("rows")
    total = total.subquery("total")
    return (
        select(total.c.total, *rows.c)
        .select_from(total.outerjoin(rows, true()))
        .order_by(rows.c.last_name, rows.c.name, rows.c.id)
    )


def _rows(stmt: Select, params: dict) -> list:
    """Plain rows, read on the session's connection (see PagedSelect._fetch)."""
    return list(db.session.connection().execute(stmt, params))


def _contains(count: int) -> list:
    """A LIKE for each of ``count`` words, parameters ``w0``, ``w1``… (see _pattern).

    The pattern is written into the statement when it runs: as a parameter
    it would reach PostgreSQL's planner unseen once the statement is
    prepared (tz_app.transactions keeps statements prepared), and its generic
    plan, made for any pattern, reads the whole trigram index for a
    one-letter word that a table scan answers in half the time. Written in,
    each word is planned for what it is.
    """
    return [User.search_text.like(_written(f"w{i}"), escape="/") for i in range(count)]


def _written(name: str):
    """A string parameter written into the statement as a literal when it runs."""
    return bindparam(name, type_=String, literal_execute=True)


def _pattern(word: str) -> str:
    """The LIKE pattern for text holding ``word``, wildcards escaped by ``/``."""
    return "%" + word.replace("/", "//").replace("%", "/%").replace("_", "/_") + "%"


def _chars(word: str) -> list[str]:
    """The distinct characters of ``word``, in order."""
    return list(dict.fromkeys(word))


def _fts_query(words: list[str]) -> str:
    """An FTS5 query for rows holding every word, each as a quoted string."""
    return " ".join('"' + word.replace('"', '""') + '"' for word in words)


def _rarest_char(words: list[str], cap: int) -> tuple[str, int]:
    """The character of ``words`` the fewest active users hold, and how many
    (counted up to ``cap``), from SQLite's index of characters."""
    chars = list(dict.fromkeys("".join(words)))
    params = {f"c{i}": char for i, char in enumerate(chars)} | {"cap": cap}
    counts = _rows(_char_counts(len(chars)), params)
    index, count = min(counts, key=lambda row: row[1])
    return chars[index], count


@lru_cache(maxsize=16)
def _char_counts(n: int) -> Select:
    """For the characters ``c0``… ``c{n-1}``: each one's position and how many
    users hold it, counted up to ``cap``."""
    counts = []
    for i in range(n):
        holders = select(CHARS.c.user_id).where(CHARS.c.ch == bindparam(f"c{i}"))
        holders = holders.limit(bindparam("cap")).subquery()
        counts.append(
            select(literal(i), select(func.count()).select_from(holders).scalar_subquery())
        )
    return counts[0] if n == 1 else union_all(*counts)


def _rare(word: str) -> bool:
    """Whether, by PostgreSQL's statistics, few users hold a character of ``word``.

    The index of characters finds the few fast; for a common character a
    scan checking LIKE finds a page sooner than it would check the array of
    each row's characters, which it must build row by row. No statistics
    (a table never analysed) counts as common: LIKE alone, as before the index.
    """
    shares = _char_shares()
    if shares is None:
        return False
    return any(shares.get(char, 0.0) < RARE_SHARE for char in word)


def _char_shares() -> dict[str, float] | None:
    """The share of users holding each character PostgreSQL's statistics of
    the index of characters list (the common ones), read every STATS_SECONDS."""
    now = time.monotonic()
    known = current_app.extensions.get("tz_users_char_shares")
    if known is None or now - known[0] > STATS_SECONDS:
        row = db.session.connection().execute(CHAR_STATS).first()
        shares = None
        if row is not None and row.elems is not None:
            shares = dict(zip(row.elems, row.freqs, strict=False))
        known = current_app.extensions["tz_users_char_shares"] = (now, shares)
    return known[1]


def _words_ready() -> bool:
    """Whether the words of migration 0010 and their trigram index are there."""
    if db.engine.dialect.name == "sqlite":
        return _has_table(WORDS_FTS.name)
    known = current_app.extensions.setdefault("tz_users_search_tables", {})
    if "words index" not in known:
        indexes = inspect(db.engine).get_indexes(WORDS.name) if _has_table(WORDS.name) else []
        known["words index"] = any(i["name"] == "ix_search_words_word_trgm" for i in indexes)
    return known["words index"]


def _has_table(name: str) -> bool:
    """Whether the database has the table ``name`` (an index the migrations made
    on SQLite, which may lack FTS5), asked once per app."""
    known = current_app.extensions.setdefault("tz_users_search_tables", {})
    if name not in known:
        known[name] = inspect(db.engine).has_table(name)
    return known[name]

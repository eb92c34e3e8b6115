"""The users list (its rows, conditions and order) and searching it by name or email.

A search finds the users whose names or email hold every word, in any case.
Words of three characters or more are found through a trigram index: on
SQLite the FTS5 table ``users_search`` (migration 0006, active users only),
on PostgreSQL pg_trgm's index on ``users.search_text`` (migration 0003).
Shorter words cannot use a trigram index and are checked row by row on
whatever the other words leave.

A page of results needs the matches in list order, which an index does not
give. Two ways lead there: take every match and sort them, which costs as
much as there are matches, or walk the list in order keeping the rows that
match, which costs as many rows as precede the page. The capped count
chooses: up to the cap, the matches are sorted. Beyond it the walk is tried
over the first rows of the list only, and when those do not hold the page
the matches are sorted after all: the case of a frequent word whose
matches all sort late, such as a common last name.
"""

from functools import cache

from flask import current_app
from sqlalchemy import (
    Integer,
    Select,
    bindparam,
    column,
    false,
    inspect,
    literal,
    select,
    table,
    true,
    tuple_,
)

from ..extensions import db
from ..models import Counter, Role, User, search_key
from ..pagination import Page, PagedSelect, count_rows, fetch, last_page

# The users page lists users in this order; the last column is unique.
LIST_ORDER = (User.last_name, User.name, User.id)
# The shortest word a trigram index can look up.
TRIGRAM = 3
# Before sorting every match of a broad search, the walk reads this many
# list rows for each row up to the end of the page asked for: the page is
# found there whenever at least 1 in this many rows matches.
PROBE_ROWS_PER_MATCH = 50

# The SQLite search index (migration 0006): its rowids are user ids.
FTS = table("users_search", column("rowid", Integer), column("users_search"))


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
    listed = listing(active, only)
    matches, counted = _matching(listed, words, indexed=active and only is None)
    total, more = count_rows(counted, cap)
    page = min(page, last_page(total, per_page))
    offset = (page - 1) * per_page
    items = _walk_list(listed, words, offset, per_page) if more else None
    if items is None:
        items = _sorted_matches(matches, offset, per_page) if total else []
    return Page(items=items, page=page, per_page=per_page, total=total, more=more)


def _matching(listed: list, words: list[str], *, indexed: bool) -> tuple[Select, Select]:
    """The sort keys of the listed users who match, and a select to count them by.

    On SQLite, words long enough for the index are looked up in it when
    ``indexed`` says the list is every active user, as the index holds.
    Elsewhere the LIKE of each word does, which PostgreSQL serves from its
    trigram index when the word is long enough.
    """
    long = [w for w in words if len(w) >= TRIGRAM]
    if not (long and indexed and _fts_ready()):
        matches = select(*LIST_ORDER).where(*listed, *_contains(words))
        return matches, matches
    short = [w for w in words if len(w) < TRIGRAM]
    found = FTS.c.users_search.op("MATCH")(_fts_query(long))
    matches = (
        select(*LIST_ORDER)
        .select_from(FTS)
        .join(User, User.id == FTS.c.rowid)
        .where(found, *listed, *_contains(short))
    )
    # Without short words to check, the index counts its rows alone.
    return matches, matches if short else select(FTS.c.rowid).where(found)


def _contains(words: list[str]) -> list:
    """A LIKE for each word, its pattern written into the statement.

    As a parameter, the pattern would reach PostgreSQL's planner unseen once
    the statement is prepared (tz_app.transactions keeps statements
    prepared): its generic plan, made for any pattern, reads the whole
    trigram index for a one-letter word that a table scan answers in half
    the time. Written in, each word is planned for what it is.
    """
    return [
        User.search_text.like(literal(f"%{_escape_like(word)}%", literal_execute=True), escape="/")
        for word in words
    ]


def _escape_like(word: str) -> str:
    """``word`` with LIKE's wildcards and the escape character itself escaped by ``/``."""
    return word.replace("/", "//").replace("%", "/%").replace("_", "/_")


def _fts_query(words: list[str]) -> str:
    """An FTS5 query for rows holding every word, each as a quoted string."""
    return " ".join('"' + word.replace('"', '""') + '"' for word in words)


def _fts_ready() -> bool:
    """Whether this is SQLite with its search index (not where SQLite lacks FTS5).

    PostgreSQL needs no such table: its planner takes the trigram index for
    the LIKE of a long word.
    """
    ready = current_app.extensions.get("tz_users_fts")
    if ready is None:
        engine = db.engine
        ready = engine.dialect.name == "sqlite" and inspect(engine).has_table(FTS.name)
        current_app.extensions["tz_users_fts"] = ready
    return ready


def _walk_list(listed: list, words: list[str], offset: int, per_page: int) -> list | None:
    """The page, from walking the first rows of the list; None when they do not hold it."""
    probed = select(*LIST_ORDER).where(*listed).order_by(*LIST_ORDER)
    probed = probed.offset(PROBE_ROWS_PER_MATCH * (offset + per_page) - 1).limit(1)
    stmt = (
        listed_rows()
        .where(*listed, *_contains(words), tuple_(*LIST_ORDER) <= probed.scalar_subquery())
        .order_by(*LIST_ORDER)
        .limit(per_page)
        .offset(offset)
    )
    items = fetch(stmt)
    return items if len(items) == per_page else None


def _sorted_matches(matches: Select, offset: int, per_page: int) -> list:
    """The page, from sorting every match.

    MATERIALIZED keeps PostgreSQL from merging the matches back into a walk
    of the list order, which it prefers whenever it expects matches to be
    spread evenly, as they are not for a common last name.
    """
    found = matches.cte("matches").prefix_with("MATERIALIZED")
    page = select(found.c.id).order_by(*found.c).limit(per_page).offset(offset).subquery()
    return fetch(listed_rows().join(page, User.id == page.c.id).order_by(*LIST_ORDER))

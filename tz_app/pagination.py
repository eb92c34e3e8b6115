"""Page numbers from the query string, and one page of a select."""

from dataclasses import dataclass
from math import ceil

from sqlalchemy import ScalarSelect, Select, bindparam, func, select

from .extensions import db
from .numbers import plain_int

MAX_PER_PAGE = 100


def clamp_int(raw: str | None, default: int, low: int, high: int) -> int:
    """``raw`` as an int within [low, high]; ``default`` when it is not a number.

    Out of range is clamped, never an error: ``page=0`` is the first page and
    ``per_page=10000`` the largest page there is.
    """
    value = plain_int(raw)
    if value is None:
        return default
    return max(low, min(high, value))


@dataclass
class Page:
    items: list
    page: int
    per_page: int
    total: int
    # True when counting stopped at a cap: there are more than ``total``.
    more: bool = False

    @property
    def pages(self) -> int:
        return max(1, ceil(self.total / self.per_page))

    @property
    def first_index(self) -> int:
        return (self.page - 1) * self.per_page + 1 if self.items else 0

    @property
    def last_index(self) -> int:
        return (self.page - 1) * self.per_page + len(self.items)

    def window(self, around: int = 2) -> list[int | None]:
        """Page numbers to link, with None where a gap is shown: 1 … 4 5 6 … 20."""
        shown = {1, self.pages, *range(self.page - around, self.page + around + 1)}
        numbers = sorted(n for n in shown if 1 <= n <= self.pages)
        out: list[int | None] = []
        for n in numbers:
            if out and n - (out[-1] or 0) > 1:
                out.append(None)
            out.append(n)
        return out


def count_rows(stmt: Select, cap: int | None = None) -> tuple[int, bool]:
    """How many rows ``stmt`` returns, and whether there are more than that.

    With ``cap``, counting stops past ``cap`` rows, so that a broad search
    never counts the whole table: the answer is then (cap, True).
    """
    counted = stmt.order_by(None)
    if cap is not None:
        counted = counted.limit(cap + 1)
    total = db.session.scalar(select(func.count()).select_from(counted.subquery()))
    if cap is not None and total > cap:
        return cap, True
    return total, False


def last_page(total: int, per_page: int) -> int:
    return max(1, ceil(total / per_page))


def paginate(
    stmt: Select,
    page: int,
    per_page: int,
    *,
    total: int | ScalarSelect | None = None,
    count_cap: int | None = None,
    key=None,
) -> Page:
    """Run ``stmt`` for one page; a page past the end shows the last page.

    ``total``, when the caller knows it, saves the count: a number, or a
    select that reads it (a maintained counter), which a select of columns
    reads with the page in one statement (each row then also has ``total``).
    Otherwise the rows are counted, up to ``count_cap`` if given.

    ``key`` (the primary key column) pages by a deferred join: the offset is
    walked over the sort index alone, and only the page's rows are read, so a
    deep page costs far less than an OFFSET over whole rows.

    The items are entities for a select of one entity, rows for a select of
    columns.
    """
    if isinstance(total, ScalarSelect):
        return PagedSelect(stmt, key=key, total=total).page(page, per_page)
    more = False
    if total is None:
        total, more = count_rows(stmt, count_cap)
    page = min(page, last_page(total, per_page))
    items = fetch(_window(stmt, per_page, (page - 1) * per_page, key)) if total else []
    return Page(items=items, page=page, per_page=per_page, total=total, more=more)


class PagedSelect:
    """``stmt`` a page at a time, its limit and offset left as parameters.

    Built once and kept, it runs for any page and any values of the
    parameters ``stmt`` itself has: building a select, and the key its
    compiled form is cached under, costs more than SQLite takes to run it.
    ``key`` and ``total`` as for paginate; without ``total`` the rows are
    counted.
    """

    def __init__(self, stmt: Select, *, key=None, total: ScalarSelect | None = None):
        window = _window(stmt, bindparam("page_limit"), bindparam("page_offset"), key)
        self.rows = window if total is None else window.add_columns(total.label("total"))
        self.counter = None if total is None else select(total)
        self.count = select(func.count()).select_from(stmt.order_by(None).subquery())
        self.entities = len(self.rows.column_descriptions) == 1

    def page(self, page: int, per_page: int, params: dict | None = None) -> Page:
        """The ``page`` (a page past the end shows the last page)."""
        params = dict(params or {})
        total = None
        if self.counter is not None:
            rows = self._fetch(page, per_page, params)
            if rows and rows[0].total is not None:
                return Page(items=rows, page=page, per_page=per_page, total=rows[0].total)
            # No rows: an empty list, or a page past the end. Read the total alone.
            total = db.session.scalar(self.counter, params)
        if total is None:
            total = db.session.scalar(self.count, params)
        page = min(page, last_page(total, per_page))
        items = self._fetch(page, per_page, params) if total else []
        return Page(items=items, page=page, per_page=per_page, total=total)

    def _fetch(self, page: int, per_page: int, params: dict) -> list:
        params.update(page_limit=per_page, page_offset=(page - 1) * per_page)
        if self.entities:
            return list(db.session.execute(self.rows, params).scalars().unique())
        # Plain rows need none of the ORM's work on a statement (about 0.05 ms
        # a page): they are read on the session's connection, in its
        # transaction, like any Core statement (nothing is flushed first).
        return list(db.session.connection().execute(self.rows, params))


def _window(stmt: Select, limit, offset, key) -> Select:
    window = stmt.limit(limit).offset(offset)
    if key is None:
        return window
    ids = window.with_only_columns(key).subquery()
    return stmt.join(ids, key == ids.c[key.key])


def fetch(stmt: Select) -> list:
    """The entities a select of one entity returns, or the rows of a select of columns."""
    result = db.session.execute(stmt)
    if len(stmt.column_descriptions) > 1:
        return list(result.all())
    return list(result.scalars().unique().all())

"""Page numbers from the query string, and one page of a select."""

from dataclasses import dataclass
from math import ceil

from sqlalchemy import Select, func, select

from .extensions import db

MAX_PER_PAGE = 100


def clamp_int(raw: str | None, default: int, low: int, high: int) -> int:
    """``raw`` as an int within [low, high]; ``default`` when it is not a number."""
    try:
        value = int(raw) if raw is not None and len(raw) <= 20 else default
    except ValueError:
        value = default
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


def paginate(
    stmt: Select,
    page: int,
    per_page: int,
    *,
    total: int | None = None,
    count_cap: int | None = None,
    key=None,
) -> Page:
    """Run ``stmt`` for one page; a page past the end shows the last page.

    ``total``, when the caller knows it (a maintained counter), saves the
    count. Otherwise the rows are counted, stopping at ``count_cap`` if given
    so that a broad search never counts the whole table.

    ``key`` (the primary key column) pages by a deferred join: the offset is
    walked over the sort index alone, and only the page's rows are read, so a
    deep page costs far less than an OFFSET over whole rows.
    """
    more = False
    if total is None:
        counted = stmt.order_by(None)
        if count_cap is not None:
            counted = counted.limit(count_cap + 1)
        total = db.session.scalar(select(func.count()).select_from(counted.subquery()))
        if count_cap is not None and total > count_cap:
            total, more = count_cap, True
    last = max(1, ceil(total / per_page))
    page = min(page, last)
    window = stmt.limit(per_page).offset((page - 1) * per_page)
    if key is not None:
        ids = window.with_only_columns(key).subquery()
        window = stmt.join(ids, key == ids.c[key.key])
    items = db.session.scalars(window).unique().all()
    return Page(items=list(items), page=page, per_page=per_page, total=total, more=more)

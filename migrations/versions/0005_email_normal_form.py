"""Stored emails in their one normal form; room in search_text for case-folded names.

Revision ID: 0005_email_normal_form
Revises: 0004_session_epoch

Emails used to be stored lower-cased; now they are stored and compared NFKC
and case-folded (tz_app.emails.normalize_email), so that full-width or other
compatibility spellings of an address are one account. Each stored address is
rewritten to its normal form, and its search text with it, unless that would
make two accounts one:

- when several accounts share a normal form, the one already stored in it
  keeps it; failing that, the first active one (then the oldest) takes it;
- the others, and any address whose normal form no longer fits the column,
  are left exactly as stored and reported in the log with their ids. Every
  look-up now normalises what is typed, so such an address signs in nobody
  until an administrator gives the account another one.

Case folding can make one character three (ß → ss, ﬃ → ffi), so search_text
first grows to hold three folded names and a folded email.
"""

import logging
import unicodedata
from collections import defaultdict

import sqlalchemy as sa
from alembic import op

revision = "0005_email_normal_form"
down_revision = "0004_session_epoch"
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")

OLD_SEARCH_TEXT = 600
NEW_SEARCH_TEXT = 3 * (3 * 100 + 254) + 3
EMAIL_MAX = 254

users = sa.table(
    "users",
    sa.column("id", sa.Integer),
    sa.column("name", sa.String),
    sa.column("last_name", sa.String),
    sa.column("paternity_name", sa.String),
    sa.column("email", sa.String),
    sa.column("is_active", sa.Boolean),
    sa.column("search_text", sa.String),
)


def normal_email(email: str) -> str:
    """tz_app.emails.normalize_email as of this revision."""
    folded = unicodedata.normalize("NFKC", email).casefold()
    return unicodedata.normalize("NFKC", folded).strip()


def search_key(*parts: str | None) -> str:
    """tz_app.models.search_key as of this revision."""
    return " ".join(p.casefold() for p in parts if p)


def resize_search_text(length: int, *, cut: bool = False) -> None:
    """Change the declared length of users.search_text; ``cut`` longer contents to fit.

    Growing a PostgreSQL varchar changes the catalogue alone; cutting rewrites
    the table. SQLite gets plain ALTER TABLE steps (add, copy, drop, rename):
    a batch rebuild would drop the counter triggers of migration 0002 and,
    with foreign keys on, cascade its DROP TABLE to every user's sessions.
    """
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column(
            "users",
            "search_text",
            type_=sa.String(length),
            existing_nullable=False,
            postgresql_using=f"left(search_text, {length})" if cut else None,
        )
        return
    op.add_column(
        "users", sa.Column("search_text_new", sa.String(length), nullable=False, server_default="")
    )
    both = sa.table("users", sa.column("search_text"), sa.column("search_text_new"))
    op.execute(
        sa.update(both).values(search_text_new=sa.func.substr(both.c.search_text, 1, length))
    )
    op.drop_column("users", "search_text")
    op.execute("ALTER TABLE users RENAME COLUMN search_text_new TO search_text")


def upgrade():
    resize_search_text(NEW_SEARCH_TEXT)
    bind = op.get_bind()
    by_address = defaultdict(list)
    for row in bind.execute(sa.select(users).order_by(users.c.id)):
        by_address[normal_email(row.email)].append(row)
    for address, rows in by_address.items():
        keeper = next((r for r in rows if r.email == address), None)
        if keeper is None and len(address) <= EMAIL_MAX:
            keeper = min(rows, key=lambda r: (not r.is_active, r.id))
            bind.execute(
                sa.update(users)
                .where(users.c.id == keeper.id)
                .values(
                    email=address,
                    search_text=search_key(
                        keeper.name, keeper.last_name, keeper.paternity_name, address
                    ),
                )
            )
        left = [r.id for r in rows if r is not keeper]
        if left:
            log.warning(
                "users %s left with their stored email: its normal form %r %s",
                ", ".join(map(str, left)),
                address,
                f"belongs to user {keeper.id}" if keeper else "is too long",
            )


def downgrade():
    # Addresses stay in their normal form: the old spellings are not kept.
    resize_search_text(OLD_SEARCH_TEXT, cut=True)

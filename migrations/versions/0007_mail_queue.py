"""The mail queue, link tokens, and when a user's email was confirmed.

Revision ID: 0007_mail_queue
Revises: 0006_user_search_fts

Accounts that exist before this migration predate email confirmation: they
count as confirmed from their creation.
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_mail_queue"
down_revision = "0006_user_search_fts"
branch_labels = None
depends_on = None


# Plain ALTER TABLE on both databases: a batch (copy-and-move) rebuild on
# SQLite would drop the triggers of migrations 0002 and 0006.


def upgrade():
    op.add_column("users", sa.Column("email_verified_at", sa.DateTime(), nullable=True))
    op.execute("UPDATE users SET email_verified_at = created_at")

    op.create_table(
        "mail_queue",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("to_email", sa.String(length=254), nullable=True),
        sa.Column("language", sa.String(length=8), nullable=True),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("claimed_until", sa.DateTime(), nullable=True),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_mail_queue_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mail_queue")),
    )
    op.create_index("ix_mail_queue_due", "mail_queue", ["sent_at", "next_attempt_at"])
    op.create_index(op.f("ix_mail_queue_user_id"), "mail_queue", ["user_id"])

    op.create_table(
        "link_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(length=20), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("epoch", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("used_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_link_tokens_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_link_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_link_tokens_token_hash")),
    )
    op.create_index("ix_link_tokens_user_purpose", "link_tokens", ["user_id", "purpose"])


def downgrade():
    op.drop_index("ix_link_tokens_user_purpose", table_name="link_tokens")
    op.drop_table("link_tokens")
    op.drop_index(op.f("ix_mail_queue_user_id"), table_name="mail_queue")
    op.drop_index("ix_mail_queue_due", table_name="mail_queue")
    op.drop_table("mail_queue")
    op.drop_column("users", "email_verified_at")

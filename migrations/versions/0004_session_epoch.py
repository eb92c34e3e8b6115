"""A per-user session epoch: sign-ins that started before "end every session" cannot finish.

Revision ID: 0004_session_epoch
Revises: 0003_user_search_index
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_session_epoch"
down_revision = "0003_user_search_index"
branch_labels = None
depends_on = None


# Plain ALTER TABLE on both databases: a batch (copy-and-move) rebuild on
# SQLite would drop the counter triggers of migration 0002.


def upgrade():
    op.add_column(
        "users", sa.Column("session_epoch", sa.Integer(), nullable=False, server_default="0")
    )


def downgrade():
    op.drop_column("users", "session_epoch")

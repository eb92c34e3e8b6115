"""User counters kept by triggers, so the user list's total needs no table scan.

Revision ID: 0002_user_counters
Revises: 0001_initial
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_user_counters"
down_revision = "0001_initial"
branch_labels = None
depends_on = None

POSTGRES_FUNCTION = """
CREATE FUNCTION users_count_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    d_active bigint := 0;
    d_deleted bigint := 0;
BEGIN
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        SELECT count(*) FILTER (WHERE is_active), count(*) FILTER (WHERE NOT is_active)
          INTO d_active, d_deleted FROM new_rows;
    END IF;
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        SELECT d_active - count(*) FILTER (WHERE is_active),
               d_deleted - count(*) FILTER (WHERE NOT is_active)
          INTO d_active, d_deleted FROM old_rows;
    END IF;
    IF d_active <> 0 THEN
        UPDATE counters SET value = value + d_active WHERE name = 'users.active';
    END IF;
    IF d_deleted <> 0 THEN
        UPDATE counters SET value = value + d_deleted WHERE name = 'users.deleted';
    END IF;
    RETURN NULL;
END $$
"""

POSTGRES_TRIGGERS = [
    "CREATE TRIGGER users_count_insert AFTER INSERT ON users "
    "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION users_count_changed()",
    "CREATE TRIGGER users_count_update AFTER UPDATE ON users "
    "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows "
    "FOR EACH STATEMENT EXECUTE FUNCTION users_count_changed()",
    "CREATE TRIGGER users_count_delete AFTER DELETE ON users "
    "REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION users_count_changed()",
]

SQLITE_TRIGGERS = [
    """CREATE TRIGGER users_count_insert AFTER INSERT ON users BEGIN
        UPDATE counters SET value = value + 1
         WHERE name = CASE WHEN NEW.is_active THEN 'users.active' ELSE 'users.deleted' END;
    END""",
    """CREATE TRIGGER users_count_delete AFTER DELETE ON users BEGIN
        UPDATE counters SET value = value - 1
         WHERE name = CASE WHEN OLD.is_active THEN 'users.active' ELSE 'users.deleted' END;
    END""",
    """CREATE TRIGGER users_count_update AFTER UPDATE OF is_active ON users
       WHEN OLD.is_active IS NOT NEW.is_active BEGIN
        UPDATE counters SET value = value + CASE WHEN NEW.is_active THEN 1 ELSE -1 END
         WHERE name = 'users.active';
        UPDATE counters SET value = value + CASE WHEN NEW.is_active THEN -1 ELSE 1 END
         WHERE name = 'users.deleted';
    END""",
]

TRIGGER_NAMES = ["users_count_insert", "users_count_update", "users_count_delete"]


def upgrade():
    counters = op.create_table(
        "counters",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_counters")),
    )
    users = sa.table("users", sa.column("id"), sa.column("is_active", sa.Boolean))
    bind = op.get_bind()
    active = bind.scalar(sa.select(sa.func.count(users.c.id)).where(users.c.is_active))
    deleted = bind.scalar(sa.select(sa.func.count(users.c.id)).where(~users.c.is_active))
    op.bulk_insert(
        counters,
        [{"name": "users.active", "value": active}, {"name": "users.deleted", "value": deleted}],
    )
    if bind.dialect.name == "postgresql":
        op.execute(POSTGRES_FUNCTION)
        for statement in POSTGRES_TRIGGERS:
            op.execute(statement)
    elif bind.dialect.name == "sqlite":
        for statement in SQLITE_TRIGGERS:
            op.execute(statement)


def downgrade():
    bind = op.get_bind()
    for name in TRIGGER_NAMES:
        if bind.dialect.name == "postgresql":
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON users")
        else:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    if bind.dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS users_count_changed()")
    op.drop_table("counters")

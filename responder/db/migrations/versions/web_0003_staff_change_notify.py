"""PostgreSQL: NOTIFY on every change to staff sessions or accounts, for the web processes'
session caches (responder/web/session_cache.py)

Revision ID: web_0003
Revises: web_0002
"""

from collections.abc import Sequence

from alembic import op

revision: str = "web_0003"
down_revision: str | None = "web_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHANNEL = "responder_staff_changed"  # responder.web.session_cache.CHANNEL, fixed here as history
TABLES = ("staff_users", "staff_sessions")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        f"""
        CREATE FUNCTION responder_staff_changed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('{CHANNEL}', TG_TABLE_NAME);
            RETURN NULL;
        END
        $$
        """
    )
    for table in TABLES:
        op.execute(
            f"CREATE TRIGGER {table}_changed AFTER UPDATE OR DELETE OR TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION responder_staff_changed()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TABLES:
        op.execute(f"DROP TRIGGER {table}_changed ON {table}")
    op.execute("DROP FUNCTION responder_staff_changed()")

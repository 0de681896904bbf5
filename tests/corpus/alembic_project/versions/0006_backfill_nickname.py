"""data migration: backfill nickname, fix one account"""
from alembic import op

revision = "0006"
down_revision = "0005"


def upgrade() -> None:
    op.execute("UPDATE users SET nickname = display_name WHERE nickname IS NULL")
    op.execute("UPDATE accounts SET name = 'Support' WHERE id = 1")


def downgrade() -> None:
    op.execute("UPDATE users SET nickname = NULL")

"""rename a column, require nickname, drop last_seen"""
import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"


def upgrade() -> None:
    op.alter_column("users", "display_name", new_column_name="full_name")
    op.alter_column("users", "nickname", nullable=False, existing_type=sa.String(50))
    op.drop_column("users", "last_seen")


def downgrade() -> None:
    op.add_column("users", sa.Column("last_seen", sa.DateTime(timezone=True)))
    op.alter_column("users", "nickname", nullable=True, existing_type=sa.String(50))
    op.alter_column("users", "full_name", new_column_name="display_name")

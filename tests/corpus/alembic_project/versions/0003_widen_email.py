"""widen users.email, make last_seen timestamptz"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    op.alter_column("users", "email", type_=sa.String(255), existing_type=sa.String(100), existing_nullable=False)
    op.execute("SET LOCAL TIME ZONE 'UTC'")
    op.alter_column("users", "last_seen", type_=sa.DateTime(timezone=True), existing_type=sa.DateTime())


def downgrade() -> None:
    op.alter_column("users", "last_seen", type_=sa.DateTime(), existing_type=sa.DateTime(timezone=True))
    op.alter_column("users", "email", type_=sa.String(100), existing_type=sa.String(255))

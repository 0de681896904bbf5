"""an index built concurrently, outside the migration's transaction"""
from alembic import op

revision = "0007"
down_revision = "0006"


def upgrade() -> None:
    with op.get_context().autocommit_block():
        op.create_index("ix_orders_user_id", "orders", ["user_id"], postgresql_concurrently=True)


def downgrade() -> None:
    with op.get_context().autocommit_block():
        op.drop_index("ix_orders_user_id", "orders", postgresql_concurrently=True)

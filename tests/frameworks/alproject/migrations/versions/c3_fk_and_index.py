"""foreign key and index (one branch)

Revision ID: c3
Revises: b2
"""
from alembic import op
import sqlalchemy as sa

revision = "c3"
down_revision = "b2"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("orders", sa.Column("customer_id", sa.Integer))
    op.create_foreign_key("orders_customer_fk", "orders", "customer", ["customer_id"], ["id"])
    op.create_index("orders_status_idx", "orders", ["status"])
    with op.get_context().autocommit_block():
        op.create_index("orders_note_idx", "orders", ["note"], postgresql_concurrently=True)


def downgrade():
    op.drop_index("orders_note_idx", table_name="orders")
    op.drop_index("orders_status_idx", table_name="orders")
    op.drop_constraint("orders_customer_fk", "orders")
    op.drop_column("orders", "customer_id")

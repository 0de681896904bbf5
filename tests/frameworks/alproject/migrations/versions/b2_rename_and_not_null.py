"""rename total, add a NOT NULL column

Revision ID: b2
Revises: a1
"""
from alembic import op
import sqlalchemy as sa

revision = "b2"
down_revision = "a1"
branch_labels = None
depends_on = None


def upgrade():
    op.alter_column("orders", "total", new_column_name="amount")
    op.add_column("orders", sa.Column("status", sa.String(20), nullable=False, server_default="new"))
    op.add_column("orders", sa.Column("region", sa.String(20), nullable=False))


def downgrade():
    op.drop_column("orders", "region")
    op.drop_column("orders", "status")
    op.alter_column("orders", "amount", new_column_name="total")

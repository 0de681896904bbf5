"""rename total to amount

Revision ID: e2
Revises: e1
"""
from alembic import op

revision = "e2"
down_revision = "e1"
branch_labels = None
depends_on = None


def upgrade():
    op.alter_column("entry", "total", new_column_name="amount")


def downgrade():
    op.alter_column("entry", "amount", new_column_name="total")

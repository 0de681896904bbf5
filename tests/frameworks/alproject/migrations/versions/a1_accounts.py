"""create accounts and orders

Revision ID: a1
Revises:
"""
from alembic import op
import sqlalchemy as sa

revision = "a1"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table("customer", sa.Column("id", sa.Integer, primary_key=True), sa.Column("name", sa.String(100)))
    op.create_table("orders", sa.Column("id", sa.Integer, primary_key=True), sa.Column("total", sa.Integer),
                    sa.Column("note", sa.String(200)))


def downgrade():
    op.drop_table("orders")
    op.drop_table("customer")

"""create entries

Revision ID: e1
Revises:
"""
from alembic import op
import sqlalchemy as sa

revision = "e1"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table("entry", sa.Column("id", sa.Integer, primary_key=True),
                    sa.Column("total", sa.Integer, nullable=False), sa.Column("note", sa.String(100), nullable=False))


def downgrade():
    op.drop_table("entry")

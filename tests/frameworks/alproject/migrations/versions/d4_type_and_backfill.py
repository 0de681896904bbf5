"""type change and a backfill through the connection (the other branch)

Revision ID: d4
Revises: b2
"""
from alembic import op
import sqlalchemy as sa

from helpers import rebuild_totals

revision = "d4"
down_revision = "b2"
branch_labels = None
depends_on = None


def upgrade():
    op.alter_column("orders", "amount", type_=sa.BigInteger)
    conn = op.get_bind()
    conn.execute(sa.text("UPDATE orders SET note = 'n/a' WHERE note IS NULL"))
    rebuild_totals(conn)


def downgrade():
    op.alter_column("orders", "amount", type_=sa.Integer)

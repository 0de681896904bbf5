"""orders referencing users, with a unique constraint and a check"""
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    op.create_table("orders", sa.Column("id", sa.BigInteger, primary_key=True),
                    sa.Column("user_id", sa.BigInteger, nullable=False),
                    sa.Column("number", sa.String(20), nullable=False),
                    sa.Column("amount", sa.Numeric(12, 2), nullable=False, server_default="0"))
    op.create_foreign_key("orders_user_id_fkey", "orders", "users", ["user_id"], ["id"])
    op.create_unique_constraint("orders_number_key", "orders", ["number"])
    op.create_check_constraint("orders_amount_positive", "orders", "amount >= 0")


def downgrade() -> None:
    op.drop_table("orders")

"""create accounts and users"""
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None


def upgrade() -> None:
    op.create_table("accounts", sa.Column("id", sa.BigInteger, primary_key=True),
                    sa.Column("name", sa.String(100), nullable=False),
                    sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False))
    op.create_table("users", sa.Column("id", sa.BigInteger, primary_key=True),
                    sa.Column("account_id", sa.BigInteger, sa.ForeignKey("accounts.id"), nullable=False),
                    sa.Column("email", sa.String(100), nullable=False),
                    sa.Column("display_name", sa.String(50), nullable=False, server_default=""),
                    sa.Column("last_seen", sa.DateTime(), nullable=True))
    op.create_index("ix_users_account_id", "users", ["account_id"])


def downgrade() -> None:
    op.drop_table("users")
    op.drop_table("accounts")

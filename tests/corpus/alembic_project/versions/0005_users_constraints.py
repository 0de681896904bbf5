"""constraints on an existing, busy table: the safe forms"""
from alembic import op

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '2s'")
    op.execute("ALTER TABLE users ADD CONSTRAINT users_email_lower CHECK (email = lower(email)) NOT VALID")
    op.execute("ALTER TABLE users VALIDATE CONSTRAINT users_email_lower")


def downgrade() -> None:
    op.drop_constraint("users_email_lower", "users")

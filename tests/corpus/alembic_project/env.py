"""Alembic environment of the corpus project: offline only (SQL script output)."""

from alembic import context

context.configure(url=context.config.get_main_option("sqlalchemy.url"), target_metadata=None, literal_binds=True,
                  dialect_opts={"paramstyle": "named"}, transaction_per_migration=True)
with context.begin_transaction():
    context.run_migrations()

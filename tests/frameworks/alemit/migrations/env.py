"""The sample project's env.py (the generic template, trimmed): the URL comes from MIGSPEC_TEST_DSN."""
import os

from alembic import context
from sqlalchemy import create_engine

config = context.config


def url():
    from psycopg.conninfo import conninfo_to_dict
    from sqlalchemy.engine import URL

    dsn = os.environ.get("MIGSPEC_TEST_DSN")
    if not dsn:
        return config.get_main_option("sqlalchemy.url")
    p = conninfo_to_dict(dsn)
    return URL.create("postgresql+psycopg", username=p.get("user"), password=p.get("password"),
                      host=p.get("host"), port=int(p["port"]) if p.get("port") else None, database=p.get("dbname"))


def run_migrations_offline():
    context.configure(url=url(), literal_binds=True, transaction_per_migration=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online():
    engine = create_engine(url())
    with engine.connect() as connection:
        context.configure(connection=connection, transaction_per_migration=True)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()

"""A schema file applied to a scratch database (``migspec.schema.applied.apply_ddl``), on the real
server: sent as one batch, and a statement at a time when the batch fails - a statement that
cannot run in a transaction block, an enum value used in the file that adds it, bad input (the
failing statement named) - and always a statement at a time for a file with its own transaction
control (a failed batch would keep what its COMMIT committed)."""

from __future__ import annotations

import psycopg
import pytest

from migspec.errors import InputError
from migspec.schema.applied import apply_ddl
from migspec.schema.catalog import load_catalog
from migspec.names import QualifiedName


def _tables(dsn: str) -> set[str]:
    with psycopg.connect(dsn) as conn:
        return {t.name for t in load_catalog(conn).tables}


def test_a_file_needing_one_statement_at_a_time_still_applies(pg_dsn: str) -> None:
    text = """
CREATE SCHEMA public;
CREATE TYPE mood AS ENUM ('sad');
ALTER TYPE mood ADD VALUE 'ok';
CREATE TABLE t (id int PRIMARY KEY, m mood DEFAULT 'ok');
CREATE INDEX CONCURRENTLY t_m ON t (m);
"""
    assert apply_ddl(pg_dsn, text, "schema.sql") == 5
    with psycopg.connect(pg_dsn) as conn:
        schema = load_catalog(conn)
    assert schema.enums[QualifiedName("public", "mood")].labels == ("sad", "ok")
    assert "t_m" in schema.tables[QualifiedName("public", "t")].indexes


def test_a_statement_postgres_rejects_is_named_and_nothing_of_the_batch_is_kept(pg_dsn: str) -> None:
    text = "CREATE TABLE a (id int);\nCREATE TABLE b (id int REFERENCES missing (id));\nCREATE TABLE c (id int);\n"
    with pytest.raises(InputError, match=r"^schema.sql:2:1: the schema does not load on the scratch server: .*missing"):
        apply_ddl(pg_dsn, text, "schema.sql")
    assert _tables(pg_dsn) == {"a"}  # as a statement at a time leaves it: the batch was rolled back


def test_a_file_with_its_own_transactions_runs_a_statement_at_a_time(pg_dsn: str) -> None:
    text = "BEGIN;\nCREATE TABLE a (id int);\nCOMMIT;\nCREATE TABLE a (id int);\n"
    with pytest.raises(InputError, match=r"^schema.sql:4:1: .*already exists"):
        apply_ddl(pg_dsn, text, "schema.sql")
    assert _tables(pg_dsn) == {"a"}


def test_a_schema_the_database_has_is_not_created_again(pg_dsn: str) -> None:
    text = "CREATE SCHEMA public;\nCREATE SCHEMA app;\nCREATE TABLE app.t (id int);\n"
    assert apply_ddl(pg_dsn, text, "schema.sql") == 3
    with psycopg.connect(pg_dsn) as conn:
        assert QualifiedName("app", "t") in load_catalog(conn).tables

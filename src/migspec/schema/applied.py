"""The model of a DDL file as PostgreSQL itself reads it: the file is run on a throwaway server
(migspec.pgserver, removed after) and the result is read back by the catalog loader. Unlike the
static loader this knows every implicit name, cast and default PostgreSQL adds, and fails on a
file PostgreSQL rejects (bad input, exit 2, naming the statement)."""

from __future__ import annotations

import secrets
from pathlib import Path

import psycopg

from migspec.errors import InputError, RefusedError
from migspec.names import quote_ident
from migspec.parse.source import Statement, read_text
from migspec.schema.ddl import ddl_statements
from migspec.schema.model import Schema


def apply_ddl(dsn: str, text: str, origin: str) -> int:
    """Run a dump or DDL file on a connection of its own (pg_dump empties search_path for its
    session); return how many statements it has.

    The whole file goes first as one simple-query message: one round trip and one implicit
    transaction (about half the time of a statement at a time for a 40-table schema,
    bench/s_target.py). When that fails - bad input, or a statement that cannot run in a
    transaction block - none of it was committed, and the file runs again a statement at a time,
    which names the statement that fails. A file with transaction control of its own (BEGIN,
    COMMIT ...) would commit part of a failed batch: it only runs a statement at a time."""
    return apply_statements(dsn, ddl_statements(text, origin))


def apply_statements(dsn: str, statements: list[Statement]) -> int:
    """:func:`apply_ddl` of statements already read (:func:`ddl_statements`)."""
    with psycopg.connect(dsn, autocommit=True, application_name="migspec schema") as conn:
        if not _all_at_once(conn, statements):
            _one_at_a_time(conn, statements)
    return len(statements)


def _creates_existing_schema(conn: psycopg.Connection, s: Statement, existing: set[str] | None = None) -> bool:
    """CREATE SCHEMA of one the database has ("public" exists in every new database)."""
    if s.kind != "CreateSchemaStmt":
        return False
    name = s.tree["CreateSchemaStmt"].get("schemaname")
    if existing is not None:
        return name in existing
    return conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (name,)).fetchone() is not None


def _all_at_once(conn: psycopg.Connection, statements: list[Statement]) -> bool:
    if any(s.kind == "TransactionStmt" or s.kind == "DropStmt" and s.tree["DropStmt"].get("removeType") ==
           "OBJECT_SCHEMA" for s in statements):
        return False  # commits part of a failed batch / drops a schema that was there before the file
    existing = {name for (name,) in conn.execute("SELECT nspname FROM pg_namespace").fetchall()}
    # A line of its own for each ";": a statement may end in a -- comment.
    batch = "\n;\n".join(s.sql for s in statements if not _creates_existing_schema(conn, s, existing))
    try:
        conn.execute(batch)
    except psycopg.Error:
        return False
    return True


def _one_at_a_time(conn: psycopg.Connection, statements: list[Statement]) -> None:
    for s in statements:
        if _creates_existing_schema(conn, s):
            continue
        try:
            conn.execute(s.sql)
        except psycopg.Error as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise InputError(f"{s.location}: the schema does not load on the scratch server: {first}") from None


def load_applied(path: str | Path, *, major: int | None = None) -> Schema:
    """Run ``path`` on a new throwaway server of ``major`` (None: the first one found) and read
    the result from its catalog."""
    from migspec.pgserver import ServerError, scratch_parent, start_server
    from migspec.schema.catalog import load_catalog

    text = read_text(Path(path))
    try:
        server = start_server(fast=True, major=major, template=True, parent=scratch_parent())
    except ServerError as exc:
        raise RefusedError(f"cannot start a throwaway PostgreSQL server to read {path}: {exc}") from None
    with server:
        name = f"migspec_schema_{secrets.token_hex(4)}"
        with psycopg.connect(server.dsn, autocommit=True) as admin:
            admin.execute(f"CREATE DATABASE {quote_ident(name)}")
        apply_ddl(server.dsn_for(name), text, str(path))
        with psycopg.connect(server.dsn_for(name), autocommit=True) as conn:
            return load_catalog(conn)

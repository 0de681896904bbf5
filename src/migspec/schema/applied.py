"""The model of a DDL file as PostgreSQL itself reads it: the file is run on a throwaway server
(migspec.pgserver, removed after) and the result is read back by the catalog loader. Unlike the
static loader this knows every implicit name, cast and default PostgreSQL adds, and fails on a
file PostgreSQL rejects (bad input, exit 2, naming the statement)."""

from __future__ import annotations

import secrets
from pathlib import Path

import psycopg
from pglast import ast

from migspec.errors import InputError, RefusedError
from migspec.names import quote_ident
from migspec.parse.source import read_text
from migspec.schema.ddl import dump_statements
from migspec.schema.model import Schema


def apply_ddl(dsn: str, text: str, origin: str) -> int:
    """Run a dump or DDL file statement by statement on its own connection (pg_dump empties
    search_path for its session); return how many ran."""
    statements = dump_statements(text, origin)
    if not statements:
        raise InputError(f"{origin}: no SQL statements: give a 'pg_dump --schema-only' or DDL file")
    with psycopg.connect(dsn, autocommit=True, application_name="migspec schema") as conn:
        for location, sql, node in statements:
            if isinstance(node, ast.CreateSchemaStmt) and conn.execute(
                    "SELECT 1 FROM pg_namespace WHERE nspname = %s", (node.schemaname,)).fetchone():
                continue  # "public" exists in every new database
            try:
                conn.execute(sql)
            except psycopg.Error as exc:
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise InputError(f"{location}: the schema does not load on the scratch server: {first}") from None
    return len(statements)


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

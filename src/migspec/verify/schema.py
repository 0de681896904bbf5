"""The pre-migration schema on the scratch database: a ``pg_dump --schema-only`` file run statement
by statement, or - without one - DDL rebuilt from the schema facts of the stats file."""

from __future__ import annotations

from pathlib import Path

import psycopg

from migspec.errors import InputError, RefusedError
from migspec.names import quote_ident
from migspec.parse.source import read_text
from migspec.schema import Schema
from migspec.schema.applied import apply_ddl


def create_from_dump(dsn: str, path: str | Path) -> int:
    """Run the dump on a connection of its own (pg_dump empties search_path for its session)."""
    p = Path(path)
    return apply_ddl(dsn, read_text(p), str(p))


def ddl_from_model(facts: Schema) -> list[str]:
    """CREATE TABLE (columns, defaults, NOT NULL, primary key) for every table, then constraints
    (foreign keys need every table), then indexes. Triggers are left out: their functions are
    not part of the facts."""
    tables, later = [], []
    schemas = sorted({t.schema for t in facts.tables} - {"public"})
    for name, tf in sorted(facts.tables.items()):
        if not tf.columns:
            continue
        cols = []
        for col in tf.columns.values():
            text = f"{quote_ident(col.name)} {col.type}"
            if col.default:
                text += f" DEFAULT {col.default}"
            if col.identity:  # the sequence an INSERT without the key draws from
                text += f" GENERATED {'ALWAYS' if col.identity == 'always' else 'BY DEFAULT'} AS IDENTITY"
            if col.not_null:
                text += " NOT NULL"
            cols.append(text)
        tables.append(f"CREATE TABLE {name.sql} ({', '.join(cols)})")
        later += [f"ALTER TABLE {name.sql} ADD CONSTRAINT {quote_ident(c.name)} {c.definition}"
                  for c in tf.constraints.values() if c.definition]
        later += [i.definition for i in tf.indexes.values() if i.name not in tf.constraints]
    return [f"CREATE SCHEMA IF NOT EXISTS {quote_ident(s)}" for s in schemas] + tables + \
        sorted(later, key=lambda s: "FOREIGN KEY" in s.upper())


def create_from_model(dsn: str, facts: Schema) -> int:
    statements = ddl_from_model(facts)
    if not statements:
        raise RefusedError("verify needs the pre-migration schema: give --schema with a 'pg_dump --schema-only' "
                           "file (or a stats file whose tables carry a schema section, from 'migspec measure')")
    with psycopg.connect(dsn, autocommit=True, application_name="migspec verify schema") as conn:
        for sql in statements:
            try:
                conn.execute(sql)
            except psycopg.Error as exc:
                first = str(exc).strip().splitlines()[0]
                raise InputError(f"the schema facts of the stats file do not load: {first}: {sql}") from None
    return len(statements)

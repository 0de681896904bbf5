"""The one schema model: tables (columns with type, default, nullability, collation, identity,
generated expression; constraints; indexes with their definitions; triggers; partitions),
sequences, enums and views with the tables and columns they read. Plain dataclasses
(``migspec.schema.model``); ``Schema.fingerprint()`` is a stable hash of it.

Fill it from:
  - SQL text, no server (a ``pg_dump --schema-only`` file, a DDL file):
    ``load_schema_file(path)`` / ``load_ddl(text)`` (``migspec.schema.ddl``);
  - the stats file ``migspec measure`` wrote: ``from_stats(stats)`` (``migspec.schema.measured``);
  - both, as lint, plan and verify do: ``load(stats, schema_path)`` (the dump wins where both speak);
  - a live database, read-only: ``load_catalog(conn)`` / ``load_dsn(dsn)`` (``migspec.schema.catalog``,
    PostgreSQL 13-18);
  - a DDL file as PostgreSQL reads it: ``load_applied(path)`` runs it on a throwaway server and
    reads the catalog back (``migspec.schema.applied``).

Read it: ``schema.tables[QualifiedName]`` -> ``Table`` (``columns``, ``constraints``,
``indexes``, ``triggers``, ``primary_key``, ``unique_keys``), ``schema.views_reading(t, col)``,
``schema.index_table(index)``, ``schema.fingerprint()`` (``fingerprint(tables)``: only those).
A dump read statically and the catalog it came from have one fingerprint: every text is compared
in one spelling (``migspec.schema.normal``). ``migspec.schema.drift`` is what a plan records of
the tables it changes and what ``apply`` compares with the live catalog.

The migration walk (``migspec.analysis``) copies the model and lets each operation apply itself to
it (``Operation.apply(schema)``); the walk-only facts live on the same objects and are left out of
the fingerprint: ``Table.created_here`` / ``measured``, ``Index.created_here``,
``Schema.dropped`` / ``notes`` / ``timezone``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from migspec.schema.measured import from_stats
from migspec.schema.model import (CHECK, EXCLUDE, FOREIGN, NOT_NULL, PRIMARY, UNIQUE, Column, Constraint, EnumType,
                                  Index, Schema, Sequence, Table, Trigger, View)
from migspec.stats import Stats

if TYPE_CHECKING:
    from pathlib import Path


def load(stats: Stats, schema_path: str | Path | None = None) -> Schema:
    """The model from the stats file, then a pg_dump / DDL file over it (it is the fuller source)."""
    schema = from_stats(stats)
    if schema_path:
        from migspec.schema.ddl import load_schema_file

        load_schema_file(schema_path, schema)
    return schema


#: The SQL loader's names, imported on first use: it needs pglast's node classes and printer, which
#: ``migspec lint`` of .sql files never does (issue 16: lint imports only what it uses).
_DDL = ("learn", "load_ddl", "load_schema_file", "sql_of")


def __getattr__(name: str) -> Any:
    if name in _DDL:
        from migspec.schema import ddl

        return getattr(ddl, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["CHECK", "EXCLUDE", "FOREIGN", "NOT_NULL", "PRIMARY", "UNIQUE", "Column", "Constraint", "EnumType",
           "Index", "Schema", "Sequence", "Table", "Trigger", "View", "from_stats", "learn", "load", "load_ddl",
           "load_schema_file", "sql_of"]

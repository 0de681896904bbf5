"""One spelling per meaning, for comparing schemas read from different sources: a dump, the stats
file and the live catalog all carry PostgreSQL's own deparse (format_type, pg_get_expr,
pg_get_*def), but search_path decides whether names come out qualified, and a DDL file a person
wrote spells casts and parentheses their way. Each text is parsed by pglast and printed back;
text pglast cannot parse is kept as written (it still compares equal to itself)."""

from __future__ import annotations

import functools
import re
from typing import Any

from pglast import ast, parse_sql
from pglast.parser import ParseError

from migspec.ops.types import ColumnType


def _print(node: Any) -> str:
    from migspec.schema.ddl import sql_of

    return sql_of(node)


@functools.lru_cache(maxsize=8192)
def type_text(text: str) -> str:
    """``character varying(20)`` and ``varchar(20)``, ``integer`` and ``int4``: one spelling."""
    try:
        return str(ColumnType.parse(text))
    except ValueError:
        return " ".join(text.lower().split())


@functools.lru_cache(maxsize=8192)
def expression(text: str) -> str:
    try:
        return _print(parse_sql(f"SELECT {text}")[0].stmt.targetList[0].val)
    except (ParseError, IndexError, AttributeError):
        return text.strip()


@functools.lru_cache(maxsize=8192)
def constraint(definition: str) -> str:
    """A constraint's definition (``CHECK ((qty > 0)) NOT VALID``) without its name."""
    try:
        con = parse_sql(f"ALTER TABLE t ADD CONSTRAINT x {definition}")[0].stmt.cmds[0].def_
    except (ParseError, IndexError, AttributeError):
        return definition.strip()
    return _print(con).removeprefix("CONSTRAINT x ")


@functools.lru_cache(maxsize=8192)
def statement(text: str, schema: str) -> str:
    """A CREATE INDEX / CREATE TRIGGER statement, its table qualified with ``schema`` when the
    text left it to the search_path."""
    try:
        node = parse_sql(text)[0].stmt
    except (ParseError, IndexError):
        return text.strip()
    relation = getattr(node, "relation", None)
    if isinstance(relation, ast.RangeVar) and relation.schemaname is None:
        relation.schemaname = schema
    if isinstance(node, ast.IndexStmt) and isinstance(relation, ast.RangeVar):
        # pg_get_indexdef and pg_dump write a partitioned table's index ON ONLY (its partitions'
        # indexes are attached one by one); written without ONLY it is the same index.
        relation.inh = True
    return _print(node)


@functools.lru_cache(maxsize=8192)
def query(text: str) -> str:
    try:
        return _print(parse_sql(text.strip().rstrip(";"))[0].stmt)
    except (ParseError, IndexError):
        return text.strip()


@functools.lru_cache(maxsize=1024)
def partition_bound(text: str) -> str:
    try:
        return _print(parse_sql(f"CREATE TABLE x PARTITION OF y {text}")[0].stmt.partbound)
    except (ParseError, IndexError, AttributeError):
        return text.strip()


@functools.lru_cache(maxsize=8192)
def unqualified(text: str, schema: str) -> str:
    """``text`` with ``schema.`` dropped before names: PostgreSQL qualifies a name in a deparse
    only when search_path does not find it (a dump empties search_path, ``migspec measure`` keeps
    the user's), so ``public.orders_id_seq`` and ``orders_id_seq`` are one name here."""
    quoted = re.escape('"' + schema.replace('"', '""') + '"')
    return re.sub(rf"(?<![\w$\".])(?:{re.escape(schema)}|{quoted})\.(?=[\w\"])", "", text)

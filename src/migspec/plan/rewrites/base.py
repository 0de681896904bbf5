"""What every rewrite module shares: the registry (``handles``) and the facts a rewrite needs
(primary key, a column's type, confirmations), refused with a message when missing."""

from __future__ import annotations

import functools

from collections.abc import Callable
from typing import Any

from pglast import ast

from migspec.analysis import Analyzed
from migspec.errors import RefusedError
from migspec.frozen import frozen
from migspec.names import QualifiedName, quote_literal
from migspec.ops.base import Operation
from migspec.plan.context import PlanContext
from migspec.plan.context import require
from migspec.schema import Column, Schema
from migspec.plan.steps import Steps
from migspec.planfile.sql import q

Rewrite = Callable[[Analyzed, PlanContext], Steps]
#: Operation class -> its rewrite, filled by ``@handles`` as the package's modules are imported.
REWRITES: dict[type[Operation], Rewrite] = {}


def handles(*operations: type[Operation]) -> Callable[[Rewrite], Rewrite]:
    """Register the decorated function as the rewrite of ``operations`` (one rewrite each)."""
    def register(fn: Rewrite) -> Rewrite:
        for op in operations:
            if op in REWRITES:
                raise RuntimeError(f"two rewrites for {op.__name__}: {REWRITES[op].__module__} and {fn.__module__}")
            REWRITES[op] = fn
        return fn
    return register


@frozen
class Known:
    """ops.base.Known over the planner's schema model: what an operation's reverse() may ask, a
    fact nobody gave refused (exit 3) with the way to give it."""

    schema: Schema

    def column_default(self, table: QualifiedName, column: str) -> str | None:
        found = self.schema.known(table)
        col = found.columns.get(column) if found else None
        require(col, f"the current default of {table}.{column} (its DOWN restores it)")
        assert col is not None
        return col.default

    def constraint_definition(self, table: QualifiedName, name: str) -> str:
        found = self.schema.known(table)
        con = found.constraints.get(name) if found else None
        definition = con.definition if con else None
        require(definition, f"the definition of constraint {name} on {table} (its DOWN re-adds it)")
        assert definition is not None
        return definition

    def recreate(self, kind: str, name: QualifiedName) -> str | None:
        """The CREATE of a view, sequence or enum type the schema model holds, else None. A sequence
        comes back with the parameters the model holds (a model read from a dump without them: the
        type's defaults), not its last value."""
        if kind == "VIEW":
            view = self.schema.views.get(name)
            if view is not None and view.definition and not view.materialized:
                return f"CREATE VIEW {name.sql} AS {view.definition}"
        elif kind == "SEQUENCE" and (seq := self.schema.sequences.get(name)) is not None:
            options = [f"{sql} {getattr(seq, attr)}" for attr, sql in _SEQUENCE_OPTIONS
                       if getattr(seq, attr, None) is not None]
            return " ".join([f"CREATE SEQUENCE {name.sql} AS {seq.type}", *options] + (["CYCLE"] if seq.cycle else []))
        elif kind == "TYPE" and (enum := self.schema.enums.get(name)) is not None:
            return f"CREATE TYPE {name.sql} AS ENUM ({', '.join(map(quote_literal, enum.labels))})"
        return None


_SEQUENCE_OPTIONS = (("increment", "INCREMENT BY"), ("minimum", "MINVALUE"), ("maximum", "MAXVALUE"),
                     ("start", "START WITH"), ("cache", "CACHE"))


def table_of(op: Operation) -> QualifiedName:
    assert op.table is not None
    return op.table


def primary_key(ctx: PlanContext, t: QualifiedName) -> tuple[str, ...]:
    facts = ctx.schema.known(t)
    pk = facts.primary_key if facts else ()
    require(pk, f"the primary key of {t} (batched backfills walk it as a keyset cursor; a table without one "
                "cannot be backfilled online)")
    return pk


def column_fact(ctx: PlanContext, t: QualifiedName, column: str) -> Column:
    facts = ctx.schema.known(t)
    col = facts.columns.get(column) if facts else None
    require(col and col.type, f"the type of {t}.{column} (the new column must match it)")
    assert col is not None
    return col


def refuse_if_views_read(ctx: PlanContext, item: Analyzed, t: QualifiedName, column: str, what: str) -> None:
    views = ctx.schema.views_reading(t, column)
    if views:
        raise RefusedError(f"{item.stmt.location}: cannot plan {what} of {t}.{column}: view(s) "
                           f"{', '.join(map(str, views))} read it and would keep reading the old column (or block "
                           "its drop); change the view(s) in the migration first, or plan this by hand")


def confirmation(ctx: PlanContext, t: QualifiedName, column: str | None = None) -> tuple[str, bool]:
    """The canonical target (``schema.table[.column]``, quoted where SQL needs it) and whether the
    user confirmed it (``--confirm`` or an inline directive; the builder normalizes both)."""
    canonical = f"{t}.{q(column)}" if column else str(t)
    return canonical, canonical in ctx.confirmed


@functools.lru_cache(maxsize=4096)
def parse_one(sql: str) -> Any:
    """A definition from the schema facts, parsed once: indexes_on() asks for every index of a
    table at each drop or rename (re-parsing made plan time grow quadratically: BENCHMARKS.md).
    Callers deep-copy before changing the tree."""
    from pglast import parse_sql

    return parse_sql(sql)[0].stmt


def cmd_index(item: Analyzed) -> int:
    """Which sub-command of the ALTER TABLE this operation came from."""
    node = item.stmt.node
    for i, cmd in enumerate(node.cmds):
        d = getattr(cmd, "def_", None)
        if isinstance(d, ast.ColumnDef) and d.colname == getattr(item.op, "column", None):
            return i
    return 0

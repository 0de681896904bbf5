"""Data changes: UPDATE, DELETE, INSERT ... SELECT.

They take ROW EXCLUSIVE (which blocks no reader or writer of other rows) but hold a row lock on
every row they touch until commit, write WAL for every row and leave dead tuples behind
(postgres-locks.md row 25).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from migspec.frozen import field, frozen
from migspec.locks import LockMode
from migspec.ops.base import Effect, Operation, RelationLock, Work
from migspec.ops.expressions import Expression, svals, tree_of, unwrap, walk
from migspec.schema import Schema


def _conjuncts(expr: Any) -> list[Any]:
    kind, body = unwrap(expr)
    if kind == "BoolExpr" and body.get("boolop") == "AND_EXPR":
        return [c for arg in body.get("args", ()) for c in _conjuncts(arg)]
    return [expr]


def _is_value(expr: Any) -> bool:
    """A constant or parameter (possibly cast): the same for every row."""
    return not any(kind in ("ColumnRef", "SubLink", "FuncCall") for kind, _ in walk(expr))


def _column(expr: Any, names: set[str]) -> str | None:
    """The column an expression names, if it is a bare or table-qualified column of this table."""
    kind, body = unwrap(expr)
    fields = body.get("fields") or []
    if kind != "ColumnRef" or not all(unwrap(f)[0] == "String" for f in fields):
        return None
    parts = svals(fields)
    if len(parts) == 1 or (len(parts) == 2 and parts[0] in names):
        return parts[-1]
    return None


def rows_bound(where: Any, names: set[str], keys: Callable[[], set[frozenset[str]]]) -> int | None:
    """At most how many rows ``where`` matches, from equalities (``col = value``, ``col IN (v, ...)``)
    ANDed at the top level that cover a unique key; None when nothing bounds it. ``keys`` gives
    the table's unique keys, asked only when there are equalities (it reads every index)."""
    if where is None:
        return None
    eq: dict[str, int] = {}
    for conjunct in _conjuncts(tree_of(where)):
        kind, c = unwrap(conjunct)
        if kind != "A_Expr" or svals(c.get("name")) != ["="]:
            continue
        lexpr, rexpr = c.get("lexpr"), c.get("rexpr")
        if c.get("kind") == "AEXPR_OP":
            for col_side, value_side in ((lexpr, rexpr), (rexpr, lexpr)):
                col = _column(col_side, names)
                if col and _is_value(value_side):
                    eq[col] = 1
                    break
        elif c.get("kind") == "AEXPR_IN" and unwrap(rexpr)[0] == "List":  # IN (a, b), not IN (SELECT ...)
            values = unwrap(rexpr)[1].get("items") or []
            col = _column(lexpr, names)
            if col and all(_is_value(v) for v in values):
                eq[col] = min(eq.get(col, len(values)), len(values))
    if not eq:
        return None
    bounds = []
    for key in keys():
        if key and key <= eq.keys():
            product = 1
            for col in key:
                product *= eq[col]
            bounds.append(product)
    return min(bounds, default=None)


@frozen(kw_only=True)
class DataChange(Operation):
    """A statement that writes rows of an existing table."""

    has_where: bool = False
    columns: tuple[str, ...] = ()  # UPDATE: the columns set
    where: Expression | None = field(default=None, compare=False, repr=False)  # the WHERE clause
    alias: str | None = None  # UPDATE t AS x: the name the WHERE may qualify columns with
    lock = LockMode.ROW_EXCLUSIVE
    verb: ClassVar[str] = "UPDATE"

    def effect(self, schema: Schema, version: int) -> Effect:
        assert self.table
        state = schema.tables.get(self.table)
        names = {self.table.name} | ({self.alias} if self.alias else set())
        bound = rows_bound(self.where, names, lambda: state.unique_keys) if state else None
        if bound is not None:
            note = f"the WHERE is an equality on a unique key: at most {bound:,} row{'s' if bound != 1 else ''}"
        elif self.has_where:
            note = "the WHERE clause's selectivity is unknown: migspec assumes it may match every row"
        else:
            note = "no WHERE clause: every row is touched"
        return Effect((RelationLock(self.table, self.lock),), Work.ROWS, (
            f"{self.verb} row-locks every row it touches until commit; {note}",), work_rows_max=bound)

    def describe(self) -> str:
        return f"{self.verb} {'some' if self.has_where else 'all'} rows of {self.table}"


@frozen(kw_only=True)
class Update(DataChange):
    """UPDATE."""

    kind: ClassVar[str] = "update"
    verb: ClassVar[str] = "UPDATE"


@frozen(kw_only=True)
class Delete(DataChange):
    """DELETE."""

    kind: ClassVar[str] = "delete"
    verb: ClassVar[str] = "DELETE"


@frozen(kw_only=True)
class Insert(DataChange):
    """INSERT (VALUES or SELECT)."""

    from_select: bool = False
    kind: ClassVar[str] = "insert"
    verb: ClassVar[str] = "INSERT"

    def effect(self, schema: Schema, version: int) -> Effect:
        assert self.table
        return Effect((RelationLock(self.table, self.lock),), Work.NONE,
                      ("INSERT adds rows; it blocks no reader or writer of existing rows",))

"""Expressions as the parser gives them, and their volatility from the generated pg_proc table.

An expression is kept as PostgreSQL's parse tree in libpg_query's JSON form (plain dicts and lists,
``{"FuncCall": {...}}``: the node's type is the one key, its fields the value; fields at their
default - false, 0, empty - are left out), never as pglast's Python node objects: building those
for every node was most of lint's time (issue 16). Whoever needs the SQL back (the planner)
re-reads the statement (migspec.parse.tree.pglast_node).

Volatility decides whether ADD COLUMN ... DEFAULT rewrites the table on PG11+: a volatile default
must be evaluated per row. migspec.catalog.volatility is generated from a real server's pg_proc
(tools/gen_catalog.py); a function it does not know (user-defined) is treated as volatile.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from migspec.frozen import field, frozen

_RANK = {"i": 0, "s": 1, "v": 2}

#: A parse-tree node in libpg_query's JSON form: ``{"Kind": {field: value, ...}}``.
Tree = dict[str, Any]


@frozen
class Expression:
    """One expression of a statement: its tree, and where it sits in the statement's tree (the
    keys and list positions from the statement node down) so the planner can re-print it."""

    tree: Tree
    statement_sql: str = field(repr=False)
    path: tuple[str | int, ...] = ()


def unwrap(node: Any) -> tuple[str, dict[str, Any]]:
    """(kind, fields) of a wrapped node ``{"Kind": {...}}``; ("", {}) for anything else."""
    if type(node) is dict and len(node) == 1:  # the hottest function of lint: no isinstance, no iter()
        for kind, body in node.items():
            if type(body) is dict:
                return kind, body
    return "", {}


def kind_of(node: Any) -> str:
    return unwrap(node)[0]


def svals(items: Any) -> list[str]:
    """The strings of a name list (``[{"String": {"sval": "pg_catalog"}}, ...]``); a ``*`` or any
    other node gives ""."""
    return [i["String"].get("sval", "") if type(i) is dict and type(i.get("String")) is dict else ""
            for i in items or ()]


def walk(tree: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    """(kind, fields) of every wrapped node at or below ``tree``, depth first."""
    stack = [tree]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            kind, body = unwrap(item)
            if kind and kind[0].isupper():
                yield kind, body
                stack.extend(body.values())
            else:
                stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def tree_of(expr: Expression | Tree | None) -> Any:
    return expr.tree if isinstance(expr, Expression) else expr


def volatility(name: str) -> str | None:
    """Volatility (``'i'``, ``'s'`` or ``'v'``) of built-in function ``name``, or None.

    Accepts ``now``, ``NOW`` and ``pg_catalog.now``. A name qualified with another schema, or one
    pg_catalog does not have, gives None: a user function whose volatility only its own CREATE
    FUNCTION (or the live database) can tell; callers treat it as volatile."""
    from migspec.catalog.volatility import VOLATILITY

    schema, _, base = name.strip().lower().rpartition(".")
    if schema and schema != "pg_catalog":
        return None
    return VOLATILITY.get(base)


_NAMES = {"i": "immutable", "s": "stable", "v": "volatile"}


def expression_volatility(expr: Expression | Tree | None) -> tuple[str, tuple[str, ...]]:
    """('i'|'s'|'v', volatile or unknown function names found) for an expression tree."""
    worst = "i"
    culprits: list[str] = []
    for kind, body in walk(tree_of(expr)):
        level: str | None = None
        if kind == "FuncCall":
            names = svals(body.get("funcname"))
            fname = names[-1].lower()
            builtin = len(names) == 1 or names[0] == "pg_catalog"
            level = (volatility(fname) if builtin else None) or "v"
            if level == "v":
                culprits.append(fname if builtin and volatility(fname) else f"{'.'.join(names)} (unknown function)")
        elif kind == "SQLValueFunction":
            level = "s"  # CURRENT_TIMESTAMP, CURRENT_USER ...: fixed for the statement (stable)
        elif kind == "SubLink":
            level, _ = "v", culprits.append("a subquery")
        if level and _RANK[level] > _RANK[worst]:
            worst = level
    return worst, tuple(culprits)


def volatility_name(code: str) -> str:
    return _NAMES[code]

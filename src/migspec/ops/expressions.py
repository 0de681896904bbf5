"""Volatility of expressions (defaults, generated columns), from the generated pg_proc table.

Volatility decides whether ADD COLUMN ... DEFAULT rewrites the table on PG11+: a volatile default
must be evaluated per row. migspec.catalog.volatility is generated from a real server's pg_proc
(tools/gen_catalog.py); a function it does not know (user-defined) is treated as volatile.
"""

from __future__ import annotations

from typing import Any

from pglast import ast

from migspec.catalog.volatility import VOLATILITY
from migspec.parse.source import iter_nodes

_RANK = {"i": 0, "s": 1, "v": 2}


def volatility(name: str) -> str | None:
    """Volatility (``'i'``, ``'s'`` or ``'v'``) of built-in function ``name``, or None.

    Accepts ``now``, ``NOW`` and ``pg_catalog.now``. A name qualified with another schema, or one
    pg_catalog does not have, gives None: a user function whose volatility only its own CREATE
    FUNCTION (or the live database) can tell; callers treat it as volatile."""
    schema, _, base = name.strip().lower().rpartition(".")
    if schema and schema != "pg_catalog":
        return None
    return VOLATILITY.get(base)
_NAMES = {"i": "immutable", "s": "stable", "v": "volatile"}


def expression_volatility(node: Any) -> tuple[str, tuple[str, ...]]:
    """('i'|'s'|'v', volatile or unknown function names found) for an expression tree."""
    worst = "i"
    culprits: list[str] = []
    for item in iter_nodes(node):
        level: str | None = None
        if isinstance(item, ast.FuncCall):
            names = [n.sval for n in item.funcname]
            fname = names[-1].lower()
            builtin = len(names) == 1 or names[0] == "pg_catalog"
            level = (volatility(fname) if builtin else None) or "v"
            if level == "v":
                culprits.append(fname if builtin and volatility(fname) else f"{'.'.join(names)} (unknown function)")
        elif isinstance(item, ast.SQLValueFunction):
            level = "s"  # CURRENT_TIMESTAMP, CURRENT_USER ...: fixed for the statement (stable)
        elif isinstance(item, ast.SubLink):
            level, _ = "v", culprits.append("a subquery")
        if level and _RANK[level] > _RANK[worst]:
            worst = level
    return worst, tuple(culprits)


def volatility_name(code: str) -> str:
    return _NAMES[code]

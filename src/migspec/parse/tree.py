"""PostgreSQL's parse tree as libpg_query's JSON (pglast.parser.parse_sql_json, decoded by the C
json module): plain dicts and lists, no Python object per node. Building pglast's node objects
was most of lint's time on a large migration (BENCHMARKS.md section 1, issue 16); the planner,
which re-prints SQL, gets pglast nodes on demand (``pglast_node``)."""

from __future__ import annotations

import bisect
import json
import keyword
import re
from typing import Any

from migspec.ops.expressions import Expression

_MULTIBYTE = re.compile(r"[^\x00-\x7f]")


def parse_json(text: str) -> list[dict[str, Any]]:
    """The raw statements of ``text`` (``{"stmt": {...}, "stmt_location": n, "stmt_len": n}``) with
    every offset in characters, as pglast's own parse_sql gives them (libpg_query counts UTF-8 bytes)."""
    from pglast.parser import parse_sql_json

    stmts = json.loads(parse_sql_json(text)).get("stmts", [])
    if not text.isascii():
        to_char = _byte_to_char(text)
        for raw in stmts:
            start = raw.get("stmt_location", 0)
            if "stmt_len" in raw:
                raw["stmt_len"] = to_char(start + raw["stmt_len"]) - to_char(start)
            raw["stmt_location"] = to_char(start)
    return stmts


def _byte_to_char(text: str) -> Any:
    """A function from a UTF-8 byte offset of ``text`` to its character offset."""
    # Byte offset just past each multi-byte character, and the extra bytes counted up to there.
    ends: list[int] = []
    extra: list[int] = []
    total = 0
    for m in _MULTIBYTE.finditer(text):
        total += len(m.group().encode("utf-8")) - 1
        ends.append(m.end() + total)
        extra.append(total)

    def to_char(offset: int) -> int:
        i = bisect.bisect_right(ends, offset)
        return offset - (extra[i - 1] if i else 0)

    return to_char


def pglast_node(expr: Any) -> Any:
    """The pglast node of an Expression, by re-reading its statement with pglast and following the
    expression's path (JSON keys are pglast's attribute names, ``def`` spelled ``def_``); anything
    else is returned as it is."""
    if not isinstance(expr, Expression):
        return expr
    node = statement_node(expr.statement_sql)
    for step in expr.path:
        node = node[step] if isinstance(step, int) else getattr(node, step + "_" if keyword.iskeyword(step) else step)
    return node


def statement_node(sql: str) -> Any:
    """pglast's node of one statement's text."""
    from pglast import parse_sql

    return parse_sql(sql)[0].stmt

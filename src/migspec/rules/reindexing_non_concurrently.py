"""REINDEX without CONCURRENTLY blocks writes, and reads that use the index, for the whole rebuild.

What it flags:
    ``REINDEX INDEX|TABLE ...`` without ``CONCURRENTLY``.

Why:
    REINDEX takes SHARE on the table (writes wait) and ACCESS EXCLUSIVE on each index being
    rebuilt (queries planning to use it wait).

Example:
    REINDEX INDEX orders_state_idx;

Use instead:
    REINDEX INDEX CONCURRENTLY orders_state_idx;   -- PG12+, outside a transaction
    -- before PG12: CREATE INDEX CONCURRENTLY a new one, then DROP INDEX CONCURRENTLY the old

Version notes:
    REINDEX CONCURRENTLY exists from PostgreSQL 12.

References:
    - https://www.postgresql.org/docs/current/sql-reindex.html
    - src/migspec/locks.py and src/migspec/ops/ (each operation's locks, as data)
    - tests/test_trace.py (those locks observed on a real server)
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from migspec.risk import Risk
from migspec.rules.base import Hit, Rule, RuleContext
from migspec.versions import supports

if TYPE_CHECKING:
    from migspec.ops.index import Reindex


class ReindexingNonConcurrently(Rule):
    name = "reindexing-non-concurrently"
    operations = ("reindex",)

    def check(self, item, ctx: RuleContext) -> Iterable[Hit]:
        op: Reindex = item.op
        if op.concurrent:
            return
        fix = (f"REINDEX {op.target.upper()} CONCURRENTLY {op.relation.sql}; outside any transaction"
               if supports("reindex_concurrently", ctx.version) else
               "CREATE INDEX CONCURRENTLY a replacement, then DROP INDEX CONCURRENTLY the old one")
        yield Hit(f"REINDEX {op.target.upper()} {op.relation} blocks writes for the whole rebuild", fix,
                  floor=Risk.GREEN if op.table else Risk.YELLOW)

"""DROP INDEX without CONCURRENTLY takes ACCESS EXCLUSIVE on the index's table.

What it flags:
    ``DROP INDEX`` without ``CONCURRENTLY`` (on an index not created earlier in the migration).

Why:
    The table's ACCESS EXCLUSIVE lock queues behind any running query on the table and, while
    queued, blocks every new read and write. The drop itself is quick; the queue is not.

Example:
    DROP INDEX orders_legacy_idx;

Use instead:
    DROP INDEX CONCURRENTLY orders_legacy_idx;   -- outside a transaction

Version notes:
    All supported versions.

References:
    - https://www.postgresql.org/docs/current/sql-dropindex.html (CONCURRENTLY)
    - src/migspec/locks.py and src/migspec/ops/ (each operation's locks, as data)
    - tests/test_trace.py (those locks observed on a real server)
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from migspec.risk import Risk
from migspec.rules.base import Hit, Rule, RuleContext

if TYPE_CHECKING:
    from migspec.ops.index import DropIndex


class DroppingIndexNonConcurrently(Rule):
    name = "dropping-index-non-concurrently"
    operations = ("drop_index",)

    def check(self, item, ctx: RuleContext) -> Iterable[Hit]:
        op: DropIndex = item.op
        known = ctx.schema.index(op.index)
        if not op.concurrent and not (known is not None and known.created_here):
            table = op.table or "its table"
            yield Hit(f"dropping index {op.index} takes ACCESS EXCLUSIVE on {table}",
                      f"DROP INDEX CONCURRENTLY {op.index.sql}; outside any transaction",
                      floor=Risk.GREEN if op.table else Risk.YELLOW)

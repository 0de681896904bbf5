"""CREATE INDEX CONCURRENTLY IF NOT EXISTS silently keeps an INVALID leftover of a failed build.

What it flags:
    ``CREATE INDEX CONCURRENTLY IF NOT EXISTS`` on an existing table.

Why:
    A concurrent build that fails (deadlock, unique violation, cancelled, lock_timeout) leaves an
    INVALID index behind. On retry IF NOT EXISTS sees the name and does nothing: the migration
    "succeeds", the index is never used, and writes keep paying to maintain it.

Example:
    CREATE INDEX CONCURRENTLY IF NOT EXISTS orders_state_idx ON orders (state);

Use instead:
    Before retrying, drop any INVALID leftover:
    SELECT indexrelid::regclass FROM pg_index WHERE NOT indisvalid;  -- then DROP INDEX CONCURRENTLY
    and build without IF NOT EXISTS (migspec apply does this for you).

Version notes:
    All supported versions.

References:
    - https://www.postgresql.org/docs/current/sql-createindex.html#SQL-CREATEINDEX-CONCURRENTLY
    - src/migspec/locks.py and src/migspec/ops/ (each operation's locks, as data)
    - tests/test_trace.py (those locks observed on a real server)
    - https://github.com/xataio/pgroll (checks indisvalid and retries)
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from migspec.rules.base import Hit, Rule, RuleContext

if TYPE_CHECKING:
    from migspec.ops.index import CreateIndex


class ConcurrentIndexIfNotExists(Rule):
    name = "concurrent-index-if-not-exists"
    operations = ("create_index",)

    def check(self, item, ctx: RuleContext) -> Iterable[Hit]:
        op: CreateIndex = item.op
        if op.concurrent and op.if_not_exists:
            yield Hit(f"IF NOT EXISTS skips an INVALID leftover of an earlier failed build of {op.name}",
                      "check pg_index.indisvalid and DROP INDEX CONCURRENTLY an invalid leftover before retrying")

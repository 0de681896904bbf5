"""A statement whose lock stalls writers longer than the table tolerates, for any other reason.

What it flags:
    The fallback: an operation no other rule flagged whose measured stall (queue behind the
    longest transaction plus the work under the lock; with a lock_timeout the queue reaches,
    the longer of the timeout and the work - a timed-out attempt never holds the lock) exceeds
    the GREEN threshold - e.g. a brief ACCESS EXCLUSIVE on a table where lock waits are frequent.

Why:
    What the application feels is the stall, not the statement's shape: with 400 writes/s, a
    10-second stall queues 4,000 writes and can exhaust connection pools.

Example:
    -- lock_contention: {longest_transaction_seconds: 30, ...}
    SET lock_timeout = '20s';
    ALTER TABLE orders ALTER COLUMN note SET DEFAULT '';

Use instead:
    A short lock_timeout with retries, at a quieter time; or end the long transactions first.

Version notes:
    All versions.

References:
    postgres-locks.md row 24; migspec.risk (how the stall is computed).
"""

from __future__ import annotations

from collections.abc import Iterable

from migspec.rules.base import Hit, Rule, RuleContext


class WriteBlockingStall(Rule):
    name = "write-blocking-stall"

    def check(self, item, ctx: RuleContext) -> Iterable[Hit]:
        lock = item.effect.strongest
        if item.op.table is not None and lock is not None and lock.blocks_writes:
            yield Hit(f"{lock.sql_name} on {item.op.table} {lock.blocks}",
                      "a short lock_timeout with retries, at a quieter time", fallback=True)

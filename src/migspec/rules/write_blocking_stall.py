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
    - src/migspec/locks.py and src/migspec/ops/ (each operation's locks, as data)
    - tests/test_trace.py (those locks observed on a real server)
    - src/migspec/risk.py (how the stall is computed)
"""

from __future__ import annotations

from collections.abc import Iterable

from migspec.rules.base import Hit, Rule, RuleContext


class WriteBlockingStall(Rule):
    name = "write-blocking-stall"
    #: A statement on a new table may lock an existing one (a foreign key's referenced table).
    on_new_tables = True

    def __init__(self) -> None:
        #: The hit per (lock mode, relation): the same text for every statement that takes that lock,
        #: kept only when no other rule flags the statement (issue 16: built anew ~9,000 times on
        #: 10,000 statements, then dropped).
        self._hits: dict[tuple[object, object], Hit] = {}

    def check(self, item, ctx: RuleContext) -> Iterable[Hit]:
        # The strongest write-blocking lock on a relation others already use (not one this
        # migration created): a new table's foreign key locks its busy referenced table.
        own = item.op.table
        if own is None:
            return
        schema = ctx.schema
        # (the operation's own table is new as item.new_table says: no lookup for it)
        locks = [lk for lk in item.effect.locks if lk.mode.blocks_writes
                 and not (item.new_table if lk.relation is own else schema.is_new(lk.relation))]
        if locks:
            lock = locks[0] if len(locks) == 1 else max(locks, key=lambda lk: lk.mode)
            hit = self._hits.get((lock.mode, lock.relation))
            if hit is None:
                hit = self._hits[(lock.mode, lock.relation)] = Hit(
                    f"{lock.mode.sql_name} on {lock.relation} {lock.mode.blocks}",
                    "a short lock_timeout with retries, at a quieter time", fallback=True)
            yield hit

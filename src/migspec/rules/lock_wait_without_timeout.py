"""A statement that takes a blocking lock without a short lock_timeout can stall the whole table.

What it flags:
    Any statement that takes a lock which blocks reads or writes (ACCESS EXCLUSIVE, EXCLUSIVE,
    SHARE ROW EXCLUSIVE, SHARE) on an existing table while no ``lock_timeout`` is in effect, or
    while the one in effect is longer than the recommended threshold.

Why:
    A lock request queues behind the longest running transaction on the table, and while it waits
    it blocks every later conflicting request - for ACCESS EXCLUSIVE even plain SELECTs. A
    catalog-only ALTER on a table with a 30-second report query running is a 30-second outage.
    migspec scores the queue from the measured longest transaction.

Example:
    ALTER TABLE orders ADD COLUMN note text;

Use instead:
    BEGIN;
    SET LOCAL lock_timeout = '2s';
    ALTER TABLE orders ADD COLUMN note text;
    COMMIT;
    -- and retry with backoff when it times out (migspec apply does)

Version notes:
    PG17 adds transaction_timeout as a further bound. Prefer SET LOCAL: a session-level SET leaks
    through transaction-pooling poolers (see setting-session-timeout).

References:
    - https://www.postgresql.org/docs/current/runtime-config-client.html#GUC-LOCK-TIMEOUT
    - src/migspec/locks.py and src/migspec/ops/ (each operation's locks, as data)
    - tests/test_trace.py (those locks observed on a real server)
    - https://squawkhq.com/docs/require-timeout-settings
"""

from __future__ import annotations

from collections.abc import Iterable

from migspec.rules.base import Hit, Rule, RuleContext


class LockWaitWithoutTimeout(Rule):
    name = "lock-wait-without-timeout"
    #: A statement on a new table may lock an existing one (a foreign key's referenced table).
    on_new_tables = True

    def __init__(self) -> None:
        #: The hit per (lock, relation, named as a table, lock_timeout, limit): one text for the
        #: thousands of statements that take the same lock on the same table (issue 16).
        self._hits: dict[tuple[object, ...], Hit] = {}

    def check(self, item, ctx: RuleContext) -> Iterable[Hit]:
        limit = ctx.thresholds.recommended_lock_timeout_seconds
        current = item.tx.lock_timeout_s
        if current is not None and current <= limit:
            return
        # Only a lock on a relation others can already use can queue them: the strongest such lock
        # is not always on op.table (ATTACH PARTITION: SHARE UPDATE EXCLUSIVE on the parent, ACCESS
        # EXCLUSIVE on the partition - pg_locks on PG15, tests/rules/attaching-partition-with-scan.yml).
        # A known table is no index (tables and indexes share pg_class's namespace): no search of
        # every table's indexes for it (index_table on every statement was 13 % of lint, issue 16).
        # One loop, no generator (issue 16): the first of the strongest such locks that block
        # writes (every mode stronger than one that blocks writes does too: locks.py); a lock no
        # stronger than the one found needs no look at its relation.
        # The operation's own table is new as item.new_table says: no lookup for it.
        schema = ctx.schema
        own = item.op.table
        strongest = None
        for lk in item.effect.locks:
            if lk.mode.blocks_writes and (strongest is None or lk.mode > strongest.mode) \
                    and not (item.new_table if lk.relation is own else schema.is_new(lk.relation)) \
                    and (lk.relation in schema.tables or not schema.is_new(schema.index_table(lk.relation))):
                strongest = lk
        if strongest is None:
            return  # no lock on a relation in use blocks writes (half the statements)
        if item.op.table is None and getattr(item.op, "concurrent", False):
            return  # DROP INDEX CONCURRENTLY: its table gets only SHARE UPDATE EXCLUSIVE
        lock, relation = strongest.mode, strongest.relation
        key = (lock, relation, own is not None, current, limit)
        hit = self._hits.get(key)
        if hit is None:
            # DROP INDEX / REINDEX INDEX name only the index, yet queue for ACCESS EXCLUSIVE / SHARE on
            # its table (pg_locks on PG15: tests/rules/dropping-index-non-concurrently.yml trace).
            where = relation if own else f"index {relation} (its table is locked too)"
            state = "no lock_timeout is set" if current is None else f"lock_timeout is {current:g} s"
            hit = self._hits[key] = Hit(
                f"{lock.sql_name} on {where} ({lock.blocks}) and {state}: while queued it blocks "
                "every later query on the table",
                f"SET LOCAL lock_timeout = '{limit:g}s' in the statement's transaction, and retry on timeout")
        yield hit

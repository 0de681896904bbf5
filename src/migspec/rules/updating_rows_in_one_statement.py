"""UPDATE or DELETE of many rows in one statement locks them all until commit.

What it flags:
    ``UPDATE`` / ``DELETE`` on an existing table that may touch more rows than the ``batch_rows``
    threshold (default 10,000): without a WHERE clause, or with one whose selectivity migspec
    cannot know (it assumes every row).

Why:
    Every touched row stays row-locked until COMMIT, so application writes to those rows wait for
    the whole statement; the WAL burst lags replicas, and dead tuples and a held xmin bloat the
    table. Measured here at 1M rows: one UPDATE 4.2-4.6 s, 100 keyset batches 3.9-4.0 s in total
    with a 37 ms median batch (executors.md).

Example:
    UPDATE orders SET state = 'archived' WHERE created_at < '2020-01-01';

Use instead:
    Keyset batches on the primary key, each its own transaction, with an idempotent predicate:
    UPDATE orders SET state = 'archived'
     WHERE id IN (SELECT id FROM orders WHERE id > $last AND created_at < '2020-01-01'
                  AND state IS DISTINCT FROM 'archived' ORDER BY id LIMIT 10000);
    (migspec plan writes the loop; migspec apply runs it resumably.)

Version notes:
    All versions.

References:
    - src/migspec/locks.py and src/migspec/ops/ (each operation's locks, as data)
    - tests/test_trace.py (those locks observed on a real server)
    - src/migspec/execute/backfill.py (the backfill loop)
"""

from __future__ import annotations

from collections.abc import Iterable

from migspec.rules.base import Hit, Rule, RuleContext


class UpdatingRowsInOneStatement(Rule):
    name = "updating-rows-in-one-statement"
    operations = ("update", "delete")

    def check(self, item, ctx: RuleContext) -> Iterable[Hit]:
        op = item.op
        scope = "some (unknown) rows" if op.has_where else "every row"
        yield Hit(f"{op.verb} of {scope} of {op.table} in one statement row-locks them all until commit",
                  "keyset batches on the primary key, each its own transaction, with an idempotent predicate "
                  "(migspec plan)", min_rows="batch_rows")

"""DETACH PARTITION without CONCURRENTLY takes ACCESS EXCLUSIVE on the partitioned table.

What it flags:
    ``ALTER TABLE parent DETACH PARTITION child`` without ``CONCURRENTLY``.

Why:
    ACCESS EXCLUSIVE on the parent blocks every read and write of every partition while the lock
    is queued and held.

Example:
    ALTER TABLE events DETACH PARTITION events_2023;

Use instead:
    ALTER TABLE events DETACH PARTITION events_2023 CONCURRENTLY;   -- PG14+, outside a transaction

Version notes:
    DETACH ... CONCURRENTLY exists from PostgreSQL 14. The partition itself is locked ACCESS
    EXCLUSIVE from 14 on, SHARE UPDATE EXCLUSIVE on 13 (observed in pg_locks; gate
    ``detach_partition_ael``).

References:
    - https://www.postgresql.org/docs/current/sql-altertable.html (DETACH PARTITION ... CONCURRENTLY)
    - src/migspec/locks.py and src/migspec/ops/ (each operation's locks, as data)
    - tests/test_trace.py (those locks observed on a real server)
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from migspec.rules.base import Hit, Rule, RuleContext
from migspec.versions import GATES, supports

if TYPE_CHECKING:
    from migspec.ops.misc import DetachPartition


class DetachingPartitionNonConcurrently(Rule):
    name = "detaching-partition-non-concurrently"
    operations = ("detach_partition",)

    def check(self, item, ctx: RuleContext) -> Iterable[Hit]:
        op: DetachPartition = item.op
        if op.concurrent:
            return
        fix = (f"ALTER TABLE {op.table.sql} DETACH PARTITION {op.partition.sql} CONCURRENTLY; outside a transaction"
               if supports("detach_concurrently", ctx.version) else
               f"upgrade to PostgreSQL {GATES['detach_concurrently'].since}+ for DETACH CONCURRENTLY, or use a "
               "maintenance window")
        yield Hit(f"detaching {op.partition} takes ACCESS EXCLUSIVE on {op.table} (all partitions)", fix)

"""ATTACH PARTITION scans the new partition under ACCESS EXCLUSIVE unless a CHECK proves its bound.

What it flags:
    ``ALTER TABLE parent ATTACH PARTITION child FOR VALUES ...`` of an existing table.

Why:
    The partition is locked ACCESS EXCLUSIVE and scanned to prove every row fits the bound (and,
    before PG12, the parent is locked ACCESS EXCLUSIVE too). A validated CHECK constraint that
    implies the bound lets PostgreSQL skip the scan.

Example:
    ALTER TABLE events ATTACH PARTITION events_2026 FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');

Use instead:
    ALTER TABLE events_2026 ADD CONSTRAINT bound CHECK (created_at >= '2026-01-01' AND created_at < '2027-01-01') NOT VALID;
    ALTER TABLE events_2026 VALIDATE CONSTRAINT bound;
    ALTER TABLE events ATTACH PARTITION events_2026 FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
    ALTER TABLE events_2026 DROP CONSTRAINT bound;

Version notes:
    PG12+: the parent is locked SHARE UPDATE EXCLUSIVE only.

References:
    - https://www.postgresql.org/docs/current/sql-altertable.html (ATTACH PARTITION)
    - src/migspec/locks.py and src/migspec/ops/ (each operation's locks, as data)
    - tests/test_trace.py (those locks observed on a real server)
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from migspec.rules.base import Hit, Rule, RuleContext

if TYPE_CHECKING:
    from migspec.ops.misc import AttachPartition


class AttachingPartitionWithScan(Rule):
    name = "attaching-partition-with-scan"
    operations = ("attach_partition",)

    def check(self, item, ctx: RuleContext) -> Iterable[Hit]:
        op: AttachPartition = item.op
        if ctx.schema.is_new(op.partition):
            return
        yield Hit(f"attaching {op.partition} scans it under ACCESS EXCLUSIVE to prove its rows fit the bound "
                  "(skipped only if a validated CHECK implies the bound)",
                  f"ADD CONSTRAINT ... CHECK (<bound>) NOT VALID on {op.partition.sql}, VALIDATE it, then ATTACH")

"""What a rewrite needs to know: target version, measurements, schema facts, confirmations,
and the guard settings derived from the measurements."""

from __future__ import annotations

import math

from migspec import policy
from migspec.analysis import Analyzed
from migspec.estimate.throughput import Calibration
from migspec.frozen import field, record
from migspec.names import QualifiedName
from migspec.risk import Thresholds
from migspec.schema import Schema
from migspec.stats import Stats


@record
class PlanContext:
    version: int
    stats: Stats
    schema: Schema  # the model as the steps so far left it
    thresholds: Thresholds
    calibration: Calibration
    confirmed: dict[str, str | None] = field(default_factory=dict)  # target -> reason
    contract_after_days: int = policy.CONTRACT_AFTER_DAYS
    seq: int = 0  # counter for generated names
    last_batch_target: float = policy.BATCH_TARGET_S

    def next_tag(self) -> int:
        self.seq += 1
        return self.seq

    def rows(self, item: Analyzed) -> int:
        if item.new_table or item.op.table is None:
            return 0
        return self.stats.table(item.op.table).rows or 0

    def size(self, table: QualifiedName | None) -> int | None:
        return self.stats.table(table).size_bytes if table else None

    def lock_timeout(self, table: QualifiedName | None) -> float:
        """Short enough that the writes queued behind one attempt stay bounded at this table's write
        rate, never above the recommended threshold."""
        cap = self.thresholds.recommended_lock_timeout_seconds
        qps = (self.stats.table(table).write_qps or 0.0) if table else 0.0
        if qps <= 0:
            return cap
        return round(max(policy.LOCK_TIMEOUT_FLOOR_S, min(cap, policy.QUEUED_WRITES_PER_ATTEMPT / qps)), 2)

    def statement_timeout(self, estimate_s: float) -> float:
        """policy.STATEMENT_TIMEOUT_FACTOR times the estimate, at least the floor."""
        return float(max(policy.STATEMENT_TIMEOUT_FLOOR_S, math.ceil(estimate_s * policy.STATEMENT_TIMEOUT_FACTOR)))

    def batch(self, table: QualifiedName | None) -> tuple[int, float, float]:
        """(batch size, pause seconds, batch seconds) from the table's rows, write rate and contention."""
        rate = self.calibration.rate("batched_update").rows_per_s
        ts = self.stats.table(table) if table else None
        qps = (ts.write_qps or 0.0) if ts else 0.0
        target = policy.BATCH_TARGET_S / (1 + qps / 1000)
        self.last_batch_target = target
        if ts and ts.lock_contention and ts.lock_contention.lock_waits_per_minute >= \
                self.thresholds.contended_lock_waits_per_minute:
            target /= 2
        size = int(min(policy.BATCH_MAX_ROWS, max(policy.BATCH_MIN_ROWS, rate * target)))
        size = int(round(size, -3)) or policy.BATCH_MIN_ROWS
        rows = (ts.rows or 0) if ts else 0
        if rows and rows < size:
            size = max(1, rows)
        seconds = size / rate
        return size, round(seconds * policy.PAUSE_RATIO, 3), seconds


def require(fact: object, what: str) -> None:
    """Refusal (exit 3) when a DOWN needs a fact nobody gave."""
    from migspec.errors import RefusedError

    if not fact:
        raise RefusedError(f"cannot plan without {what}: run 'migspec measure --dsn DSN --migration PATH' "
                           "(it records the schema facts), or give --schema with a pg_dump --schema-only file")

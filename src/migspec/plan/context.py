"""What a rewrite needs to know: target version, measurements, schema facts, confirmations,
and the guard settings derived from the measurements."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from migspec.analysis import Analyzed
from migspec.estimate.throughput import Calibration
from migspec.names import QualifiedName
from migspec.risk import Thresholds
from migspec.schema import Schema
from migspec.stats import Stats

#: Writes allowed to queue behind one lock attempt; lock_timeout = this / write_qps, within bounds.
QUEUED_WRITES_PER_ATTEMPT = 500
LOCK_TIMEOUT_FLOOR_S = 0.5
#: Backfill batches aim at this duration, shorter on busy tables: an application write that meets
#: a row the batch locked waits for the whole batch. pt-online-schema-change defaults to 0.5 s;
#: measured here (BENCHMARKS.md, 1M rows, 4 pgbench writers) 0.5 s batches gave writers a p99 of
#: 222 ms, 50 ms batches a p99 of 7.5 ms at 0.95x the single UPDATE's throughput.
BATCH_TARGET_S = 0.05
BATCH_MIN_ROWS, BATCH_MAX_ROWS = 1_000, 50_000
#: Pause between batches as a share of the batch's time (gh-ost's nice-ratio idea): room for
#: replicas and autovacuum to keep up; at 0.5 the pauses alone cost ~0.2x of throughput.
PAUSE_RATIO = 0.1


@dataclass
class PlanContext:
    version: int
    stats: Stats
    schema: Schema  # the model as the steps so far left it
    thresholds: Thresholds
    calibration: Calibration
    confirmed: dict[str, str | None] = field(default_factory=dict)  # target -> reason
    contract_after_days: int = 7
    seq: int = 0  # counter for generated names
    last_batch_target: float = BATCH_TARGET_S

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
        return round(max(LOCK_TIMEOUT_FLOOR_S, min(cap, QUEUED_WRITES_PER_ATTEMPT / qps)), 2)

    def statement_timeout(self, estimate_s: float) -> float:
        """Three times the estimate, at least 5 s: generous for the work, still a bound."""
        return float(max(5, math.ceil(estimate_s * 3)))

    def batch(self, table: QualifiedName | None) -> tuple[int, float, float]:
        """(batch size, pause seconds, batch seconds) from the table's rows, write rate and contention."""
        rate = self.calibration.rate("batched_update").rows_per_s
        ts = self.stats.table(table) if table else None
        qps = (ts.write_qps or 0.0) if ts else 0.0
        target = BATCH_TARGET_S / (1 + qps / 1000)
        self.last_batch_target = target
        if ts and ts.lock_contention and ts.lock_contention.lock_waits_per_minute >= \
                self.thresholds.contended_lock_waits_per_minute:
            target /= 2
        size = int(min(BATCH_MAX_ROWS, max(BATCH_MIN_ROWS, rate * target)))
        size = int(round(size, -3)) or BATCH_MIN_ROWS
        rows = (ts.rows or 0) if ts else 0
        if rows and rows < size:
            size = max(1, rows)
        seconds = size / rate
        return size, round(seconds * PAUSE_RATIO, 3), seconds


def require(fact: object, what: str) -> None:
    """Refusal (exit 3) when a DOWN needs a fact nobody gave."""
    from migspec.errors import RefusedError

    if not fact:
        raise RefusedError(f"cannot plan without {what}: run 'migspec measure --dsn DSN --migration PATH' "
                           "(it records the schema facts), or give --schema with a pg_dump --schema-only file")

"""Throughput defaults for work done under a lock, and the duration arithmetic.

The defaults were measured with ``python tools/calibrate.py [--durable]`` on this project's
reference machine (2 cores, 24 GB, PostgreSQL 15.18, 1,000,000 rows of 84.5 bytes, shared_buffers
128 MB); runs vary by 30-40 %, so the slower of the runs is used. A calibration file (YAML/JSON mapping the same keys to rows_per_s / bytes_per_s) overrides
them, e.g. the one ``migspec verify --calibration`` writes from a run on production-like hardware.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from migspec.estimate.model import CATALOG_ONLY_SECONDS, Estimate, Rate, catalog_only, format_duration, unknown
from migspec.estimate.runner import RunnerPlan
from migspec.estimate.speed import ServerSpeed, effective_rate, estimate_work, load_factor, speed_from_stats
from migspec.frozen import replace
from migspec.ops.base import Work

if TYPE_CHECKING:
    from migspec.locks import LockMode
    from migspec.names import QualifiedName
    from migspec.stats import Stats


# Keys are the kinds of work; values measured (see module docstring). Index builds are per row
# of the table; "batched_update" is keyset batches of 10,000 rows, each its own transaction.
DEFAULT_RATES: dict[str, Rate] = {
    # ALTER COLUMN TYPE int -> bigint on 1M rows / 84.5 MB, fsync on (791k rows/s); fast mode gave
    # 0.99M-1.45M rows/s. Includes rebuilding the table's primary key, as every rewrite does.
    "rewrite": Rate(rows_per_s=790_000, bytes_per_s=67_000_000, source="measured: rewrite, 1M rows, PG15"),
    # VALIDATE CONSTRAINT of a CHECK: 13.1M rows/s, 1.1 GB/s - warm cache (table fits shared_buffers).
    # A cold, larger-than-memory table reads at disk speed: give a calibration file from verify.
    "scan": Rate(rows_per_s=13_000_000, bytes_per_s=1_100_000_000, source="measured: validate scan, 1M rows, PG15, warm cache"),
    # Plain CREATE INDEX: 2.4M rows/s on an int column, 1.5M rows/s on a text column; the slower.
    "index_build": Rate(rows_per_s=1_500_000, bytes_per_s=None, source="measured: CREATE INDEX, 1M rows, PG15"),
    "index_build_concurrent": Rate(rows_per_s=1_180_000, bytes_per_s=None, source="measured: CREATE INDEX CONCURRENTLY, 1M rows, PG15"),
    # One UPDATE of every row (345k rows/s with fsync on) and 10,000-row keyset batches (308k rows/s).
    "update": Rate(rows_per_s=345_000, bytes_per_s=None, source="measured: single UPDATE, 1M rows, PG15"),
    "batched_update": Rate(rows_per_s=308_000, bytes_per_s=None, source="measured: keyset batches of 10k, 1M rows, PG15"),
    # VALIDATE of a FOREIGN KEY is an anti-join against the referenced table, slower per row than a
    # CHECK: 1M rows / 85 MB in 119 ms here (BENCHMARKS.md 2026-11-24, 8.4M rows/s); the scan rate
    # made it 0.7x optimistic.
    "validate_fk": Rate(rows_per_s=7_000_000, bytes_per_s=600_000_000, source="measured: validate foreign key, 1M rows, PG15, warm cache"),
}
DEFAULT_RATES = {k: replace(v, source=f"default ({v.source}, reference machine)") for k, v in DEFAULT_RATES.items()}

_CATALOG_ONLY = catalog_only()  # immutable: one for every catalog-only statement
_WORK_RATE = {Work.REWRITE: "rewrite", Work.SCAN: "scan", Work.INDEX_BUILD: "index_build", Work.ROWS: "update"}


#: Kinds whose calibrated rate the probe carries over: reads, like the probe itself.
PROBED_KINDS = ("scan", "validate_fk")
#: Optional numbers a calibration file may give a rate, besides rows_per_s and bytes_per_s.
_RATE_EXTRAS = ("batch_s", "loaded_factor")


class Calibration:
    """Rates in use: the defaults, overridden by a calibration mapping (from ``migspec verify
    --calibration`` or ``migspec measure --calibrate``), and the speed of the server the stats
    file's probe measured (:mod:`migspec.estimate.speed`)."""

    def __init__(self, overrides: Mapping[str, Any] | None = None, origin: str = "calibration file",
                 speed: ServerSpeed | None = None) -> None:
        self.rates = dict(DEFAULT_RATES)
        self.speed = speed or ServerSpeed()
        #: work() answers by its arguments: an Estimate is an immutable value and lint
        #: asks the same few (one per table and kind of work) for thousands of statements (issue 16).
        self._work_memo: dict[tuple[str, int, int | None, bool, LockMode | None, QualifiedName | None], Estimate] = {}
        overrides = dict(overrides or {})
        probe = overrides.pop("probe", None)
        probe_row_s, loaded_qps = _probe_section(probe, origin)
        for key, value in overrides.items():
            if key not in self.rates or not isinstance(value, Mapping):
                raise ValueError(f"{origin}: unknown rate {key!r} (expected one of {', '.join(self.rates)}, probe)")
            base = self.rates[key]
            try:
                rows = float(value.get("rows_per_s", base.rows_per_s))
                bps = value.get("bytes_per_s", base.bytes_per_s)
                bps = None if bps is None else float(bps)
                extras = {k: None if value.get(k) is None else float(value[k]) for k in _RATE_EXTRAS}
            except (TypeError, ValueError):
                raise ValueError(f"{origin}: rate {key!r} must be numbers") from None
            numbers = [rows, bps, *extras.values()]
            if any(n is not None and not (math.isfinite(n) and n >= 0) for n in numbers) or rows <= 0 \
                    or (bps is not None and bps <= 0):
                raise ValueError(f"{origin}: rate {key!r} must be a positive finite number")
            self.rates[key] = replace(base, rows_per_s=rows, bytes_per_s=bps, source=origin,
                                      batch_s=extras["batch_s"], loaded_factor=extras["loaded_factor"],
                                      loaded_qps=loaded_qps if extras["loaded_factor"] is not None else None,
                                      probe_row_seconds=probe_row_s)

    def bound(self, stats: Stats) -> Calibration:
        """The same rates, with the speed and write load the stats file measured."""
        other = copy.copy(self)
        other.speed = speed_from_stats(stats)
        other._work_memo = {}  # another speed: other estimates
        return other

    def rate(self, key: str) -> Rate:
        """The warm, idle rate of ``key`` on the measured server: scaled by the probe's speed against
        the rate's own yardstick (the reference machine, or the calibration copy's probe), with the
        load the probe ran under divided out (the scan's load factor: the probe is a scan). A
        calibrated rate of work that mostly writes is taken as the copy measured it: the read-only
        probe sees neither WAL nor fsync, so it cannot carry that cost from one server to another."""
        rate = self.rates[key]
        if not rate.is_default and key not in PROBED_KINDS:
            return rate
        probe_load = load_factor(self.speed.probe_qps, self.rates["scan"])
        return effective_rate(rate, self.speed, probe_load=probe_load)

    def duration(self, key: str, rows: int, size_bytes: int | None = None, *,
                 runner: RunnerPlan | None = None, lock: LockMode | None = None,
                 table: QualifiedName | None = None) -> Estimate:
        """The one estimator: ``rows`` of work of kind ``key`` on a table of ``size_bytes``, walked
        by the backfill runner as ``runner`` plans it, holding ``lock`` on ``table`` (the writes it
        blocks there queue instead of competing) - lint, plan, verify and apply all come through
        here."""
        est = estimate_work(key, self.rate(key), self.speed, rows, size_bytes, runner=runner, lock=lock, table=table)
        return replace(est, request=(key, rows, size_bytes, runner))

    def locked(self, est: Estimate, lock: LockMode | None, table: QualifiedName | None) -> Estimate:
        """``est`` for a step that turned out to hold ``lock`` on ``table`` (the planner derives a
        step's lock from its SQL after estimating its work): the same work, re-estimated."""
        if est.request is None or lock is None or table is None or not lock.blocks_writes:
            return est
        key, rows, size_bytes, runner = est.request
        return self.duration(key, rows, size_bytes, runner=runner, lock=lock, table=table)

    def work(self, work: Work, rows: int, size_bytes: int | None, *, concurrent: bool = False,
             lock: LockMode | None = None, table: QualifiedName | None = None) -> Estimate:
        if work is Work.NONE:
            return _CATALOG_ONLY
        if work is Work.UNKNOWN:
            return unknown()
        memo = (work._value_, rows, size_bytes, concurrent, lock, table)  # the value: a str hashes in C, an Enum in Python
        found = self._work_memo.get(memo)
        if found is None:
            key = _WORK_RATE[work]
            if key == "index_build" and concurrent:
                key = "index_build_concurrent"
            found = self._work_memo[memo] = self.duration(key, rows, size_bytes, lock=lock, table=table)
        return found


def _probe_section(probe: Any, origin: str) -> tuple[float | None, float | None]:
    """(the calibration copy's probe seconds per row, the writes/s its loaded pass ran under)."""
    if probe is None:
        return None, None
    if not isinstance(probe, Mapping) or set(probe) - {"row_seconds", "write_qps"}:
        raise ValueError(f"{origin}: probe: expected {{row_seconds: N, write_qps: N}}")
    try:
        row_s = None if probe.get("row_seconds") is None else float(probe["row_seconds"])
        qps = float(probe.get("write_qps") or 0.0)
    except (TypeError, ValueError):
        raise ValueError(f"{origin}: probe: must be numbers") from None
    if (row_s is not None and not (math.isfinite(row_s) and row_s > 0)) or not (math.isfinite(qps) and qps >= 0):
        raise ValueError(f"{origin}: probe: must be positive finite numbers")
    return row_s, qps or None


def calibration_text(rates: Mapping[str, Mapping[str, float]], comments: list[str]) -> str:
    """A calibration file, as ``--calibration`` reads it: ``kind: {rows_per_s: N[, bytes_per_s: N]}``
    under comment lines saying where and when the rates were measured. The one format ``verify
    --calibration`` and ``measure --calibrate`` write."""
    lines = [f"# {c}" for c in comments]
    if not rates:
        lines.append("{}  # nothing measured a throughput")
    for kind, rate in sorted(rates.items()):
        fields = [f"{name}: {round(value) if name.endswith('_per_s') else float(f'{value:.4g}')}"
                  # a measured 0 is kept where it is a finding (no write load reached, no per-batch cost
                  # apart from the rows'): dropping it would read back as "never measured"
                  for name, value in rate.items() if value or name in ("write_qps", "batch_s")]
        lines.append(f"{kind}: {{{', '.join(fields)}}}")
    return "\n".join(lines) + "\n"


__all__ = ["CATALOG_ONLY_SECONDS", "DEFAULT_RATES", "Calibration", "Estimate", "Rate", "calibration_text",
           "format_duration"]

"""Throughput defaults for work done under a lock, and the duration arithmetic.

The defaults were measured with ``python tools/calibrate.py [--durable]`` on this project's
reference machine (2 cores, 24 GB, PostgreSQL 15.18, 1,000,000 rows of 84.5 bytes, shared_buffers
128 MB); runs vary by 30-40 %, so the slower of the runs is used. A calibration file (YAML/JSON mapping the same keys to rows_per_s / bytes_per_s) overrides
them, e.g. the one ``migspec verify --calibration`` writes from a run on production-like hardware.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from migspec.ops.base import Work


@dataclass(frozen=True)
class Rate:
    rows_per_s: float
    bytes_per_s: float | None = None
    source: str = "default"


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
}

_WORK_RATE = {Work.REWRITE: "rewrite", Work.SCAN: "scan", Work.INDEX_BUILD: "index_build", Work.ROWS: "update"}

# Catalog-only DDL still takes a few milliseconds (commit, invalidation); never claim zero.
CATALOG_ONLY_SECONDS = 0.01


@dataclass(frozen=True)
class Estimate:
    seconds: float
    basis: str  # the figures it came from, for the report

    def __str__(self) -> str:
        return f"{format_duration(self.seconds)} ({self.basis})"


class Calibration:
    """Rates in use: the defaults, overridden by a calibration mapping."""

    def __init__(self, overrides: Mapping[str, Any] | None = None, origin: str = "calibration file") -> None:
        self.rates = dict(DEFAULT_RATES)
        for key, value in (overrides or {}).items():
            if key not in self.rates or not isinstance(value, Mapping):
                raise ValueError(f"{origin}: unknown rate {key!r} (expected one of {', '.join(self.rates)})")
            base = self.rates[key]
            try:
                rows = float(value.get("rows_per_s", base.rows_per_s))
                bps = value.get("bytes_per_s", base.bytes_per_s)
                bps = None if bps is None else float(bps)
            except (TypeError, ValueError):
                raise ValueError(f"{origin}: rate {key!r} must be numbers") from None
            if not (math.isfinite(rows) and rows > 0) or (bps is not None and not (math.isfinite(bps) and bps > 0)):
                raise ValueError(f"{origin}: rate {key!r} must be a positive finite number")
            self.rates[key] = replace(base, rows_per_s=rows, bytes_per_s=None if bps is None else float(bps),
                                      source=origin)

    def duration(self, key: str, rows: int, size_bytes: int | None = None) -> Estimate:
        """Seconds for ``rows`` (or ``size_bytes`` when both it and a byte rate are known)."""
        rate = self.rates[key]
        if rows <= 0:
            return Estimate(CATALOG_ONLY_SECONDS, "empty table")
        if size_bytes and rate.bytes_per_s:
            return Estimate(max(size_bytes / rate.bytes_per_s, CATALOG_ONLY_SECONDS),
                            f"{size_bytes:,} bytes at {rate.bytes_per_s / 1e6:,.0f} MB/s {key}, {rate.source}")
        return Estimate(max(rows / rate.rows_per_s, CATALOG_ONLY_SECONDS),
                        f"{rows:,} rows at {rate.rows_per_s:,.0f} rows/s {key}, {rate.source}")

    def work(self, work: Work, rows: int, size_bytes: int | None, *, concurrent: bool = False) -> Estimate:
        if work is Work.NONE:
            return Estimate(CATALOG_ONLY_SECONDS, "catalog only")
        if work is Work.UNKNOWN:
            return Estimate(float("inf"), "unknown work")
        key = _WORK_RATE[work]
        if key == "index_build" and concurrent:
            key = "index_build_concurrent"
        return self.duration(key, rows, size_bytes)


def format_duration(seconds: float) -> str:
    if seconds == float("inf"):
        return "unknown"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"

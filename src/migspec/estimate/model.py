"""An estimate is a range, with the figures it came from.

The low end is the work with the table in cache on an idle server; the high end reads the table
from disk (cold cache: the longer of the work and a sequential read, which overlap; their sum for
work that reads through an index) under the slowdown of the measured write load. A backfill's ends are
the runner replayed under each condition (its batches and pauses: migspec.estimate.runner).
Risk, timeouts and the maintenance window use the high end: a plan that promises the low end and
takes the high end gets the DBA paged (issue 17).
"""

from __future__ import annotations

import functools
import math
from typing import Any

from migspec.frozen import field, frozen

# Catalog-only DDL still takes a few milliseconds (commit, invalidation); never claim zero.
CATALOG_ONLY_SECONDS = 0.01


@frozen
class Rate:
    """How fast one kind of work goes with the table in cache on an idle server."""

    rows_per_s: float
    bytes_per_s: float | None = None
    source: str = "default"
    batch_s: float | None = None  # batched work: seconds per batch beyond its rows (calibrate measures it)
    loaded_factor: float | None = None  # time under loaded_qps writes/s over the time idle (calibrate)
    loaded_qps: float | None = None
    probe_row_seconds: float | None = None  # the probe's seconds per row where this rate was measured

    @property
    def is_default(self) -> bool:
        return self.source.startswith("default")


@frozen
class Estimate:
    """How long a piece of work takes (``low`` and ``high`` ends), and what the figures rest on."""

    work_s: float  # warm cache, idle server
    basis: str  # which throughput, measured where and when, and whether a default was used
    read_s: float = 0.0  # reading the table from disk, not from cache: overlaps the work (see at())
    read_overlaps: bool = True  # False: the work reads through an index, the read adds to it (see at())
    load: float = 1.0  # factor under the measured write load (1: idle or unmeasured)
    pause_s: float = 0.0  # the runner's planned pauses between batches
    defaulted: bool = False  # a default throughput was used: no measurement of this server
    # The runner's duration at (warm, idle), (warm, loaded), (cold, idle), (cold, loaded), where its
    # batch sizes change with the conditions (migspec.estimate.runner); None: from the fields above.
    corners: tuple[float, float, float, float] | None = None
    # What was estimated (kind, rows, bytes, runner plan), so the step's lock, known only when the
    # planner builds the step, can be applied by the same estimator (Calibration.locked).
    request: tuple[Any, ...] | None = field(default=None, compare=False, repr=False)

    def at(self, *, cold: bool, loaded: bool) -> float:
        """Seconds under one set of conditions: cache cold or warm, server loaded or idle. Cold, the
        longer of the work and the read, not their sum: a sequential scan reads through the OS,
        whose readahead fetches the next pages while the backend works on these. Measured on the
        benchmark machine on 2026-12-01 (1M rows / 93 MB, PostgreSQL restarted and drop_caches, 3
        runs as bench/probe_reference.py does them, load 2.4-2.8): the cold full scan took 4-40 ms
        longer than the warm one, where adding the read at the probe's rate would have added
        49-188 ms; BENCHMARKS.md section 4's cold VALIDATEs were up to 3.5x pessimistic added.
        Work that reads through an index (``read_overlaps`` False) gets no readahead - PostgreSQL
        does not prefetch a btree's pages - so there the read adds to the work: the 10M-row
        FOREIGN KEY VALIDATE, an index-only scan, took 1.07 s warm and 1.84 s cold on the quiet
        machine of 2026-12-01 (BENCHMARKS.md section 4), 0.77 s more, where the probe's read of
        the table came to 0.80 s; the same table's cold CHECK, a sequential scan, took no longer
        than warm."""
        if self.corners is not None:
            return self.corners[2 * cold + loaded]
        if not cold:
            work = self.work_s
        elif self.read_overlaps:
            work = max(self.work_s, self.read_s)
        else:
            work = self.work_s + self.read_s
        return work * (self.load if loaded else 1.0) + self.pause_s

    # Computed once per estimate (cached in the instance, as the fields are frozen): lint asks an
    # estimate shared by every statement of a table and kind of work for them ~50,000 times on
    # 10,000 statements (issue 16).
    @functools.cached_property
    def low(self) -> float:
        return self.at(cold=False, loaded=False)

    @functools.cached_property
    def high(self) -> float:
        return self.at(cold=True, loaded=True)

    @functools.cached_property
    def seconds(self) -> float:
        """The pessimistic end: what risk classes, statement timeouts and window checks use."""
        return self.high

    @property
    def range_text(self) -> str:
        return format_range(self.low, self.high)

    def __str__(self) -> str:
        return f"{self.range_text} ({self.basis})"


def catalog_only(basis: str = "catalog only") -> Estimate:
    return Estimate(CATALOG_ONLY_SECONDS, basis)


def unknown(basis: str = "unknown work") -> Estimate:
    return Estimate(math.inf, basis)


def format_duration(seconds: float) -> str:
    if seconds > 0:  # (not -0.0 nor NaN, which a cache keyed by value would mix up)
        return _positive_duration(seconds)
    return _duration_text(seconds)


@functools.lru_cache(maxsize=4096)  # lint formats the same few stalls for thousands of statements (issue 16)
def _positive_duration(seconds: float) -> str:
    return _duration_text(seconds)


def _duration_text(seconds: float) -> str:
    if seconds == float("inf"):
        return "unknown"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def format_range(low: float | None, high: float) -> str:
    """``1.2 s-4.5 s``; one figure when both ends print the same. Every command prints a step's
    estimate through this function, so lint, plan and verify show the same text."""
    one = format_duration(high)
    if low is None:
        return one
    other = format_duration(low)
    return one if other == one else f"{other}-{one}"

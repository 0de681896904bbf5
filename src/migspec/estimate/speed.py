"""The measured server's own speed, and the one function that turns rows and bytes into an estimate.

The default rates (:data:`migspec.estimate.throughput.DEFAULT_RATES`) were measured on this
project's reference machine, warm cache, idle. ``migspec measure --probe`` times a bounded sample
scan of each table on the server it measures (see :mod:`migspec.measure.probes`), twice: the first
pass reads what is not in shared_buffers, the second finds every page there. From the probes:

* **speed ratio**: the second pass's time per row divided by the same scan's time per row on the
  reference machine (:data:`REFERENCE_ROW_SECONDS`). Default rates are scaled by it; a
  calibration file's rates (measured on the server itself) are not.
* **cold read rate**: bytes the first pass read from outside shared_buffers divided by the time it
  took beyond the second pass. Where no probe read enough pages, :data:`DEFAULT_READ_BPS` applies.
* **write load**: the write_qps the stats file measured, summed over its tables (a lower bound of
  the server's write load); under it the work takes :func:`load_factor` times longer.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from migspec.estimate.model import CATALOG_ONLY_SECONDS, Estimate, Rate, format_duration

if TYPE_CHECKING:
    from migspec.stats import Stats

#: Seconds per row of the probe's warm pass (``SELECT count(*)`` over 2,048 pages, every page in
#: shared_buffers) on the reference machine the default rates were measured on: PostgreSQL 15.18,
#: 2 cores, the 84.5-byte rows of tools/calibrate.py; ``bench/probe_reference.py``, the fastest of
#: 6 runs on 2026-11-30 (1.25e-7 to 3.9e-7 s: the machine was shared, load average ~10).
REFERENCE_ROW_SECONDS = 1.25e-7
#: Reading a table that is in neither shared_buffers nor the OS cache, bytes/s: the same 1M-row
#: table (85 MB) scanned in full after restarting PostgreSQL and ``echo 3 > /proc/sys/vm/drop_caches``
#: took 123-166 ms on the reference machine (``bench/probe_reference.py``), about what it took with
#: the OS cache full: its virtual disk is cached by the host. 600 MB/s is that whole scan's time,
#: reading and counting, so adding it to the work is pessimistic. Cloud volumes are often slower
#: (a baseline of 125 MB/s is common): ``measure --probe`` measures the server's own.
DEFAULT_READ_BPS = 600_000_000
#: Extra time per 1,000 writes/s of load. Not a measured constant: the benchmark's loaded cases
#: (BENCHMARKS.md section 4, 400 pgbench writes/s on 2 cores) slowed steps by 0.9x-1.8x on a machine
#: other work was loading, too noisy to fit; +50 % per 1,000 writes/s keeps 400 writes/s at x1.2.
LOAD_PER_KQPS = 0.5
#: A probe's first pass must read at least this share of its pages from outside shared_buffers to
#: measure the cold read rate (fewer: the timing is mostly CPU).
MIN_READ_SHARE = 0.25


@dataclass(frozen=True)
class ServerSpeed:
    """How the measured server compares with the reference machine (see the module docstring)."""

    speed_ratio: float = 1.0  # this server's time per row / the reference machine's (below 1: faster)
    read_bps: float = DEFAULT_READ_BPS
    write_qps: float = 0.0
    probe: str | None = None  # where and when the probe ran; None: no probe
    read_measured: bool = False

    @property
    def load_factor(self) -> float:
        return load_factor(self.write_qps)

    @property
    def read_source(self) -> str:
        if self.read_measured:
            return f"measured by the probe, {self.probe}"
        return "default: a cold sequential read on the reference machine"


def load_factor(write_qps: float) -> float:
    return 1.0 + LOAD_PER_KQPS * max(write_qps, 0.0) / 1000.0


def speed_from_stats(stats: Stats) -> ServerSpeed:
    """The probes of a stats file (``measure --probe``), combined over its tables (medians)."""
    write_qps = sum(ts.write_qps or 0.0 for ts in stats.tables.values())
    server = stats.probe
    probes = [ts.probe for ts in stats.tables.values() if ts.probe is not None and ts.probe.rows > 0
              and ts.probe.warm_seconds > 0]
    if server is None or not probes:
        return ServerSpeed(write_qps=write_qps)
    ratio = statistics.median(p.warm_seconds / p.rows for p in probes) / REFERENCE_ROW_SECONDS
    reads = [p.pages_read * server.block_size / (p.first_seconds - p.warm_seconds) for p in probes
             if p.pages and p.pages_read >= MIN_READ_SHARE * p.pages and p.first_seconds > p.warm_seconds]
    where = f"probe of {stats.origin}" + (f" at {server.collected_at}" if server.collected_at else "")
    return ServerSpeed(speed_ratio=ratio, read_bps=statistics.median(reads) if reads else DEFAULT_READ_BPS,
                       write_qps=write_qps, probe=where, read_measured=bool(reads))


def effective_rate(rate: Rate, speed: ServerSpeed) -> Rate:
    """A default rate scaled to the probed server; a measured (calibration) rate as it is."""
    if not rate.is_default or speed.probe is None:
        return rate
    scale = 1.0 / speed.speed_ratio
    return replace(rate, rows_per_s=rate.rows_per_s * scale,
                   bytes_per_s=None if rate.bytes_per_s is None else rate.bytes_per_s * scale,
                   source=f"{rate.source} x{scale:.2f} for this server's speed, {speed.probe}")


def estimate_work(key: str, rate: Rate, speed: ServerSpeed, rows: int, size_bytes: int | None, *,
                  pauses: int = 0, pause_each_s: float = 0.0) -> Estimate:
    """Seconds for ``rows`` of work ``key`` (bytes when both the size and a byte rate are known):
    warm cache and idle at the low end; reading ``size_bytes`` from disk and the write load's
    slowdown at the high end; ``pauses`` of the runner in both."""
    if rows <= 0:
        return Estimate(CATALOG_ONLY_SECONDS, "empty table")
    if size_bytes and rate.bytes_per_s:
        work = size_bytes / rate.bytes_per_s
        what = f"{size_bytes / 1e6:,.0f} MB at {rate.bytes_per_s / 1e6:,.0f} MB/s"
    else:
        work = rows / rate.rows_per_s
        what = f"{rows:,} rows at {rate.rows_per_s:,.0f} rows/s"
    parts = [f"{what} {key}, {rate.source}"]
    read = (size_bytes or 0) / speed.read_bps
    if size_bytes:
        parts.append(f"cold cache +{format_duration(read)} ({size_bytes / 1e6:,.0f} MB at "
                     f"{speed.read_bps / 1e6:,.0f} MB/s, {speed.read_source})")
    else:
        parts.append("cold cache not counted (table size unknown)")
    load = speed.load_factor
    if load > 1.0:
        parts.append(f"x{load:.2f} under {speed.write_qps:,.0f} writes/s")
    pause = pauses * pause_each_s
    if pauses:
        parts.append(f"plus {pauses:,} pauses of {pause_each_s * 1000:.0f} ms")
    defaulted = (rate.is_default and speed.probe is None) or (bool(size_bytes) and not speed.read_measured)
    return Estimate(max(work, CATALOG_ONLY_SECONDS), "; ".join(parts), read_s=read, load=load, pause_s=pause,
                    defaulted=defaulted)


def eta(remaining_rows: int, rows_per_s: float) -> float | None:
    """apply's ETA: the rows left at the rate observed so far, pauses and throttling included
    (GitLab's estimates were off by months when they left out the time between batches)."""
    return remaining_rows / rows_per_s if rows_per_s > 0 else None

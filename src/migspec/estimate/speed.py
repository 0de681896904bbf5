"""The measured server's own speed, and the one function that turns rows and bytes into an estimate.

The default rates (:data:`migspec.estimate.throughput.DEFAULT_RATES`) were measured on this
project's reference machine, warm cache, idle. ``migspec measure --probe`` times a bounded sample
scan of each table on the server it measures (see :mod:`migspec.measure.probes`), twice: the first
pass reads what is not in shared_buffers, the second finds every page there. From the probes:

* **speed ratio**: the second pass's time per row divided by the same scan's time per row on the
  reference machine (:data:`REFERENCE_ROW_SECONDS`). Default rates are scaled by it; a
  calibration's read rates (scan, validate_fk) by the calibration copy's own probe
  (``probe.row_seconds``, measured by ``measure --calibrate`` on its sample) over this one - the
  probe is the common yardstick, so a copy on other hardware or a moment of other load carries
  over. Calibrated rates of work that writes (rewrite, index builds, updates) are taken as
  measured: the read-only probe sees neither WAL nor fsync (BENCHMARKS.md section 4: the probe
  moved 1.5-2x between cases while the writing steps did not follow it), and neither is a
  calibration without a probe of its own.
* **cold read rate**: bytes the first pass read from outside shared_buffers divided by the time it
  took beyond the second pass. Where no probe read enough pages, :data:`DEFAULT_READ_BPS` applies.
  A cold step takes the longer of its work and reading the table at that rate, not their sum:
  the OS readahead reads ahead while the backend works (:meth:`Estimate.at`) - except work that
  reads through an index (:data:`INDEX_READ_KINDS`), which gets no readahead: the sum.
* **write load**: the write_qps the stats file measured, summed over its tables (a lower bound of
  the server's write load); under it a kind of work takes :func:`load_factor` times longer - its
  ``loaded_factor`` measured by ``measure --calibrate --calibrate-writes``, else the assumed
  :data:`LOAD_PER_KQPS` (the basis says which). Only writes that run beside the step compete
  (:func:`competing_writes`): those to a table whose writes the step's lock blocks
  (:attr:`LockMode.blocks_writes`, from the conflict table in :mod:`migspec.locks`) queue behind
  it and run after it - measured: VACUUM FULL of a 10M-row table under 400 pgbench writes/s to it
  took no longer than idle (BENCHMARKS.md section 4). The probe itself ran under the load its
  measure run sampled (``probe.write_qps``): that load's factor is divided out to get the idle
  speed, so a probe taken on a busy production server is not counted busy twice.
* **the runner**: a backfill's duration replays the runner's own batch policy
  (:mod:`migspec.estimate.runner`) over the per-row and per-batch cost (``batch_s``, measured by
  calibrate or :data:`DEFAULT_BATCH_S`), so batches it shrinks when commits are slow, and their
  pauses, are in the estimate.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from migspec.estimate.model import CATALOG_ONLY_SECONDS, Estimate, Rate, format_duration
from migspec.estimate.runner import RunnerPlan, runner_seconds
from migspec.frozen import frozen, replace

if TYPE_CHECKING:
    from migspec.locks import LockMode
    from migspec.names import QualifiedName
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
#: Extra time per 1,000 writes/s of load, where ``measure --calibrate --calibrate-writes`` did not
#: measure the kind's own (its ``loaded_factor``). An assumption, and every basis that uses it
#: says so: the benchmark's loaded cases (BENCHMARKS.md section 4, 400 pgbench writes/s on 2
#: cores) slowed steps by 0.9x-1.8x on a machine other work was loading, too noisy to fit;
#: +50 % per 1,000 writes/s keeps 400 writes/s at x1.2.
LOAD_PER_KQPS = 0.5
#: The runner's cost per batch beyond its rows (choosing the keys, the checkpoint, the commit's
#: WAL flush, round trips) where no calibration measured it: from the reference machine's runner
#: runs of 2026-11-24 (BENCHMARKS.md section 2, 1M rows, 4 writers): 10,000-row batches at 308k
#: rows/s (32.5 ms each) and the runner started at 5,000-row ones at 297k rows/s (16.8 ms, had the
#: batches stayed at 5,000 rows) solve to 3.1 us per row and 1.2 ms per batch - approximate, an
#: upper bound if the runner grew its batches. A busy disk's commits cost far more: calibrate
#: measured 20-30 ms per batch at load 14-21 (BENCHMARKS.md section 4).
DEFAULT_BATCH_S = 0.0012
#: The batch size a calibrated or default ``batched_update`` rate was measured at.
RATE_BATCH_ROWS = 10_000
#: A full sequential scan reads this many times faster than the probe's first pass measures: its
#: 16 MB from the start of a cold file are mostly the OS readahead's ramp-up. On the reference
#: machine (bench/probe_reference.py, after a restart and drop_caches) the probe's first pass read
#: at 270-320 MB/s and a full scan of the table at 600 MB/s or more (DEFAULT_READ_BPS above);
#: on the benchmark machine on 2026-12-01 (load 2.4-2.8) the first pass read 250-940 MB/s beyond
#: its warm pass while a full cold scan of the 93 MB table took at most 30 ms more than warm.
PROBE_READ_RAMP = 2.0
#: Kinds of work that read the table through an index, not a sequential scan: cold, their read
#: adds to the work instead of overlapping it (:meth:`Estimate.at`). VALIDATE of a FOREIGN KEY runs
#: an anti-join that reads the referencing column's index in an index-only scan - the plan builds
#: that index first (tests/test_estimate.py's calibrate test EXPLAINs PostgreSQL's own check
#: query). The table's size stands for the index's: it is the larger, and reading an index in
#: key order is slower per byte than the probe's sequential read, so the two errors lean apart.
INDEX_READ_KINDS = frozenset({"validate_fk"})
#: Probes of fewer pages than this speak for the speed only when no table has a larger one.
MIN_PROBE_PAGES = 256
#: A probe's first pass must read at least this share of its pages from outside shared_buffers to
#: measure the cold read rate (fewer: the timing is mostly CPU).
MIN_READ_SHARE = 0.25


@frozen
class ServerSpeed:
    """What the probe measured on the server (see the module docstring)."""

    row_seconds: float = REFERENCE_ROW_SECONDS  # the probe's warm pass, seconds per row, as measured
    read_bps: float = DEFAULT_READ_BPS
    write_qps: float = 0.0  # the load the steps will meet: the stats file's write_qps, summed
    table_qps: tuple[tuple[QualifiedName, float], ...] = ()  # that load per table (competing_writes)
    probe_qps: float = 0.0  # the load the probe ran under (its own measure run's write_qps)
    probe: str | None = None  # where and when the probe ran; None: no probe
    read_measured: bool = False

    @property
    def speed_ratio(self) -> float:
        """This server's time per row / the reference machine's, as probed (below 1: faster)."""
        return self.row_seconds / REFERENCE_ROW_SECONDS

    @property
    def read_source(self) -> str:
        if self.read_measured:
            return f"measured by the probe, {self.probe}"
        return "default: a cold sequential read on the reference machine"


def load_factor(write_qps: float, rate: Rate | None = None) -> float:
    """How much longer work of ``rate``'s kind takes under ``write_qps`` than idle: the kind's
    measured ``loaded_factor`` (at ``loaded_qps``) scaled linearly to ``write_qps``, or the assumed
    :data:`LOAD_PER_KQPS`."""
    qps = max(write_qps, 0.0)
    if rate is not None and rate.loaded_factor is not None and rate.loaded_qps:
        return 1.0 + max(rate.loaded_factor - 1.0, 0.0) * qps / rate.loaded_qps
    return 1.0 + LOAD_PER_KQPS * qps / 1000.0


def load_source(write_qps: float, rate: Rate | None = None) -> str:
    if rate is not None and rate.loaded_factor is not None and rate.loaded_qps:
        return f"measured: x{rate.loaded_factor:.2f} under {rate.loaded_qps:,.0f} writes/s by the calibration"
    return f"assumed: +{LOAD_PER_KQPS:.0%} per 1,000 writes/s, not measured on this server"


def competing_writes(speed: ServerSpeed, lock: LockMode | None, table: QualifiedName | None) -> tuple[float, str]:
    """(the writes/s that run beside a step holding ``lock`` on ``table``, what the rest do): the
    measured load less the writes to ``table`` when the lock blocks them - they wait in the lock
    queue until the step commits, so they slow it no more than an idle server would."""
    if lock is None or table is None or not lock.blocks_writes:
        return speed.write_qps, ""
    own = dict(speed.table_qps).get(table, 0.0)
    if own <= 0:
        return speed.write_qps, ""
    return (max(speed.write_qps - own, 0.0),
            f"the {own:,.0f} writes/s to {table} wait for its {lock.sql_name} lock (queued, not competing)")


def _load_text(load: float, qps: float, queued: str, rate: Rate) -> str | None:
    """The load part of a basis: the factor and what it came from; None when there is nothing to say."""
    if queued:
        if load > 1.0:
            return f"x{load:.2f} under the {qps:,.0f} writes/s to other tables ({load_source(qps, rate)}); {queued}"
        return f"x1.00 under load: {queued}, no other table's writes measured"
    if load > 1.0:
        return f"x{load:.2f} under {qps:,.0f} writes/s ({load_source(qps, rate)})"
    return None


def speed_from_stats(stats: Stats) -> ServerSpeed:
    """The probes of a stats file (``measure --probe``), combined over its tables (medians)."""
    table_qps = tuple((name, ts.write_qps or 0.0) for name, ts in stats.tables.items())
    write_qps = sum(q for _, q in table_qps)
    server = stats.probe
    probes = [ts.probe for ts in stats.tables.values() if ts.probe is not None and ts.probe.rows > 0
              and ts.probe.warm_seconds > 0]
    if server is None or not probes:
        return ServerSpeed(write_qps=write_qps, table_qps=table_qps)
    import statistics  # here: only a probed stats file needs it (random, fractions: ~3 ms at start-up, issue 16)

    # Pooled over the probes that read enough pages (total time / total rows): a small table's
    # probe is mostly the scan's fixed cost, and its rows may be narrower than the reference's.
    large = [p for p in probes if p.pages >= MIN_PROBE_PAGES] or probes
    row_s = sum(p.warm_seconds for p in large) / sum(p.rows for p in large)
    reads = [p.pages_read * server.block_size / (p.first_seconds - p.warm_seconds) for p in large
             if p.pages and p.pages_read >= MIN_READ_SHARE * p.pages and p.first_seconds > p.warm_seconds]
    where = f"probe of {stats.origin}" + (f" at {server.collected_at}" if server.collected_at else "")
    return ServerSpeed(row_seconds=row_s, read_bps=PROBE_READ_RAMP * statistics.median(reads) if reads else DEFAULT_READ_BPS,
                       write_qps=write_qps, table_qps=table_qps, probe_qps=server.write_qps or 0.0, probe=where,
                       read_measured=bool(reads))


def effective_rate(rate: Rate, speed: ServerSpeed, *, probe_load: float = 1.0) -> Rate:
    """``rate`` on the probed server, idle: scaled by the rate's own probe (the reference machine's
    for a default, the copy's for a calibration that recorded one) over this server's, with the
    load the probe ran under (``probe_load``, its factor) divided out. A calibration without a
    probe of its own is taken as it is."""
    if speed.probe is None:
        return rate
    own = REFERENCE_ROW_SECONDS if rate.is_default else rate.probe_row_seconds
    if own is None:
        return rate
    scale = own * probe_load / speed.row_seconds
    under = f" (probed under {speed.probe_qps:,.0f} writes/s: x{probe_load:.2f} divided out)" if probe_load > 1 else ""
    mine = "the reference machine's" if rate.is_default else "the calibration copy's"
    return replace(rate, rows_per_s=rate.rows_per_s * scale,
                   bytes_per_s=None if rate.bytes_per_s is None else rate.bytes_per_s * scale,
                   batch_s=None if rate.batch_s is None else rate.batch_s / scale,
                   source=f"{rate.source} x{scale:.2f} for this server's speed against {mine} probe{under}, "
                          f"{speed.probe}")


def estimate_work(key: str, rate: Rate, speed: ServerSpeed, rows: int, size_bytes: int | None, *,
                  runner: RunnerPlan | None = None, lock: LockMode | None = None,
                  table: QualifiedName | None = None) -> Estimate:
    """Seconds for ``rows`` of work ``key`` (bytes when both the size and a byte rate are known):
    warm cache and idle at the low end; reading ``size_bytes`` from disk and the slowdown of the
    writes that compete with the step (holding ``lock`` on ``table``: :func:`competing_writes`) at
    the high end. With ``runner`` (a backfill), the runner's batches replayed by its own policy
    (:mod:`migspec.estimate.runner`) at each end: shrunk when slow, a pause after each."""
    if rows <= 0:
        return Estimate(CATALOG_ONLY_SECONDS, "empty table")
    read = (size_bytes or 0) / speed.read_bps
    qps, queued = competing_writes(speed, lock, table)
    load = load_factor(qps, rate)
    load_text = _load_text(load, qps, queued, rate)
    if runner is not None:
        return _runner_estimate(key, rate, speed, rows, size_bytes, runner, read, load, load_text)
    if size_bytes and rate.bytes_per_s:
        work = size_bytes / rate.bytes_per_s
        what = f"{size_bytes / 1e6:,.0f} MB at {rate.bytes_per_s / 1e6:,.0f} MB/s"
    else:
        work = rows / rate.rows_per_s
        what = f"{rows:,} rows at {rate.rows_per_s:,.0f} rows/s"
    overlaps = key not in INDEX_READ_KINDS
    parts = [f"{what} {key}, {rate.source}", _cold_text(speed, size_bytes, read, overlaps)]
    if load_text:
        parts.append(load_text)
    return Estimate(max(work, CATALOG_ONLY_SECONDS), "; ".join(parts), read_s=read, read_overlaps=overlaps,
                    load=load, defaulted=_defaulted(rate, speed, size_bytes))


def _cold_text(speed: ServerSpeed, size_bytes: int | None, read: float, overlaps: bool = True) -> str:
    if not size_bytes:
        return "cold cache not counted (table size unknown)"
    how = ("overlaps the work, the longer counts" if overlaps
           else "adds to the work (it reads through an index: no readahead)")
    return (f"cold cache: reading {size_bytes / 1e6:,.0f} MB at {speed.read_bps / 1e6:,.0f} MB/s "
            f"({format_duration(read)}, {speed.read_source}) {how}")


def _defaulted(rate: Rate, speed: ServerSpeed, size_bytes: int | None) -> bool:
    return (rate.is_default and speed.probe is None) or (bool(size_bytes) and not speed.read_measured)


def _runner_estimate(key: str, rate: Rate, speed: ServerSpeed, rows: int, size_bytes: int | None,
                     runner: RunnerPlan, read: float, load: float, load_text: str | None) -> Estimate:
    """The runner at the four corners: each batch's rows cost ``row_s`` (cold: the longer of that
    and reading them; more under load), each batch ``batch_s``; the runner's policy decides the
    sizes and so the count."""
    batch_s = DEFAULT_BATCH_S if rate.batch_s is None else rate.batch_s
    # rows_per_s is the rate of 10,000-row batches (as calibrated), their per-batch cost included.
    row_s = max(1.0 / rate.rows_per_s - batch_s / RATE_BATCH_ROWS, 0.1 / rate.rows_per_s)
    cold_row_s = read / rows
    corners = []
    for cold, loaded in ((False, False), (False, True), (True, False), (True, True)):
        factor = load if loaded else 1.0
        seconds, batches = runner_seconds(rows, runner, (max(row_s, cold_row_s) if cold else row_s) * factor,
                                          batch_s * factor)
        corners.append((seconds, batches))
    (low, low_batches), (high, high_batches) = corners[0], corners[3]
    where = "measured" if rate.batch_s is not None else "default (reference machine)"
    parts = [f"{rows:,} rows at {rate.rows_per_s:,.0f} rows/s {key} in 10,000-row batches, {rate.source}",
             f"the runner's batches replayed: {runner.batch_size:,} planned, aiming at "
             f"{runner.target_s * 1000:.0f} ms, {batch_s * 1000:.1f} ms per batch ({where}), "
             f"{low_batches:,}-{high_batches:,} batches with {runner.pause_s * 1000:.0f} ms pauses",
             _cold_text(speed, size_bytes, read)]
    if load_text:
        parts.append(load_text)
    return Estimate(max(low, CATALOG_ONLY_SECONDS), "; ".join(parts), read_s=read, load=load,
                    defaulted=_defaulted(rate, speed, size_bytes),
                    corners=tuple(max(c[0], CATALOG_ONLY_SECONDS) for c in corners))  # type: ignore[arg-type]

def eta(remaining_rows: int, rows_per_s: float) -> float | None:
    """apply's ETA: the rows left at the rate observed so far, pauses and throttling included
    (GitLab's estimates were off by months when they left out the time between batches)."""
    return remaining_rows / rows_per_s if rows_per_s > 0 else None

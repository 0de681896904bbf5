"""Risk classes and the thresholds that decide them, as data.

The brief's meaning: GREEN - additive, no writes blocked; YELLOW - needs a coordinated deploy,
dual-write or expand/contract; RED - needs a maintenance window, or a lock that blocks writes
longer than the table tolerates.

How long the application is stalled ("stall") is what decides it:
  stall = queue wait + hold, or max(lock_timeout, hold) when the wait would reach the lock_timeout
  hold  = the work done under a lock that blocks writes (scan, rewrite, index build, row locks),
          from the table's rows/bytes and the throughput defaults (migspec.estimate)
  queue = how long the lock request may wait behind the longest running transaction; while it
          waits it blocks every later conflicting request, even plain SELECTs under ACCESS
          EXCLUSIVE (postgres-locks.md row 24). A lock_timeout in effect caps it - and an attempt
          that times out never holds the lock: the stall it causes is the timeout, and the attempt
          that succeeds (a retry) found no long queue. So the two never add up (stall_seconds).
The lock_timeout migspec recommends (and plans with) is the GREEN stall itself, one value: a
statement that follows migspec's advice passes migspec's gate.
Every threshold can be overridden in the stats file's ``thresholds:`` section.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Mapping

from migspec import policy
from migspec.errors import InputError
from migspec.estimate.throughput import Calibration, Estimate, format_duration
from migspec.frozen import fields, frozen, replace
from migspec.locks import LockMode
from migspec.names import QualifiedName
from migspec.ops.base import Effect, Work


class Risk(enum.IntEnum):
    GREEN = 0
    YELLOW = 1
    RED = 2

    def __str__(self) -> str:
        return self._name_  # the member's own attribute, not enum's name descriptor (issue 16)


@frozen
class Thresholds:
    """Where GREEN ends and RED begins (policy defaults, overridden by the stats file's thresholds)."""

    #: A stall up to this long is GREEN: writers see a blip, no queue builds up.
    green_stall_seconds: float = policy.LOCK_TIMEOUT_S
    #: A stall longer than this is RED: it needs a maintenance window or a different approach.
    red_stall_seconds: float = 15.0
    #: Writes queued behind a stall (write_qps x stall) above this are RED: connection pools exhaust.
    red_queued_writes: float = 20_000
    #: A table with this many lock waits per minute is contended: any write-blocking lock is >= YELLOW.
    contended_lock_waits_per_minute: float = 10.0
    #: UPDATE/DELETE touching more rows than this in one statement should be batched.
    batch_rows: float = policy.BATCH_ROWS

    @property
    def recommended_lock_timeout_seconds(self) -> float:
        """The lock_timeout migspec recommends and plans with: the GREEN stall, so that a lock
        attempt that times out stalls writers no longer than GREEN allows (one value, not two
        that can disagree: issue 12, class 12)."""
        return self.green_stall_seconds

    @classmethod
    def from_mapping(cls, values: Mapping[str, float], origin: str = "thresholds") -> Thresholds:
        names = {f.name for f in fields(cls)}
        for key in values:
            if key == "recommended_lock_timeout_seconds":
                raise InputError(f"{origin}: thresholds.{key}: the recommended lock_timeout is "
                                 "green_stall_seconds (one value): set that instead")
            if key not in names:
                raise InputError(f"{origin}: thresholds.{key}: unknown threshold (expected one of {', '.join(sorted(names))})")
        return replace(cls(), **{k: float(v) for k, v in values.items()})


@frozen
class TableLoad:
    """The measurements risk needs about one table (zeros for a table created in the migration)."""

    rows: int
    size_bytes: int | None
    write_qps: float
    longest_transaction_seconds: float
    lock_waits_per_minute: float
    new: bool = False


@frozen
class Assessment:
    """The risk of one operation at its table's size and traffic, and why."""

    risk: Risk
    lock: LockMode | None
    hold: Estimate
    queue_seconds: float
    stall_seconds: float
    queued_writes: float
    reasons: tuple[str, ...]

    @property
    def estimate_seconds(self) -> float:
        return self.hold.seconds


def classify_stall(stall: float, qps: float, t: Thresholds) -> tuple[Risk, str]:
    queued = qps * stall
    if stall == float("inf"):
        return Risk.RED, "the stall cannot be bounded"
    if stall > t.red_stall_seconds or queued > t.red_queued_writes:
        return Risk.RED, (f"stalls the table for ~{format_duration(stall)} (> {format_duration(t.red_stall_seconds)})"
                          if stall > t.red_stall_seconds else
                          f"~{queued:,.0f} writes queue behind it (> {t.red_queued_writes:,.0f})")
    if stall > t.green_stall_seconds:
        return Risk.YELLOW, f"stalls the table for ~{format_duration(stall)} (> {format_duration(t.green_stall_seconds)})"
    return Risk.GREEN, f"stall at most ~{format_duration(stall)}"


def stall_seconds(queue_s: float, hold_s: float, lock_timeout_s: float | None) -> float:
    """How long writers stall behind one lock request that may wait ``queue_s`` for the lock
    and then holds it ``hold_s``. When the wait reaches ``lock_timeout_s`` the attempt fails
    without ever holding the lock (writers stalled for the timeout); the attempt that succeeds
    waited less than the timeout - with a measured queue that long, a retry at a quieter moment
    - so the stall is the longer of the two, not their sum."""
    if lock_timeout_s is not None and queue_s >= lock_timeout_s:
        return max(lock_timeout_s, hold_s)
    return queue_s + hold_s


@functools.cache  # one per lock mode (issue 16: built anew for every statement before)
def _continues(lock: LockMode | None) -> tuple[str]:
    return (f"{lock.sql_name if lock else 'no lock'} {lock.blocks if lock else ''}: "
            "reads and writes continue".replace("  ", " "),)


def assess(effect: Effect, load: TableLoad | None, *, lock_timeout_s: float | None, calibration: Calibration,
           thresholds: Thresholds, concurrent: bool = False, extra_hold_s: float = 0.0,
           table: QualifiedName | None = None) -> Assessment:
    """Risk of one operation on one table, from its effect and the table's measurements.

    ``extra_hold_s`` is time the same transaction already held a write-blocking lock on this table
    before this operation (a lock is released only at commit: postgres-locks.md row 9). ``table``:
    the operation's table, whose writes queue behind a lock that blocks them (not load on the work)."""
    lock = effect.strongest
    if effect.work is Work.UNKNOWN:
        return Assessment(Risk.RED, lock, Estimate(float("inf"), "unknown work"), 0.0, float("inf"), 0.0,
                          ("migspec cannot see what this does; it assumes the worst",))
    if load is None:
        hold = calibration.work(effect.work, 0, None)
        return Assessment(Risk.GREEN, lock, hold, 0.0, 0.0, 0.0, ("touches no existing table",))
    rows = effect.touched_rows(load.rows)
    hold = calibration.work(effect.work, rows, effect.touched_bytes(load.rows, load.size_bytes), concurrent=concurrent,
                            lock=lock, table=table)
    blocks_writes = bool(lock and lock.blocks_writes) or effect.work is Work.ROWS
    if not blocks_writes:
        return Assessment(Risk.GREEN, lock, hold, 0.0, 0.0, 0.0, _continues(lock))
    queue = 0.0
    if lock and lock.blocks_writes and not load.new:
        queue = load.longest_transaction_seconds
    stall = stall_seconds(queue, hold.seconds + extra_hold_s, lock_timeout_s)
    if lock_timeout_s is not None:
        queue = min(queue, lock_timeout_s)
    risk, why = classify_stall(stall, load.write_qps, thresholds)
    reasons = [why]
    if queue:
        reasons.append(f"may queue {format_duration(queue)} behind the longest transaction"
                       + (" (capped by lock_timeout)" if lock_timeout_s is not None and
                          lock_timeout_s < load.longest_transaction_seconds else ""))
    if (not load.new and load.lock_waits_per_minute >= thresholds.contended_lock_waits_per_minute
            and risk < Risk.YELLOW):
        risk = Risk.YELLOW
        reasons.append(f"the table is contended ({load.lock_waits_per_minute:g} lock waits/min)")
    return Assessment(risk, lock, hold, queue, stall, load.write_qps * stall, tuple(reasons))

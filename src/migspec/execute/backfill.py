"""The backfill runner: keyset batches on the primary key, each batch and its checkpoint in one
transaction, adaptive batch size, pauses and throttles, and a bound that guarantees it finishes.

- Keyset, never OFFSET: each batch reads the next N keys after the cursor (composite keys use a
  row comparison), so the cost of a batch does not grow with progress (executors.md).
- Exactly once: the batch's UPDATE/DELETE (and the backup copy for the DOWN) and the cursor
  checkpoint commit together; a SIGKILL loses at most the uncommitted batch, which the re-run redoes.
  The predicate is idempotent, so a batch redone after a commit changes nothing.
- Finishes under endless inserts: the walk stops at the largest key present when the backfill
  started (the snapshot bound). Rows inserted later get their value from the column DEFAULT or the
  sync trigger the plan installs first; the post-check proves it.
- Adapts: the batch size moves toward the plan's target batch time (from the table's write rate,
  migspec.plan.context) from an
  exponentially weighted rows/s, never above 4x nor below 1/4 of the planned size
  (:func:`migspec.estimate.runner.next_batch_size`, the policy the estimator replays); the pause is
  the planned one. Throttles: replication lag, lock waits on the table, a user SQL check.
- SIGINT/SIGTERM: the current batch finishes and commits, then the runner stops, resumable.
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable
from typing import Any

import psycopg

from migspec import policy
from migspec.estimate.runner import next_batch_size
from migspec.estimate.speed import eta
from migspec.execute import state
from migspec.execute.guard import Log, set_local_timeouts
from migspec.frozen import field, record
from migspec.planfile.model import Backfill
from migspec.planfile.sql import batch_statements, escape_percent, key_condition, cols, q, walk_table


@record
class Throttle:
    max_replication_lag_s: float = policy.MAX_REPLICATION_LAG_S
    max_lock_waits: int = 0  # sessions waiting for locks on the table; 0 disables
    check_sql: str | None = None  # returns one boolean: true = go
    poll_s: float = 1.0


@record
class Progress:
    rows_done: int = 0
    batches: int = 0
    started: float = field(default_factory=time.monotonic)
    rate: float = 0.0  # rows/s, exponentially weighted, pauses included

    def eta(self, remaining: int) -> float | None:
        return eta(remaining, self.rate)


class Interrupted(Exception):
    """SIGINT/SIGTERM arrived; the last batch committed; re-run to continue."""


def run_backfill(conn: psycopg.Connection, b: Backfill, *, plan: str, phase: str, step: int, log: Log,
                 throttle: Throttle | None = None, target_batch_s: float | None = None,
                 on_progress: Callable[[Progress, int], None] | None = None,
                 lock_timeout_s: float | None = policy.LOCK_TIMEOUT_S,
                 statement_timeout_s: float | None = policy.BATCH_STATEMENT_TIMEOUT_S,
                 direction: str = "up", part: int = 0) -> Progress:
    """``plan`` is the migration's identity in the state table; ``direction``/``part`` say whose
    cursor this is (a DOWN's batched restore has its own)."""
    throttle = throttle or Throttle()
    target_batch_s = target_batch_s or b.target_seconds
    row = state.status(conn, plan, phase, step, direction, part)
    cursor: list[Any] | None = row[1] if row and row[1] is not None else None
    if isinstance(cursor, str):
        cursor = json.loads(cursor)
    progress = Progress(rows_done=row[2] if row else 0)
    keys = cols(b.key)
    desc = ", ".join(f"{q(k)} DESC" for k in b.key)
    walk = walk_table(b)  # a restore walks its backup's keys
    bound = conn.execute(f"SELECT {keys} FROM {walk.sql} ORDER BY {desc} LIMIT 1").fetchone()
    if bound is None:
        return progress
    total = conn.execute("SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass(%s)",
                         (walk.sql,)).fetchone()
    estimate_total = max(int(total[0]) if total and total[0] and total[0] > 0 else 0, progress.rows_done)
    if cursor is not None:
        log(f"resuming {b.table} after key {cursor} ({progress.rows_done:,} rows already done)")
    size, planned = b.batch_size, b.batch_size
    stop = {"now": False}

    def _stop(signum: int, _frame: Any) -> None:
        stop["now"] = True
        log(f"signal {signum}: finishing the current batch, then stopping (re-run to continue)")

    old = {s: signal.signal(s, _stop) for s in (signal.SIGINT, signal.SIGTERM)} if _main_thread() else {}

    def _stopped() -> Interrupted:
        at = f" at key {cursor}" if cursor is not None else ""
        return Interrupted(f"stopped after {progress.batches} batches{at}; re-run to continue")

    try:
        while True:
            # A signal that came during the pause or a throttle wait stops before the next batch
            # (a throttle can hold for as long as the replica lags: it must not ignore SIGTERM).
            _wait_for_throttle(conn, b, throttle, log, lambda: stop["now"])
            if stop["now"]:
                raise _stopped()
            t0 = time.monotonic()
            lower = cursor is not None
            with conn.transaction():
                set_local_timeouts(conn, lock_timeout_s, statement_timeout_s)
                where = (key_condition(b, ">", len(b.key)) + " AND ") if lower else ""
                hi = conn.execute(
                    f"SELECT {escape_percent(keys)} FROM (SELECT {escape_percent(keys)} FROM {escape_percent(walk.sql)} WHERE {where}"
                    f"{key_condition(b, '<=', len(b.key))} ORDER BY {escape_percent(keys)} LIMIT %s) s ORDER BY {escape_percent(desc)} LIMIT 1",
                    [*(cursor or []), *bound, size]).fetchone()
                if hi is None:
                    break
                params = [*(cursor or []), *hi]
                changed = 0
                for sql in batch_statements(b, lower):
                    cur = conn.execute(sql, params)
                    changed = cur.fetchone()[0] if cur.description else cur.rowcount
                state.checkpoint(conn, plan, phase, step, [_jsonable(v) for v in hi], max(changed, 0),
                                 direction, part)
            cursor = [_jsonable(v) for v in hi]
            elapsed = time.monotonic() - t0
            progress.rows_done += max(changed, 0)
            progress.batches += 1
            per_s = size / max(elapsed + b.pause_seconds, 1e-6)
            progress.rate = per_s if progress.rate == 0 else 0.7 * progress.rate + 0.3 * per_s
            size = next_batch_size(size, planned, target_batch_s, elapsed)
            if on_progress:
                on_progress(progress, estimate_total)
            if stop["now"]:
                raise _stopped()
            time.sleep(b.pause_seconds)
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
    return progress


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def _jsonable(v: Any) -> Any:
    return v if isinstance(v, (int, float, str, bool)) or v is None else str(v)


def _wait_for_throttle(conn: psycopg.Connection, b: Backfill, t: Throttle, log: Log,
                       stopping: Callable[[], bool] = lambda: False) -> None:
    while not stopping():
        reason = _throttle_reason(conn, b, t)
        if reason is None:
            return
        log(f"throttled: {reason}; waiting {t.poll_s:g} s")
        deadline = time.monotonic() + t.poll_s
        while not stopping() and time.monotonic() < deadline:
            time.sleep(min(0.05, t.poll_s))


def _throttle_reason(conn: psycopg.Connection, b: Backfill, t: Throttle) -> str | None:
    lag = conn.execute("SELECT coalesce(max(extract(epoch FROM replay_lag)), 0) FROM pg_stat_replication").fetchone()
    if lag and lag[0] is not None and float(lag[0]) > t.max_replication_lag_s:
        return f"replication lag {float(lag[0]):.1f} s > {t.max_replication_lag_s:g} s"
    if t.max_lock_waits:
        waits = conn.execute("SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = to_regclass(%s)",
                             (b.table.sql,)).fetchone()
        if waits and waits[0] > t.max_lock_waits:
            return f"{waits[0]} sessions wait for locks on {b.table}"
    if t.check_sql:
        ok = conn.execute(t.check_sql).fetchone()
        if not ok or not ok[0]:
            return f"throttle check returned false: {t.check_sql}"
    return None

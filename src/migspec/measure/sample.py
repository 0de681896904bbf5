"""The sampling window: write rates from counter deltas, lock contention from polling.

Write rate. ``n_tup_ins + n_tup_upd + n_tup_del`` of ``pg_stat_all_tables`` is read at the start
and the end of the window; ``write_qps`` is the difference over the elapsed server time (rows
written per second, not statements). The counters are updated lazily: since PostgreSQL 15 each
backend keeps its counts locally and flushes them at a transaction end at most once per second
(``PGSTAT_MIN_INTERVAL``, 1000 ms, in src/backend/utils/activity/pgstat.c); a backend that goes
idle with counts pending flushes them after ``PGSTAT_IDLE_INTERVAL`` (10 s), or when it
disconnects. Before 15 the statistics collector received them every 500 ms
(``PGSTAT_STAT_INTERVAL``). So at each end of the window up to about one second of every busy
backend's writes may not be counted yet, and for a steady load the error of the rate is at most
about ``1 s / window`` (±1.7 % for the default 60 s, ±20 % for 5 s); writes that stop within 10 s
before the window's end may be counted late or not at all. ``pg_stat_clear_snapshot()`` runs
before every read, so a read never returns a cached snapshot.

Lock contention. Every ``poll_interval`` the window reads ``pg_locks`` (waits not granted) and
``pg_stat_activity``. A wait is attributed to a table when the lock it waits for is on the table
(or one of its partitions), or, for a row-lock wait (a wait for the holder's transaction ID), when
the waiter holds a tuple lock on the table, which PostgreSQL takes before it waits
(src/backend/access/heap/heapam.c, heap_acquire_tuplock); waits for another transaction with no
tuple lock (a unique-index conflict) name no table and are not counted. ``lock_waits_per_minute`` counts distinct episodes: a (pid, table)
pair seen waiting in one poll and not in the poll before. Waits shorter than the poll interval can
be missed, so the figure is a lower bound. ``pg_blocking_pids()`` is called only when something
waits: it briefly takes every lock-manager partition lock (PostgreSQL docs, "System Information
Functions"). ``longest_transaction_seconds`` is the oldest open transaction of a client session in
this database (or prepared transaction) seen during the window, this collector's own excluded; it
is server-wide, not per table, because any transaction may yet touch the table, and a DDL statement
queues behind whichever of them holds a conflicting lock.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence

import psycopg

from migspec.frozen import field, frozen, record
from migspec.measure.collect import Relation

#: Default window and poll interval (seconds).
DEFAULT_SAMPLE_SECONDS = 60.0
DEFAULT_POLL_INTERVAL = 0.25

ProgressCallback = Callable[[float, float], None]  # (elapsed, total) seconds

_COUNTERS_SQL = """
SELECT relid::int8, n_tup_ins + n_tup_upd + n_tup_del FROM pg_stat_all_tables WHERE relid = ANY(%s)
"""
# Waits not granted, plus the tuple locks (granted) that name the table of a row-lock wait.
_LOCKS_SQL = """
SELECT pid, relation::int8, locktype, mode, granted
FROM pg_locks
WHERE (NOT granted OR (locktype = 'tuple' AND granted))
  AND (database IS NULL OR database = (SELECT oid FROM pg_database WHERE datname = current_database()))
"""
# Open transactions of this database: sessions (not this one) and prepared transactions.
_TRANSACTIONS_SQL = """
SELECT pid, extract(epoch FROM clock_timestamp() - xact_start)::float8, backend_type = 'client backend'
FROM pg_stat_activity
WHERE xact_start IS NOT NULL AND pid <> pg_backend_pid() AND datname = current_database()
UNION ALL
SELECT 0, extract(epoch FROM clock_timestamp() - prepared)::float8, true
FROM pg_prepared_xacts WHERE database = current_database()
"""
_BLOCKERS_SQL = "SELECT pid, pg_blocking_pids(pid) FROM unnest(%s::int[]) AS pid"
_NOW_SQL = "SELECT pg_stat_clear_snapshot(), extract(epoch FROM clock_timestamp())::float8"


@frozen
class Observation:
    """What one poll saw: per table, the pids waiting on it and the pids blocking them."""

    at: float  # server clock, epoch seconds
    waiting: Mapping[int, frozenset[int]]  # table oid -> waiting pids
    blockers: Mapping[int, frozenset[int]]  # table oid -> pids that block those waits
    transactions: Mapping[int, float]  # pid -> transaction age (s); pid 0 is the oldest prepared transaction
    longest_transaction: float  # client sessions and prepared transactions only


@record
class ContentionTracker:
    """Folds polls into per-table contention figures (pure; fed by :func:`sample`)."""

    episodes: Counter[int] = field(default_factory=Counter)
    blocked_max: Counter[int] = field(default_factory=Counter)
    blocker_age: dict[int, float] = field(default_factory=lambda: defaultdict(float))
    longest_transaction: float = 0.0
    polls: int = 0
    _previous: frozenset[tuple[int, int]] = frozenset()

    def observe(self, obs: Observation) -> None:
        self.polls += 1
        current = frozenset((pid, table) for table, pids in obs.waiting.items() for pid in pids)
        for _, table in current - self._previous:
            self.episodes[table] += 1
        self._previous = current
        for table, pids in obs.waiting.items():
            self.blocked_max[table] = max(self.blocked_max[table], len(pids))
        for table, pids in obs.blockers.items():
            ages = [obs.transactions[p] for p in pids if p in obs.transactions]
            if ages:
                self.blocker_age[table] = max(self.blocker_age[table], max(ages))
        self.longest_transaction = max(self.longest_transaction, obs.longest_transaction)


@frozen
class TableWindow:
    writes: int | None  # rows inserted + updated + deleted during the window (None: counters reset)
    write_qps: float | None
    lock_wait_episodes: int
    lock_waits_per_minute: float
    blocked_sessions_max: int
    longest_blocker_seconds: float  # oldest transaction seen blocking a wait on this table


@frozen
class Window:
    started_at: float  # server clock, epoch seconds, when the first counters were read
    ended_at: float
    polls: int
    longest_transaction_seconds: float
    tables: Mapping[int, TableWindow]  # table oid -> figures

    @property
    def elapsed(self) -> float:
        return self.ended_at - self.started_at


def _now(cur: psycopg.Cursor) -> float:  # type: ignore[type-arg]
    row = cur.execute(_NOW_SQL).fetchone()
    return float(row[1]) if row else time.time()


def read_counters(conn: psycopg.Connection, oids: Sequence[int]) -> tuple[float, dict[int, int]]:
    """(server time, rows written so far per relation) in one read-only transaction."""
    with conn.transaction(), conn.cursor() as cur:
        at = _now(cur)
        rows = cur.execute(_COUNTERS_SQL, (list(oids),)).fetchall()
    return at, {int(oid): int(n) for oid, n in rows}


def poll(conn: psycopg.Connection, table_of: Mapping[int, int]) -> Observation:
    """One look at lock waits and open transactions; ``table_of`` maps relation oid -> table oid."""
    with conn.transaction(), conn.cursor() as cur:
        at = _now(cur)
        locks = cur.execute(_LOCKS_SQL).fetchall()
        transactions: dict[int, float] = {}
        longest = 0.0
        for pid, age, counts in cur.execute(_TRANSACTIONS_SQL).fetchall():
            age = max(0.0, float(age or 0.0))
            transactions[int(pid)] = max(age, transactions.get(int(pid), 0.0))
            if counts:
                longest = max(longest, age)
        tuple_lock = {int(pid): int(rel) for pid, rel, locktype, _, granted in locks
                      if granted and locktype == "tuple" and rel is not None}
        waiting: dict[int, set[int]] = defaultdict(set)
        for pid, rel, _, _, granted in locks:
            if granted or pid is None:
                continue
            relation = int(rel) if rel is not None else tuple_lock.get(int(pid))
            if relation is not None and relation in table_of:
                waiting[table_of[relation]].add(int(pid))
        blockers: dict[int, set[int]] = defaultdict(set)
        if waiting:
            pids = sorted({p for ps in waiting.values() for p in ps})
            blocked_by = {int(pid): [int(b) for b in (bs or ())]
                          for pid, bs in cur.execute(_BLOCKERS_SQL, (pids,)).fetchall()}
            for table, ps in waiting.items():
                for p in ps:
                    blockers[table].update(blocked_by.get(p, ()))
    return Observation(at, {t: frozenset(p) for t, p in waiting.items()},
                       {t: frozenset(p) for t, p in blockers.items()}, transactions, longest)


def sample(conn: psycopg.Connection, relations: Iterable[Relation], *, seconds: float = DEFAULT_SAMPLE_SECONDS,
           poll_interval: float = DEFAULT_POLL_INTERVAL, count_writes: bool = True,
           on_progress: ProgressCallback | None = None,
           clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> Window:
    """Watch the tables for ``seconds``. ``count_writes=False`` (a standby, whose counters do not
    include the primary's writes) leaves ``write_qps`` unknown."""
    relations = list(relations)
    table_of = {oid: rel.oid for rel in relations for oid in rel.lock_oids}
    members = sorted({m for rel in relations for m in rel.members})
    tracker = ContentionTracker()
    started, before = read_counters(conn, members)
    start = clock()
    deadline = start + seconds
    while True:
        tracker.observe(poll(conn, table_of))
        now = clock()
        if on_progress is not None:
            on_progress(min(now - start, seconds), seconds)
        if now >= deadline:
            break
        sleep(min(poll_interval, deadline - now))
    ended, after = read_counters(conn, members)
    elapsed = max(ended - started, 1e-6)
    tables: dict[int, TableWindow] = {}
    for rel in relations:
        writes: int | None = None
        if count_writes:
            deltas = [after.get(m, 0) - before.get(m, 0) for m in rel.members]
            # A negative delta means the counters were reset (pg_stat_reset*) during the window.
            writes = sum(deltas) if all(d >= 0 for d in deltas) else None
        episodes = tracker.episodes[rel.oid]
        tables[rel.oid] = TableWindow(
            writes=writes,
            write_qps=None if writes is None else writes / elapsed,
            lock_wait_episodes=episodes,
            lock_waits_per_minute=episodes * 60.0 / elapsed,
            blocked_sessions_max=tracker.blocked_max[rel.oid],
            longest_blocker_seconds=tracker.blocker_age.get(rel.oid, 0.0),
        )
    return Window(started, ended, tracker.polls, tracker.longest_transaction, tables)

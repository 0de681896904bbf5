"""Concurrent writer load: K connections, each in its own thread, alternating an INSERT of a new
row (a fresh row number, so fresh keys) and an UPDATE of a random existing row of the tables a
phase touches, with every operation's latency recorded.

The UPDATE sets a key column to itself: a real row version, row lock, ROW EXCLUSIVE table lock
and BEFORE UPDATE triggers (the plan's sync triggers fire), yet the rows written before the
rollout keep their values, so the reversibility check can still compare them. Every connection
has a statement_timeout, so a stall is measured (as an error at the timeout) instead of hanging.
"""

from __future__ import annotations

import itertools
import random
import threading
import time

import psycopg

from migspec.frozen import field, frozen, record
from migspec.names import quote_ident
from migspec.verify.data import TableModel, insert_sql


@frozen
class Op:
    started: float  # time.monotonic()
    latency: float  # seconds
    table: str
    kind: str  # "insert" | "update"
    error: str | None = None


@frozen
class WriterWork:
    """The statements one table gets; ``{g}`` is replaced by a row number."""

    table: str
    insert: str
    update: str | None


def writer_work(model: TableModel, columns: list[str]) -> WriterWork:
    g = "s.g"
    insert = insert_sql(model, g, "(SELECT {g}::bigint AS g) AS s", columns)
    update = None
    touch = model.touch_column()
    if model.key and touch and all(k in model.templates for k in model.key):
        keys = ", ".join(quote_ident(k) for k in model.key)
        update = (f"UPDATE {model.name} SET {quote_ident(touch)} = {quote_ident(touch)} WHERE ({keys}) = "
                  f"(SELECT {model.select_list(g, list(model.key))} FROM (SELECT {{g}}::bigint AS g) AS s)")
        if len(model.key) == 1:
            update = update.replace(f"WHERE ({keys}) =", f"WHERE {keys} =")
    return WriterWork(model.name, insert, update)


@frozen
class LatencyStats:
    ops: int
    errors: int
    p50_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    error_samples: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, object]:
        return {"ops": self.ops, "errors": self.errors, "p50_ms": self.p50_ms, "p99_ms": self.p99_ms,
                "max_ms": self.max_ms, "error_samples": list(self.error_samples)}


def latency_stats(ops: list[Op]) -> LatencyStats:
    if not ops:
        return LatencyStats(0, 0, None, None, None)
    lat = sorted(o.latency for o in ops)

    def pct(p: float) -> float:
        return round(lat[min(len(lat) - 1, int(p * len(lat)))] * 1000, 1)

    errors = [o for o in ops if o.error]
    samples = tuple(dict.fromkeys(f"{o.kind} {o.table}: {o.error}" for o in errors))[:3]
    return LatencyStats(len(ops), len(errors), pct(0.50), pct(0.99), round(lat[-1] * 1000, 1), samples)


@record
class WriterPool:
    """Start with :meth:`start`, stop with :meth:`stop`; :meth:`during` gives the latencies of the
    operations that overlapped a time window."""

    dsn: str
    work: list[WriterWork]
    writers: int
    existing_rows: int  # row numbers 1..N exist in every loaded table
    counter: itertools.count  # fresh row numbers, shared by every pool of the run
    rate_per_writer: float = 200.0  # operations per second per writer (a busy OLTP table, not a benchmark)
    statement_timeout_s: float = 10.0
    ops: list[Op] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> None:
        if not self.work or self.writers <= 0:
            return
        ready = threading.Barrier(self.writers + 1)
        for i in range(self.writers):
            t = threading.Thread(target=self._run, args=(i, ready), daemon=True, name=f"migspec-writer-{i}")
            t.start()
            self._threads.append(t)
        ready.wait(timeout=30)

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=self.statement_timeout_s + 5)
        self._threads.clear()

    def during(self, start: float, end: float) -> list[Op]:
        with self._lock:
            return [o for o in self.ops if o.started <= end and o.started + o.latency >= start]

    def _connect(self) -> psycopg.Connection:
        return psycopg.connect(self.dsn, autocommit=True, application_name="migspec verify writer",
                               options=f"-c statement_timeout={int(self.statement_timeout_s * 1000)}")

    def _run(self, index: int, ready: threading.Barrier) -> None:
        rng = random.Random(index)
        conn: psycopg.Connection | None = None
        try:
            conn = self._connect()
        finally:
            try:
                ready.wait(timeout=30)
            except threading.BrokenBarrierError:
                pass
        period = 1.0 / self.rate_per_writer if self.rate_per_writer > 0 else 0.0
        n = index
        while not self._stop.is_set():
            work = self.work[n % len(self.work)]
            kind = "update" if (n // len(self.work)) % 2 and work.update else "insert"
            n += 1
            if kind == "insert":
                sql = work.insert.replace("{g}", str(next(self.counter)))
            else:
                assert work.update is not None
                sql = work.update.replace("{g}", str(rng.randint(1, max(self.existing_rows, 1))))
            t0 = time.monotonic()
            error = None
            try:
                if conn is None or conn.closed:
                    conn = self._connect()
                conn.execute(sql)
            except psycopg.Error as exc:
                text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
                error = f"{type(exc).__name__}: {text}"
                if conn is not None and conn.broken:
                    conn = None
            latency = time.monotonic() - t0
            with self._lock:
                self.ops.append(Op(t0, latency, work.table, kind, error))
            if period > latency:
                self._stop.wait(period - latency)
        if conn is not None:
            conn.close()

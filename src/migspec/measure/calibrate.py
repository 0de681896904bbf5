"""``migspec measure --calibrate FILE``: time the heavy kinds of work on a sample of each table, on
a throwaway copy of production (a restored backup, a promoted replica's clone) - never on
production itself, since it writes.

For each measured table, a sample of at most ``pages`` pages (``TABLESAMPLE SYSTEM ...
REPEATABLE``) is copied into a table of a scratch schema (``migspec_calibrate_<random>``, dropped
at the end, also on failure) and timed, as the plan's steps run them (the two VALIDATEs
:data:`READ_TIMINGS` times each, the median kept):

* ``scan``: VALIDATE CONSTRAINT of a CHECK added NOT VALID;
* ``validate_fk``: VALIDATE CONSTRAINT of a FOREIGN KEY from every row to a 1,000-row parent (the
  anti-join a FOREIGN KEY validation runs: the table or the referencing column's index read, the
  parent's key probed per row; a much larger parent is slower), the referencing column indexed
  as the plan's steps leave it;
* ``rewrite``: ALTER COLUMN ... TYPE of a new, empty column (rewrites the table and its one index);
* ``batched_update``: keyset batches setting that column, each with a checkpoint row in one
  transaction as the runner does them - half the keys in 10,000-row batches, half in 1,000-row
  ones, which separates the per-row cost from the per-batch one (``batch_s``: choosing the keys,
  the checkpoint, the commit's WAL flush) that makes the runner slow when it shrinks its batches;
* ``index_build_concurrent``: CREATE INDEX CONCURRENTLY, after a VACUUM, on the first text column
  (the slower kind to sort: 1.5M against 2.4M rows/s for an int on the reference machine), else
  the first column.

In that order, so each kind meets the table as a long-lived one would be: the rewrite runs before
the update leaves a dead version of every row (measured: calibrating the rewrite after the update
made it 2.4-3.3x slower than a VACUUM FULL of the same table).

With ``--calibrate-writes QPS`` (production's write rate, from its stats file) every kind runs
again on a second copy of the sample while WRITER_THREADS connections update random rows of it at
that rate: each kind's ``loaded_factor`` is the load's effect measured, not assumed, at the rate
the writers reached (``probe.write_qps``: slow commits can hold them below the rate asked for).

Before the timings, the ``measure --probe`` warm pass runs on the sample (``probe.row_seconds``):
the copy's speed on the probe's yardstick. The estimator scales the rates by production's probe
over this one, so a copy on other hardware, or a moment of other load, carries over.

The rates (rows/s, and bytes/s where the estimator uses bytes) are written in the calibration
file format ``verify --calibration`` writes (:func:`migspec.estimate.throughput.calibration_text`),
for ``lint``/``plan --calibration``.
"""

from __future__ import annotations

import datetime as dt
import random
import secrets
import threading
import time
from collections.abc import Callable, Sequence

import psycopg

from migspec.errors import RefusedError
from migspec.dsn import check as describe_dsn
from migspec.dsn import connect
from migspec.measure.connection import MeasureError, secrets_in, translated
from migspec.names import QualifiedName, quote_ident

#: Sample size per table: 100 MB at 8 kB pages - large enough that per-statement overheads are
#: small against the work, small enough for a minute on a slow disk.
DEFAULT_SAMPLE_PAGES = 12_800
BATCH_ROWS = 10_000
KEY = "migspec_id"
FILL = "migspec_fill"
REF = "migspec_ref"
#: Connections the loaded pass writes from (a single connection's commits would cap the rate).
WRITER_THREADS = 8
#: Timings of each read-only kind (the two VALIDATEs), the median kept: one VALIDATE of the sample
#: is ~0.1 s, and single ones on the benchmark machine of 2026-12-01 put the CHECK's rate against
#: the copy's own probe 1.8x apart between two calibrations (0.72 and 1.32 - the machine ran in two
#: speeds, 55-65 and 90-105 ns per probed row, switching within seconds), the largest error left
#: in BENCHMARKS.md section 4. Writing kinds run once: each changes the sample the next one meets.
READ_TIMINGS = 3
#: Kinds the estimator sizes by bytes (a scan reads pages), the others by rows.
BYTE_KINDS = ("scan", "validate_fk", "rewrite")


def _timed(conn: psycopg.Connection, sql: str) -> float:
    t0 = time.perf_counter()
    conn.execute(sql)  # type: ignore[arg-type]
    return time.perf_counter() - t0


def _validations(conn: psycopg.Connection, target: str, name: str, add: str) -> float:
    """The median of READ_TIMINGS timings of VALIDATE CONSTRAINT ``name``, the constraint added NOT
    VALID by ``add`` (the part after ``ALTER TABLE target``) before each: a validated constraint's
    VALIDATE does nothing. The constraint is left validated, as one timing left it."""
    times = []
    for i in range(READ_TIMINGS):
        if i:
            conn.execute(f"ALTER TABLE {target} DROP CONSTRAINT {name}")  # type: ignore[arg-type]
        conn.execute(f"ALTER TABLE {target} {add}")  # type: ignore[arg-type]
        times.append(_timed(conn, f"ALTER TABLE {target} VALIDATE CONSTRAINT {name}"))
    return sorted(times)[len(times) // 2]


def _sample(conn: psycopg.Connection, table: QualifiedName, target: str, pages: int) -> tuple[int, int, str]:
    """Copy the sample; (rows, bytes, the column to index: the first text column, else the first)."""
    row = conn.execute("SELECT pg_relation_size(%s::regclass) / current_setting('block_size')::int8",
                       (table.sql,)).fetchone()
    relpages = int(row[0]) if row else 0
    percent = 100.0 if relpages <= pages else 100.0 * pages / relpages
    conn.execute(f"CREATE TABLE {target} AS SELECT * FROM {table.sql} TABLESAMPLE SYSTEM ({percent:.6f}) "  # type: ignore[arg-type]
                 "REPEATABLE (17)")
    first = conn.execute("SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 "
                         "AND NOT attisdropped ORDER BY atttypid NOT IN ('text'::regtype, 'varchar'::regtype), attnum "
                         "LIMIT 1", (target,)).fetchone()
    conn.execute(f"ALTER TABLE {target} ADD COLUMN {KEY} bigserial PRIMARY KEY")  # type: ignore[arg-type]
    conn.execute(f"VACUUM (ANALYZE) {target}")  # type: ignore[arg-type]
    n = int(conn.execute(f"SELECT count(*) FROM {target}").fetchone()[0])  # type: ignore[arg-type,index]
    size = int(conn.execute("SELECT pg_table_size(%s::regclass)", (target,)).fetchone()[0])  # type: ignore[index]
    return n, size, str(first[0]) if first else KEY


def _batched_update(conn: psycopg.Connection, target: str, progress: str, batch: int, *, first: int = 0,
                    stop: int | None = None) -> tuple[int, int, float]:
    """Keyset batches of ``batch`` rows over keys ``first`` < k <= ``stop``, each batch with a
    checkpoint row in one transaction, as the runner does them: (rows, batches, seconds)."""
    t0, last, rows, batches = time.perf_counter(), first, 0, 0
    bound = "" if stop is None else f" AND {KEY} <= {int(stop)}"
    while True:
        with conn.transaction():
            row = conn.execute(f"SELECT max({KEY}), count(*) FROM (SELECT {KEY} FROM {target} WHERE {KEY} > %s{bound} "  # type: ignore[arg-type]
                               f"ORDER BY {KEY} LIMIT %s) s", (last, batch)).fetchone()
            if row is None or row[0] is None:
                break
            conn.execute(f"UPDATE {target} SET {FILL} = 1 WHERE {KEY} > %s AND {KEY} <= %s",  # type: ignore[arg-type]
                         (last, int(row[0])))
            conn.execute(f"UPDATE {progress} SET cursor = %s", (int(row[0]),))  # type: ignore[arg-type]
        last, rows, batches = int(row[0]), rows + int(row[1]), batches + 1
    return rows, batches, time.perf_counter() - t0


def batch_costs(big: tuple[int, int, float], small: tuple[int, int, float]) -> tuple[float, float]:
    """(seconds per row, seconds per batch) from two runs of batches of different sizes, each
    (rows, batches, seconds): ``seconds = batches * per_batch + rows * per_row``, solved; a per-batch
    cost the noise makes negative is taken as 0."""
    (r1, b1, t1), (r2, b2, t2) = big, small
    det = r1 * b2 - r2 * b1
    per_batch = (r1 * t2 - r2 * t1) / det if det else 0.0
    if per_batch <= 0:
        return (t1 + t2) / max(r1 + r2, 1), 0.0
    per_row = (t1 - b1 * per_batch) / max(r1, 1)
    if per_row <= 0:
        return (t1 + t2) / max(r1 + r2, 1), 0.0
    return per_row, per_batch


class Writers:
    """Single-row UPDATEs of random rows of the sample at ``qps`` in total, from WRITER_THREADS
    connections, while a kind of work is timed: the load's effect on it, measured (issue 17). The
    timing starts once every writer has connected: a short pass timed while they were still
    connecting measured an idle server and recorded no write load (a flaky test showed it)."""

    def __init__(self, dsn: str, target: str, rows: int, qps: float) -> None:
        self.dsn, self.target, self.rows, self.qps = dsn, target, rows, qps
        self.stopping = threading.Event()
        self.ready = threading.Semaphore(0)  # released once per writer: connected, or failed to
        self.go = threading.Event()  # set when the timing starts
        self.count = threading.Lock()
        self.threads = [threading.Thread(target=self._write, args=(i,), daemon=True) for i in range(WRITER_THREADS)]
        self.done, self.started, self.qps_done = 0, 0.0, 0.0

    def _write(self, seed: int) -> None:
        rnd = random.Random(seed)
        every = WRITER_THREADS / self.qps
        try:
            conn = connect(self.dsn, application_name="migspec calibrate writer")
            conn.execute("SET lock_timeout = '30s'")
        except BaseException:
            self.ready.release()
            raise
        with conn:
            self.ready.release()
            self.go.wait(60)
            # Spread over the interval, not all at once: a burst of WRITER_THREADS writes at the start
            # of a short pass made the rate reached up to 1.7x the one asked for.
            due = time.monotonic() + every * (seed + 1) / WRITER_THREADS
            self.stopping.wait(max(0.0, due - time.monotonic()))  # wait, not sleep: __exit__ stops it at once
            while not self.stopping.is_set():
                key = rnd.randint(1, max(self.rows, 1))
                try:
                    conn.execute(f"UPDATE {self.target} SET {KEY} = {KEY} WHERE {KEY} = %s", (key,))  # type: ignore[arg-type]
                    with self.count:
                        self.done += 1
                except psycopg.errors.LockNotAvailable:
                    pass
                due += every
                self.stopping.wait(max(0.0, due - time.monotonic()))

    def __enter__(self) -> Writers:
        for t in self.threads:
            t.start()
        for _ in self.threads:
            self.ready.acquire(timeout=60)
        self.started = time.perf_counter()
        self.go.set()
        return self

    def __exit__(self, *exc: object) -> None:
        elapsed = time.perf_counter() - self.started
        self.stopping.set()
        for t in self.threads:
            t.join(60)
        self.qps_done = self.done / max(elapsed, 1e-6)


def indexed_foreign_key(conn: psycopg.Connection, target: str, ref: str) -> str:
    """Prepare ``target`` for a FOREIGN KEY from every row to a 1,000-row parent ``ref`` (created), as
    the plan leaves one before validating it; the clause that adds it NOT VALID (``ALTER TABLE
    target`` + it), whose VALIDATE is timed.

    The plan indexes the referencing column first when no index covers it, and PostgreSQL's check
    (an anti-join of the table against the parent) may then read that index alone where the
    visibility map says so, as autovacuum keeps it on a production table. Measured on PG15, 1M
    rows, one server: 136 ms for this setup and for the benchmark's planned FOREIGN KEY alike (the
    same plan: a parallel index-only scan of the referencing column), 220-320 ms for the unindexed
    constant-DEFAULT column this replaced; BENCHMARKS.md section 4 had put calibrate's FOREIGN KEY
    rate 1.6-2x slower than the steps it estimated. The column is stored (one rewrite of the
    sample, no dead rows): a constant DEFAULT is never written to the rows, and an index needs values.
    """
    conn.execute(f"CREATE TABLE IF NOT EXISTS {ref} (id integer PRIMARY KEY)")  # type: ignore[arg-type]
    conn.execute(f"INSERT INTO {ref} SELECT g FROM generate_series(1, 1000) g ON CONFLICT DO NOTHING")  # type: ignore[arg-type]
    conn.execute(f"ALTER TABLE {target} ADD COLUMN {REF} integer GENERATED ALWAYS AS ({KEY} % 1000 + 1) STORED")  # type: ignore[arg-type]
    conn.execute(f"CREATE INDEX ON {target} ({REF})")  # type: ignore[arg-type]
    conn.execute(f"VACUUM (ANALYZE) {target}")  # type: ignore[arg-type]
    conn.execute(f"ANALYZE {ref}")  # type: ignore[arg-type]  # the check's plan depends on the parent's size
    return f"ADD CONSTRAINT migspec_calibrate_fk FOREIGN KEY ({REF}) REFERENCES {ref} (id) NOT VALID"


def _kinds(conn: psycopg.Connection, target: str, schema: str, rows: int, column: str) -> dict[str, tuple[float, ...]]:
    """Each kind's timing on the sample, in the order the module docstring gives: kind ->
    (seconds,) or, for batched_update, (seconds of 10,000-row batches, per row, per batch)."""
    q_schema = quote_ident(schema)
    out: dict[str, tuple[float, ...]] = {"scan": (_validations(
        conn, target, "migspec_calibrate_check", f"ADD CONSTRAINT migspec_calibrate_check CHECK ({KEY} IS NOT NULL) NOT VALID"),)}
    ref = f"{q_schema}.{quote_ident('ref_' + target.rsplit('.', 1)[1].strip(chr(34)))}"
    out["validate_fk"] = (_validations(conn, target, "migspec_calibrate_fk", indexed_foreign_key(conn, target, ref)),)
    conn.execute(f"ALTER TABLE {target} DROP COLUMN {REF}")  # type: ignore[arg-type]
    conn.execute(f"ALTER TABLE {target} ADD COLUMN {FILL} integer")  # type: ignore[arg-type]
    out["rewrite"] = (_timed(conn, f"ALTER TABLE {target} ALTER COLUMN {FILL} TYPE bigint"),)
    progress = f"{q_schema}.{quote_ident('progress_' + target.rsplit('.', 1)[1].strip(chr(34)))}"
    conn.execute(f"CREATE TABLE {progress} (cursor bigint)")  # type: ignore[arg-type]
    conn.execute(f"INSERT INTO {progress} VALUES (0)")  # type: ignore[arg-type]
    # Half the keys in 10,000-row batches, the other half in 1,000-row ones: per-row and per-batch
    # cost apart, so the estimate can replay the runner shrinking its batches under slow commits.
    half = rows // 2
    big = _batched_update(conn, target, progress, BATCH_ROWS, stop=half)
    small = _batched_update(conn, target, progress, BATCH_ROWS // 10, first=half)
    per_row, per_batch = batch_costs(big, small)
    out["batched_update"] = (big[2], per_row, per_batch, float(big[0]))
    conn.execute(f"VACUUM {target}")  # type: ignore[arg-type]
    out["index_build_concurrent"] = (_timed(conn, f"CREATE INDEX CONCURRENTLY ON {target} ({quote_ident(column)})"),)
    return out


def calibrate_table(conn: psycopg.Connection, table: QualifiedName, schema: str, index: int, pages: int, *,
                    dsn: str = "", write_qps: float = 0.0,
                    probe: Callable[[float], None] = lambda _s: None) -> dict[str, dict[str, float]]:
    """kind -> {rows, bytes, seconds[, per_row_s, per_batch_s][, loaded_seconds]} measured on a
    sample of ``table``; with ``write_qps``, each kind again on a second copy of the sample under
    that many single-row UPDATEs/s (loaded_seconds)."""
    target = f"{quote_ident(schema)}.{quote_ident(f'sample_{index}')}"
    rows, size, column = _sample(conn, table, target, pages)
    if rows == 0:
        return {}
    loaded_target = f"{quote_ident(schema)}.{quote_ident(f'loaded_{index}')}"
    if write_qps > 0:  # copied before anything writes the first sample: the same rows, the same pages
        conn.execute(f"CREATE TABLE {loaded_target} (LIKE {target} INCLUDING ALL)")  # type: ignore[arg-type]
        conn.execute(f"INSERT INTO {loaded_target} SELECT * FROM {target}")  # type: ignore[arg-type]
        conn.execute(f"VACUUM (ANALYZE) {loaded_target}")  # type: ignore[arg-type]
    row_s = _probe_row_seconds(conn, schema, f"sample_{index}")
    if row_s:
        probe(row_s)
    idle = _kinds(conn, target, schema, rows, column)
    out = {kind: {"rows": float(t[3] if len(t) > 3 else rows), "bytes": float(size), "seconds": t[0]}
           for kind, t in idle.items()}
    per_row, per_batch = idle["batched_update"][1:3]
    out["batched_update"].update(per_row_s=per_row, per_batch_s=per_batch)
    if write_qps > 0:
        with Writers(dsn, loaded_target, rows, write_qps) as writers:
            loaded = _kinds(conn, loaded_target, schema, rows, column)
        for kind, t in loaded.items():
            # The rate the writers reached (slow commits can hold them below the one asked for).
            out[kind].update(loaded_seconds=t[0], loaded_qps=writers.qps_done)
    return out


def _probe_row_seconds(conn: psycopg.Connection, schema: str, name: str) -> float | None:
    """The ``measure --probe`` warm pass on the sample: this copy's speed on the probe's yardstick,
    so production's probe can carry the rates over to production (migspec.estimate.speed)."""
    from migspec.measure.collect import resolve_tables
    from migspec.measure.probes import DEFAULT_PROBE_PAGES, probe_table

    major = int(conn.execute("SELECT current_setting('server_version_num')::int / 10000").fetchone()[0])  # type: ignore[index]
    got = probe_table(conn, resolve_tables(conn, [QualifiedName(schema, name)])[0], pages=DEFAULT_PROBE_PAGES,
                      major=major)
    return None if isinstance(got, str) else got.warm_seconds / got.rows


def calibrate(dsn: str, tables: Sequence[QualifiedName], *, pages: int = DEFAULT_SAMPLE_PAGES, write_qps: float = 0.0,
              log: Callable[[str], None] = lambda _m: None) -> tuple[dict[str, dict[str, float]], str]:
    """Rates per kind over every table's sample (total rows / total seconds) - with ``write_qps``,
    each kind's ``loaded_factor`` (its time under that many writes/s over its time idle) - and
    ``probe`` (the probe's seconds per row on the sample, and the calibration's write rate); and
    where they were measured (host, server version, time) for the file's header."""
    if not 1 <= pages <= 10_000_000:
        raise MeasureError("--calibrate-pages must be between 1 and 10000000")
    if write_qps < 0 or write_qps > 100_000:
        raise MeasureError("--calibrate-writes must be between 0 and 100000")
    params = describe_dsn(dsn)
    hidden = secrets_in(dsn)
    schema = f"migspec_calibrate_{secrets.token_hex(4)}"
    totals: dict[str, dict[str, float]] = {}
    probes: list[float] = []
    reached: list[float] = []
    with translated(hidden, "calibrating on a sample (creates a scratch schema, then drops it)",
                    privilege="CREATE on the database (calibrate runs on a throwaway copy, never on production)"):
        with connect(dsn, application_name="migspec calibrate") as conn:
            if conn.execute("SELECT pg_is_in_recovery()").fetchone()[0]:  # type: ignore[index]
                raise RefusedError("measure --calibrate writes (a sample table it then drops): this server is a "
                                   "standby, which cannot; run it on a throwaway copy of production")
            version = conn.execute("SHOW server_version").fetchone()[0]  # type: ignore[index]
            conn.execute(f"CREATE SCHEMA {quote_ident(schema)}")  # type: ignore[arg-type]
            try:
                for i, table in enumerate(tables):
                    log(f"calibrate: a sample of up to {pages:,} pages of {table}"
                        + (f", idle and under {write_qps:,.0f} writes/s" if write_qps else ""))
                    for kind, m in calibrate_table(conn, table, schema, i, pages, dsn=dsn, write_qps=write_qps,
                                                   probe=probes.append).items():
                        acc = totals.setdefault(kind, {})
                        for field, value in m.items():
                            if field == "loaded_qps":
                                reached.append(value)
                                continue
                            acc[field] = acc.get(field, 0.0) + (value * m["rows"] if field.startswith("per_")
                                                                else max(value, 1e-6))
            finally:
                conn.execute(f"DROP SCHEMA IF EXISTS {quote_ident(schema)} CASCADE")  # type: ignore[arg-type]
    rates: dict[str, dict[str, float]] = {}
    for kind, t in totals.items():
        rate = {"rows_per_s": t["rows"] / t["seconds"]}
        if kind in BYTE_KINDS:
            rate["bytes_per_s"] = t["bytes"] / t["seconds"]
        if "per_batch_s" in t:  # weighted by rows over the tables
            rate["batch_s"] = t["per_batch_s"] / t["rows"]
        if "loaded_seconds" in t:
            rate["loaded_factor"] = t["loaded_seconds"] / t["seconds"]
        rates[kind] = rate
    if probes:
        rates["probe"] = {"row_seconds": sorted(probes)[len(probes) // 2],
                          "write_qps": round(min(reached), 1) if reached else 0.0}
    host = params.get("host") or params.get("hostaddr") or "the default server"
    at = dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    return rates, f"PostgreSQL {version} on {host}/{params.get('dbname', '')} at {at}"

"""``migspec measure --calibrate FILE``: time the heavy kinds of work on a sample of each table, on
a throwaway copy of production (a restored backup, a promoted replica's clone) - never on
production itself, since it writes.

For each measured table, a sample of at most ``pages`` pages (``TABLESAMPLE SYSTEM ...
REPEATABLE``) is copied into a table of a scratch schema (``migspec_calibrate_<random>``, dropped
at the end, also on failure) and timed, as the plan's steps run them:

* ``scan``: VALIDATE CONSTRAINT of a CHECK added NOT VALID;
* ``rewrite``: ALTER COLUMN ... TYPE of a new, empty column (rewrites the table and its one index);
* ``batched_update``: keyset batches of 10,000 rows setting that column, one transaction each;
* ``index_build_concurrent``: CREATE INDEX CONCURRENTLY, after a VACUUM, on the first text column
  (the slower kind to sort: 1.5M against 2.4M rows/s for an int on the reference machine), else
  the first column.

In that order, so each kind meets the table as a long-lived one would be: the rewrite runs before
the update leaves a dead version of every row (measured: calibrating the rewrite after the update
made it 2.4-3.3x slower than a VACUUM FULL of the same table).

The rates (rows/s, and bytes/s where the estimator uses bytes) are written in the calibration
file format ``verify --calibration`` writes (:func:`migspec.estimate.throughput.calibration_text`),
for ``lint``/``plan --calibration``. The sample is the table's own rows on the copy's hardware, so
its rates are taken as they are (not rescaled by a probe).
"""

from __future__ import annotations

import datetime as dt
import secrets
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


def _timed(conn: psycopg.Connection, sql: str) -> float:
    t0 = time.perf_counter()
    conn.execute(sql)  # type: ignore[arg-type]
    return time.perf_counter() - t0


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


def _batched_update(conn: psycopg.Connection, target: str, rows: int) -> float:
    t0, last = time.perf_counter(), 0
    while True:
        row = conn.execute(f"SELECT max({KEY}) FROM (SELECT {KEY} FROM {target} WHERE {KEY} > %s "  # type: ignore[arg-type]
                           f"ORDER BY {KEY} LIMIT %s) s", (last, BATCH_ROWS)).fetchone()
        if row is None or row[0] is None:
            break
        conn.execute(f"UPDATE {target} SET {FILL} = 1 WHERE {KEY} > %s AND {KEY} <= %s",  # type: ignore[arg-type]
                     (last, int(row[0])))
        last = int(row[0])
    return time.perf_counter() - t0


def calibrate_table(conn: psycopg.Connection, table: QualifiedName, schema: str, index: int,
                    pages: int) -> dict[str, tuple[int, int, float]]:
    """kind -> (rows, bytes, seconds) measured on a sample of ``table``."""
    target = f"{quote_ident(schema)}.{quote_ident(f'sample_{index}')}"
    rows, size, column = _sample(conn, table, target, pages)
    if rows == 0:
        return {}
    conn.execute(f"ALTER TABLE {target} ADD CONSTRAINT migspec_calibrate_check CHECK ({KEY} IS NOT NULL) NOT VALID")  # type: ignore[arg-type]
    out = {"scan": (rows, size, _timed(conn, f"ALTER TABLE {target} VALIDATE CONSTRAINT migspec_calibrate_check"))}
    conn.execute(f"ALTER TABLE {target} ADD COLUMN {FILL} integer")  # type: ignore[arg-type]
    out["rewrite"] = (rows, size, _timed(conn, f"ALTER TABLE {target} ALTER COLUMN {FILL} TYPE bigint"))
    out["batched_update"] = (rows, size, _batched_update(conn, target, rows))
    conn.execute(f"VACUUM {target}")  # type: ignore[arg-type]
    out["index_build_concurrent"] = (rows, size, _timed(
        conn, f"CREATE INDEX CONCURRENTLY ON {target} ({quote_ident(column)})"))
    return out


def calibrate(dsn: str, tables: Sequence[QualifiedName], *, pages: int = DEFAULT_SAMPLE_PAGES,
              log: Callable[[str], None] = lambda _m: None) -> tuple[dict[str, dict[str, float]], str]:
    """Rates per kind over every table's sample (total rows / total seconds), and where they were
    measured (host, server version, time) for the file's header."""
    if not 1 <= pages <= 10_000_000:
        raise MeasureError("--calibrate-pages must be between 1 and 10000000")
    params = describe_dsn(dsn)
    hidden = secrets_in(dsn)
    schema = f"migspec_calibrate_{secrets.token_hex(4)}"
    totals: dict[str, list[float]] = {}
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
                    log(f"calibrate: a sample of up to {pages:,} pages of {table}")
                    for kind, (rows, size, seconds) in calibrate_table(conn, table, schema, i, pages).items():
                        acc = totals.setdefault(kind, [0.0, 0.0, 0.0])
                        acc[0] += rows
                        acc[1] += size
                        acc[2] += max(seconds, 1e-6)
            finally:
                conn.execute(f"DROP SCHEMA IF EXISTS {quote_ident(schema)} CASCADE")  # type: ignore[arg-type]
    rates = {kind: {"rows_per_s": rows / seconds, **({"bytes_per_s": size / seconds} if kind in ("scan", "rewrite")
                                                     else {})}
             for kind, (rows, size, seconds) in totals.items()}
    host = params.get("host") or params.get("hostaddr") or "the default server"
    at = dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    return rates, f"PostgreSQL {version} on {host}/{params.get('dbname', '')} at {at}"

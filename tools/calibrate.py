#!/usr/bin/env python3
"""Measure how fast PostgreSQL does the heavy parts of common migrations, on a real server.

Why: migspec's duration estimates are table size divided by a throughput.  Those throughputs
must come from measurement, not from folklore, and this tool is the measurement: it builds a
table of ``--rows`` rows (about 80 bytes each) on a throwaway server and times, on a fresh copy
of the table each time,

* ``rewrite``                   ALTER TABLE ... ALTER COLUMN a TYPE bigint (rewrite + PK rebuild)
* ``validate_check``            VALIDATE CONSTRAINT of a CHECK (a IS NOT NULL) added NOT VALID
* ``set_not_null``              ALTER COLUMN a SET NOT NULL (full scan, no helping CHECK)
* ``create_index``              CREATE INDEX ON bench (a)                (int column)
* ``create_index_b``            CREATE INDEX ON bench (b)                (text, to compare with CIC)
* ``create_index_concurrently`` CREATE INDEX CONCURRENTLY ON bench (b)   (text column)
* ``batched_update``            keyset-batched UPDATE of every row, ``--batch-size`` rows per
                                transaction, no sleep between batches
* ``single_update``             one UPDATE of every row

and prints one JSON object: ``results`` maps each kind to ``rows_per_s``, ``bytes_per_s`` (table
bytes from ``pg_table_size`` before the operation, divided by seconds) and ``seconds``.

The default server runs with fsync off (``--durable`` turns durability back on), the cluster
lives in /tmp (a disk here, not tmpfs) and the database is the C locale, which makes text
comparisons, so the text index builds, faster than under a linguistic collation.  Treat the
figures as upper bounds for an idle server with the table in cache.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))

import psycopg  # noqa: E402

from migspec.pgserver import ServerError, start_server  # noqa: E402

Conn = psycopg.Connection

# Autovacuum is off for the table so a worker starting mid-measurement does not add noise;
# the fill is followed by VACUUM (ANALYZE), as a long-lived production table would have had.
CREATE = """
CREATE TABLE bench (id bigint PRIMARY KEY, a int, b text, c timestamptz)
WITH (autovacuum_enabled = off)
"""
# md5 gives 32 characters of text: 24-byte tuple header + 8 + 4 + 33 + 8 (+ padding) plus a
# 4-byte line pointer is about 80-85 bytes a row, a typical narrow OLTP row.
FILL = """
INSERT INTO bench
SELECT g, (random() * 2000000000)::int, md5(random()::text),
       timestamptz '2024-01-01' + random() * interval '365 days'
FROM generate_series(1, %s) AS g
"""

SETTINGS = (
    "server_version", "shared_buffers", "maintenance_work_mem", "work_mem",
    "max_parallel_maintenance_workers", "max_wal_size", "fsync", "synchronous_commit",
    "full_page_writes", "lc_collate",
)


def _relfilenode(conn: Conn) -> int:
    row = conn.execute("SELECT relfilenode FROM pg_class WHERE relname = 'bench'").fetchone()
    assert row is not None
    return int(row[0])


def _timed(conn: Conn, statements: list[str]) -> float:
    start = time.perf_counter()
    for stmt in statements:
        conn.execute(stmt)
    return time.perf_counter() - start


def op_rewrite(conn: Conn, rows: int, batch: int) -> tuple[float, dict[str, object]]:
    before = _relfilenode(conn)
    seconds = _timed(conn, ["ALTER TABLE bench ALTER COLUMN a TYPE bigint"])
    return seconds, {"rewrote": _relfilenode(conn) != before}


def op_validate_check(conn: Conn, rows: int, batch: int) -> tuple[float, dict[str, object]]:
    conn.execute("ALTER TABLE bench ADD CONSTRAINT bench_a_nn CHECK (a IS NOT NULL) NOT VALID")
    return _timed(conn, ["ALTER TABLE bench VALIDATE CONSTRAINT bench_a_nn"]), {}


def op_set_not_null(conn: Conn, rows: int, batch: int) -> tuple[float, dict[str, object]]:
    return _timed(conn, ["ALTER TABLE bench ALTER COLUMN a SET NOT NULL"]), {}


def op_create_index(conn: Conn, rows: int, batch: int) -> tuple[float, dict[str, object]]:
    return _timed(conn, ["CREATE INDEX bench_a_idx ON bench (a)"]), {}


def op_create_index_b(conn: Conn, rows: int, batch: int) -> tuple[float, dict[str, object]]:
    return _timed(conn, ["CREATE INDEX bench_b_idx ON bench (b)"]), {}


def op_create_index_concurrently(
    conn: Conn, rows: int, batch: int
) -> tuple[float, dict[str, object]]:
    seconds = _timed(conn, ["CREATE INDEX CONCURRENTLY bench_b_cidx ON bench (b)"])
    row = conn.execute(
        "SELECT indisvalid FROM pg_index WHERE indexrelid = 'bench_b_cidx'::regclass"
    ).fetchone()
    return seconds, {"valid": bool(row and row[0])}


def op_batched_update(conn: Conn, rows: int, batch: int) -> tuple[float, dict[str, object]]:
    """Keyset batches on the primary key (never OFFSET), each in its own transaction."""
    batches = 0
    updated = 0
    last = 0
    start = time.perf_counter()
    while True:
        row = conn.execute(
            "SELECT max(id) FROM (SELECT id FROM bench WHERE id > %s ORDER BY id LIMIT %s) s",
            (last, batch),
        ).fetchone()
        if row is None or row[0] is None:
            break
        upper = int(row[0])
        cur = conn.execute(
            "UPDATE bench SET a = a + 1 WHERE id > %s AND id <= %s", (last, upper)
        )
        updated += cur.rowcount
        batches += 1
        last = upper
    seconds = time.perf_counter() - start
    return seconds, {"batches": batches, "batch_size": batch, "updated": updated}


def op_single_update(conn: Conn, rows: int, batch: int) -> tuple[float, dict[str, object]]:
    return _timed(conn, ["UPDATE bench SET a = a + 1"]), {}


Operation = Callable[[Conn, int, int], tuple[float, dict[str, object]]]

KINDS: dict[str, Operation] = {
    "rewrite": op_rewrite,
    "validate_check": op_validate_check,
    "set_not_null": op_set_not_null,
    "create_index": op_create_index,
    "create_index_b": op_create_index_b,
    "create_index_concurrently": op_create_index_concurrently,
    "batched_update": op_batched_update,
    "single_update": op_single_update,
}


def fresh_table(conn: Conn, rows: int) -> int:
    """(Re)build the bench table with ``rows`` rows; return its pg_table_size in bytes."""
    conn.execute("DROP TABLE IF EXISTS bench")
    conn.execute(CREATE)
    conn.execute("SELECT setseed(0.42)")  # same data on every run
    conn.execute(FILL, (rows,))
    conn.execute("VACUUM (ANALYZE) bench")
    conn.execute("CHECKPOINT")
    row = conn.execute("SELECT pg_table_size('bench')").fetchone()
    assert row is not None
    return int(row[0])


def calibrate(dsn: str, *, rows: int, batch: int, kinds: list[str]) -> dict[str, object]:
    """Run every kind in ``kinds`` on a fresh table and return the JSON-ready report."""
    results: dict[str, dict[str, object]] = {}
    with psycopg.connect(dsn, autocommit=True) as conn:
        settings = {
            name: conn.execute("SELECT current_setting(%s)", (name,)).fetchone()[0]  # type: ignore[index]
            for name in SETTINGS
        }
        row = conn.execute("SELECT current_setting('server_version_num')::int").fetchone()
        assert row is not None
        version_num = int(row[0])
        table_bytes = 0
        for kind in kinds:
            print(f"calibrate: {kind}: filling {rows} rows", file=sys.stderr, flush=True)
            table_bytes = fresh_table(conn, rows)
            seconds, extra = KINDS[kind](conn, rows, batch)
            results[kind] = {
                "rows_per_s": round(rows / seconds),
                "bytes_per_s": round(table_bytes / seconds),
                "seconds": round(seconds, 3),
                **extra,
            }
            print(f"calibrate: {kind}: {seconds:.2f} s", file=sys.stderr, flush=True)
        conn.execute("DROP TABLE IF EXISTS bench")
    return {
        "pg_version": settings["server_version"],
        "server_version_num": version_num,
        "rows": rows,
        "table_bytes": table_bytes,
        "bytes_per_row": round(table_bytes / rows, 1) if rows else None,
        "settings": settings,
        "results": results,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows in the table")
    parser.add_argument("--batch-size", type=int, default=10_000, help="rows per UPDATE batch")
    parser.add_argument("--dsn", help="use this server instead of a throwaway one (creates and "
                        "drops a table named bench in it)")
    parser.add_argument("--durable", action="store_true",
                        help="throwaway server with fsync/synchronous_commit/full_page_writes on")
    parser.add_argument("--kind", action="append", choices=sorted(KINDS),
                        help="measure only this kind (repeatable); default all")
    args = parser.parse_args(argv)
    if args.rows < 1 or args.batch_size < 1:
        parser.error("--rows and --batch-size must be positive")
    kinds = args.kind or list(KINDS)

    try:
        if args.dsn:
            report = calibrate(args.dsn, rows=args.rows, batch=args.batch_size, kinds=kinds)
        else:
            with start_server(fast=not args.durable) as server:
                report = calibrate(server.dsn, rows=args.rows, batch=args.batch_size, kinds=kinds)
    except (ServerError, psycopg.Error) as exc:
        print(f"calibrate: {exc}", file=sys.stderr)
        return 2
    report["fast_mode"] = not args.durable and not args.dsn
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

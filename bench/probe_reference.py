#!/usr/bin/env python3
"""The reference figures of migspec.estimate.speed, measured on this machine.

* REFERENCE_ROW_SECONDS: the ``measure --probe`` warm passes (every page in shared_buffers, repeated
  for half a second), seconds per row, on a durable PostgreSQL with the calibration table of
  tools/calibrate.py (1M rows of ~85 bytes): the fastest of ``--runs`` probes.
* DEFAULT_READ_BPS: a full sequential scan of that table with nothing cached - PostgreSQL
  restarted (empties shared_buffers) and ``echo 3 > /proc/sys/vm/drop_caches`` (empties the OS
  page cache; needs root) - minus the same scan warm: bytes per extra second. Also what the probe's
  own first pass says after the same cold start, to compare the two.

Prints one JSON object. Run as root on an otherwise idle machine: ``python bench/probe_reference.py``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "tools"))

import psycopg  # noqa: E402

from calibrate import fresh_table  # noqa: E402
from migspec.measure.collect import resolve_tables  # noqa: E402
from migspec.measure.probes import probe, timed_scan  # noqa: E402
from migspec.names import QualifiedName  # noqa: E402
from migspec.pgserver import Server, start_server  # noqa: E402


def drop_os_cache() -> bool:
    """Empty the OS page cache (root only); False when the kernel refuses."""
    subprocess.run(["sync"], check=False)
    try:
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
        return True
    except OSError:
        return False


def restart(server: Server) -> None:
    """pg_ctl restart, as pgserver runs pg_ctl (through runuser when we are root)."""
    from migspec.pgserver import _run_pg

    done = _run_pg([str(server.bindir / "pg_ctl"), "restart", "-D", str(server.datadir), "-m", "fast", "-w",
                    "-l", str(server.logfile)], cwd=server.basedir)
    if done.returncode != 0:
        raise RuntimeError(f"pg_ctl restart failed: {done.stdout}{done.stderr}")


def cold_start(server: Server) -> bool:
    restart(server)
    return drop_os_cache()


def full_scan(dsn: str) -> float:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return timed_scan(conn, "SELECT count(*) FROM bench")[0]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    with start_server(fast=False) as server:
        with psycopg.connect(server.dsn, autocommit=True) as conn:
            size = fresh_table(conn, args.rows)
        bench = [QualifiedName("public", "bench")]
        with psycopg.connect(server.dsn, autocommit=True) as conn:
            rel = resolve_tables(conn, bench)
            warm = [probe(conn, rel).tables[bench[0]] for _ in range(args.runs)]
        row_s = min(p.warm_seconds / p.rows for p in warm)
        warm_full = min(full_scan(server.dsn) for _ in range(3))
        cold_full, cold_probe, dropped = [], [], True
        for _ in range(3):
            dropped &= cold_start(server)
            cold_full.append(full_scan(server.dsn))
            dropped &= cold_start(server)
            with psycopg.connect(server.dsn, autocommit=True) as conn:
                p = probe(conn, resolve_tables(conn, bench)).tables[bench[0]]
            cold_probe.append(p.pages_read * 8192 / max(p.first_seconds - p.warm_seconds, 1e-9))
        cold = sorted(cold_full)[len(cold_full) // 2]
        out = {
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "load_average": Path("/proc/loadavg").read_text().split()[:3],
            "server_version": server.version_num, "rows": args.rows, "table_bytes": size,
            "probe_rows": warm[0].rows, "probe_pages": warm[0].pages, "method": warm[0].method,
            "reference_row_seconds": row_s, "warm_probe_row_seconds": [p.warm_seconds / p.rows for p in warm],
            "warm_full_scan_s": warm_full, "cold_full_scan_s": cold_full, "os_cache_dropped": dropped,
            "cold_read_bps_full_scan": size / max(cold - warm_full, 1e-9),
            "cold_read_bps_probe": cold_probe,
        }
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

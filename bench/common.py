"""Shared pieces of the benchmarks: timing, statistics, the machine, the server, the test table and
the pgbench writers whose per-transaction latencies measure the stall a migration causes."""

from __future__ import annotations

import os
import platform
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO / "src"))

import psycopg  # noqa: E402

from migspec.pgserver import Server, start_server  # noqa: E402

MIGSPEC = str(REPO / ".venv" / "bin" / "migspec")
PYTHON = str(REPO / ".venv" / "bin" / "python")
SQUAWK = str(BENCH / ".venv" / "bin" / "squawk")


def log(msg: str) -> None:
    sys.stderr.write(f"{time.strftime('%H:%M:%S')} bench: {msg}\n")
    sys.stderr.flush()


def median(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def percentile(xs: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100); NaN for no data."""
    if not xs:
        return float("nan")
    import math

    s = sorted(xs)
    return s[max(0, min(len(s) - 1, math.ceil(p / 100 * len(s)) - 1))]


def run_env(pyc: bool = True) -> dict[str, str]:
    """The environment of a measured command.  An installed package has its .pyc files; this
    workplace sets PYTHONDONTWRITEBYTECODE=1, which would make every run compile migspec's sources
    again.  So bytecode is allowed, and kept under bench/work/pycache (not in src/)."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(BENCH / "work" / "pycache")
    if not pyc:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env["PYTHONPYCACHEPREFIX"] = str(BENCH / "work" / "no-pycache")  # empty: nothing cached to read
    return env


def wall(argv: list[str], *, cwd: Path | None = None, stdout=subprocess.DEVNULL,
         env: dict[str, str] | None = None) -> tuple[float, int]:
    """Whole-process wall time of one run (start to exit), and its exit code."""
    env = env or run_env()
    t0 = time.perf_counter()
    rc = subprocess.run(argv, cwd=cwd, stdout=stdout, stderr=subprocess.DEVNULL, check=False, env=env).returncode
    return time.perf_counter() - t0, rc


def timed_runs(argv: list[str], runs: int, *, cwd: Path | None = None,
               env: dict[str, str] | None = None) -> tuple[list[float], int]:
    """``runs`` timed runs after one untimed warm-up (page cache, .pyc files)."""
    wall(argv, cwd=cwd, env=env)
    times, rc = [], 0
    for _ in range(runs):
        t, rc = wall(argv, cwd=cwd, env=env)
        times.append(t)
    return times, rc


# --- the machine --------------------------------------------------------------------------------

def machine(server: Server | None) -> dict[str, str]:
    mem_kb = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    except OSError:
        pass
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info = {
        "loadavg": " / ".join(f"{x:.2f}" for x in os.getloadavg()),
        "cores": str(os.cpu_count()),
        "cpu": cpu or platform.processor() or "unknown",
        "memory": f"{mem_kb / 1024 / 1024:.1f} GiB",
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
    }
    try:
        out = subprocess.run([SQUAWK, "--version"], capture_output=True, text=True, check=False).stdout.strip()
        info["squawk"] = out
    except OSError:
        info["squawk"] = "not installed"
    import pglast

    info["pglast"] = pglast.__version__
    if server is not None:
        with psycopg.connect(server.dsn, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT name, setting, unit FROM pg_settings WHERE name IN ('server_version', 'fsync', "
                "'synchronous_commit', 'full_page_writes', 'shared_buffers', 'max_wal_size', "
                "'maintenance_work_mem', 'max_parallel_maintenance_workers', 'autovacuum')").fetchall()
        s = {n: (v, u) for n, v, u in rows}
        sb = int(s["shared_buffers"][0]) * 8 // 1024
        info["postgres"] = (f"PostgreSQL {s['server_version'][0]} (fsync={s['fsync'][0]}, synchronous_commit="
                            f"{s['synchronous_commit'][0]}, full_page_writes={s['full_page_writes'][0]}, "
                            f"shared_buffers={sb} MB, max_wal_size={s['max_wal_size'][0]} MB, "
                            f"maintenance_work_mem={int(s['maintenance_work_mem'][0]) // 1024} MB), data "
                            f"directory on {_fs_of(server.datadir)}")
    return info


def _fs_of(path: Path) -> str:
    try:
        out = subprocess.run(["df", "--output=fstype,source", str(path)], capture_output=True, text=True,
                             check=False).stdout.split("\n")[1].split()
        return f"{out[0]} ({out[1]})"
    except (OSError, IndexError):
        return "unknown"


# --- the server and the benchmark table ----------------------------------------------------------

def durable_server() -> Server:
    """PostgreSQL's default durability: fsync, synchronous_commit and full_page_writes on."""
    return start_server(fast=False)


def connect(server: Server, db: str = "postgres", **kw) -> psycopg.Connection:
    return psycopg.connect(server.dsn_for(db), autocommit=True, **kw)


PARENT_ROWS = 1000

TABLE_DDL = """
CREATE TABLE parent (id integer PRIMARY KEY, name text);
INSERT INTO parent SELECT g, 'parent ' || g FROM generate_series(1, {parent}) g;
CREATE TABLE bench (id bigint PRIMARY KEY, a integer, b text, c timestamptz, p_id integer)
  WITH (autovacuum_enabled = off);
INSERT INTO bench
  SELECT g, (random() * 2000000000)::int, md5(random()::text),
         timestamptz '2024-01-01' + random() * interval '365 days', 1 + (g % {parent})
  FROM generate_series(1, {rows}) g;
CREATE SEQUENCE bench_ins START {next};
"""


class Templates:
    """One template database per table size; each measurement runs in a fresh copy of it
    (CREATE DATABASE ... TEMPLATE, a file copy), so every method starts from the same table."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.made: dict[int, str] = {}
        self.seq = 0

    def template(self, rows: int) -> str:
        if rows not in self.made:
            name = f"tpl_{rows}"
            with connect(self.server) as conn:
                conn.execute(f"DROP DATABASE IF EXISTS {name}")
                conn.execute(f"CREATE DATABASE {name}")
            t0 = time.perf_counter()
            with connect(self.server, name) as conn:
                for stmt in TABLE_DDL.format(rows=rows, parent=PARENT_ROWS, next=rows + 1).split(";\n"):
                    if stmt.strip():
                        conn.execute(stmt)
                conn.execute("VACUUM (ANALYZE) bench")
                conn.execute("VACUUM (ANALYZE) parent")
            log(f"template {name}: {rows:,} rows in {time.perf_counter() - t0:.1f} s")
            self.made[rows] = name
        return self.made[rows]

    def fresh(self, rows: int) -> str:
        tpl = self.template(rows)
        self.seq += 1
        name = f"run_{rows}_{self.seq}"
        with connect(self.server) as conn:
            conn.execute(f"CREATE DATABASE {name} TEMPLATE {tpl} STRATEGY FILE_COPY")
        with connect(self.server, name) as conn:
            conn.execute("SELECT count(*) FROM bench")  # into the OS cache, like a live table
            conn.execute("CHECKPOINT")
        return name

    def drop(self, db: str) -> None:
        with connect(self.server) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")

    def table_bytes(self, db: str) -> int:
        with connect(self.server, db) as conn:
            return int(conn.execute("SELECT pg_table_size('bench')").fetchone()[0])


# --- pgbench writers -------------------------------------------------------------------------------

UPDATE_SCRIPT = """\\set id random(1, :rows)
UPDATE bench SET a = a + 1, c = now() WHERE id = :id;
"""
INSERT_SCRIPT = """\\set p random(1, {parent})
INSERT INTO bench (id, a, b, c, p_id) VALUES (nextval('bench_ins'), 1, md5(random()::text), now(), :p);
""".format(parent=PARENT_ROWS)


@dataclass
class Txn:
    end: float  # epoch seconds
    latency_ms: float  # from the scheduled start (-R): what the application waits

    @property
    def start(self) -> float:
        return self.end - self.latency_ms / 1000


@dataclass
class Writers:
    """``clients`` pgbench writers on the bench table at ``rate`` transactions/s in total: 4 in 5
    update a random row, 1 in 5 inserts one.  With ``-R`` pgbench measures latency from each
    transaction's scheduled start, so a writer stuck behind a lock shows the whole wait (and the
    transactions queued behind it show theirs): the stall the application would feel."""

    server: Server
    db: str
    rows: int
    rate: int
    workdir: Path
    clients: int = 4
    threads: int = 2
    proc: subprocess.Popen | None = None
    prefix: str = ""
    txns: list[Txn] = field(default_factory=list)
    started_at: float = 0.0

    def start(self, max_seconds: int = 3600) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "update.sql").write_text(UPDATE_SCRIPT)
        (self.workdir / "insert.sql").write_text(INSERT_SCRIPT)
        self.prefix = f"w{int(time.time() * 1000)}"
        argv = [str(self.server.tool("pgbench")), "-n", "-f", "update.sql@4", "-f", "insert.sql@1",
                "-c", str(self.clients), "-j", str(self.threads), "-T", str(max_seconds), "-l",
                f"--log-prefix={self.prefix}", "-D", f"rows={self.rows}",
                "-h", "127.0.0.1", "-p", str(self.server.port), "-U", "postgres", self.db]
        if self.rate:
            argv[2:2] = ["-R", str(self.rate)]
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        self.proc = subprocess.Popen(argv, cwd=self.workdir, env=env, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True)
        self.started_at = time.time()
        time.sleep(1.0)  # connections made, a steady state before the measurement starts
        if self.proc.poll() is not None:
            raise RuntimeError(f"pgbench exited at once: {self.proc.stderr.read() if self.proc.stderr else ''}")

    def stop(self, tail_s: float = 2.0) -> None:
        """Keep writing ``tail_s`` more seconds (the stall's aftermath, and pgbench's buffered log
        lines of the window reach the file), then stop pgbench and read its logs."""
        assert self.proc is not None
        time.sleep(tail_s)
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.txns = []
        for path in self.workdir.glob(f"{self.prefix}.*"):
            for line in path.read_text(errors="replace").splitlines():
                parts = line.split()
                # client_id transaction_no time script_no time_epoch time_us [schedule_lag]
                if len(parts) < 6 or not all(p.lstrip("-").isdigit() for p in parts[:6]):
                    continue
                latency_us = int(parts[2])
                if latency_us < 0:  # skipped
                    continue
                self.txns.append(Txn(int(parts[4]) + int(parts[5]) / 1e6, latency_us / 1000))
            path.unlink()

    def during(self, t0: float, t1: float) -> list[float]:
        """Latencies (ms) of the transactions that overlapped the window [t0, t1]."""
        return [t.latency_ms for t in self.txns if t.end >= t0 and t.start <= t1]


@dataclass
class Window:
    label: str
    t0: float
    t1: float
    note: str = ""

    @property
    def seconds(self) -> float:
        return self.t1 - self.t0


def latency_summary(lat: list[float]) -> dict[str, float]:
    return {"n": len(lat), "p50": percentile(lat, 50), "p99": percentile(lat, 99),
            "max": max(lat) if lat else float("nan")}


def fmt_ms(x: float) -> str:
    if x != x:  # NaN
        return "-"
    return f"{x:,.0f} ms" if x >= 10 else f"{x:.1f} ms"


def fmt_s(x: float) -> str:
    if x != x:
        return "-"
    if x < 1:
        return f"{x * 1000:,.0f} ms"
    return f"{x:,.2f} s"


def fmt_ratio(x: float) -> str:
    if x != x or x in (float("inf"), float("-inf")):
        return "-"
    return f"{x:.2f}x"

"""Rehearse a logical blue/green upgrade for real: two throwaway servers (old major, new major),
pgbench's schema and rows plus a write log, writers that record every acknowledged write, and
the whole flow the way an operator runs it - ``measure --upgrade-to``, ``upgrade postgres``,
``approve``, ``apply`` of every phase, a rollback after cutover, the cutover again, CONTRACT.

What it proves and reports:

* writes lost: every transaction whose COMMIT returned is on the server that is primary at the end
  (and, after the rollback, on the old server - including the writes made on the new one);
  each writer's counter row equals its acknowledged commits; ``sum(abalance)`` of
  ``pgbench_accounts`` equals all acknowledged commits (each adds 1 to one account);
* rows equal per table on both servers, and every sequence equal right after each sync;
* the write pause, seen from the writers (the longest gap between two acknowledged commits of one
  writer) and from the executor (fence to open);
* the initial copy and catch-up time and rate (the calibration for the planner's estimates).

A writer's transaction is BEGIN; INSERT INTO the write log; UPDATE its counter; UPDATE one
pgbench account; COMMIT. Writers connect as a non-superuser role (the fence is a connection limit,
which PostgreSQL does not enforce on superusers), reconnect after an error to wherever the
"pooler" points, and retry: an error is a pause, never a lost write. A COMMIT whose outcome is
unknown (the connection died during it) is "in doubt" and counted apart.
"""

from __future__ import annotations

import contextlib
import io
import json
import random
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg

from migspec.execute.approval import approve
from migspec.frozen import field, record
from migspec.planfile import load as load_plan
from migspec.pgserver import Server
from migspec.upgrade.postgres import execute
from migspec.upgrade.postgres.servers import start_major

Log = Callable[[str], None]
APP_ROLE = "migspec_app"
APP_DB = "app"
_SETUP = f"""
CREATE TABLE rehearsal_writes (id bigserial PRIMARY KEY, writer int NOT NULL, n bigint NOT NULL,
                               at timestamptz NOT NULL DEFAULT clock_timestamp(), UNIQUE (writer, n));
CREATE TABLE rehearsal_counters (writer int PRIMARY KEY, n bigint NOT NULL);
GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA public TO {APP_ROLE};
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {APP_ROLE};
"""


class Pooler:
    """Where the application's connections go: the rehearsal's stand-in for PgBouncer or DNS."""

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._lock = threading.Lock()

    @property
    def dsn(self) -> str:
        with self._lock:
            return self._dsn

    def point(self, dsn: str) -> None:
        with self._lock:
            self._dsn = dsn


@record
class WriterLog:
    writer: int
    acked: list[int] = field(default_factory=list)  # n of every committed transaction
    in_doubt: list[int] = field(default_factory=list)
    errors: int = 0
    max_gap: float = 0.0
    gap_at: float = 0.0


class Writers:
    def __init__(self, pooler: Pooler, count: int, accounts: int) -> None:
        self.pooler = pooler
        self.logs = [WriterLog(i) for i in range(1, count + 1)]
        self.accounts = accounts
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(lg,), daemon=True) for lg in self.logs]

    def start(self) -> None:
        for t in self._threads:
            t.start()

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join()

    def _run(self, lg: WriterLog) -> None:
        rnd = random.Random(lg.writer)
        n = 0
        conn: psycopg.Connection | None = None
        last_ok = time.monotonic()
        while not self._stop.is_set():
            try:
                if conn is None or conn.closed or conn.broken:
                    conn = psycopg.connect(self.pooler.dsn, autocommit=False, connect_timeout=5)
                n += 1
                cur = conn.cursor()
                cur.execute("INSERT INTO rehearsal_writes (writer, n) VALUES (%s, %s)", (lg.writer, n))
                cur.execute("INSERT INTO rehearsal_counters AS c (writer, n) VALUES (%s, 1) "
                            "ON CONFLICT (writer) DO UPDATE SET n = c.n + 1", (lg.writer,))
                cur.execute("UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid = %s",
                            (rnd.randint(1, self.accounts),))
                try:
                    conn.commit()
                except psycopg.OperationalError:
                    lg.in_doubt.append(n)
                    raise
                lg.acked.append(n)
                now = time.monotonic()
                if now - last_ok > lg.max_gap:
                    lg.max_gap, lg.gap_at = now - last_ok, time.time()
                last_ok = now
                time.sleep(0.002)
            except psycopg.Error:
                lg.errors += 1
                if conn is not None:
                    try:
                        conn.close()
                    except psycopg.Error:
                        pass
                conn = None
                time.sleep(0.02)
        if conn is not None:
            conn.close()

    @property
    def acked(self) -> int:
        return sum(len(lg.acked) for lg in self.logs)

    @property
    def max_gap(self) -> float:
        return max((lg.max_gap for lg in self.logs), default=0.0)


def check_writes(dsn: str, writers: Writers) -> dict[str, Any]:
    """Every acknowledged write on the server at ``dsn``: the log rows, the counters, the balance."""
    with psycopg.connect(dsn) as conn:
        present = {(w, n) for w, n in conn.execute("SELECT writer, n FROM rehearsal_writes").fetchall()}
        counters = dict(conn.execute("SELECT writer, n FROM rehearsal_counters").fetchall())
        balance = int(conn.execute("SELECT coalesce(sum(abalance), 0) FROM pgbench_accounts").fetchone()[0])
    lost = sum(1 for lg in writers.logs for n in lg.acked if (lg.writer, n) not in present)
    doubt_present = sum(1 for lg in writers.logs for n in lg.in_doubt if (lg.writer, n) in present)
    counter_mismatch = [lg.writer for lg in writers.logs
                        if counters.get(lg.writer, 0) != len(lg.acked)
                        + sum(1 for n in lg.in_doubt if (lg.writer, n) in present)]
    return {"acknowledged": writers.acked, "lost": lost, "in_doubt_committed": doubt_present,
            "counters_wrong": counter_mismatch, "balance": balance,
            "balance_expected": writers.acked + doubt_present}


def table_counts(dsn: str) -> dict[str, int]:
    with psycopg.connect(dsn) as conn:
        names = [f"{n}.{r}" for n, r, _ in execute._user_tables(conn)]
        return {name: int(conn.execute(f"SELECT count(*) FROM {name}").fetchone()[0]) for name in names}  # type: ignore


def _wait_equal(src: str, tgt: str, timeout: float = 60.0) -> tuple[bool, dict[str, int], dict[str, int]]:
    deadline = time.monotonic() + timeout
    while True:
        a, b = table_counts(src), table_counts(tgt)
        if a == b or time.monotonic() > deadline:
            return a == b, a, b
        time.sleep(0.2)


@record
class Rehearsal:
    source: Server
    target: Server
    workdir: Path
    log: Log
    writers_n: int = 4
    scale: int = 1
    report: dict[str, Any] = field(default_factory=dict)

    def dsn(self, server: Server, user: str = "postgres") -> str:
        return f"host=127.0.0.1 port={server.port} user={user} dbname={APP_DB}"

    def prepare(self, servers: tuple[Server, ...] | None = None) -> None:
        for server in servers or (self.source, self.target):
            with psycopg.connect(server.dsn, autocommit=True) as conn:
                conn.execute(f"CREATE DATABASE {APP_DB}")
        with psycopg.connect(self.source.dsn, autocommit=True) as conn:
            conn.execute(f"CREATE ROLE {APP_ROLE} LOGIN")
        pgbench = self.source.tool("pgbench")
        env = execute._libpq_env(self.dsn(self.source))
        proc = subprocess.run([str(pgbench), "-i", "-q", "-s", str(self.scale)], env=env, capture_output=True,
                              text=True, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"pgbench -i failed: {proc.stderr}")
        with psycopg.connect(self.dsn(self.source), autocommit=True) as conn:
            conn.execute(_SETUP)
            # pgbench_history has no key and takes only INSERTs: fine for logical; give it one anyway,
            # as the planner's fix says, so the pre-checks see every table with an identity.
            conn.execute("ALTER TABLE pgbench_history ADD COLUMN hid bigserial PRIMARY KEY")

    def run(self, seconds_on_new: float = 3.0) -> dict[str, Any]:
        src_admin, tgt_admin = self.dsn(self.source), self.dsn(self.target)
        pooler = Pooler(self.dsn(self.source, APP_ROLE))
        writers = Writers(pooler, self.writers_n, accounts=100_000 * self.scale)
        self.prepare()
        writers.start()
        time.sleep(1.0)
        from migspec.cli import main

        stats = self.workdir / "stats.yaml"
        with contextlib.redirect_stdout(io.StringIO()):  # measure's summary is not the rehearsal's output
            code = main(["measure", "--dsn", src_admin, "--upgrade-to", str(self.target.major), "--target-dsn",
                         tgt_admin, "--sample-seconds", "3", "-o", str(stats)])
        if code != 0:
            raise RuntimeError("measure failed")
        from migspec.stats import load_stats
        from migspec.upgrade.postgres.planner import plan_upgrade
        from migspec.upgrade.postgres.render import render_json

        free = shutil.disk_usage(self.source.datadir).free
        up = plan_upgrade(load_stats(stats), to=self.target.major, method="logical", free_disk=float(free))
        plan_path = self.workdir / "upgrade.json"
        plan_path.write_text(render_json(up))
        approve(load_plan(plan_path), by="rehearsal")
        self.report["plan"] = {"risk": str(up.plan.risk), "method": up.method,
                               "estimates": up.estimates.as_dict(),
                               "findings": [f"{f.risk}: {f.message}" for f in up.findings]}
        seq_checks: list[bool] = []

        def hook(action: str, direction: str) -> None:
            if action == "repoint":
                pooler.point(self.dsn(self.target if direction == "up" else self.source, APP_ROLE))
            if action == "sync_sequences":
                with psycopg.connect(src_admin, autocommit=True) as a, psycopg.connect(tgt_admin, autocommit=True) as b:
                    seq_checks.append(execute.sequence_values(a) == execute.sequence_values(b))

        def phase(name: str, rollback: bool = False) -> dict[str, float]:
            t0 = time.monotonic()
            timings = execute.run_phase(load_plan(plan_path), source_dsn=src_admin, target_dsn=tgt_admin,
                                        phase=name, rollback=rollback, log=self.log, hook=hook)
            timings["phase_seconds"] = time.monotonic() - t0
            return timings

        try:
            expand = phase("expand")
            gap_before = writers.max_gap
            for lg in writers.logs:
                lg.max_gap = 0.0
            cut = phase("migrate")
            time.sleep(seconds_on_new)
            pause_cutover = writers.max_gap
            for lg in writers.logs:
                lg.max_gap = 0.0
            on_new = writers.acked
            back = phase("migrate", rollback=True)
            time.sleep(1.0)
            pause_rollback = writers.max_gap
            writers_after_rollback = writers.acked
            # rollback check: the old server has every write, including those made on the new one
            writers.stop()
            rollback_writes = check_writes(src_admin, writers)
            eq_rb, _, _ = _wait_equal(src_admin, tgt_admin)
            writers2 = Writers(pooler, self.writers_n, accounts=100_000 * self.scale)
            # continue the same writer numbering: new writers log under new ids
            for i, lg in enumerate(writers2.logs):
                lg.writer = self.writers_n + 1 + i
            writers2.start()
            time.sleep(1.0)
            cut2 = phase("migrate")
            time.sleep(seconds_on_new)
            writers2.stop()
            final_new = check_writes(tgt_admin, writers2)
            final_old_ok = check_writes(tgt_admin, writers)  # the first writers' rows survived the second cutover
            eq_final, counts_src, counts_tgt = _wait_equal(src_admin, tgt_admin)
            contract = phase("contract")
        finally:
            writers.stop()
        copy_s = float(expand.get("copy_and_catch_up_seconds", 0.0))
        size = float(expand.get("database_bytes", 0.0))
        self.report.update({
            "source_major": self.source.major, "target_major": self.target.major, "scale": self.scale,
            "database_bytes": int(size), "copy_and_catch_up_seconds": round(copy_s, 3),
            "copy_bytes_per_second": round(size / copy_s) if copy_s else None,
            "estimated_copy_seconds": self.report["plan"]["estimates"]["logical_copy_seconds"],
            "writes": {"acknowledged_total": writers.acked + writers2.acked,
                       "lost": rollback_writes["lost"] + final_new["lost"] + final_old_ok["lost"],
                       "on_new_before_rollback": on_new, "after_rollback": writers_after_rollback},
            "rollback": {"writes_on_old_after_rollback": rollback_writes, "rows_equal": eq_rb,
                         "writer_pause_seconds": round(pause_rollback, 3),
                         "executor_pause_seconds": round(back.get("rollback_write_pause_seconds", 0.0), 3)},
            "cutover": {"writer_pause_seconds": round(pause_cutover, 3),
                        "executor_pause_seconds": round(cut.get("write_pause_seconds", 0.0), 3),
                        "drain_seconds": round(cut.get("drain_seconds", 0.0), 3),
                        "second_executor_pause_seconds": round(cut2.get("write_pause_seconds", 0.0), 3)},
            "final": {"writes_on_new": final_new, "first_writers_on_new": final_old_ok, "rows_equal": eq_final,
                      "rows": counts_tgt, "rows_source": counts_src},
            "sequences_equal_at_each_sync": seq_checks,
            "max_writer_gap_before_cutover_seconds": round(gap_before, 3),
            "contract_seconds": round(contract["phase_seconds"], 3),
        })
        balance_expected = (writers.acked + writers2.acked + final_new["in_doubt_committed"]
                            + final_old_ok["in_doubt_committed"])
        self.report["final"]["balance_ok"] = final_new["balance"] == balance_expected
        self.report["rollback"]["balance_ok"] = rollback_writes["balance"] == rollback_writes["balance_expected"]
        self.report["ok"] = (self.report["writes"]["lost"] == 0 and eq_rb and eq_final and all(seq_checks)
                             and len(seq_checks) >= 3 and not final_new["counters_wrong"]
                             and not final_old_ok["counters_wrong"] and not rollback_writes["counters_wrong"]
                             and self.report["final"]["balance_ok"] and self.report["rollback"]["balance_ok"])
        return self.report


def _snapshot(dsn: str) -> tuple[dict[str, int], dict[str, tuple[int, bool]]]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        seqs = execute.sequence_values(conn)
    return table_counts(dsn), seqs


def rehearse_pg_upgrade(source_major: int, target_major: int, *, scale: int = 1, writers_n: int = 4,
                        seconds_on_new: float = 3.0, log: Log = print) -> dict[str, Any]:
    """pg_upgrade (copy mode when the disk allows) under writers: the old cluster is stopped,
    upgraded, the new one started on its own port, the writers repointed; then the rollback starts
    the un-upgraded old cluster, whose rows and sequences must equal the new one's at its start."""
    from migspec.pgserver import _free_port

    workdir = Path(tempfile.mkdtemp(prefix="migspec-upgrade-"))
    source = start_major(source_major)
    report: dict[str, Any] = {"source_major": source_major, "target_major": target_major, "scale": scale,
                              "method": "pg_upgrade"}
    try:
        port = _free_port()
        fake_target = Server(dsn="", version_num=target_major * 10000, datadir=workdir, bindir=workdir, port=port)
        r = Rehearsal(source, fake_target, workdir, log, writers_n, scale)
        src_admin, tgt_admin = r.dsn(source), r.dsn(fake_target)
        pooler = Pooler(r.dsn(source, APP_ROLE))
        writers = Writers(pooler, writers_n, accounts=ROWS_PER_SCALE * scale)
        r.prepare((source,))
        writers.start()
        time.sleep(1.0)
        from migspec.cli import main
        from migspec.stats import load_stats
        from migspec.upgrade.postgres.planner import plan_upgrade
        from migspec.upgrade.postgres.render import render_json

        stats = workdir / "stats.yaml"
        with contextlib.redirect_stdout(io.StringIO()):
            if main(["measure", "--dsn", src_admin, "--upgrade-to", str(target_major), "--sample-seconds", "3",
                     "-o", str(stats)]) != 0:
                raise RuntimeError("measure failed")
        free = shutil.disk_usage(source.datadir).free
        up = plan_upgrade(load_stats(stats), to=target_major, method="pg_upgrade", free_disk=float(free))
        plan_path = workdir / "upgrade.json"
        plan_path.write_text(render_json(up))
        approve(load_plan(plan_path), by="rehearsal")
        report["plan"] = {"risk": str(up.plan.risk), "estimates": up.estimates.as_dict(),
                          "findings": [f"{f.risk}: {f.message}" for f in up.findings]}
        at_start: dict[str, Any] = {}

        def hook(action: str, direction: str) -> None:
            if action == "start_target" and direction == "up":
                at_start["counts"], at_start["sequences"] = _snapshot(tgt_admin)
            if action == "repoint":
                pooler.point(r.dsn(fake_target if direction == "up" else source, APP_ROLE))

        def phase(name: str, rollback: bool = False) -> dict[str, float]:
            return execute.run_phase(load_plan(plan_path), source_dsn=src_admin, target_dsn=tgt_admin, phase=name,
                                     rollback=rollback, log=log, hook=hook)

        try:
            phase("expand")
            for lg in writers.logs:
                lg.max_gap = 0.0
            cut = phase("migrate")
            time.sleep(seconds_on_new)
            writers.stop()
            on_new = check_writes(tgt_admin, writers)
            acked_on_new = sum(1 for lg in writers.logs for _ in lg.acked)
            phase("migrate", rollback=True)  # the way back: the un-upgraded old cluster starts again
            counts_old, seqs_old = _snapshot(src_admin)
        finally:
            writers.stop()
            new_datadir = execute.load_state(load_plan(plan_path))["values"].get("new_datadir")
            if new_datadir and (Path(new_datadir) / "postmaster.pid").exists():
                _run_pg_ctl_stop(target_major, new_datadir)
        est = up.estimates
        report.update({
            "database_bytes": int(up.facts["database_bytes"]), "mode": est.pg_upgrade_mode,
            "pg_upgrade_seconds": round(cut.get("pg_upgrade_seconds", 0.0), 3),
            "estimated_pg_upgrade_seconds": round(est.pg_upgrade_seconds, 3),
            "writes": {"acknowledged": acked_on_new, "lost": on_new["lost"], "check": on_new},
            "cutover": {"writer_pause_seconds": round(writers.max_gap, 3),
                        "executor_pause_seconds": round(cut.get("write_pause_seconds", 0.0), 3)},
            "rows_equal": at_start.get("counts") == counts_old, "rows": counts_old,
            "sequences_equal": at_start.get("sequences") == seqs_old,
        })
        report["ok"] = (on_new["lost"] == 0 and not on_new["counters_wrong"] and report["rows_equal"]
                        and report["sequences_equal"] and on_new["balance"] == on_new["balance_expected"])
        return report
    finally:
        source.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def _run_pg_ctl_stop(major: int, datadir: str) -> None:
    from migspec.pgserver import _run_pg
    from migspec.upgrade.postgres.servers import bindir_for

    bindir = bindir_for(major)
    if bindir is not None:
        _run_pg([str(bindir / "pg_ctl"), "stop", "-D", datadir, "-m", "immediate"], cwd=Path(datadir).parent)


def rehearse(source_major: int, target_major: int, *, scale: int = 1, writers: int = 4,
             seconds_on_new: float = 3.0, log: Log = print) -> dict[str, Any]:
    """Start both servers, run the rehearsal, stop them; the report as a dict."""
    workdir = Path(tempfile.mkdtemp(prefix="migspec-upgrade-"))
    source = start_major(source_major)
    try:
        target = start_major(target_major)
        try:
            return Rehearsal(source, target, workdir, log, writers, scale).run(seconds_on_new)
        finally:
            target.stop()
    finally:
        source.stop()
        shutil.rmtree(workdir, ignore_errors=True)


#: pgbench_accounts rows per pgbench scale unit.
ROWS_PER_SCALE = 100_000


def render_report(report: dict[str, Any], fmt: str = "text") -> str:
    if fmt == "json":
        return json.dumps(report, indent=2, default=str) + "\n"
    r = report
    if r.get("method") == "pg_upgrade":
        return "\n".join([
            f"REHEARSAL: PostgreSQL {r['source_major']} -> {r['target_major']} (pg_upgrade, {r['mode']} mode), "
            f"pgbench scale {r['scale']}, {r['database_bytes']:,} B",
            f"PLAN: risk {r['plan']['risk']}, estimated pg_upgrade {r['estimated_pg_upgrade_seconds']:.1f} s",
            f"PG_UPGRADE: {r['pg_upgrade_seconds']:.1f} s",
            f"CUTOVER: write pause {r['cutover']['writer_pause_seconds']:.2f} s seen by writers, "
            f"{r['cutover']['executor_pause_seconds']:.2f} s stop to start",
            f"WRITES: {r['writes']['acknowledged']:,} acknowledged, {r['writes']['lost']} lost",
            f"ROWS: the new cluster at start equals the old one kept as the way back: "
            f"{'yes' if r['rows_equal'] else 'NO'}; SEQUENCES: {'equal' if r['sequences_equal'] else 'DIFFER'}",
            f"RESULT: {'PASS' if r['ok'] else 'FAIL'}"]) + "\n"
    cut, rb, fin = r["cutover"], r["rollback"], r["final"]
    lines = [
        f"REHEARSAL: PostgreSQL {r['source_major']} -> {r['target_major']} (logical), pgbench scale {r['scale']}, "
        f"{r['database_bytes']:,} B",
        f"PLAN: risk {r['plan']['risk']}, estimated copy {r['estimated_copy_seconds']:.1f} s",
        f"COPY: initial copy and catch-up {r['copy_and_catch_up_seconds']:.1f} s "
        f"({(r['copy_bytes_per_second'] or 0) / 1e6:.1f} MB/s)",
        f"CUTOVER: write pause {cut['writer_pause_seconds']:.2f} s seen by writers, {cut['executor_pause_seconds']:.2f} s "
        f"fence to open; drain {cut['drain_seconds']:.2f} s",
        f"ROLLBACK: write pause {rb['writer_pause_seconds']:.2f} s; the old server has every write "
        f"({rb['writes_on_old_after_rollback']['acknowledged']:,} acknowledged, "
        f"{rb['writes_on_old_after_rollback']['lost']} lost); rows equal: {'yes' if rb['rows_equal'] else 'NO'}",
        f"WRITES: {r['writes']['acknowledged_total']:,} acknowledged, {r['writes']['lost']} lost",
        f"ROWS: equal on both servers per table: {'yes' if fin['rows_equal'] else 'NO'} ({len(fin['rows'])} tables)",
        "SEQUENCES: equal at every sync: " + ("yes" if all(r["sequences_equal_at_each_sync"]) else "NO"),
        f"RESULT: {'PASS' if r['ok'] else 'FAIL'}",
    ]
    return "\n".join(lines) + "\n"


def calibration_yaml(report: dict[str, Any]) -> str:
    """The rates this rehearsal measured, as 'upgrade postgres --calibration' reads them."""
    import yaml

    if report.get("method") == "pg_upgrade":
        # One run cannot separate the fixed cost from the per-object and per-byte parts: the whole
        # time is recorded as the fixed cost (right for a rehearsal on a copy of production's schema).
        rates: dict[str, float] = {"pg_upgrade_fixed_s": max(report["pg_upgrade_seconds"], 0.001)}
        return "# migspec verify of an upgrade plan: measured rates\n" + yaml.safe_dump({"upgrade_rates": rates})
    rates = {"logical_cutover_pause_s": max(report["cutover"]["writer_pause_seconds"], 0.001)}
    if report.get("copy_bytes_per_second"):
        rates["logical_copy_bytes_per_s"] = float(report["copy_bytes_per_second"])
    return "# migspec verify of an upgrade plan: measured rates\n" + yaml.safe_dump({"upgrade_rates": rates})


def is_upgrade_plan_file(path: str) -> bool:
    try:
        with open(path, encoding="utf-8") as fh:
            head = fh.read(1 << 20)
        return json.loads(head).get("kind") == "postgres-upgrade"
    except (OSError, ValueError, AttributeError):
        return False


def verify_upgrade(path: str, *, rows: int, writers: int, fmt: str, calibration: str | None, log: Log) -> int:
    """``migspec verify UPGRADE.json``: rehearse the plan's majors on throwaway servers."""
    from migspec.errors import EXIT_FINDINGS, EXIT_OK, InputError, RefusedError
    from migspec.pgserver import ServerError
    from migspec.upgrade.postgres.servers import bindir_for

    plan = load_plan(path)
    up = plan.doc.get("upgrade", {})
    source, target = int(up.get("source_major", 0)), int(up.get("target_major", 0))
    if up.get("method") not in ("logical", "pg_upgrade"):
        raise InputError(f"{path}: unknown upgrade method {up.get('method')!r}")
    for major in (source, target):
        if bindir_for(major) is None:
            from migspec.pginstall import install_hint

            raise RefusedError(f"no PostgreSQL {major} server programs on this machine: {install_hint(major)}")
    try:
        scale = max(1, rows // ROWS_PER_SCALE)
        if up["method"] == "pg_upgrade":
            report = rehearse_pg_upgrade(source, target, scale=scale, writers_n=max(writers, 1), log=log)
        else:
            report = rehearse(source, target, scale=scale, writers=max(writers, 1), log=log)
    except ServerError as exc:
        raise InputError(f"cannot start a rehearsal server: {str(exc).splitlines()[0]}") from None
    import sys

    sys.stdout.write(render_report(report, fmt))
    if calibration:
        Path(calibration).write_text(calibration_yaml(report), encoding="utf-8")
    return EXIT_OK if report["ok"] else EXIT_FINDINGS

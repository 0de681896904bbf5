"""Model-based test of the rollout (issue 9): Hypothesis drives random sequences of apply phase /
rollback phase / SIGKILL of an apply or rollback at a random moment / re-plan with new stats
(a new file, approved) / approve again / server restart, each command a real ``python -m migspec``
process against a real server of its own, while application writers change rows and log every
write they committed. After every command:

- the command succeeded or refused exactly as the model predicts (exit 3 out of order), with a
  one-line reason; exit 4 (a step failed) is allowed only with a one-line reason, and is then
  continued like a kill;
- no application write is lost (customer_id always holds the writer's last write; code holds it
  unless the migration's UPDATE legitimately set it while MIGRATE is applied);
- no migrated value is lost (every original ``note`` is in ``note`` or, once copied, ``remark``);
- whenever no phase is half done, the catalog is exactly the one of that prefix of the rollout.

Examples: ``MIGSPEC_STATEFUL_EXAMPLES`` (default 4, up to 8 commands each: one to two minutes on 2
cores; the first example Hypothesis generates is its simplest).
"""

from __future__ import annotations

import os
import random
import secrets
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule, \
    run_state_machine_as_test

from conftest import _test_server_parent
from helpers_apply import ROOT, catalog, diff, migspec_inproc, setup_sql, stats
from migspec import pgserver
from migspec.parse.source import Migration, parse_text
from migspec.plan.builder import PlanOptions, plan_migration
from migspec.render.plan import render_json
from migspec.stats import parse_stats

ROWS = 2000
SQL = ("ALTER TABLE orders RENAME COLUMN note TO remark;\n"
       "UPDATE orders SET code = 'z' WHERE amount % 3 = 0;\n")
PHASES = ("expand", "migrate", "contract")
EXAMPLES = int(os.environ.get("MIGSPEC_STATEFUL_EXAMPLES", "4"))


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    if os.environ.get("MIGSPEC_STATEFUL_TRACE"):
        t0 = time.monotonic()
        r = subprocess.run([sys.executable, "-m", "migspec", *args], capture_output=True, text=True, timeout=180,
                           env=_env(), cwd=ROOT)
        print(f"{time.monotonic() - t0:5.2f} s exit {r.returncode}: migspec {' '.join(args[:1] + args[-2:])}")
        return r
    return subprocess.run([sys.executable, "-m", "migspec", *args], capture_output=True, text=True, timeout=180,
                          env=_env(), cwd=ROOT)


class _Writer(threading.Thread):
    """The application: updates customer_id and code of random original rows, each write its own
    transaction; ``log`` holds the last committed values per row. Reconnects after a restart."""

    def __init__(self, dsn: str, seed: int) -> None:
        super().__init__(daemon=True)
        self.dsn, self.rnd, self.stop = dsn, random.Random(seed), threading.Event()
        self.log: dict[int, dict[str, Any]] = {}
        self.lock = threading.Lock()
        self.writes = 0

    def run(self) -> None:
        conn = None
        while not self.stop.is_set():
            try:
                if conn is None or conn.closed or conn.broken:
                    conn = psycopg.connect(self.dsn, autocommit=True, application_name="app writer", connect_timeout=5)
                row = self.rnd.randint(1, ROWS)
                cust, code = self.rnd.randint(1, 100), f"w{self.writes % 1000}"
                with self.lock:  # the log and the commit agree, also when a check reads in between
                    cur = conn.execute("UPDATE orders SET customer_id = %s, code = %s WHERE id = %s", (cust, code, row))
                    if cur.rowcount == 1:
                        self.log[row] = {"customer_id": cust, "code": code}
                        self.writes += 1
            except psycopg.Error:
                time.sleep(0.05)  # a restart or a lock timeout: nothing committed, nothing logged
            time.sleep(0.004)
        if conn is not None:
            conn.close()


class Rollout(RuleBasedStateMachine):
    server: Any = None
    admin_dsn: str = ""
    tmp: Path = Path()

    @initialize()
    def setup(self) -> None:
        self.db = f"s_{secrets.token_hex(5)}"
        with psycopg.connect(self.admin_dsn, autocommit=True) as admin:
            admin.execute(f"CREATE DATABASE {self.db}")
        self.dsn = self.server.dsn_for(self.db)
        self.conn = psycopg.connect(self.dsn, autocommit=True)
        self.conn.execute(setup_sql(ROWS))
        self.original = {r[0]: (r[1], r[2]) for r in self.conn.execute("SELECT id, note, code FROM orders")}
        self.dir = self.tmp / self.db
        self.dir.mkdir(parents=True)
        self.schema = self.dir / "schema.sql"
        subprocess.run([str(Path(self.server.bindir) / "pg_dump"), "--schema-only", "-d", self.dsn, "-f",
                        str(self.schema)], check=True, timeout=60)
        self.plans = 0
        self.plan = self._new_plan(3000, 50)
        self.done = 0  # phases fully applied: 0..3
        self.half: tuple[str, str] | None = None  # (command, phase) killed or failed midway
        self.catalogs = {0: catalog(self.conn)}
        self.writer = _Writer(self.dsn, random.getrandbits(32))
        self.writer.start()

    def teardown(self) -> None:
        if getattr(self, "writer", None) is not None:
            self.writer.stop.set()
            self.writer.join(timeout=20)
        if getattr(self, "conn", None) is not None:
            self.conn.close()
            with psycopg.connect(self.admin_dsn, autocommit=True) as admin:
                admin.execute(f"DROP DATABASE IF EXISTS {self.db} WITH (FORCE)")

    # --- helpers ------------------------------------------------------------------------------

    def _new_plan(self, rows: int, qps: float) -> Path:
        """The migration planned (as 'migspec plan --format json' does) from the schema as it was
        before the rollout, with these stats; written to a new file and approved."""
        self.plans += 1
        out = self.dir / f"plan{self.plans}.json"
        migration = Migration("orders_rollout", ("m.sql",), tuple(parse_text(SQL, "m.sql")))
        plan, report = plan_migration(migration, parse_stats(stats(rows=rows, write_qps=qps, batch_rows=1000), "s"),
                                      schema_path=self.schema, pg_version=15, options=PlanOptions((), 0))
        out.write_text(render_json(plan, report), encoding="utf-8")
        r = migspec_inproc("approve", str(out), "--by", "model", "--confirm", "orders.note")
        assert r.returncode == 0, r.stderr
        return out

    def _expect(self, r: subprocess.CompletedProcess[str], code: int, what: str) -> None:
        lines = [ln for ln in r.stderr.splitlines() if ln.startswith("migspec:")]
        assert "Traceback" not in r.stderr, r.stderr
        if r.returncode == 4 and code == 0:
            assert len(lines) == 1, r.stderr  # a step failed (e.g. lock timeouts): continued like a kill
            return
        assert r.returncode == code, f"{what}: exit {r.returncode}, expected {code}: {r.stderr[-2000:]}"
        if code:
            assert len(lines) == 1 and r.stderr.strip().endswith(lines[0]), r.stderr

    def _settled(self, command: str, phase: str, ok: bool) -> None:
        if not ok:
            self.half = (command, phase)
            return
        self.half = None
        i = PHASES.index(phase) + 1
        if command == "apply":
            self.done = max(self.done, i)
            self.catalogs.setdefault(self.done, catalog(self.conn))
        else:
            self.done = min(self.done, i - 1)

    # --- rules ----------------------------------------------------------------------------------

    @precondition(lambda self: self.half is None)
    @rule(phase=st.sampled_from(PHASES))
    def apply(self, phase: str) -> None:
        i = PHASES.index(phase) + 1
        r = _run("apply", str(self.plan), "--dsn", self.dsn, "--phase", phase)
        self._expect(r, 0 if i <= self.done + 1 else 3, f"apply {phase} at {self.done}")
        if r.returncode in (0, 4):
            self._settled("apply", phase, r.returncode == 0)

    @precondition(lambda self: self.half is None and self.done < 3)
    @rule()
    def advance(self) -> None:
        """The operator's usual next step (so that sequences reach CONTRACT often)."""
        self.apply(PHASES[self.done])

    @precondition(lambda self: self.half is None)
    @rule(phase=st.sampled_from(PHASES))
    def rollback(self, phase: str) -> None:
        i = PHASES.index(phase) + 1
        r = _run("rollback", str(self.plan), "--dsn", self.dsn, "--phase", phase)
        self._expect(r, 0 if i >= self.done else 3, f"rollback {phase} at {self.done}")
        if r.returncode in (0, 4):
            self._settled("rollback", phase, r.returncode == 0)

    @precondition(lambda self: self.half is None)
    @rule(command=st.sampled_from(("apply", "rollback")), delay=st.floats(0.0, 2.5))
    def kill(self, command: str, delay: float) -> None:
        """SIGKILL at a random moment of the command that the model allows next."""
        phase = PHASES[self.done] if command == "apply" and self.done < 3 else \
            PHASES[max(self.done - 1, 0)]
        proc = subprocess.Popen([sys.executable, "-m", "migspec", command, str(self.plan), "--dsn", self.dsn,
                                 "--phase", phase], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=_env(),
                                cwd=ROOT)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        _, err = proc.communicate(timeout=60)
        assert b"Traceback" not in err, err
        if proc.returncode == 0:
            self._settled(command, phase, True)
        else:
            self.half = (command, phase)
        self._wait_runner_gone()

    @precondition(lambda self: self.half is not None)
    @rule()
    def continue_after_kill(self) -> None:
        assert self.half is not None
        command, phase = self.half
        r = _run(command, str(self.plan), "--dsn", self.dsn, "--phase", phase)
        self._expect(r, 0, f"re-run of {command} {phase}")
        self._settled(command, phase, r.returncode == 0)

    @rule(rows=st.sampled_from((3000, 80_000, 5_000_000)), qps=st.sampled_from((5.0, 200.0, 2000.0)))
    def replan(self, rows: int, qps: float) -> None:
        self.plan = self._new_plan(rows, qps)

    @rule()
    def approve_again(self) -> None:
        # approve cannot touch a database: in this process (apply and rollback are real processes)
        r = migspec_inproc("approve", str(self.plan), "--by", "second", "--confirm", "orders.amount")
        self._expect(r, 2, "approve with a target the plan lacks")
        r = migspec_inproc("approve", str(self.plan), "--by", "second")
        self._expect(r, 0, "co-signature")
        assert "co-signed" in r.stdout

    @rule()
    def restart_server(self) -> None:
        s = self.server
        r = pgserver._run_pg([str(s.bindir / "pg_ctl"), "restart", "-D", str(s.datadir), "-m", "immediate", "-w",
                              "-t", "60", "-l", str(s.logfile)], cwd=s.basedir)
        assert r.returncode == 0, r.stderr
        self.conn.close()
        self.conn = psycopg.connect(self.dsn, autocommit=True)

    # --- invariants -----------------------------------------------------------------------------

    def _wait_runner_gone(self) -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and self.conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'migspec apply' AND "
                "datname = current_database()").fetchone()[0]:
            time.sleep(0.02)

    @invariant()
    def nothing_lost(self) -> None:
        if not hasattr(self, "writer"):
            return
        cols = {r[0] for r in self.conn.execute("SELECT attname FROM pg_attribute WHERE attrelid = 'orders'::regclass "
                                                "AND attnum > 0 AND NOT attisdropped")}
        pick = ", ".join(c for c in ("note", "remark") if c in cols)
        with self.writer.lock:
            log = {k: dict(v) for k, v in self.writer.log.items()}
            rows = {r[0]: r[1:] for r in self.conn.execute(f"SELECT id, customer_id, code, amount, {pick} FROM orders")}
        migrated = self.done >= 2 or (self.half is not None and self.half[1] in ("migrate", "contract")) or \
            (self.half is not None and self.half[0] == "rollback")
        copied = self.done >= 2 and self.half is None
        for row_id, (note, code) in self.original.items():
            got = rows.get(row_id)
            assert got is not None, f"row {row_id} is gone"
            cust, now_code, amount, *names = got
            values = dict(zip([c for c in ("note", "remark") if c in cols], names))
            if self.half is not None:  # midway (e.g. the old column re-added, not yet restored)
                assert note in values.values(), f"row {row_id}: note {note!r} is in neither column: {values}"
            else:
                if "note" in values:
                    assert values["note"] == note, f"row {row_id}: note {values['note']!r}, was {note!r}"
                if "remark" in values and (copied or "note" not in values):
                    assert values["remark"] == note, f"row {row_id}: remark {values['remark']!r}, was {note!r}"
            want = log.get(row_id, {}).get("code", code)
            ok = {want} | ({"z"} if migrated and amount % 3 == 0 else set())
            assert now_code in ok, f"row {row_id}: code {now_code!r}, expected one of {ok} (done {self.done}, " \
                                   f"half {self.half})"
            if row_id in log:
                assert cust == log[row_id]["customer_id"], f"row {row_id}: the writer's customer_id was lost"

    @invariant()
    def schema_is_a_prefix(self) -> None:
        if not hasattr(self, "writer") or self.half is not None or self.done not in self.catalogs:
            return
        now = catalog(self.conn)
        assert not diff(self.catalogs[self.done], now), f"after {self.done} phases:\n" + \
            diff(self.catalogs[self.done], now)


@pytest.fixture(scope="module")
def own_server():  # type: ignore[no-untyped-def]
    """A server of its own: the model restarts it (immediate shutdown, a crash), so commits must be
    durable - a 'fast' server's synchronous_commit = off loses the writers' last commits."""
    server = pgserver.start_server(fast=False, parent=_test_server_parent())
    try:
        yield server
    finally:
        server.stop()


def test_rollout_model(own_server, tmp_path: Path) -> None:
    Rollout.server, Rollout.admin_dsn, Rollout.tmp = own_server, own_server.dsn, tmp_path
    run_state_machine_as_test(Rollout, settings=settings(
        max_examples=EXAMPLES, stateful_step_count=8, deadline=None, database=None,
        suppress_health_check=list(HealthCheck)))

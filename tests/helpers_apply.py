"""Shared helpers for the executor tests (tests/test_apply*.py): a table to migrate, a plan for it
built exactly as ``migspec plan --format json`` builds it, the CLI run as a subprocess, concurrent
application writers that record every write they committed, polls of the state table, and a
catalog snapshot to compare before and after.

Every loop here is bounded in time; waits poll the database state instead of sleeping blindly.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from migspec.parse.source import Migration, parse_text
from migspec.plan.builder import PlanOptions, plan_migration
from migspec.render.plan import render_json
from migspec.stats import parse_stats

ROOT = Path(__file__).resolve().parents[1]
APP_NAME = "migspec apply"  # the runner's application_name (execute/apply.py)


def setup_sql(rows: int) -> str:
    """customers, tags and orders (``rows`` rows, deterministic values: amount = id,
    note = NULL every 7th row else 'n<id>')."""
    return f"""
CREATE TABLE customers (id bigint PRIMARY KEY, name text NOT NULL);
CREATE TABLE tags (id bigint NOT NULL, label text);
INSERT INTO tags SELECT g, 't' || g FROM generate_series(1, 200) g;
CREATE TABLE orders (
    id bigint PRIMARY KEY,
    customer_id bigint,
    note text,
    amount integer NOT NULL DEFAULT 0,
    code varchar(10),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX orders_note_idx ON orders (note);
CREATE VIEW big_orders AS SELECT id, customer_id FROM orders WHERE customer_id > 50;
CREATE VIEW customer_names AS SELECT id, name FROM customers;
CREATE FUNCTION order_total() RETURNS bigint LANGUAGE sql AS 'SELECT sum(amount) FROM orders';
INSERT INTO customers SELECT g, 'c' || g FROM generate_series(1, 100) g;
INSERT INTO orders SELECT g, 1 + g % 100, CASE WHEN g % 7 = 0 THEN NULL ELSE 'n' || g END, g, 'x' || (g % 10),
       '2026-01-01'::timestamptz + g * interval '1 minute' FROM generate_series(1, {rows}) g;
ANALYZE orders;
"""


def original_note(i: int) -> str | None:
    return None if i % 7 == 0 else f"n{i}"


def stats(rows: int = 1000, write_qps: float = 50, batch_rows: int = 500) -> dict[str, Any]:
    """Stats for the plan. The planner sizes a backfill batch at min(rows, ~rate x 0.5 s), so
    ``rows`` is the planned batch size; the runner adapts it within 1/4x..4x."""
    return {
        "pg_version": 15, "source": "production", "maintenance_window": "none",
        "thresholds": {"batch_rows": batch_rows},
        "tables": {t: {"rows": rows, "size_bytes": 400_000, "write_qps": write_qps,
                       "lock_contention": {"longest_transaction_seconds": 1, "lock_waits_per_minute": 0}}
                   for t in ("public.orders", "public.customers", "public.tags")},
    }


def make_plan(sql_text: str, *, server: Any, dsn: str, out: Path, stats_doc: dict[str, Any] | None = None,
              confirm: tuple[str, ...] = (), name: str = "migration", after_days: int = 0) -> Path:
    """Write ``out`` with the JSON plan ``migspec plan m.sql --stats S --schema dump --format json``
    prints (same functions, in-process), facts from a real pg_dump of ``dsn``."""
    out.parent.mkdir(parents=True, exist_ok=True)
    dump = out.with_suffix(".schema.sql")
    subprocess.run([str(server.tool("pg_dump")), "--schema-only", "-d", dsn, "-f", str(dump)],
                   check=True, timeout=60)
    st = parse_stats(stats_doc or stats(), "test stats")
    migration = Migration(name, (f"{name}.sql",), tuple(parse_text(sql_text, f"{name}.sql")))
    plan, report = plan_migration(migration, st, schema_path=dump, pg_version=15, options=PlanOptions(confirm, after_days))
    out.write_text(render_json(plan, report), encoding="utf-8")
    return out


def plan_steps(plan: Path, phase: str) -> list[dict[str, Any]]:
    doc = json.loads(plan.read_text())
    return next((p["steps"] for p in doc["phases"] if p["name"] == phase), [])


def backfill_step(plan: Path, phase: str = "migrate", contains: str = "") -> int:
    """1-based number of the first backfill step of ``phase`` whose description contains ``contains``."""
    for i, s in enumerate(plan_steps(plan, phase), 1):
        if s.get("backfill") and contains in s["description"]:
            return i
    raise AssertionError(f"no backfill step matching {contains!r} in {phase}")


# --- the CLI ----------------------------------------------------------------------------------

def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT / "src") + os.pathsep + env.get("PYTHONPATH", "")
    return env


def migspec(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "migspec", *args], capture_output=True, text=True,
                          timeout=timeout, env=_env(), cwd=ROOT)


def migspec_inproc(*args: str) -> subprocess.CompletedProcess[str]:
    """``migspec.cli.main`` in this process (no interpreter start-up): same exit code and output as
    the CLI, for tests that run it many times."""
    import contextlib
    import io

    from migspec.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return subprocess.CompletedProcess(["migspec", *args], code, out.getvalue(), err.getvalue())


def start_migspec(*args: str, log: Path) -> subprocess.Popen[bytes]:
    """The CLI as a background process; stderr (the progress log) goes to ``log``."""
    fh = open(log, "wb")  # noqa: SIM115 - closed by the child's exit; the parent keeps no handle
    try:
        return subprocess.Popen([sys.executable, "-m", "migspec", *args], stdout=fh, stderr=subprocess.STDOUT,
                                env=_env(), cwd=ROOT)
    finally:
        fh.close()


def wait_exit(proc: subprocess.Popen[bytes], timeout: float = 60) -> int:
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)
        raise AssertionError(f"migspec (pid {proc.pid}) did not finish within {timeout} s") from None


def no_traceback(text: str) -> None:
    assert "Traceback" not in text, text


def last_line(text: str) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else ""


# --- the state table and the runner's backend ----------------------------------------------------

def step_state(conn: psycopg.Connection, phase: str, step: int) -> tuple[str, Any, int, int] | None:
    """(status, cursor, rows_done, attempts) of the UP of ``step`` (any plan: one plan per database)."""
    if conn.execute("SELECT to_regclass('migspec.steps')").fetchone()[0] is None:
        return None
    row = conn.execute("SELECT status, cursor, rows_done, attempts FROM migspec.steps WHERE phase = %s AND "
                       "step = %s AND direction = 'up' AND part = 0", (phase, step)).fetchone()
    return None if row is None else (row[0], row[1], row[2], row[3])


def wait_rows_done(conn: psycopg.Connection, proc: subprocess.Popen[bytes] | None, phase: str, step: int,
                   at_least: int, timeout: float = 60) -> tuple[str, Any, int, int]:
    """Poll the state table until the step's rows_done reaches ``at_least`` (committed batches)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        st = step_state(conn, phase, step)
        if st is not None and (st[2] >= at_least or st[0] == "done"):
            return st
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the runner exited ({proc.returncode}) before {at_least} rows were done: {st}")
        time.sleep(0.005)
    raise AssertionError(f"rows_done of {phase} step {step} did not reach {at_least} in {timeout} s")


def runner_pids(conn: psycopg.Connection) -> list[int]:
    return [r[0] for r in conn.execute("SELECT pid FROM pg_stat_activity WHERE application_name = %s "
                                       "AND datname = current_database()", (APP_NAME,)).fetchall()]


def wait_runner_gone(conn: psycopg.Connection, timeout: float = 20) -> None:
    """After the runner died, its backend notices the closed socket and ends (releasing the
    advisory lock and rolling back the batch in flight); wait for that before a re-run."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not runner_pids(conn):
            return
        time.sleep(0.01)
    raise AssertionError(f"the killed runner's backend is still there after {timeout} s: {runner_pids(conn)}")


# --- concurrent application writers -------------------------------------------------------------

@dataclass
class Writer:
    """One application session: inserts new rows and updates random existing rows it owns
    (rows with id % n == index, and its own inserts), each write its own autocommit transaction.

    ``committed`` maps id -> the values of the writer's last committed write to that row:
    {"customer_id": ..., "note": ...} (note only where the writer wrote it) plus "amount" for its
    inserts. It changes customer_id on any row it owns, and note only on rows with an odd amount
    (the UPDATE under test targets even amounts, so the migration never legitimately changes them).
    """

    dsn: str
    index: int
    count: int
    original_ids: int
    id_base: int = 10_000_000
    max_writes: int = 20_000
    max_seconds: float = 60.0
    pause_s: float = 0.003
    committed: dict[int, dict[str, Any]] = field(default_factory=dict)
    inserted: list[int] = field(default_factory=list)
    writes: int = 0
    errors: list[str] = field(default_factory=list)
    max_latency_s: float = 0.0
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        rnd = random.Random(1000 + self.index)
        deadline = time.monotonic() + self.max_seconds
        next_id = self.id_base + self.index * 1_000_000
        try:
            conn = psycopg.connect(self.dsn, autocommit=True, application_name=f"app writer {self.index}")
        except psycopg.Error as exc:
            self.errors.append(str(exc))
            return
        with conn:
            while not self.stop.is_set() and self.writes < self.max_writes and time.monotonic() < deadline:
                t0 = time.monotonic()
                try:
                    if rnd.random() < 0.4:
                        next_id += 1
                        values = {"customer_id": rnd.randint(1, 100), "note": f"w{self.index}-{next_id}",
                                  "amount": rnd.randint(1, 1000)}
                        conn.execute("INSERT INTO orders (id, customer_id, note, amount, code) "
                                     "VALUES (%s, %s, %s, %s, 'x1')",
                                     (next_id, values["customer_id"], values["note"], values["amount"]))
                        self.inserted.append(next_id)
                        self.committed[next_id] = values
                    else:
                        row_id = self._pick(rnd)
                        cust = rnd.randint(1, 100)
                        amount = self.committed.get(row_id, {}).get("amount", row_id)
                        if amount % 2 == 1:
                            note = f"u{self.index}-{self.writes}"
                            cur = conn.execute("UPDATE orders SET customer_id = %s, note = %s WHERE id = %s",
                                               (cust, note, row_id))
                            if cur.rowcount == 1:
                                self.committed.setdefault(row_id, {}).update(customer_id=cust, note=note)
                        else:
                            cur = conn.execute("UPDATE orders SET customer_id = %s WHERE id = %s", (cust, row_id))
                            if cur.rowcount == 1:
                                self.committed.setdefault(row_id, {}).update(customer_id=cust)
                    self.writes += 1
                except psycopg.OperationalError as exc:  # a write that failed was not committed
                    self.errors.append(str(exc).splitlines()[0])
                    if conn.broken:
                        return
                self.max_latency_s = max(self.max_latency_s, time.monotonic() - t0)
                time.sleep(self.pause_s)

    def _pick(self, rnd: random.Random) -> int:
        if self.inserted and rnd.random() < 0.2:
            return rnd.choice(self.inserted)
        while True:
            row_id = rnd.randint(1, self.original_ids)
            if row_id % self.count == self.index:
                return row_id


class Writers:
    """Start ``n`` writers in threads; ``stop()`` joins them (bounded)."""

    def __init__(self, dsn: str, n: int = 2, original_ids: int = 0, **kw: Any) -> None:
        self.writers = [Writer(dsn, i, n, original_ids, **kw) for i in range(n)]
        self.threads = [threading.Thread(target=w.run, daemon=True) for w in self.writers]

    def __enter__(self) -> Writers:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def stop(self) -> None:
        for w in self.writers:
            w.stop.set()
        for t in self.threads:
            t.join(timeout=30)
        assert not any(t.is_alive() for t in self.threads), "a writer thread did not stop"

    @property
    def writes(self) -> int:
        return sum(w.writes for w in self.writers)

    def wait_writes(self, n: int, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while self.writes < n and time.monotonic() < deadline:
            time.sleep(0.01)
        assert self.writes >= n, f"writers committed only {self.writes} writes in {timeout} s"

    def committed(self) -> dict[int, dict[str, Any]]:
        out: dict[int, dict[str, Any]] = {}
        for w in self.writers:
            out.update(w.committed)  # disjoint: each writer owns its rows
        return out


def check_writes_kept(conn: psycopg.Connection, writers: Writers, *, archived_even: bool = False) -> int:
    """Every row a writer committed is present with the writer's last values. With
    ``archived_even`` (the UPDATE ... WHERE amount % 2 = 0 under test), a row with an even amount
    may carry note 'archived' instead of the writer's note: then the backup holds the writer's note."""
    committed = writers.committed()
    ids = list(committed)
    rows = {r[0]: r[1:] for r in conn.execute("SELECT id, customer_id, note, amount FROM orders WHERE id = ANY(%s)",
                                                (ids,)).fetchall()}
    backup = {}
    if archived_even:
        backup = dict(conn.execute("SELECT id, note FROM migspec_backup.public_orders_1 WHERE id = ANY(%s)",
                                   (ids,)).fetchall())
    problems = []
    for row_id, want in committed.items():
        got = rows.get(row_id)
        if got is None:
            problems.append(f"row {row_id} written by a writer is gone")
            continue
        cust, note, amount = got
        if cust != want["customer_id"]:
            problems.append(f"row {row_id}: customer_id {cust}, writer's last write {want['customer_id']}")
        if "amount" in want and amount != want["amount"]:
            problems.append(f"row {row_id}: amount {amount}, writer wrote {want['amount']}")
        if "note" in want and note != want["note"]:
            legit = archived_even and amount % 2 == 0 and note == "archived" and backup.get(row_id) == want["note"]
            if not legit:
                problems.append(f"row {row_id}: note {note!r}, writer's last write {want['note']!r}")
    assert not problems, f"{len(problems)} application writes lost, e.g. {problems[:5]}"
    return len(committed)


# --- the catalog ----------------------------------------------------------------------------------

_USER_SCHEMAS = ("n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast', 'migspec') "
                 "AND n.nspname NOT LIKE 'pg_temp%' AND n.nspname NOT LIKE 'pg_toast_temp%'")


def catalog(conn: psycopg.Connection) -> dict[str, list[tuple[Any, ...]]]:
    """Everything a rollback must restore, in every user schema except migspec's state schema
    (migspec_backup included, except that the empty schema itself may stay):
    relations, columns (type, NOT NULL, default, identity, generated), constraints (with validity),
    indexes (with validity), triggers, functions, views, sequences."""
    q = {
        # migspec_backup is migspec's own schema, shared by every plan's backups (a DOWN drops its
        # backup table, not the schema); tables left in it do show under relations.
        "schemas": f"SELECT n.nspname FROM pg_namespace n WHERE {_USER_SCHEMAS} AND n.nspname <> 'migspec_backup' "
                   "ORDER BY 1",
        "relations": f"SELECT n.nspname, c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON "
                     f"n.oid = c.relnamespace WHERE {_USER_SCHEMAS} AND c.relkind <> 't' ORDER BY 1, 2",
        "columns": f"SELECT n.nspname, c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, "
                   "pg_get_expr(d.adbin, d.adrelid), a.attidentity, a.attgenerated FROM pg_attribute a "
                   "JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
                   "LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
                   f"WHERE {_USER_SCHEMAS} AND c.relkind IN ('r', 'v', 'm', 'p') AND a.attnum > 0 "
                   "AND NOT a.attisdropped ORDER BY 1, 2, 3",
        "constraints": f"SELECT n.nspname, co.conrelid::regclass::text, co.conname, pg_get_constraintdef(co.oid), "
                       "co.convalidated FROM pg_constraint co JOIN pg_namespace n ON n.oid = co.connamespace "
                       f"WHERE {_USER_SCHEMAS} ORDER BY 1, 2, 3",
        "indexes": "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid), i.indisvalid, i.indisready "
                   "FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON "
                   f"n.oid = c.relnamespace WHERE {_USER_SCHEMAS} ORDER BY 1",
        "triggers": "SELECT t.tgrelid::regclass::text, t.tgname, pg_get_triggerdef(t.oid), t.tgenabled "
                    "FROM pg_trigger t "
                    "JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
                    f"WHERE NOT t.tgisinternal AND {_USER_SCHEMAS} ORDER BY 1, 2",
        "functions": "SELECT n.nspname, p.proname, pg_get_function_identity_arguments(p.oid), md5(p.prosrc) "
                     f"FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE {_USER_SCHEMAS} "
                     "ORDER BY 1, 2, 3",
        "views": "SELECT n.nspname, c.relname, pg_get_viewdef(c.oid) FROM pg_class c JOIN pg_namespace n "
                 f"ON n.oid = c.relnamespace WHERE c.relkind IN ('v', 'm') AND {_USER_SCHEMAS} ORDER BY 1, 2",
    }
    return {k: conn.execute(v).fetchall() for k, v in q.items()}


def diff(before: dict[str, list[tuple[Any, ...]]], after: dict[str, list[tuple[Any, ...]]]) -> str:
    out = []
    for k in before:
        b, a = set(before[k]), set(after.get(k, []))
        if b != a:
            out.append(f"{k}: missing {sorted(b - a, key=repr)}; extra {sorted(a - b, key=repr)}")
    return "\n".join(out)


def migspec_state(conn: psycopg.Connection) -> list[tuple[Any, ...]] | None:
    """The state table's rows (None: migspec never wrote to this database)."""
    if conn.execute("SELECT to_regnamespace('migspec')").fetchone()[0] is None:
        return None
    if conn.execute("SELECT to_regclass('migspec.steps')").fetchone()[0] is None:
        return []
    return conn.execute("SELECT plan_sha256, phase, step, direction, status, cursor::text, rows_done, attempts "
                        "FROM migspec.steps ORDER BY 1, 2, 3, 4").fetchall()

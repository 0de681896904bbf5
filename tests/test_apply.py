"""The executor on a real server: approve -> apply expand/migrate/contract -> rollback
contract/migrate/expand restores the catalog and the rows for each of the planner's rewrites;
refusals (unapproved, tampered, unconfirmed destructive step) execute nothing; a finished phase
re-applied does nothing; two applies of one plan cannot overlap; --dry-run executes nothing.

Fault injection (SIGKILL, pg_terminate_backend, SIGTERM, lock holders) is in test_apply_faults.py.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from helpers_apply import (catalog, diff, last_line, make_plan, migspec, migspec_inproc, migspec_state, no_traceback,
                           plan_steps, setup_sql, start_migspec, stats, step_state, wait_exit)
from migspec.execute import state
from migspec.execute.apply import ApplyOptions, _advisory_key, apply_phase, rollback_phase
from migspec.execute.approval import approve
from migspec.planfile import load as load_plan

ROWS = 5000

CASES = {
    "add-column-volatile-not-null": "ALTER TABLE orders ADD COLUMN token uuid NOT NULL DEFAULT gen_random_uuid();",
    "set-not-null": "ALTER TABLE orders ALTER COLUMN customer_id SET NOT NULL;",
    "foreign-key": "ALTER TABLE orders ADD CONSTRAINT orders_customer_fk FOREIGN KEY (customer_id) "
                   "REFERENCES customers (id);",
    "unique": "ALTER TABLE orders ADD CONSTRAINT orders_created_key UNIQUE (created_at);",
    "rename-column": "ALTER TABLE orders RENAME COLUMN note TO remark;",
    "rename-table": "ALTER TABLE customers RENAME TO clients;",
    "retype-int-bigint": "ALTER TABLE orders ALTER COLUMN amount TYPE bigint;",
    "update": "UPDATE orders SET note = 'archived' WHERE amount % 2 = 0;",
    "delete": "DELETE FROM orders WHERE amount > 4000;",
    "drop-column": "ALTER TABLE orders DROP COLUMN note;",
    "create-index": "CREATE INDEX orders_created_idx ON orders (created_at);",
}

ROW_QUERIES = {
    "orders": "SELECT id, customer_id, note, amount, code, created_at FROM orders ORDER BY id",
    "customers": "SELECT id, name FROM customers ORDER BY id",
    "tags": "SELECT id, label FROM tags ORDER BY id",
}


def _rows(conn: psycopg.Connection) -> dict[str, list[tuple[Any, ...]]]:
    with conn.transaction():
        return {k: conn.execute(v).fetchall() for k, v in ROW_QUERIES.items()}


def _rows_or_none(conn: psycopg.Connection) -> dict[str, list[tuple[Any, ...]]] | None:
    try:
        return _rows(conn)
    except (psycopg.errors.UndefinedColumn, psycopg.errors.UndefinedTable):
        return None  # UP renamed or dropped what they live in


def _approved(plan_path: Path, *, confirm_all: bool = True):  # type: ignore[no-untyped-def]
    doc = json.loads(plan_path.read_text())
    targets = tuple(c["target"] for c in doc.get("confirmations_required", [])) if confirm_all else ()
    approve(load_plan(plan_path), by="test", confirm=targets)
    return load_plan(plan_path)


def _views_and_functions_work(conn: psycopg.Connection) -> None:
    conn.execute("SELECT count(*) FROM big_orders").fetchone()
    conn.execute("SELECT count(*) FROM customer_names").fetchone()
    conn.execute("SELECT order_total()").fetchone()


@pytest.mark.parametrize("case", sorted(CASES))
def test_apply_then_rollback_each_phase_restores_catalog_and_rows(case: str, pg, pg_dsn: str, pg_server,
                                                                  tmp_path: Path) -> None:
    pg.execute(setup_sql(ROWS))
    plan_path = make_plan(CASES[case], server=pg_server, dsn=pg_dsn, out=tmp_path / "plan.json",
                          stats_doc=stats(rows=3000, batch_rows=1000))
    plan = _approved(plan_path)
    log: list[str] = []
    before, rows = catalog(pg), _rows(pg)
    phases = [p for p in ("expand", "migrate", "contract") if plan_steps(plan_path, p)]
    assert phases, "the plan has no steps"

    for phase in phases:
        assert apply_phase(plan, pg_dsn, ApplyOptions(phase), log.append) == len(plan_steps(plan_path, phase))
    after_up = catalog(pg)
    assert (after_up, _rows_or_none(pg)) != (before, rows), "apply changed nothing"
    for phase in phases:
        st = migspec_state(pg)
        assert apply_phase(plan, pg_dsn, ApplyOptions(phase), log.append) == 0, "a finished phase ran again"
        assert migspec_state(pg) == st and catalog(pg) == after_up

    for phase in reversed(phases):
        assert rollback_phase(plan, pg_dsn, ApplyOptions(phase), log.append) == len(plan_steps(plan_path, phase))
    assert not diff(before, catalog(pg)), diff(before, catalog(pg))
    assert _rows(pg) == rows
    _views_and_functions_work(pg)
    assert [r for r in migspec_state(pg) or [] if r[3] == "up"] == [], "rolled-back steps still marked applied"

    # The state the rollback left lets the plan run again from the start, to the same catalog.
    for phase in phases:
        assert apply_phase(plan, pg_dsn, ApplyOptions(phase), log.append) == len(plan_steps(plan_path, phase))
    assert not diff(after_up, catalog(pg)), diff(after_up, catalog(pg))


MIXED = ("ALTER TABLE orders ADD COLUMN token uuid NOT NULL DEFAULT gen_random_uuid();\n"
         "UPDATE orders SET note = 'x%y' WHERE amount % 2 = 0;\n"
         "ALTER TABLE orders RENAME COLUMN code TO kode;\n")


@pytest.fixture
def mixed_plan(pg, pg_dsn: str, pg_server, tmp_path: Path) -> Path:
    pg.execute(setup_sql(ROWS))
    return make_plan(MIXED, server=pg_server, dsn=pg_dsn, out=tmp_path / "plan.json",
                     stats_doc=stats(rows=3000, batch_rows=1000))


def test_cli_full_cycle_rerun_is_a_no_op(mixed_plan: Path, pg, pg_dsn: str) -> None:
    """Through the CLI: every phase, each re-run reports 0 steps and changes nothing (not even the
    state table's attempts); then every rollback; the catalog and rows are the starting ones."""
    before, rows = catalog(pg), _rows(pg)
    r = migspec("approve", str(mixed_plan), "--by", "reviewer", "--confirm", "orders.code")
    assert r.returncode == 0, r.stderr
    for phase in ("expand", "migrate", "contract"):
        r = migspec("apply", str(mixed_plan), "--dsn", pg_dsn, "--phase", phase)
        assert r.returncode == 0, r.stderr
        no_traceback(r.stderr)
        st, cat = migspec_state(pg), catalog(pg)
        again = migspec_inproc("apply", str(mixed_plan), "--dsn", pg_dsn, "--phase", phase)
        assert again.returncode == 0, again.stderr
        assert f"{phase}: done (0 step(s) run now)" in again.stderr
        assert migspec_state(pg) == st and catalog(pg) == cat
    assert pg.execute("SELECT count(*) FILTER (WHERE token IS NULL), count(*) FILTER (WHERE note = 'x%y') "
                      "FROM orders").fetchone() == (0, ROWS // 2)
    for phase in ("contract", "migrate", "expand"):
        r = migspec("rollback", str(mixed_plan), "--dsn", pg_dsn, "--phase", phase)
        assert r.returncode == 0, r.stderr
    assert not diff(before, catalog(pg)), diff(before, catalog(pg))
    assert _rows(pg) == rows


def test_refusals_execute_nothing(mixed_plan: Path, pg, pg_dsn: str) -> None:
    """Unapproved, tampered (bytes changed after approve) and a contract phase whose destructive
    step the approval did not confirm: exit 3, one clear line, and neither the catalog nor the
    migspec schema/state changes."""
    def refused(phase: str, expect: str, commands: tuple[str, ...] = ("apply", "rollback")) -> None:
        cat, st = catalog(pg), migspec_state(pg)
        for command in commands:
            r = migspec_inproc(command, str(mixed_plan), "--dsn", pg_dsn, "--phase", phase)
            assert r.returncode == 3, (command, r.stderr)
            no_traceback(r.stderr)
            assert r.stderr.strip().count("\n") == 0 and expect in r.stderr, r.stderr
        assert catalog(pg) == cat and migspec_state(pg) == st

    # 1. never approved (once through a real process: its exit code)
    r = migspec("apply", str(mixed_plan), "--dsn", pg_dsn, "--phase", "expand")
    assert r.returncode == 3 and "not approved" in r.stderr and r.stderr.count("\n") == 1, r.stderr
    refused("expand", "not approved")
    assert migspec_state(pg) is None, "migspec touched the database"

    # 2. approved, then changed: one statement edited, or one trailing byte added
    assert migspec_inproc("approve", str(mixed_plan), "--by", "reviewer").returncode == 0
    original = mixed_plan.read_bytes()
    mixed_plan.write_bytes(original.replace(b"DROP COLUMN IF EXISTS", b"DROP COLUMN  IF EXISTS", 1))
    assert mixed_plan.read_bytes() != original
    refused("expand", "changed since it was approved")
    assert migspec_state(pg) is None
    mixed_plan.write_bytes(original + b" ")
    refused("expand", "changed since it was approved", ("apply",))

    # 3. approved without --confirm: expand and migrate run, contract (drops code) is refused
    mixed_plan.write_bytes(original)
    for phase in ("expand", "migrate"):
        r = migspec_inproc("apply", str(mixed_plan), "--dsn", pg_dsn, "--phase", phase)
        assert r.returncode == 0, r.stderr
    refused("contract", "did not confirm: public.orders.code", ("apply",))
    assert pg.execute("SELECT count(*) FROM information_schema.columns WHERE table_name = 'orders' "
                      "AND column_name = 'code'").fetchone()[0] == 1

    # tampering after part of the plan ran is refused as well
    mixed_plan.write_bytes(original.replace(b'"manual": true', b'"manual": false', 1))
    refused("migrate", "changed since it was approved")
    refused("contract", "changed since it was approved", ("apply",))
    mixed_plan.write_bytes(original)

    # once confirmed, contract runs
    assert migspec_inproc("approve", str(mixed_plan), "--by", "reviewer", "--confirm", "orders.code").returncode == 0
    r = migspec_inproc("apply", str(mixed_plan), "--dsn", pg_dsn, "--phase", "contract")
    assert r.returncode == 0, r.stderr


def test_dry_run_executes_nothing(mixed_plan: Path, pg, pg_dsn: str) -> None:
    assert migspec_inproc("approve", str(mixed_plan), "--by", "reviewer", "--confirm", "orders.code").returncode == 0
    cat = catalog(pg)
    r = migspec("apply", str(mixed_plan), "--dsn", pg_dsn, "--phase", "migrate", "--dry-run")
    assert r.returncode == 0 and "[dry-run]" in r.stderr, r.stderr
    for command in ("apply", "rollback"):
        for phase in ("expand", "migrate", "contract"):
            for dsn in ((), ("--dsn", pg_dsn)):
                r = migspec_inproc(command, str(mixed_plan), *dsn, "--phase", phase, "--dry-run")
                assert r.returncode == 0, r.stderr
                assert "[dry-run]" in r.stderr
    assert catalog(pg) == cat
    assert migspec_state(pg) is None, "--dry-run wrote migspec's state"
    # the dry run printed what a real run executes: the backfill and the guarded DDL
    r = migspec_inproc("apply", str(mixed_plan), "--phase", "migrate", "--dry-run")
    assert "batched" in r.stderr and "UPDATE" in r.stderr
    r = migspec_inproc("apply", str(mixed_plan), "--phase", "expand", "--dry-run")
    assert "SET LOCAL lock_timeout" in r.stderr


def test_second_concurrent_apply_is_refused(mixed_plan: Path, pg, pg_dsn: str, tmp_path: Path) -> None:
    """The first apply holds the plan's advisory lock (kept waiting by its own throttle check);
    a second apply or rollback of the same plan is refused with exit 3 and changes nothing."""
    assert migspec("approve", str(mixed_plan), "--by", "reviewer", "--confirm", "orders.code").returncode == 0
    assert migspec("apply", str(mixed_plan), "--dsn", pg_dsn, "--phase", "expand").returncode == 0
    pg.execute("CREATE TABLE pause_flag (x int); INSERT INTO pause_flag VALUES (1)")
    first = start_migspec("apply", str(mixed_plan), "--dsn", pg_dsn, "--phase", "migrate", "--throttle-sql",
                          "SELECT NOT EXISTS (SELECT 1 FROM public.pause_flag)", log=tmp_path / "first.log")
    try:
        deadline = time.monotonic() + 30
        while step_state(pg, "migrate", 1) is None:  # the first run is inside the backfill step
            assert first.poll() is None, (tmp_path / "first.log").read_text()
            assert time.monotonic() < deadline, "the first apply did not start its backfill"
            time.sleep(0.02)
        st = migspec_state(pg)
        for command in ("apply", "rollback"):
            r = migspec(command, str(mixed_plan), "--dsn", pg_dsn, "--phase", "migrate")
            assert r.returncode == 3, r.stderr
            assert "is running (advisory lock held)" in last_line(r.stderr)
            no_traceback(r.stderr)
        assert migspec_state(pg) == st
        assert pg.execute("SELECT count(*) FROM orders WHERE token IS NULL").fetchone()[0] == ROWS
    finally:
        pg.execute("DELETE FROM pause_flag")
    assert wait_exit(first, 60) == 0, (tmp_path / "first.log").read_text()
    assert "throttled: throttle check returned false" in (tmp_path / "first.log").read_text()
    assert pg.execute("SELECT count(*) FROM orders WHERE token IS NULL").fetchone()[0] == 0



@pytest.mark.parametrize("command", ["apply", "rollback"])
def test_the_plan_lock_of_a_session_that_is_ending_does_not_refuse_the_next_run(command: str, mixed_plan: Path, pg,
                                                                                 pg_dsn: str) -> None:
    """A session's advisory lock goes when the server ends its backend, a moment after the client
    closed (or died): the apply or rollback right after it waits for that instead of refusing as
    'another apply is running' (the diff corpus' back-to-back runs were refused now and then under
    load; on a real server 1-10 of 500 tries right after the holder's close() found the lock held).
    The ending session here holds the plan's lock and closes 0.3 s after the run started. The run
    releases the lock itself before closing: the next session takes it at once."""
    assert migspec("approve", str(mixed_plan), "--by", "reviewer", "--confirm", "orders.code").returncode == 0
    if command == "rollback":
        assert migspec_inproc("apply", str(mixed_plan), "--dsn", pg_dsn, "--phase", "expand").returncode == 0
    key = _advisory_key(load_plan(mixed_plan))
    holder = psycopg.connect(pg_dsn, autocommit=True)
    assert holder.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()[0]
    ending = threading.Timer(0.3, holder.close)
    ending.start()
    try:
        r = migspec_inproc(command, str(mixed_plan), "--dsn", pg_dsn, "--phase", "expand")
    finally:
        ending.join()
        holder.close()
    assert r.returncode == 0, r.stderr
    assert pg.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()[0], "the run left its lock held"
    pg.execute("SELECT pg_advisory_unlock(%s)", (key,))

def test_simultaneous_first_applies_one_runs_the_other_waits_or_is_refused(mixed_plan: Path, pg,
                                                                          pg_dsn: str, tmp_path: Path) -> None:
    """Two applies started at the same moment on a database migspec never touched: no traceback
    (the state schema is created once), each step runs once."""
    assert migspec("approve", str(mixed_plan), "--by", "reviewer").returncode == 0
    procs = [start_migspec("apply", str(mixed_plan), "--dsn", pg_dsn, "--phase", "expand",
                           log=tmp_path / f"{i}.log") for i in range(2)]
    codes = [wait_exit(p, 60) for p in procs]
    logs = [(tmp_path / f"{i}.log").read_text() for i in range(2)]
    for text in logs:
        no_traceback(text)
    assert sorted(codes) in ([0, 0], [0, 3]), (codes, logs)
    if 3 in codes:
        assert "advisory lock held" in logs[codes.index(3)]
    rows = migspec_state(pg)
    assert rows and all(r[4] == "done" and r[7] == 1 for r in rows), rows


def test_state_schema_creation_is_safe_under_concurrency(pg, pg_dsn: str) -> None:
    """state.ensure from several sessions at once on a fresh database: CREATE SCHEMA/TABLE IF NOT
    EXISTS alone race (unique violation on pg_namespace); ensure serializes them."""
    conns = [psycopg.connect(pg_dsn, autocommit=True) for _ in range(3)]
    try:
        for _ in range(5):
            pg.execute("DROP SCHEMA IF EXISTS migspec CASCADE")
            barrier, errors = threading.Barrier(len(conns)), []

            def go(c: psycopg.Connection) -> None:
                barrier.wait(timeout=10)
                try:
                    state.ensure(c)
                except psycopg.Error as exc:
                    errors.append(f"{type(exc).__name__}: {exc}")
            threads = [threading.Thread(target=go, args=(c,)) for c in conns]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=20)
            assert not errors, errors
            assert migspec_state(pg) == []
    finally:
        for c in conns:
            c.close()


def test_retype_of_a_column_a_view_reads_is_refused(pg, pg_dsn: str, pg_server, tmp_path: Path) -> None:
    """A view binds the column itself: after the swap it would read the stale old column and block
    its drop (SQLSTATE 2BP01, seen here on PG15). The planner refuses instead, naming the view."""
    from migspec.errors import RefusedError

    pg.execute(setup_sql(ROWS))
    pg.execute("CREATE VIEW amounts AS SELECT id, amount FROM orders")
    with pytest.raises(RefusedError, match="public.amounts"):
        make_plan(CASES["retype-int-bigint"], server=pg_server, dsn=pg_dsn, out=tmp_path / "plan.json",
                  stats_doc=stats(rows=3000, batch_rows=1000))


QUOTED_SETUP = """
CREATE SCHEMA "Sales Ops";
CREATE TABLE "Sales Ops"."Order Items" (
    "ID" bigint, "Line" integer, "select" text, "naïve" integer NOT NULL DEFAULT 1,
    PRIMARY KEY ("ID", "Line"));
INSERT INTO "Sales Ops"."Order Items" SELECT g, l, 's' || g || '/' || l, g FROM generate_series(1, 1500) g,
       generate_series(1, 2) l;
"""
QUOTED_TABLE = '"Sales Ops"."Order Items"'
QUOTED_DATA = {
    "update": (f"UPDATE {QUOTED_TABLE} SET \"select\" = 'x%' || \"Line\" WHERE \"naïve\" % 3 = 0;", 1000),
    "delete": (f"DELETE FROM {QUOTED_TABLE} WHERE \"naïve\" % 5 = 0;", 600),
}


@pytest.mark.parametrize("verb", sorted(QUOTED_DATA))
def test_batched_data_change_quoted_names_composite_key(verb: str, pg, pg_dsn: str, pg_server,
                                                       tmp_path: Path) -> None:
    """The batched UPDATE/DELETE with its backup on a composite key, names that need quoting and a
    user's '%': the right rows change, each old row saved once, rollback puts them back."""
    pg.execute(QUOTED_SETUP)
    sql, changed = QUOTED_DATA[verb]
    doc = stats(rows=1000, batch_rows=500)
    doc["tables"] = {QUOTED_TABLE: doc["tables"]["public.orders"]}
    plan_path = make_plan(sql, server=pg_server, dsn=pg_dsn, out=tmp_path / "plan.json", stats_doc=doc)
    assert any(s["backfill"] and s["backfill"]["backup"] for s in plan_steps(plan_path, "migrate"))
    plan = _approved(plan_path)
    rows_sql = f'SELECT * FROM {QUOTED_TABLE} ORDER BY "ID", "Line"'
    before, rows = catalog(pg), pg.execute(rows_sql).fetchall()
    log: list[str] = []
    for phase in ("expand", "migrate"):
        apply_phase(plan, pg_dsn, ApplyOptions(phase), log.append)
    after = pg.execute(rows_sql).fetchall()
    if verb == "update":
        assert after == [(i, ln, f"x%{ln}" if n % 3 == 0 else s, n) for i, ln, s, n in rows]
    else:
        assert after == [r for r in rows if r[3] % 5 != 0]
    backup = pg.execute('SELECT count(*), count(DISTINCT ("ID", "Line")) '
                        'FROM migspec_backup."Sales Ops_Order Items_1"').fetchone()
    assert backup == (changed, changed)
    assert step_state(pg, "migrate", 1)[2] == changed
    for phase in ("migrate", "expand"):
        rollback_phase(plan, pg_dsn, ApplyOptions(phase), log.append)
    assert pg.execute(rows_sql).fetchall() == rows
    assert not diff(before, catalog(pg)), diff(before, catalog(pg))

"""Fault injection on a real server while application writers keep inserting and updating rows:
SIGKILL of the runner at random points of a 200k-row backfill, pg_terminate_backend of its
session, SIGTERM, a session holding a conflicting lock during an ACCESS EXCLUSIVE step, and an
application transaction holding a row lock the batch needs.

After each: the table equals a reference computed independently, no application write is lost,
no batch was applied twice in a way that changes data, and the state table says done.
Waits poll the state table (committed batches), never sleep blindly; every loop is bounded.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import threading
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from helpers_apply import (Writers, backfill_step, check_writes_kept, last_line, make_plan, migspec, migspec_inproc,
                           no_traceback, original_note, plan_steps, runner_pids, setup_sql, start_migspec, stats,
                           step_state, wait_exit, wait_rows_done, wait_runner_gone)
from migspec.execute.apply import ApplyOptions, apply_phase, rollback_phase
from migspec.execute.guard import RetryPolicy, StepFailed
from migspec.execute.approval import approve
from migspec.planfile import load as load_plan

BIG = 200_000
ADD_TOKEN = "ALTER TABLE orders ADD COLUMN token uuid NOT NULL DEFAULT gen_random_uuid();"
ARCHIVE_EVEN = "UPDATE orders SET note = 'archived' WHERE amount % 2 = 0;"
BACKUP = "migspec_backup.public_orders_1"
RESUME = re.compile(r"resuming \S+ after key \[(\d+)\] \(([\d,]+) rows already done\)")
OBSERVED: dict[str, Any] = {}  # what each fault test saw, printed at the end (pytest -s) for the record


def _record(name: str, **facts: Any) -> None:
    OBSERVED[name] = facts
    print(f"\n[{name}] " + json.dumps(facts, default=str))


def _prepare(pg: psycopg.Connection, pg_server: Any, pg_dsn: str, tmp_path: Path, sql: str, rows: int,
             **stats_kw: Any) -> tuple[Path, int]:
    """The table, the plan (planned batch 1,000 rows: the runner adapts it to 250..4,000), approved
    through the CLI, expand applied. Returns the plan and the migrate backfill step's number."""
    pg.execute(setup_sql(rows))
    plan = make_plan(sql, server=pg_server, dsn=pg_dsn, out=tmp_path / "plan.json",
                     stats_doc=stats(rows=1000, batch_rows=500, **stats_kw))
    step = backfill_step(plan, "migrate")
    assert plan_steps(plan, "migrate")[step - 1]["backfill"]["batch_size"] == 1000
    r = migspec("approve", str(plan), "--by", "reviewer")
    assert r.returncode == 0, r.stderr
    r = migspec("apply", str(plan), "--dsn", pg_dsn, "--phase", "expand")
    assert r.returncode == 0, r.stderr
    return plan, step


def _apply_migrate(plan: Path, dsn: str, log: Path):  # type: ignore[no-untyped-def]
    return start_migspec("apply", str(plan), "--dsn", dsn, "--phase", "migrate", log=log)


# --- what the final table must be ----------------------------------------------------------------

def _check_original_rows(pg: psycopg.Connection, writers: Writers, n: int, *, archived_even: bool) -> None:
    """The reference for rows 1..n, computed here: amount = id, code = 'x' || id % 10, customer_id
    the writer's last value else 1 + id % 100, note 'archived' for even ids under the UPDATE, else the
    writer's last note, else the original one."""
    committed = writers.committed()
    bad = []
    for row_id, cust, note, amount, code in pg.execute(
            "SELECT id, customer_id, note, amount, code FROM orders WHERE id <= %s ORDER BY id", (n,)):
        w = committed.get(row_id, {})
        want_note = "archived" if archived_even and row_id % 2 == 0 else w.get("note", original_note(row_id))
        want = (w.get("customer_id", 1 + row_id % 100), want_note, row_id, f"x{row_id % 10}")
        if (cust, note, amount, code) != want:
            bad.append((row_id, (cust, note, amount, code), want))
    count = pg.execute("SELECT count(*) FROM orders WHERE id <= %s", (n,)).fetchone()[0]
    assert count == n and not bad, f"{count} of {n} original rows; {len(bad)} differ from the reference: {bad[:5]}"


def _check_token_backfill(pg: psycopg.Connection, writers: Writers, n: int, snapshots: list[str]) -> None:
    assert pg.execute("SELECT count(*) FROM orders WHERE token IS NULL").fetchone()[0] == 0
    total, distinct = pg.execute("SELECT count(*), count(DISTINCT token) FROM orders").fetchone()
    assert total == distinct, "two rows share a token"
    assert pg.execute("SELECT attnotnull, pg_get_expr(d.adbin, d.adrelid) FROM pg_attribute a JOIN pg_attrdef d "
                      "ON d.adrelid = a.attrelid AND d.adnum = a.attnum WHERE a.attrelid = 'orders'::regclass "
                      "AND a.attname = 'token'").fetchone() == (True, "gen_random_uuid()")
    # A token, once committed, never changes: no batch was applied a second time.
    for snap in snapshots:
        changed = pg.execute(f"SELECT count(*) FROM {snap} s LEFT JOIN orders o USING (id) "
                             "WHERE o.token IS DISTINCT FROM s.token").fetchone()[0]
        assert changed == 0, f"{changed} tokens committed before a kill were rewritten ({snap})"
    _check_original_rows(pg, writers, n, archived_even=False)
    check_writes_kept(pg, writers)


def _check_archive(pg: psycopg.Connection, writers: Writers, n: int, snapshots: list[str]) -> int:
    """The UPDATE's target rows carry the new value; the backup holds exactly the old values of
    exactly the rows the UPDATE changed, once each. Returns the backup's row count."""
    count, distinct = pg.execute(f"SELECT count(*), count(DISTINCT id) FROM {BACKUP}").fetchone()
    assert count == distinct
    # every original even row changed, its original note saved; no odd row saved
    wrong = pg.execute(f"SELECT count(*) FROM {BACKUP} WHERE id <= %s AND (id %% 2 <> 0 OR note IS DISTINCT FROM "
                       "CASE WHEN id %% 7 = 0 THEN NULL ELSE 'n' || id END)", (n,)).fetchone()[0]
    assert wrong == 0, f"{wrong} backup rows are not an original even row's old note"
    assert pg.execute(f"SELECT count(*) FROM {BACKUP} WHERE id <= %s", (n,)).fetchone()[0] == n // 2
    # changed rows <=> saved rows
    unsaved = pg.execute(f"SELECT array_agg(id) FROM orders o WHERE note = 'archived' AND NOT EXISTS "
                         f"(SELECT 1 FROM {BACKUP} b WHERE b.id = o.id)").fetchone()[0]
    assert not unsaved, f"rows changed by the UPDATE without their old value saved (the DOWN loses them): {unsaved}"
    unchanged = pg.execute(f"SELECT array_agg(b.id) FROM {BACKUP} b LEFT JOIN orders o USING (id) "
                           "WHERE o.note IS DISTINCT FROM 'archived'").fetchone()[0]
    assert not unchanged, f"rows saved in the backup but not changed: {unchanged}"
    for snap in snapshots:  # the old values saved before a kill were never overwritten
        changed = pg.execute(f"SELECT count(*) FROM {snap} s LEFT JOIN {BACKUP} b USING (id) "
                             "WHERE b.id IS NULL OR b.note IS DISTINCT FROM s.note").fetchone()[0]
        assert changed == 0, f"{changed} backup rows saved before a kill changed ({snap})"
    _check_original_rows(pg, writers, n, archived_even=True)
    check_writes_kept(pg, writers, archived_even=True)
    return count


def _snapshot(pg: psycopg.Connection, name: str, archive: bool) -> str:
    pg.execute("CREATE SCHEMA IF NOT EXISTS check_snap")
    source = f"SELECT id, note FROM {BACKUP}" if archive else "SELECT id, token FROM orders WHERE token IS NOT NULL"
    pg.execute(f"CREATE TABLE check_snap.{name} AS {source}")
    return f"check_snap.{name}"


def _resumed_from(log: Path) -> tuple[int, int] | None:
    m = RESUME.search(log.read_text())
    return (int(m[1]), int(m[2].replace(",", ""))) if m else None


# --- 1. SIGKILL at random points of a 200k-row backfill -----------------------------------------

@pytest.mark.parametrize("case", ["add-column-volatile-not-null", "update-with-backup"])
def test_sigkill_at_random_points_resumes_exactly_once(case: str, pg, pg_dsn: str, pg_server,
                                                       tmp_path: Path) -> None:
    archive = case == "update-with-backup"
    plan, step = _prepare(pg, pg_server, pg_dsn, tmp_path, ARCHIVE_EVEN if archive else ADD_TOKEN, BIG)
    expected = BIG // 2 if archive else BIG  # rows the backfill changes (writers' rows: see below)
    seed = random.randrange(2**32)
    rnd = random.Random(seed)
    kill_at = sorted(rnd.sample(range(5, 85, 5), 4))  # percent of the rows, 5 points apart (> 1 batch)
    kills: list[dict[str, Any]] = []
    snapshots: list[str] = []
    with Writers(pg_dsn, 2, BIG, max_seconds=90) as writers:
        writers.wait_writes(40)
        for k, pct in enumerate(kill_at):
            log = tmp_path / f"run{k}.log"
            proc = _apply_migrate(plan, pg_dsn, log)
            # at least one batch more than the last run committed: this run made progress
            target = max(expected * pct // 100, kills[-1]["rows_done_at_kill"] + 1 if kills else 1)
            seen = wait_rows_done(pg, proc, "migrate", step, target)
            assert seen[0] == "running", f"seed {seed}: the backfill finished before kill {k}"
            # what the runner's session was doing (a batch in flight, or between batches)
            doing = pg.execute("SELECT state || ': ' || left(query, 30) FROM pg_stat_activity "
                               "WHERE application_name = 'migspec apply'").fetchone()
            os.kill(proc.pid, signal.SIGKILL)
            assert wait_exit(proc, 30) == -signal.SIGKILL
            wait_runner_gone(pg)  # its backend rolled back the batch in flight and released the lock
            after = step_state(pg, "migrate", step)
            assert after is not None and after[0] == "running"
            snapshots.append(_snapshot(pg, f"k{k}", archive))
            kills.append({"pct": pct, "rows_done_seen": seen[2], "rows_done_at_kill": after[2],
                          "cursor_at_kill": after[1], "runner_was": doing[0] if doing else None, "log": log})
        final_log = tmp_path / "final.log"
        final = _apply_migrate(plan, pg_dsn, final_log)
        assert wait_exit(final, 120) == 0, final_log.read_text()
        writers.wait_writes(writers.writes + 20)  # they kept writing through the whole backfill
    text = final_log.read_text()
    no_traceback(text)
    assert "migrate: done" in text

    # Each re-run resumed exactly at the checkpoint the killed run had committed: committed
    # batches were not redone; only the uncommitted batch in flight (rolled back) was.
    for k, kill in enumerate(kills):
        nxt = kills[k + 1]["log"] if k + 1 < len(kills) else final_log
        assert _resumed_from(nxt) == (kill["cursor_at_kill"][0], kill["rows_done_at_kill"]), (seed, kill)

    st = step_state(pg, "migrate", step)
    assert st is not None and st[0] == "done" and st[3] == len(kill_at) + 1, st
    if archive:
        saved = _check_archive(pg, writers, BIG, snapshots)
        assert st[2] == saved, f"rows_done {st[2]} != rows changed and saved {saved}"
        assert expected <= saved <= expected + len(writers.committed())
    else:
        _check_token_backfill(pg, writers, BIG, snapshots)
        assert st[2] == expected, f"rows_done {st[2]}: the backfill counted {st[2] - expected:+} rows"
    assert all(r[0] == "done" for r in pg.execute("SELECT status FROM migspec.steps WHERE phase = 'migrate'"))
    _record(f"sigkill {case}", seed=seed, kills=[{k: v for k, v in x.items() if k != "log"} for x in kills],
            final_rows_done=st[2], runs=st[3], app_writes=writers.writes,
            max_app_write_latency_s=round(max(w.max_latency_s for w in writers.writers), 3),
            writer_errors=[e for w in writers.writers for e in w.errors][:3])


# --- 2. pg_terminate_backend of the runner's session ------------------------------------------------

def test_terminated_backend_stops_resumably(pg, pg_dsn: str, pg_server, tmp_path: Path) -> None:
    n = 100_000
    plan, step = _prepare(pg, pg_server, pg_dsn, tmp_path, ADD_TOKEN, n)
    with Writers(pg_dsn, 2, n, max_seconds=60) as writers:
        writers.wait_writes(40)
        log = tmp_path / "run.log"
        proc = _apply_migrate(plan, pg_dsn, log)
        wait_rows_done(pg, proc, "migrate", step, 20_000)
        pids = runner_pids(pg)
        assert len(pids) == 1, pids
        assert pg.execute("SELECT pg_terminate_backend(%s)", (pids[0],)).fetchone()[0]
        code = wait_exit(proc, 30)
        text = log.read_text()
        st = step_state(pg, "migrate", step)
        rerun_log = tmp_path / "rerun.log"
        rerun = _apply_migrate(plan, pg_dsn, rerun_log)
        assert wait_exit(rerun, 60) == 0, rerun_log.read_text()
    no_traceback(text)
    assert code == 4, text
    errors = [ln for ln in text.splitlines() if ln.startswith("migspec:")]
    assert len(errors) == 1 and errors[0] == last_line(text), text
    assert "lost the connection to the server" in errors[0] and "re-run" in errors[0], errors[0]
    assert st is not None and st[0] == "running" and st[2] >= 20_000
    assert _resumed_from(rerun_log) == (st[1][0], st[2])
    final = step_state(pg, "migrate", step)
    assert final is not None and final[0] == "done" and final[2] == n
    _check_token_backfill(pg, writers, n, [])
    _record("pg_terminate_backend", exit_code=code, message=errors[0], rows_done_at_stop=st[2],
            resumed_after_key=st[1], final_rows_done=final[2], app_writes=writers.writes)


# --- 3. SIGTERM: finish the batch, stop resumably -------------------------------------------------------

def test_sigterm_finishes_the_batch_and_stops_resumably(pg, pg_dsn: str, pg_server, tmp_path: Path) -> None:
    n = 100_000
    plan, step = _prepare(pg, pg_server, pg_dsn, tmp_path, ARCHIVE_EVEN, n)
    with Writers(pg_dsn, 2, n, max_seconds=60) as writers:
        writers.wait_writes(40)
        log = tmp_path / "run.log"
        proc = _apply_migrate(plan, pg_dsn, log)
        seen = wait_rows_done(pg, proc, "migrate", step, 10_000)
        os.kill(proc.pid, signal.SIGTERM)
        code = wait_exit(proc, 30)
        text = log.read_text()
        st = step_state(pg, "migrate", step)
        rerun_log = tmp_path / "rerun.log"
        rerun = _apply_migrate(plan, pg_dsn, rerun_log)
        assert wait_exit(rerun, 60) == 0, rerun_log.read_text()
    no_traceback(text)
    assert code == 130, text
    assert "signal 15: finishing the current batch" in text
    stopped = re.search(r"^migspec: stopped after (\d+) batches at key \[(\d+)\]; re-run to continue$", text, re.M)
    assert stopped and stopped[0] == last_line(text), text
    # the batch running when the signal came was committed with its checkpoint
    assert st is not None and st[0] == "running" and st[1] == [int(stopped[2])] and st[2] >= seen[2]
    assert _resumed_from(rerun_log) == (st[1][0], st[2])
    final = step_state(pg, "migrate", step)
    assert final is not None and final[0] == "done"
    saved = _check_archive(pg, writers, n, [])
    assert final[2] == saved
    _record("sigterm", exit_code=code, message=last_line(text), batches_before_stop=int(stopped[1]),
            rows_done_at_signal=seen[2], rows_done_at_stop=st[2], final_rows_done=final[2])


def test_sigterm_while_throttled_stops_at_once(pg, pg_dsn: str, pg_server, tmp_path: Path) -> None:
    """A throttle can hold the backfill for as long as a replica lags; SIGTERM must still stop it
    (before the fix the throttle loop ignored the signal until the throttle cleared)."""
    n = 10_000
    plan, step = _prepare(pg, pg_server, pg_dsn, tmp_path, ADD_TOKEN, n)
    pg.execute("CREATE TABLE pause_flag (x int); INSERT INTO pause_flag VALUES (1)")
    log = tmp_path / "run.log"
    proc = start_migspec("apply", str(plan), "--dsn", pg_dsn, "--phase", "migrate", "--throttle-sql",
                         "SELECT NOT EXISTS (SELECT 1 FROM public.pause_flag)", log=log)
    deadline = time.monotonic() + 30
    while "throttled: throttle check returned false" not in log.read_text():
        assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
        time.sleep(0.02)
    t0 = time.monotonic()
    os.kill(proc.pid, signal.SIGTERM)
    code = wait_exit(proc, 10)
    took = time.monotonic() - t0
    text = log.read_text()
    no_traceback(text)
    assert code == 130 and last_line(text) == "migspec: stopped after 0 batches; re-run to continue", text
    assert took < 2.0, took
    assert step_state(pg, "migrate", step)[:3] == ("running", None, 0)
    assert pg.execute("SELECT count(*) FROM orders WHERE token IS NULL").fetchone()[0] == n
    r = migspec("apply", str(plan), "--dsn", pg_dsn, "--phase", "migrate")
    assert r.returncode == 0, r.stderr
    assert pg.execute("SELECT count(*) FROM orders WHERE token IS NULL").fetchone()[0] == 0


# --- 4. a session holding a conflicting lock during an ACCESS EXCLUSIVE step ---------------------------

class Reader:
    """``SELECT 1 FROM orders LIMIT 1`` again and again; the longest wait is what readers suffer."""

    def __init__(self, dsn: str) -> None:
        self.dsn, self.latencies, self.stop = dsn, [], threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        deadline = time.monotonic() + 60
        with psycopg.connect(self.dsn, autocommit=True, application_name="app reader") as conn:
            while not self.stop.is_set() and time.monotonic() < deadline:
                t0 = time.monotonic()
                conn.execute("SELECT 1 FROM orders LIMIT 1").fetchone()
                self.latencies.append(time.monotonic() - t0)
                time.sleep(0.005)

    def __enter__(self) -> Reader:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop.set()
        self.thread.join(timeout=30)


def test_lock_holder_every_attempt_gives_up_within_lock_timeout(pg, pg_dsn: str, pg_server, tmp_path: Path,
                                                               monkeypatch) -> None:
    pg.execute(setup_sql(5000))
    # write_qps 1,000: the planner caps the writes queued behind one attempt -> lock_timeout 0.5 s
    plan_path = make_plan(ADD_TOKEN, server=pg_server, dsn=pg_dsn, out=tmp_path / "plan.json",
                          stats_doc=stats(rows=3000, write_qps=1000))
    expand = plan_steps(plan_path, "expand")
    assert expand[0]["lock"] == "ACCESS EXCLUSIVE"
    lock_timeout = expand[0]["lock_timeout_seconds"]
    assert lock_timeout == 0.5
    approve(load_plan(plan_path), by="reviewer")
    plan = load_plan(plan_path)
    retry = RetryPolicy(attempts=3, base_s=0.1, cap_s=0.2)
    columns = "SELECT array_agg(attname::text ORDER BY attnum) FROM pg_attribute WHERE attrelid = 'orders'::regclass"
    before = pg.execute(columns).fetchone()[0]

    holder = psycopg.connect(pg_dsn, autocommit=True, application_name="app holder")
    try:
        holder.execute("BEGIN")
        holder.execute("LOCK TABLE orders IN ACCESS SHARE MODE")
        holder_pid = holder.info.backend_pid
        log: list[str] = []
        with Reader(pg_dsn) as reader:
            t0 = time.monotonic()
            with pytest.raises(StepFailed) as failed:
                apply_phase(plan, pg_dsn, ApplyOptions("expand", retry=retry), log.append)
            elapsed = time.monotonic() - t0
            # The CLI path: exit 4 and one line naming the holder (same small retry policy).
            import migspec.execute.apply as apply_mod

            real = apply_mod.run_statements
            monkeypatch.setattr(apply_mod, "run_statements",
                                lambda c, s, st, lg, _r, t, **kw: real(c, s, st, lg, retry, t, **kw))
            cli = migspec_inproc("apply", str(plan_path), "--dsn", pg_dsn, "--phase", "expand")
        message = str(failed.value)
        assert failed.value.exit_code == 4
        assert f"pid {holder_pid} " in message and "after 3 attempts" in message
        assert "Nothing of this step was applied" in message
        assert [m for m in log if m.startswith("retry ")] and all(f"pid {holder_pid}" in m for m in log
                                                                   if m.startswith("retry "))
        # three attempts of lock_timeout each plus at most two capped backoffs, and no more
        assert 3 * lock_timeout * 0.9 <= elapsed <= 3 * lock_timeout + 2 * retry.cap_s + 1.0, elapsed
        # readers queued behind each attempt, never longer than lock_timeout (+ margin)
        assert reader.latencies and max(reader.latencies) >= lock_timeout * 0.5, "the reader never waited"
        assert max(reader.latencies) <= lock_timeout + 0.4, max(reader.latencies)
        assert cli.returncode == 4, cli.stderr
        assert cli.stderr.count("migspec:") == 1 and f"pid {holder_pid} " in last_line(cli.stderr), cli.stderr
        no_traceback(cli.stderr)
        # nothing of the step applied
        assert pg.execute(columns).fetchone()[0] == before
        # the step's record commits with its effect: neither is there
        assert step_state(pg, "expand", 1) is None
        assert step_state(pg, "expand", 2) is None
    finally:
        holder.execute("COMMIT")
        holder.close()
    assert apply_phase(plan, pg_dsn, ApplyOptions("expand", retry=retry), log.append) == 2
    assert pg.execute(columns).fetchone()[0] == before + ["token"]
    _record("lock holder", lock_timeout_s=lock_timeout, attempts=3, elapsed_s=round(elapsed, 2),
            reader_queries=len(reader.latencies), reader_max_wait_s=round(max(reader.latencies), 3),
            message=message)


# --- 5. an application transaction holds a row lock the batch needs ------------------------------------

@pytest.mark.parametrize("verb", ["UPDATE", "DELETE"])
def test_backup_saves_the_value_the_batch_overwrote(verb: str, pg, pg_dsn: str, pg_server, tmp_path: Path) -> None:
    """The application updates row 2 (a target of the batched UPDATE/DELETE) in a transaction that
    commits while the batch waits for the row's lock. The backup must hold the application's value
    (the one the batch overwrote/deleted), so the rollback does not lose that write."""
    pg.execute(setup_sql(20_000))
    sql = ARCHIVE_EVEN if verb == "UPDATE" else "DELETE FROM orders WHERE amount % 2 = 0;"
    plan_path = make_plan(sql, server=pg_server, dsn=pg_dsn, out=tmp_path / "plan.json",
                          stats_doc=stats(rows=1000, batch_rows=500))
    approve(load_plan(plan_path), by="reviewer")
    plan = load_plan(plan_path)
    log: list[str] = []
    assert apply_phase(plan, pg_dsn, ApplyOptions("expand"), log.append) == 1
    before = pg.execute("SELECT id, customer_id, note, amount, code, created_at FROM orders ORDER BY id").fetchall()

    app = psycopg.connect(pg_dsn, autocommit=True, application_name="app")
    errors: list[BaseException] = []

    def migrate() -> None:
        try:
            apply_phase(plan, pg_dsn, ApplyOptions("migrate"), log.append)
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)
    try:
        app.execute("BEGIN")
        app.execute("UPDATE orders SET note = 'late write' WHERE id = 2")
        runner = threading.Thread(target=migrate, daemon=True)
        runner.start()
        deadline = time.monotonic() + 20
        while pg.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'migspec apply' "
                         "AND wait_event_type = 'Lock'").fetchone()[0] == 0:
            assert runner.is_alive() and time.monotonic() < deadline, ("the batch never waited for row 2", log)
            time.sleep(0.005)
        app.execute("COMMIT")
        runner.join(timeout=60)
        assert not runner.is_alive() and not errors, errors
    finally:
        app.close()
    saved = pg.execute(f"SELECT note FROM {BACKUP} WHERE id = 2").fetchone()
    assert saved == ("late write",), f"backup of row 2 holds {saved}, the batch overwrote 'late write'"
    assert pg.execute(f"SELECT count(*) FROM {BACKUP}").fetchone()[0] == 10_000
    assert rollback_phase(plan, pg_dsn, ApplyOptions("migrate"), log.append) == 1
    after = pg.execute("SELECT id, customer_id, note, amount, code, created_at FROM orders ORDER BY id").fetchall()
    expected = [r if r[0] != 2 else (r[0], r[1], "late write", *r[3:]) for r in before]
    assert after == expected, "the rollback did not restore exactly the rows as the application left them"

"""`migspec diff` and `migspec plan --target` through the CLI, on real servers: the statements
re-parse and re-diff to nothing, renames given three ways, assumed drops and unsupported
differences refused in one line (exit 3), bad input exit 2, --dsn read-only, the plan refusing
without measurements like any plan."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from pglast import parse_sql

import migspec.diff.target as target
from helpers_apply import migspec_inproc, no_traceback

CURRENT = """
CREATE TYPE mood AS ENUM ('sad', 'ok');
CREATE TABLE customers (id bigint PRIMARY KEY, name text NOT NULL, email text);
CREATE TABLE orders (id bigint PRIMARY KEY, customer_id bigint REFERENCES customers (id),
                     amount integer NOT NULL DEFAULT 0, note text, m mood);
CREATE INDEX orders_note_idx ON orders (note);
CREATE VIEW big_orders AS SELECT id, amount FROM orders WHERE amount > 100;
"""
DESIRED = """
CREATE TYPE mood AS ENUM ('sad', 'meh', 'ok');
CREATE TABLE customers (id bigint PRIMARY KEY, name text, mail text);
CREATE TABLE orders (id bigint PRIMARY KEY, customer_id bigint REFERENCES customers (id),
                     amount bigint NOT NULL DEFAULT 1, m mood, status text CHECK (status <> ''));
CREATE INDEX orders_amount_idx ON orders (amount) WHERE amount > 0;
CREATE UNIQUE INDEX customers_lower_name ON customers (lower(name));
CREATE VIEW big_orders AS SELECT id, amount FROM orders WHERE amount > 100;
CREATE SEQUENCE invoice_no START 1000 INCREMENT 10;
"""
STATS = """pg_version: 15
source: production
maintenance_window: none
tables:
  public.orders: {rows: 100000, size_bytes: 10000000, write_qps: 20,
                  lock_contention: {longest_transaction_seconds: 1, lock_waits_per_minute: 0}}
  public.customers: {rows: 1000, size_bytes: 100000, write_qps: 2,
                     lock_contention: {longest_transaction_seconds: 1, lock_waits_per_minute: 0}}
"""


@pytest.fixture
def session_scratch(pg_server, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """The schemas go to the session's real server instead of a new one per call (a new server is
    ~2-5 s; test_embedded_server_is_started_and_removed covers that path)."""
    @contextlib.contextmanager
    def shared(major: int | None = None) -> Iterator[object]:
        yield pg_server
    monkeypatch.setattr(target, "scratch_server", shared)


def _files(tmp_path: Path, current: str = CURRENT, desired: str = DESIRED) -> tuple[str, str]:
    (tmp_path / "current.sql").write_text(current)
    (tmp_path / "desired.sql").write_text(desired)
    return str(tmp_path / "current.sql"), str(tmp_path / "desired.sql")


def _one_line(r, code: int, *expect: str) -> None:  # type: ignore[no-untyped-def]
    assert r.returncode == code, (r.returncode, r.stdout, r.stderr)
    no_traceback(r.stderr)
    lines = [ln for ln in r.stderr.splitlines() if not ln.startswith("migspec: note:")]
    assert len(lines) == 1 and lines[0].startswith("migspec: "), r.stderr
    for e in expect:
        assert e in lines[0], (e, lines[0])


def test_diff_prints_statements_that_parse_and_rediff_to_nothing(session_scratch, tmp_path: Path) -> None:
    cur, des = _files(tmp_path, desired="-- migspec:rename customers.email=customers.mail\n" + DESIRED)
    r = migspec_inproc("diff", "--target", des, "--schema", cur, "--accept-drops")
    assert r.returncode == 0, r.stderr
    parse_sql(r.stdout)  # every statement re-parses
    for expected in ("RENAME COLUMN email TO mail", "DROP VIEW public.big_orders", "ADD VALUE 'meh' AFTER 'sad'",
                     "ALTER COLUMN amount TYPE bigint", "ALTER COLUMN amount SET DEFAULT 1",
                     "DROP COLUMN note", "CREATE UNIQUE INDEX customers_lower_name", "WHERE (amount > 0)",
                     "CREATE SEQUENCE public.invoice_no", "ALTER COLUMN name DROP NOT NULL"):
        assert expected in r.stdout, expected
    assert r.stdout.index("DROP VIEW") < r.stdout.index("TYPE bigint") < r.stdout.index("CREATE VIEW")
    assert "assumed dropped, not renamed (--accept-drops): public.orders.note" in r.stderr
    # the statements applied to CURRENT give DESIRED: diffing again prints nothing
    (tmp_path / "after.sql").write_text(CURRENT + r.stdout)
    again = migspec_inproc("diff", "--target", str(tmp_path / "desired.sql"), "--schema", str(tmp_path / "after.sql"))
    assert again.returncode == 0 and again.stdout == "", again.stdout + again.stderr


def test_drops_need_confirmation_and_renames_avoid_them(session_scratch, tmp_path: Path) -> None:
    cur, des = _files(tmp_path)
    r = migspec_inproc("diff", "--target", des, "--schema", cur)
    _one_line(r, 3, "public.customers.email", "public.orders.note", "--accept-drops", "--rename")
    assert r.stdout == ""
    r = migspec_inproc("diff", "--target", des, "--schema", cur, "--rename", "customers.email=customers.mail")
    _one_line(r, 3, "public.orders.note")
    assert "email" not in r.stderr
    # a table rename and a column rename in one run
    cur, des = _files(tmp_path, "CREATE TABLE t (id int PRIMARY KEY, a text);",
                      "CREATE TABLE u (id int PRIMARY KEY, b text);")
    r = migspec_inproc("diff", "--target", des, "--schema", cur, "--rename", "t=u", "--rename", "u.a=u.b")
    assert r.returncode == 0, r.stderr
    assert "ALTER TABLE public.t RENAME TO u;" in r.stdout and "RENAME COLUMN a TO b" in r.stdout
    assert "DROP" not in r.stdout


def test_unsupported_differences_are_all_listed(session_scratch, tmp_path: Path) -> None:
    extra = """
    CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NEW; END';
    CREATE TRIGGER t_audit BEFORE INSERT ON customers FOR EACH ROW EXECUTE FUNCTION f();
    ALTER TABLE customers ENABLE ROW LEVEL SECURITY;
    CREATE POLICY own ON customers USING (true);
    CREATE DOMAIN posint AS integer CHECK (VALUE > 0);
    CREATE MATERIALIZED VIEW mv AS SELECT 1 AS x;
    COMMENT ON TABLE orders IS 'orders';
    """
    cur, des = _files(tmp_path, CURRENT, CURRENT + extra)
    r = migspec_inproc("diff", "--target", des, "--schema", cur)
    _one_line(r, 3, "cannot turn into statements", "function public.f()", "trigger t_audit on public.customers",
              "policy own on public.customers", "domain public.posint", "materialized view public.mv",
              "comment on relation public.orders", "table options public.customers")
    assert r.stdout == ""
    # an enum value removed: refused as well
    cur, des = _files(tmp_path, CURRENT, CURRENT.replace("('sad', 'ok')", "('sad')"))
    _one_line(migspec_inproc("diff", "--target", des, "--schema", cur), 3, "enum public.mood: values removed")


def test_bad_input_is_exit_2(session_scratch, tmp_path: Path) -> None:
    cur, des = _files(tmp_path, CURRENT, "CREATE TABLE x (id int REFERENCES nowhere (id));")
    _one_line(migspec_inproc("diff", "--target", des, "--schema", cur), 2, "does not load", "nowhere")
    cur, des = _files(tmp_path)
    _one_line(migspec_inproc("diff", "--target", des), 2, "--schema CURRENT.sql or --dsn DSN")
    _one_line(migspec_inproc("diff", "--target", des, "--schema", cur, "--rename", "nope=other"), 2,
              "no such table or column")
    _one_line(migspec_inproc("diff", "--target", str(tmp_path / "missing.sql"), "--schema", cur), 2, "cannot read")
    _one_line(migspec_inproc("plan", "--dsn", "host=x", "--stats", "s.yml"), 2, "go with --target")


def test_dsn_reads_the_live_schema_read_only(session_scratch, pg, pg_dsn: str, tmp_path: Path) -> None:
    pg.execute(CURRENT)
    pg.execute("ALTER DATABASE " + pg.info.dbname + " SET default_transaction_read_only = on")
    _, des = _files(tmp_path)
    before = pg.execute("SELECT count(*) FROM pg_class").fetchone()
    r = migspec_inproc("diff", "--target", des, "--dsn", pg_dsn, "--accept-drops",
                       "--rename", "customers.email=customers.mail")
    assert r.returncode == 0, r.stderr
    assert "RENAME COLUMN email TO mail" in r.stdout and "DROP COLUMN note" in r.stdout
    assert pg.execute("SELECT count(*) FROM pg_class").fetchone() == before


def test_plan_target_refuses_without_measurements_then_plans(session_scratch, tmp_path: Path) -> None:
    cur, des = _files(tmp_path, desired="-- migspec:rename customers.email=customers.mail\n" + DESIRED)
    r = migspec_inproc("plan", "--target", des, "--schema", cur, "--accept-drops")
    assert r.returncode == 3 and "refusing to judge without production measurements" in r.stderr, r.stderr
    (tmp_path / "stats.yml").write_text(STATS)
    r = migspec_inproc("plan", "--target", des, "--schema", cur, "--accept-drops", "--stats",
                       str(tmp_path / "stats.yml"), "--format", "json")
    assert r.returncode == 0, r.stderr
    plan = json.loads(r.stdout)
    assert [p["name"] for p in plan["phases"]] == ["expand", "migrate", "contract"]
    ups = [u for p in plan["phases"] for s in p["steps"] for u in s["up"]]
    assert any("CREATE INDEX CONCURRENTLY orders_amount_idx" in u for u in ups)  # the planner's rewrite
    # the view comes back after the column swap, in the same phase, its DOWN its old definition
    contract = [s for p in plan["phases"] if p["name"] == "contract" for s in p["steps"]]
    drop_view = next(i for i, s in enumerate(contract) if s["up"] == ["DROP VIEW public.big_orders"])
    create_view = next(i for i, s in enumerate(contract) if s["up"] and s["up"][0].startswith("CREATE VIEW public.big_"))
    swap = next(i for i, s in enumerate(contract) if s["description"].startswith("swap"))
    assert drop_view < swap < create_view
    assert contract[drop_view]["down"][0].startswith("CREATE VIEW public.big_orders")
    assert {c["target"] for c in plan["confirmations_required"]} >= {"public.orders.note"}


def test_embedded_server_is_started_and_removed(tmp_path: Path) -> None:
    """Without the fixture: a throwaway server of its own, gone afterwards. The CLI does not wait
    for it to go (a detached reaper stops it and removes its directory): polled here, bounded."""
    import migspec.pgserver as pgserver
    from helpers_server import assert_gone, postmaster_pid

    started = []
    real = pgserver.start_server

    def spy(**kw):  # type: ignore[no-untyped-def]
        s = real(**kw)
        started.append((s, postmaster_pid(s)))
        return s

    cur, des = _files(tmp_path, "CREATE TABLE t (id int);", "CREATE TABLE t (id int, v text);")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(pgserver, "start_server", spy)
        r = migspec_inproc("diff", "--target", des, "--schema", cur)
    assert r.returncode == 0 and r.stdout == "ALTER TABLE public.t ADD COLUMN v text;\n\n", r.stdout + r.stderr
    assert len(started) == 1 and started[0][0].stopped
    assert_gone(started[0][0].basedir, started[0][1])


_SIGTERM_RUN = """
import sys
import migspec.pgserver as pgserver
import migspec.schema.applied as applied
from migspec.cli import main

real = pgserver.start_server


def spy(**kw):
    s = real(**kw)
    print("server", s.basedir, (s.datadir / "postmaster.pid").read_text().split()[0], flush=True)
    return s


def slow(dsn, statements):
    import psycopg
    with psycopg.connect(dsn) as conn:
        print("applying", flush=True)
        conn.execute("SELECT pg_sleep(60)")  # a long statement: SIGTERM arrives meanwhile


pgserver.start_server, applied.apply_statements = spy, slow
sys.exit(main(sys.argv[1:]))
"""


def test_sigterm_stops_like_ctrl_c_and_removes_the_throwaway_server(tmp_path: Path) -> None:
    """SIGTERM (a CI job cancelled, ``kill``) while the throwaway server is up: one line, exit 130,
    and the server stopped and its directory removed - Python's default SIGTERM ends the process
    without running ``finally``, which left the server behind."""
    import os
    import signal
    import subprocess
    import sys

    from helpers_server import assert_gone

    cur, des = _files(tmp_path, "CREATE TABLE t (id int);", "CREATE TABLE t (id int, v text);")
    proc = subprocess.Popen([sys.executable, "-c", _SIGTERM_RUN, "diff", "--target", des, "--schema", cur],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        _, basedir, pid = proc.stdout.readline().split()
        # The two schema files are applied by two threads at once: their lines can interleave.
        assert proc.stdout.readline().startswith("applying")
        os.kill(proc.pid, signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, (out, err)
    assert err == "migspec: terminated (SIGTERM)\n"
    no_traceback(err)
    assert_gone(Path(basedir), int(pid))

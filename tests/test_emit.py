"""Emitted SQL is safe: a user's literal, name or description cannot end a dollar quote or a
comment early and smuggle a statement into the ``--out`` files or the plan.

The issue's reproducer - ``'A$migspec$; DROP TABLE t; SELECT $migspec$'`` in an UPDATE's SET, a
DEFAULT and a USING expression, and a column renamed to a name holding a line break followed by
``DROP TABLE t; --`` - is planned, every file re-parses into exactly its planned statements, and
psql runs every UP file then every DOWN file on a real server: the table is still there, with the
literal stored as written.
"""

from __future__ import annotations

import subprocess
from dataclasses import replace
from pathlib import Path

import psycopg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pglast import parse_sql
from pglast.stream import RawStream

from helpers_apply import migspec_inproc
from migspec.planfile.model import Phase, PhaseName, Plan, Runbook, Step
from migspec.planfile.sql import dollar_quote
from migspec.render import plan as render_plan
from migspec.render.plan import UnsafeSqlError, check_emittable, sql_files

HIDDEN = "A$migspec$; DROP TABLE t; SELECT $migspec$"
HIDDEN_1 = "B$migspec_1$; DROP TABLE t; SELECT $migspec_1$"
MIGRATION = f"""\
UPDATE t SET status = '{HIDDEN}{HIDDEN_1}' WHERE status IS NULL;
ALTER TABLE t ADD COLUMN c text NOT NULL DEFAULT '{HIDDEN}' || now()::text;
ALTER TABLE t RENAME COLUMN note TO "x
DROP TABLE t; --";
ALTER TABLE t ALTER COLUMN code TYPE varchar(80) USING code || '{HIDDEN}';
"""
STATS = """\
pg_version: 15
source: production
maintenance_window: none
tables:
  public.t:
    rows: 4000000
    write_qps: 1
    lock_contention: {longest_transaction_seconds: 0, lock_waits_per_minute: 0}
    schema:
      columns:
        - {name: id, type: bigint, not_null: true}
        - {name: status, type: text}
        - {name: note, type: text}
        - {name: code, type: text}
      primary_key: [id]
"""


@given(st.lists(st.sampled_from(["$migspec$", "$migspec", "migspec$", "$migspec_1$", "_1$", "$", "x", "'", "\n"]),
                max_size=8).map("".join))
@settings(max_examples=400, deadline=None)
def test_a_dollar_quoted_body_comes_back_whole(body: str) -> None:
    quoted = dollar_quote(body)
    stmts = parse_sql(f"SELECT {quoted}")
    assert len(stmts) == 1
    assert stmts[0].stmt.targetList[0].val.val.sval == body


def test_the_tag_avoids_the_body_and_its_end() -> None:
    assert dollar_quote("plain") == "$migspec$plain$migspec$"
    assert dollar_quote("a $migspec$ b").startswith("$migspec_1$")
    assert dollar_quote("ends in $migspec").startswith("$migspec_1$")  # "$migspec" + "$migspec$": early end
    assert dollar_quote("$migspec$ $migspec_1$").startswith("$migspec_2$")


def test_reproducer_files_parse_into_exactly_the_planned_statements(tmp_path: Path) -> None:
    (tmp_path / "m.sql").write_text(MIGRATION, encoding="utf-8")
    (tmp_path / "s.yaml").write_text(STATS, encoding="utf-8")
    r = migspec_inproc("plan", str(tmp_path / "m.sql"), "--stats", str(tmp_path / "s.yaml"), "--out",
                       str(tmp_path / "out"))
    assert r.returncode == 0, r.stderr
    files = sorted((tmp_path / "out").glob("*.sql"))
    assert len(files) > 10
    for f in files:
        printed = [RawStream()(s) for s in parse_sql(f.read_text(encoding="utf-8"))]
        assert "DROP TABLE t" not in printed, f
        assert not any(s.startswith("SELECT '; DROP") or s == "SELECT" for s in printed), f


def _plan(*steps: Step) -> Plan:
    return Plan("m", None, 15, (Phase(PhaseName.EXPAND, steps),), Runbook((), (), (), ()), ())  # type: ignore[arg-type]


def test_a_file_that_would_run_more_than_planned_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The check itself: with the old one-line header (a description holding a line break) the
    file parses into an extra statement, and nothing is written."""
    step = Step("add column x\nDROP TABLE t; --", ("ALTER TABLE t ADD COLUMN x int",), ("ALTER TABLE t DROP COLUMN x",))
    assert len(sql_files(_plan(step))) == 2
    monkeypatch.setattr(render_plan, "_comment", lambda text: f"-- {text}\n")
    with pytest.raises(UnsafeSqlError, match="would not run exactly the planned statements"):
        render_plan.write_files(_plan(step), tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_statement_that_does_not_parse_is_refused() -> None:
    bad = Step("s", ("CREATE FUNCTION f() RETURNS int AS $x$ SELECT 1",), ())
    with pytest.raises(UnsafeSqlError, match="does not parse"):
        check_emittable(_plan(bad))
    check_emittable(_plan(replace(bad, up=("SELECT 1",))))


def _psql(bindir: Path, dsn: str, path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(bindir / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", dsn, "-f", str(path)],
                          capture_output=True, text=True, timeout=60)


def test_psql_runs_the_files_and_the_hidden_statement_never_runs(pg: psycopg.Connection, pg_dsn: str, pg_server,
                                                                 tmp_path: Path) -> None:
    pg.execute("CREATE TABLE t (id bigint PRIMARY KEY, status text, note text, code text)")
    pg.execute("INSERT INTO t SELECT g, CASE WHEN g % 2 = 0 THEN 'ok' END, 'n' || g, 'c' || g "
               "FROM generate_series(1, 40) g")
    (tmp_path / "m.sql").write_text(MIGRATION, encoding="utf-8")
    (tmp_path / "s.yaml").write_text(STATS, encoding="utf-8")
    out = tmp_path / "out"
    r = migspec_inproc("plan", str(tmp_path / "m.sql"), "--stats", str(tmp_path / "s.yaml"), "--out", str(out),
                       "--confirm", "public.t.code")
    assert r.returncode == 0, r.stderr
    bindir = Path(pg_server.bindir)
    ups = sorted(out.glob("*.up.sql"))
    for f in ups:
        done = _psql(bindir, pg_dsn, f)
        assert done.returncode == 0, (f.name, done.stderr)
        assert pg.execute("SELECT to_regclass('public.t')").fetchone()[0] is not None, f"{f.name} dropped t"
    assert pg.execute("SELECT count(*) FILTER (WHERE status = %s), count(*) FILTER (WHERE c LIKE %s) FROM t",
                      (HIDDEN + HIDDEN_1, HIDDEN + "%")).fetchone() == (20, 40)
    assert pg.execute("SELECT count(*) FROM t WHERE code = 'c' || id || %s", (HIDDEN,)).fetchone()[0] == 40
    for f in sorted(out.glob("*.down.sql"), reverse=True):
        done = _psql(bindir, pg_dsn, f)
        assert done.returncode == 0, (f.name, done.stderr)
        assert pg.execute("SELECT to_regclass('public.t')").fetchone()[0] is not None, f"{f.name} dropped t"
    assert pg.execute("SELECT count(*) FROM t").fetchone()[0] == 40


def test_a_body_ended_early_is_refused_not_emitted(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Defence in depth: with the old fixed tag, the trigger function's PL/pgSQL body ends at the
    user's literal; ``plan`` refuses (exit 2) and writes nothing."""
    from migspec.plan import sql as plan_sql

    monkeypatch.setattr(plan_sql, "dollar_quote", lambda body, tag="migspec": f"${tag}${body}${tag}$")
    (tmp_path / "m.sql").write_text(MIGRATION, encoding="utf-8")
    (tmp_path / "s.yaml").write_text(STATS, encoding="utf-8")
    r = migspec_inproc("plan", str(tmp_path / "m.sql"), "--stats", str(tmp_path / "s.yaml"), "--out",
                       str(tmp_path / "out"), "--format", "json")
    assert r.returncode == 2 and "does not parse" in r.stderr and r.stdout == ""
    assert not (tmp_path / "out").exists()

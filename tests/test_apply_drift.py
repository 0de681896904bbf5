"""The plan records the schema of the tables it changes; ``apply`` refuses it on a real server
whose tables drifted since (exit 3, one line naming what differs, nothing changed), applies it
when they did not (or when only an untouched table changed), and runs it anyway with
``--allow-drift REASON``, recorded like ``--skip-wait``."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest

from helpers_apply import catalog, make_plan, migspec, migspec_inproc, migspec_state, no_traceback, setup_sql, stats

MIGRATION = "ALTER TABLE orders ADD COLUMN token text;\nCREATE INDEX CONCURRENTLY orders_token ON orders (token);\n"


@pytest.fixture
def plan(pg: psycopg.Connection, pg_dsn: str, pg_server, tmp_path: Path) -> Path:
    pg.execute(setup_sql(200))
    out = make_plan(MIGRATION, server=pg_server, dsn=pg_dsn, out=tmp_path / "plan.json", stats_doc=stats(rows=200))
    assert migspec_inproc("approve", str(out), "--by", "reviewer").returncode == 0
    return out


def test_the_plan_records_the_touched_tables_schema(plan: Path) -> None:
    doc = json.loads(plan.read_text())
    assert doc["schema"]["fingerprint"].startswith("sha256:")
    recorded = doc["schema"]["tables"]
    assert list(recorded) == ["public.orders"]  # customers and tags are not touched
    assert {"column code", "constraint orders_pkey", "index orders_note_idx"} <= set(recorded["public.orders"])


def test_no_drift_applies(plan: Path, pg: psycopg.Connection, pg_dsn: str) -> None:
    pg.execute("ALTER TABLE tags ADD COLUMN extra int")  # a table the plan does not touch
    r = migspec("apply", str(plan), "--dsn", pg_dsn, "--phase", "expand")
    assert r.returncode == 0, r.stderr
    assert pg.execute("SELECT count(*) FROM pg_attribute WHERE attrelid = 'orders'::regclass "
                      "AND attname = 'token'").fetchone()[0] == 1


@pytest.mark.parametrize(("change", "named"), [
    ("ALTER TABLE orders ALTER COLUMN code TYPE varchar(20)", "public.orders: column code differs"),
    ("CREATE INDEX orders_amount ON orders (amount)", "public.orders: index orders_amount added"),
    ("ALTER TABLE orders DROP CONSTRAINT orders_pkey", "public.orders: constraint orders_pkey is missing"),
    ("ALTER TABLE orders RENAME TO orders_old", "public.orders is missing"),
])
def test_drift_is_refused_and_nothing_changes(plan: Path, pg: psycopg.Connection, pg_dsn: str, change: str,
                                               named: str) -> None:
    pg.execute(change)
    before = catalog(pg)
    r = migspec("apply", str(plan), "--dsn", pg_dsn, "--phase", "expand")
    assert r.returncode == 3, r.stderr
    no_traceback(r.stderr)
    assert r.stderr.count("\n") == 1 and named in r.stderr and "--allow-drift" in r.stderr, r.stderr
    assert catalog(pg) == before
    assert migspec_state(pg) is None, "migspec wrote to the database"


def test_allow_drift_runs_and_is_recorded(plan: Path, pg: psycopg.Connection, pg_dsn: str) -> None:
    pg.execute("CREATE INDEX orders_amount ON orders (amount)")
    r = migspec_inproc("apply", str(plan), "--dsn", pg_dsn, "--phase", "expand", "--allow-drift", " ")
    assert r.returncode == 2 and "--allow-drift needs a reason" in r.stderr, r.stderr
    r = migspec_inproc("apply", str(plan), "--dsn", pg_dsn, "--phase", "expand", "--allow-drift", "hotfix index")
    assert r.returncode == 0, r.stderr
    event, detail = pg.execute("SELECT event, detail FROM migspec.events").fetchone()
    assert event == "allow-drift" and "hotfix index" in detail and "orders_amount added" in detail
    # Once the rollout has started, the plan's own changes are not drift.
    r = migspec_inproc("apply", str(plan), "--dsn", pg_dsn, "--phase", "migrate")
    assert r.returncode == 0, r.stderr


def test_a_plan_from_measured_stats_applies_and_sees_drift(pg: psycopg.Connection, pg_dsn: str,
                                                           tmp_path: Path) -> None:
    """The common path: 'migspec measure' writes the schema section, 'migspec plan' reads only it
    (no --schema), 'apply' compares with the catalog: equal at first, then a changed default."""
    pg.execute(setup_sql(200))
    stats_file, mig, plan_file = tmp_path / "stats.yaml", tmp_path / "m.sql", tmp_path / "plan.json"
    r = migspec_inproc("measure", "--dsn", pg_dsn, "--tables", "orders", "--sample-seconds", "0.1",
                       "-o", str(stats_file))
    assert r.returncode == 0, r.stderr
    mig.write_text(MIGRATION)
    r = migspec_inproc("plan", str(mig), "--stats", str(stats_file), "--format", "json")
    assert r.returncode == 0, r.stderr
    plan_file.write_text(r.stdout)
    assert "public.orders" in json.loads(r.stdout)["schema"]["tables"]
    assert migspec_inproc("approve", str(plan_file), "--by", "reviewer").returncode == 0
    pg.execute("ALTER TABLE orders ALTER COLUMN amount SET DEFAULT 7")
    r = migspec_inproc("apply", str(plan_file), "--dsn", pg_dsn, "--phase", "expand")
    assert r.returncode == 3 and "public.orders: column amount differs" in r.stderr, r.stderr
    pg.execute("ALTER TABLE orders ALTER COLUMN amount SET DEFAULT 0")
    r = migspec_inproc("apply", str(plan_file), "--dsn", pg_dsn, "--phase", "expand")
    assert r.returncode == 0, r.stderr

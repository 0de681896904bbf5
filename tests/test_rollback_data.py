"""Data DOWNs never overwrite the application's writes and never run as one big UPDATE (issue 9
part 3, issue 12 class 7): rollback of a batched UPDATE restores only rows that still hold the
value the migration wrote, through the backfill runner (keyset batches, resumable); the DOWN of a
dropped column restores from its archive only rows the application has not written since; every
DOWN of a 50M-row plan is assessed (the plan's rollback risk) and has no unbatched UPDATE."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from helpers_apply import ROOT, make_plan, migspec, migspec_inproc, no_traceback, setup_sql, stats
from migspec.parse.source import Migration, parse_text
from migspec.plan.builder import PlanOptions, plan_migration
from migspec.planfile import dump as plan_dict
from migspec.stats import parse_stats


class StatusWriter(threading.Thread):
    """The application after the backfill: sets status on random rows (never to 'new'), logging
    every committed write."""

    def __init__(self, dsn: str, rows: int, seed: int) -> None:
        super().__init__(daemon=True)
        self.dsn, self.rows, self.rnd = dsn, rows, random.Random(seed)
        self.stop, self.log, self.n = threading.Event(), {}, 0

    def run(self) -> None:
        with psycopg.connect(self.dsn, autocommit=True, application_name="app writer") as conn:
            while not self.stop.is_set():
                row, value = self.rnd.randint(1, self.rows), f"s{self.n}"
                if conn.execute("UPDATE orders SET status = %s WHERE id = %s", (value, row)).rowcount == 1:
                    self.log[row] = value
                    self.n += 1
                time.sleep(0.001)


def test_rollback_of_update_keeps_application_writes(pg, pg_dsn: str, pg_server, tmp_path: Path) -> None:
    """The issue's reproducer: UPDATE orders SET status = 'new' WHERE status IS NULL on 300k rows,
    writers changing status afterwards and during the rollback: 0 of their writes overwritten,
    every other row back to its old value, the DOWN in many batches."""
    rows = 300_000
    pg.execute(setup_sql(rows))
    pg.execute("ALTER TABLE orders ADD COLUMN status text; UPDATE orders SET status = 'paid' WHERE id % 10 = 0")
    pg.execute("VACUUM ANALYZE orders")
    before = dict(pg.execute("SELECT id, status FROM orders").fetchall())
    plan = make_plan("UPDATE orders SET status = 'new' WHERE status IS NULL;", server=pg_server, dsn=pg_dsn,
                     out=tmp_path / "plan.json", stats_doc=stats(rows=rows, batch_rows=1000))
    migrate = next(p["steps"] for p in json.loads(plan.read_text())["phases"] if p["name"] == "migrate")
    assert [s["backfill"] is not None for s in migrate[0]["down_steps"]] == [True]
    assert not any(re.match(r"\s*UPDATE", d) for d in migrate[0]["down"]), "an unbatched UPDATE in the DOWN"
    assert migspec_inproc("approve", str(plan), "--by", "r").returncode == 0
    for phase in ("expand", "migrate"):
        r = migspec("apply", str(plan), "--dsn", pg_dsn, "--phase", phase, timeout=600)
        assert r.returncode == 0, r.stderr
    assert pg.execute("SELECT count(*) FROM orders WHERE status IS NULL").fetchone()[0] == 0
    writer = StatusWriter(pg_dsn, rows, 7)
    writer.start()
    try:
        deadline = time.monotonic() + 30
        while writer.n < 1500 and time.monotonic() < deadline:
            time.sleep(0.05)
        r = migspec("rollback", str(plan), "--dsn", pg_dsn, "--phase", "migrate", timeout=600)
    finally:
        writer.stop.set()
        writer.join(timeout=30)
    assert r.returncode == 0, r.stderr
    no_traceback(r.stderr)
    batches = [int(m) for m in re.findall(r"DOWN part 1: [\d,]+ rows in (\d+) batches", r.stderr)]
    assert batches and batches[0] > 10, r.stderr[-2000:]
    after = dict(pg.execute("SELECT id, status FROM orders").fetchall())
    lost = [i for i, v in writer.log.items() if after[i] != v]
    assert writer.n >= 1500 and not lost, f"{len(lost)} of {len(writer.log)} application writes overwritten"
    wrong = [i for i, v in before.items() if i not in writer.log and after[i] != v]
    assert not wrong, f"{len(wrong)} rows not restored, e.g. {wrong[:5]}"


def _killed_after(plan: Path, dsn: str, point: str) -> None:
    env = {**os.environ, "MIGSPEC_TEST_KILL_AFTER": point,
           "PYTHONPATH": str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    r = subprocess.run([sys.executable, "-m", "migspec", "rollback", str(plan), "--dsn", dsn, "--phase", "contract"],
                       capture_output=True, text=True, timeout=120, env=env, cwd=ROOT)
    assert r.returncode == -signal.SIGKILL, r.stderr


def test_dropped_column_restore_keeps_writes_made_after_the_readd(pg, pg_dsn: str, pg_server, tmp_path: Path) -> None:
    """Rollback of CONTRACT of a drop column, killed right after the column is re-added; the
    redeployed application writes some rows; the re-run restores every other row from the
    archive, in batches, and keeps those writes."""
    pg.execute(setup_sql(5000))
    notes = dict(pg.execute("SELECT id, note FROM orders").fetchall())
    plan = make_plan("ALTER TABLE orders DROP COLUMN note;", server=pg_server, dsn=pg_dsn, out=tmp_path / "plan.json",
                     stats_doc=stats(rows=5000, batch_rows=1000))
    contract = next(p["steps"] for p in json.loads(plan.read_text())["phases"] if p["name"] == "contract")
    drop = len(contract)
    assert [p["backfill"] is not None for p in contract[-1]["down_steps"]] == [False, True]
    assert migspec_inproc("approve", str(plan), "--by", "r", "--confirm", "orders.note").returncode == 0
    for phase in ("expand", "migrate", "contract"):
        assert migspec_inproc("apply", str(plan), "--dsn", pg_dsn, "--phase", phase).returncode == 0
    _killed_after(plan, pg_dsn, f"contract:{drop}:down")
    assert pg.execute("SELECT count(*) FROM orders WHERE note IS NOT NULL").fetchone()[0] == 0  # re-added, empty
    written = {i: f"app{i}" for i in range(3, 5000, 97)}
    for i, v in written.items():
        pg.execute("UPDATE orders SET note = %s WHERE id = %s", (v, i))
    r = migspec("rollback", str(plan), "--dsn", pg_dsn, "--phase", "contract")
    assert r.returncode == 0, r.stderr
    assert "already done" in r.stderr  # the re-add part is not run twice
    after = dict(pg.execute("SELECT id, note FROM orders").fetchall())
    assert {i: after[i] for i in written} == written
    assert {i: v for i, v in after.items() if i not in written} == {i: v for i, v in notes.items() if i not in written}


BIG = {
    "update": "UPDATE orders SET note = 'archived' WHERE amount % 2 = 0;",
    "delete": "DELETE FROM orders WHERE amount > 4000;",
    "rename-column": "ALTER TABLE orders RENAME COLUMN note TO remark;",
    "drop-column": "ALTER TABLE orders DROP COLUMN note;",
    "drop-not-null": "ALTER TABLE orders ALTER COLUMN amount DROP NOT NULL;",
    "retype": "ALTER TABLE orders ALTER COLUMN amount TYPE bigint;",
    "widen": "ALTER TABLE orders ALTER COLUMN code TYPE varchar(20);",
}


@pytest.fixture(scope="module")
def schema_dump(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("schema") / "schema.sql"
    path.write_text(setup_sql(0).split("INSERT INTO customers")[0].replace("INSERT INTO tags SELECT g, 't' || g "
                                                                          "FROM generate_series(1, 200) g;", ""))
    return path


@pytest.mark.parametrize("case", sorted(BIG))
def test_every_down_at_50m_rows_is_assessed_and_batched(case: str, schema_dump: Path) -> None:
    doc = stats(rows=50_000_000, write_qps=300, batch_rows=1000)
    for t in doc["tables"].values():
        t["size_bytes"] = 8_000_000_000
    migration = Migration(case, ("m.sql",), tuple(parse_text(BIG[case], "m.sql")))
    plan, report = plan_migration(migration, parse_stats(doc, "s"), schema_path=schema_dump, pg_version=15,
                                  options=PlanOptions(("orders.note", "orders.amount"), 7))
    d = plan_dict(plan, report)
    assert d["rollback_risk"] in ("GREEN", "YELLOW", "RED")
    for phase in d["phases"]:
        for step in phase["steps"]:
            units = step["down_steps"] or [{"up": step["down"], "backfill": None}]
            for unit in units:
                if unit["backfill"] is None:
                    for sql in unit["up"]:
                        assert not re.match(r"\s*(UPDATE|INSERT INTO \S+ SELECT)", sql), (step["description"], sql)
                        assert not re.search(r"ALTER COLUMN \S+ SET NOT NULL", sql) or any(
                            "VALIDATE" in s for u in units for s in u["up"]), (step["description"], sql)
    if case == "widen":  # the DOWN narrows the column again: a rewrite under ACCESS EXCLUSIVE at 50M rows
        assert d["rollback_risk"] == "RED" and any(n.startswith("ROLLBACK RED") for n in d["notes"]), d["notes"]
    if case in ("update", "delete", "drop-column", "rename-column", "drop-not-null"):
        assert d["rollback_risk"] != "RED", d["notes"]

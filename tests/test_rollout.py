"""The rollout's order and the approval, on a real server (issue 9's reproducers): the state table
decides which phase may run; CONTRACT waits for its 'after' period unless overridden (recorded);
a phase is rolled back only while no later phase is applied; a re-planned plan keeps the
recorded progress and a changed step is refused with a diff; a kill right after a step's effect
(before the old code wrote its done record) is continued by a re-run; a second approval is a
co-signature or a refusal; --confirm of a target the plan does not have is exit 2."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import psycopg

from helpers_apply import (ROOT, catalog, diff, last_line, make_plan, migspec, migspec_inproc, migspec_state,
                           no_traceback, setup_sql, stats)

RENAME = "ALTER TABLE orders RENAME COLUMN note TO remark;\n"


def _one_line_refusal(r, code: int, expect: str) -> None:  # type: ignore[no-untyped-def]
    assert r.returncode == code, (r.returncode, r.stderr)
    no_traceback(r.stderr)
    assert r.stderr.strip().count("\n") == 0 and expect in r.stderr, r.stderr


def _notes(pg: psycopg.Connection) -> list[tuple[int, str | None]]:
    return pg.execute("SELECT id, note FROM orders ORDER BY id").fetchall()


def test_contract_before_migrate_is_refused_and_loses_nothing(pg, pg_dsn: str, pg_server, tmp_path: Path) -> None:
    """200,000-row rename: CONTRACT after EXPAND alone (and after MIGRATE was rolled back) is
    refused with exit 3 naming the phase to run first; every value of the old column is there."""
    pg.execute(setup_sql(200_000))
    plan = make_plan(RENAME, server=pg_server, dsn=pg_dsn, out=tmp_path / "plan.json",
                     stats_doc=stats(rows=200_000, batch_rows=1000))
    assert migspec_inproc("approve", str(plan), "--by", "r", "--confirm", "orders.note").returncode == 0
    before = _notes(pg)
    assert migspec_inproc("apply", str(plan), "--dsn", pg_dsn, "--phase", "expand").returncode == 0
    for command in ("apply", "rollback"):
        st, cat = migspec_state(pg), catalog(pg)
        r = migspec("apply", str(plan), "--dsn", pg_dsn, "--phase", "contract") if command == "apply" else \
            migspec_inproc("apply", str(plan), "--dsn", pg_dsn, "--phase", "contract")
        _one_line_refusal(r, 3, "apply --phase migrate first")
        assert migspec_state(pg) == st and catalog(pg) == cat
        assert _notes(pg) == before
        if command == "apply":  # now run MIGRATE, roll it back, and try CONTRACT again
            assert migspec_inproc("apply", str(plan), "--dsn", pg_dsn, "--phase", "migrate").returncode == 0
            # rollback of EXPAND while MIGRATE is applied: refused as well
            _one_line_refusal(migspec_inproc("rollback", str(plan), "--dsn", pg_dsn, "--phase", "expand"), 3,
                              "rollback --phase migrate first")
            assert migspec_inproc("rollback", str(plan), "--dsn", pg_dsn, "--phase", "migrate").returncode == 0
    assert _notes(pg) == before


def test_contract_waits_for_its_period_unless_overridden_and_recorded(pg, pg_dsn: str, pg_server,
                                                                     tmp_path: Path) -> None:
    pg.execute(setup_sql(3000))
    plan = make_plan(RENAME, server=pg_server, dsn=pg_dsn, out=tmp_path / "plan.json",
                     stats_doc=stats(rows=3000, batch_rows=1000), after_days=7)
    assert migspec_inproc("approve", str(plan), "--by", "r", "--confirm", "orders.note").returncode == 0
    for phase in ("expand", "migrate"):
        assert migspec_inproc("apply", str(plan), "--dsn", pg_dsn, "--phase", phase).returncode == 0
    cat = catalog(pg)
    _one_line_refusal(migspec("apply", str(plan), "--dsn", pg_dsn, "--phase", "contract"), 3,
                      "runs only after 7 days green since MIGRATE finished")
    assert catalog(pg) == cat
    _one_line_refusal(migspec_inproc("apply", str(plan), "--dsn", pg_dsn, "--phase", "contract", "--skip-wait", " "),
                      2, "--skip-wait needs a reason")
    assert pg.execute("SELECT count(*) FROM migspec.events").fetchone()[0] == 0
    r = migspec("apply", str(plan), "--dsn", pg_dsn, "--phase", "contract", "--skip-wait", "incident 42: disk full")
    assert r.returncode == 0, r.stderr
    event, os_user, db_user, detail = pg.execute("SELECT event, os_user, db_user, detail FROM migspec.events").fetchone()
    assert event == "skip-wait" and "incident 42: disk full" in detail
    assert os_user and db_user == pg.execute("SELECT current_user").fetchone()[0]
    # once CONTRACT is done, a re-run needs no override
    assert migspec_inproc("apply", str(plan), "--dsn", pg_dsn, "--phase", "contract").returncode == 0


def test_replanned_plan_keeps_progress_and_refuses_changed_steps(pg, pg_dsn: str, pg_server, tmp_path: Path) -> None:
    """Planned again with fresh stats between phases (other batch sizes and lock timeouts, a new
    file and approval): the recorded EXPAND and MIGRATE are recognised, CONTRACT runs, every
    rollback runs with the new plan and leaves nothing behind. A plan whose recorded step changed
    is refused, naming the step, before anything runs."""
    pg.execute(setup_sql(3000))
    original, rows = catalog(pg), _notes(pg)
    first = make_plan(RENAME, server=pg_server, dsn=pg_dsn, out=tmp_path / "a" / "plan.json",
                      stats_doc=stats(rows=3000, batch_rows=1000))
    assert migspec_inproc("approve", str(first), "--by", "r").returncode == 0
    for phase in ("expand", "migrate"):
        assert migspec_inproc("apply", str(first), "--dsn", pg_dsn, "--phase", phase).returncode == 0
    # The database changed meanwhile; plan again from its current schema with other stats.
    second = make_plan(RENAME, server=pg_server, dsn=pg_dsn, out=tmp_path / "b" / "plan.json",
                       stats_doc=stats(rows=900_000, write_qps=900, batch_rows=1000))
    assert first.read_bytes() != second.read_bytes()
    assert migspec_inproc("approve", str(second), "--by", "r", "--confirm", "orders.note").returncode == 0
    for phase in ("expand", "migrate"):
        r = migspec_inproc("apply", str(second), "--dsn", pg_dsn, "--phase", phase)
        assert r.returncode == 0 and f"{phase}: done (0 step(s) run now)" in r.stderr, r.stderr
    assert migspec_inproc("apply", str(second), "--dsn", pg_dsn, "--phase", "contract").returncode == 0

    # an edited plan: a done MIGRATE step's SQL changed
    doc = json.loads(second.read_text())
    step = next(s for p in doc["phases"] if p["name"] == "expand" for s in p["steps"])
    step["up"][0] = step["up"][0].replace("remark", "remark2")
    edited = tmp_path / "c" / "plan.json"
    edited.parent.mkdir()
    edited.write_text(json.dumps(doc))
    assert migspec_inproc("approve", str(edited), "--by", "r", "--confirm", "orders.note").returncode == 0
    st = migspec_state(pg)
    _one_line_refusal(migspec_inproc("rollback", str(edited), "--dsn", pg_dsn, "--phase", "expand"), 3,
                      "rollback --phase contract first")
    for phase in ("contract", "migrate"):
        assert migspec_inproc("rollback", str(second), "--dsn", pg_dsn, "--phase", phase).returncode == 0
    st = migspec_state(pg)
    r = migspec_inproc("rollback", str(edited), "--dsn", pg_dsn, "--phase", "expand")
    _one_line_refusal(r, 3, "expand step 1 was recorded (done) as 'add column remark")
    assert "has 'add column remark" in r.stderr and migspec_state(pg) == st
    assert migspec_inproc("rollback", str(second), "--dsn", pg_dsn, "--phase", "expand").returncode == 0
    assert not diff(original, catalog(pg)), diff(original, catalog(pg))
    assert _notes(pg) == rows
    assert [r for r in migspec_state(pg) or [] if r[3] == "up"] == []


def _killed_after(plan: Path, dsn: str, command: str, phase: str, point: str) -> None:
    env = {**os.environ, "MIGSPEC_TEST_KILL_AFTER": point,
           "PYTHONPATH": str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-m", "migspec", command, str(plan), "--dsn", dsn, "--phase", phase],
                       capture_output=True, text=True, timeout=120, env=env, cwd=ROOT)
    assert r.returncode == -signal.SIGKILL, (r.returncode, r.stderr)


def test_kill_right_after_a_steps_effect_is_continued_by_a_rerun(pg, pg_dsn: str, pg_server, tmp_path: Path) -> None:
    """SIGKILL right after the effect of a DDL step, of a CONCURRENTLY step and of a DOWN - where
    the old executor had committed the effect but not yet its done record ('column already
    exists' on every re-run): the re-run continues and the end state is the planned one."""
    pg.execute(setup_sql(3000))
    original = catalog(pg)
    sql = RENAME + "CREATE INDEX orders_created_idx ON orders (created_at);\n"
    plan = make_plan(sql, server=pg_server, dsn=pg_dsn, out=tmp_path / "plan.json",
                     stats_doc=stats(rows=3000, batch_rows=1000))
    assert migspec_inproc("approve", str(plan), "--by", "r", "--confirm", "orders.note").returncode == 0
    expand = next(p["steps"] for p in json.loads(plan.read_text())["phases"] if p["name"] == "expand")
    concurrent = next(i for i, s in enumerate(expand, 1) if not s["transactional"])
    for point in ("expand:1:up", f"expand:{concurrent}:up"):
        _killed_after(plan, pg_dsn, "apply", "expand", point)
    r = migspec("apply", str(plan), "--dsn", pg_dsn, "--phase", "expand")
    assert r.returncode == 0, r.stderr
    assert "already exists and is valid" in r.stderr
    after_expand = catalog(pg)
    for phase in ("migrate", "contract"):
        assert migspec_inproc("apply", str(plan), "--dsn", pg_dsn, "--phase", phase).returncode == 0
    for phase in ("contract", "migrate"):
        assert migspec_inproc("rollback", str(plan), "--dsn", pg_dsn, "--phase", phase).returncode == 0
    assert not diff(after_expand, catalog(pg)), diff(after_expand, catalog(pg))
    for point in (f"expand:{len(expand)}:down", "expand:1:down"):
        _killed_after(plan, pg_dsn, "rollback", "expand", point)
    r = migspec("rollback", str(plan), "--dsn", pg_dsn, "--phase", "expand")
    assert r.returncode == 0, r.stderr
    assert not diff(original, catalog(pg)), diff(original, catalog(pg))


def test_second_approval_is_a_cosignature_or_a_refusal(pg, pg_dsn: str, pg_server, tmp_path: Path) -> None:
    pg.execute(setup_sql(100))
    plan = make_plan(RENAME, server=pg_server, dsn=pg_dsn, out=tmp_path / "plan.json")
    record = Path(str(plan) + ".approval")
    # --confirm of a target the plan does not have: exit 2, nothing written
    _one_line_refusal(migspec("approve", str(plan), "--by", "alice", "--confirm", "orders.amount"), 2,
                      "not a destructive target")
    assert not record.exists()
    assert migspec_inproc("approve", str(plan), "--by", "alice").returncode == 0
    r = migspec_inproc("approve", str(plan), "--by", "bob", "--confirm", "public.orders.note")
    assert r.returncode == 0 and "co-signed by bob" in r.stdout, r.stdout
    doc = json.loads(record.read_text())
    assert doc["approved_by"] == "alice" and [c["by"] for c in doc["cosigned"]] == ["bob"]
    assert doc["confirmed"] == ["public.orders.note"]
    # the plan's bytes changed: the approval of the other contents is kept, the new one refused
    plan.write_text(plan.read_text().replace("remark", "remark2"))
    saved = record.read_bytes()
    r = migspec_inproc("approve", str(plan), "--by", "mallory")
    _one_line_refusal(r, 3, "approves other contents")
    assert record.read_bytes() == saved
    assert "mallory" not in last_line(r.stderr)


def test_statement_order_across_phases(pg, pg_dsn: str, pg_server, tmp_path: Path) -> None:
    """ADD CONSTRAINT ... CHECK then RENAME TO: the CHECK is validated in MIGRATE, so the rename
    runs in MIGRATE after it (before, MIGRATE failed: VALIDATE on what had become a view); every
    phase applies and rolls back. A rename after a statement with CONTRACT steps on the table is
    refused (exit 3) with the reason."""
    import pytest

    from migspec.errors import RefusedError

    pg.execute(setup_sql(3000))
    original = catalog(pg)
    sql = ("ALTER TABLE orders ADD CONSTRAINT orders_amount_check CHECK (amount >= 0);\n"
           "ALTER TABLE orders RENAME TO orders2;\n")
    plan = make_plan(sql, server=pg_server, dsn=pg_dsn, out=tmp_path / "plan.json",
                     stats_doc=stats(rows=3000, batch_rows=1000))
    migrate = [s["description"] for p in json.loads(plan.read_text())["phases"] if p["name"] == "migrate"
               for s in p["steps"]]
    assert migrate[0].startswith("validate orders_amount_check") and migrate[1].startswith("rename public.orders")
    assert migspec_inproc("approve", str(plan), "--by", "r").returncode == 0
    for phase in ("expand", "migrate", "contract"):
        r = migspec_inproc("apply", str(plan), "--dsn", pg_dsn, "--phase", phase)
        assert r.returncode == 0, r.stderr
    assert pg.execute("SELECT convalidated FROM pg_constraint WHERE conname = 'orders_amount_check' "
                      "AND conrelid = 'orders2'::regclass").fetchone() == (True,)
    for phase in ("contract", "migrate", "expand"):
        r = migspec_inproc("rollback", str(plan), "--dsn", pg_dsn, "--phase", phase)
        assert r.returncode == 0, r.stderr
    assert not diff(original, catalog(pg)), diff(original, catalog(pg))

    with pytest.raises(RefusedError, match="cannot plan the rename of public.orders: an earlier statement's CONTRACT"):
        make_plan("ALTER TABLE orders DROP COLUMN code;\nALTER TABLE orders RENAME TO orders2;\n", server=pg_server,
                  dsn=pg_dsn, out=tmp_path / "refused.json", stats_doc=stats(rows=3000, batch_rows=1000))


def test_apply_after_a_killed_rollback_redoes_the_step(pg, pg_dsn: str, pg_server, tmp_path: Path) -> None:
    """A rollback of MIGRATE killed after its batched restore but before the step is forgotten,
    then apply instead of finishing the rollback: the UPDATE walks the table again (the restore
    undid rows its cursor had passed), so every row is migrated; then a full rollback."""
    pg.execute(setup_sql(3000))
    notes = pg.execute("SELECT id, note FROM orders ORDER BY id").fetchall()
    plan = make_plan("UPDATE orders SET note = 'archived' WHERE amount % 2 = 0;", server=pg_server, dsn=pg_dsn,
                     out=tmp_path / "plan.json", stats_doc=stats(rows=3000, batch_rows=1000))
    assert migspec_inproc("approve", str(plan), "--by", "r").returncode == 0
    for phase in ("expand", "migrate"):
        assert migspec_inproc("apply", str(plan), "--dsn", pg_dsn, "--phase", phase).returncode == 0
    archived = "SELECT count(*) FROM orders WHERE note = 'archived'"
    assert pg.execute(archived).fetchone()[0] == 1500
    _killed_after(plan, pg_dsn, "rollback", "migrate", "migrate:1:down")
    assert pg.execute(archived).fetchone()[0] == 0
    _one_line_refusal(migspec_inproc("rollback", str(plan), "--dsn", pg_dsn, "--phase", "expand"), 3,
                      "rollback --phase migrate first")
    r = migspec_inproc("apply", str(plan), "--dsn", pg_dsn, "--phase", "migrate")
    assert r.returncode == 0 and "1 step(s) run now" in r.stderr, r.stderr
    assert pg.execute(archived).fetchone()[0] == 1500
    for phase in ("migrate", "expand"):
        assert migspec_inproc("rollback", str(plan), "--dsn", pg_dsn, "--phase", phase).returncode == 0
    assert pg.execute("SELECT id, note FROM orders ORDER BY id").fetchall() == notes


def test_detach_concurrently_killed_before_its_record_is_recognised(pg, pg_dsn: str, pg_server,
                                                                   tmp_path: Path) -> None:
    pg.execute("CREATE TABLE m (id bigint NOT NULL, at date NOT NULL) PARTITION BY RANGE (at); "
               "CREATE TABLE m_1 PARTITION OF m FOR VALUES FROM ('2024-01-01') TO ('2025-01-01'); "
               "CREATE TABLE m_2 PARTITION OF m FOR VALUES FROM ('2025-01-01') TO ('2026-01-01')")
    doc = stats(rows=1000)
    doc["tables"] = {t: doc["tables"]["public.orders"] for t in ("public.m", "public.m_1")}
    plan = make_plan("ALTER TABLE m DETACH PARTITION m_1;", server=pg_server, dsn=pg_dsn, out=tmp_path / "plan.json",
                     stats_doc=doc)
    step = json.loads(plan.read_text())["phases"][0]["steps"][0]
    assert "CONCURRENTLY" in step["up"][0] and not step["transactional"]
    assert migspec_inproc("approve", str(plan), "--by", "r").returncode == 0
    phase = json.loads(plan.read_text())["phases"][0]["name"]
    _killed_after(plan, pg_dsn, "apply", phase, f"{phase}:1:up")
    parts = "SELECT count(*) FROM pg_inherits WHERE inhparent = 'm'::regclass"
    assert pg.execute(parts).fetchone()[0] == 1
    r = migspec("apply", str(plan), "--dsn", pg_dsn, "--phase", phase)
    assert r.returncode == 0 and "no longer a partition" in r.stderr, r.stderr
    assert pg.execute(parts).fetchone()[0] == 1

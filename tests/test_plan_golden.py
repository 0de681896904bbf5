"""Golden plans: for each rewrite, the rendered text / markdown / json plan is stored and diffed.
Regenerate with ``MIGSPEC_UPDATE_GOLDEN=1 bash scripts/test tests/test_plan_golden.py`` and review
the diff. Also: every UP and DOWN statement the planner emits re-parses with pglast (DO and
function bodies with pglast's PL/pgSQL parser)."""

from __future__ import annotations

import json
import os
import re
from dataclasses import replace
from pathlib import Path

import pytest
from pglast import parse_plpgsql, parse_sql

from migspec.parse.source import Migration, parse_text
from migspec.plan.builder import PlanOptions, plan_migration
from migspec.planfile.model import Step
from migspec.render.plan import RENDERERS
from migspec.stats import parse_stats
from test_plan_roundtrip import CASES, CONFIRM, SETUP, STATS

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("MIGSPEC_UPDATE_GOLDEN") == "1"
SUFFIX = {"text": "txt", "markdown": "md", "json": "json"}


def _plan(case: str, tmp_path: Path):
    schema = tmp_path / "schema.sql"
    schema.write_text(SETUP, encoding="utf-8")
    stats = parse_stats(STATS, "stats.yaml")
    migration = Migration(case, (f"{case}.sql",), tuple(parse_text(CASES[case], f"{case}.sql")))
    return plan_migration(migration, stats, schema_path=schema, pg_version=15, options=PlanOptions(CONFIRM))


@pytest.mark.parametrize("fmt", sorted(SUFFIX))
@pytest.mark.parametrize("case", sorted(CASES))
def test_golden(case: str, fmt: str, tmp_path: Path) -> None:
    plan, report = _plan(case, tmp_path)
    text = RENDERERS[fmt](plan, report)
    path = GOLDEN / f"{case}.{SUFFIX[fmt]}"
    if UPDATE or not path.exists():
        if not UPDATE:
            pytest.fail(f"missing golden file {path.name}: run with MIGSPEC_UPDATE_GOLDEN=1 and review it")
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), f"{path.name} changed: rerun with MIGSPEC_UPDATE_GOLDEN=1 and review"
    if fmt == "json":
        doc = json.loads(text)
        assert {"migration", "risk", "pg_version", "tables", "operations", "phases", "rollback", "runbook",
                "confirmations_required", "handoff"} <= set(doc)
        for phase in doc["phases"]:
            assert phase["name"] in ("expand", "migrate", "contract")
            for step in phase["steps"]:
                assert {"description", "up", "down", "transactional", "lock", "estimate_seconds", "batch_size",
                        "requires_confirmation"} <= set(step)


_BODY = re.compile(r"\$migspec\$(.*?)\$migspec\$", re.S)


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_emitted_statement_parses(case: str, tmp_path: Path) -> None:
    plan, _ = _plan(case, tmp_path)
    statements = [s for p in plan.phases for st in p.steps for s in (*st.up, *st.down)]
    statements += [q.split(": ", 1)[-1] for q in (*plan.runbook.pre_check, *plan.runbook.post_verify)]
    assert statements
    for sql in statements:
        assert parse_sql(sql), sql
        for body in _BODY.findall(sql):
            if sql.lstrip().upper().startswith("DO"):
                parse_plpgsql(f"DO $$\n{body}\n$$")
            else:
                parse_plpgsql(f"CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $$\n{body}\n$$")


def test_destructive_steps_wait_for_confirmation(tmp_path: Path) -> None:
    schema = tmp_path / "schema.sql"
    schema.write_text(SETUP, encoding="utf-8")
    stats = parse_stats(STATS, "stats.yaml")
    migration = Migration("d", ("d.sql",), tuple(parse_text(CASES["drop-column"], "d.sql")))
    plan, _ = plan_migration(migration, stats, schema_path=schema, pg_version=15)
    assert [c.target for c in plan.confirmations] == ["public.orders.note"]
    assert not plan.confirmations[0].confirmed
    assert "destructive steps stay blocked until confirmed: public.orders.note" in plan.handoff
    confirmed, _ = plan_migration(migration, stats, schema_path=schema, pg_version=15,
                                  options=PlanOptions(("orders.note",)))
    assert confirmed.confirmations[0].confirmed
    assert confirmed.handoff == "ready for user approval before execution."


def _as_filed(step: Step) -> Step:
    """The step as the file keeps it: estimates rounded to milliseconds, all else unchanged."""
    low = step.estimate_low_seconds
    return replace(step, estimate_seconds=round(step.estimate_seconds, 3),
                   estimate_low_seconds=None if low is None else round(low, 3),
                   down_steps=tuple(_as_filed(d) for d in step.down_steps))


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_plan_file_round_trips(case: str, tmp_path: Path) -> None:
    """migspec.planfile owns the format both ways: every step the planner makes loads back equal,
    DOWN units included; a plan from a newer format is refused with a message, not misread."""
    from migspec import planfile
    from migspec.errors import InputError

    plan, report = _plan(case, tmp_path)
    path = tmp_path / "plan.json"
    path.write_text(planfile.dumps(plan, report), encoding="utf-8")
    loaded = planfile.load(path)
    for phase in plan.phases:
        assert loaded.phase(phase.name.value) == [_as_filed(s) for s in phase.steps]
    doc = json.loads(path.read_text(encoding="utf-8"))
    path.write_text(json.dumps({**doc, "format": planfile.FORMAT + 1}), encoding="utf-8")
    with pytest.raises(InputError, match="plan format"):
        planfile.load(path)


@pytest.mark.parametrize("version", [15, 18])
def test_lint_suggests_the_steps_plan_builds(version: int, tmp_path: Path) -> None:
    """One NOT NULL recipe: the fix setting-not-null-on-existing-column prints is, statement for
    statement, the UP of the steps plan builds for the same SET NOT NULL (PG18: NOT NULL NOT VALID)."""
    schema = tmp_path / "schema.sql"
    schema.write_text(SETUP, encoding="utf-8")
    stats = parse_stats({**STATS, "pg_version": version}, "stats.yaml")
    case = "set-not-null"
    migration = Migration(case, (f"{case}.sql",), tuple(parse_text(CASES[case], f"{case}.sql")))
    plan, report = plan_migration(migration, stats, schema_path=schema, pg_version=version,
                                  options=PlanOptions(CONFIRM))
    fixes = [f.alternative for f in report.findings if f.rule == "setting-not-null-on-existing-column"]
    planned = "; ".join(sql for phase in plan.phases for step in phase.steps for sql in step.up)
    assert fixes == [planned]
    assert ("NOT NULL customer_id NOT VALID" if version >= 18 else "IS NOT NULL) NOT VALID") in planned


def _tree(sql: str) -> object:
    """The statement's parse tree without positions: the same statement however it is spelled."""
    from pglast.parser import parse_sql_json

    def strip(node: object) -> object:
        if isinstance(node, dict):
            return {k: strip(v) for k, v in node.items() if k not in ("location", "stmt_location", "stmt_len")}
        return [strip(v) for v in node] if isinstance(node, list) else node

    return strip(json.loads(parse_sql_json(sql)))


@pytest.mark.parametrize("sql", [
    "CREATE INDEX orders_note_idx2 ON orders (note);",
    # WHERE, INCLUDE, the method and the expression kept: the rule once rebuilt the statement from
    # the plain columns, so a partial unique index became a plain unique one.
    "-- why\nCREATE UNIQUE INDEX IF NOT EXISTS orders_note_lower ON orders USING btree (lower(note))\n"
    "  INCLUDE (amount) WHERE amount > 0;",
])
def test_lint_index_fix_is_the_statement_plan_runs(sql: str, tmp_path: Path) -> None:
    """creating-index-non-concurrently suggests the statement the plan builds: the same parse tree."""
    schema = tmp_path / "schema.sql"
    schema.write_text(SETUP, encoding="utf-8")
    migration = Migration("m", ("m.sql",), tuple(parse_text(sql, "m.sql")))
    plan, report = plan_migration(migration, parse_stats(STATS, "stats.yaml"), schema_path=schema,
                                  options=PlanOptions(CONFIRM))
    fixes = [f.alternative for f in report.findings if f.rule == "creating-index-non-concurrently"]
    assert len(fixes) == 1 and fixes[0].endswith("; outside any transaction")
    planned = [sql for phase in plan.phases for step in phase.steps for sql in step.up]
    assert len(planned) == 1 and "CONCURRENTLY" in planned[0]
    assert _tree(fixes[0].removesuffix("; outside any transaction")) == _tree(planned[0])


@pytest.mark.parametrize("sql, rule", [
    ("ALTER TABLE orders ADD CONSTRAINT orders_customer_fk FOREIGN KEY (customer_id) REFERENCES customers (id) "
     "ON DELETE CASCADE;", "adding-foreign-key-without-not-valid"),
    # No name written: the fix uses the name the plan gives it (it must name it to VALIDATE it).
    ("ALTER TABLE orders ADD FOREIGN KEY (customer_id)\n    REFERENCES customers (id);",
     "adding-foreign-key-without-not-valid"),
    ("ALTER TABLE ONLY orders ADD CONSTRAINT \"Amount ok\" CHECK (amount >= 0 AND note <> 'a;b') NO INHERIT;",
     "adding-check-constraint-without-not-valid"),
    ("alter table orders add check (amount > -1);", "adding-check-constraint-without-not-valid"),
])
def test_lint_constraint_fix_is_the_recipe_plan_runs(sql: str, rule: str, tmp_path: Path) -> None:
    """The FOREIGN KEY and CHECK rules suggest the plan's own statements (ADD ... NOT VALID under the
    plan's name, then VALIDATE): the same parse trees, the definition as written (its ON DELETE,
    NO INHERIT, quoted name and string kept). They printed a generic "ADD CONSTRAINT ... NOT VALID"."""
    schema = tmp_path / "schema.sql"
    schema.write_text(SETUP, encoding="utf-8")
    migration = Migration("m", ("m.sql",), tuple(parse_text(sql, "m.sql")))
    plan, report = plan_migration(migration, parse_stats(STATS, "stats.yaml"), schema_path=schema,
                                  options=PlanOptions(CONFIRM))
    fixes = [f.alternative for f in report.findings if f.rule == rule]
    assert len(fixes) == 1 and "..." not in fixes[0], fixes
    suggested = [s for s in fixes[0].split("; ") if s.startswith("ALTER TABLE")]
    planned = [sql for phase in plan.phases for step in phase.steps for sql in step.up
               if "NOT VALID" in sql or "VALIDATE CONSTRAINT" in sql]
    assert len(suggested) == len(planned) == 2
    assert [_tree(s) for s in suggested] == [_tree(s) for s in planned]


@pytest.mark.parametrize("version, sql, locks", [
    (11, "REINDEX INDEX orders_note_idx;", ["SHARE"]),  # the index's table, from the schema facts
    (15, "REINDEX INDEX orders_note_idx;", ["SHARE_UPDATE_EXCLUSIVE"]),
    (15, "DROP INDEX orders_note_idx;", ["SHARE_UPDATE_EXCLUSIVE"]),
    (15, "ALTER TABLE orders ADD CONSTRAINT orders_customer_fk FOREIGN KEY (customer_id) REFERENCES customers (id);",
     ["SHARE_UPDATE_EXCLUSIVE", "SHARE_ROW_EXCLUSIVE", "SHARE_UPDATE_EXCLUSIVE"]),
    (15, "DELETE FROM orders WHERE amount > 4000;", [None, "ROW_EXCLUSIVE"]),  # the backup table: no lock
])
def test_step_locks_are_the_operations_locks(version: int, sql: str, locks: list[str | None], tmp_path: Path) -> None:
    """No rewrite types a lock: each step's is what the operations its UP parses into take on its
    table (ops data, checked on a real server by tests/test_trace.py), for the target version."""
    schema = tmp_path / "schema.sql"
    schema.write_text(SETUP, encoding="utf-8")
    migration = Migration("m", ("m.sql",), tuple(parse_text(sql, "m.sql")))
    plan, _ = plan_migration(migration, parse_stats({**STATS, "pg_version": version}, "stats.yaml"),
                             schema_path=schema, pg_version=version, options=PlanOptions(CONFIRM))
    assert [s.lock.name if s.lock else None for p in plan.phases for s in p.steps] == locks

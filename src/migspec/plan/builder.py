"""Lint report -> Plan: rewrite every operation into steps, order them into phases, derive the
rollout's risk, the confirmations, and the runbook."""

from __future__ import annotations

import re

from pathlib import Path
from typing import Any

from pglast.ast import AlterTableStmt, DropStmt, RangeVar, ViewStmt
from pglast.enums import ObjectType

from migspec import policy
from migspec.errors import RefusedError
from migspec.estimate.throughput import Calibration, format_duration
from migspec.frozen import frozen
from migspec.lint import Report
from migspec.parse.source import Migration
from migspec.stats import Stats
from migspec.names import QualifiedName, quote_ident, quote_literal
from migspec.plan.context import PlanContext
from migspec.ops.misc import DetachPartition
from migspec.ops.table import CreateTable
from migspec.planfile import normalize_target
from migspec.planfile.model import Confirmation, Phase, PhaseName, Plan, Runbook, Step
from migspec.plan.pk_widen import claim
from migspec.plan.rewrites import rewrite
from migspec.risk import Risk, Thresholds, classify_stall, stall_seconds
from migspec.schema import Schema, drift, from_stats, learn, load

ORDER = (PhaseName.EXPAND, PhaseName.MIGRATE, PhaseName.CONTRACT)


@frozen
class PlanOptions:
    confirm: tuple[str, ...] = ()
    contract_after_days: int = policy.CONTRACT_AFTER_DAYS


def plan_migration(migration: Migration, stats: Stats, *, schema_path: str | Path | None = None,
                   pg_version: int | None = None, transaction_per_file: bool = False,
                   calibration: Calibration | None = None, options: PlanOptions = PlanOptions()
                   ) -> tuple[Plan, Report]:
    """Migration + measurements (+ a pg_dump schema) -> the lint report and the plan: the one
    path the CLI, verify and the tests take. One schema model feeds both, so lint and the planner
    agree on the columns' current types."""
    from migspec.lint import lint

    schema = load(stats, schema_path)
    report = lint(migration, stats, pg_version=pg_version, transaction_per_file=transaction_per_file,
                  calibration=calibration, schema=schema)
    return build_plan(report, schema=schema, calibration=calibration, options=options), report


def build_plan(report: Report, *, schema: Schema | None = None, calibration: Calibration | None = None,
               options: PlanOptions = PlanOptions()) -> Plan:
    stats = report.stats
    thresholds = Thresholds.from_mapping(stats.thresholds, stats.origin)
    confirmed: dict[str, str | None] = {normalize_target(t): None for t in options.confirm}
    for r in report.results:
        for d in r.item.stmt.directives:
            if d.verb == "confirm":
                for target in d.targets:
                    confirmed[normalize_target(target.removeprefix("drop ").strip())] = d.reason
    ctx = PlanContext(report.version, stats, schema.copy() if schema is not None else from_stats(stats), thresholds,
                      (calibration or Calibration()).bound(stats),
                      confirmed, options.contract_after_days)
    by_phase: dict[PhaseName, list[Step]] = {p: [] for p in ORDER}
    confirmations: dict[str, Confirmation] = {}
    moved: dict[QualifiedName, PhaseName] = {}  # renamed tables whose rename runs later than EXPAND
    detached: dict[QualifiedName, PhaseName] = {}  # partitions detached, and the phase that does it
    learned: set[int] = set()
    # Statements planned together, not one by one: a primary key widened to bigint (pk_widen).
    claimed, widen_notes = claim([r.item for r in report.results], ctx)
    for r in report.results:
        planned = claimed[id(r.item)] if id(r.item) in claimed else rewrite(r.item, ctx)
        steps = view_after_its_tables(r.item, planned, by_phase)
        drops_before_recreate(r.item, steps, by_phase)
        for phase, step in in_order(r.item, after_detach(r.item, steps, detached), by_phase, moved):
            by_phase[phase].append(step)
            if step.requires_confirmation:
                target = normalize_target(step.requires_confirmation)
                confirmations.setdefault(target, Confirmation(target, r.item.op.kind, target in confirmed,
                                                              confirmed.get(target)))
        # What the statement changed is a fact for the steps after it: a table the migration
        # creates is known from its own statements (no measurement: it is empty), and a column's
        # NOT NULL dropped earlier is not restored twice by a later DOWN.
        if (r.item.new_table or isinstance(r.item.op, CreateTable) and r.item.op.table not in stats.tables
                or isinstance(r.item.stmt.node, AlterTableStmt) or _drops_view(r.item.stmt.node)) \
                and r.item.stmt.index not in learned:
            learned.add(r.item.stmt.index)
            learn(ctx.schema, r.item.stmt.node)
    phases = tuple(Phase(p, tuple(by_phase[p]), policy.contract_wait(options.contract_after_days)
                         if p is PhaseName.CONTRACT else None) for p in ORDER if by_phase[p])
    risk, notes = plan_risk(phases, report, thresholds)
    # The DOWNs run against the schema as the migration left it (the planner's model after it).
    back, back_notes = rollback_risk(phases, report, thresholds, calibration, ctx.schema)
    notes += back_notes + widen_notes
    notes += list(report.notes)
    window = stats.maintenance_window
    if risk is Risk.RED:
        total = sum(p.estimate_seconds for p in phases)
        if window:
            length = window_seconds(window)
            fits = length is not None and total <= length
            notes.append(f"RED: needs the maintenance window {window}; estimated {format_duration(total)} at the "
                         "pessimistic end (cold cache, under the measured write load) "
                         + ("fits in it" if fits else "does NOT fit in it" if length else "(window length unreadable)"))
        else:
            notes.append("RED: a step still blocks writes longer than the table tolerates and no maintenance "
                         "window is recorded in the stats (maintenance_window: none)")
    for phase in phases:
        for step in phase.steps:
            if not step.reversible:
                notes.append(f"{phase.name.value.upper()}: '{step.description}' is not reversible: {step.down_note}")
    return Plan(report.migration.name, risk, report.version, phases, runbook(phases, report, thresholds),
                tuple(confirmations.values()), tuple(notes), window, back,
                drift.record(schema if schema is not None else from_stats(stats), report.tables))


def _touches(step: Step, t: QualifiedName) -> bool:
    if step.manual:
        return False
    if step.table == t or (step.backfill is not None and t in (step.backfill.table, step.backfill.source)):
        return True
    return any(t.sql in s for s in step.up)


def _drops_view(node: Any) -> bool:
    """A DROP VIEW: the views a later step's refusal looks at no longer include it."""
    return isinstance(node, DropStmt) and node.removeType == ObjectType.OBJECT_VIEW


def view_after_its_tables(item: Any, steps: list[tuple[PhaseName, Step]], by_phase: dict[PhaseName, list[Step]]
                          ) -> list[tuple[PhaseName, Step]]:
    """A CREATE VIEW runs in the last phase that changes a relation it reads (after a column swap
    in CONTRACT, not before it: a view binds the column it was created on); the DROP VIEW of the
    same view planned earlier moves to the start of that phase, so the view is missing only
    between the two, not for the days between EXPAND and CONTRACT."""
    from migspec.parse.source import iter_nodes

    node = item.stmt.node
    if not isinstance(node, ViewStmt) or not steps:
        return steps
    reads = {QualifiedName(n.schemaname or "public", n.relname) for n in iter_nodes(node.query)
             if isinstance(n, RangeVar)}
    latest = max((ORDER.index(p) for p in ORDER for s in by_phase[p] if any(_touches(s, t) for t in reads)),
                 default=0)
    if latest == 0:
        return steps
    view = QualifiedName(node.view.schemaname or "public", node.view.relname)
    for p in ORDER[:latest]:
        for s in [s for s in by_phase[p] if s.up and s.up[0] == f"DROP VIEW {view.sql}"]:
            by_phase[p].remove(s)
            by_phase[ORDER[latest]].insert(0, s)
    return [(ORDER[latest], s) for _, s in steps]


def drops_before_recreate(item: Any, steps: list[tuple[PhaseName, Step]], by_phase: dict[PhaseName, list[Step]]
                          ) -> None:
    """An index, constraint or view dropped by an earlier statement and created again under the
    same name (a changed definition, as 'plan --target' writes it) is dropped in the phase that
    creates it, just before: a drop left in CONTRACT would run after the new one was built (or
    skipped as already there) and remove it."""
    from migspec.ops import constraint, index

    if not steps:
        return
    op, node = item.op, item.stmt.node
    if isinstance(op, index.CreateIndex) and op.name and op.table:
        name = op.table.sibling(op.name).sql
        drops = (f"DROP INDEX CONCURRENTLY IF EXISTS {name}", f"DROP INDEX {name}")
    elif isinstance(op, constraint.AddConstraint) and op.name and op.table:
        drops = (f"ALTER TABLE {op.table.sql} DROP CONSTRAINT {quote_ident(op.name)}",)
    elif isinstance(node, ViewStmt):
        drops = (f"DROP VIEW {QualifiedName(node.view.schemaname or 'public', node.view.relname).sql}",)
    else:
        return
    phase = steps[0][0]
    for p in ORDER:
        for s in [s for s in by_phase[p] if p is not phase and s.up and s.up[0] in drops]:
            by_phase[p].remove(s)
            by_phase[phase].append(s)


def after_detach(item: Any, steps: list[tuple[PhaseName, Step]], detached: dict[QualifiedName, PhaseName]
                 ) -> list[tuple[PhaseName, Step]]:
    """A statement on a table an earlier statement detaches from its parent runs after the detach
    (in CONTRACT, where DETACH PARTITION goes): what it changes (a copy of the parent's key
    dropped, a NOT NULL constraint renamed) is the partition's own only once it is detached -
    before, PostgreSQL refuses it as inherited (42P16)."""
    out = []
    for phase, step in steps:
        floor = max((ORDER.index(at) for t, at in detached.items() if _touches(step, t)), default=0)
        out.append((ORDER[max(ORDER.index(phase), floor)], step))
    if isinstance(item.op, DetachPartition) and out:
        detached[item.op.partition] = out[0][0]
    return out


def in_order(item: Any, steps: list[tuple[PhaseName, Step]], by_phase: dict[PhaseName, list[Step]],
             moved: dict[QualifiedName, PhaseName]) -> list[tuple[PhaseName, Step]]:
    """Statement order across the phases: every step must still find its object when it runs.

    A table rename runs in EXPAND (the table gets its new name, a view keeps the old one). An
    earlier statement whose steps run later on the old name (a CHECK validated in MIGRATE) would
    find the view: the rename moves to MIGRATE, after them, before its own deploy step. Steps of
    CONTRACT on the old name, or steps of a later statement on the new name that would now run
    before the moved rename, cannot be ordered: refused (exit 3) with the reason."""
    from migspec.ops import table as table_ops

    for phase, step in steps:
        for new, at in moved.items():
            if ORDER.index(phase) < ORDER.index(at) and _touches(step, new):
                raise RefusedError(f"{item.stmt.location}: this statement uses {new}, whose rename runs in "
                                   f"{at.value.upper()} (moved there so earlier statements find their table); "
                                   f"plan it in a separate migration applied after this one")
    op = item.op
    if not isinstance(op, table_ops.RenameTable) or item.new_table or not steps or steps[0][0] is not PhaseName.EXPAND:
        return steps
    t = op.table
    later = [(p, s) for p in ORDER[1:] for s in by_phase[p] if _touches(s, t)]
    if not later:
        return steps
    if any(p is PhaseName.CONTRACT for p, _ in later):
        step = next(s for p, s in later if p is PhaseName.CONTRACT)
        raise RefusedError(f"{item.stmt.location}: cannot plan the rename of {t}: an earlier statement's "
                           f"CONTRACT step ('{step.description}') runs on {t} after the rename would have made it "
                           "a view; plan the rename in a separate migration applied after this one")
    new = t.sibling(op.new_name)
    moved[new] = PhaseName.MIGRATE
    return [(PhaseName.MIGRATE, steps[0][1]), *steps[1:]]


def step_risk(step: Step, phase: Phase, report: Report, t: Thresholds) -> Risk:
    if step.manual or step.lock is None or step.backfill is not None:
        return Risk.GREEN
    if not step.lock.blocks_writes:
        return Risk.GREEN
    ts = report.stats.table(step.table) if step.table else None
    qps = (ts.write_qps or 0.0) if ts else 0.0
    # The queue a lock attempt may meet: the table's longest transaction, or (unmeasured) the
    # whole lock_timeout; the step's own lock_timeout then bounds the stall (risk.stall_seconds).
    queue = ts.lock_contention.longest_transaction_seconds if ts and ts.lock_contention else \
        (step.lock_timeout_s or 0.0)
    return classify_stall(stall_seconds(queue, step.estimate_seconds, step.lock_timeout_s), qps, t)[0]


def plan_risk(phases: tuple[Phase, ...], report: Report, t: Thresholds) -> tuple[Risk, list[str]]:
    """The brief's meaning, for the rollout as planned: GREEN additive with no writes blocked;
    YELLOW when it needs a coordinated deploy, dual writes or a contract phase; RED when a step
    still needs a maintenance window or a long write-blocking lock."""
    risk, notes = Risk.GREEN, []
    for phase in phases:
        for step in phase.steps:
            r = step_risk(step, phase, report, t)
            if r is Risk.RED:
                notes.append(f"RED step: {step.description} (est. {step.estimate_text} "
                             f"under {step.lock.sql_name if step.lock else 'a lock'})")
            risk = max(risk, r)
            if step.manual or step.requires_confirmation or "trigger" in step.description:
                risk = max(risk, Risk.YELLOW)
        if phase.name is PhaseName.CONTRACT:
            risk = max(risk, Risk.YELLOW)
    return risk, notes


def down_risk(step: Step, phase: Phase, report: Report, t: Thresholds,
              calibration: Calibration | None, after: Schema) -> tuple[Risk, str]:
    """The risk of one step's DOWN. A DOWN planned as parts (guarded DDL, batched restores) is
    judged part by part like UP steps; a DOWN of plain statements is linted like a migration, at
    the same production size and traffic (a narrowing type change is a rewrite, a SET NOT NULL a
    scan under ACCESS EXCLUSIVE)."""
    from migspec.errors import MigspecError
    from migspec.lint import lint
    from migspec.parse.source import Migration, parse_text

    if step.down_steps:
        worst, why = Risk.GREEN, ""
        for part in step.down_steps:
            r = step_risk(part, phase, report, t)
            if r > worst:
                worst, why = r, part.description
        return worst, why
    if not step.down:
        return Risk.GREEN, ""
    try:
        # The executor runs a plain DOWN with the step's own guard (apply._rollback_step).
        guard = ([f"SET lock_timeout = '{int(step.lock_timeout_s * 1000)}ms'"] if step.lock_timeout_s else [])
        text = "\n".join(s.rstrip().rstrip(";") + ";" for s in guard + list(step.down))
        found = lint(Migration("down", ("down.sql",), tuple(parse_text(text, "down.sql"))), report.stats,
                     pg_version=report.version, calibration=calibration, require_stats=False, schema=after)
    except MigspecError as exc:  # a DOWN migspec cannot judge is not called safe
        return Risk.YELLOW, f"not assessed: {exc}"
    # The operational verdict (lock x work x size x traffic), not the rules' advice: a DOWN is
    # meant to drop what its UP added.
    worst, why = Risk.GREEN, ""
    for r in found.results:
        if r.assessment.risk > worst:
            worst, why = r.assessment.risk, "; ".join(r.assessment.reasons)
    return worst, why


def rollback_risk(phases: tuple[Phase, ...], report: Report, t: Thresholds,
                  calibration: Calibration | None, after: Schema) -> tuple[Risk, list[str]]:
    risk, notes = Risk.GREEN, []
    for phase in phases:
        for step in phase.steps:
            r, why = down_risk(step, phase, report, t, calibration, after)
            if r > Risk.GREEN:
                notes.append(f"ROLLBACK {r}: {phase.name.value.upper()} '{step.description}': its DOWN "
                             + (f"({why})" if why else "blocks writes"))
            risk = max(risk, r)
    return risk, notes


def window_seconds(window: str) -> float | None:
    m = re.search(r"(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})", window)
    if not m:
        return None
    a, b = int(m[1]) * 60 + int(m[2]), int(m[3]) * 60 + int(m[4])
    return float(((b - a) % (24 * 60)) * 60)


def runbook(phases: tuple[Phase, ...], report: Report, t: Thresholds) -> Runbook:
    tables = list(report.tables)
    # to_regclass: a re-run after a rename or drop must not fail on the old name.
    regs = ", ".join(f"to_regclass({quote_literal(n.sql)})" for n in tables) or "NULL"
    pre = [
        f"no transaction older than {policy.MAX_TRANSACTION_AGE_S} s: SELECT count(*) = 0 AS ok FROM pg_stat_activity "
        f"WHERE xact_start < now() - interval '{policy.MAX_TRANSACTION_AGE_S} seconds' AND pid <> pg_backend_pid()",
        "no INVALID index left by an earlier attempt: SELECT count(*) = 0 AS ok FROM pg_index WHERE NOT indisvalid",
        f"replication lag under {policy.MAX_REPLICATION_LAG_S:g} s: SELECT coalesce(max(extract(epoch FROM replay_lag)), 0) "
        f"< {policy.MAX_REPLICATION_LAG_S:g} AS ok FROM pg_stat_replication",
        f"nobody waits for locks on the tables: SELECT count(*) = 0 AS ok FROM pg_locks WHERE NOT granted AND "
        f"relation IN ({regs})",
    ]
    cutover: list[str] = []
    for i, phase in enumerate(phases, 1):
        who = "DBA on call" if phase.name is not PhaseName.MIGRATE else "DBA on call, with the application team"
        cut = f"{i}. {phase.name.value.upper()} ({who}): migspec apply plan.json --phase {phase.name.value}"
        if phase.after:
            cut += f" - only after {phase.after} since MIGRATE finished"
        cutover.append(cut)
        for step in phase.steps:
            if step.manual:
                cutover.append(f"   - {step.description} (application team), before continuing")
    if not cutover:
        cutover.append("nothing to run")
    trigger = [
        f"lock waits: any session waiting more than {t.recommended_lock_timeout_seconds:g} s on {', '.join(map(str, tables)) or 'the tables'} "
        "(pg_locks NOT granted) -> stop and run the phase's ROLLBACK",
        "error rate of the application above its baseline for 5 minutes -> ROLLBACK the last phase",
        f"replication lag above {policy.MAX_REPLICATION_LAG_S * 2:g} s -> pause the backfill; above {policy.ROLLBACK_REPLICATION_LAG_S:g} s -> ROLLBACK",
        "any post-verify query below returns false -> ROLLBACK the phase it checks",
    ]
    post = [s.post_check for p in phases for s in p.steps if s.post_check]
    post = list(dict.fromkeys(post)) or ["SELECT true AS ok  -- nothing to verify beyond the steps succeeding"]
    return Runbook(tuple(pre), tuple(cutover), tuple(trigger), tuple(post))


def table_sql(name: QualifiedName) -> str:
    return name.sql

"""Render an :class:`UpgradePlan` in the formats of schema plans (text, markdown, json).

The JSON keeps the schema plan's keys (``migration``, ``risk``, ``phases`` of steps with ``up``,
``down``..., ``rollback``, ``runbook``, ``handoff``), so ``migspec approve`` and the plan loader
read it unchanged; the ``upgrade`` key holds the method, why, findings and estimates, and each
step adds ``action`` and ``server`` for the executor.
"""

from __future__ import annotations

import json
from typing import Any

from migspec.estimate.throughput import format_duration
from migspec.planfile import step_dict
from migspec.render.layout import PLAIN_WIDTH, Block, Sql, layout, para, plain
from migspec.render.lint import risk_segment
from migspec.render.plan import note, runbook_blocks, statement
from migspec.upgrade.postgres.planner import UpgradePlan


def upgrade_dict(up: UpgradePlan) -> dict[str, Any]:
    plan = up.plan
    phases = []
    for p in plan.phases:
        steps = []
        for s in p.steps:
            action, server = up.action_of(s)
            steps.append({**step_dict(s), "action": action, "server": server})
        phases.append({"name": p.name.value, "estimate_seconds": round(p.estimate_seconds, 3),
                       "reversible": p.reversible, "after": p.after, "steps": steps})
    return {
        "migration": plan.migration, "risk": str(plan.risk), "pg_version": plan.pg_version,
        "kind": "postgres-upgrade",
        "upgrade": {"method": up.method, "why": up.why, "source_major": up.source_major,
                    "target_major": up.target_major, "downtime_budget_seconds": up.budget_seconds,
                    "findings": [{"risk": str(f.risk), "method": f.method, "message": f.message, "fix": f.fix}
                                 for f in up.findings],
                    "estimates": up.estimates.as_dict(),
                    "sequences": list(up.facts["sequences"]),
                    "database_bytes": up.facts["database_bytes"],
                    "row_changes_per_second": up.facts["row_changes_per_second"],
                    "rates": {k: v for k, v in vars(up.rates).items()}},
        "phases": phases,
        "rollback": [{"phase": p.name.value, "steps": [d for s in reversed(p.steps) for d in
                                                        (s.down or ((f"-- {s.down_note}",) if s.down_note else ()))]}
                     for p in reversed(plan.phases)],
        "runbook": {"pre_check": list(plan.runbook.pre_check), "cutover": list(plan.runbook.cutover),
                    "rollback_trigger": list(plan.runbook.rollback_trigger),
                    "post_verify": list(plan.runbook.post_verify)},
        "confirmations_required": [], "notes": list(plan.notes), "maintenance_window": plan.maintenance_window,
        "handoff": plan.handoff,
    }


def render_json(up: UpgradePlan) -> str:
    return json.dumps(upgrade_dict(up), indent=2) + "\n"


def _lines(up: UpgradePlan) -> list[str]:
    e = up.estimates
    out = [f"METHOD: {up.method} - {up.why}"]
    if up.method == "logical":
        catch = format_duration(e.catch_up_seconds)
        out.append(f"ESTIMATES: copy {format_duration(e.copy_seconds)}, catch-up {catch}, write pause at cutover "
                   f"{format_duration(e.logical_pause_seconds)}, slot retains "
                   + ("unknown" if e.slot_retention_bytes == float("inf") else f"{e.slot_retention_bytes:,.0f} B"))
    else:
        out.append(f"ESTIMATES: pg_upgrade ({e.pg_upgrade_mode} mode) {format_duration(e.pg_upgrade_seconds)} = "
                   "the write pause")
    out.append(f"RATES: {up.rates.source}")
    for f in up.findings:
        out.append(f"{f.risk}: {f.message}" + (f" - fix: {f.fix}" if f.fix else ""))
    return out


def text_blocks(up: UpgradePlan) -> list[Block]:
    """The text format as layout blocks: every statement whole (never cut), prose wrapped."""
    plan = up.plan
    out: list[Block] = [para(("UPGRADE: ", "heading"), plan.migration),
                        para(("RISK: ", "heading"), risk_segment(plan.risk))]
    out += [para(line, hang=4) for line in _lines(up)]
    out.append(para(("PHASES:", "heading")))
    for i, phase in enumerate(plan.phases, 1):
        when = f" - after: {phase.after}" if phase.after else ""
        out.append(para((f"{i}. {phase.name.value.upper()}", "heading"),
                        " - est: ", (format_duration(phase.estimate_seconds), "estimate"),
                        f" - reversible: {'yes' if phase.reversible else 'no'}{when}", indent=2, hang=5))
        for j, step in enumerate(phase.steps, 1):
            action, server = up.action_of(step)
            meta = [f"on {server}"] + (["manual"] if step.manual else [])
            if step.estimate_seconds > 0.01:
                meta.append(f"est {format_duration(step.estimate_seconds)}")
            out.append(para(f"{i}.{j} {step.description} [{', '.join(meta)}]", indent=5, hang=9))
            out += [Sql(statement(sql), 9, (("UP:   ", "label"),)) for sql in step.up]
            out += [Sql(statement(sql), 9, (("DOWN: ", "label"),)) for sql in step.down]
            if step.down_note:
                out.append(Sql(note(step.down_note), 9, (("DOWN: ", "label"),)))
    out += runbook_blocks(plan.runbook)
    out.append(para(("HANDOFF: ", "heading"), plan.handoff, hang=4))
    return out


def render_text(up: UpgradePlan, width: int = PLAIN_WIDTH) -> str:
    return plain(layout(text_blocks(up), width))


def render_markdown(up: UpgradePlan) -> str:
    plan = up.plan
    out = [f"# Upgrade plan: {plan.migration}", "", f"**Risk: {plan.risk}**", ""]
    out += [f"- {line}" for line in _lines(up)] + [""]
    for i, p in enumerate(plan.phases, 1):
        out += [f"## {i}. {p.name.value.upper()}" + (f" (after {p.after})" if p.after else ""), ""]
        for j, s in enumerate(p.steps, 1):
            action, server = up.action_of(s)
            out += [f"### {i}.{j} {s.description}", "", f"On: {server}" + (" (manual)" if s.manual else ""), ""]
            if s.up:
                out += ["UP:", "```sql", *[x.rstrip(";") + ";" for x in s.up], "```"]
            out += ["DOWN:", "```sql", *([x.rstrip(";") + ";" for x in s.down] or [f"-- {s.down_note}"]), "```", ""]
    out += ["## Runbook", ""]
    rb = plan.runbook
    for title, items in (("Pre-check", rb.pre_check), ("Cutover", rb.cutover),
                         ("Rollback trigger", rb.rollback_trigger), ("Post-verify", rb.post_verify)):
        out += [f"**{title}**", ""] + [f"- {x}" for x in items] + [""]
    out += ["", f"**HANDOFF:** {plan.handoff}", ""]
    return "\n".join(out)


RENDERERS = {"text": render_text, "markdown": render_markdown, "json": render_json}

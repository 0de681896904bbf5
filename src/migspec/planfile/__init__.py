"""The plan file, in both directions: ``dump()`` writes the JSON document ``migspec plan --format
json`` prints (the documented contract), ``load()`` reads it back for ``approve``, ``apply``,
``rollback``, ``verify`` and emitted framework migrations. Nothing else knows the format: renderers
only render (the json format is ``dumps``), the executor and verify only load.

``format`` is the document's version: 1 until a change an older migspec would misread; ``load``
refuses a newer one (a plan without it was written before the field existed: version 1).
"""

from __future__ import annotations

import json

from pathlib import Path
from typing import TYPE_CHECKING, Any

from migspec import policy
from migspec.errors import InputError
from migspec.frozen import frozen
from migspec.names import QualifiedName
from migspec.planfile.model import Backfill, Plan, Step

if TYPE_CHECKING:
    from migspec.lint import Report

#: The plan document's format version (see the module docstring).
FORMAT = 1

PHASES = ("expand", "migrate", "contract")


@frozen
class LoadedPlan:
    path: Path
    sha256: str
    doc: dict[str, Any]

    def phase(self, name: str) -> list[Step]:
        for p in self.doc.get("phases", []):
            if p.get("name") == name:
                return [step_from_dict(s) for s in p.get("steps", [])]
        return []

    @property
    def pre_checks(self) -> list[str]:
        return list(self.doc.get("runbook", {}).get("pre_check", []))

    @property
    def migration(self) -> str:
        """The stable identity of the rollout in the state table: the migration's name, the same
        for every re-plan of it (new stats, a newer migspec), unlike the plan file's hash."""
        return str(self.doc["migration"])

    @property
    def phase_names(self) -> list[str]:
        """Phases with steps, in rollout order."""
        names = [p.get("name") for p in self.doc.get("phases", []) if p.get("steps")]
        return [n for n in PHASES if n in names]

    def after(self, name: str) -> str | None:
        return next((p.get("after") for p in self.doc.get("phases", []) if p.get("name") == name), None)

    def step_ids(self, name: str) -> list[str]:
        for p in self.doc.get("phases", []):
            if p.get("name") == name:
                return [step_identity(s) for s in p.get("steps", [])]
        return []


def step_identity(d: dict[str, Any]) -> str:
    """What a step does, hashed: its statements (a backfill: table, key, assignments, filter and
    backup - not its batch size or pause, which a re-plan with new stats changes), or for a manual
    step its description. Estimates, timeouts and the DOWN are left out."""
    b = d.get("backfill")
    if b:
        what: Any = ["backfill", b.get("table"), b.get("key"), b.get("assignments"), b.get("predicate"),
                     b.get("where"), bool(b.get("delete")), b.get("backup"), b.get("source")]
    elif d.get("manual"):
        what = ["manual", d.get("description")]
    else:
        what = ["sql", [" ".join(str(s).split()) for s in d.get("up", [])]]
    import hashlib  # here: lint imports this package (a rule prints the planner's recipe), never hashes

    return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()


def load(path: str | Path) -> LoadedPlan:
    """The plan file at ``path``, every step read, or a one-line InputError saying what is wrong."""
    p = Path(path)
    from migspec.documents import decode_document, read_capped
    from migspec.limits import MAX_JSON_BYTES

    data = read_capped(p, MAX_JSON_BYTES, "plan")
    doc = decode_document(data, p, what="plan", json_only=True)
    if not isinstance(doc, dict) or not isinstance(doc.get("phases"), list) or "migration" not in doc:
        raise InputError(f"{p}: not a migspec JSON plan (write one with 'migspec plan --format json')")
    version = doc.get("format", 1)
    if not isinstance(version, int) or isinstance(version, bool) or version > FORMAT:
        raise InputError(f"{p}: plan format {version!r}: this migspec reads format {FORMAT} and older "
                         "(written by a newer migspec? re-plan with this one)")
    problem = _shape_problem(doc)
    if problem:
        raise InputError(f"{p}: {problem} (not a plan 'migspec plan --format json' wrote)")
    # Read every step now, so a damaged plan is a message before anything runs, not a traceback
    # halfway through a phase.
    for n, phase in enumerate(doc["phases"], 1):
        try:
            if not isinstance(phase, dict) or phase.get("name") not in PHASES:
                raise ValueError(f"phase name must be one of {', '.join(PHASES)}")
            for i, step in enumerate(phase.get("steps", []), 1):
                try:
                    step_from_dict(step)
                except (KeyError, TypeError, ValueError, AttributeError) as exc:
                    raise ValueError(f"step {i}: {'missing ' if isinstance(exc, KeyError) else ''}{exc}") from None
        except ValueError as exc:
            raise InputError(f"{p}: phase {n}: {exc} (not a plan 'migspec plan --format json' wrote)") from None
    import hashlib

    return LoadedPlan(p, hashlib.sha256(data).hexdigest(), doc)


def _list_of(value: Any, kind: type | tuple[type, ...]) -> bool:
    return isinstance(value, list) and all(isinstance(v, kind) for v in value)


def _shape_problem(doc: dict[str, Any]) -> str | None:
    """What is wrong with the shape of the fields apply, approve and verify read besides the
    steps (a fuzzed plan with ``"runbook": 5`` was a TypeError traceback), or None."""
    if not isinstance(doc["migration"], str):
        return "migration must be a string"
    if not _list_of(doc.get("confirmations_required", []), dict) or \
            not all(isinstance(c.get("target", ""), str) for c in doc.get("confirmations_required", [])):
        return "confirmations_required must be a list of {target, operation, confirmed}"
    runbook = doc.get("runbook", {})
    if not isinstance(runbook, dict) or not all(_list_of(v, str) for v in runbook.values()):
        return "runbook must map sections to lists of strings"
    if not _list_of(doc.get("tables") or [], dict) or \
            not all(isinstance(t.get("name"), str) for t in doc.get("tables") or []):
        return "tables must be a list of {name, ...}"
    for n, phase in enumerate(doc["phases"], 1):
        if not isinstance(phase, dict):
            return f"phase {n}: must be a mapping"
        if not _list_of(phase.get("steps", []), dict):
            return f"phase {n}: steps must be a list of steps"
        if phase.get("after") is not None and not isinstance(phase.get("after"), str):
            return f"phase {n}: after must be a string"
        for i, step in enumerate(phase.get("steps", []), 1):
            for key in ("up", "down"):
                if key in step and not _list_of(step[key], str):
                    return f"phase {n}: step {i}: {key} must be a list of SQL strings"
            if "description" in step and not isinstance(step["description"], str):
                return f"phase {n}: step {i}: description must be a string"
    return None


def step_from_dict(d: dict[str, Any]) -> Step:
    from migspec.locks import LockMode

    b = d.get("backfill")
    backfill = None
    if b:
        backfill = Backfill(
            QualifiedName.parse(b["table"]), tuple(b["key"]), tuple((a[0], a[1]) for a in b["assignments"]),
            b["predicate"], b.get("where"), int(b["batch_size"]), float(b["pause_seconds"]), bool(b["delete"]),
            QualifiedName.parse(b["backup"]) if b.get("backup") else None, tuple(b.get("backup_columns", [])),
            float(b.get("target_seconds", policy.BATCH_TARGET_S)),
            QualifiedName.parse(b["source"]) if b.get("source") else None, bool(b.get("keep_written")))
    lock_name = d.get("lock")
    lock = None
    if lock_name:
        try:
            lock = LockMode[str(lock_name).replace(" ", "_")]
        except KeyError:
            raise ValueError(f"unknown lock mode {lock_name!r}") from None
    return Step(d["description"], tuple(d["up"]), tuple(d["down"]), bool(d["transactional"]),
                lock, float(d.get("estimate_seconds") or 0),
                d.get("estimate_basis", ""), d.get("batch_size"), d.get("requires_confirmation"),
                d.get("lock_timeout_seconds"), d.get("statement_timeout_seconds"), backfill,
                bool(d.get("manual")), d.get("down_note", ""), bool(d.get("reversible", True)), d.get("post_check"),
                QualifiedName.parse(d["table"]) if d.get("table") else None,
                estimate_low_seconds=None if d.get("estimate_low_seconds") is None else float(d["estimate_low_seconds"]),
                down_steps=tuple(step_from_dict(p) for p in d.get("down_steps") or ()))


def step_dict(step: Step) -> dict[str, Any]:
    """One step as the plan file holds it (step_from_dict reads it back)."""
    return {
        "description": step.description, "up": list(step.up), "down": list(step.down),
        "transactional": step.transactional, "lock": step.lock.sql_name if step.lock else None,
        "estimate_seconds": round(step.estimate_seconds, 3), "estimate_basis": step.estimate_basis,
        "estimate_low_seconds": None if step.estimate_low_seconds is None else round(step.estimate_low_seconds, 3),
        "batch_size": step.batch_size, "requires_confirmation": step.requires_confirmation,
        "lock_timeout_seconds": step.lock_timeout_s, "statement_timeout_seconds": step.statement_timeout_s,
        "retry": step.retry, "manual": step.manual, "reversible": step.reversible, "down_note": step.down_note,
        "post_check": step.post_check, "table": str(step.table) if step.table else None,
        "backfill": None if step.backfill is None else {
            "table": str(step.backfill.table), "key": list(step.backfill.key),
            "assignments": [list(a) for a in step.backfill.assignments], "predicate": step.backfill.predicate,
            "where": step.backfill.where, "batch_size": step.backfill.batch_size,
            "pause_seconds": step.backfill.pause_seconds, "target_seconds": step.backfill.target_seconds,
            "delete": step.backfill.delete,
            "backup": str(step.backfill.backup) if step.backfill.backup else None,
            "backup_columns": list(step.backfill.backup_columns),
            "source": str(step.backfill.source) if step.backfill.source else None,
            "keep_written": step.backfill.keep_written},
        "down_steps": [step_dict(p) for p in step.down_steps],
    }


def dump(plan: Plan, report: Report) -> dict[str, Any]:
    """The plan document: the plan, and from the lint report the tables, operations and stats."""
    from migspec.render.lint import report_dict

    lint = report_dict(report)
    return {
        "format": FORMAT, "migration": plan.migration, "risk": str(plan.risk), "rollback_risk": str(plan.rollback_risk),
        "pg_version": plan.pg_version,
        "tables": lint["tables"], "operations": lint["operations"],
        "phases": [{"name": p.name.value, "estimate_seconds": round(p.estimate_seconds, 3), "reversible": p.reversible,
                    "after": p.after, "steps": [step_dict(s) for s in p.steps]} for p in plan.phases],
        "rollback": [{"phase": p.name.value, "steps": [d for s in reversed(p.steps) for d in s.down]}
                     for p in reversed(plan.phases)],
        "runbook": {"pre_check": list(plan.runbook.pre_check), "cutover": list(plan.runbook.cutover),
                    "rollback_trigger": list(plan.runbook.rollback_trigger),
                    "post_verify": list(plan.runbook.post_verify)},
        "confirmations_required": [{"target": c.target, "operation": c.operation, "confirmed": c.confirmed,
                                    "reason": c.reason} for c in plan.confirmations],
        "notes": list(plan.notes), "maintenance_window": plan.maintenance_window,
        "stats": lint["stats"], "handoff": plan.handoff, "schema": plan.schema,
    }

def dumps(plan: Plan, report: Report) -> str:
    """The plan file's bytes."""
    return json.dumps(dump(plan, report), indent=2) + "\n"


def normalize_target(target: str) -> str:
    """``users.flag`` and ``public.users.flag`` name the same column; ``users`` the table public.users.
    Quoted parts keep their case: ``"Sales"."Items".x``."""
    from migspec.names import quote_ident, split_name

    try:
        parts = split_name(target)
    except ValueError:
        return target.strip()
    if len(parts) == 1 or (len(parts) == 2 and parts[0] != "public"):
        parts = ["public", *parts]
    return ".".join(quote_ident(p) for p in parts)

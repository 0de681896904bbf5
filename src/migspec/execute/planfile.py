"""The plan as ``apply`` reads it (the JSON ``migspec plan --format json`` writes), its hash, and
approval records.

An approval is a file beside the plan (``PLAN.json.approval``) holding who approved, when, the
SHA-256 of the plan's bytes and the destructive targets the approver confirmed. ``apply`` refuses
a plan whose bytes changed since approval."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from migspec import policy
from migspec.errors import InputError, RefusedError
from migspec.names import QualifiedName
from migspec.plan.model import Backfill, Step

PHASES = ("expand", "migrate", "contract")


@dataclass(frozen=True)
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
    return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()


def load_plan(path: str | Path) -> LoadedPlan:
    p = Path(path)
    from migspec.documents import decode_document, read_capped
    from migspec.limits import MAX_JSON_BYTES

    data = read_capped(p, MAX_JSON_BYTES, "plan")
    doc = decode_document(data, p, what="plan", json_only=True)
    if not isinstance(doc, dict) or not isinstance(doc.get("phases"), list) or "migration" not in doc:
        raise InputError(f"{p}: not a migspec JSON plan (write one with 'migspec plan --format json')")
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


def approval_path(plan: LoadedPlan) -> Path:
    return plan.path.with_name(plan.path.name + ".approval")


def approve(plan: LoadedPlan, *, by: str, confirm: tuple[str, ...] = ()) -> tuple[Path, str]:
    """Write the approval record, or add a co-signature to the existing one for the same plan
    bytes. Returns (path, what happened). An approval of other plan bytes is never replaced: a
    re-planned plan is written to a new file and approved there (progress is kept: the state
    table is keyed by the migration, not the file)."""
    if not by.strip():
        raise InputError("--by needs the approver's name")
    from migspec.plan.builder import normalize_target

    required = {normalize_target(str(c.get("target", ""))): c for c in plan.doc.get("confirmations_required", [])
                if isinstance(c, dict)}
    unknown = [c for c in confirm if normalize_target(c) not in required]
    if unknown:
        listed = ", ".join(sorted(required)) or "none"
        raise InputError(f"--confirm {unknown[0]}: not a destructive target of {plan.path.name} "
                         f"(targets needing confirmation: {listed})")
    confirmed = {t for t, c in required.items() if c.get("confirmed")} | {normalize_target(c) for c in confirm}
    now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    path = approval_path(plan)
    if path.exists():
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(record, dict):
                raise ValueError("not an object")
        except (OSError, ValueError, UnicodeDecodeError) as exc:
            raise RefusedError(f"{path}: unreadable approval record ({exc}); move it away to approve again") from None
        if record.get("sha256") != plan.sha256:
            raise RefusedError(f"{path} approves other contents of {plan.path.name} (sha256 "
                               f"{str(record.get('sha256'))[:12]}, by {record.get('approved_by')} at "
                               f"{record.get('approved_at')}); not replaced: write the new plan to a new file and "
                               "approve that (recorded progress carries over)")
        record.setdefault("cosigned", []).append({"by": by.strip(), "at": now, "confirmed": sorted(confirmed)})
        record["confirmed"] = sorted(set(record.get("confirmed", [])) | confirmed)
        what = f"co-signed by {by.strip()} (first approved by {record.get('approved_by')})"
    else:
        record = {"plan": plan.path.name, "sha256": plan.sha256, "approved_by": by.strip(), "approved_at": now,
                  "confirmed": sorted(confirmed)}
        what = f"approved by {by.strip()}"
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)  # a crash never leaves half a record
    return path, what


def check_approval(plan: LoadedPlan) -> dict[str, Any]:
    """The approval record, or a refusal that says what is wrong with it."""
    path = approval_path(plan)
    if not path.exists():
        raise RefusedError(f"{plan.path}: not approved: run 'migspec approve {plan.path} --by NAME' after review")
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RefusedError(f"{path}: unreadable approval record ({exc})") from None
    if record.get("sha256") != plan.sha256:
        raise RefusedError(f"{plan.path}: the plan changed since it was approved by {record.get('approved_by')} "
                           f"at {record.get('approved_at')}: review and approve it again")
    return record

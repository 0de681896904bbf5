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


def load_plan(path: str | Path) -> LoadedPlan:
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise InputError(f"{p}: cannot read plan: {exc.strerror or exc}") from None
    try:
        doc = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{p}: not a migspec JSON plan ({exc})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("phases"), list) or "migration" not in doc:
        raise InputError(f"{p}: not a migspec JSON plan (write one with 'migspec plan --format json')")
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


def step_from_dict(d: dict[str, Any]) -> Step:
    from migspec.locks import LockMode

    b = d.get("backfill")
    backfill = None
    if b:
        backfill = Backfill(
            QualifiedName.parse(b["table"]), tuple(b["key"]), tuple((a[0], a[1]) for a in b["assignments"]),
            b["predicate"], b.get("where"), int(b["batch_size"]), float(b["pause_seconds"]), bool(b["delete"]),
            QualifiedName.parse(b["backup"]) if b.get("backup") else None, tuple(b.get("backup_columns", [])),
            float(b.get("target_seconds", 0.05)))
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
                QualifiedName.parse(d["table"]) if d.get("table") else None)


def approval_path(plan: LoadedPlan) -> Path:
    return plan.path.with_name(plan.path.name + ".approval")


def approve(plan: LoadedPlan, *, by: str, confirm: tuple[str, ...] = ()) -> Path:
    if not by.strip():
        raise InputError("--by needs the approver's name")
    from migspec.plan.builder import normalize_target

    confirmed = {normalize_target(c["target"]) for c in plan.doc.get("confirmations_required", []) if c.get("confirmed")}
    confirmed |= {normalize_target(c) for c in confirm}
    record = {"plan": plan.path.name, "sha256": plan.sha256, "approved_by": by.strip(),
              "approved_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
              "confirmed": sorted(confirmed)}
    path = approval_path(plan)
    path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return path


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

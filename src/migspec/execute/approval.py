"""Approval records of a plan file (the file itself: migspec.planfile).

An approval is a file beside the plan (``PLAN.json.approval``) holding who approved, when, the
SHA-256 of the plan's bytes and the destructive targets the approver confirmed. ``apply`` refuses
a plan whose bytes changed since approval."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from migspec.errors import InputError, RefusedError
from migspec.planfile import LoadedPlan, normalize_target


def approval_path(plan: LoadedPlan) -> Path:
    return plan.path.with_name(plan.path.name + ".approval")


def approve(plan: LoadedPlan, *, by: str, confirm: tuple[str, ...] = ()) -> tuple[Path, str]:
    """Write the approval record, or add a co-signature to the existing one for the same plan
    bytes. Returns (path, what happened). An approval of other plan bytes is never replaced: a
    re-planned plan is written to a new file and approved there (progress is kept: the state
    table is keyed by the migration, not the file)."""
    if not by.strip():
        raise InputError("--by needs the approver's name")
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

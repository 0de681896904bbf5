"""What a verify run found, as data, and its renderings: ``text`` (one line per step, then the
phase's DOWN check, then a summary), ``json`` (the same fields), and the calibration file."""

from __future__ import annotations

import json
import re
from typing import Any

from migspec.estimate.model import format_duration, format_range
from migspec.estimate.throughput import calibration_text
from migspec.frozen import field, record
from migspec.render.layout import PLAIN_WIDTH, Block, Para, layout, para, plain
from migspec.verify.trace import CatalogDifference
from migspec.verify.writers import LatencyStats

FORMATS = ("text", "json")


@record
class StepResult:
    phase: str
    index: int
    description: str
    number: str = ""  # "2.3": phase 2, step 3, as the plan numbers them
    manual: bool = False
    transactional: bool = True
    table: str | None = None
    claimed_lock: str | None = None
    observed_lock: str | None = None  # strongest mode on the step's table, held or waited for
    other_locks: dict[str, str] = field(default_factory=dict)  # other relation -> strongest mode
    lock_samples: int = 0
    own_backend_locks: bool = False
    claimed_rewrite: bool = False
    observed_rewrite: bool | None = None
    rewritten: list[str] = field(default_factory=list)  # every table whose relfilenode changed
    rebuilt_indexes: list[str] = field(default_factory=list)  # every pre-existing index given a new file
    duration_s: float = 0.0
    rows: int | None = None  # rows in the step's table when it started
    production_rows: int | None = None
    production_s: float | None = None  # duration extrapolated to production's row count
    plan_estimate_s: float = 0.0  # the pessimistic end of the plan's estimate
    plan_estimate_low_s: float | None = None  # its optimistic end
    rate_kind: str | None = None  # the throughput the plan's estimate used
    work_s: float | None = None  # duration minus the backfill's planned pauses
    writers: LatencyStats | None = None
    stall_limit_ms: float | None = None
    retries: int = 0
    post_check: bool | None = None
    error: str | None = None
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def label(self) -> str:
        return f"{self.number or self.index} {self.phase}"


@record
class PhaseResult:
    name: str
    steps: list[StepResult] = field(default_factory=list)
    up_failed: bool = False
    down_error: str | None = None
    down_s: float = 0.0
    catalog_diffs: list[CatalogDifference] = field(default_factory=list)
    rows_checked: int = 0
    row_problems: list[str] = field(default_factory=list)
    reup_error: str | None = None
    reup_diffs: list[CatalogDifference] = field(default_factory=list)
    reup_s: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def problems(self) -> list[str]:
        out = [f"{s.label} '{s.description}': {p}" for s in self.steps for p in s.problems]
        if self.down_error:
            out.append(f"{self.name} DOWN failed: {self.down_error}")
        out += [f"{self.name} DOWN did not restore the schema: {d}" for d in self.catalog_diffs]
        out += [f"{self.name} DOWN: {p}" for p in self.row_problems]
        if self.reup_error:
            out.append(f"{self.name} UP again (after DOWN) failed: {self.reup_error}")
        out += [f"{self.name} UP again differs from the first UP: {d}" for d in self.reup_diffs]
        return out


@record
class VerifyResult:
    plan: str
    source: str
    target: str
    plan_pg_version: int | None
    server_version: str
    rows: int
    writers: int
    tables: int = 0
    phases: list[PhaseResult] = field(default_factory=list)
    skipped_phases: list[str] = field(default_factory=list)
    calibration: dict[str, dict[str, float]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    setup_s: float = 0.0
    total_s: float = 0.0
    finished_at: str | None = None  # ISO-8601 UTC: when the rates in the calibration file were measured

    @property
    def problems(self) -> list[str]:
        out = [p for ph in self.phases for p in ph.problems]
        out += [f"{name}: not verified (an earlier phase failed)" for name in self.skipped_phases]
        return out

    @property
    def ok(self) -> bool:
        return not self.problems


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else format_duration(seconds)


def _lock(name: str | None) -> str:
    return name or "none"


def _yn(value: bool | None) -> str:
    return "?" if value is None else "yes" if value else "no"


def step_line(s: StepResult) -> str:
    status = "OK  " if s.ok else "FAIL"
    if s.manual:
        return f"  {status} {s.label:<11} manual step, nothing to run: {s.description}"
    w = s.writers
    writers = "no write during the step" if w is None or not w.ops else \
        f"writers p99 {w.p99_ms:g} ms max {w.max_ms:g} ms" + (f", {w.errors} errors" if w.errors else "")
    prod = f" (prod ~{format_duration(s.production_s)}" if s.production_s is not None else ""
    if prod and s.rate_kind:
        prod += f", plan est {format_range(s.plan_estimate_low_s, s.plan_estimate_s)}"
    prod += ")" if prod else ""
    return (f"  {status} {s.label:<11} lock {_lock(s.claimed_lock)} -> {_lock(s.observed_lock)} | "
            f"rewrite {_yn(s.claimed_rewrite) if s.table else '-'} -> {_yn(s.observed_rewrite) if s.table else '-'} | "
            f"{_ms(s.duration_s)}{prod} | "
            f"{writers} | {s.description}")


def _lines(r: VerifyResult) -> list[str]:
    out = [f"VERIFY: {r.plan} ({r.source})",
           f"SERVER: {r.target}" + (f"; plan written for PostgreSQL {r.plan_pg_version}" if r.plan_pg_version else ""),
           f"DATA: {r.rows:,} synthetic rows in each of {r.tables} table(s); {r.writers} concurrent writer(s); "
           f"setup {format_duration(r.setup_s)}",
           "STEPS: status, step, lock claimed -> observed, rewrite claimed -> observed, duration here "
           "(extrapolated to production's rows, the plan's estimate), writer latency during the step"]
    for ph in r.phases:
        out.append(f"{ph.name.upper()}:")
        for s in ph.steps:
            out.append(step_line(s))
            out += [f"         ! {p}" for p in s.problems]
            out += [f"           note: {n}" for n in s.notes]
        if ph.up_failed:
            out.append(f"  UP stopped at the failed step; DOWN of the steps run so far:")
        restored = "schema restored" if not ph.catalog_diffs and not ph.down_error else "schema NOT restored"
        rows = f"rows intact ({ph.rows_checked:,} checked)" if not ph.row_problems else "rows NOT intact"
        line = f"  DOWN {format_duration(ph.down_s)}: {restored}, {rows}"
        if not ph.up_failed:
            again = "failed" if ph.reup_error else "catalog differs" if ph.reup_diffs else "ok"
            line += f"; UP again {format_duration(ph.reup_s)}: {again}"
        out.append(line)
        if ph.down_error:
            out.append(f"         ! DOWN failed: {ph.down_error}")
        out += [f"         ! {d}" for d in ph.catalog_diffs]
        out += [f"         ! {p}" for p in ph.row_problems]
        if ph.reup_error:
            out.append(f"         ! UP again failed: {ph.reup_error}")
        out += [f"         ! UP again: {d}" for d in ph.reup_diffs]
        out += [f"           note: {n}" for n in ph.notes]
    for name in r.skipped_phases:
        out.append(f"{name.upper()}: not run (an earlier phase failed)")
    if r.calibration:
        out.append("MEASURED THROUGHPUT (this server, this data): " + ", ".join(
            f"{k} {v['rows_per_s']:,.0f} rows/s" for k, v in sorted(r.calibration.items())))
    out += [f"NOTE: {n}" for n in r.notes]
    steps = [s for ph in r.phases for s in ph.steps if not s.manual]
    if r.ok:
        out.append(f"RESULT: PASS - {len(steps)} step(s) in {len(r.phases)} phase(s): every lock and rewrite claim held, "
                   f"every DOWN restored the schema and the rows, writers never stalled past the limit "
                   f"({format_duration(r.total_s)} in all)")
    else:
        problems = r.problems
        out.append(f"RESULT: FAIL - {len(problems)} problem(s) ({format_duration(r.total_s)} in all):")
        out += [f"  - {p}" for p in problems]
    return out


_HEAD = re.compile(r"^(?P<lead> *)(?:(?P<status>OK  |FAIL) |(?P<heading>[A-Z][A-Z ]+:)|(?P<bang>! |- ))?")
_RESULT = {"RESULT: PASS": "risk.GREEN", "RESULT: FAIL": "risk.RED"}


def _block(line: str) -> Para:
    """One report line as prose: wrapped under its own text, the status and headings styled."""
    m = _HEAD.match(line)
    assert m  # the pattern matches any line (every part optional)
    lead, rest = len(m["lead"]), line[m.end():]
    if m["status"]:
        style = "risk.GREEN" if m["status"].startswith("OK") else "risk.RED"
        return para((m["status"], style), " " + rest, indent=lead, hang=lead + 5)
    if m["heading"]:
        result = next((k for k in _RESULT if line.startswith(k)), None)
        if result:
            return para((result, _RESULT[result]), line[len(result):], indent=lead, hang=lead + 4)
        return para((m["heading"], "heading"), rest, indent=lead, hang=lead + 4)
    return para(m["bang"] or "", rest, indent=lead, hang=lead + (2 if m["bang"] else 4))


def text_blocks(r: VerifyResult) -> list[Block]:
    """The text report as layout blocks (migspec.render.layout): wrapped to the width, styled."""
    return [_block(line) for line in _lines(r)]


def render_text(r: VerifyResult, width: int = PLAIN_WIDTH) -> str:
    return plain(layout(text_blocks(r), width))


def _diff(d: CatalogDifference) -> dict[str, Any]:
    return {"category": d.category, "object": d.key, "before": None if d.before is None else [str(x) for x in d.before],
            "after": None if d.after is None else [str(x) for x in d.after], "message": str(d)}


def step_dict(s: StepResult) -> dict[str, Any]:
    return {
        "phase": s.phase, "step": s.index, "number": s.number, "description": s.description, "ok": s.ok, "manual": s.manual,
        "transactional": s.transactional, "table": s.table,
        "lock": {"claimed": s.claimed_lock, "observed": s.observed_lock, "other_relations": s.other_locks,
                 "samples": s.lock_samples, "own_backend": s.own_backend_locks},
        "rewrite": {"claimed": s.claimed_rewrite, "observed": s.observed_rewrite, "rewritten": s.rewritten,
                    "rebuilt_indexes": s.rebuilt_indexes},
        "duration_seconds": round(s.duration_s, 4), "rows": s.rows, "production_rows": s.production_rows,
        "production_seconds": None if s.production_s is None else round(s.production_s, 3),
        "plan_estimate_seconds": s.plan_estimate_s, "plan_estimate_low_seconds": s.plan_estimate_low_s,
        "rate_kind": s.rate_kind,
        "writers": None if s.writers is None else {**s.writers.as_dict(), "limit_ms": s.stall_limit_ms},
        "retries": s.retries, "post_check": s.post_check, "error": s.error,
        "problems": s.problems, "notes": s.notes,
    }


def result_dict(r: VerifyResult) -> dict[str, Any]:
    return {
        "plan": r.plan, "source": r.source, "target": r.target, "server_version": r.server_version,
        "plan_pg_version": r.plan_pg_version, "rows_per_table": r.rows, "tables": r.tables, "writers": r.writers,
        "ok": r.ok,
        "phases": [{"name": ph.name, "up_failed": ph.up_failed, "steps": [step_dict(s) for s in ph.steps],
                    "down": {"seconds": round(ph.down_s, 4), "error": ph.down_error,
                             "schema_restored": not ph.catalog_diffs and not ph.down_error,
                             "catalog_differences": [_diff(d) for d in ph.catalog_diffs],
                             "rows_checked": ph.rows_checked, "rows_intact": not ph.row_problems,
                             "row_problems": ph.row_problems, "notes": ph.notes},
                    "up_again": None if ph.up_failed else {
                        "seconds": round(ph.reup_s, 4), "error": ph.reup_error,
                        "catalog_differences": [_diff(d) for d in ph.reup_diffs]}}
                   for ph in r.phases],
        "skipped_phases": r.skipped_phases, "calibration": r.calibration, "notes": r.notes,
        "problems": r.problems, "setup_seconds": round(r.setup_s, 3), "total_seconds": round(r.total_s, 3),
    }


def render_json(r: VerifyResult) -> str:
    return json.dumps(result_dict(r), indent=2) + "\n"


RENDERERS = {"text": render_text, "json": render_json}


def calibration_yaml(r: VerifyResult) -> str:
    """The rates this run measured, in the shape ``--calibration`` reads (Calibration overrides)."""
    return calibration_text(r.calibration, [
        f"migspec verify: throughput measured on {r.target} at {r.finished_at or 'an unrecorded time'}",
        f"{r.rows:,} synthetic rows per table, {r.writers} concurrent writer(s); plan {r.plan}.",
        "A throwaway server with fsync off and a small table in cache gives upper bounds: verify on",
        "production-like hardware and data sizes before trusting these for production estimates."])

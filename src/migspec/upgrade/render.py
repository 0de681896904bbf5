"""Render an upgrade plan: the schema plans' renderer (``render/plan.py``: PHASES, ROLLBACK,
RUNBOOK, NOTE, HANDOFF; the same JSON keys) with the upgrade's measurements and findings added -
a ``MEASUREMENTS``/``FINDINGS`` block in text, an ``upgrade`` object in JSON."""

from __future__ import annotations

import json
from typing import Any

from migspec.lint import Report
from migspec.parse.source import Migration
from migspec.planfile.model import Plan
from migspec.planfile import dump as plan_dict
from migspec.render.layout import PLAIN_WIDTH, layout, para, plain
from migspec.render.plan import text_blocks
from migspec.stats import Stats
from migspec.upgrade.plan import UpgradeReport

FORMATS = ("text", "json")


def _no_tables(plan: Plan) -> Report:
    """An upgrade touches no table of its own: the plan renderer's table section stays empty."""
    return Report(migration=Migration(plan.migration, ()), version=plan.pg_version, stats=Stats(), results=(),
                  tables=())


def measurement_lines(r: UpgradeReport) -> list[str]:
    name = "Django" if r.framework == "django" else "SQLAlchemy"
    out = [f"  {name}: installed {r.current}, target {r.target}, path {' -> '.join([r.current_release, *r.path])}",
           f"  Python: {r.environment.python} ({r.environment.python_path})"
           + (f"; the target supports {', '.join(r.python_supported)}" if r.python_supported else "")]
    if r.framework == "django":
        out.append(f"  PostgreSQL: server {r.pg_version}, Django {r.target} needs {r.pg_minimum}+")
    if r.checks is not None:
        out.append(f"  system checks on {r.current}: " + (", ".join(f"{k} x{v}" for k, v in r.checks.items()) or "none"))
    if r.warnings is None:
        out.append("  deprecation warnings: not measured (--run-tests)")
    else:
        out.append(f"  deprecation warnings: {r.warnings.warning_count} "
                   f"({', '.join(f'{k} x{v}' for k, v in r.warnings.warnings.items()) or 'none'}); "
                   f"tests {'pass' if r.warnings.ok else 'FAIL'} on {r.current}")
    if r.target_environment is None:
        out.append("  target environment: not measured (--target-python)")
    else:
        if r.target_tests is not None:
            out.append(f"  tests on {r.target}: {'pass' if r.target_tests.ok else 'FAIL'}")
        if r.target_checks is not None:
            out.append(f"  system checks on {r.target}: "
                       + (", ".join(f"{k} x{v}" for k, v in r.target_checks.items()) or "none"))
        if r.framework_migrations is not None:
            out.append(f"  migrations Django {r.target}'s own apps add: "
                       + (", ".join(r.framework_migrations) or "none"))
        if r.target_migrations is not None:
            out.append(f"  makemigrations --check on {r.target}: "
                       + (", ".join(r.target_migrations) if r.target_migrations else "no changes"))
    for d in r.dependencies:
        out.append(f"  dependency {d.name} {d.version}: declares {', '.join(d.supported)}"
                   f" - current {'yes' if d.supports_current else 'NO'}, target {'yes' if d.supports_target else 'NO'}")
    out.append("  data: " + ", ".join(f"{k} {v}" for k, v in r.sources.items()) + " (tools/gen_upgrade_data.py)")
    return out


def finding_lines(r: UpgradeReport) -> list[str]:
    if not r.findings:
        return ["  none"]
    out = []
    for m in r.findings:
        row = m.row
        fix = f" - fix: {row.autofix}" if row.autofix else ""
        out.append(f"  {m.path}:{m.line} {row.label} [{row.severity}, {m.confidence}, "
                   f"{row.change} in {row.removed_in}]{fix}")
        if row.replacement:
            out.append(f"      -> {row.replacement}")
    return out


def render_upgrade_text(plan: Plan, r: UpgradeReport, width: int = PLAIN_WIDTH) -> str:
    body = text_blocks(plan, _no_tables(plan))
    head, rest = body[:2], body[2:]  # MIGRATION:, RISK:
    # Measurement and finding lines start with their indent; wrapped, they continue two columns further in.
    extra = [para(("MEASUREMENTS:", "heading"))]
    extra += [para(line.lstrip(), indent=len(line) - len(line.lstrip()), hang=len(line) - len(line.lstrip()) + 2)
              for line in measurement_lines(r)]
    extra.append(para(("FINDINGS:", "heading")))
    extra += [para(line.lstrip(), indent=len(line) - len(line.lstrip()), hang=len(line) - len(line.lstrip()) + 4)
              for line in finding_lines(r)]
    return plain(layout([*head, *extra, *rest], width))


def upgrade_dict(r: UpgradeReport) -> dict[str, Any]:
    def run(t):  # type: ignore[no-untyped-def]
        return None if t is None else {"ok": t.ok, "exit_code": t.exit_code, "warnings": t.warnings,
                                       "warning_count": t.warning_count}
    return {
        "framework": r.framework, "installed": r.current, "target": r.target, "path": list(r.path),
        "python": r.environment.python, "python_supported_by_target": list(r.python_supported),
        "postgresql": {"server": r.pg_version, "target_minimum": r.pg_minimum} if r.framework == "django" else None,
        "warnings": run(r.warnings), "target_tests": run(r.target_tests),
        "target_migrations": None if r.target_migrations is None else list(r.target_migrations),
        "system_checks": r.checks, "target_system_checks": r.target_checks,
        "framework_migrations": None if r.framework_migrations is None else list(r.framework_migrations),
        "dependencies": [{"name": d.name, "version": d.version, "supported": list(d.supported),
                          "supports_current": d.supports_current, "supports_target": d.supports_target}
                         for d in r.dependencies],
        "findings": [{"path": m.path, "line": m.line, "symbol": m.row.symbol, "label": m.row.label,
                      "kind": m.row.kind, "change": m.row.change, "deprecated_in": m.row.deprecated_in,
                      "removed_in": m.row.removed_in, "severity": m.row.severity, "confidence": str(m.confidence),
                      "replacement": m.row.replacement, "autofix": m.row.autofix, "source": m.row.source,
                      "code": m.code} for m in r.findings],
        "reasons": [{"rule": x.rule, "risk": str(x.risk), "detail": x.detail} for x in r.reasons],
        "data_sources": r.sources,
    }


def render_upgrade_json(plan: Plan, r: UpgradeReport) -> str:
    doc = plan_dict(plan, _no_tables(plan))
    doc["upgrade"] = upgrade_dict(r)
    return json.dumps(doc, indent=2) + "\n"


RENDERERS = {"text": render_upgrade_text, "json": render_upgrade_json}

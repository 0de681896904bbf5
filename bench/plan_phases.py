"""Where ``migspec plan`` spends its time: timers around the library calls ``cmd_plan`` makes.

Run by bench/s_growth.py in a fresh interpreter (the project's venv):
    python bench/plan_phases.py PATH --stats STATS --schema SCHEMA
prints one JSON object on stdout (the plan itself is rendered, not printed).
"""

from __future__ import annotations

import time

T_START = time.perf_counter()

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("paths", nargs="+")
    ap.add_argument("--stats", required=True)
    ap.add_argument("--schema", required=True)
    args = ap.parse_args()
    out: dict[str, float] = {}

    t0 = time.perf_counter()
    from migspec.cli import build_parser, load_inputs
    from migspec.lint import lint
    from migspec.parse.source import load_migration
    from migspec.plan.builder import PlanOptions, build_plan
    from migspec.plan.facts import from_stats, load_schema_file
    from migspec.render.plan import RENDERERS
    out["import_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    cli = build_parser().parse_args(["plan", *args.paths, "--stats", args.stats, "--schema", args.schema,
                                     "--format", "json"])
    stats, calibration = load_inputs(cli)
    out["stats_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    migration = load_migration(args.paths)
    out["parse_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    report = lint(migration, stats, pg_version=None, transaction_per_file=False, calibration=calibration)
    out["lint_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    facts = load_schema_file(args.schema, from_stats(stats))
    plan = build_plan(report, facts=facts, calibration=calibration, options=PlanOptions((), 7))
    out["build_plan_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    RENDERERS["json"](plan, report)
    out["render_s"] = time.perf_counter() - t0
    out["statements"] = float(len(migration.statements))
    out["in_process_s"] = time.perf_counter() - T_START
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()

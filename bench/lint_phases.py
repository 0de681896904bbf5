"""Where ``migspec lint`` spends its time: timers around the library calls ``cmd_lint`` makes, then
one cProfile pass to split the lint() call into analysis / rules / risk scoring.

Run by bench/bench.py in a fresh interpreter (the project's venv):
    python bench/lint_phases.py --stats STATS [--format text] PATH...
prints one JSON object on stdout.
"""

from __future__ import annotations

import time

T_START = time.perf_counter()

import argparse  # noqa: E402
import cProfile  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import pstats  # noqa: E402
import sys  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("paths", nargs="+")
    ap.add_argument("--stats", required=True)
    ap.add_argument("--format", default="text")
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args()
    out: dict[str, object] = {}

    t0 = time.perf_counter()
    # What cmd_lint imports, in its order.
    from migspec.cli import build_parser, load_inputs  # noqa: F401
    from migspec.lint import lint
    from migspec.parse.source import collect_files, load_migration, read_text
    from migspec.render.lint import RENDERERS
    from migspec.risk import Risk  # noqa: F401
    out["import_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    cli_args = build_parser("lint").parse_args(["lint", *args.paths, "--stats", args.stats, "--format", args.format])
    stats, calibration = load_inputs(cli_args)
    out["stats_s"] = time.perf_counter() - t0

    # The stats file through PyYAML's pure-Python safe_load (what load_stats uses) and through its
    # libyaml loader, for comparison (not part of the run's own time).
    import yaml

    t_extra = time.perf_counter()
    text = open(args.stats, encoding="utf-8").read()
    t0 = time.perf_counter()
    yaml.safe_load(text)
    out["stats_yaml_s"] = time.perf_counter() - t0
    if getattr(yaml, "CSafeLoader", None) is not None:
        t0 = time.perf_counter()
        yaml.load(text, Loader=yaml.CSafeLoader)
        out["stats_cyaml_s"] = time.perf_counter() - t0
    extra = time.perf_counter() - t_extra

    # The parser alone on the same texts, before load_migration and in the same conditions (one-time
    # set-up paid by a warm-up, results freed before load_migration runs): libpg_query's JSON tree
    # decoded by the C json module (what load_migration uses since issue 16), and for comparison
    # pglast's parse_sql, which builds a Python object per node (what it used before).
    from pglast import parse_sql

    from migspec.parse.tree import parse_json

    t_extra = time.perf_counter()
    parse_sql("SELECT 1")
    parse_json("SELECT 1")
    texts = [read_text(p) for p in collect_files(args.paths)]
    for key, parser in (("pglast_parse_s", parse_sql), ("json_parse_s", parse_json)):
        t0 = time.perf_counter()
        for text in texts:
            parser(text)
        out[key] = time.perf_counter() - t0
    del texts
    extra += time.perf_counter() - t_extra

    # From here on as cmd_lint runs: the cycle collector paused while reading, linting and rendering
    # (without it the timers below measured collections `migspec lint` does not make).
    from migspec.lint import collector_paused

    paused = collector_paused()
    paused.__enter__()
    t0 = time.perf_counter()
    migration = load_migration(args.paths)
    out["parse_s"] = time.perf_counter() - t0
    out["statements"] = len(migration.statements)


    t0 = time.perf_counter()
    report = lint(migration, stats, pg_version=None, transaction_per_file=False, calibration=calibration)
    out["lint_s"] = time.perf_counter() - t0
    out["findings"] = len(report.findings)

    t0 = time.perf_counter()
    text = RENDERERS[args.format](report)
    out["render_s"] = time.perf_counter() - t0
    out["render_chars"] = len(text)
    sys.stdout.write("")  # the text itself is not printed: stdout carries this script's JSON
    for fmt in ("json",):
        if fmt != args.format:
            t0 = time.perf_counter()
            RENDERERS[fmt](report)
            out[f"render_{fmt}_s"] = time.perf_counter() - t0
            extra += out[f"render_{fmt}_s"]
    t0 = time.perf_counter()
    paused.__exit__(None, None, None)
    out["resume_gc_s"] = time.perf_counter() - t0
    out["extra_s"] = extra  # measurements made here that `migspec lint` itself does not do

    if args.profile:
        prof = cProfile.Profile()
        with collector_paused():
            prof.enable()
            migration = load_migration(args.paths)
            report = lint(migration, stats, pg_version=None, transaction_per_file=False, calibration=calibration)
            RENDERERS[args.format](report)
            prof.disable()
        out["profile"] = _split(prof)
    json.dump(out, sys.stdout)


def _split(prof: cProfile.Profile) -> dict[str, object]:
    """Cumulative time of the entry points of each part, and the top self-time functions."""
    st = pstats.Stats(prof, stream=io.StringIO())
    total = 0.0
    parts = {"parse": 0.0, "analysis": 0.0, "rules": 0.0, "risk": 0.0, "render": 0.0}
    top = []
    for (filename, line, func), (cc, nc, tt, ct, callers) in st.stats.items():  # type: ignore[attr-defined]
        name = f"{_short(filename)}:{line}({func})"
        top.append((tt, name, nc))
        f = filename.replace("\\", "/")
        if f.endswith("parse/source.py") and func == "load_migration":
            parts["parse"] += ct
        elif f.endswith("migspec/analysis.py") and func == "analyze":
            parts["analysis"] += ct
        elif "/migspec/rules/" in f and func in ("check", "applies"):
            parts["rules"] += ct
        elif f.endswith("migspec/risk.py") and func == "assess":
            parts["risk"] += ct
        elif f.endswith("migspec/lint.py") and func in ("_finding", "_extend_held", "_load"):
            parts["risk"] += ct
        elif f.endswith("migspec/render/lint.py") and func.startswith("render_"):
            parts["render"] += ct
        if f.endswith("migspec/lint.py") and func == "lint":
            total += ct
        if f.endswith("parse/source.py") and func == "load_migration":
            total += ct
        if f.endswith("migspec/render/lint.py") and func.startswith("render_"):
            total += ct
    top.sort(reverse=True)
    return {"total_s": total, "parts_s": parts,
            "top_self": [{"function": n, "self_s": round(t, 4), "calls": c} for t, n, c in top[:12]]}


def _short(filename: str) -> str:
    f = filename.replace("\\", "/")
    for marker in ("/src/", "/site-packages/", "/lib/python3"):
        if marker in f:
            return f.split(marker, 1)[1]
    return f


if __name__ == "__main__":
    main()

"""Run the benchmarks and write BENCHMARKS.md.  Use ``bash bench/run`` (it sets up the venvs).

    bench/run [--quick] [--rows N] [--only lint,backfill,stall,estimate,growth,target] [--out FILE]

Benchmarks are not tests: nothing here asserts a time; every figure is reported as a ratio of two
things measured in the same run, or as an absolute next to its reference.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shlex
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import BENCH, REPO, Templates, durable_server, log, machine  # noqa: E402

SECTIONS = ("lint", "backfill", "stall", "estimate", "growth", "target")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="bench/run", description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes, 2 runs: about 2 minutes")
    ap.add_argument("--rows", type=int, default=None,
                    help="table rows for the backfill and writer-stall sections (default 1,000,000; quick 100,000)")
    ap.add_argument("--writer-rate", type=int, default=400,
                    help="pgbench writers' total transactions/s (-R), also the plan's write_qps (default 400)")
    ap.add_argument("--estimate-rows", metavar="N,N", default=None,
                    help="table sizes of the estimate section (default 1,000,000; quick 100,000; e.g. 1000000,10000000)")
    ap.add_argument("--lint-runs", type=int, metavar="N",
                    help="timed runs per lint measurement (default 5; quick 2): fewer on a loaded machine")
    ap.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated subset of {','.join(SECTIONS)}")
    ap.add_argument("--out", default=None,
                    help="the report (default BENCHMARKS.md; quick: bench/work/BENCHMARKS.quick.md)")
    ap.add_argument("--render-only", metavar="RESULTS_JSON", help=argparse.SUPPRESS)  # re-render saved results
    args = ap.parse_args(argv)
    if args.render_only:
        saved = json.loads(Path(args.render_only).read_text())
        out = Path(args.out) if args.out else BENCH / "work" / "BENCHMARKS.rerender.md"
        text = render(saved["results"], saved["config"], saved["machine"], saved.get("command", "bash bench/run"),
                      saved.get("elapsed", 0.0), list(saved["results"]))
        if args.out and out.exists() and set(saved["results"]) != set(SECTIONS):
            text = splice(out.read_text(), text, [SECTIONS.index(s) + 1 for s in saved["results"]])
        out.write_text(text)
        log(f"wrote {out}")
        return 0
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    bad = [s for s in only if s not in SECTIONS]
    if bad:
        ap.error(f"unknown section(s): {', '.join(bad)}")
    quick = args.quick
    rows = args.rows or (100_000 if quick else 1_000_000)
    cfg = {
        "quick": quick,
        "rows": rows,
        "rate": args.writer_rate,
        "lint_statements": 2_000 if quick else 10_000,
        "lint_runs": args.lint_runs or (2 if quick else 5),
        "backfill_rounds": 1 if quick else 2,
        "offset_cap_s": 20.0 if quick else 90.0,
        "estimate_sizes": tuple(int(n) for n in args.estimate_rows.split(",")) if args.estimate_rows else
        ((100_000,) if quick else (1_000_000,)),
        "growth_statements": (1_000, 3_000, 10_000) if quick else (1_000, 10_000, 100_000),
        "growth_rows": (20_000, 100_000) if quick else (100_000, 1_000_000),
        "growth_runs": 2 if quick else 3,
    }
    out = Path(args.out) if args.out else (BENCH / "work" / "BENCHMARKS.quick.md" if quick else REPO / "BENCHMARKS.md")
    work = BENCH / "work"
    work.mkdir(exist_ok=True)
    command = "bash bench/run" + (" " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
                                  if (argv if argv is not None else sys.argv[1:]) else "")
    started = time.time()
    results: dict[str, object] = {}
    load_before = " / ".join(f"{x:.2f}" for x in __import__("os").getloadavg())

    server = None
    need_db = any(s in only for s in ("backfill", "stall", "estimate", "growth"))
    if "lint" in only:
        import s_lint

        log("1. static speed")
        results["lint"] = s_lint.run(work / "lint", statements=cfg["lint_statements"], runs=cfg["lint_runs"])
    if "target" in only:
        import s_target

        log("6. plan --target")
        results["target"] = s_target.run(work / "target", runs=cfg["lint_runs"])
    if need_db:
        server = durable_server()
        log(f"server {server.dsn} (PostgreSQL {server.version_num}), data in {server.datadir}")
    try:
        templates = Templates(server) if server else None
        if "backfill" in only:
            import s_backfill

            log("2. backfill throughput")
            results["backfill"] = s_backfill.run(work / "backfill", templates, rows=rows, rate=cfg["rate"],
                                                 rounds=cfg["backfill_rounds"], offset_cap_s=cfg["offset_cap_s"])
        if "stall" in only:
            import s_stall

            log("3. writer stall, planned vs as written")
            results["stall"] = s_stall.run(work / "stall", templates, rows=rows, rate=cfg["rate"])
        if "estimate" in only:
            import s_estimate

            log("4. estimate accuracy")
            results["estimate"] = s_estimate.run(work / "estimate", templates, sizes=cfg["estimate_sizes"],
                                                 rate=cfg["rate"])
        if "growth" in only:
            import s_growth

            log("5. growth")
            results["growth"] = s_growth.run(work / "growth", templates, statements=cfg["growth_statements"],
                                             rows=cfg["growth_rows"], runs=cfg["growth_runs"], rate=cfg["rate"])
        info = machine(server)
        info["loadavg_before"] = load_before
    finally:
        if server is not None:
            server.stop()
    elapsed = time.time() - started
    (work / ("results.quick.json" if quick else "results.json")).write_text(
        json.dumps({"config": cfg, "machine": info, "results": results, "command": command, "elapsed": elapsed},
                   indent=1, default=str))
    text = render(results, cfg, info, command, elapsed, only)
    if set(only) != set(SECTIONS) and out.exists():  # --only: replace those sections, keep the others
        text = splice(out.read_text(), text, [SECTIONS.index(s) + 1 for s in only])
    out.write_text(text)
    log(f"wrote {out} in {elapsed / 60:.1f} min")
    return 0


def render(results: dict, cfg: dict, info: dict, command: str, elapsed: float, only: list[str]) -> str:
    lines = ["# BENCHMARKS", ""]
    lines.append("Generated by `bench/run` - do not edit by hand. Benchmarks, not tests: nothing asserts a time and "
                 "CI does not run them. Every figure is a ratio of two things measured in the same run, or an "
                 "absolute next to its reference.")
    lines.append("")
    lines.append(f"- date: {dt.datetime.now(dt.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}")
    lines.append(f"- command: `{command}`" + (" (quick mode: small sizes, 2 runs - figures are indicative only)"
                                                if cfg["quick"] else "") + f"; took {elapsed / 60:.1f} min")
    lines.append(f"- machine: {info.get('cores')} cores ({info.get('cpu')}), {info.get('memory')} memory, "
                 f"{info.get('os')}; shared and noisy, so runs vary (load average 1/5/15 min before the run "
                 f"{info.get('loadavg_before', '?')}, after {info.get('loadavg', '?')})")
    lines.append(f"- PostgreSQL: {info.get('postgres', 'not started')}")
    lines.append(f"- Python {info.get('python')}, pglast {info.get('pglast')}, {info.get('squawk')}")
    lines.append(f"- migspec: working tree of {_git_head()}")
    lines.append("")
    lines += _summary(results, only)
    for name in SECTIONS:
        if name not in results:
            continue
        mod = __import__(f"s_{name}")
        lines += mod.markdown(results[name])
    return "\n".join(lines).rstrip() + "\n"


def splice(old: str, new: str, numbers: list[int]) -> str:
    """``old`` report with sections ``numbers`` (``## N. ...`` and their ``| N. ...`` summary rows)
    taken from ``new``; a note under the header says which sections were re-run, when, and how."""
    def sections(text: str) -> tuple[list[str], dict[str, list[str]]]:
        head: list[str] = []
        parts: dict[str, list[str]] = {}
        current = None
        for line in text.splitlines():
            if line.startswith("## "):
                current = line
                parts[current] = []
            elif current is None:
                head.append(line)
                continue
            parts[current].append(line)
        return head, parts

    def number(title: str) -> int | None:
        first = title[3:].split(".", 1)[0]
        return int(first) if first.isdigit() else None

    old_head, old_parts = sections(old)
    new_head, new_parts = sections(new)
    fresh = {number(t): lines for t, lines in new_parts.items() if number(t) in numbers}
    rows = [line for line in new_parts.get("## Summary", []) if any(line.startswith(f"| {n}. ") for n in numbers)]
    out = list(old_head)
    when = next((line for line in new_head if line.startswith("- date:")), "")
    how = next((line for line in new_head if line.startswith("- command:")), "")
    machine = next((line for line in new_head if line.startswith("- machine:")), "")
    load = machine[machine.find("load average"):].removesuffix(")") if "load average" in machine else ""
    note = (f"- section{'s' if len(numbers) > 1 else ''} {', '.join(map(str, numbers))} re-run since: "
            f"{when[len('- date: '):]}, {how[len('- command: '):]}" + (f"; {load}" if load else ""))
    stale = tuple(f"- section {n} " for n in numbers) + (f"- sections {', '.join(map(str, numbers))} re-run since",)
    out = [line for line in out if not line.startswith(stale)]
    at = max(i for i, line in enumerate(out) if line.startswith("- ")) + 1
    out.insert(at, note)
    done: set[int] = set()
    for title, lines in old_parts.items():
        n = number(title)
        if title == "## Summary":
            kept, placed = [], False
            for line in lines:
                if any(line.startswith(f"| {k}. ") for k in numbers):
                    if not placed:
                        kept += rows
                        placed = True
                    continue
                kept.append(line)
            out += kept
        elif n in fresh:
            out += fresh[n] + ([""] if fresh[n] and fresh[n][-1].strip() else [])
            done.add(n)
        else:
            out += lines
    for n in numbers:
        if n not in done and n in fresh:
            out += fresh[n]
    return "\n".join(out).rstrip() + "\n"


def _summary(results: dict, only: list[str]) -> list[str]:
    """The table: every goal of the issue, one row each, from the sections' own figures."""
    rows = []
    for name in SECTIONS:
        if name in results:
            rows += __import__(f"s_{name}").summary(results[name])
    if not rows:
        return []
    out = ["## Summary", "", "| measurement | migspec | reference (same run) | ratio | goal | verdict |",
           "|---|---:|---:|---:|---|---|"]
    for m, a, ref, ratio, goal, verdict in rows:
        out.append(f"| {m} | {a} | {ref} | {ratio} | {goal} | {'**' + verdict + '**' if verdict else ''} |")
    out.append("")
    out.append("Lint and plan timings are whole-process wall times; PostgreSQL timings are on the durable server "
               "described above. Details, and where the time goes, below.")
    out.append("")
    return out


def _git_head() -> str:
    import subprocess

    try:
        head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=False).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--", "src"], capture_output=True,
                               text=True, check=False).stdout.strip()
        return f"commit {head}" + (" with uncommitted changes in src/" if dirty else "")
    except OSError:
        return "unknown"


if __name__ == "__main__":
    raise SystemExit(main())

"""5. Growth: ``migspec plan`` time vs statement count, and the backfill runner's time vs rows.
Linear growth = a constant time per statement / per row at every size."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

from common import BENCH, MIGSPEC, PYTHON, Templates, fmt_ratio, fmt_s, log, median, run_env, timed_runs, wall
from corpus import write_corpus, write_schema, write_small, write_stats
from dbplan import Executor, plan, schema_dump, steps, table_facts

BACKFILL = "ALTER TABLE bench ADD COLUMN e double precision DEFAULT random() NOT NULL;"


def run(work: Path, templates: Templates, *, statements: tuple[int, ...], rows: tuple[int, ...], runs: int,
        rate: int) -> dict:
    work.mkdir(parents=True, exist_ok=True)
    stats = write_stats(work / "stats.yaml")
    schema = write_schema(work / "schema.sql")
    small = write_small(work / "small" / "0001_small.sql")
    base_argv = ["--stats", str(stats), "--schema", str(schema), "--format", "json"]
    fixed, _ = timed_runs([MIGSPEC, "plan", str(small), *base_argv], runs)
    plan_rows = []
    for n in statements:
        d = work / f"corpus_{n}"
        for f in d.glob("*.sql") if d.exists() else []:
            f.unlink()
        write_corpus(d, n, 1)
        argv = [MIGSPEC, "plan", str(d), *base_argv]
        # The largest size once (it is the slow one; a warm-up would double it).
        if n == max(statements) and n >= 50_000:
            t, rc = wall(argv)
            times = [t]
        else:
            times, rc = timed_runs(argv, runs)
        # Where the time goes at this size: the same library calls with timers, one more process.
        t0 = time.perf_counter()
        p = subprocess.run([PYTHON, str(BENCH / "plan_phases.py"), str(d), "--stats", str(stats), "--schema",
                            str(schema)], capture_output=True, text=True, check=False, env=run_env())
        took = time.perf_counter() - t0
        phases = json.loads(p.stdout) if p.returncode == 0 else {}
        if phases:
            phases["outside_s"] = took - phases["in_process_s"]  # interpreter start-up and exit
        if p.returncode != 0:
            log(f"plan_phases failed: {p.stderr[-300:]}")
        plan_rows.append({"statements": n, "seconds": median(times), "runs": len(times), "rc": rc,
                          "phases": phases})
        log(f"growth: plan of {n:,} statements {median(times):.2f} s (exit {rc}); phases "
            + ", ".join(f"{k} {v:.2f}" for k, v in phases.items()))

    fill_rows = []
    for r in rows:
        sch = schema_dump(templates, r, work / f"schema_{r}.sql")
        db = templates.fresh(r)
        n, size = table_facts(templates, db)
        doc = plan(work, f"growth_{r}", BACKFILL, rows=n, size_bytes=size, write_qps=rate, schema=sch)
        ex = Executor(templates.server.dsn_for(db), f"bench-growth-{r}")
        took = pause = 0.0
        batches = 0
        for p in steps(doc):
            if p.phase != "expand" and p.step.backfill is None:
                continue  # the expand steps, then only the backfill
            t0 = time.perf_counter()
            pr = ex.run(p)
            if p.step.backfill is not None:
                took = time.perf_counter() - t0
                batches = pr.batches if pr else 0
                pause = batches * p.step.backfill.pause_seconds
                break
        ex.close()
        templates.drop(db)
        fill_rows.append({"rows": n, "seconds": took, "pauses_s": pause, "batches": batches})
        log(f"growth: backfill of {n:,} rows {took:.2f} s ({batches} batches)")
    return {"fixed_s": median(fixed), "plan": plan_rows, "backfill": fill_rows}


def markdown(r: dict) -> list[str]:
    out = ["## 5. Growth", ""]
    out.append("`migspec plan --format json` (with `--stats` and `--schema`) on the generated corpus at each size, "
               "whole-process wall time (median; the largest size once). Fixed cost = the same command on the "
               f"5-statement file: {fmt_s(r['fixed_s'])}. Per statement = (time - fixed cost) / statements; "
               "vs smallest = this size's per-statement time / the smallest size's (1.00x = linear).")
    out.append("")
    out.append("| statements | plan time | per statement | **vs smallest** |")
    out.append("|---:|---:|---:|---:|")
    first = None
    for x in r["plan"]:
        per = (x["seconds"] - r["fixed_s"]) / x["statements"]
        first = first or per
        out.append(f"| {x['statements']:,} | {fmt_s(x['seconds'])} | {per * 1e6:,.0f} µs | {fmt_ratio(per / first)} |")
    out.append("")
    parts = [("parse", "parse_s"), ("lint()", "lint_s"), ("build_plan()", "build_plan_s"), ("render json", "render_s"),
             ("interpreter exit (and start-up)", "outside_s")]
    if all(x.get("phases") for x in r["plan"]):
        out.append("Per statement by part (`bench/plan_phases.py`: timers around the library calls `migspec plan` "
                   "makes, one more process per size); the last column is the part's growth from the smallest size "
                   "to the largest:")
        out.append("")
        out.append("| part | " + " | ".join(f"{x['statements']:,}" for x in r["plan"]) + " | **largest / smallest** |")
        out.append("|---|" + "---:|" * len(r["plan"]) + "---:|")
        for label, key in parts:
            per = [x["phases"].get(key, float("nan")) / x["statements"] for x in r["plan"]]
            out.append(f"| {label} | " + " | ".join(f"{v * 1e6:,.0f} µs" for v in per)
                       + f" | {fmt_ratio(per[-1] / per[0]) if per[0] else '-'} |")
        out.append("")
    out.append("The backfill runner (the plan's batches and pauses, migspec's executor, idle server) at each "
               "table size:")
    out.append("")
    out.append("| rows | batches | time | of which planned pauses | per row | **vs smallest** |")
    out.append("|---:|---:|---:|---:|---:|---:|")
    first = None
    for x in r["backfill"]:
        per = x["seconds"] / max(x["rows"], 1)
        first = first or per
        out.append(f"| {x['rows']:,} | {x['batches']:,} | {fmt_s(x['seconds'])} | {fmt_s(x['pauses_s'])} "
                   f"| {per * 1e6:.2f} µs | {fmt_ratio(per / first)} |")
    out.append("")
    return out


def summary(r: dict) -> list[tuple[str, str, str, str, str, str]]:
    p = r["plan"]
    per = [(x["seconds"] - r["fixed_s"]) / x["statements"] for x in p]
    b = r["backfill"]
    perb = [x["seconds"] / max(x["rows"], 1) for x in b]
    return [
        (f"5. plan time per statement at {p[-1]['statements']:,}", f"{per[-1] * 1e6:,.0f} µs",
         f"at {p[0]['statements']:,}: {per[0] * 1e6:,.0f} µs", fmt_ratio(per[-1] / per[0]), "~1.00x (linear)",
         "met" if per[-1] / per[0] <= 1.25 else "missed"),
        (f"5. backfill time per row at {b[-1]['rows']:,}", f"{perb[-1] * 1e6:.2f} µs",
         f"at {b[0]['rows']:,}: {perb[0] * 1e6:.2f} µs", fmt_ratio(perb[-1] / perb[0]), "~1.00x (linear)",
         "met" if perb[-1] / perb[0] <= 1.25 else "missed"),
    ]

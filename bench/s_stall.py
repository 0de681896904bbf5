"""3. Writer stall, planned vs as written: the worst pgbench writer latency while a migration runs as
written, and while each step migspec plans for it runs (with migspec's executor)."""

from __future__ import annotations

import time
from pathlib import Path

from common import Templates, Writers, connect, fmt_ms, fmt_ratio, fmt_s, latency_summary, log
from dbplan import Executor, plan, schema_dump, steps

KINDS = [
    ("CREATE INDEX", "CREATE INDEX bench_b_idx ON bench (b);"),
    ("ADD COLUMN DEFAULT random() NOT NULL",
     "ALTER TABLE bench ADD COLUMN e double precision DEFAULT random() NOT NULL;"),
    ("SET NOT NULL", "ALTER TABLE bench ALTER COLUMN a SET NOT NULL;"),
    ("ADD FOREIGN KEY", "ALTER TABLE bench ADD CONSTRAINT bench_p_fk FOREIGN KEY (p_id) REFERENCES parent (id);"),
]
GOAL_STEP_MS = 100.0


def run(work: Path, templates: Templates, *, rows: int, rate: int) -> dict:
    server = templates.server
    schema = schema_dump(templates, rows, work / f"schema_{rows}.sql")
    with connect(server, templates.template(rows)) as conn:
        size = int(conn.execute("SELECT pg_table_size('bench')").fetchone()[0])
    results = []
    for i, (kind, sql) in enumerate(KINDS):
        doc = plan(work, f"stall_{i}", sql, rows=rows, size_bytes=size, write_qps=rate, schema=schema)
        planned = [p for p in steps(doc) if not p.step.manual]

        # As written: one statement, autocommit, no timeouts - what the migration file does.
        db = templates.fresh(rows)
        writers = Writers(server, db, rows, rate, work / "pgbench")
        writers.start()
        with connect(server, db) as conn:
            t0 = time.time()
            conn.execute(sql)
            t1 = time.time()
        writers.stop()
        templates.drop(db)
        written = {"seconds": t1 - t0, "writers": latency_summary(writers.during(t0, t1))}
        log(f"stall {kind} as written: {t1 - t0:.2f} s, writers max {written['writers']['max']:.0f} ms")

        # As planned: every step of every phase, in order, with migspec's executor.
        db = templates.fresh(rows)
        ex = Executor(server.dsn_for(db), f"bench-stall-{i}")
        writers = Writers(server, db, rows, rate, work / "pgbench")
        writers.start()
        windows = []
        checks_ok = True
        for p in planned:
            t0 = time.time()
            ex.run(p)
            t1 = time.time()
            windows.append((p, t0, t1))
            ok = ex.post_check(p)
            checks_ok = checks_ok and ok is not False
        writers.stop()
        retries = [m for m in ex.messages if m.startswith("retry")]
        ex.close()
        templates.drop(db)
        step_rows = []
        for p, t0, t1 in windows:
            lat = latency_summary(writers.during(t0, t1))
            step_rows.append({"phase": p.phase, "index": p.index, "description": p.step.description,
                              "lock": p.doc.get("lock"), "seconds": t1 - t0, "estimate_s": p.step.estimate_seconds,
                              "writers": lat})
        all_lat = latency_summary(writers.during(windows[0][1], windows[-1][2])) if windows else latency_summary([])
        worst = max(step_rows, key=lambda r: r["writers"]["max"] if r["writers"]["n"] else -1) if step_rows else None
        results.append({"kind": kind, "sql": sql, "written": written, "steps": step_rows, "planned_all": all_lat,
                        "planned_seconds": sum(r["seconds"] for r in step_rows), "worst": worst,
                        "retries": len(retries), "post_checks_ok": checks_ok})
        log(f"stall {kind} planned: {len(step_rows)} steps, worst writer max "
            f"{worst['writers']['max'] if worst else float('nan'):.0f} ms ({worst['description'] if worst else '-'})"
            f", {len(retries)} lock-timeout retries")
    return {"rows": rows, "rate": rate, "kinds": results}


def markdown(r: dict) -> list[str]:
    out = [f"## 3. Writer stall, planned vs as written ({r['rows']:,} rows)", ""]
    out.append(f"Each kind in a fresh copy of the table with 4 pgbench writers (`-R {r['rate']}`, same scripts as "
               "section 2). As written: the statement alone, autocommit, no timeouts. Planned: every non-manual "
               "step of `migspec plan --format json` (EXPAND, MIGRATE, CONTRACT) run in order by migspec's executor "
               "(`run_statements` / `run_backfill`, as `migspec apply` calls them), each step its own window. "
               "Worst = the slowest writer transaction that overlapped the window.")
    out.append("")
    out.append("| kind | as written: time | worst writer | planned: steps, time | worst writer (step) | **planned / "
               "as written** | every step < 100 ms |")
    out.append("|---|---:|---:|---:|---:|---:|---|")
    for k in r["kinds"]:
        w = k["written"]["writers"]["max"]
        worst = k["worst"]
        pw = worst["writers"]["max"] if worst else float("nan")
        ok = all((s["writers"]["max"] if s["writers"]["n"] else 0) < GOAL_STEP_MS for s in k["steps"])
        out.append(f"| {k['kind']} | {fmt_s(k['written']['seconds'])} | {fmt_ms(w)} | {len(k['steps'])}, "
                   f"{fmt_s(k['planned_seconds'])} | {fmt_ms(pw)} ({worst['phase']} {worst['index']}) "
                   f"| {fmt_ratio(pw / w)} | **{'met' if ok else 'missed'}** |")
    out.append("")
    out.append("Per planned step (writer p99 / max during the step; the step's plan estimate next to its time):")
    out.append("")
    out.append("| kind | step | lock | time | estimate | writers p99 | writers max |")
    out.append("|---|---|---|---:|---:|---:|---:|")
    for k in r["kinds"]:
        for s in k["steps"]:
            flag = " **>100 ms**" if s["writers"]["n"] and s["writers"]["max"] >= GOAL_STEP_MS else ""
            out.append(f"| {k['kind']} | {s['phase']} {s['index']}: {s['description']} | {s['lock'] or '-'} "
                       f"| {fmt_s(s['seconds'])} | {fmt_s(s['estimate_s'])} | {fmt_ms(s['writers']['p99'])} "
                       f"| {fmt_ms(s['writers']['max'])}{flag} |")
    notes = [f"{k['kind']}: {k['retries']} lock-timeout retries" for k in r["kinds"] if k["retries"]]
    notes += [f"{k['kind']}: a post-check failed" for k in r["kinds"] if not k["post_checks_ok"]]
    if notes:
        out.append("")
        out.append("Notes: " + "; ".join(notes) + ".")
    out.append("")
    return out


def summary(r: dict) -> list[tuple[str, str, str, str, str, str]]:
    rows = []
    for k in r["kinds"]:
        worst = k["worst"]
        pw = worst["writers"]["max"] if worst else float("nan")
        w = k["written"]["writers"]["max"]
        rows.append((f"3. worst writer in any planned step: {k['kind']}", fmt_ms(pw), f"as written {fmt_ms(w)}",
                     fmt_ratio(pw / w), "< 100 ms", "met" if pw < GOAL_STEP_MS else "missed"))
    return rows

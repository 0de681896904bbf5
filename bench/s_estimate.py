"""4. Estimate accuracy: migspec's predicted duration of a step (``estimate_seconds`` of the plan
JSON; for the as-written rewrite, of the lint JSON finding) vs the measured duration, per kind, at
two table sizes, on an idle server (the calibration's conditions: no concurrent writers)."""

from __future__ import annotations

import time
from pathlib import Path

from common import Templates, connect, fmt_ratio, fmt_s, log, median
from dbplan import Executor, plan, schema_dump, steps, table_facts

# (kind, migration, how to pick the measured step, source of the estimate)
KINDS = [
    ("index build (CREATE INDEX CONCURRENTLY, text column)", "CREATE INDEX bench_b_idx ON bench (b);",
     lambda s: "CONCURRENTLY" in " ".join(s.step.up), "plan"),
    ("validation (VALIDATE CHECK a IS NOT NULL)", "ALTER TABLE bench ALTER COLUMN a SET NOT NULL;",
     lambda s: "VALIDATE CONSTRAINT" in " ".join(s.step.up), "plan"),
    ("validation (VALIDATE FOREIGN KEY)", "ALTER TABLE bench ADD CONSTRAINT bench_p_fk FOREIGN KEY (p_id) "
     "REFERENCES parent (id);", lambda s: "VALIDATE CONSTRAINT" in " ".join(s.step.up), "plan"),
    ("rewrite (VACUUM FULL, planned as is)", "VACUUM FULL bench;",
     lambda s: "VACUUM FULL" in " ".join(s.step.up), "plan"),
    ("rewrite (ALTER COLUMN a TYPE bigint, as written)", "ALTER TABLE bench ALTER COLUMN a TYPE bigint;",
     None, "lint"),
    ("backfill (keyset runner, planned batches and pauses)",
     "ALTER TABLE bench ADD COLUMN e double precision DEFAULT random() NOT NULL;",
     lambda s: s.step.backfill is not None, "plan"),
]


def run(work: Path, templates: Templates, *, sizes: tuple[int, ...], rate: int) -> dict:
    server = templates.server
    out = []
    for rows in sizes:
        schema = schema_dump(templates, rows, work / f"schema_{rows}.sql")
        for i, (kind, sql, pick, source) in enumerate(KINDS):
            db = templates.fresh(rows)
            n, size = table_facts(templates, db)
            if source == "lint":
                doc = plan(work, f"est_{rows}_{i}", sql, rows=n, size_bytes=size, write_qps=rate, schema=schema,
                           command="lint")
                predicted = max((f.get("estimate_seconds") or 0.0) for f in doc["findings"])
                with connect(server, db) as conn:
                    t0 = time.perf_counter()
                    conn.execute(sql)
                    measured = time.perf_counter() - t0
                basis = next((f["message"] for f in doc["findings"] if f.get("estimate_seconds") == predicted), "")
            else:
                doc = plan(work, f"est_{rows}_{i}", sql, rows=n, size_bytes=size, write_qps=rate, schema=schema)
                ex = Executor(server.dsn_for(db), f"bench-estimate-{rows}-{i}")
                predicted = measured = float("nan")
                basis = ""
                for p in steps(doc):
                    if p.step.manual:
                        continue
                    t0 = time.perf_counter()
                    ex.run(p)
                    took = time.perf_counter() - t0
                    if pick(p) and measured != measured:
                        predicted, measured, basis = p.step.estimate_seconds, took, p.step.estimate_basis
                ex.close()
            templates.drop(db)
            out.append({"kind": kind, "rows": rows, "size_bytes": size, "predicted_s": predicted,
                        "measured_s": measured, "ratio": predicted / measured, "basis": basis, "source": source})
            log(f"estimate {kind} at {rows:,}: predicted {predicted:.3f} s, measured {measured:.3f} s "
                f"({predicted / measured:.2f}x)")
    return {"sizes": list(sizes), "rate": rate, "rows": out}


def markdown(r: dict) -> list[str]:
    sizes = r["sizes"]
    out = [f"## 4. Estimate accuracy ({' and '.join(f'{s:,}' for s in sizes)} rows)", ""]
    out.append("Predicted = `estimate_seconds` of the step in `migspec plan --format json` (for the as-written "
               "rewrite: of the finding in `migspec lint --format json`), from a stats file with the table's real "
               "row count and `pg_table_size`. Measured = the same step run by migspec's executor on a fresh copy "
               "of the table, idle server (the calibration's conditions). Ratio = predicted / measured: above 1 "
               "the estimate is pessimistic (safe), below 1 it promises less time than the step takes.")
    out.append("")
    head = "| kind | " + " | ".join(f"{s:,} rows: predicted / measured | ratio" for s in sizes) + " | ratio spread |"
    out.append(head)
    out.append("|---|" + "---:|---:|" * len(sizes) + "---:|")
    kinds = list(dict.fromkeys(x["kind"] for x in r["rows"]))
    for k in kinds:
        cells = []
        ratios = []
        for s in sizes:
            x = next((y for y in r["rows"] if y["kind"] == k and y["rows"] == s), None)
            if x is None:
                cells.append("- | -")
                continue
            ratios.append(x["ratio"])
            cells.append(f"{fmt_s(x['predicted_s'])} / {fmt_s(x['measured_s'])} | **{fmt_ratio(x['ratio'])}**")
        spread = fmt_ratio(max(ratios) / min(ratios)) if len(ratios) > 1 and min(ratios) > 0 else "-"
        out.append(f"| {k} | " + " | ".join(cells) + f" | {spread} |")
    out.append("")
    allr = [x["ratio"] for x in r["rows"] if x["ratio"] == x["ratio"]]
    if allr:
        out.append(f"Median ratio over all kinds and sizes {fmt_ratio(median(allr))}; range "
                   f"{fmt_ratio(min(allr))} - {fmt_ratio(max(allr))}. Ratio spread = the larger ratio / the smaller "
                   "(1.00x: the estimate scales with the table exactly as the work does).")
        out.append("")
    out.append("Estimate bases (largest size):")
    out.append("")
    for x in r["rows"]:
        if x["rows"] == sizes[-1]:
            basis = x["basis"]
            if x["source"] == "lint" and "est." in basis:
                basis = basis[basis.find("est."):].split(";")[0]
            out.append(f"- {x['kind']}: {basis[:220]}")
    out.append("")
    return out


def summary(r: dict) -> list[tuple[str, str, str, str, str, str]]:
    rows = []
    for k in dict.fromkeys(x["kind"] for x in r["rows"]):
        xs = [x for x in r["rows"] if x["kind"] == k]
        rows.append((f"4. estimate / measured: {k}", " / ".join(fmt_s(x["predicted_s"]) for x in xs),
                     "measured " + " / ".join(fmt_s(x["measured_s"]) for x in xs),
                     " / ".join(fmt_ratio(x["ratio"]) for x in xs), "(report; 1.00x exact)", ""))
    return rows

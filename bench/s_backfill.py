"""2. Backfill throughput vs the limit: migspec's keyset runner vs one single UPDATE (the throughput
limit) vs a naive OFFSET/LIMIT loop, each in a fresh copy of the table, with 4 pgbench writers."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

from common import (Templates, Window, Writers, connect, fmt_ms, fmt_ratio, fmt_s, latency_summary, log, median)
from dbplan import Executor, plan, schema_dump, steps

from migspec.execute import state
from migspec.execute.backfill import run_backfill

MIGRATION = "ALTER TABLE bench ADD COLUMN e double precision DEFAULT random() NOT NULL;"
GOAL_RATIO = 0.9
#: A what-if beside the plan: small batches that hold row locks ~50 ms, no pause.
TUNED_BATCH, TUNED_TARGET_S = 5_000, 0.05
TUNED = f"runner, {TUNED_BATCH:,}-row batches, {TUNED_TARGET_S * 1000:.0f} ms target, no pause"
GOAL_P99_MS = 50.0


def run(work: Path, templates: Templates, *, rows: int, rate: int, rounds: int, offset_cap_s: float) -> dict:
    server = templates.server
    schema = schema_dump(templates, rows, work / f"schema_{rows}.sql")
    tpl_db = templates.template(rows)
    with connect(server, tpl_db) as conn:
        size = int(conn.execute("SELECT pg_table_size('bench')").fetchone()[0])
    doc = plan(work, f"backfill_{rows}", MIGRATION, rows=rows, size_bytes=size, write_qps=rate, schema=schema)
    planned = steps(doc)
    expand = [p for p in planned if p.phase == "expand"]
    fill = next(p for p in planned if p.step.backfill is not None)
    b = fill.step.backfill
    assert b is not None
    sets = ", ".join(f"{c} = {e}" for c, e in b.assignments)
    methods = ["single UPDATE", "runner (as planned)", "runner, no pause", TUNED, "OFFSET/LIMIT loop"]
    samples: dict[str, list[dict]] = {m: [] for m in methods}
    for rnd in range(rounds):
        order = methods if rnd % 2 == 0 else methods[::-1]
        for method in order:
            db = templates.fresh(rows)
            ex = Executor(server.dsn_for(db), f"bench-backfill-{rnd}-{method}")
            for p in expand:  # the plan's EXPAND: nullable column, then its DEFAULT for new rows
                ex.run(p)
            with connect(server, db) as conn:
                total = int(conn.execute("SELECT count(*) FROM bench").fetchone()[0])
            writers = Writers(server, db, rows, rate, work / "pgbench")
            writers.start()
            base0 = time.time()
            time.sleep(2.0)
            base = Window("writers alone", base0, time.time())
            batches: list[tuple[float, int]] = []
            note = ""
            t0 = time.time()
            if method == "single UPDATE":
                with connect(server, db) as conn:
                    done = conn.execute(f"UPDATE bench SET {sets} WHERE {b.predicate}").rowcount
            elif method.startswith("runner"):
                step, target = fill, 0.5  # run_backfill's default target, which apply uses
                if method == "runner, no pause":
                    step = replace(fill, step=replace(fill.step, backfill=replace(b, pause_seconds=0.0)))
                elif method == TUNED:
                    step = replace(fill, step=replace(fill.step, backfill=replace(b, pause_seconds=0.0,
                                                                                   batch_size=TUNED_BATCH)))
                    target = TUNED_TARGET_S
                pause = step.step.backfill.pause_seconds
                batches.append((time.monotonic(), 0))

                def progress(pr, _total, _b=batches):  # type: ignore[no-untyped-def]
                    _b.append((time.monotonic(), pr.rows_done))

                with ex.conn.transaction():
                    state.start(ex.conn, ex.plan_id, step.phase, step.index, "up", step.step.description)
                pr = run_backfill(ex.conn, step.step.backfill, plan=ex.plan_id, phase=step.phase, step=step.index,
                                  log=ex.log, lock_timeout_s=step.step.lock_timeout_s or 2.0, on_progress=progress,
                                  target_batch_s=target)
                done = pr.rows_done
                sizes = [b2 - b1 for (_, b1), (_, b2) in zip(batches[:-1], batches[1:])]
                # Time from one commit to the next, minus the pause slept in between: one batch.
                took = [(t2 - t1 - (pause if i else 0.0)) * 1000
                        for i, ((t1, _), (t2, _)) in enumerate(zip(batches[:-1], batches[1:]))]
                note = (f"{pr.batches} batches, planned {b.batch_size:,} rows + {b.pause_seconds * 1000:.0f} ms pause"
                        if method == "runner (as planned)" else f"{pr.batches} batches")
                if sizes:
                    note += (f"; batch rows first {sizes[0]:,}, largest {max(sizes):,}; longest batch "
                             f"{max(took):,.0f} ms")
            else:
                done, k = 0, 0
                with connect(server, db) as conn:
                    while k < total:
                        if time.time() - t0 > offset_cap_s:
                            note = f"stopped after {offset_cap_s:.0f} s at {k:,} of {total:,} rows (quadratic)"
                            break
                        done += conn.execute(
                            f"UPDATE bench SET {sets} WHERE id IN "
                            f"(SELECT id FROM bench ORDER BY id LIMIT {b.batch_size} OFFSET {k})").rowcount
                        k += b.batch_size
                if not note:
                    note = f"{-(-total // b.batch_size)} batches of {b.batch_size:,} rows"
            t1 = time.time()
            writers.stop()
            ex.close()
            with connect(server, db) as conn:
                left = int(conn.execute(f"SELECT count(*) FROM bench WHERE id <= {total} AND {b.predicate}")
                           .fetchone()[0])
            templates.drop(db)
            during = latency_summary(writers.during(t0, t1))
            alone = latency_summary(writers.during(base.t0, base.t1))
            sample = {"rows": done, "seconds": t1 - t0, "rows_per_s": done / max(t1 - t0, 1e-9), "left": left,
                      "writers": during, "baseline": alone, "note": note}
            samples[method].append(sample)
            log(f"backfill {method}: {done:,} rows in {t1 - t0:.2f} s = {sample['rows_per_s']:,.0f} rows/s; "
                f"writers p99 {during['p99']:.1f} ms max {during['max']:.1f} ms (alone p99 {alone['p99']:.1f}); "
                f"{left} rows left; {note}")
    return {"rows": rows, "rate": rate, "rounds": rounds, "samples": samples, "plan_backfill": {
        "batch_size": b.batch_size, "pause_seconds": b.pause_seconds, "estimate_seconds": fill.step.estimate_seconds}}


def _med(xs: list[dict], key: str, sub: str | None = None) -> float:
    return median([x[key][sub] if sub else x[key] for x in xs])


def markdown(r: dict) -> list[str]:
    s = r["samples"]
    ref = _med(s["single UPDATE"], "rows_per_s")
    out = [f"## 2. Backfill throughput vs the limit ({r['rows']:,} rows)", ""]
    out.append(f"`{MIGRATION}` planned by `migspec plan`; its EXPAND (nullable column + DEFAULT for new rows) run "
               "first, then the backfill of the existing rows in each of the ways below, each in a fresh copy of "
               "the table, while 4 "
               f"pgbench writers (`-c 4 -j 2 -R {r['rate']}`, 4 in 5 update a random row, 1 in 5 insert) run. "
               f"Median of {r['rounds']} round(s) (method order reversed every other round). Writer latency is "
               "pgbench's per-transaction log (`-l`), measured from each transaction's scheduled start, for the "
               "transactions that overlapped the backfill; 'alone' is the 2 s before it, same run. The runner is "
               "`run_backfill` as `migspec apply` calls it (its default `target_batch_s` 0.5 s: batches grow "
               "toward 0.5 s, up to 4x the planned size); the last runner row is a what-if with a smaller batch "
               "and target, which `apply` cannot be told to use. The OFFSET loop uses the planned batch size, each "
               "batch its own transaction: `UPDATE ... WHERE id IN (SELECT id ... ORDER BY id LIMIT n OFFSET k)`.")
    out.append("")
    out.append("| method | rows/s | **vs single UPDATE** | time | writers p99 | writers max | writers alone p99 / max "
               "| notes |")
    out.append("|---|---:|---:|---:|---:|---:|---:|---|")
    for m, xs in s.items():
        if not xs:
            continue
        rps = _med(xs, "rows_per_s")
        out.append(f"| {m} | {rps:,.0f} | {fmt_ratio(rps / ref)} | {fmt_s(_med(xs, 'seconds'))} "
                   f"| {fmt_ms(_med(xs, 'writers', 'p99'))} | {fmt_ms(_med(xs, 'writers', 'max'))} "
                   f"| {fmt_ms(_med(xs, 'baseline', 'p99'))} / {fmt_ms(_med(xs, 'baseline', 'max'))} "
                   f"| {xs[-1]['note']} |")
    out.append("")
    pb = r["plan_backfill"]
    runner = s["runner (as planned)"]
    ratio = _med(runner, "rows_per_s") / ref
    p99 = _med(runner, "writers", "p99")
    nopause = _med(s["runner, no pause"], "rows_per_s") / ref
    tuned = s.get(TUNED) or []
    out.append(f"Plan: batch {pb['batch_size']:,} rows, pause {pb['pause_seconds'] * 1000:.0f} ms; plan estimate "
               f"{fmt_s(pb['estimate_seconds'])} vs measured {fmt_s(_med(runner, 'seconds'))} under load.")
    out.append("")
    out.append(f"Goal: runner >= 0.90x the single UPDATE with writer p99 under 50 ms: as planned {fmt_ratio(ratio)}, "
               f"p99 {fmt_ms(p99)} -> **{'met' if ratio >= GOAL_RATIO and p99 < GOAL_P99_MS else 'missed'}** "
               f"(throughput {'met' if ratio >= GOAL_RATIO else 'missed'}, p99 "
               f"{'met' if p99 < GOAL_P99_MS else 'missed'}); without the planned pauses {fmt_ratio(nopause)}, "
               f"p99 {fmt_ms(_med(s['runner, no pause'], 'writers', 'p99'))}."
               + (f" What-if ({TUNED}, `run_backfill(..., target_batch_s={TUNED_TARGET_S})`): "
                  f"{fmt_ratio(_med(tuned, 'rows_per_s') / ref)}, p99 {fmt_ms(_med(tuned, 'writers', 'p99'))}."
                  if tuned else ""))
    out.append("")
    return out


def summary(r: dict) -> list[tuple[str, str, str, str, str, str]]:
    s = r["samples"]
    ref = _med(s["single UPDATE"], "rows_per_s")
    rps = _med(s["runner (as planned)"], "rows_per_s")
    p99 = _med(s["runner (as planned)"], "writers", "p99")
    nop = _med(s["runner, no pause"], "rows_per_s")
    off = _med(s["OFFSET/LIMIT loop"], "rows_per_s")
    tuned = s.get(TUNED) or []
    return [
        (f"2. backfill runner as planned, {r['rows']:,} rows, 4 writers", f"{rps:,.0f} rows/s",
         f"single UPDATE {ref:,.0f} rows/s", fmt_ratio(rps / ref), ">= 0.90x",
         "met" if rps / ref >= GOAL_RATIO else "missed"),
        ("2. writers' p99 during the runner", fmt_ms(p99), "goal 50 ms", fmt_ratio(p99 / GOAL_P99_MS), "< 50 ms",
         "met" if p99 < GOAL_P99_MS else "missed"),
        ("2. runner without the planned pauses", f"{nop:,.0f} rows/s", f"single UPDATE {ref:,.0f} rows/s",
         fmt_ratio(nop / ref), "(reference)", ""),
        *([(f"2. what-if: {TUNED}", f"{_med(tuned, 'rows_per_s'):,.0f} rows/s, p99 "
            f"{fmt_ms(_med(tuned, 'writers', 'p99'))}", f"single UPDATE {ref:,.0f} rows/s",
            fmt_ratio(_med(tuned, 'rows_per_s') / ref), "(reference)", "")] if tuned else []),
        ("2. naive OFFSET/LIMIT loop", f"{off:,.0f} rows/s", f"single UPDATE {ref:,.0f} rows/s", fmt_ratio(off / ref),
         "(reference)", ""),
    ]

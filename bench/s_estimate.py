"""4. Estimate accuracy: migspec's predicted duration of a planned step against the step run by
migspec's executor, per kind of work, table size, cache state and write load (issue 17).

Predicted (two columns, from the library at render time over the saved measurements):
- **probe**: the estimator (`migspec.estimate`) with the stats file of a `migspec measure --probe`
  taken just before the step, in the state the step meets - the writers running or not, the cache
  emptied or not - as a production probe is taken on the server as it is (the machine's load moved
  between 7 and 16 during a run: a probe taken once, minutes earlier, measures another machine).
  A probe under load has that load's factor divided out at the idle end and multiplied back at the
  loaded one. The plan's range (column "plan range") is the planning stats file's: probe idle,
  write_qps measured under the writers.
- **probe + calibrate**: the same, with the rates `migspec measure --calibrate --calibrate-writes
  rate` timed once per size on a sample of the table (a batched update in 10,000- and 1,000-row
  batches, CREATE INDEX CONCURRENTLY, a CHECK and a FOREIGN KEY VALIDATE, a rewrite - each idle and
  under `rate` writes/s: the load's effect measured) with its own probe of the sample, carried over
  to the case by the case's probe, as a throwaway copy of production would be.
- **today's defaults**: the point estimate before issue 17 - default rates, warm cache, no load,
  FOREIGN KEY validation at the CHECK scan's rate, the runner's planned batches and pauses.

Both migspec columns pass the planned step's lock on its table to the estimator, as the planner
does: writes that lock blocks there (VACUUM FULL's ACCESS EXCLUSIVE) queue behind the step and do
not count as load; cold, a step takes the longer of its work and reading the table at the probe's
read rate (the OS readahead overlaps them).

Measured: the step run as `migspec apply` runs it (the backfill through the runner, which adapts
its batch size), on a fresh copy of the table; **cold** = the server restarted (empty
shared_buffers) and `echo 3 > /proc/sys/vm/drop_caches` (empty OS page cache; the benchmark runs as
root) just before the probe and the step - the probe then reads 16 MB of the table back in;
**loaded** = pgbench writers (`-R rate`) running during the probe and the step. A step the plan
estimates under 5 s runs 3 times (SHORT_STEP_S, TRIALS; each trial a fresh copy, its own restart and probe):
the case's measured and predicted times are the trials' medians - a single ~0.1 s timing on this
shared machine, which ran at two speeds switching within seconds, says more about the moment
than about the estimator (2026-12-01: the same probe read 55-65 or 90-105 ns per row)."""

from __future__ import annotations

import json
import math
import re
import subprocess
import time
from pathlib import Path

import yaml

from common import MIGSPEC, Templates, Writers, connect, fmt_ratio, fmt_s, log, median
from dbplan import Executor, plan, schema_dump, steps

from migspec.estimate.throughput import DEFAULT_RATES, Calibration
from migspec.stats import parse_stats

# (kind, migration, picks the measured step, the rate key today's code used)
KINDS = [
    ("index build (CREATE INDEX CONCURRENTLY, text column)", "CREATE INDEX bench_b_idx ON bench (b);",
     lambda s: "CONCURRENTLY" in " ".join(s.step.up), None),
    ("validation (VALIDATE CHECK a IS NOT NULL)", "ALTER TABLE bench ALTER COLUMN a SET NOT NULL;",
     lambda s: "VALIDATE CONSTRAINT" in " ".join(s.step.up), None),
    ("validation (VALIDATE FOREIGN KEY)", "ALTER TABLE bench ADD CONSTRAINT bench_p_fk FOREIGN KEY (p_id) "
     "REFERENCES parent (id);", lambda s: "VALIDATE CONSTRAINT" in " ".join(s.step.up), "scan"),
    ("rewrite (VACUUM FULL)", "VACUUM FULL bench;", lambda s: "VACUUM FULL" in " ".join(s.step.up), None),
    ("backfill (keyset runner, planned batches and pauses)",
     "ALTER TABLE bench ADD COLUMN e double precision DEFAULT random() NOT NULL;",
     lambda s: s.step.backfill is not None, None),
]
CONDITIONS = [(False, False), (False, True), (True, False), (True, True)]  # (cold, loaded)
SHORT_STEP_S = 5.0  # steps the plan puts under this (its high end) are measured TRIALS times
TRIALS = 3
_KIND = re.compile(r"(?:rows|MB)/s ([a-z_]+)")


def restart_cold(server) -> bool:  # type: ignore[no-untyped-def]
    """Restart PostgreSQL and drop the OS page cache (root); False when the cache could not be dropped."""
    from migspec.pgserver import _run_pg

    done = _run_pg([str(server.bindir / "pg_ctl"), "restart", "-D", str(server.datadir), "-m", "fast", "-w",
                    "-l", str(server.logfile)], cwd=server.basedir)
    if done.returncode != 0:
        raise RuntimeError(f"pg_ctl restart failed: {done.stdout}{done.stderr}")
    subprocess.run(["sync"], check=False)
    try:
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
        return True
    except OSError:
        return False


def _measure(dsn: str, out: Path, *, seconds: float, extra: list[str] | None = None) -> None:
    subprocess.run([MIGSPEC, "measure", "--dsn", dsn, "--tables", "bench,parent", "--sample-seconds", str(seconds),
                    "--source", "benchmark copy", "-o", str(out), *(extra or [])], check=True, capture_output=True)


def probe_stats(work: Path, templates: Templates, rows: int, rate: int) -> Path:
    """The plan's stats file: `migspec measure --probe` of a fresh copy (idle, warm), write_qps
    measured under the writers; and `measure --calibrate --calibrate-writes rate` on another copy."""
    db = templates.fresh(rows)
    dsn = templates.server.dsn_for(db)
    out = work / f"stats_{rows}.yaml"
    loaded = work / f"stats_{rows}_loaded.yaml"
    work.mkdir(parents=True, exist_ok=True)
    _measure(dsn, out, seconds=2, extra=["--probe"])
    writers = Writers(templates.server, db, rows, rate, work / "writers_probe")
    writers.start()
    try:
        _measure(dsn, loaded, seconds=5)
    finally:
        writers.stop(tail_s=0.0)
    doc = yaml.safe_load(out.read_text())
    qps = yaml.safe_load(loaded.read_text())
    for name, t in doc["tables"].items():
        t["write_qps"] = qps["tables"][name]["write_qps"]
    out.write_text(yaml.safe_dump(doc, sort_keys=False))
    templates.drop(db)
    # measure --calibrate on a fresh copy: a batched update (two batch sizes), an index build, a
    # CHECK and a FOREIGN KEY validation and a rewrite timed on a sample of the table, idle and
    # under `rate` writes/s, as on a throwaway copy of production.
    db = templates.fresh(rows)
    t0 = time.perf_counter()
    _measure(templates.server.dsn_for(db), work / f"stats_{rows}_cal.yaml", seconds=0.5,
             extra=["--calibrate", str(work / f"calibration_{rows}.yaml"), "--calibrate-writes", str(rate)])
    log(f"calibrate at {rows:,} rows: {time.perf_counter() - t0:.1f} s")
    templates.drop(db)
    return out


def _plan(work: Path, name: str, sql: str, stats: Path, schema: Path) -> dict:
    import json

    d = work / "plans" / name
    d.mkdir(parents=True, exist_ok=True)
    (d / "migration.sql").write_text(sql + "\n")
    p = subprocess.run([MIGSPEC, "plan", str(d / "migration.sql"), "--stats", str(stats), "--schema", str(schema),
                        "--format", "json"], capture_output=True, text=True, check=False)
    if p.returncode not in (0, 1):
        raise RuntimeError(f"migspec plan failed (exit {p.returncode}): {p.stderr.strip()}")
    return json.loads(p.stdout)


def _key(basis: str) -> str:
    m = _KIND.search(basis)
    return m.group(1) if m else "scan"


def _runner(x: dict):  # type: ignore[no-untyped-def]
    from migspec.estimate.runner import RunnerPlan

    b = x.get("backfill")
    return RunnerPlan(b["batch_size"], b["target_s"], b["pause_s"]) if b else None


def _stats(path: str):  # type: ignore[no-untyped-def]
    return parse_stats(yaml.safe_load(Path(path).read_text()), path)


def _today(x: dict) -> float:
    """The point estimate before issue 17: the default rate (FOREIGN KEY validation at the CHECK
    scan's), warm, idle, plus the planned pauses; index builds by rows."""
    rate = DEFAULT_RATES[x["today_key"] or x["key"]]
    if rate.bytes_per_s and not x["key"].startswith("index"):
        work = x["size_bytes"] / rate.bytes_per_s
    else:
        work = x["rows"] / rate.rows_per_s
    b = x.get("backfill")
    if b:
        work += max(1, -(-x["rows"] // b["batch_size"])) * b["pause_s"]
    return work


def _step_lock(x: dict) -> dict:
    """The planned step's lock on its table, as the planner passes it to the estimator (recorded
    with the measurement; none in results saved before it was)."""
    from migspec.locks import LockMode
    from migspec.names import QualifiedName

    if not x.get("lock") or not x.get("table"):
        return {}
    return {"lock": LockMode[x["lock"]], "table": QualifiedName.parse(x["table"])}


def predict(x: dict) -> dict:
    """The case's predictions: one trial's, or the median of its trials' (each with its own probe)."""
    trials = x.get("trials") or []
    if len(trials) < 2:
        return _predict_one(x)
    each = [_predict_one({**x, **t}) for t in trials]
    middle = _predict_one(x)  # the trial whose measured time is the median (its stats, its bases)
    return {**middle, **{k: median([p[k] for p in each]) for k in ("predicted_s", "calibrated_s")}}


def _predict_one(x: dict) -> dict:
    """The case's predictions from the library as it is now (re-run on --render-only): with the
    probe taken just before the case, with it and measure --calibrate's rates, and today's."""
    runner = _runner(x)
    case = _stats(x["case_stats"])
    lock = _step_lock(x)
    est = Calibration().bound(case).duration(x["key"], x["rows"], x["size_bytes"], runner=runner, **lock)
    cal_doc = yaml.safe_load(Path(x["calibration"]).read_text()) or {}
    cal = Calibration(cal_doc, x["calibration"]).bound(case).duration(x["key"], x["rows"], x["size_bytes"],
                                                                       runner=runner, **lock)
    plan_est = Calibration().bound(_stats(x["plan_stats"])).duration(x["key"], x["rows"], x["size_bytes"],
                                                                     runner=runner, **lock)
    batches = re.search(r"([0-9,]+)-([0-9,]+) batches", cal.basis)
    replayed = None
    if batches:  # the replay's count at the case's corner (warm: the low figure, cold: the high one)
        replayed = batches.group(2 if x["cold"] else 1)
    return {"predicted_s": est.at(cold=x["cold"], loaded=x["loaded"]),
            "calibrated_s": cal.at(cold=x["cold"], loaded=x["loaded"]),
            "today_s": _today(x), "low_s": plan_est.low, "high_s": plan_est.high, "basis": est.basis,
            "cal_basis": cal.basis, "replayed_batches": replayed}


def _loadavg() -> str:
    return Path("/proc/loadavg").read_text().split()[0]


def _trial(work: Path, templates: Templates, planned: list, target, tag: str, *, rows: int, cold: bool,  # type: ignore[no-untyped-def]
           loaded: bool, rate: int) -> dict:
    """One measurement of the case: a fresh copy of the table, the plan's steps before the target
    run, the cache emptied (cold) and the writers started (loaded), the production probe taken in
    that state, then the target step timed as apply runs it."""
    server = templates.server
    db = templates.fresh(rows)
    with connect(server, db) as conn:
        size = int(conn.execute("SELECT pg_table_size('bench')").fetchone()[0])
        n = int(conn.execute("SELECT count(*) FROM bench").fetchone()[0])
    ex = Executor(server.dsn_for(db), f"bench-estimate-{tag}")
    for p in planned:
        if p is target:
            break
        ex.run(p)
    ex.close()
    load_before = _loadavg()
    dropped = restart_cold(server) if cold else None
    writers = None
    if loaded:
        writers = Writers(server, db, n, rate, work / f"writers_{tag}")
        writers.start()
    # The production probe, taken just before the step in the state the step meets:
    # the writers running or not, the cache emptied or not (it reads 16 MB of the table).
    case_stats = work / f"stats_case_{tag}.yaml"
    _measure(server.dsn_for(db), case_stats, seconds=2, extra=["--probe"])
    ex = Executor(server.dsn_for(db), f"bench-estimate-{tag}")
    t0 = time.perf_counter()
    progress = ex.run(target)
    measured = time.perf_counter() - t0
    ex.close()
    if writers:
        writers.stop(tail_s=0.0)
    templates.drop(db)
    return {"measured_s": measured, "case_stats": str(case_stats), "os_cache_dropped": dropped,
            "batches": progress.batches if progress else None, "load_before": load_before, "load": _loadavg(),
            "size_bytes": size, "rows": n}


def run(work: Path, templates: Templates, *, sizes: tuple[int, ...], rate: int) -> dict:
    out, notes = [], []
    results = work / "estimate_raw.jsonl"
    for rows in sizes:
        stats = probe_stats(work, templates, rows, rate)
        schema = schema_dump(templates, rows, work / f"schema_{rows}.sql")
        for i, (kind, sql, pick, today_key) in enumerate(KINDS):
            doc = _plan(work, f"est_{rows}_{i}", sql, stats, schema)
            planned = steps(doc)
            target = next(p for p in planned if pick(p))
            for cold, loaded in CONDITIONS:
                trials = []
                for trial in range(TRIALS if target.step.estimate_seconds < SHORT_STEP_S else 1):
                    tag = f"{rows}-{i}-{int(cold)}{int(loaded)}" + (f"-{trial}" if trial else "")
                    trials.append(_trial(work, templates, planned, target, tag, rows=rows, cold=cold,
                                         loaded=loaded, rate=rate))
                middle = sorted(trials, key=lambda t: t["measured_s"])[len(trials) // 2]
                size, n = middle.pop("size_bytes"), middle.pop("rows")
                for t in trials:
                    t.pop("size_bytes", None), t.pop("rows", None)
                b = target.step.backfill
                x = {"kind": kind, "rows": n, "table_rows": rows, "size_bytes": size, "cold": cold, "loaded": loaded,
                     **middle, "key": _key(target.step.estimate_basis),
                     "today_key": today_key, "plan_stats": str(stats),
                     "lock": target.step.lock.name if target.step.lock else None,
                     "table": str(target.step.table) if target.step.table else None,
                     "calibration": str(work / f"calibration_{rows}.yaml"),
                     "backfill": {"batch_size": b.batch_size, "target_s": b.target_seconds, "pause_s": b.pause_seconds}
                     if b else None,
                     "plan_low_s": target.step.estimate_low_seconds, "plan_high_s": target.step.estimate_seconds,
                     "trials": trials if len(trials) > 1 else None}
                x["measured_s"] = median([t["measured_s"] for t in trials])
                measured = x["measured_s"]
                with results.open("a") as fh:
                    fh.write(json.dumps(x) + "\n")
                out.append(x)
                try:
                    p = predict(x)
                    log(f"estimate {kind} at {rows:,} {'cold' if cold else 'warm'} {'loaded' if loaded else 'idle'}: "
                        f"measured {measured:.3f} s, probe {p['predicted_s']:.3f} s "
                        f"({p['predicted_s'] / measured:.2f}x), probe+calibrate {p['calibrated_s']:.3f} s "
                        f"({p['calibrated_s'] / measured:.2f}x), today {p['today_s']:.3f} s, load {x['load']}")
                except Exception as exc:  # noqa: BLE001 - the measurement is saved; predictions re-run at render
                    log(f"estimate {kind} at {rows:,}: measured {measured:.3f} s (prediction failed: {exc})")
    return {"sizes": list(sizes), "rate": rate, "rows": out, "notes": notes}


def _logs(xs: list[float]) -> tuple[float, float, int]:
    """(median |ln ratio|, worst |ln ratio|, cases beyond 2x)."""
    a = [abs(math.log(x)) for x in xs if x > 0 and math.isfinite(x)]
    return (median(a), max(a) if a else float("nan"), sum(1 for v in a if v > math.log(2)))


def _verdict(xs: list[float]) -> str:
    med, _worst, beyond = _logs(xs)
    return "met" if med <= math.log(1.25) and beyond == 0 else "missed"


def _predicted(r: dict) -> dict:
    """The results with each case's predictions from the library as it is now."""
    return {**r, "rows": [{**x, **predict(x)} for x in r["rows"]]}


def _ratios(rows: list[dict], field: str) -> list[float]:
    return [x[field] / x["measured_s"] for x in rows]


def markdown(r: dict) -> list[str]:
    r = _predicted(r)
    out = [f"## 4. Estimate accuracy ({' and '.join(f'{s:,}' for s in r['sizes'])} rows; warm/cold, idle/loaded)", ""]
    out.append((__doc__ or "").split("\n\n", 1)[1].strip())
    out.append("")
    out.append(f"Writers: pgbench, 4 clients, `-R {r['rate']}` (4 in 5 update a random row, 1 in 5 insert). Ratio = "
               "predicted / measured (above 1: pessimistic). `load` = the machine's 1-minute load average before -> "
               "after the case (other sessions' test suites on the shared 2-core machine).")
    out.append("")
    out.append("| kind | rows | cache | writers | measured | probe: predicted | **ratio** | probe + calibrate | **ratio** | "
               "today's defaults | ratio | plan range (low-high) | load |")
    out.append("|---|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---|---:|")
    for x in r["rows"]:
        out.append(f"| {x['kind']} | {x['table_rows']:,} | {'cold' if x['cold'] else 'warm'} | "
                   f"{'yes' if x['loaded'] else 'no'} | {fmt_s(x['measured_s'])} | {fmt_s(x['predicted_s'])} | "
                   f"**{fmt_ratio(x['predicted_s'] / x['measured_s'])}** | {fmt_s(x['calibrated_s'])} | "
                   f"**{fmt_ratio(x['calibrated_s'] / x['measured_s'])}** | {fmt_s(x['today_s'])} | "
                   f"{fmt_ratio(x['today_s'] / x['measured_s'])} | {fmt_s(x['low_s'])}-{fmt_s(x['high_s'])} | "
                   f"{x['load_before']} -> {x['load']} |")
    out.append("")
    out.append("Per configuration and table size: median / worst |ratio| as a factor (1.25x = the goal's 25 %), "
               "cases beyond 2x, and the load average over those cases:")
    out.append("")
    out.append("| predicted with | rows | cases | median | worst | beyond 2x | load (min-max) | verdict |")
    out.append("|---|---:|---:|---:|---:|---:|---|---|")
    groups = [(f"{n:,}", [x for x in r["rows"] if x["table_rows"] == n]) for n in r["sizes"]]
    if len(groups) > 1:
        groups.append(("all", r["rows"]))
    for label, field in (("probe", "predicted_s"), ("probe + calibrate", "calibrated_s"),
                         ("today's defaults", "today_s")):
        for size, rows in groups:
            if not rows:
                continue
            med, worst, beyond = _logs(_ratios(rows, field))
            loads = [float(v) for x in rows for v in (x["load_before"], x["load"])]
            out.append(f"| {label} | {size} | {len(rows)} | {math.exp(med):.2f}x | {math.exp(worst):.2f}x | {beyond} | "
                       f"{min(loads):.1f}-{max(loads):.1f} | {_verdict(_ratios(rows, field))} |")
    out.append("")
    for label, field in (("probe", "predicted_s"), ("probe + calibrate", "calibrated_s"),
                         ("today's defaults", "today_s")):
        xs = _ratios(r["rows"], field)
        med, worst, beyond = _logs(xs)
        out.append(f"- {label}: median |ln(predicted/measured)| {med:.3f} (goal <= {math.log(1.25):.3f}, i.e. 25 %), "
                   f"worst {worst:.3f} ({math.exp(worst):.2f}x), {beyond} of {len(xs)} cases beyond 2x -> "
                   f"**{_verdict(xs)}**")
    inside = sum(1 for x in r["rows"] if x["low_s"] / 2 <= x["measured_s"] <= x["high_s"] * 2)
    out.append(f"- measured inside the plan's printed range widened by 2x at each end: {inside} of {len(r['rows'])}")
    runs = [x for x in r["rows"] if x.get("batches")]
    if runs:
        out.append("- backfill: the runner's batches, counted, against the replay in the probe + calibrate estimate: "
                   + ", ".join(f"{x['batches']:,} vs {x['replayed_batches']}" for x in runs))
    dropped = {x["os_cache_dropped"] for x in r["rows"] if x["cold"]}
    if False in dropped:
        out.append("- the OS page cache could not be dropped (not root): 'cold' cases had only shared_buffers emptied")
    out += [f"- note: {n}" for n in r.get("notes", [])]
    out.append("")
    out.append("Estimate bases (largest size, cold and loaded; probe, then probe + calibrate):")
    out.append("")
    for x in r["rows"]:
        if x["table_rows"] == r["sizes"][-1] and x["cold"] and x["loaded"]:
            out.append(f"- {x['kind']}: {x['basis']}")
            out.append(f"  - with calibrate: {x['cal_basis']}")
    out.append("")
    return out


def summary(r: dict) -> list[tuple[str, str, str, str, str, str]]:
    r = _predicted(r)
    probe = [x["predicted_s"] / x["measured_s"] for x in r["rows"]]
    today = [x["today_s"] / x["measured_s"] for x in r["rows"]]
    calibrated = [x["calibrated_s"] / x["measured_s"] for x in r["rows"]]
    rows = []
    for label, xs in (("with the probe", probe), ("with the probe + calibrate", calibrated),
                      ("today's defaults", today)):
        med, worst, beyond = _logs(xs)
        rows.append((f"4. estimates {label}: median / worst abs(ln(predicted/measured)), {len(xs)} cases",
                     f"{med:.3f} / {worst:.3f}", f"{beyond} beyond 2x", f"{math.exp(med):.2f}x / {math.exp(worst):.2f}x",
                     "median <= 25 %, none beyond 2x", _verdict(xs) if label != "today's defaults" else ""))
    return rows

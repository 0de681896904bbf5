"""4. Estimate accuracy: migspec's predicted duration of a planned step against the step run by
migspec's executor, per kind of work, table size, cache state and write load (issue 17).

Predicted (two columns):
- **probe**: the estimator (`migspec.estimate`) with the stats file `migspec measure --probe` wrote
  for the benchmark database (probe run idle and warm, write_qps measured while the pgbench writers
  ran), at the case's conditions: warm or cold cache, idle or loaded - the corners of the range the
  plan prints (its low end is warm+idle, its high end cold+loaded). The plan's own JSON estimate is
  checked to be the same range.
- **probe + calibrate**: the same, with the rates `migspec measure --calibrate` timed on the
  benchmark table itself (a batched update, CREATE INDEX CONCURRENTLY, a VALIDATE and a rewrite; the
  FOREIGN KEY validation keeps the probe-scaled default), as a throwaway copy of production would.
- **today's defaults**: the point estimate before issue 17 - default rates, warm cache, no load,
  FOREIGN KEY validation at the CHECK scan's rate.

Measured: the step run as `migspec apply` runs it, on a fresh copy of the table; **cold** = the
server restarted (empty shared_buffers) and `echo 3 > /proc/sys/vm/drop_caches` (empty OS page
cache) just before the step; **loaded** = pgbench writers (`-R rate`) running during the step."""

from __future__ import annotations

import math
import re
import subprocess
import time
from pathlib import Path

import yaml

from common import MIGSPEC, Templates, Writers, connect, fmt_ratio, fmt_s, log, median
from dbplan import Executor, plan, schema_dump, steps

from migspec.estimate.throughput import Calibration
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


def probe_stats(work: Path, templates: Templates, rows: int, rate: int) -> Path:
    """`migspec measure --probe` of a fresh copy (idle, warm), with write_qps measured under the writers."""
    db = templates.fresh(rows)
    dsn = templates.server.dsn_for(db)
    out = work / f"stats_{rows}.yaml"
    loaded = work / f"stats_{rows}_loaded.yaml"
    work.mkdir(parents=True, exist_ok=True)
    subprocess.run([MIGSPEC, "measure", "--dsn", dsn, "--tables", "bench,parent", "--sample-seconds", "2", "--probe",
                    "--source", "benchmark", "-o", str(out)], check=True, capture_output=True)
    writers = Writers(templates.server, db, rows, rate, work / "writers_probe")
    writers.start()
    try:
        subprocess.run([MIGSPEC, "measure", "--dsn", dsn, "--tables", "bench,parent", "--sample-seconds", "5",
                        "--source", "benchmark", "-o", str(loaded)], check=True, capture_output=True)
    finally:
        writers.stop(tail_s=0.0)
    # measure --calibrate on the same copy: a batched update, an index build, a validation and a
    # rewrite timed on (a sample of) the table itself, as on a throwaway copy of production.
    subprocess.run([MIGSPEC, "measure", "--dsn", dsn, "--tables", "bench", "--sample-seconds", "0.5",
                    "--source", "benchmark copy", "-o", str(work / f"stats_{rows}_cal.yaml"),
                    "--calibrate", str(work / f"calibration_{rows}.yaml")], check=True, capture_output=True)
    doc = yaml.safe_load(out.read_text())
    qps = yaml.safe_load(loaded.read_text())
    for name, t in doc["tables"].items():
        t["write_qps"] = qps["tables"][name]["write_qps"]
    out.write_text(yaml.safe_dump(doc, sort_keys=False))
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


def _estimates(step, stats_path: Path, rows: int, size: int, today_key: str | None):  # type: ignore[no-untyped-def]
    """(the probe-calibrated Estimate of the step, the same with measure --calibrate's rates,
    today's point estimate) from the library."""
    m = _KIND.search(step.estimate_basis)
    key = m.group(1) if m else "scan"
    pauses, each = 0, 0.0
    if step.backfill is not None:
        pauses, each = max(1, -(-rows // step.backfill.batch_size)), step.backfill.pause_seconds
    stats = parse_stats(yaml.safe_load(stats_path.read_text()), str(stats_path))
    est = Calibration().bound(stats).duration(key, rows, size, pauses=pauses, pause_each_s=each)
    cal_path = stats_path.with_name(f"calibration_{stats_path.stem.split('_')[1]}.yaml")
    cal = Calibration(yaml.safe_load(cal_path.read_text()) or {}, str(cal_path)).bound(stats)
    calibrated = cal.duration(key, rows, size, pauses=pauses, pause_each_s=each)
    today = Calibration().duration(today_key or key, rows, None if key.startswith("index") else size,
                                   pauses=pauses, pause_each_s=each).low
    return est, calibrated, today


def run(work: Path, templates: Templates, *, sizes: tuple[int, ...], rate: int) -> dict:
    server = templates.server
    out, notes = [], []
    for rows in sizes:
        stats = probe_stats(work, templates, rows, rate)
        schema = schema_dump(templates, rows, work / f"schema_{rows}.sql")
        for i, (kind, sql, pick, today_key) in enumerate(KINDS):
            doc = _plan(work, f"est_{rows}_{i}", sql, stats, schema)
            planned = steps(doc)
            target = next(p for p in planned if pick(p))
            for cold, loaded in CONDITIONS:
                db = templates.fresh(rows)
                with connect(server, db) as conn:
                    size = int(conn.execute("SELECT pg_table_size('bench')").fetchone()[0])
                    n = int(conn.execute("SELECT count(*) FROM bench").fetchone()[0])
                tag = f"{rows}-{i}-{int(cold)}{int(loaded)}"
                ex = Executor(server.dsn_for(db), f"bench-estimate-{tag}")
                for p in planned:
                    if p is target:
                        break
                    ex.run(p)
                ex.close()
                dropped = restart_cold(server) if cold else None
                writers = None
                if loaded:
                    writers = Writers(server, db, n, rate, work / f"writers_{tag}")
                    writers.start()
                ex = Executor(server.dsn_for(db), f"bench-estimate-{tag}")
                t0 = time.perf_counter()
                ex.run(target)
                measured = time.perf_counter() - t0
                ex.close()
                if writers:
                    writers.stop(tail_s=0.0)
                templates.drop(db)
                est, calibrated, today = _estimates(target.step, stats, n, size, today_key)
                predicted = est.at(cold=cold, loaded=loaded)
                with_cal = calibrated.at(cold=cold, loaded=loaded)
                same = (round(est.high, 3) == round(target.step.estimate_seconds, 3)
                        and round(est.low, 3) == round(target.step.estimate_low_seconds or 0, 3))
                if not same:
                    notes.append(f"{kind} at {rows:,}: the plan's range {target.step.estimate_low_seconds}-"
                                 f"{target.step.estimate_seconds} differs from the library's {est.low:.3f}-{est.high:.3f}")
                row = {"kind": kind, "rows": rows, "size_bytes": size, "cold": cold, "loaded": loaded,
                       "os_cache_dropped": dropped, "predicted_s": predicted, "today_s": today, "measured_s": measured,
                       "calibrated_s": with_cal,
                       "low_s": est.low, "high_s": est.high, "basis": est.basis,
                       "load": Path("/proc/loadavg").read_text().split()[0]}
                out.append(row)
                log(f"estimate {kind} at {rows:,} {'cold' if cold else 'warm'} {'loaded' if loaded else 'idle'}: "
                    f"measured {measured:.3f} s, probe {predicted:.3f} s ({predicted / measured:.2f}x), "
                    f"probe+calibrate {with_cal:.3f} s ({with_cal / measured:.2f}x), "
                    f"today {today:.3f} s ({today / measured:.2f}x)")
    return {"sizes": list(sizes), "rate": rate, "rows": out, "notes": notes}


def _logs(xs: list[float]) -> tuple[float, float, int]:
    """(median |ln ratio|, worst |ln ratio|, cases beyond 2x)."""
    a = [abs(math.log(x)) for x in xs if x > 0 and math.isfinite(x)]
    return (median(a), max(a) if a else float("nan"), sum(1 for v in a if v > math.log(2)))


def _verdict(xs: list[float]) -> str:
    med, _worst, beyond = _logs(xs)
    return "met" if med <= math.log(1.25) and beyond == 0 else "missed"


def markdown(r: dict) -> list[str]:
    out = [f"## 4. Estimate accuracy ({' and '.join(f'{s:,}' for s in r['sizes'])} rows; warm/cold, idle/loaded)", ""]
    out.append((__doc__ or "").split("\n\n", 1)[1].strip())
    out.append("")
    out.append(f"Writers: pgbench, 4 clients, `-R {r['rate']}` (4 in 5 update a random row, 1 in 5 insert). Ratio = "
               "predicted / measured (above 1: pessimistic). `load` = the machine's 1-minute load average after the case "
               "(other work on the shared machine).")
    out.append("")
    out.append("| kind | rows | cache | writers | measured | probe: predicted | **ratio** | probe + calibrate | **ratio** | "
               "today's defaults | ratio | plan range (low-high) | load |")
    out.append("|---|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---|---:|")
    for x in r["rows"]:
        out.append(f"| {x['kind']} | {x['rows']:,} | {'cold' if x['cold'] else 'warm'} | "
                   f"{'yes' if x['loaded'] else 'no'} | {fmt_s(x['measured_s'])} | {fmt_s(x['predicted_s'])} | "
                   f"**{fmt_ratio(x['predicted_s'] / x['measured_s'])}** | {fmt_s(x['calibrated_s'])} | "
                   f"**{fmt_ratio(x['calibrated_s'] / x['measured_s'])}** | {fmt_s(x['today_s'])} | "
                   f"{fmt_ratio(x['today_s'] / x['measured_s'])} | {fmt_s(x['low_s'])}-{fmt_s(x['high_s'])} | {x['load']} |")
    out.append("")
    probe = [x["predicted_s"] / x["measured_s"] for x in r["rows"]]
    today = [x["today_s"] / x["measured_s"] for x in r["rows"]]
    calibrated = [x["calibrated_s"] / x["measured_s"] for x in r["rows"]]
    inside = sum(1 for x in r["rows"] if x["low_s"] / 2 <= x["measured_s"] <= x["high_s"] * 2)
    for label, xs in (("probe", probe), ("probe + calibrate", calibrated), ("today's defaults", today)):
        med, worst, beyond = _logs(xs)
        out.append(f"- {label}: median |ln(predicted/measured)| {med:.3f} (goal <= {math.log(1.25):.3f}, i.e. 25 %), "
                   f"worst {worst:.3f} ({math.exp(worst):.2f}x), {beyond} of {len(xs)} cases beyond 2x -> "
                   f"**{_verdict(xs)}**")
    out.append(f"- measured inside the plan's printed range widened by 2x at each end: {inside} of {len(r['rows'])}")
    dropped = {x["os_cache_dropped"] for x in r["rows"] if x["cold"]}
    if False in dropped:
        out.append("- the OS page cache could not be dropped (not root): 'cold' cases had only shared_buffers emptied")
    out += [f"- note: {n}" for n in r.get("notes", [])]
    out.append("")
    out.append("Estimate bases (probe column, largest size, cold and loaded):")
    out.append("")
    for x in r["rows"]:
        if x["rows"] == r["sizes"][-1] and x["cold"] and x["loaded"]:
            out.append(f"- {x['kind']}: {x['basis'][:400]}")
    out.append("")
    return out


def summary(r: dict) -> list[tuple[str, str, str, str, str, str]]:
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

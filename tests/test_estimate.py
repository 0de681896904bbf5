"""The one estimator (migspec.estimate): ranges from warm to cold and idle to loaded, the probed
server's speed, lint / plan / verify printing the same estimate for the same step, verify's
check of the plan's estimate, and ``measure --probe`` on a real server."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import psycopg
import pytest
import yaml

from migspec.cli import main
from migspec.errors import InputError
from migspec.estimate.model import Estimate, format_range
from migspec.estimate.runner import RunnerPlan, next_batch_size, runner_seconds
from migspec.estimate.speed import (DEFAULT_READ_BPS, PROBE_READ_RAMP, REFERENCE_ROW_SECONDS, ServerSpeed, load_factor,
                                    speed_from_stats)
from migspec.estimate.throughput import DEFAULT_RATES, Calibration, calibration_text
from migspec.measure.probes import sample_query
from migspec.names import QualifiedName
from migspec.stats import parse_stats
from migspec.verify.runner import estimate_mismatch
from test_verify import STATS, _migration, _stats, schema_dump  # noqa: F401  (schema_dump is a fixture)

MB = 1_000_000


def _probe_stats(warm_row_s: float, *, pages_read: int = 0, first_extra_s: float = 0.0, qps: float = 0.0) -> dict:
    rows, pages = 100_000, 1_000
    return {
        "pg_version": 15, "source": "production",
        "probe": {"shared_buffers_bytes": 128 * 1024 * 1024, "block_size": 8192, "collected_at": "2026-11-30T22:00:00Z"},
        "tables": {"public.t": {
            "rows": 1_000_000, "size_bytes": 100 * MB, "write_qps": qps,
            "lock_contention": {"longest_transaction_seconds": 0, "lock_waits_per_minute": 0},
            "probe": {"rows": rows, "pages": pages, "warm_seconds": warm_row_s * rows,
                      "first_seconds": warm_row_s * rows + first_extra_s, "pages_read": pages_read,
                      "hit_ratio": 0.99, "method": "TID range scan of pages 0-999"}}},
    }


def test_an_estimate_is_a_range_from_warm_idle_to_cold_loaded() -> None:
    """Cold, the read overlaps the work (readahead): the longer of the two counts, not their sum."""
    e = Estimate(2.0, "b", read_s=3.0, load=1.5, pause_s=0.5)
    assert e.low == 2.5 and e.high == 3.0 * 1.5 + 0.5 == e.seconds
    assert e.at(cold=True, loaded=False) == 3.5 and e.at(cold=False, loaded=True) == 3.5
    assert str(e) == "2.5 s-5.0 s (b)"
    fast_disk = Estimate(2.0, "b", read_s=1.0)
    assert fast_disk.at(cold=True, loaded=False) == fast_disk.low == 2.0
    assert format_range(0.0104, 0.0096) == "10 ms"  # one figure when both ends print the same


def test_a_cold_read_through_an_index_adds_to_the_work() -> None:
    """No readahead for an index's pages: a FOREIGN KEY validation (an index-only scan) pays the read
    on top of the work, a CHECK's sequential scan overlaps it - and each basis says which."""
    cal = Calibration()
    fk, check = cal.duration("validate_fk", 10_000_000, 930 * MB), cal.duration("scan", 10_000_000, 930 * MB)
    assert not fk.read_overlaps and check.read_overlaps
    assert fk.at(cold=True, loaded=False) == pytest.approx(fk.work_s + fk.read_s)
    assert check.at(cold=True, loaded=False) == pytest.approx(max(check.work_s, check.read_s))
    assert "adds to the work" in fk.basis and "overlaps the work" in check.basis


def test_defaults_say_so_and_scale_with_size() -> None:
    cal = Calibration()
    e = cal.duration("scan", 1_000_000, 1_100 * MB)
    assert e.defaulted and "default" in e.basis and "cold cache" in e.basis
    assert math.isclose(e.low, 1.0) and math.isclose(e.high, max(1.0, 1_100 * MB / DEFAULT_READ_BPS))
    assert cal.duration("scan", 2_000_000, 2_200 * MB).low == pytest.approx(2 * e.low)
    assert "table size unknown" in cal.duration("index_build", 1_000, None).basis


def test_the_probe_scales_defaults_and_measures_the_cold_read_rate() -> None:
    # A server twice as slow per row as the reference, whose first pass read 800 pages in 0.1 s more.
    stats = parse_stats(_probe_stats(2 * REFERENCE_ROW_SECONDS, pages_read=800, first_extra_s=0.1), "s.yaml")
    speed = speed_from_stats(stats)
    assert speed.speed_ratio == pytest.approx(2.0)
    assert speed.read_measured and speed.read_bps == pytest.approx(PROBE_READ_RAMP * 800 * 8192 / 0.1)
    cal = Calibration().bound(stats)
    assert cal.rate("rewrite").rows_per_s == pytest.approx(DEFAULT_RATES["rewrite"].rows_per_s / 2)
    e = cal.duration("rewrite", 1_000_000, 100 * MB)
    assert not e.defaulted and "probe of s.yaml" in e.basis and "measured by the probe" in e.basis
    # A calibration file's rates were measured on the server itself: the probe does not rescale them.
    own = Calibration({"rewrite": {"rows_per_s": 500_000}}, "cal.yaml").bound(stats)
    assert own.rate("rewrite").rows_per_s == 500_000


def test_too_few_pages_read_keeps_the_default_read_rate_and_load_stretches_the_high_end() -> None:
    stats = parse_stats(_probe_stats(REFERENCE_ROW_SECONDS, pages_read=10, first_extra_s=0.01, qps=1000), "s.yaml")
    speed = speed_from_stats(stats)
    assert not speed.read_measured and speed.read_bps == DEFAULT_READ_BPS
    e = Calibration().bound(stats).duration("scan", 1_000_000, 100 * MB)
    assert e.load == load_factor(1000) > 1 and e.high > e.at(cold=True, loaded=False)
    assert "writes/s" in e.basis


def test_the_runner_is_replayed_by_its_own_policy() -> None:
    """Slow commits: the runner shrinks its batches to a quarter, and the estimate counts those
    batches and their pauses; fast ones: it grows them to 4x. The replay and the runner share
    next_batch_size, so they cannot drift apart."""
    plan = RunnerPlan(batch_size=10_000, target_s=0.05, pause_s=0.005)
    seconds, batches = runner_seconds(1_000_000, plan, row_s=1e-6, batch_s=0.2)
    assert 380 < batches <= 400  # after a few larger first batches, all at the floor of 2,500 rows
    assert seconds == pytest.approx(batches * (0.2 + 0.005) + 1_000_000 * 1e-6, rel=0.01)
    _, fast = runner_seconds(1_000_000, plan, row_s=1e-8, batch_s=0.0)
    assert fast < 1_000_000 / 20_000  # grown towards 40,000 rows
    size, sizes = 10_000, []
    for _ in range(30):  # the runner's own loop over the same batch times
        size = next_batch_size(size, 10_000, 0.05, 0.2 + size * 1e-6)
        sizes.append(size)
    assert sizes[-1] == 2_500 and min(sizes) == 2_500
    est = Calibration({"batched_update": {"rows_per_s": 50_000, "batch_s": 0.02}}, "cal.yaml").duration(
        "batched_update", 1_000_000, 100 * MB, runner=plan)
    assert est.corners is not None and est.low == est.corners[0] == est.corners[2]  # a fast disk: reading overlaps
    slow_disk = Calibration({"batched_update": {"rows_per_s": 50_000, "batch_s": 0.02}}, "cal.yaml",
                            speed=ServerSpeed(read_bps=1 * MB, read_measured=True))
    cold = slow_disk.duration("batched_update", 1_000_000, 100 * MB, runner=plan)
    assert cold.low == est.low < cold.high == cold.corners[3] and cold.high > 100  # the 100 s read counts, not more
    assert cold.high < 100 + est.low
    assert "the runner's batches replayed" in est.basis and "20.0 ms per batch (measured)" in est.basis


def test_a_probe_taken_under_load_is_not_counted_busy_twice() -> None:
    doc = _probe_stats(2 * REFERENCE_ROW_SECONDS, qps=1000)
    doc["probe"]["write_qps"] = 1000  # the probe ran under the load the steps will meet
    stats = parse_stats(doc, "s.yaml")
    e = Calibration().bound(stats).duration("rewrite", 1_000_000, None)
    as_probed = 1_000_000 / DEFAULT_RATES["rewrite"].rows_per_s * 2  # twice the reference's time per row
    assert e.at(cold=False, loaded=True) == pytest.approx(as_probed)
    assert e.low == pytest.approx(as_probed / load_factor(1000))
    assert "x1.50 divided out" in e.basis and "assumed: +50% per 1,000 writes/s" in e.basis


def test_a_calibration_carries_over_by_its_own_probe_and_measures_the_load() -> None:
    cal = {"scan": {"rows_per_s": 1_000_000, "bytes_per_s": 100 * MB, "loaded_factor": 1.6},
           "probe": {"row_seconds": 4 * REFERENCE_ROW_SECONDS, "write_qps": 400}}
    stats = parse_stats(_probe_stats(2 * REFERENCE_ROW_SECONDS, qps=200), "s.yaml")  # twice as fast as the copy
    c = Calibration(cal, "cal.yaml").bound(stats)
    assert c.rate("scan").bytes_per_s == pytest.approx(200 * MB)
    e = c.duration("scan", 1_000_000, 100 * MB)
    assert e.load == pytest.approx(1.3) and "measured: x1.60 under 400 writes/s by the calibration" in e.basis
    assert "assumed" not in e.basis
    unprobed = Calibration({"scan": {"rows_per_s": 1_000_000, "bytes_per_s": 100 * MB}}, "cal.yaml").bound(stats)
    assert unprobed.rate("scan").bytes_per_s == 100 * MB  # no probe of its own: taken as it is
    # Work that writes is taken as the copy measured it: the read-only probe sees no WAL or fsync.
    writes = Calibration({**cal, "rewrite": {"rows_per_s": 300_000}}, "cal.yaml").bound(stats)
    assert writes.rate("rewrite").rows_per_s == 300_000


@pytest.mark.parametrize("probe", [{"row_seconds": -1}, {"row_seconds": "x"}, {"bogus": 1}, [1]])
def test_a_bad_calibration_probe_names_it(probe: object) -> None:
    with pytest.raises(ValueError, match=r"cal\.yaml: probe"):
        Calibration({"probe": probe}, "cal.yaml")


@pytest.mark.parametrize("probe, where", [
    ({"rows": 1}, "tables.public.t.probe.pages"),
    ({"rows": 1, "pages": 1, "first_seconds": 1, "warm_seconds": 1, "pages_read": 0, "bogus": 1},
     "tables.public.t.probe.bogus"),
    ({"rows": 1, "pages": 1, "first_seconds": 1, "warm_seconds": 1, "pages_read": 0, "hit_ratio": 2},
     "tables.public.t.probe.hit_ratio"),
])
def test_a_bad_probe_section_names_the_key(probe: dict, where: str) -> None:
    doc = _probe_stats(1e-7)
    doc["tables"]["public.t"]["probe"] = probe
    with pytest.raises(InputError, match=re.escape(where)):
        parse_stats(doc, "s.yaml")


def test_risk_uses_the_pessimistic_end() -> None:
    """The issue's example: SET NOT NULL on 20M rows / 3.2 GB is ~3 s warm, so YELLOW by the warm
    figure; read from disk it is RED: the probe's first pass read at 100 MB/s (200 MB/s for a full
    scan past the readahead's ramp), 16 s for the table, longer than the work it overlaps."""
    from migspec.parse.source import Migration, parse_text
    from migspec.lint import lint

    doc = _probe_stats(REFERENCE_ROW_SECONDS, pages_read=1000, first_extra_s=1000 * 8192 / 100e6)
    doc["tables"]["public.t"].update(rows=20_000_000, size_bytes=3_200 * MB)
    stats = parse_stats(doc, "s.yaml")
    migration = Migration("m", ("m.sql",), tuple(parse_text("ALTER TABLE t ALTER COLUMN c SET NOT NULL;", "m.sql")))
    result = lint(migration, stats).results[0]
    hold = result.assessment.hold
    assert hold.low < 15 < hold.high and str(result.risk) == "RED"


def test_verify_flags_an_estimate_off_by_more_than_the_tolerance() -> None:
    assert estimate_mismatch(10.0, 4.0, 6.0, 2.0) is None
    assert "optimistic" in estimate_mismatch(13.0, 4.0, 6.0, 2.0)
    assert "pessimistic" in estimate_mismatch(1.9, 4.0, 6.0, 2.0)
    assert estimate_mismatch(None, 4.0, 6.0, 2.0) is None


def _estimate_text(pattern: str, text: str) -> str:
    m = re.search(pattern, text)
    assert m, text
    return m.group(1)


def test_lint_plan_and_verify_print_the_same_estimate(tmp_path: Path, schema_dump: Path, pg_dsn: str,  # noqa: F811
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """SET NOT NULL is planned as a VALIDATE: the plan's step, verify's line for it and lint of that
    VALIDATE statement print one estimate. lint of the SET NOT NULL itself does the same scan under
    ACCESS EXCLUSIVE: the same warm end, and a lower loaded end, since the 400 writes/s to orders
    then queue behind its lock instead of competing with the scan (only customers' 10 remain)."""
    migration = _migration(tmp_path, "nn", "ALTER TABLE orders ALTER COLUMN customer_id SET NOT NULL;")
    stats = _stats(tmp_path)
    assert main(["lint", str(migration), "--stats", str(stats)]) in (0, 1)
    as_written = _estimate_text(r"scans table, est\. ([^\n]+)\n", capsys.readouterr().out)
    assert main(["plan", str(migration), "--stats", str(stats), "--schema", str(schema_dump)]) == 0
    planned = _estimate_text(r"validate \S+ \(SHARE UPDATE EXCLUSIVE: reads and writes continue\) "
                             r"\[SHARE UPDATE EXCLUSIVE, est ([^\]]+)\]",
                             " ".join(capsys.readouterr().out.split()))  # the text wraps at 100 columns
    plan_file = tmp_path / "plan.json"
    assert main(["plan", str(migration), "--stats", str(stats), "--schema", str(schema_dump), "--format", "json"]) == 0
    plan_file.write_text(capsys.readouterr().out)
    validate = next(sql for phase in json.loads(plan_file.read_text())["phases"] for step in phase["steps"]
                    for sql in step["up"] if "VALIDATE CONSTRAINT" in sql)
    assert main(["lint", str(_migration(tmp_path, "v", validate + ";")), "--stats", str(stats), "--format", "json"]) in (0, 1)
    op = json.loads(capsys.readouterr().out)["operations"][0]
    linted = format_range(op["estimate_low_seconds"], op["estimate_seconds"])
    code = main(["verify", str(plan_file), "--stats", str(stats), "--schema", str(schema_dump), "--dsn", pg_dsn, "--rows", "2000", "--writers", "1"])
    out = capsys.readouterr()
    assert code == 0, out
    verified = _estimate_text(r"plan est ([^)]+)\)[^\n]*validate", out.out)
    assert "-" in linted and linted == planned == verified
    assert as_written.split("-")[0] == planned.split("-")[0] and as_written != planned


def test_measure_probe_writes_what_the_estimates_use(pg: psycopg.Connection, pg_dsn: str, pg_server, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    pg.execute("CREATE TABLE t (id bigint PRIMARY KEY, c text)")
    pg.execute("INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 20000) g")
    pg.execute("VACUUM ANALYZE t")
    out = tmp_path / "stats.yaml"
    assert main(["measure", "--dsn", pg_dsn, "--tables", "t", "--sample-seconds", "0.2", "--probe",
                 "--probe-pages", "64", "-o", str(out)]) == 0
    doc = yaml.safe_load(out.read_text())
    probe = doc["tables"]["public.t"]["probe"]
    assert probe["rows"] > 0 and probe["warm_seconds"] > 0 and doc["probe"]["shared_buffers_bytes"] > 0
    assert doc["probe"]["write_qps"] == round(doc["tables"]["public.t"]["write_qps"], 1)  # the load it ran under
    if pg_server.major >= 14:
        assert probe["pages"] == 64 and probe["method"].startswith("TID range scan")
    else:  # SYSTEM sampling picks each page with the probability asked for: about 64 pages
        assert 0 < probe["pages"] <= 200 and probe["method"].startswith("TABLESAMPLE SYSTEM")
    stats = parse_stats(doc, str(out))
    assert speed_from_stats(stats).probe is not None
    migration = _migration(tmp_path, "ix", "CREATE INDEX CONCURRENTLY t_c_idx ON t (c);")
    capsys.readouterr()
    assert main(["plan", str(migration), "--stats", str(out), "--format", "json"]) == 0
    basis = json.loads(capsys.readouterr().out)["phases"][0]["steps"][0]["estimate_basis"]
    assert f"probe of {out}" in basis


def test_the_probe_query_is_bounded_on_every_version() -> None:
    assert "ctid < '(64,0)'" in sample_query('"t"', 64, 1000, 14)[0]
    sql, method = sample_query('"t"', 64, 1000, 13)
    assert "TABLESAMPLE SYSTEM (6.400000) REPEATABLE" in sql and "6.4%" in method


def test_the_speed_of_an_unprobed_server_is_the_reference() -> None:
    speed = speed_from_stats(parse_stats(STATS, "s.yaml"))
    assert speed == ServerSpeed(write_qps=410.0, table_qps=speed.table_qps)
    assert dict(speed.table_qps) == {QualifiedName("public", "orders"): 400.0, QualifiedName("public", "customers"): 10.0}


def _two_tables(t_qps: float, u_qps: float) -> Calibration:
    doc = _probe_stats(REFERENCE_ROW_SECONDS, qps=t_qps)
    doc["tables"]["public.u"] = {**doc["tables"]["public.t"], "write_qps": u_qps}
    cal = {"rewrite": {"rows_per_s": 500_000, "bytes_per_s": 50 * MB, "loaded_factor": 1.5},
           "probe": {"row_seconds": REFERENCE_ROW_SECONDS, "write_qps": 400}}
    return Calibration(cal, "cal.yaml").bound(parse_stats(doc, "s.yaml"))


def test_writes_the_steps_lock_blocks_queue_instead_of_competing() -> None:
    """The load factor counts the writes that run beside the step: a lock that blocks writes to its
    table (locks.py's conflict table) makes that table's writes wait, the other tables' compete."""
    from migspec.locks import LockMode

    t = QualifiedName("public", "t")
    c = _two_tables(400, 100)
    exclusive = c.duration("rewrite", 1_000_000, 100 * MB, lock=LockMode.ACCESS_EXCLUSIVE, table=t)
    assert exclusive.load == pytest.approx(1 + 0.5 * 100 / 400)  # only u's 100 writes/s compete
    assert "the 400 writes/s to public.t wait for its ACCESS EXCLUSIVE lock (queued, not competing)" in exclusive.basis
    assert "under the 100 writes/s to other tables (measured: x1.50 under 400 writes/s" in exclusive.basis
    online = c.duration("rewrite", 1_000_000, 100 * MB, lock=LockMode.SHARE_UPDATE_EXCLUSIVE, table=t)
    assert online.load == pytest.approx(1 + 0.5 * 500 / 400) == c.duration("rewrite", 1_000_000, 100 * MB).load
    assert "queued" not in online.basis
    assert exclusive.low == online.low and exclusive.high < online.high
    # The planner knows a step's lock only after estimating its work: locked() re-estimates it.
    assert c.locked(online, LockMode.ACCESS_EXCLUSIVE, t) == exclusive
    assert c.locked(online, LockMode.SHARE_UPDATE_EXCLUSIVE, t) == online
    alone = _two_tables(400, 0).duration("rewrite", 1_000_000, 100 * MB, lock=LockMode.ACCESS_EXCLUSIVE, table=t)
    assert alone.load == 1.0 and "x1.00 under load: the 400 writes/s to public.t wait" in alone.basis
    assert "no other table's writes measured" in alone.basis


def test_writers_wait_exactly_for_the_locks_the_estimator_leaves_their_writes_out_for(
        pg: psycopg.Connection, pg_dsn: str) -> None:
    """The fact competing_writes() relies on, on a real server: a session holding each table lock
    mode makes another session's UPDATE of that table wait (lock_timeout ends the wait) exactly
    when LockMode.blocks_writes says so."""
    from migspec.locks import LockMode

    pg.execute("CREATE TABLE w (id int PRIMARY KEY, v int)")
    pg.execute("INSERT INTO w VALUES (1, 0)")
    with psycopg.connect(pg_dsn) as holder, psycopg.connect(pg_dsn, autocommit=True) as writer:
        writer.execute("SET lock_timeout = '100ms'")
        for mode in LockMode:
            holder.execute(f"LOCK TABLE w IN {mode.sql_name} MODE")
            try:
                writer.execute("UPDATE w SET v = v + 1 WHERE id = 1")
                waited = False
            except psycopg.errors.LockNotAvailable:
                waited = True
            holder.rollback()
            assert waited == mode.blocks_writes, mode


def test_lint_and_plan_apply_the_steps_lock_to_the_load(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """VACUUM FULL (ACCESS EXCLUSIVE), run as written by the plan: lint's estimate and the plan's
    step are one, and both leave the 400 writes/s to orders out of the load."""
    migration = _migration(tmp_path, "vf", "VACUUM FULL orders;")
    stats = _stats(tmp_path)
    assert main(["lint", str(migration), "--stats", str(stats), "--format", "json"]) in (0, 1)
    op = json.loads(capsys.readouterr().out)["operations"][0]
    assert main(["plan", str(migration), "--stats", str(stats), "--format", "json"]) in (0, 1)
    step = next(st for phase in json.loads(capsys.readouterr().out)["phases"] for st in phase["steps"]
                if "VACUUM FULL" in " ".join(st["up"]))
    assert "the 400 writes/s to public.orders wait for its ACCESS EXCLUSIVE lock" in step["estimate_basis"]
    assert (op["estimate_low_seconds"], op["estimate_seconds"]) == pytest.approx(
        (step["estimate_low_seconds"], step["estimate_seconds"]))


def test_measure_calibrate_writes_a_calibration_file_plan_reads(pg: psycopg.Connection, pg_dsn: str, tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    pg.execute("CREATE TABLE t (id bigint PRIMARY KEY, c text)")
    pg.execute("INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 30000) g")
    pg.execute("VACUUM ANALYZE t")
    cal = tmp_path / "cal.yaml"
    argv = ["measure", "--dsn", pg_dsn, "--tables", "t", "--sample-seconds", "0.2", "-o", str(tmp_path / "s.yaml"),
            "--calibrate", str(cal), "--calibrate-pages", "100"]
    assert main(argv) == 3 and not cal.exists()  # production (the default --source) is refused
    assert "throwaway copy" in capsys.readouterr().err
    assert main([*argv, "--source", "restored copy", "--calibrate-writes", "50"]) == 0
    rates = yaml.safe_load(cal.read_text())
    probe = rates.pop("probe")
    assert set(rates) == {"batched_update", "index_build_concurrent", "scan", "validate_fk", "rewrite"}
    assert all(r["rows_per_s"] > 0 and r["loaded_factor"] > 0 for r in rates.values())
    assert rates["scan"]["bytes_per_s"] > 0 and rates["validate_fk"]["bytes_per_s"] > 0
    assert rates["batched_update"]["batch_s"] >= 0 and probe["row_seconds"] > 0 and 0 < probe["write_qps"] <= 60
    assert "measured on a sample of each table" in cal.read_text()
    left = pg.execute("SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'migspec_calibrate_%'").fetchone()[0]
    assert left == 0  # the scratch schema is gone
    migration = _migration(tmp_path, "ix", "CREATE INDEX CONCURRENTLY t_c_idx ON t (c);")
    doc = yaml.safe_load((tmp_path / "s.yaml").read_text())
    doc["tables"]["public.t"]["write_qps"] = 50  # production's load, which the loaded pass ran under
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(doc))
    capsys.readouterr()
    assert main(["plan", str(migration), "--stats", str(tmp_path / "s.yaml"), "--calibration", str(cal),
                 "--format", "json"]) == 0
    step = json.loads(capsys.readouterr().out)["phases"][0]["steps"][0]
    assert str(cal) in step["estimate_basis"]
    if rates["index_build_concurrent"]["loaded_factor"] > 1:  # the load's effect measured, not assumed
        assert "measured: x" in step["estimate_basis"] and "assumed" not in step["estimate_basis"]


def test_a_measured_zero_per_batch_cost_is_written_and_read_back() -> None:
    """calibrate takes a per-batch cost the noise makes negative as 0 (measure.calibrate.batch_costs);
    the file must keep that 0, not drop it as if it had never been measured (the calibrate test
    failed on exactly that in a CI run)."""
    text = calibration_text({"batched_update": {"rows_per_s": 20_000.0, "batch_s": 0.0}}, ["test"])
    rates = yaml.safe_load(text)
    assert rates["batched_update"]["batch_s"] == 0
    assert Calibration(rates).rate("batched_update").batch_s == 0.0


def test_calibrate_validates_its_foreign_key_through_the_index_the_plan_builds(pg: psycopg.Connection) -> None:
    """The plan indexes a FOREIGN KEY's referencing column before validating it, so calibrate times
    the validation with that index there: PostgreSQL's check reads the index alone (an index-only
    scan, the visibility map set), the plan the benchmark's planned FOREIGN KEY ran - not a scan of
    the whole table, which took 1.6-2x longer there (BENCHMARKS.md section 4)."""
    from migspec.measure.calibrate import KEY, REF, indexed_foreign_key

    # The benchmark's rows (BENCHMARKS.md section 4): on a table this wide the planner prefers the
    # index; on a narrow one it scans the table, for the sample as for production (same columns).
    pg.execute(f"CREATE TABLE s AS SELECT g::bigint AS {KEY}, (g * 7)::int AS a, md5(g::text) AS b, "
               "now() AS c, g % 1000 + 1 AS p_id FROM generate_series(1, 200000) g")
    pg.execute(f"ALTER TABLE s ADD PRIMARY KEY ({KEY})")
    add = indexed_foreign_key(pg, "public.s", "public.ref_s")
    # The query PostgreSQL's RI_Initial_Check runs for a VALIDATE (src/backend/utils/adt/ri_triggers.c).
    plan = "\n".join(r[0] for r in pg.execute(
        f"EXPLAIN SELECT fk.{REF} FROM ONLY public.s fk LEFT OUTER JOIN ONLY public.ref_s pk "
        f"ON pk.id OPERATOR(pg_catalog.=) fk.{REF} WHERE pk.id IS NULL AND (fk.{REF} IS NOT NULL)").fetchall())
    assert "Index Only Scan" in plan and f"s_{REF}_idx" in plan, plan
    from migspec.measure.calibrate import _validations

    assert _validations(pg, "public.s", "migspec_calibrate_fk", add) > 0  # added again before each timing
    assert pg.execute("SELECT convalidated FROM pg_constraint WHERE conname = 'migspec_calibrate_fk'").fetchone()[0]

"""PostgreSQL major upgrades: ``measure --upgrade-to`` on a real server, the planner's method
choice, its RED verdicts and its refusals (exit 3) for missing measurements."""

from __future__ import annotations

import copy
import json
import threading
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml

from migspec.cli import main
from migspec.planfile import load as load_plan

# A schema with every gap the logical path has: a table without a key that is updated, a large
# object, an unlogged table, a materialized view, a sequence, a refused reg* column.
_SCHEMA = """
CREATE TABLE orders (id bigserial PRIMARY KEY, amount int NOT NULL);
CREATE TABLE events (payload text);
CREATE TABLE full_ident (k int NOT NULL, v int);
ALTER TABLE full_ident REPLICA IDENTITY FULL;
CREATE UNLOGGED TABLE scratch (k int PRIMARY KEY);
CREATE MATERIALIZED VIEW totals AS SELECT sum(amount) AS s FROM orders;
CREATE TABLE funcs (id int PRIMARY KEY, f regproc);
INSERT INTO orders (amount) SELECT g FROM generate_series(1, 2000) g;
INSERT INTO events SELECT 'e' || g FROM generate_series(1, 200) g;
SELECT lo_create(0);
"""


def _writer(dsn: str, stop: threading.Event) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        i = 0
        while not stop.is_set():
            i += 1
            conn.execute("UPDATE events SET payload = payload WHERE payload = %s", (f"e{i % 200 + 1}",))
            conn.execute("INSERT INTO orders (amount) VALUES (%s)", (i,))
            time.sleep(0.005)


@pytest.fixture(scope="module")
def measured(tmp_path_factory: pytest.TempPathFactory, pg_server: Any) -> dict[str, Any]:
    """One real measurement (module-scoped: the window costs seconds), the stats document."""
    with psycopg.connect(pg_server.dsn, autocommit=True) as admin:
        admin.execute("DROP DATABASE IF EXISTS upgrade_measure WITH (FORCE)")
        admin.execute("CREATE DATABASE upgrade_measure")
    dsn = pg_server.dsn_for("upgrade_measure")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(_SCHEMA)
    stop = threading.Event()
    thread = threading.Thread(target=_writer, args=(dsn, stop))
    thread.start()
    out = tmp_path_factory.mktemp("upgrade") / "stats.yaml"
    try:
        time.sleep(0.5)
        code = main(["measure", "--dsn", dsn, "--upgrade-to", "18", "--sample-seconds", "3", "-o", str(out),
                     "--target-dsn", pg_server.dsn])
    finally:
        stop.set()
        thread.join()
    assert code == 0
    doc = yaml.safe_load(out.read_text())
    doc["_path"] = str(out)
    return doc


def _write(tmp_path: Path, doc: dict[str, Any]) -> str:
    doc = {k: v for k, v in doc.items() if k != "_path"}
    path = tmp_path / "stats.json"
    path.write_text(json.dumps(doc))
    return str(path)


def _clean(doc: dict[str, Any]) -> dict[str, Any]:
    """The measured document with the logical blockers taken away (as if fixed first)."""
    doc = copy.deepcopy(doc)
    up = doc["upgrade"]
    up["large_objects"] = 0
    up["tables_without_identity"] = []
    up["reg_columns"] = []
    up["row_changes_per_second"] = 100.0
    up["wal_bytes_per_second"] = 50_000.0
    return doc


def _plan(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any] | None, str]:
    code = main(["upgrade", "postgres", *args, "--format", "json"])
    cap = capsys.readouterr()
    return code, (json.loads(cap.out) if code == 0 else None), cap.err


def test_measure_records_what_an_upgrade_needs(measured: dict[str, Any]) -> None:
    up = measured["upgrade"]
    assert up["to"] == 18 and up["source_major"] >= 13
    assert up["database_bytes"] > 0 and up["catalog_objects"] > 100
    assert up["largest_tables"][0]["name"] == "public.orders"
    assert up["wal_bytes_per_second"] > 0 and up["row_changes_per_second"] > 0
    assert up["large_objects"] == 1
    assert "public.orders_id_seq" in up["sequences"]
    assert up["unlogged_tables"] == ["public.scratch"]
    assert up["materialized_views"] == ["public.totals"]
    assert {"column": "public.funcs.f", "type": "regproc"} in up["reg_columns"]
    no_id = {t["name"]: t for t in up["tables_without_identity"]}
    assert set(no_id) == {"public.events", "public.full_ident"}  # orders, scratch and funcs have keys
    assert no_id["public.events"]["updates_per_second"] > 0  # the writer's UPDATEs, seen in the window
    assert no_id["public.full_ident"]["replica_identity"] == "full"
    assert up["wal_level"] in ("replica", "logical", "minimal")
    assert up["replication_slots"]["max"] >= 0 and isinstance(up["data_checksums"], bool)
    assert up["extensions"][0]["name"] == "plpgsql" and up["target_checked"] is True
    assert up["collation"]["provider"] in ("libc", "icu", "builtin")
    assert up["prepared_transactions"] == 0 and up["standbys"] == 0 and up["logical_slots"] == []


def test_measure_is_read_only_and_keeps_no_password(measured: dict[str, Any]) -> None:
    text = Path(measured["_path"]).read_text()
    assert "password" not in text and "user=" not in text


def test_logical_is_red_for_large_objects_and_updated_table_without_identity(
        measured: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, plan, _ = _plan(capsys, _write(tmp_path, measured), "--to", "18", "--method", "logical",
                          "--free-disk-bytes", "1e12")
    assert code == 0 and plan is not None
    assert plan["risk"] == "RED" and plan["upgrade"]["method"] == "logical"
    red = [f["message"] for f in plan["upgrade"]["findings"] if f["risk"] == "RED"]
    assert any("large object" in m for m in red)
    assert any("public.events" in m and "replica identity" in m for m in red)
    # REPLICA IDENTITY FULL is usable, only slow: YELLOW
    assert any(f["risk"] == "YELLOW" and "public.full_ident" in f["message"] for f in plan["upgrade"]["findings"])
    fix = next(f["fix"] for f in plan["upgrade"]["findings"] if "public.events" in f["message"])
    assert "primary key" in fix


def test_pg_upgrade_is_red_for_refused_reg_columns(measured: dict[str, Any], tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    code, plan, _ = _plan(capsys, _write(tmp_path, measured), "--to", "18", "--method", "pg_upgrade")
    assert code == 0 and plan is not None and plan["risk"] == "RED"
    assert any("regproc" in f["message"] for f in plan["upgrade"]["findings"])


def test_red_when_slot_retention_exceeds_half_the_free_disk(measured: dict[str, Any], tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    doc = _clean(measured)
    path = _write(tmp_path, doc)
    code, plan, _ = _plan(capsys, path, "--to", "18", "--method", "logical", "--free-disk-bytes", "1e12")
    assert plan is not None and not any("retain" in f["message"] for f in plan["upgrade"]["findings"])
    retained = plan["upgrade"]["estimates"]["slot_retention_bytes"]
    assert retained > 0
    code, plan, _ = _plan(capsys, path, "--to", "18", "--method", "logical", "--free-disk-bytes",
                          str(int(retained * 1.5)))
    assert code == 0 and plan is not None and plan["risk"] == "RED"
    assert any("retain" in f["message"] and f["risk"] == "RED" for f in plan["upgrade"]["findings"])


def test_budget_below_pg_upgrade_with_no_logical_path_is_red(measured: dict[str, Any], tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    code, plan, _ = _plan(capsys, _write(tmp_path, measured), "--to", "18", "--downtime-budget", "1",
                          "--free-disk-bytes", "1e12")
    assert code == 0 and plan is not None and plan["risk"] == "RED"
    assert any("below pg_upgrade's estimated" in f["message"] and "logical path is blocked" in f["message"]
               for f in plan["upgrade"]["findings"])


def test_method_follows_the_budget(measured: dict[str, Any], tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path, _clean(measured))
    _, big, _ = _plan(capsys, path, "--to", "18", "--downtime-budget", "3600", "--free-disk-bytes", "1e12")
    assert big is not None and big["upgrade"]["method"] == "pg_upgrade"
    assert big["upgrade"]["estimates"]["pg_upgrade_mode"] == "copy"  # 1e12 B free >= 2 x the cluster
    _, small, _ = _plan(capsys, path, "--to", "18", "--downtime-budget", "2", "--free-disk-bytes", "1e12")
    assert small is not None and small["upgrade"]["method"] == "logical" and small["risk"] != "RED"
    # every step has a DOWN or says why there is none; the reverse subscription is the way back
    for phase in small["phases"]:
        for step in phase["steps"]:
            assert step["down"] or step["down_note"], step["description"]
    migrate = next(p for p in small["phases"] if p["name"] == "migrate")
    assert any("migspec_upgrade_reverse" in sql and "copy_data = false" in sql
               for s in migrate["steps"] for sql in s["up"])
    contract = next(p for p in small["phases"] if p["name"] == "contract")
    assert contract["reversible"] is False


def test_plan_sql_reparses_and_the_json_plan_is_approvable(measured: dict[str, Any], tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    import pglast

    code, plan, _ = _plan(capsys, _write(tmp_path, _clean(measured)), "--to", "18", "--method", "logical",
                          "--free-disk-bytes", "1e12")
    assert code == 0 and plan is not None
    for phase in plan["phases"]:
        for step in phase["steps"]:
            for sql in step["up"] + step["down"]:
                assert pglast.parse_sql(sql)
            assert step["action"] and step["server"] in ("source", "target", "both", "operator")
    assert "$SOURCE_CONNINFO" in json.dumps(plan)  # the DSN is supplied at apply time, never stored
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan))
    assert main(["approve", str(path), "--by", "dba"]) == 0
    assert load_plan(path).phase("migrate")


@pytest.mark.parametrize("fmt", ["text", "markdown"])
def test_text_and_markdown(measured: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str],
                           fmt: str) -> None:
    assert main(["upgrade", "postgres", _write(tmp_path, _clean(measured)), "--to", "18", "--method", "logical",
                 "--free-disk-bytes", "1e12", "--format", fmt]) == 0
    out = capsys.readouterr().out
    assert "RISK:" in out or "**Risk:" in out
    assert "EXPAND" in out and "MIGRATE" in out and "CONTRACT" in out and "reverse" in out
    if fmt == "text":
        # Every statement shown whole (once cut at 160 characters with "..."), wrapped to 100 columns.
        assert main(["upgrade", "postgres", _write(tmp_path, _clean(measured)), "--to", "18", "--method", "logical",
                     "--free-disk-bytes", "1e12", "--format", "json"]) == 0
        plan = json.loads(capsys.readouterr().out)
        flat = " ".join(out.split())
        statements = [sql for phase in plan["phases"] for step in phase["steps"] for sql in step["up"] + step["down"]]
        assert statements
        for sql in statements:
            assert " ".join(sql.rstrip(";").split()) + ";" in flat
        assert all(len(line) <= 100 for line in out.splitlines())


def test_refusals_name_the_missing_measurement(measured: dict[str, Any], tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    no_section = {k: v for k, v in measured.items() if k != "upgrade"}
    code, _, err = _plan(capsys, _write(tmp_path, no_section), "--to", "18", "--downtime-budget", "60")
    assert code == 3 and "no 'upgrade' section" in err and "--upgrade-to 18" in err
    doc = copy.deepcopy(measured)
    del doc["upgrade"]["large_objects"]
    code, _, err = _plan(capsys, _write(tmp_path, doc), "--to", "18", "--downtime-budget", "60")
    assert code == 3 and "upgrade.large_objects" in err
    code, _, err = _plan(capsys, _write(tmp_path, measured), "--to", "17", "--downtime-budget", "60")
    assert code == 3 and "not 17" in err
    code, _, err = _plan(capsys, _write(tmp_path, measured), "--to", "18")
    assert code == 3 and "--downtime-budget" in err
    code, _, err = _plan(capsys, _write(tmp_path, measured), "--to", "18", "--method", "logical")
    assert code == 3 and "--free-disk-bytes" in err
    code, _, err = _plan(capsys, _write(tmp_path, measured), "--to", "18", "--downtime-budget", "-1")
    assert code == 2


def test_calibration_file_replaces_the_defaults(measured: dict[str, Any], tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    cal = tmp_path / "cal.yaml"
    cal.write_text("upgrade_rates:\n  logical_copy_bytes_per_s: 1000\n")
    path = _write(tmp_path, _clean(measured))
    _, plan, _ = _plan(capsys, path, "--to", "18", "--method", "logical", "--free-disk-bytes", "1e12",
                       "--calibration", str(cal))
    assert plan is not None
    assert plan["upgrade"]["estimates"]["logical_copy_seconds"] == pytest.approx(
        measured["upgrade"]["database_bytes"] / 1000, rel=1e-3)
    assert "rehearsal calibration" in plan["upgrade"]["rates"]["source"]
    cal.write_text("upgrade_rates:\n  bogus: 1\n")
    code, _, err = _plan(capsys, path, "--to", "18", "--method", "logical", "--free-disk-bytes", "1e12",
                         "--calibration", str(cal))
    assert code == 2 and "bogus" in err

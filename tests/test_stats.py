"""migspec.stats: the stats file's validation, and the refusal (with the SQL to measure) when a
pre-existing table lacks measurements. The measuring SQL is run on a real server."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest

from migspec.errors import InputError, RefusedError
from migspec.names import QualifiedName
from migspec.stats import LockContention, Stats, TableStats, how_to_measure, load_stats, parse_stats, \
    require_measurements

ORDERS = QualifiedName("public", "orders")
FULL = {"rows": 1000, "write_qps": 5,
        "lock_contention": {"longest_transaction_seconds": 1.5, "lock_waits_per_minute": 0}}


def test_parse_full_document() -> None:
    stats = parse_stats({
        "pg_version": "14.2", "source": "production", "collected_at": "2026-11-20T10:00:00Z",
        "maintenance_window": "none", "thresholds": {"red_stall_seconds": 30},
        "tables": {"orders": {**FULL, "size_bytes": 123456, "columns": {"ID": "bigint"}},
                   '"Sales"."Order Items"': FULL},
    }, "s.yaml")
    assert (stats.pg_version, stats.pg_version_full, stats.maintenance_window) == (14, "14.2", None)
    assert stats.from_production and stats.origin == "s.yaml"
    assert stats.thresholds == {"red_stall_seconds": 30.0}
    orders = stats.table(ORDERS)
    assert (orders.rows, orders.write_qps, orders.size_bytes) == (1000, 5.0, 123456)
    assert orders.lock_contention == LockContention(1.5, 0.0)
    assert orders.columns == {"id": "bigint"}
    assert orders.missing() == []
    assert stats.table(QualifiedName("Sales", "Order Items")).rows == 1000
    assert stats.table(QualifiedName("public", "other")).missing() == ["rows", "write_qps", "lock_contention"]


def test_empty_document_is_no_measurements() -> None:
    assert parse_stats(None, "s.yaml").tables == {}
    assert parse_stats({"tables": None}, "s.yaml").tables == {}


@pytest.mark.parametrize("data, where", [
    ([1, 2], "top level"),
    ("text", "top level"),
    ({"foo": 1}, "foo: unknown key"),
    ({"pg_version": 10}, "pg_version: must be a PostgreSQL major version 11-18"),
    ({"pg_version": 19}, "pg_version: must be a PostgreSQL major version 11-18"),
    ({"pg_version": "x"}, "pg_version: must be"),
    ({"pg_version": True}, "pg_version: must be"),
    ({"maintenance_window": 5}, "maintenance_window: must be"),
    ({"tables": [1]}, "tables: must map"),
    ({"tables": {"orders": 5}}, "tables.orders: must be a mapping"),
    ({"tables": {"orders": {"rows": -1}}}, "tables.orders.rows: must not be negative"),
    ({"tables": {"orders": {"rows": 1.5}}}, "tables.orders.rows: must be a whole number"),
    ({"tables": {"orders": {"rows": "100"}}}, "tables.orders.rows: must be a number, not '100'"),
    ({"tables": {"orders": {"rows": True}}}, "tables.orders.rows: must be a number"),
    ({"tables": {"orders": {"rows": float("nan")}}}, "tables.orders.rows: must be a finite number"),
    ({"tables": {"orders": {"rows": float("inf")}}}, "tables.orders.rows: must be a finite number"),
    ({"tables": {"orders": {"write_qps": -0.5}}}, "tables.orders.write_qps: must not be negative"),
    ({"tables": {"orders": {"size_bytes": -1}}}, "tables.orders.size_bytes: must not be negative"),
    ({"tables": {"orders": {"wirte_qps": 1}}}, "tables.orders.wirte_qps: unknown key"),
    ({"tables": {"orders": {"lock_contention": 5}}}, "tables.orders.lock_contention: must be"),
    ({"tables": {"orders": {"lock_contention": {"longest_transaction_seconds": 1}}}},
     "tables.orders.lock_contention.lock_waits_per_minute: is missing"),
    ({"tables": {"orders": {"lock_contention": {"lock_waits_per_minute": 1}}}},
     "tables.orders.lock_contention.longest_transaction_seconds: is missing"),
    ({"tables": {"orders": {"lock_contention": {"longest_transaction_seconds": -1, "lock_waits_per_minute": 0}}}},
     "tables.orders.lock_contention.longest_transaction_seconds: must not be negative"),
    ({"tables": {"orders": {"lock_contention": {**FULL["lock_contention"], "extra": 1}}}},
     "tables.orders.lock_contention.extra: unknown key"),
    ({"tables": {"orders": {"columns": ["id"]}}}, "tables.orders.columns: must map"),
    ({"tables": {"a.b.c": FULL}}, "tables.a.b.c: not a table name"),
    ({"tables": {"my table": FULL}}, "tables.my table: not a name"),
    ({"tables": {".orders": FULL}}, "tables..orders: not a name"),
    ({"tables": {'"orders': FULL}}, "unterminated quoted name"),
    ({"tables": {"": FULL}}, "tables.: not a name"),
    ({"tables": {"orders": FULL, "public.orders": FULL}}, "tables.public.orders: names the same table"),
    ({"tables": {"orders": FULL, "ORDERS": FULL}}, "tables.ORDERS: names the same table"),
    ({"thresholds": [1]}, "thresholds: must map"),
    ({"thresholds": {"red_stall_seconds": -1}}, "thresholds.red_stall_seconds: must not be negative"),
])
def test_malformed_documents(data: object, where: str) -> None:
    with pytest.raises(InputError) as info:
        parse_stats(data, "s.yaml")
    message = str(info.value)
    assert message.startswith("s.yaml: ") and where in message, message
    assert "\n" not in message


@pytest.mark.parametrize("name, content, where", [
    ("s.yaml", "tables:\n  orders: {rows: 1\n", "s.yaml:3:1: malformed YAML"),
    ("s.yaml", "a: b: c\n", "s.yaml:1:5: malformed YAML"),
    ("s.yaml", "x: !!python/object:os.system ls\n", "s.yaml:1:4: malformed YAML"),
    ("s.json", '{"tables": {"orders": {"rows": 1,}}}', "s.json:1:34: malformed JSON"),
    ("s.json", "", "s.json:1:1: malformed JSON"),
    ("s.json", "[" * 100_000, "malformed stats file: nested too deeply"),
    ("s.yaml", "a: " + "[" * 100_000, "malformed stats file: nested too deeply"),
])
def test_malformed_files(tmp_path: Path, name: str, content: str, where: str) -> None:
    p = tmp_path / name
    p.write_text(content)
    with pytest.raises(InputError) as info:
        load_stats(p)
    assert str(info.value).startswith(f"{tmp_path}/") and where in str(info.value)


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read stats file"):
        load_stats(tmp_path / "missing.yaml")
    with pytest.raises(InputError, match="cannot read stats file"):
        load_stats(tmp_path)
    (tmp_path / "latin1.yaml").write_bytes(b"source: caf\xe9\n")
    with pytest.raises(InputError, match="cannot read stats file"):
        load_stats(tmp_path / "latin1.yaml")


def test_json_and_yaml_files(tmp_path: Path) -> None:
    doc = {"pg_version": 16, "source": "staging", "tables": {"orders": FULL}}
    (tmp_path / "s.json").write_bytes(b"\xef\xbb\xbf" + json.dumps(doc).encode())  # a BOM is fine
    (tmp_path / "s.yaml").write_text("pg_version: 16\nsource: staging\ncollected_at: 2026-11-20\n"
                                     "tables:\n  orders: {rows: 1000, write_qps: 5, lock_contention: "
                                     "{longest_transaction_seconds: 1.5, lock_waits_per_minute: 0}}\n")
    a, b = load_stats(tmp_path / "s.json"), load_stats(tmp_path / "s.yaml")
    assert a.tables == b.tables
    assert b.collected_at == "2026-11-20"
    assert not a.from_production


def test_refusal_lists_every_table_and_measurement() -> None:
    stats = parse_stats({"tables": {"orders": {"rows": 10}, '"Sales"."Items"': {"write_qps": 1}}}, "s.yaml")
    with pytest.raises(RefusedError) as info:
        require_measurements(stats, [ORDERS, QualifiedName("Sales", "Items"), QualifiedName("public", "users")])
    message = str(info.value)
    assert info.value.exit_code == 3
    assert "stats from s.yaml" in message
    for table, key in [("public.orders", "write_qps"), ("public.orders", "lock_contention"),
                       ('"Sales"."Items"', "rows"), ('"Sales"."Items"', "lock_contention"),
                       ("public.users", "rows"), ("public.users", "write_qps"), ("public.users", "lock_contention")]:
        assert f"{table}: missing {key}" in message
    assert "public.orders: missing rows" not in message
    assert '"Sales"."Items": missing write_qps' not in message
    assert "pg_class" in message and "pg_stat_user_tables" in message and "pg_stat_activity" in message


def test_no_refusal_when_complete_or_nothing_touched() -> None:
    stats = parse_stats({"tables": {"orders": FULL}}, "s.yaml")
    require_measurements(stats, [ORDERS])
    require_measurements(Stats(), [])


def test_refusal_without_a_stats_file() -> None:
    with pytest.raises(RefusedError, match=r"no --stats file given"):
        require_measurements(Stats(), [ORDERS])


def test_with_table_replaces() -> None:
    stats = Stats().with_table(TableStats(ORDERS, rows=5))
    assert stats.table(ORDERS).rows == 5
    assert Stats().tables == {}


@pytest.mark.parametrize("table", [QualifiedName("public", "orders"), QualifiedName("Sales", "Order Items"),
                                   QualifiedName("public", "it's")])
def test_how_to_measure_runs_on_a_real_server(pg: psycopg.Connection, table: QualifiedName) -> None:
    """Every statement the refusal prints is valid SQL that returns the measurement it names."""
    pg.execute(f"CREATE SCHEMA IF NOT EXISTS {table.sql.split('.')[0]}")
    pg.execute(f"CREATE TABLE {table.sql} (id int)")
    pg.execute(f"INSERT INTO {table.sql} SELECT generate_series(1, 100)")
    pg.execute(f"ANALYZE {table.sql}")
    rows_sql = how_to_measure(table, "rows")
    assert "pg_class" in rows_sql
    cur = pg.execute(rows_sql)
    assert [d.name for d in cur.description] == ["rows", "size_bytes"]
    rows, size = cur.fetchone()
    assert rows == 100 and size > 0
    qps_sql = how_to_measure(table, "write_qps")
    assert "pg_stat_user_tables" in qps_sql
    assert pg.execute(qps_sql).fetchone()[0] >= 0
    lc_sql = how_to_measure(table, "lock_contention")
    assert "pg_stat_activity" in lc_sql and "pg_locks" in lc_sql
    with pg.cursor() as cur:
        cur.execute(lc_sql)  # two statements: psycopg returns each result set in turn
        assert cur.description[0].name == "longest_transaction_seconds"
        assert cur.fetchone()[0] >= 0
        assert cur.nextset()
        assert cur.fetchone()[0] == 0

"""``migspec measure`` against a real server: write rates under an applied load, lock contention from
real waiting sessions, schema facts, least privilege, and a password that never leaves the
connection. Pure pieces (stats ``schema`` validation, redaction, row estimates, episode counting,
table scope) are tested without a server."""

from __future__ import annotations

import io
import json
import secrets as pysecrets
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest
import yaml
from psycopg import sql

from migspec import pgserver
from migspec.cli import main
from migspec.errors import InputError
from migspec.measure import MeasureError, MeasureOptions, measure, parse_table_list, tables_of_migration
from migspec.measure.collect import ROWS_FROM_LIVE_TUPLES, ROWS_FROM_RELTUPLES, estimate_rows
from migspec.measure.connection import connect, redact, secrets_in
from migspec.measure.sample import ContentionTracker, Observation
from migspec.measure.snapshot import check, render, to_document
from migspec.names import QualifiedName
from migspec.pgserver import Server
from migspec.schema import from_stats
from migspec.stats import load_stats, parse_stats

ORDERS = QualifiedName("public", "orders")


# --- stats.py: the per-table schema section ------------------------------------------------------

GOOD_SCHEMA = {
    "columns": [
        {"name": "id", "type": "bigint", "not_null": True, "default": None, "identity": "always"},
        {"name": "note", "type": "character varying(20)", "not_null": False, "default": "'x'::character varying"},
        {"name": "twice", "type": "integer", "generated": "(id * 2)"},
    ],
    "primary_key": ["id"],
    "constraints": {"orders_pkey": "PRIMARY KEY (id)"},
    "indexes": {"orders_pkey": "CREATE UNIQUE INDEX orders_pkey ON public.orders USING btree (id)",
                "orders_note": "CREATE INDEX orders_note ON public.orders USING btree (note)"},
    "invalid_indexes": ["orders_note"],
    "triggers": {"t": "CREATE TRIGGER t BEFORE INSERT ON public.orders FOR EACH ROW EXECUTE FUNCTION f()"},
}


def _stats_with_schema(schema: object) -> dict[str, object]:
    return {"tables": {"orders": {"rows": 1, "columns": {"id": "bigint"}, "schema": schema}}}


def test_schema_section_parses_into_typed_facts() -> None:
    stats = parse_stats(_stats_with_schema(GOOD_SCHEMA), "s.yaml")
    ts = stats.table(ORDERS)
    assert ts.columns == {"id": "bigint"}
    assert ts.schema is not None
    assert [c.name for c in ts.schema.columns] == ["id", "note", "twice"]
    assert ts.schema.columns[0].identity == "always" and ts.schema.columns[0].not_null
    assert ts.schema.columns[1].default == "'x'::character varying"
    assert ts.schema.columns[2].generated == "(id * 2)" and ts.schema.columns[2].default is None
    assert ts.schema.primary_key == ("id",)
    assert ts.schema.invalid_indexes == ("orders_note",)
    facts = from_stats(stats).known(ORDERS)
    assert facts is not None and facts.primary_key == ("id",)
    assert facts.columns["note"].type == "character varying(20)"
    assert "orders_note" in facts.indexes and "t" in facts.triggers


@pytest.mark.parametrize(("schema", "where"), [
    ([], "tables.orders.schema"),
    ({"colums": []}, "tables.orders.schema.colums"),
    ({"columns": {"id": "bigint"}}, "tables.orders.schema.columns"),
    ({"columns": [{"name": "id"}]}, "tables.orders.schema.columns[0].type"),
    ({"columns": [{"name": "id", "type": 5}]}, "tables.orders.schema.columns[0].type"),
    ({"columns": [{"name": "id", "type": "int", "not_null": "yes"}]}, "tables.orders.schema.columns[0].not_null"),
    ({"columns": [{"name": "id", "type": "int", "identity": "sometimes"}]}, "tables.orders.schema.columns[0].identity"),
    ({"columns": [{"name": "id", "type": "int", "colour": "red"}]}, "tables.orders.schema.columns[0].colour"),
    ({"columns": [{"name": "id", "type": "int"}, {"name": "id", "type": "int"}]}, "tables.orders.schema.columns"),
    ({"primary_key": "id"}, "tables.orders.schema.primary_key"),
    ({"columns": [{"name": "id", "type": "int"}], "primary_key": ["nope"]}, "tables.orders.schema.primary_key"),
    ({"constraints": ["CHECK (x)"]}, "tables.orders.schema.constraints"),
    ({"indexes": {"i": None}}, "tables.orders.schema.indexes.i"),
    ({"indexes": {}, "invalid_indexes": ["ghost"]}, "tables.orders.schema.invalid_indexes"),
    ({"triggers": {"t": 1}}, "tables.orders.schema.triggers.t"),
])
def test_bad_schema_section_is_an_input_error_naming_the_key(schema: object, where: str) -> None:
    with pytest.raises(InputError) as err:
        parse_stats(_stats_with_schema(schema), "s.yaml")
    assert str(err.value).startswith(f"s.yaml: {where}: ")


def test_stats_without_schema_section_still_work() -> None:
    ts = parse_stats({"tables": {"orders": {"rows": 1, "columns": {"ID": "int"}}}}, "s").table(ORDERS)
    assert ts.schema is None and ts.columns == {"id": "int"}


# --- pure pieces -----------------------------------------------------------------------------------

@pytest.mark.parametrize("dsn", [
    "host=db password=s3cr3t-pw dbname=app",
    "host=db password='s3cr3t-pw' dbname=app",
    "postgresql://app:s3cr3t-pw@db:5432/app",
    "postgres://app:s3cr3t%2Dpw@db/app",
])
def test_every_spelling_of_the_password_is_redacted(dsn: str) -> None:
    found = secrets_in(dsn)
    assert found
    text = redact(f"FATAL: something about {dsn} and s3cr3t-pw", found)
    assert "s3cr3t" not in text


def test_table_lists_split_on_commas_outside_quotes() -> None:
    assert parse_table_list(['orders, sales."Line,Items"', "ORDERS", "x.y"]) == [
        ORDERS, QualifiedName("sales", "Line,Items"), QualifiedName("x", "y")]
    with pytest.raises(InputError, match="--tables"):
        parse_table_list(["a.b.c.d"])


def test_row_estimate_follows_the_planner() -> None:
    # density 100 rows/page, table grown from 10 to 12 pages since ANALYZE
    assert estimate_rows(1000.0, 10, 12, 5) == (1200, ROWS_FROM_RELTUPLES)
    assert estimate_rows(0.0, 0, 0, 0) == (0, ROWS_FROM_RELTUPLES)
    assert estimate_rows(-1.0, 0, 3, 321) == (321, ROWS_FROM_LIVE_TUPLES)  # never vacuumed/analyzed (PG14+)
    assert estimate_rows(0.0, 0, 3, 321) == (321, ROWS_FROM_LIVE_TUPLES)  # analyzed empty, filled since


def test_lock_wait_episodes_count_each_wait_once() -> None:
    tracker = ContentionTracker()

    def seen(*waits: tuple[int, int]) -> Observation:
        waiting: dict[int, set[int]] = {}
        for pid, table in waits:
            waiting.setdefault(table, set()).add(pid)
        return Observation(0.0, {t: frozenset(p) for t, p in waiting.items()}, {}, {}, 0.0)

    for obs in (seen((1, 10)), seen((1, 10), (2, 10)), seen((2, 10)), seen(), seen((1, 10)), seen((3, 20))):
        tracker.observe(obs)
    # pid 1 waits twice (an episode, a gap, another), pid 2 once; table 20 once
    assert tracker.episodes == {10: 3, 20: 1}
    assert tracker.blocked_max[10] == 2 and tracker.polls == 6


def test_migration_scope_skips_tables_it_creates(tmp_path: Path) -> None:
    mig = tmp_path / "001.sql"
    mig.write_text("CREATE TABLE fresh (id int);\nALTER TABLE fresh ADD COLUMN n int;\n"
                   "ALTER TABLE orders ADD COLUMN note text;\nCREATE INDEX ON sales.items (sku);\n", encoding="utf-8")
    assert tables_of_migration([mig]) == [ORDERS, QualifiedName("sales", "items")]


def test_options_are_checked_and_never_show_the_dsn() -> None:
    options = MeasureOptions(dsn="host=x password=s3cr3t", tables=(ORDERS,))
    assert "s3cr3t" not in repr(options)
    for bad in (0, -1, float("nan"), float("inf")):
        with pytest.raises(MeasureError, match="--sample-seconds"):
            MeasureOptions(dsn="", tables=(), sample_seconds=bad)


def test_unquoted_dsn_words_are_refused_without_echo(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["measure", "--dsn", "host=x", "password=s3cr3t", "--tables", "t"])
    out, err = capsys.readouterr()
    assert code == 2 and "s3cr3t" not in out + err and "quote the whole --dsn" in err


def test_measure_needs_tables(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["measure", "--dsn", "host=x"]) == 2
    assert "--migration PATH or --tables" in capsys.readouterr().err


# --- against a real server -------------------------------------------------------------------------

def _setup_orders(pg: psycopg.Connection, rows: int) -> None:
    pg.execute("CREATE TABLE orders (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, "
               "note text NOT NULL DEFAULT 'new', qty integer CHECK (qty >= 0), "
               "created timestamptz DEFAULT now())")
    pg.execute("INSERT INTO orders (qty) SELECT g %% 100 FROM generate_series(1, %s) g", (rows,))
    pg.execute("CREATE INDEX orders_qty ON orders (qty)")
    pg.execute("CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$")
    pg.execute("CREATE TRIGGER orders_touch BEFORE UPDATE ON orders FOR EACH ROW EXECUTE FUNCTION touch()")
    pg.execute("ANALYZE orders")


@dataclass
class Writers:
    """Paced writer threads; each commit is logged with its wall-clock time and rows changed."""

    dsn: str
    threads: int = 4
    tx_per_second: float = 40.0  # per thread; each transaction inserts 1 row and updates 2
    log: list[tuple[float, int]] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _workers: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _run(self, seed: int) -> None:
        try:
            with psycopg.connect(self.dsn, autocommit=True) as conn:
                period = 1.0 / self.tx_per_second
                due = time.monotonic()
                i = 0
                while not self._stop.is_set():
                    i += 1
                    with conn.transaction():
                        conn.execute("INSERT INTO orders (qty) VALUES (%s)", (i % 100,))
                        cur = conn.execute("UPDATE orders SET note = 'w' WHERE id IN (%s, %s)",
                                           (seed * 1000 + i % 500 + 1, seed * 1000 + (i + 250) % 500 + 1))
                        changed = 1 + cur.rowcount
                    with self._lock:
                        self.log.append((time.time(), changed))
                    due += period
                    delay = due - time.monotonic()
                    if delay > 0:
                        self._stop.wait(delay)
        except BaseException as exc:  # surfaced by the test
            self.errors.append(exc)

    def __enter__(self) -> Writers:
        for seed in range(self.threads):
            t = threading.Thread(target=self._run, args=(seed,), daemon=True)
            t.start()
            self._workers.append(t)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._workers:
            t.join(timeout=10)

    def rate_between(self, start: float, end: float) -> float:
        with self._lock:
            rows = sum(n for at, n in self.log if start <= at <= end)
        return rows / (end - start)


def test_write_rate_and_rows_under_an_applied_load(pg: psycopg.Connection, pg_dsn: str) -> None:
    _setup_orders(pg, 50_000)
    with Writers(pg_dsn) as writers:
        time.sleep(1.5)  # past start-up: every writer has committed and flushed at least once
        result = measure(MeasureOptions(dsn=pg_dsn, tables=(ORDERS,), sample_seconds=5))
        applied = writers.rate_between(result.window.started_at, result.window.ended_at)
        count = pg.execute("SELECT count(*) FROM orders").fetchone()[0]  # type: ignore[index]
    assert not writers.errors, writers.errors
    table = result.tables[0]
    measured = table.window.write_qps
    assert measured is not None
    print(f"\napplied {applied:.1f} rows/s, measured {measured:.1f} rows/s "
          f"({(measured - applied) / applied:+.1%}); rows {table.size.rows} vs count(*) {count} "
          f"({(table.size.rows - count) / count:+.2%}) from {table.size.rows_source}")
    assert applied > 300  # the load really ran: 4 threads x 40 tx/s x 3 rows, minus scheduling slack
    assert abs(measured - applied) <= 0.30 * applied
    assert abs(table.size.rows - count) <= 0.10 * count
    assert table.size.size_bytes > 0
    assert table.window.lock_wait_episodes == 0


def test_a_held_lock_shows_up_as_contention(pg: psycopg.Connection, pg_dsn: str, monitor_dsn: str) -> None:
    _setup_orders(pg, 1000)
    with psycopg.connect(pg_dsn) as holder, psycopg.connect(pg_dsn, autocommit=True) as waiter:
        # now() is the start of the holder's transaction
        holder_start = holder.execute("SELECT extract(epoch FROM now())::float8").fetchone()[0]  # type: ignore[index]
        holder.execute("LOCK TABLE orders IN SHARE MODE")  # blocks writes, not reads or pg_table_size
        blocked = threading.Thread(target=lambda: waiter.execute("UPDATE orders SET qty = 1 WHERE id = 1"),
                                   daemon=True)
        blocked.start()
        time.sleep(1.0)
        started = time.time()
        result = measure(MeasureOptions(dsn=monitor_dsn, tables=(ORDERS,), sample_seconds=3))
        ended = time.time()
        holder.rollback()
        blocked.join(timeout=10)
    table = result.tables[0].window
    assert table.lock_waits_per_minute > 0 and table.lock_wait_episodes == 1
    assert table.blocked_sessions_max == 1
    # pg_monitor sees the superuser's session: the holder's age, not 0
    assert started - holder_start <= result.window.longest_transaction_seconds <= ended - holder_start + 0.5
    assert table.longest_blocker_seconds >= started - holder_start
    doc = to_document(result)
    assert doc["tables"]["public.orders"]["lock_contention"]["lock_waits_per_minute"] > 0


def test_a_row_lock_wait_is_attributed_to_its_table(pg: psycopg.Connection, pg_dsn: str) -> None:
    _setup_orders(pg, 100)
    pg.execute("CREATE TABLE other (id int)")
    with psycopg.connect(pg_dsn) as holder, psycopg.connect(pg_dsn, autocommit=True) as waiter:
        holder.execute("UPDATE orders SET qty = 2 WHERE id = 7")  # row lock, transaction left open
        blocked = threading.Thread(target=lambda: waiter.execute("UPDATE orders SET qty = 3 WHERE id = 7"),
                                   daemon=True)
        blocked.start()
        time.sleep(0.5)
        result = measure(MeasureOptions(dsn=pg_dsn, tables=(ORDERS, QualifiedName("public", "other")),
                                        sample_seconds=1.5))
        holder.rollback()
        blocked.join(timeout=10)
    by_name = {t.name.name: t.window for t in result.tables}
    assert by_name["orders"].lock_wait_episodes == 1 and by_name["orders"].blocked_sessions_max == 1
    assert by_name["other"].lock_wait_episodes == 0


def test_access_exclusive_holder_does_not_hang_the_collector(pg: psycopg.Connection, pg_dsn: str) -> None:
    _setup_orders(pg, 100)
    with psycopg.connect(pg_dsn) as holder:
        holder.execute("LOCK TABLE orders IN ACCESS EXCLUSIVE MODE")
        t0 = time.monotonic()
        result = measure(MeasureOptions(dsn=pg_dsn, tables=(ORDERS,), sample_seconds=0.5))
        took = time.monotonic() - t0
        holder.rollback()
    assert took < 10  # two lock_timeouts (definition, sizes) and the window, not a hang
    assert sum("ACCESS EXCLUSIVE" in w for w in result.warnings) == 2
    table = result.tables[0]
    assert table.size.size_bytes > 0 and table.size.rows == 100  # relpages and reltuples after ANALYZE
    assert table.schema is None
    doc = to_document(result)
    assert "schema" not in doc["tables"]["public.orders"]
    assert check(doc, "doc").table(ORDERS).missing() == []


@pytest.fixture
def monitor_dsn(pg: psycopg.Connection, pg_dsn: str, _pg_admin: psycopg.Connection) -> Iterator[str]:
    """A role with pg_monitor and CONNECT on this database only (PUBLIC's CONNECT revoked)."""
    role = f"measure_{pysecrets.token_hex(4)}"
    dbname = pg.info.dbname
    _pg_admin.execute(sql.SQL("CREATE ROLE {} LOGIN IN ROLE pg_monitor").format(sql.Identifier(role)))
    _pg_admin.execute(sql.SQL("REVOKE CONNECT ON DATABASE {} FROM PUBLIC").format(sql.Identifier(dbname)))
    _pg_admin.execute(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(sql.Identifier(dbname), sql.Identifier(role)))
    try:
        yield f"{pg_dsn} user={role}"
    finally:
        _pg_admin.execute(sql.SQL("REVOKE CONNECT ON DATABASE {} FROM {}").format(sql.Identifier(dbname),
                                                                                  sql.Identifier(role)))
        _pg_admin.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def test_least_privilege_role_writes_a_stats_file_lint_accepts(
        pg: psycopg.Connection, monitor_dsn: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _setup_orders(pg, 2000)
    pg.execute("CREATE TABLE sales_items (sku text)")
    mig = tmp_path / "001.sql"
    mig.write_text("CREATE TABLE fresh (id int);\nALTER TABLE fresh ADD COLUMN n int;\n"
                   "ALTER TABLE orders ADD COLUMN tag text;\n"
                   "CREATE INDEX CONCURRENTLY sales_items_sku ON sales_items (sku);\n", encoding="utf-8")
    out_file = tmp_path / "stats.yaml"
    code = main(["measure", "--dsn", monitor_dsn, "--migration", str(mig), "--sample-seconds", "1",
                 "--maintenance-window", "Sun 02:00-04:00 UTC", "-o", str(out_file)])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "wrote" in out and "public.orders" in out
    # the role may not write: prove the session it measured with was read-only
    with connect(monitor_dsn) as conn, pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
        assert conn.execute("SHOW statement_timeout").fetchone() == ("10s",)
        conn.execute("CREATE TEMP TABLE scratch (x int)")
    stats = load_stats(out_file)
    assert set(stats.tables) == {ORDERS, QualifiedName("public", "sales_items")}  # not 'fresh'
    assert stats.from_production and stats.pg_version == pg.info.server_version // 10000
    assert stats.pg_version_full and stats.pg_version_full.count(".") == 1
    # the exact release of the server measured, whatever its major (13: 130023 -> "13.23")
    assert stats.pg_version_full == "{}.{}".format(*divmod(pg.info.server_version, 10000))
    assert stats.maintenance_window == "Sun 02:00-04:00 UTC"
    orders = stats.table(ORDERS)
    assert orders.missing() == []
    raw = yaml.safe_load(out_file.read_text(encoding="utf-8"))
    assert raw["host"] == {"hostname": "127.0.0.1", "port": pg.info.port, "dbname": pg.info.dbname}
    assert raw["system_identifier"].isdigit()
    assert "replication_lag_seconds" in raw and raw["replication_lag_seconds"] is None
    assert raw["collected_at"].endswith("Z")
    assert raw["migspec"]["server_version_num"] == pg.info.server_version
    assert "user" not in json.dumps(raw["host"]) and "measure_" not in out_file.read_text(encoding="utf-8")
    # lint reads it and does not refuse (exit 3) for missing measurements
    assert main(["lint", str(mig), "--stats", str(out_file), "--fail-on", "red"]) in (0, 1)
    capsys.readouterr()
    # pg_monitor grants no SELECT: --exact-rows is a one-line permission error, exit 2
    assert main(["measure", "--dsn", monitor_dsn, "--tables", "orders", "--exact-rows", "--sample-seconds", "0.1"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1
    assert err.startswith("migspec: permission denied for table orders while counting the rows of public.orders")
    assert "needs SELECT on the table" in err


def test_schema_facts_are_what_a_down_needs(pg: psycopg.Connection, pg_dsn: str) -> None:
    _setup_orders(pg, 10)
    pg.execute("ALTER TABLE orders ADD COLUMN twice integer GENERATED ALWAYS AS (qty * 2) STORED")
    pg.execute("CREATE TABLE customers (id int PRIMARY KEY)")
    pg.execute("ALTER TABLE orders ADD COLUMN customer_id int REFERENCES customers (id)")
    # an INVALID index, as a failed CREATE INDEX CONCURRENTLY leaves one
    pg.execute("INSERT INTO orders (note) VALUES ('dup'), ('dup')")
    with pytest.raises(psycopg.errors.UniqueViolation):
        pg.execute("CREATE UNIQUE INDEX CONCURRENTLY orders_note_uniq ON orders (note)")
    result = measure(MeasureOptions(dsn=pg_dsn, tables=(ORDERS,), sample_seconds=0.2))
    doc = to_document(result)
    stats = check(doc, "doc")
    schema = stats.table(ORDERS).schema
    assert schema is not None
    cols = {c.name: c for c in schema.columns}
    assert cols["id"].identity == "by default" and cols["id"].not_null and cols["id"].type == "bigint"
    assert cols["note"].default == "'new'::text" and cols["note"].not_null
    assert cols["created"].type == "timestamp with time zone" and cols["created"].default == "now()"
    assert cols["twice"].generated == "(qty * 2)" and cols["twice"].default is None
    assert schema.primary_key == ("id",)
    assert schema.constraints["orders_qty_check"] == "CHECK ((qty >= 0))"
    assert schema.constraints["orders_customer_id_fkey"] == "FOREIGN KEY (customer_id) REFERENCES customers(id)"
    assert schema.indexes["orders_qty"] == "CREATE INDEX orders_qty ON public.orders USING btree (qty)"
    assert schema.invalid_indexes == ("orders_note_uniq",)
    assert schema.triggers["orders_touch"].startswith("CREATE TRIGGER orders_touch BEFORE UPDATE ON public.orders")
    assert stats.table(ORDERS).columns["qty"] == "integer"
    # the same document as YAML and JSON parses to the same stats
    assert parse_stats(yaml.safe_load(render(doc)), "y") == parse_stats(json.loads(render(doc, fmt="json")), "y")


def test_partitioned_table_sums_its_partitions(pg: psycopg.Connection, pg_dsn: str) -> None:
    pg.execute("CREATE TABLE events (id int, k int) PARTITION BY RANGE (k)")
    pg.execute("CREATE TABLE events_a PARTITION OF events FOR VALUES FROM (0) TO (50)")
    pg.execute("CREATE TABLE events_b PARTITION OF events FOR VALUES FROM (50) TO (100)")
    pg.execute("INSERT INTO events SELECT g, g % 100 FROM generate_series(1, 3000) g")
    result = measure(MeasureOptions(dsn=pg_dsn, tables=(QualifiedName("public", "events"),), sample_seconds=0.2,
                                    exact_rows=True))
    table = result.tables[0]
    assert table.relation.kind == "p" and len(table.relation.members) == 2
    assert table.size.rows == 3000 and table.size.rows_source == "count(*)" and table.size.size_bytes > 0


def test_unknown_tables_and_views_are_named_in_one_line(pg: psycopg.Connection, pg_dsn: str,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    _setup_orders(pg, 10)
    pg.execute("CREATE VIEW orders_view AS SELECT * FROM orders")
    code = main(["measure", "--dsn", pg_dsn, "--tables", "orders,nope,ghost.x,orders_view", "--sample-seconds", "0.1"])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("migspec: unknown tables public.nope, ghost.x")
    assert "public.orders_view is a view, not a table" in err


def test_password_never_appears(pg: psycopg.Connection, pg_dsn: str, tmp_path: Path,
                                capsys: pytest.CaptureFixture[str]) -> None:
    _setup_orders(pg, 10)
    password = "secret"
    out_file = tmp_path / "stats.json"
    # trust authentication ignores the password, so the DSN connects and measures
    code = main(["measure", "--dsn", f"{pg_dsn} password={password}", "--tables", "orders",
                 "--sample-seconds", "0.3", "-o", str(out_file)])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert password not in out + err + out_file.read_text(encoding="utf-8")
    assert json.loads(out_file.read_text(encoding="utf-8"))["tables"]["public.orders"]["rows"] == 10
    port = pg.info.port
    for dsn in (f"host=127.0.0.1 port=1 user=postgres password={password} dbname=x",  # refused
                f"postgresql://postgres:{password}@127.0.0.1:1/x",
                f"host=127.0.0.1 port={port} dbname=no_such_db password={password}",  # rejected by the server
                f"host=127.0.0.1 port={port} password {password}",  # malformed
                f"host=127.0.0.1 port={port} nonsense_option={password}"):
        code = main(["measure", "--dsn", dsn, "--tables", "orders", "--sample-seconds", "0.1"])
        out, err = capsys.readouterr()
        assert code == 2 and out == "", (dsn, err)
        assert err.startswith("migspec: ") and err.count("\n") == 1, err
        assert password not in err, err


def test_progress_is_reported_and_writes_to_stdout_by_default(pg: psycopg.Connection, pg_dsn: str,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    _setup_orders(pg, 10)
    ticks: list[tuple[float, float]] = []
    measure(MeasureOptions(dsn=pg_dsn, tables=(ORDERS,), sample_seconds=0.6, poll_interval=0.1),
            on_progress=lambda done, total: ticks.append((done, total)))
    assert len(ticks) >= 5 and ticks[-1] == (0.6, 0.6)
    assert main(["measure", "--dsn", pg_dsn, "--tables", "orders", "--sample-seconds", "0.2"]) == 0
    out, err = capsys.readouterr()
    assert parse_stats(yaml.safe_load(out), "stdout").table(ORDERS).rows == 10
    assert "measured 1 table(s)" in err and "\x1b[" not in err  # no progress bar off a terminal


def test_owner_without_pg_monitor_is_warned(pg: psycopg.Connection, pg_dsn: str,
                                            _pg_admin: psycopg.Connection) -> None:
    role = f"owner_{pysecrets.token_hex(4)}"
    _pg_admin.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
    try:
        pg.execute("CREATE TABLE orders (id int)")
        pg.execute(sql.SQL("ALTER TABLE orders OWNER TO {}").format(sql.Identifier(role)))
        result = measure(MeasureOptions(dsn=f"{pg_dsn} user={role}", tables=(ORDERS,), sample_seconds=0.2,
                                        exact_rows=True))
        assert result.tables[0].size.rows == 0
        assert any("pg_monitor" in w for w in result.warnings)
    finally:
        pg.execute("DROP TABLE IF EXISTS orders")
        _pg_admin.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


class _FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_only_on_a_terminal(pg: psycopg.Connection, pg_dsn: str, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    _setup_orders(pg, 10)
    terminal = _FakeTerminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    monkeypatch.setenv("TERM", "xterm")
    assert main(["measure", "--dsn", pg_dsn, "--tables", "orders", "--sample-seconds", "0.5"]) == 0
    assert "sampling 1 table(s)" in terminal.getvalue()
    assert parse_stats(yaml.safe_load(capsys.readouterr().out), "stdout").table(ORDERS).rows == 10


@pytest.fixture
def standby(pg_server: Server, pg: psycopg.Connection) -> Iterator[str]:
    """A streaming standby of the test server (pg_basebackup -R), with this test's database on it;
    yields its DSN for that database."""
    basedir = pgserver._prepare_basedir(pgserver._os_user(), Path(tempfile.gettempdir()))
    datadir = basedir / "data"
    try:
        backup = pgserver._run_pg([str(pg_server.tool("pg_basebackup")), "-h", "127.0.0.1", "-p", str(pg_server.port),
                                   "-U", pgserver.DB_USER, "-D", str(datadir), "-R", "-X", "stream", "--no-sync"],
                                  cwd=basedir)
        assert backup.returncode == 0, backup.stderr
        # -R writes the conninfo of the client's libpq: an 18 pg_basebackup adds options (sslsni,
        # ...) that a 13 server's walreceiver refuses ("invalid connection option"), so the
        # standby never connects (seen on 13). Only what a walreceiver of any major accepts:
        auto = datadir / "postgresql.auto.conf"
        auto.write_text("".join(line for line in auto.read_text().splitlines(keepends=True)
                                if not line.startswith("primary_conninfo")) +
                        f"primary_conninfo = 'host=127.0.0.1 port={pg_server.port} user={pgserver.DB_USER}'\n")
        port = pgserver._free_port()
        with (datadir / "postgresql.conf").open("a") as conf:
            conf.write("\n" + "\n".join(pgserver._server_settings(port=port, socket_dir=basedir, fast=True)) + "\n")
        started = pgserver._run_pg([str(pg_server.bindir / "pg_ctl"), "start", "-D", str(datadir), "-l",
                                    str(basedir / "server.log"), "-w", "-t", "60"], cwd=basedir)
        assert started.returncode == 0, started.stderr + pgserver._tail(basedir / "server.log", 20)
        yield f"host=127.0.0.1 port={port} user={pgserver.DB_USER} dbname={pg.info.dbname}"
    finally:
        if (datadir / "postmaster.pid").exists():
            pgserver._run_pg([str(pg_server.bindir / "pg_ctl"), "stop", "-D", str(datadir), "-m", "immediate"],
                             cwd=basedir)
        shutil.rmtree(basedir, ignore_errors=True)


def test_replication_lag_and_a_standby(pg: psycopg.Connection, pg_dsn: str, standby: str, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    _setup_orders(pg, 500)
    pg.execute("CHECKPOINT")
    deadline = time.monotonic() + 20  # the standby replays the table
    while True:
        with psycopg.connect(standby, autocommit=True) as conn:
            if conn.execute("SELECT to_regclass('public.orders') IS NOT NULL").fetchone() == (True,):
                break
        assert time.monotonic() < deadline, "the standby did not replay the table within 20 s"
        time.sleep(0.2)
    on_primary = measure(MeasureOptions(dsn=pg_dsn, tables=(ORDERS,), sample_seconds=0.3))
    assert on_primary.replication_lag_seconds is not None and 0 <= on_primary.replication_lag_seconds < 30
    assert not on_primary.server.in_recovery

    out_file = tmp_path / "standby.yaml"
    assert main(["measure", "--dsn", standby, "--tables", "orders", "--sample-seconds", "0.3", "-o", str(out_file)]) == 0
    err = capsys.readouterr().err
    assert "standby" in err
    raw = yaml.safe_load(out_file.read_text(encoding="utf-8"))
    assert raw["migspec"]["standby"] is True
    assert raw["system_identifier"] == on_primary.server.system_identifier  # a physical copy of the primary
    assert raw["replication_lag_seconds"] is not None and raw["replication_lag_seconds"] >= 0
    orders = raw["tables"]["public.orders"]
    assert orders["write_qps"] is None and orders["rows"] > 0 and orders["schema"]["primary_key"] == ["id"]
    # lint refuses rather than trust a standby's write rate
    mig = tmp_path / "001.sql"
    mig.write_text("ALTER TABLE orders ADD COLUMN tag text;\n", encoding="utf-8")
    assert main(["lint", str(mig), "--stats", str(out_file)]) == 3
    assert "missing write_qps" in capsys.readouterr().err

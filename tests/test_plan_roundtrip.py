"""On a real server, for each rewrite: run every phase's UP (the psql files `plan --out` writes),
then every DOWN in reverse; the catalog must equal the starting one and the rows written before
the rollout must be intact; then UP again must succeed."""

from __future__ import annotations

import subprocess
from pathlib import Path

import psycopg
import pytest

from migspec.parse.source import parse_text, Migration
from migspec.plan.builder import PlanOptions, plan_migration
from migspec.render.plan import write_files
from migspec.stats import parse_stats

SETUP = """
CREATE TABLE customers (id bigint PRIMARY KEY, name text NOT NULL);
CREATE TABLE tags (id bigint NOT NULL, label text);
INSERT INTO tags SELECT g, 't' || g FROM generate_series(1, 200) g;
CREATE TABLE orders (
    id bigint PRIMARY KEY,
    customer_id bigint,
    note text,
    amount integer NOT NULL DEFAULT 0,
    code varchar(10),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX orders_note_idx ON orders (note);
INSERT INTO customers SELECT g, 'c' || g FROM generate_series(1, 100) g;
INSERT INTO orders SELECT g, 1 + g % 100, CASE WHEN g % 7 = 0 THEN NULL ELSE 'n' || g END, g, 'x' || (g % 10),
       '2026-01-01'::timestamptz + g * interval '1 minute' FROM generate_series(1, 5000) g;
"""

STATS = {
    "pg_version": 15, "source": "production", "maintenance_window": "none",
    "thresholds": {"batch_rows": 1000},
    "tables": {t: {"rows": 3000, "size_bytes": 400_000, "write_qps": 50,
                   "lock_contention": {"longest_transaction_seconds": 1, "lock_waits_per_minute": 0}}
               for t in ("public.orders", "public.customers", "public.tags")},
}

CASES = {
    "create-index": "CREATE INDEX orders_created_idx ON orders (created_at);",
    "drop-index": "DROP INDEX orders_note_idx;",
    "add-column-volatile-not-null": "ALTER TABLE orders ADD COLUMN token uuid NOT NULL DEFAULT gen_random_uuid();",
    "add-column-constant": "ALTER TABLE orders ADD COLUMN flag boolean NOT NULL DEFAULT false;",
    "add-column-serial": "ALTER TABLE orders ADD COLUMN seq bigserial;",
    "set-not-null": "ALTER TABLE orders ALTER COLUMN customer_id SET NOT NULL;",
    "foreign-key": "ALTER TABLE orders ADD CONSTRAINT orders_customer_fk FOREIGN KEY (customer_id) REFERENCES customers (id);",
    "check": "ALTER TABLE orders ADD CONSTRAINT amount_positive CHECK (amount >= 0);",
    "unique": "ALTER TABLE orders ADD CONSTRAINT orders_created_key UNIQUE (created_at);",
    "primary-key": "ALTER TABLE tags ADD PRIMARY KEY (id);",
    "rename-column": "ALTER TABLE orders RENAME COLUMN note TO remark;",
    "rename-table": "ALTER TABLE customers RENAME TO clients;",
    "retype-rewrite": "ALTER TABLE orders ALTER COLUMN amount TYPE bigint;",
    "retype-widen": "ALTER TABLE orders ALTER COLUMN code TYPE varchar(20);",
    "retype-not-null-no-default": "ALTER TABLE customers ALTER COLUMN name TYPE varchar(40);",
    "add-column-references": "ALTER TABLE orders ADD COLUMN buyer_id bigint REFERENCES customers (id);",
    "add-column-unique-check": "ALTER TABLE orders ADD COLUMN ref uuid DEFAULT gen_random_uuid() UNIQUE CHECK (ref IS NOT NULL);",
    "update": "UPDATE orders SET note = 'archived' WHERE amount % 2 = 0;",
    "delete": "DELETE FROM orders WHERE amount > 4000;",
    "drop-column": "ALTER TABLE orders DROP COLUMN note;",
    # Django's RemoveField of a NOT NULL column: DROP NOT NULL, then DROP COLUMN (issue 12, class 8).
    "drop-not-null-then-column": "ALTER TABLE customers ALTER COLUMN name DROP NOT NULL;\n"
                                 "ALTER TABLE customers DROP COLUMN name CASCADE;",
    "drop-table": "DROP TABLE customers CASCADE;",
    "truncate": "TRUNCATE customers CASCADE;",
    # Run as written, each with its operation's reverse() as DOWN.
    "create-view": "CREATE VIEW order_notes AS SELECT id, note FROM orders;",
    "create-sequence": "CREATE SEQUENCE order_numbers;",
    "set-default": "ALTER TABLE orders ALTER COLUMN amount SET DEFAULT 5;",
}
CONFIRM = ("public.orders.note", "public.customers", "public.orders.amount", "public.customers.name",
           "public.orders.prio")


def _catalog(conn: psycopg.Connection) -> dict[str, list[tuple]]:
    q = {
        "relations": "SELECT n.nspname, c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                     "WHERE n.nspname = 'public' ORDER BY 1, 2",
        "columns": "SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, "
                   "pg_get_expr(d.adbin, d.adrelid) FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
                   "JOIN pg_namespace n ON n.oid = c.relnamespace LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid "
                   "AND d.adnum = a.attnum WHERE n.nspname = 'public' AND c.relkind IN ('r', 'v') AND a.attnum > 0 "
                   "AND NOT a.attisdropped ORDER BY 1, 2",
        "constraints": "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
                       "WHERE connamespace = 'public'::regnamespace ORDER BY 1, 2",
        "indexes": "SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid) FROM pg_index i JOIN pg_class c "
                   "ON c.oid = i.indrelid WHERE c.relnamespace = 'public'::regnamespace ORDER BY 1",
        "triggers": "SELECT tgrelid::regclass::text, tgname FROM pg_trigger WHERE NOT tgisinternal ORDER BY 1, 2",
        "functions": "SELECT proname FROM pg_proc WHERE pronamespace = 'public'::regnamespace ORDER BY 1",
        "sequences": "SELECT relname FROM pg_class WHERE relkind = 'S' AND relnamespace = 'public'::regnamespace ORDER BY 1",
    }
    return {k: conn.execute(v).fetchall() for k, v in q.items()}


def _rows(conn: psycopg.Connection) -> dict[str, list[tuple]] | None:
    """The rows written before the rollout (None while UP has renamed or dropped what they live in)."""
    try:
        with conn.transaction():
            return _read_rows(conn)
    except (psycopg.errors.UndefinedColumn, psycopg.errors.UndefinedTable):
        return None


def _read_rows(conn: psycopg.Connection) -> dict[str, list[tuple]]:
    return {
        "orders": conn.execute("SELECT id, customer_id, note, amount, code, created_at FROM orders ORDER BY id").fetchall(),
        "customers": conn.execute("SELECT id, name FROM customers ORDER BY id").fetchall(),
        "tags": conn.execute("SELECT id, label FROM tags ORDER BY id").fetchall(),
    }


def _psql(server, dsn: str, path: Path) -> None:
    psql = server.tool("psql")
    done = subprocess.run([str(psql), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", dsn, "-f", str(path)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"{path.name} failed:\n{path.read_text()}\n{done.stderr}"


def _plan_files(case: str, sql: str, pg_dsn: str, pg_server, tmp_path: Path,
                tables: tuple[str, ...] = ()) -> tuple[list[Path], list[Path]]:
    """The plan of ``sql`` against the server's schema now: its UP files in order, its DOWNs in
    reverse (``tables``: measured too, like orders)."""
    dump = tmp_path / "schema.sql"
    pg_dump = pg_server.tool("pg_dump")
    subprocess.run([str(pg_dump), "--schema-only", "-d", pg_dsn, "-f", str(dump)], check=True, timeout=60)
    doc = {**STATS, "tables": {**STATS["tables"], **{t: STATS["tables"]["public.orders"] for t in tables}}}
    stats = parse_stats(doc, "test stats")
    migration = Migration(case, (f"{case}.sql",), tuple(parse_text(sql, f"{case}.sql")))
    plan, _ = plan_migration(migration, stats, schema_path=dump, pg_version=pg_server.major, options=PlanOptions(CONFIRM))
    files = write_files(plan, tmp_path / "out")
    ups = sorted(p for p in files if p.name.endswith(".up.sql"))
    downs = sorted((p for p in files if p.name.endswith(".down.sql")), reverse=True)
    assert ups, "the plan has no steps"
    return ups, downs


@pytest.mark.parametrize("case", sorted(CASES))
def test_up_down_up_restores_catalog_and_data(case: str, pg, pg_dsn: str, pg_server, tmp_path: Path) -> None:
    pg.execute(SETUP)
    ups, downs = _plan_files(case, CASES[case], pg_dsn, pg_server, tmp_path)

    catalog, rows = _catalog(pg), _rows(pg)
    for f in ups:
        _psql(pg_server, pg_dsn, f)
    after_up = _catalog(pg)
    assert (after_up, _rows(pg)) != (catalog, rows), "UP changed nothing"
    for f in downs:
        _psql(pg_server, pg_dsn, f)
    assert _catalog(pg) == catalog
    assert _rows(pg) == rows
    for f in ups:
        _psql(pg_server, pg_dsn, f)
    assert _catalog(pg) == after_up


def test_rewriting_retype_keeps_the_columns_checks(pg, pg_dsn: str, pg_server, tmp_path: Path) -> None:
    """The new column swapped in carries the old column's CHECKs (validated, same names), and the
    DOWN gives them back to the old column: a user's invariant is never silently dropped."""
    pg.execute(SETUP)
    pg.execute("ALTER TABLE orders ADD CONSTRAINT orders_amount_check CHECK (amount >= 0 AND amount < 1000000); "
               "ALTER TABLE orders ADD CONSTRAINT orders_amount_code CHECK (amount > 0 OR code IS NOT NULL) NOT VALID")
    checks = ("SELECT conname, pg_get_constraintdef(oid), convalidated, format_type(a.atttypid, a.atttypmod) "
              "FROM pg_constraint JOIN pg_attribute a ON a.attrelid = conrelid AND a.attname = 'amount' "
              "WHERE conrelid = 'orders'::regclass AND contype = 'c' ORDER BY 1")
    before = pg.execute(checks).fetchall()
    ups, downs = _plan_files("retype-check", "ALTER TABLE orders ALTER COLUMN amount TYPE bigint;", pg_dsn,
                             pg_server, tmp_path)
    for f in ups:
        _psql(pg_server, pg_dsn, f)
    assert pg.execute(checks).fetchall() == [(n, d, v, "bigint") for n, d, v, _ in before]
    with pytest.raises(psycopg.errors.CheckViolation), pg.transaction():
        pg.execute("INSERT INTO orders (id, amount) VALUES (900001, -1)")
    for f in downs:
        _psql(pg_server, pg_dsn, f)
    assert pg.execute(checks).fetchall() == before


def test_dropping_an_enum_column_and_its_type_restores_both(pg, pg_dsn: str, pg_server, tmp_path: Path) -> None:
    """The column's archive holds text, not the enum (else the DROP TYPE after it fails); the DOWN
    recreates the type, re-adds the column and casts the archived values back."""
    pg.execute(SETUP)
    pg.execute("CREATE TYPE prio AS ENUM ('low', 'high'); ALTER TABLE orders ADD COLUMN prio prio; "
               "UPDATE orders SET prio = (CASE WHEN id % 3 = 0 THEN 'high' WHEN id % 3 = 1 THEN 'low' END)::prio")
    values = "SELECT id, prio::text FROM orders ORDER BY id"
    before, catalog = pg.execute(values).fetchall(), _catalog(pg)
    ups, downs = _plan_files("drop-enum", "ALTER TABLE orders DROP COLUMN prio;\nDROP TYPE prio;", pg_dsn,
                             pg_server, tmp_path)
    for f in ups:
        _psql(pg_server, pg_dsn, f)
    assert pg.execute("SELECT count(*) FROM pg_type WHERE typname = 'prio'").fetchone() == (0,)
    for f in downs:
        _psql(pg_server, pg_dsn, f)
    assert (pg.execute(values).fetchall(), _catalog(pg)) == (before, catalog)


def test_detach_concurrently_leaves_no_bound_check(pg, pg_dsn: str, pg_server, tmp_path: Path) -> None:
    """DETACH PARTITION CONCURRENTLY adds a CHECK copying the bound to the detached table (PG14+):
    the plan drops it in its next step. The DOWN re-attaches the table with the bound the schema
    facts give, the CHECK back first so the attach skips its scan, then dropped (PG13: the DOWN
    adds it itself): the partition comes back as it was."""
    pg.execute("CREATE TABLE events (id bigint NOT NULL, at date NOT NULL) PARTITION BY RANGE (at); "
               "CREATE TABLE events_2025 PARTITION OF events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01'); "
               "INSERT INTO events SELECT g, DATE '2025-01-01' + g % 300 FROM generate_series(1, 500) g")
    checks = "SELECT conname FROM pg_constraint WHERE conrelid = 'events_2025'::regclass AND contype = 'c'"
    bound = "SELECT pg_get_expr(relpartbound, oid) FROM pg_class WHERE oid = 'events_2025'::regclass"
    before = pg.execute(bound).fetchone()
    ups, downs = _plan_files("detach", "ALTER TABLE events DETACH PARTITION events_2025;", pg_dsn, pg_server, tmp_path,
                             ("public.events", "public.events_2025"))
    for f in ups:
        _psql(pg_server, pg_dsn, f)
    assert pg.execute("SELECT count(*) FROM pg_inherits WHERE inhrelid = 'events_2025'::regclass").fetchone() == (0,)
    assert pg.execute(checks).fetchall() == []
    for f in downs:
        _psql(pg_server, pg_dsn, f)
    assert pg.execute(bound).fetchone() == before
    assert pg.execute(checks).fetchall() == []
    assert pg.execute("SELECT count(*) FROM events").fetchone() == (500,)


#: Statements run as written whose DOWN their operation builds from the names the parser recorded
#: (a rename) or the schema facts (the CREATE of a dropped view, sequence or enum type): (setup, sql).
AS_WRITTEN = {
    "rename-index": ("", "ALTER INDEX orders_note_idx RENAME TO orders_remark_idx;"),
    "rename-key": ("", "ALTER TABLE orders RENAME CONSTRAINT orders_pkey TO orders_key;"),
    "drop-view": ("CREATE VIEW order_notes AS SELECT id, note FROM orders WHERE amount > 10;", "DROP VIEW order_notes;"),
    "drop-sequence": ("CREATE SEQUENCE order_numbers AS integer INCREMENT BY 5 MAXVALUE 1000 CYCLE;",
                      "DROP SEQUENCE order_numbers;"),
    "drop-enum": ("CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');", "DROP TYPE mood;"),
    "drop-schema": ("CREATE SCHEMA scratch;", "DROP SCHEMA scratch;"),
}


@pytest.mark.parametrize("case", sorted(AS_WRITTEN))
def test_a_statement_run_as_written_is_undone_by_its_operations_reverse(case: str, pg, pg_dsn: str, pg_server,
                                                                        tmp_path: Path) -> None:
    setup, sql = AS_WRITTEN[case]
    pg.execute(SETUP + setup)
    more = {"sequences": "SELECT seqrelid::regclass::text, seqtypid::regtype::text, seqstart, seqincrement, seqmax, "
                         "seqmin, seqcache, seqcycle FROM pg_sequence ORDER BY 1",
            "enums": "SELECT enumtypid::regtype::text, enumlabel FROM pg_enum ORDER BY 1, enumsortorder",
            "schemas": "SELECT nspname FROM pg_namespace ORDER BY 1",
            "views": "SELECT viewname, definition FROM pg_views WHERE schemaname = 'public' ORDER BY 1"}

    def catalog() -> tuple:
        return _catalog(pg), {k: pg.execute(v).fetchall() for k, v in more.items()}

    before = catalog()
    ups, downs = _plan_files(case, sql, pg_dsn, pg_server, tmp_path)
    assert downs, "no DOWN"
    for f in ups:
        _psql(pg_server, pg_dsn, f)
    assert catalog() != before, "UP changed nothing"
    for f in downs:
        _psql(pg_server, pg_dsn, f)
    assert catalog() == before


QUOTED_SETUP = """
CREATE SCHEMA "Sales Ops";
CREATE TABLE "Sales Ops"."Order Items" (
    "ID" bigint PRIMARY KEY,
    "select" text,
    "naïve" integer NOT NULL DEFAULT 1,
    "quo""te" varchar(5)
);
CREATE INDEX "Items by select" ON "Sales Ops"."Order Items" ("select");
INSERT INTO "Sales Ops"."Order Items" SELECT g, 's' || g, g, 'q' FROM generate_series(1, 3000) g;
"""
QUOTED_TABLE = '"Sales Ops"."Order Items"'
# Named columns: a dropped and restored column comes back at the end of the table.
QUOTED_ROWS = 'SELECT "ID", "select", "naïve", "quo""te" FROM "Sales Ops"."Order Items" ORDER BY 1'
QUOTED_CASES = {
    "quoted-rename-column": f'ALTER TABLE {QUOTED_TABLE} RENAME COLUMN "select" TO "Order";',
    "quoted-retype": f'ALTER TABLE {QUOTED_TABLE} ALTER COLUMN "naïve" TYPE bigint;',
    "quoted-add-not-null": f'ALTER TABLE {QUOTED_TABLE} ADD COLUMN "User" uuid NOT NULL DEFAULT gen_random_uuid();',
    "quoted-create-index": f'CREATE INDEX "Idx Quote" ON {QUOTED_TABLE} ("quo""te");',
    "quoted-drop-column": f'ALTER TABLE {QUOTED_TABLE} DROP COLUMN "select";',
    "quoted-update": f"UPDATE {QUOTED_TABLE} SET \"select\" = 'x' WHERE \"naïve\" % 3 = 0;",
    "quoted-set-not-null": f'ALTER TABLE {QUOTED_TABLE} ALTER COLUMN "select" SET NOT NULL;',
}


def _quoted_catalog(conn: psycopg.Connection) -> list[tuple]:
    return conn.execute(
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, pg_get_expr(d.adbin, d.adrelid) "
        "FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
        "WHERE a.attrelid = '\"Sales Ops\".\"Order Items\"'::regclass AND a.attnum > 0 AND NOT a.attisdropped "
        "UNION ALL SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid), indisvalid, NULL FROM pg_index "
        "WHERE indrelid = '\"Sales Ops\".\"Order Items\"'::regclass "
        "UNION ALL SELECT conname, pg_get_constraintdef(oid), convalidated, NULL FROM pg_constraint "
        "WHERE conrelid = '\"Sales Ops\".\"Order Items\"'::regclass "
        "UNION ALL SELECT tgname, NULL, NULL, NULL FROM pg_trigger WHERE NOT tgisinternal ORDER BY 1").fetchall()


@pytest.mark.parametrize("case", sorted(QUOTED_CASES))
def test_identifiers_that_need_quoting(case: str, pg, pg_dsn: str, pg_server, tmp_path: Path) -> None:
    """Upper case, spaces, quotes, reserved words and non-ASCII survive every emitted statement."""
    pg.execute(QUOTED_SETUP)
    dump = tmp_path / "schema.sql"
    subprocess.run([str(pg_server.tool("pg_dump")), "--schema-only", "-d", pg_dsn, "-f", str(dump)],
                   check=True, timeout=60)
    stats = parse_stats({**STATS, "tables": {QUOTED_TABLE: STATS["tables"]["public.orders"]}}, "stats")
    migration = Migration(case, (f"{case}.sql",), tuple(parse_text(QUOTED_CASES[case], f"{case}.sql")))
    plan, _ = plan_migration(migration, stats, schema_path=dump, pg_version=pg_server.major,
                             options=PlanOptions(('"Sales Ops"."Order Items"."select"',)))
    files = write_files(plan, tmp_path / "out")
    before = _quoted_catalog(pg)
    rows = pg.execute(QUOTED_ROWS).fetchall()
    for f in sorted(p for p in files if p.name.endswith(".up.sql")):
        _psql(pg_server, pg_dsn, f)
    assert _quoted_catalog(pg) != before or pg.execute(
        QUOTED_ROWS).fetchall() != rows
    for f in sorted((p for p in files if p.name.endswith(".down.sql")), reverse=True):
        _psql(pg_server, pg_dsn, f)
    assert _quoted_catalog(pg) == before
    assert pg.execute(QUOTED_ROWS).fetchall() == rows

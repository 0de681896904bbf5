"""What real migration histories exposed (issue 12): each defect class as a small end-to-end
reproduction through the library entry points and the CLI, next to the rule cases
(tests/rules/*.yml) and real-server traces (tests/test_trace.py) that pin the individual claims."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from migspec.cli import main
from migspec.lint import lint
from migspec.parse.source import Migration, parse_text
from migspec.plan.builder import PlanOptions, plan_migration
from migspec.risk import Risk
from migspec.stats import parse_stats

LARGE = {"rows": 20_000_000, "size_bytes": 3_200_000_000, "write_qps": 400,
         "lock_contention": {"longest_transaction_seconds": 4, "lock_waits_per_minute": 0.5}}


def stats(**tables: dict) -> dict:
    return {"pg_version": 16, "source": "production", "tables": {f"public.{k}": v for k, v in tables.items()}}


def migration(*files: str) -> Migration:
    statements = []
    for i, text in enumerate(files):
        statements += parse_text(text, f"{i:04}.sql", file_index=i, first_index=len(statements))
    return Migration("m", tuple(f"{i:04}.sql" for i in range(len(files))), tuple(statements))


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


# --- class 10: an empty file in a directory is a note -------------------------------------------

def test_empty_file_in_a_directory_is_a_note(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "0001_initial.sql").write_text("CREATE TABLE t (id bigint PRIMARY KEY);\n")
    (tmp_path / "m" / "0002_noop.sql").write_text("--\n-- Alter field name on t\n--\n-- (no-op)\n")
    (tmp_path / "m" / "0003_empty.sql").write_text("")
    rc, out, err = run(capsys, "lint", "m")
    assert rc == 0, err
    assert "0002_noop.sql: no SQL statements in this file" in out
    assert "0003_empty.sql: no SQL statements in this file" in out
    rc, out, err = run(capsys, "lint", "--format", "json", "m")
    assert rc == 0 and any("0003_empty.sql" in n for n in json.loads(out)["notes"])


def test_a_directory_of_only_empty_files_is_still_bad_input(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "0001.sql").write_text("-- nothing\n")
    rc, out, err = run(capsys, "lint", "m")
    assert rc == 2 and err.strip() == "migspec: m/0001.sql:1:1: no SQL statements in this file"


# --- class 12: following migspec's advice passes migspec's gate ---------------------------------

def test_recommended_lock_timeout_and_not_valid_constraint_is_green() -> None:
    m = migration("BEGIN;\nSET LOCAL lock_timeout = '2s';\n"
                  "ALTER TABLE orders ADD CONSTRAINT orders_qty_check CHECK (qty > 0) NOT VALID;\nCOMMIT;\n")
    report = lint(m, parse_stats(stats(orders={**LARGE, "columns": {"qty": "integer"}}), "s"))
    assert report.risk is Risk.GREEN, [f.message for f in report.findings]
    stall = [r.assessment for r in report.results if r.item.op.kind == "add_constraint"][0]
    assert stall.stall_seconds <= 2.0


def test_recommended_lock_timeout_is_the_green_stall() -> None:
    from migspec.errors import InputError
    from migspec.risk import Thresholds

    assert Thresholds.from_mapping({"green_stall_seconds": 3}).recommended_lock_timeout_seconds == 3
    with pytest.raises(InputError, match="green_stall_seconds"):
        Thresholds.from_mapping({"recommended_lock_timeout_seconds": 5})


# --- class 13: a framework's placeholder for Python code is unknown work ------------------------

DJANGO_RUNPYTHON = """BEGIN;
--
-- Add field slug to article
--
ALTER TABLE "blog_article" ADD COLUMN "slug" varchar(50) NULL;
--
-- Raw Python operation
--
-- THIS OPERATION CANNOT BE WRITTEN AS SQL
COMMIT;
"""


def test_runpython_placeholder_is_unknown_work_and_a_manual_plan_step() -> None:
    m = migration(DJANGO_RUNPYTHON)
    placeholder = [s for s in m.statements if "CANNOT BE WRITTEN" in s.sql]
    assert len(placeholder) == 1 and str(placeholder[0].location) == "0000.sql:9:1"
    assert [s.index for s in m.statements] == list(range(len(m.statements)))
    s = parse_stats(stats(blog_article={**LARGE, "columns": {"id": "bigint"},
                                        "schema": {"primary_key": ["id"], "columns": [
                                            {"name": "id", "type": "bigint", "not_null": True}]}}), "s")
    report = lint(m, s)
    unknown = [f for f in report.findings if f.rule == "unknown-work"]
    assert unknown and unknown[0].risk is Risk.RED and "RunPython" in unknown[0].message
    plan, _ = plan_migration(m, s)
    manual = [st for p in plan.phases for st in p.steps if st.manual and "RunPython" in st.description]
    assert manual and not manual[0].up and not manual[0].reversible


# --- class 13: bookkeeping tables of migration runners need no measurements ----------------------

def test_alembic_version_needs_no_measurements_in_a_plan() -> None:
    m = migration("BEGIN;\nCREATE TABLE alembic_version (version_num varchar(32) NOT NULL);\nCOMMIT;\n",
                  "BEGIN;\nCREATE TABLE widgets (id bigint PRIMARY KEY);\n"
                  "UPDATE alembic_version SET version_num='ae1027a6acf' WHERE alembic_version.version_num = 'x';\n"
                  "COMMIT;\n")
    plan, report = plan_migration(m, parse_stats(stats(), "s"))
    assert report.risk is Risk.GREEN
    m2 = migration("UPDATE alembic_version SET version_num='b' WHERE alembic_version.version_num = 'a';\n"
                   "INSERT INTO django_migrations (app, name, applied) VALUES ('a', '0001', now());\n")
    plan, report = plan_migration(m2, parse_stats(stats(), "s"))
    assert report.risk is Risk.GREEN and not report.tables == ()  # judged, not refused


# --- class 3: a measured table is an existing table ----------------------------------------------

def test_measured_table_wins_over_an_earlier_create_table_and_says_so() -> None:
    files = ("CREATE TABLE sessions (id uuid PRIMARY KEY, user_id bigint);\n",
             "CREATE INDEX sessions_user_idx ON sessions (user_id);\n")
    s = parse_stats(stats(sessions={**LARGE, "rows": 50_000_000}), "s")
    together, alone = lint(migration(*files), s), lint(migration(files[1]), s)
    assert together.risk is alone.risk is Risk.RED
    assert [f.message for f in together.findings if f.rule == "creating-index-non-concurrently"] == \
        [f.message for f in alone.findings if f.rule == "creating-index-non-concurrently"]
    assert any("public.sessions is measured in the stats" in n and "0000.sql:1:1" in n for n in together.notes)
    # Without measurements the earlier CREATE TABLE still makes it new and empty.
    assert lint(migration(*files), parse_stats(stats(), "s")).risk is Risk.GREEN


# --- class 9: plan accepts a table the same input creates -----------------------------------------

def test_plan_needs_no_measurement_for_a_table_it_creates() -> None:
    m = migration("CREATE TABLE e (id bigint PRIMARY KEY, v varchar(10));\n"
                  "ALTER TABLE e ADD COLUMN w text;\n"
                  "ALTER TABLE e ALTER COLUMN v TYPE varchar(20);\n"
                  "ALTER TABLE e ALTER COLUMN w TYPE varchar(30);\n")
    plan, report = plan_migration(m, parse_stats(stats(), "s"))
    assert report.risk is Risk.GREEN
    ups = [u for p in plan.phases for st in p.steps for u in st.up]
    assert any("varchar(20)" in u for u in ups) and any("varchar(30)" in u for u in ups)


# --- class 4: a one-row UPDATE/DELETE by primary key is GREEN and not batched ----------------------

KEYED = {**LARGE, "columns": {"id": "bigint", "status": "text"},
         "schema": {"primary_key": ["id"], "columns": [{"name": "id", "type": "bigint", "not_null": True},
                                                       {"name": "status", "type": "text"}],
                    "indexes": {"accounts_pkey": "CREATE UNIQUE INDEX accounts_pkey ON public.accounts USING btree (id)"}}}


def test_one_row_update_by_primary_key_is_green_and_one_statement() -> None:
    s = parse_stats(stats(accounts=KEYED), "s")
    plan, report = plan_migration(migration("UPDATE accounts SET status = 'x' WHERE id = 1;\n"
                                            "DELETE FROM accounts WHERE id IN (7, 8);\n"), s)
    assert report.risk is Risk.GREEN, [f.message for f in report.findings]
    assert all(r.assessment.hold.seconds < 0.1 for r in report.results)
    steps = [st for p in plan.phases for st in p.steps]
    assert not any(st.backfill for st in steps) and len(steps) == 2
    assert "1 rows" in steps[0].description and "2 rows" in steps[1].description
    # The same UPDATE without a key in its WHERE is still batched.
    plan, report = plan_migration(migration("UPDATE accounts SET status = 'x' WHERE status = 'y';\n"), s)
    assert report.risk is Risk.RED and any(st.backfill for p in plan.phases for st in p.steps)


# --- class 8: DROP NOT NULL then DROP COLUMN plans each change once --------------------------------

def test_drop_not_null_then_drop_column_drops_and_restores_not_null_once() -> None:
    from test_plan_roundtrip import CASES, CONFIRM, STATS

    from migspec.plan.builder import PlanOptions

    customers = {**STATS["tables"]["public.customers"],
                 "schema": {"primary_key": ["id"], "columns": [{"name": "id", "type": "bigint", "not_null": True},
                                                               {"name": "name", "type": "text", "not_null": True}]}}
    s = parse_stats({**STATS, "tables": {"public.customers": customers}}, "s")
    plan, _ = plan_migration(migration(CASES["drop-not-null-then-column"]), s, options=PlanOptions(confirm=CONFIRM))
    ups = [u for p in plan.phases for st in p.steps for u in st.up]
    downs = [d for p in plan.phases for st in p.steps for d in st.down]
    assert sum("DROP NOT NULL" in u for u in ups) == 1, ups
    assert sum("SET NOT NULL" in d for d in downs) == 1, downs


# --- class 1: the rename's dual write is exact for defaults, NULLs and both application versions ---

RENAME_SETUP = """
CREATE TABLE users (id bigint PRIMARY KEY, display_name varchar(50) DEFAULT '' NOT NULL, bio text DEFAULT 'none');
CREATE UNIQUE INDEX users_display_name_key ON users (display_name);
INSERT INTO users SELECT g, 'u' || g, CASE WHEN g % 3 = 0 THEN NULL ELSE 'b' || g END FROM generate_series(1, 50) g;
"""
RENAME_STATS = {**stats(users={**LARGE, "rows": 50, "schema": {
    "primary_key": ["id"],
    "columns": [{"name": "id", "type": "bigint", "not_null": True},
                {"name": "display_name", "type": "character varying(50)", "not_null": True,
                 "default": "''::character varying"},
                {"name": "bio", "type": "text", "default": "'none'::text"}],
    "indexes": {"users_pkey": "CREATE UNIQUE INDEX users_pkey ON public.users USING btree (id)",
                "users_display_name_key": "CREATE UNIQUE INDEX users_display_name_key ON public.users "
                                          "USING btree (display_name)"}}}), "thresholds": {"batch_rows": 10}}


def _run_phase(pg, plan, phase: str) -> None:
    for p in plan.phases:
        if p.name.value == phase:
            for st in p.steps:
                for statement in st.up:
                    pg.execute(statement)


def test_rename_dual_write_is_exact_for_both_application_versions(pg) -> None:
    pg.execute(RENAME_SETUP)
    m = migration("ALTER TABLE users RENAME COLUMN display_name TO username;\n"
                  "ALTER TABLE users RENAME COLUMN bio TO about;\n")
    plan, _ = plan_migration(m, parse_stats(RENAME_STATS, "s"),
                             options=PlanOptions(confirm=("public.users.display_name", "public.users.bio")))
    _run_phase(pg, plan, "expand")
    # Both application versions write while the rollout runs (before and after the backfill).
    pg.execute("INSERT INTO users (id, display_name, bio) VALUES (101, 'old-explicit', 'x')")
    pg.execute("INSERT INTO users (id) VALUES (102)")  # old app relying on both DEFAULTs
    pg.execute("INSERT INTO users (id, display_name, bio) VALUES (103, 'old-null-bio', NULL)")
    _run_phase(pg, plan, "migrate")
    pg.execute("INSERT INTO users (id, username, about) VALUES (201, 'new-explicit', 'y')")
    pg.execute("INSERT INTO users (id, username) VALUES (202, 'new-default-about')")  # about omitted
    pg.execute("UPDATE users SET display_name = 'old-updated' WHERE id = 101")
    pg.execute("UPDATE users SET username = 'new-updated', about = NULL WHERE id = 201")
    pg.execute("UPDATE users SET bio = 'old-bio' WHERE id = 3")
    diverged = pg.execute("SELECT id, display_name, username, bio, about FROM users WHERE "
                          "display_name IS DISTINCT FROM username OR bio IS DISTINCT FROM about").fetchall()
    assert diverged == []
    got = dict((r[0], r[1:]) for r in pg.execute(
        "SELECT id, username, about FROM users WHERE id IN (101, 102, 103, 201, 202, 3)").fetchall())
    assert got == {101: ("old-updated", "x"), 102: ("", "none"), 103: ("old-null-bio", None),
                   201: ("new-updated", None), 202: ("new-default-about", "none"), 3: ("u3", "old-bio")}
    # The unique index copied onto the new column was built (it failed on diverged rows before).
    assert pg.execute("SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                      "WHERE c.relname LIKE '%username%' AND i.indisunique AND i.indisvalid").fetchone()[0] == 1
    _run_phase(pg, plan, "contract")
    pg.execute("DELETE FROM users WHERE id = 102")  # the unique index allows one ''
    pg.execute("INSERT INTO users (id) VALUES (301)")  # only the new application remains
    assert pg.execute("SELECT username, about FROM users WHERE id = 301").fetchone() == ("", "none")


# --- class 13: verify loads only what the migration touches, and a CHECK or trigger is no refusal --

def test_verify_load_filters_checks_skips_triggers_and_untouched_tables(pg) -> None:
    from migspec.verify import data

    pg.execute("""
        CREATE TABLE customers (id bigint PRIMARY KEY, name text NOT NULL);
        CREATE TABLE orders (id bigint PRIMARY KEY, customer_id bigint REFERENCES customers (id),
                             amount integer NOT NULL CHECK (amount >= 0 AND amount < 50),
                             code text CHECK (length(code) < 3));
        CREATE TABLE ledger (id bigint PRIMARY KEY, entry text NOT NULL);
        CREATE FUNCTION reject() RETURNS trigger LANGUAGE plpgsql AS
            $$ BEGIN RAISE EXCEPTION 'only the application inserts here'; END $$;
        CREATE TRIGGER orders_reject BEFORE INSERT ON orders FOR EACH ROW EXECUTE FUNCTION reject();
    """)
    models = data.with_parents(data.table_models(pg, 200), {"public.orders"})
    assert sorted(m.name for m in models.values()) == ["public.customers", "public.orders"]
    data.load(pg, 200, models, lambda _: None)
    loaded, bad = pg.execute("SELECT count(*), count(*) FILTER (WHERE NOT (amount >= 0 AND amount < 50)) "
                             "FROM orders").fetchone()
    assert loaded > 0 and bad == 0
    assert pg.execute("SELECT count(*) FROM ledger").fetchone()[0] == 0
    assert pg.execute("SHOW session_replication_role").fetchone()[0] == "origin"  # triggers are back on

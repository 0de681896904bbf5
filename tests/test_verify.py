"""``migspec verify`` against a real server: the planner's own rewrites hold every claim under
concurrent writes, deliberately broken plans fail with a report that names the broken claim, a
production DSN is refused, and a 100k-row run with 4 writers is timed (printed, not asserted).

Most runs use ``--dsn`` on the session's test server (a fresh database per test, no server start)
with 10,000 rows; one run uses the embedded server with 100,000 rows."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
import pytest
import yaml
from psycopg import sql

from migspec.cli import _load_calibration, main
from migspec.locks import LockMode
from migspec.verify import VerifyOptions, prepare, verify
from migspec.verify import data
from migspec.verify.report import render_json, render_text
from migspec.verify.writers import writer_work

REPO = Path(__file__).resolve().parent.parent
ROWS = 10_000

SCHEMA = """
CREATE TABLE customers (id bigint PRIMARY KEY, name text NOT NULL, email varchar(40) UNIQUE);
CREATE TABLE orders (
    id bigint PRIMARY KEY,
    customer_id bigint,
    note text,
    amount integer NOT NULL DEFAULT 0,
    code varchar(10),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX orders_note_idx ON orders (note);
CREATE INDEX orders_code_lower_idx ON orders (lower(code::text));
"""

STATS = {
    "pg_version": 15, "source": "production", "maintenance_window": "none",
    # Not this test server's identifier: --dsn on it is a scratch database.
    "system_identifier": "1",
    "tables": {
        "public.orders": {"rows": 20_000_000, "size_bytes": 3_000_000_000, "write_qps": 400,
                          "lock_contention": {"longest_transaction_seconds": 1, "lock_waits_per_minute": 0}},
        "public.customers": {"rows": 100_000, "size_bytes": 10_000_000, "write_qps": 10,
                             "lock_contention": {"longest_transaction_seconds": 1, "lock_waits_per_minute": 0}},
    },
}

# The planner's own rewrites: verify must pass each one.
CASES = {
    "add-column-volatile-not-null": "ALTER TABLE orders ADD COLUMN token uuid NOT NULL DEFAULT gen_random_uuid();",
    "create-index": "CREATE INDEX orders_created_idx ON orders (created_at);",
    "set-not-null": "ALTER TABLE orders ALTER COLUMN customer_id SET NOT NULL;",
    "foreign-key": "ALTER TABLE orders ADD CONSTRAINT orders_customer_fk FOREIGN KEY (customer_id) "
                   "REFERENCES customers (id);",
    "rename-column": "ALTER TABLE orders RENAME COLUMN note TO remark;",
    # A NOT NULL column with a DEFAULT (issue 12, class 1): rows either application version
    # inserts must not diverge between the two columns.
    "rename-column-with-default": "ALTER TABLE orders RENAME COLUMN amount TO total;",
    "retype-int-bigint": "ALTER TABLE orders ALTER COLUMN amount TYPE bigint;",
    "batched-update": "UPDATE orders SET note = 'archived' WHERE amount % 2 = 0;",
    # Binary-coercible, yet the expression index on lower(code::text) is rebuilt (issue 12, class 2).
    "retype-rebuilds-expression-index": "ALTER TABLE orders ALTER COLUMN code TYPE text;",
    # Django's RemoveField of a NOT NULL column (issue 12, class 8): each change planned once.
    "drop-not-null-then-column": "ALTER TABLE customers ALTER COLUMN name DROP NOT NULL;\n"
                                 "-- migspec: confirm public.customers.name reason: the test's own column\n"
                                 "ALTER TABLE customers DROP COLUMN name;",
}


@pytest.fixture(scope="session")
def schema_dump(pg_server, tmp_path_factory) -> Path:
    """A real ``pg_dump --schema-only`` file (OWNER TO, set_config(search_path) and all)."""
    name = "verify_schema_src"
    with psycopg.connect(pg_server.dsn, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        try:
            with psycopg.connect(pg_server.dsn_for(name), autocommit=True) as conn:
                conn.execute(SCHEMA)
            path = tmp_path_factory.mktemp("verify") / "schema.sql"
            subprocess.run([str(pg_server.tool("pg_dump")), "--schema-only", "-d", pg_server.dsn_for(name),
                            "-f", str(path)], check=True, timeout=60)
        finally:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    assert "OWNER TO" in path.read_text()
    return path


def _stats(tmp_path: Path, **changes) -> Path:
    doc = {**STATS, **changes}
    doc = {k: v for k, v in doc.items() if v is not None}
    path = tmp_path / "stats.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def _migration(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / f"{name}.sql"
    path.write_text(text + "\n")
    return path


def _plan_json(tmp_path: Path, name: str, text: str, schema_dump: Path, capsys) -> dict:
    stats = _stats(tmp_path)
    code = main(["plan", str(_migration(tmp_path, name, text)), "--stats", str(stats), "--schema", str(schema_dump),
                 "--format", "json"])
    out = capsys.readouterr().out
    assert code == 0, out
    return json.loads(out)


@pytest.mark.parametrize("case", sorted(CASES))
def test_planner_rewrites_hold_every_claim(case: str, tmp_path: Path, schema_dump: Path, pg_dsn: str) -> None:
    inp = prepare([str(_migration(tmp_path, case, CASES[case]))], stats_path=str(_stats(tmp_path)),
                  schema_path=str(schema_dump))
    result = verify(inp, VerifyOptions(rows=ROWS, writers=4), dsn=pg_dsn)
    report = render_text(result)
    print(report)
    assert result.ok, report
    assert not result.skipped_phases
    steps = [s for ph in result.phases for s in ph.steps if not s.manual]
    assert steps
    for s in steps:
        assert s.observed_rewrite in (False, None), s  # none of these plans rewrites a table
        if s.claimed_lock and s.observed_lock:
            assert LockMode[s.observed_lock.replace(" ", "_")] <= LockMode[s.claimed_lock.replace(" ", "_")]
        if s.transactional and s.table and s.rate_kind != "batched_update":
            # Captured inside the step's own transaction: exact, not sampled. The server agrees
            # with every claim of these plans to the mode.
            assert s.own_backend_locks and s.observed_lock == s.claimed_lock, s
    for ph in result.phases:
        # Only the tables the plan touches (and their foreign keys' parents) hold rows.
        assert not ph.catalog_diffs and not ph.row_problems and ph.rows_checked >= result.tables * ROWS
        assert ph.reup_error is None and not ph.reup_diffs
    writers = [s.writers for s in steps if s.writers and s.writers.ops]
    assert writers and all(w.errors == 0 for w in writers)
    assert json.loads(render_json(result))["ok"] is True


def test_a_down_that_forgets_to_drop_a_column_fails(tmp_path: Path, schema_dump: Path, pg_dsn: str,
                                                    capsys) -> None:
    doc = _plan_json(tmp_path, "add", CASES["add-column-volatile-not-null"], schema_dump, capsys)
    step = doc["phases"][0]["steps"][0]
    assert step["down"] == ["ALTER TABLE public.orders DROP COLUMN IF EXISTS token"]
    step["down"] = []
    plan = tmp_path / "broken.json"
    plan.write_text(json.dumps(doc))
    code = main(["verify", str(plan), "--schema", str(schema_dump), "--stats", str(_stats(tmp_path)),
                 "--dsn", pg_dsn, "--rows", str(ROWS)])
    out = capsys.readouterr().out
    print(out)
    assert code == 1
    assert "schema NOT restored" in out
    assert "columns: public.orders.token is left over (uuid" in out
    assert "RESULT: FAIL" in out
    assert "expand DOWN did not restore the schema: columns: public.orders.token is left over" in out
    # The next phase ran on a state it was not planned for: not run, and said so.
    assert "MIGRATE: not run (an earlier phase failed)" in out


def _verify_broken(tmp_path: Path, doc: dict, schema_dump: Path, pg_dsn: str, capsys) -> dict:
    """verify of a plan document someone broke: it must fail (exit 1); its JSON report."""
    plan = tmp_path / "broken.json"
    plan.write_text(json.dumps(doc))
    code = main(["verify", str(plan), "--schema", str(schema_dump), "--stats", str(_stats(tmp_path)),
                 "--dsn", pg_dsn, "--rows", str(ROWS), "--format", "json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 1 and report["ok"] is False
    return report


def test_a_plain_create_index_claimed_as_concurrent_fails(tmp_path: Path, schema_dump: Path, pg_dsn: str,
                                                          capsys) -> None:
    doc = _plan_json(tmp_path, "idx", CASES["create-index"], schema_dump, capsys)
    step = doc["phases"][0]["steps"][0]
    assert step["lock"] == "SHARE UPDATE EXCLUSIVE" and "CONCURRENTLY" in step["up"][0]
    step["up"] = [step["up"][0].replace(" CONCURRENTLY", "")]
    report = _verify_broken(tmp_path, doc, schema_dump, pg_dsn, capsys)
    s = report["phases"][0]["steps"][0]
    assert s["lock"]["claimed"] == "SHARE UPDATE EXCLUSIVE" and s["lock"]["observed"] == "SHARE"
    assert any("took SHARE on public.orders, stronger than the claimed SHARE UPDATE EXCLUSIVE (blocks writes" in p
               for p in report["problems"])
    assert report["calibration"] == {}  # a step that broke its claim measures nothing


def test_an_index_rebuild_claimed_as_catalog_only_fails(tmp_path: Path, schema_dump: Path, pg_dsn: str,
                                                       capsys) -> None:
    """verify compares every index's relfilenode (by name: the rebuilt index has a new OID), and
    fails a step whose observed rebuilds differ from its claim."""
    doc = _plan_json(tmp_path, "retype", CASES["retype-rebuilds-expression-index"], schema_dump, capsys)
    step = doc["phases"][0]["steps"][0]
    assert "rebuilds orders_code_lower_idx" in step["description"] and "index_build" in step["estimate_basis"]
    step["estimate_basis"] = "catalog only"
    report = _verify_broken(tmp_path, doc, schema_dump, pg_dsn, capsys)
    s = report["phases"][0]["steps"][0]
    assert s["rewrite"]["observed"] is False and s["rewrite"]["rebuilt_indexes"] == ["public.orders_code_lower_idx"]
    assert any("orders_code_lower_idx rebuilt (relfilenode changed) but the step claims no rewrite and no index "
               "build" in p for p in report["problems"])


def test_a_production_dsn_is_refused(tmp_path: Path, schema_dump: Path, pg, pg_dsn: str, capsys) -> None:
    ident = pg.execute("SELECT system_identifier::text FROM pg_control_system()").fetchone()[0]
    migration = str(_migration(tmp_path, "idx", CASES["create-index"]))
    args = [migration, "--schema", str(schema_dump), "--dsn", pg_dsn, "--rows", "100"]
    assert main(["verify", *args, "--stats", str(_stats(tmp_path, system_identifier=ident))]) == 3
    assert f"--dsn is the production cluster (system identifier {ident} matches the stats)" in capsys.readouterr().err
    # No identifier recorded: nothing tells this DSN apart from production.
    assert main(["verify", *args, "--stats", str(_stats(tmp_path, system_identifier=None))]) == 3
    assert "the stats record no system_identifier" in capsys.readouterr().err
    # Not empty: verify would mix its rows with someone's data.
    pg.execute("CREATE TABLE keep_me (id int)")
    assert main(["verify", *args, "--stats", str(_stats(tmp_path))]) == 3
    assert "not an empty scratch database" in capsys.readouterr().err
    assert pg.execute("SELECT count(*) FROM pg_class WHERE relname = 'orders'").fetchone() == (0,)


def test_bad_input_exits_2_and_missing_schema_3(tmp_path: Path, schema_dump: Path, capsys) -> None:
    migration = str(_migration(tmp_path, "idx", CASES["create-index"]))
    stats = str(_stats(tmp_path))
    assert main(["verify", migration, "--stats", stats, "--schema", str(schema_dump), "--rows", "0"]) == 2
    assert main(["verify", str(tmp_path / "missing.json"), "--schema", str(schema_dump)]) == 2
    # Bad input comes before the refusal for a missing schema.
    assert main(["verify", str(tmp_path / "missing.sql"), "--stats", stats]) == 2
    capsys.readouterr()
    assert main(["verify", migration, "--stats", stats]) == 3
    assert "verify needs the pre-migration schema" in capsys.readouterr().err


def test_synthetic_rows_respect_the_schema(pg) -> None:
    pg.execute("""
        CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
        CREATE TABLE parent (id uuid PRIMARY KEY, code varchar(5) NOT NULL UNIQUE, mood mood NOT NULL,
                             status text NOT NULL CHECK (status IN ('new', 'paid')), seen date, doc jsonb,
                             ok boolean NOT NULL, price numeric(6, 2) NOT NULL, addr inet, tags text[]);
        CREATE TABLE child (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                            parent_id uuid NOT NULL REFERENCES parent, parent_code varchar(5),
                            up bigint REFERENCES child, at timestamptz NOT NULL,
                            FOREIGN KEY (parent_code) REFERENCES parent (code));
    """)
    models = data.table_models(pg, 3000)
    data.load(pg, 3000, models, lambda _m: None)
    assert pg.execute("SELECT count(*) FROM parent").fetchone() == (3000,)
    assert pg.execute("SELECT count(*), count(parent_code), count(up) FROM child").fetchone() == (3000, 3000, 3000)
    assert pg.execute("SELECT count(DISTINCT status) FROM parent").fetchone() == (2,)
    # The identity's sequence moved past the explicit values: a DEFAULT insert does not collide.
    pg.execute("INSERT INTO child (parent_id, at) SELECT id, now() FROM parent LIMIT 1")
    # A writer's row: fresh row number, only the columns an application names.
    child = next(m for m in data.table_models(pg, 3000).values() if m.name == "public.child")
    work = writer_work(child, child.writer_columns(list(child.columns)))
    pg.execute(work.insert.replace("{g}", "5000"))
    assert work.update is not None and "SET parent_id = parent_id" in work.update  # identity ALWAYS is not touched
    assert pg.execute(work.update.replace("{g}", "17")).rowcount == 1


def _timed_cli(args: list[str]) -> tuple[int, float]:
    t0 = time.monotonic()
    code = main(args)
    return code, time.monotonic() - t0


def test_100k_rows_4_writers_on_the_embedded_server(tmp_path: Path, schema_dump: Path, capsys) -> None:
    """The default target: an embedded server migspec starts and removes itself."""
    migration = _migration(tmp_path, "rollout", CASES["add-column-volatile-not-null"] + "\n" + CASES["create-index"])
    calibration = tmp_path / "calibration.yaml"
    code, seconds = _timed_cli(["verify", str(migration), "--stats", str(_stats(tmp_path)), "--schema",
                                str(schema_dump), "--rows", "100000", "--writers", "4", "--format", "json",
                                "--calibration", str(calibration)])
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    with capsys.disabled():
        print(f"\nverify of {report['plan']}: 100,000 rows x {report['tables']} tables, 4 writers, "
              f"{sum(len(p['steps']) for p in report['phases'])} steps: {seconds:.1f} s wall-clock "
              f"(setup {report['setup_seconds']:.1f} s); measured {report['calibration']}")
    assert code == 0, report["problems"]
    assert report["target"].startswith("embedded PostgreSQL") and report["rows_per_table"] == 100_000
    started = re.search(r"embedded PostgreSQL .* started in (\S+) ", captured.err)
    assert started and not Path(started.group(1)).exists()  # the embedded server is gone
    assert set(report["calibration"]) == {"batched_update", "scan", "index_build_concurrent"}
    loaded = _load_calibration(str(calibration))
    assert loaded.rates["batched_update"].rows_per_s == round(report["calibration"]["batched_update"]["rows_per_s"])
    # The planner reads it back: its estimates now name the file as their source.
    assert main(["plan", str(migration), "--stats", str(_stats(tmp_path)), "--schema", str(schema_dump),
                 "--calibration", str(calibration), "--format", "json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    bases = [s["estimate_basis"] for p in plan["phases"] for s in p["steps"]]
    assert any("batched_update" in b and str(calibration) in b for b in bases), bases


def _python_for(user: str) -> list[str] | None:
    """An interpreter ``user`` may run: this one, else the system's of the same version (with this
    checkout's packages on PYTHONPATH; compiled extensions are per Python version)."""
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    for exe in (sys.executable, shutil.which(version, path="/usr/bin:/usr/local/bin")):
        if exe and subprocess.run(["runuser", "-u", user, "--", exe, "-c", "pass"], capture_output=True).returncode == 0:
            return [exe]
    return None


def _readable_site_packages(dest: Path) -> Path:
    """Copy the migspec package and the distributions it requires at run time (transitively, as
    their metadata states) into ``dest``, readable by every user."""
    import importlib.metadata as md
    from packaging.requirements import Requirement

    seen: set[str] = set()
    todo = ["migspec"]
    while todo:
        name = todo.pop()
        key = name.lower().replace("_", "-")
        if key in seen:
            continue
        seen.add(key)
        dist = md.distribution(name)
        for req in dist.requires or []:
            parsed = Requirement(req)
            if parsed.marker is None or parsed.marker.evaluate({"extra": ""}):
                todo.append(parsed.name)
            elif name == "psycopg" and parsed.marker.evaluate({"extra": "binary"}):
                todo.append(parsed.name)  # migspec asks for psycopg[binary]
        if key == "migspec":
            shutil.copytree(REPO / "src" / "migspec", dest / "migspec",
                            ignore=shutil.ignore_patterns("__pycache__"))
            continue
        for f in dist.files or []:
            src = Path(dist.locate_file(f))
            if ".." in f.parts or not src.is_file():
                continue
            (dest / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / f)
    for p in [dest, *dest.rglob("*")]:
        p.chmod(0o755 if p.is_dir() else 0o644 | (p.stat().st_mode & 0o111))
    return dest


def test_runs_as_a_normal_user(tmp_path: Path, schema_dump: Path) -> None:
    """As root the embedded server runs through runuser; as anyone else it runs as that user."""
    if os.geteuid() != 0:
        work, prefix = tmp_path, [sys.executable]
    else:
        python = _python_for("postgres")
        if python is None:
            pytest.skip("no Python interpreter the postgres user may run (this one lives under /root)")
        work = Path(tempfile.mkdtemp(prefix="migspec-verify-user-"))
        work.chmod(0o755)
        # The checkout (and its .venv) may live under a 0700 home the postgres user cannot read:
        # give it a world-readable copy of migspec and of what migspec needs at run time.
        site = _readable_site_packages(work / "site")
        prefix = ["runuser", "-u", "postgres", "--", "env", f"PYTHONPATH={site}", *python]
    try:
        migration = _migration(work, "idx", CASES["create-index"])
        stats = _stats(work)
        schema = work / "schema.sql"
        shutil.copyfile(schema_dump, schema)
        for f in (migration, stats, schema):
            f.chmod(0o644)
        done = subprocess.run([*prefix, "-m", "migspec", "verify", str(migration), "--stats", str(stats), "--schema",
                               str(schema), "--rows", "2000", "--writers", "2"],
                              capture_output=True, text=True, timeout=120, cwd=str(work))
    finally:
        if work != tmp_path:
            shutil.rmtree(work, ignore_errors=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "RESULT: PASS" in done.stdout and "embedded PostgreSQL" in " ".join(done.stdout.split())
    assert all(len(line) <= 100 for line in done.stdout.splitlines())


def test_a_table_the_step_creates_may_be_locked_harder_than_claimed(tmp_path: Path, schema_dump: Path,
                                                                     pg_dsn: str) -> None:
    """CREATE TABLE takes ACCESS EXCLUSIVE on the table it makes; nobody sees it before COMMIT."""
    text = "CREATE TABLE items (id bigint PRIMARY KEY, order_id bigint NOT NULL REFERENCES orders (id));"
    inp = prepare([str(_migration(tmp_path, "items", text))], stats_path=str(_stats(tmp_path)),
                  schema_path=str(schema_dump))
    result = verify(inp, VerifyOptions(rows=2000, writers=2), dsn=pg_dsn)
    step = result.phases[0].steps[0]
    assert result.ok and step.observed_lock == "ACCESS EXCLUSIVE"
    assert step.other_locks.get("public.orders") == "SHARE ROW EXCLUSIVE"  # the referenced table
    assert any("the step creates public.items" in n for n in step.notes)


# Planner bugs verify found, now fixed: each stays as a regression test (the reason says what broke).
PLANNER_BUGS = {
    "retype-using": ("ALTER TABLE orders ALTER COLUMN code TYPE integer USING length(code);",
                     "planner bug (plan/rewrites.py alter_type, plan/sql.py sync_trigger): the backfill's UPDATE of "
                     "the new column fires the sync trigger's new->old branch, which overwrites the old column with "
                     "CAST(new AS old type): code 'abcde' becomes '5' during MIGRATE, before any cutover (any lossy "
                     "USING or cast loses data); verify: rows changed after the MIGRATE DOWN"),
    "rename-not-null-column": ("ALTER TABLE customers RENAME COLUMN name TO full_name;",
                               "planner bug (plan/rewrites.py rename_column): CONTRACT removes the sync trigger while the "
                               "old column is still NOT NULL without a default, so the new application's INSERTs fail "
                               "until the column is dropped; and the drop's DOWN re-adds the column without NOT NULL"),
    "drop-not-null-column": ("ALTER TABLE customers DROP COLUMN name;",
                             "planner bug (plan/rewrites.py drop_column): a NOT NULL column without a default is "
                             "dropped without first dropping NOT NULL, so an application that stopped writing it "
                             "fails its INSERTs, and the DOWN's SET NOT NULL fails on rows inserted after the drop"),
}


@pytest.mark.parametrize("case", sorted(PLANNER_BUGS))
def test_planner_bugs_verify_found(case: str, tmp_path: Path, schema_dump: Path, pg_dsn: str) -> None:
    text, reason = PLANNER_BUGS[case]
    inp = prepare([str(_migration(tmp_path, case, text))], stats_path=str(_stats(tmp_path)),
                  schema_path=str(schema_dump), confirm=("public.customers.name", "public.orders.code"))
    result = verify(inp, VerifyOptions(rows=5000, writers=4), dsn=pg_dsn)
    assert result.ok, f"{reason}\n{render_text(result)}"

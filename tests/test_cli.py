"""The command line, through its real entry point ``migspec.cli.main(argv)`` and, for a few cases, a
real ``python -m migspec`` process: every input a user can get wrong is one ``migspec: `` line on
stderr and exit 2, never a traceback; missing measurements are exit 3 with the SQL to obtain them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import migspec.documents
from migspec import __version__
from migspec.cli import main
from migspec.rules import all_rules, rule_names

MEASURED = ["--rows", "orders=1000", "--write-qps", "orders=1", "--lock-waits", "orders=0"]
ORDERS = {"rows": 20_000_000, "size_bytes": 3_200_000_000, "write_qps": 400,
          "lock_contention": {"longest_transaction_seconds": 4, "lock_waits_per_minute": 0.5}}
STATS = {"pg_version": 16, "source": "production", "collected_at": "2026-11-20T10:00:00Z",
         "tables": {"public.orders": ORDERS}}


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory holding one good migration and a good stats file; paths are relative."""
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "ok.sql", "ALTER TABLE orders ADD COLUMN note text;\n")
    write(tmp_path / "stats.yaml", json.dumps(STATS))
    return tmp_path


# --- bad input: one line, exit 2, empty stdout ----------------------------------------------------

#: (files to write, argv, what stderr must say after "migspec: ")
BAD_INPUT = {
    "syntax error": ({"m.sql": "SELECT 1;\nSELEC 2;\n"}, ["lint", "m.sql"], 'm.sql:2:1: syntax error at or near "SELEC"'),
    "syntax error after multi-byte": ({"m.sql": "SELECT 1; -- ünïcödé\nSELECT 'ü' FRO x;\n"}, ["lint", "m.sql"],
                                      'm.sql:2:16: syntax error at or near "x"'),
    "syntax error same line multi-byte": ({"m.sql": "SELECT '日本語', 'é' FRO x;"}, ["lint", "m.sql"],
                                          'm.sql:1:23: syntax error at or near "x"'),
    "syntax error at end of input": ({"m.sql": "SELECT 1;\nSELECT (\n"}, ["lint", "m.sql"],
                                     "m.sql:2:9: syntax error at end of input"),
    "syntax error in second file": ({"d/0001.sql": "SELECT 1;", "d/0002.sql": "\n  DROP TABLE;"}, ["lint", "d"],
                                    f"d{os.sep}0002.sql:2:13: syntax error"),
    "empty file": ({"m.sql": ""}, ["lint", "m.sql"], "m.sql:1:1: no SQL statements in this file"),
    "whitespace only": ({"m.sql": "  \n\t\n"}, ["lint", "m.sql"], "m.sql:1:1: no SQL statements"),
    "comments only": ({"m.sql": "-- nothing\n/* here */\n"}, ["lint", "m.sql"], "m.sql:1:1: no SQL statements"),
    "binary file": ({"m.sql": b"SELECT 1;\x00\x01\xff"}, ["lint", "m.sql"], "m.sql:1:1: not a text file"),
    "non-UTF-8 file": ({"m.sql": b"SELECT 1; -- caf\xe9\n"}, ["lint", "m.sql"], "m.sql:1:17: not UTF-8 text"),
    "missing file": ({}, ["lint", "missing.sql"], "missing.sql: no such file or directory"),
    "directory without .sql": ({"d/readme.txt": "x"}, ["lint", "d"], "d: directory holds no .sql files"),
    "unknown flag": ({}, ["lint", "ok.sql", "--bogus"], "unrecognized arguments: --bogus"),
    "unknown subcommand": ({}, ["frobnicate"], "unknown command 'frobnicate'"),
    "no kind of upgrade": ({}, ["upgrade"], "the following arguments are required: upgrade_kind"),
    "lint without paths": ({}, ["lint"], "lint: name the migration (SQL files or a project directory)"),
    "bad format": ({}, ["lint", "ok.sql", "--format", "xml"], "lint: argument --format: invalid choice"),
    "bad fail-on": ({}, ["lint", "ok.sql", "--fail-on", "purple"], "lint: argument --fail-on: invalid choice"),
    "pg-version 10": ({}, ["lint", "ok.sql", "--pg-version", "10"], "lint: argument --pg-version: must be a "
                                                                    "PostgreSQL major version 11-18"),
    "pg-version 19": ({}, ["lint", "ok.sql", "--pg-version", "19"], "argument --pg-version: must be"),
    "pg-version x": ({}, ["lint", "ok.sql", "--pg-version", "x"], "argument --pg-version: must be"),
    "rows negative": ({}, ["lint", "ok.sql", "--rows", "orders=-1"], "argument --rows: expected TABLE=NUMBER"),
    "rows without value": ({}, ["lint", "ok.sql", "--rows", "orders"], "argument --rows: expected TABLE=NUMBER"),
    "rows not a number": ({}, ["lint", "ok.sql", "--rows", "orders=many"], "argument --rows: expected"),
    "rows infinite": ({}, ["lint", "ok.sql", "--rows", "orders=inf"], "argument --rows: expected"),
    "rows fractional": ({}, ["lint", "ok.sql", "--rows", "orders=1.5"], "--rows public.orders: must be a whole"),
    "rows bad table": ({}, ["lint", "ok.sql", "--rows", "a.b.c=5"], "argument --rows: expected"),
    "write-qps nan": ({}, ["lint", "ok.sql", "--write-qps", "orders=nan"], "argument --write-qps: expected"),
    "stats bad YAML": ({"s.yaml": "tables:\n  orders: {rows: 1\n"}, ["lint", "ok.sql", "--stats", "s.yaml"],
                       "s.yaml:3:1: malformed YAML"),
    "stats bad JSON": ({"s.json": '{"tables": {"orders": {"rows": 1,}}}'}, ["lint", "ok.sql", "--stats", "s.json"],
                       "s.json:1:34: malformed JSON"),
    "stats top-level list": ({"s.yaml": "- 1\n- 2\n"}, ["lint", "ok.sql", "--stats", "s.yaml"],
                             "s.yaml: top level: must be a mapping"),
    "stats unknown key": ({"s.yaml": "pg_version: 16\nfoo: 1\n"}, ["lint", "ok.sql", "--stats", "s.yaml"],
                          "s.yaml: foo: unknown key"),
    "stats unknown table key": ({"s.yaml": "tables: {orders: {rows: 1, wirte_qps: 2}}"},
                                ["lint", "ok.sql", "--stats", "s.yaml"], "s.yaml: tables.orders.wirte_qps: unknown key"),
    "stats negative rows": ({"s.yaml": "tables: {orders: {rows: -5}}"}, ["lint", "ok.sql", "--stats", "s.yaml"],
                            "s.yaml: tables.orders.rows: must not be negative"),
    "stats non-integer rows": ({"s.yaml": "tables: {orders: {rows: 2.5}}"}, ["lint", "ok.sql", "--stats", "s.yaml"],
                               "s.yaml: tables.orders.rows: must be a whole number"),
    "stats rows as a string": ({"s.yaml": "tables: {orders: {rows: '100'}}"}, ["lint", "ok.sql", "--stats", "s.yaml"],
                               "s.yaml: tables.orders.rows: must be a number, not '100'"),
    "stats negative write_qps": ({"s.yaml": "tables: {orders: {write_qps: -1}}"},
                                 ["lint", "ok.sql", "--stats", "s.yaml"], "tables.orders.write_qps: must not be negative"),
    "stats lock_contention missing a key": (
        {"s.yaml": "tables: {orders: {lock_contention: {longest_transaction_seconds: 3}}}"},
        ["lint", "ok.sql", "--stats", "s.yaml"], "tables.orders.lock_contention.lock_waits_per_minute: is missing"),
    "stats bad table name": ({"s.yaml": "tables: {a.b.c: {rows: 1}}"}, ["lint", "ok.sql", "--stats", "s.yaml"],
                             "s.yaml: tables.a.b.c: not a table name"),
    "stats table name with a blank": ({"s.yaml": "tables: {my table: {rows: 1}}"},
                                      ["lint", "ok.sql", "--stats", "s.yaml"], "s.yaml: tables.my table: not a name"),
    "stats same table twice": ({"s.yaml": "tables: {orders: {rows: 1}, public.orders: {rows: 2}}"},
                               ["lint", "ok.sql", "--stats", "s.yaml"], "names the same table as another key"),
    "stats pg_version 10": ({"s.yaml": "pg_version: 10"}, ["lint", "ok.sql", "--stats", "s.yaml"],
                            "s.yaml: pg_version: must be a PostgreSQL major version 11-18"),
    "stats pg_version 19": ({"s.yaml": "pg_version: 19"}, ["lint", "ok.sql", "--stats", "s.yaml"],
                            "s.yaml: pg_version: must be"),
    "stats nested too deeply": ({"s.json": "[" * 50_000}, ["lint", "ok.sql", "--stats", "s.json"],
                                "s.json: malformed stats file: nested too deeply"),
    "stats file missing": ({}, ["lint", "ok.sql", "--stats", "nope.yaml"], "nope.yaml: cannot read stats file"),
    "stats file is a directory": ({"d/x": "x"}, ["lint", "ok.sql", "--stats", "d"], "d: cannot read stats file"),
    "stats unknown threshold": ({"s.yaml": "thresholds: {bogus: 1}"}, ["lint", "ok.sql", "--stats", "s.yaml"],
                                "thresholds.bogus: unknown threshold"),
    "allow without a reason": ({"m.sql": "-- migspec: allow dropping-table\nDROP TABLE orders;"},
                               ["lint", "m.sql", *MEASURED], "m.sql:1:1: 'migspec: allow' needs a reason"),
    "allow an unknown rule": ({"m.sql": "SELECT 1;\n  -- migspec: allow dropping-tables reason: x\nDROP TABLE orders;"},
                              ["lint", "m.sql", *MEASURED], "m.sql:2:3: unknown rule 'dropping-tables'"),
    "allow not followed by a statement": (
        {"m.sql": "DROP TABLE orders;\n-- migspec: allow dropping-table reason: x\n"},
        ["lint", "m.sql", *MEASURED], "m.sql:2:1: migspec directive is not followed by a statement"),
    "allow inside a statement": (
        {"m.sql": "ALTER TABLE orders\n  -- migspec: allow renaming-column reason: x\n  RENAME COLUMN a TO b;"},
        ["lint", "m.sql", *MEASURED], "m.sql:2:3: migspec directive inside a statement applies to nothing"),
    "unreadable directive": ({"m.sql": "-- migspec: alow dropping-table reason: x\nDROP TABLE orders;"},
                             ["lint", "m.sql", *MEASURED], "m.sql:1:1: unreadable migspec directive"),
    "calibration is a directory": ({"d/x": "x"}, ["lint", "ok.sql", *MEASURED, "--calibration", "d"],
                                   "d: cannot read calibration file"),
    "calibration missing": ({}, ["lint", "ok.sql", *MEASURED, "--calibration", "nope.yaml"],
                            "nope.yaml: cannot read calibration file"),
    "calibration not UTF-8": ({"c.yaml": b"rates: {}\n# caf\xe9\n"}, ["lint", "ok.sql", *MEASURED, "--calibration",
                                                                      "c.yaml"], "c.yaml: cannot read calibration file"),
    "calibration bad YAML": ({"c.yaml": "rates: {rewrite: \n"}, ["lint", "ok.sql", *MEASURED, "--calibration", "c.yaml"],
                             "c.yaml:2:1: malformed YAML"),
    "calibration rate null": ({"c.yaml": "rates: {rewrite: {rows_per_s: null}}"},
                              ["lint", "ok.sql", *MEASURED, "--calibration", "c.yaml"], "c.yaml: "),
    "calibration rates a list": ({"c.yaml": "rates: [1, 2]"}, ["lint", "ok.sql", *MEASURED, "--calibration", "c.yaml"],
                                 "c.yaml: rates: must map rate names"),
    "calibration unknown rate": ({"c.yaml": "rates: {warp: {rows_per_s: 5}}"},
                                 ["lint", "ok.sql", *MEASURED, "--calibration", "c.yaml"], "unknown rate 'warp'"),
    "rules unknown name": ({}, ["rules", "no-such-rule"], "unknown rule 'no-such-rule'"),
    # A name the OS refuses (ENAMETOOLONG): was an internal error, from the framework detection.
    "migration name too long": ({}, ["lint", *MEASURED, "x" * 300], ": cannot read: File name too long"),
    "stats name too long": ({}, ["lint", "ok.sql", "--stats", "s" * 300], "cannot read stats file: File name too long"),
}


@pytest.mark.parametrize("case", BAD_INPUT, ids=list(BAD_INPUT))
def test_bad_input(capsys: pytest.CaptureFixture[str], work: Path, case: str) -> None:
    files, argv, expected = BAD_INPUT[case]
    for name, content in files.items():
        write(work / name, content)
    rc, out, err = cli(capsys, *argv)
    assert (rc, out) == (2, ""), err
    assert err.startswith("migspec: ") and err.endswith("\n") and err.count("\n") == 1, err
    assert "migspec: migspec" not in err and "Traceback" not in err
    assert expected in err, err


def test_unreadable_files(capsys: pytest.CaptureFixture[str], work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Permission denied (simulated: tests may run as root, who reads any file whatever its mode)."""
    for name in ("m.sql", "c.yaml", "s.yaml"):
        write(work / name, "SELECT 1;")
    real_read_bytes, real_read_text, real_open = Path.read_bytes, Path.read_text, Path.open

    def deny(real):  # type: ignore[no-untyped-def]
        def read(self: Path, *args, **kwargs):  # type: ignore[no-untyped-def]
            if self.name in ("m.sql", "c.yaml", "s.yaml"):
                raise PermissionError(13, "Permission denied", str(self))
            return real(self, *args, **kwargs)
        return read

    monkeypatch.setattr(Path, "read_bytes", deny(real_read_bytes))
    monkeypatch.setattr(Path, "read_text", deny(real_read_text))
    monkeypatch.setattr(Path, "open", deny(real_open))

    def deny_open(file, *args, **kwargs):  # type: ignore[no-untyped-def]
        if Path(file).name in ("m.sql", "c.yaml", "s.yaml"):
            raise PermissionError(13, "Permission denied", str(file))
        return open(file, *args, **kwargs)

    # migspec.documents reads with open(), not pathlib (lint's start-up, migspec.paths)
    monkeypatch.setattr(migspec.documents, "open", deny_open, raising=False)
    for argv, expected in ((["lint", "m.sql"], "m.sql: cannot read: Permission denied"),
                           (["lint", "ok.sql", "--stats", "s.yaml"], "s.yaml: cannot read stats file: Permission denied"),
                           (["lint", "ok.sql", *MEASURED, "--calibration", "c.yaml"],
                            "c.yaml: cannot read calibration file: Permission denied")):
        rc, out, err = cli(capsys, *argv)
        assert (rc, out) == (2, "") and err == f"migspec: {expected}\n"


# --- refusal: exit 3, every table and measurement, with the SQL to obtain it ---------------------

def test_refusal_lists_every_table_and_measurement(capsys: pytest.CaptureFixture[str], work: Path) -> None:
    write(work / "m.sql", "ALTER TABLE orders ADD COLUMN a int;\nALTER TABLE sales.\"Line Items\" ADD COLUMN b int;\n"
                          "CREATE INDEX users_idx ON users (id);\n")
    rc, out, err = cli(capsys, "lint", "m.sql")
    assert (rc, out) == (3, "")
    assert err.startswith("migspec: refusing to judge without production measurements (no --stats file given)")
    for table in ("public.orders", 'sales."Line Items"', "public.users"):
        for key in ("rows", "write_qps", "lock_contention"):
            assert f"  {table}: missing {key}\n" in err
    assert err.count("FROM pg_class c") == 3
    assert err.count("FROM pg_stat_user_tables") == 3
    assert err.count("FROM pg_stat_activity") == 3
    assert "'sales.\"Line Items\"'::regclass" in err
    assert "Traceback" not in err


def test_tables_created_in_the_migration_need_no_stats(capsys: pytest.CaptureFixture[str], work: Path) -> None:
    write(work / "m.sql", "CREATE TABLE t (id int);\nALTER TABLE t ADD COLUMN x int;\nCREATE INDEX t_idx ON t (x);\n")
    rc, out, err = cli(capsys, "lint", "m.sql")
    assert (rc, err) == (0, "")
    assert "RISK: GREEN" in out and "STATS: no measurements needed" in out


def test_partial_stats_list_only_what_is_missing(capsys: pytest.CaptureFixture[str], work: Path) -> None:
    write(work / "s.yaml", "source: production\ntables:\n  orders: {rows: 1000}\n  users: {rows: 5, write_qps: 1}\n")
    write(work / "m.sql", "ALTER TABLE orders ADD COLUMN a int;\nALTER TABLE users ADD COLUMN a int;\n")
    rc, out, err = cli(capsys, "lint", "m.sql", "--stats", "s.yaml")
    assert (rc, out) == (3, "")
    assert "(stats from s.yaml)" in err
    missing = [line.strip() for line in err.splitlines() if ": missing " in line]
    assert missing == ["public.orders: missing write_qps", "public.orders: missing lock_contention",
                       "public.users: missing lock_contention"]


@pytest.mark.parametrize("flags", [
    ["--rows", "orders=1000", "--write-qps", "orders=1", "--lock-waits", "orders=0"],
    ["--rows", "orders=2e7", "--write-qps", "orders=400", "--longest-transaction", "orders=4"],
    ["--rows", "public.orders=1000", "--write-qps", "ORDERS=1", "--longest-transaction", "orders=1",
     "--lock-waits", "orders=0.5", "--size-bytes", "orders=100000"],
])
def test_flags_supply_the_measurements(capsys: pytest.CaptureFixture[str], work: Path, flags: list[str]) -> None:
    rc, out, err = cli(capsys, "lint", "ok.sql", *flags)
    assert rc in (0, 1) and err == ""
    assert "TABLE SIZE: " in out and "(public.orders)" in out
    assert "STATS: unstated source (command line)" in out


def test_flags_complete_a_partial_stats_file(capsys: pytest.CaptureFixture[str], work: Path) -> None:
    write(work / "s.yaml", "source: production\ntables:\n  orders: {rows: 1000, size_bytes: 50000}\n")
    rc, out, err = cli(capsys, "lint", "ok.sql", "--stats", "s.yaml", "--write-qps", "orders=2",
                       "--lock-waits", "orders=0", "--format", "json")
    assert rc in (0, 1) and err == ""
    doc = json.loads(out)
    assert doc["tables"] == [{"name": "public.orders", "rows": 1000, "write_qps": 2.0, "size_bytes": 50000,
                              "source": "production"}]
    rc, out, err = cli(capsys, "lint", "ok.sql", "--stats", "s.yaml", "--write-qps", "orders=2")
    assert rc == 3 and "public.orders: missing lock_contention" in err and "missing write_qps" not in err


def test_flags_override_the_stats_file(capsys: pytest.CaptureFixture[str], work: Path) -> None:
    rc, out, _ = cli(capsys, "lint", "ok.sql", "--stats", "stats.yaml", "--rows", "orders=7", "--format", "json")
    assert json.loads(out)["tables"][0]["rows"] == 7


def test_non_production_stats_add_a_note(capsys: pytest.CaptureFixture[str], work: Path) -> None:
    write(work / "s.yaml", json.dumps({**STATS, "source": "staging"}))
    rc, out, err = cli(capsys, "lint", "ok.sql", "--stats", "s.yaml")
    assert "NOTE: measurements are from 'staging', not production" in out
    rc, out, err = cli(capsys, "lint", "ok.sql", "--stats", "stats.yaml")
    assert "NOTE:" not in out and "STATS: production, collected 2026-11-20T10:00:00Z (stats.yaml)" in out
    rc, out, err = cli(capsys, "lint", "ok.sql", *MEASURED)
    assert "NOTE: measurements are from 'an unstated source', not production" in out


# --- lint output and exit codes -----------------------------------------------------------------

RISKY = "ALTER TABLE orders ADD COLUMN token uuid DEFAULT gen_random_uuid();\nCREATE INDEX orders_idx ON orders (id);\n"


def test_text_output(capsys: pytest.CaptureFixture[str], work: Path) -> None:
    write(work / "m.sql", RISKY)
    rc, out, err = cli(capsys, "lint", "m.sql", "--stats", "stats.yaml")
    assert (rc, err) == (1, "")
    assert out.splitlines()[:4] == [
        "MIGRATION: m", "RISK: RED", "TABLE SIZE: 20,000,000 - WRITE QPS: 400  (public.orders)",
        "TARGET: PostgreSQL 16 - STATS: production, collected 2026-11-20T10:00:00Z (stats.yaml)"]
    assert "m.sql:1:1: RED [adding-volatile-default] add_column on public.orders" in out
    assert "m.sql:2:1: RED [creating-index-non-concurrently] create_index on public.orders" in out


def test_pg_version_flag_overrides_the_stats_file(capsys: pytest.CaptureFixture[str], work: Path) -> None:
    rc, out, _ = cli(capsys, "lint", "ok.sql", "--stats", "stats.yaml", "--pg-version", "12", "--format", "json")
    assert json.loads(out)["pg_version"] == 12


def test_json_output(capsys: pytest.CaptureFixture[str], work: Path) -> None:
    write(work / "m.sql", RISKY + "DO $$ BEGIN PERFORM 1; END $$;\n")
    rc, out, err = cli(capsys, "lint", "m.sql", "--stats", "stats.yaml", "--format", "json")
    assert (rc, err) == (1, "")
    doc = json.loads(out, parse_constant=lambda name: pytest.fail(f"{name} is not JSON"))
    assert {"migration", "risk", "pg_version", "tables", "operations", "findings"} <= set(doc)
    assert (doc["migration"], doc["risk"], doc["pg_version"]) == ("m", "RED", 16)
    assert [t["name"] for t in doc["tables"]] == ["public.orders"]
    assert len(doc["operations"]) == 3
    assert {f["rule"] for f in doc["findings"]} >= {"adding-volatile-default", "creating-index-non-concurrently",
                                                   "unknown-work"}


def test_sarif_output(capsys: pytest.CaptureFixture[str], work: Path) -> None:
    write(work / "m.sql", "-- migspec: allow adding-volatile-default reason: off-hours window\n" + RISKY)
    rc, out, err = cli(capsys, "lint", "m.sql", "--stats", "stats.yaml", "--format", "sarif")
    assert (rc, err) == (1, "")
    doc = json.loads(out)
    assert doc["version"] == "2.1.0" and doc["$schema"].endswith("sarif-2.1.0.json")
    run = doc["runs"][0]
    assert {r["id"] for r in run["tool"]["driver"]["rules"]} == rule_names()
    results = run["results"]
    assert all(r["ruleId"] in rule_names() for r in results)
    allowed = [r for r in results if r.get("suppressions")]
    assert [r["ruleId"] for r in allowed] == ["adding-volatile-default"]
    assert allowed[0]["suppressions"] == [{"kind": "inSource", "justification": "off-hours window"}]
    region = allowed[0]["locations"][0]["physicalLocation"]["region"]
    assert (region["startLine"], region["startColumn"]) == (2, 1)


def test_github_output(capsys: pytest.CaptureFixture[str], work: Path) -> None:
    write(work / "m.sql", "SELECT 1;\n   " + RISKY)
    rc, out, err = cli(capsys, "lint", "m.sql", "--stats", "stats.yaml", "--format", "github")
    assert (rc, err) == (1, "")
    lines = out.splitlines()
    assert lines[-1] == "migspec: m is RED"
    assert "::error file=m.sql,line=2,col=4,title=RED adding-volatile-default::adding token rewrites" in out
    assert all(line.startswith("::error file=m.sql,line=") and ",col=" in line and ",title=" in line
               for line in lines[:-1])


@pytest.mark.parametrize("sql, fail_on, rc", [
    ("SET lock_timeout = '1s';\nALTER TABLE orders RENAME COLUMN note TO remark;", "red", 0),  # YELLOW
    ("SET lock_timeout = '1s';\nALTER TABLE orders RENAME COLUMN note TO remark;", "yellow", 1),
    ("SET lock_timeout = '1s';\nALTER TABLE orders RENAME COLUMN note TO remark;", "green", 1),
    ("SET lock_timeout = '1s';\nALTER TABLE orders ADD COLUMN x int;", "yellow", 0),  # a GREEN finding only
    ("SET lock_timeout = '1s';\nALTER TABLE orders ADD COLUMN x int;", "green", 1),
    ("ALTER TABLE orders ADD COLUMN x int NOT NULL;", "red", 1),  # RED: fails outright on a non-empty table
    ("CREATE INDEX CONCURRENTLY orders_idx ON orders (id);", "green", 0),  # no finding at all
])
def test_fail_on(capsys: pytest.CaptureFixture[str], work: Path, sql: str, fail_on: str, rc: int) -> None:
    write(work / "m.sql", sql)
    got, out, err = cli(capsys, "lint", "m.sql", *MEASURED, "--fail-on", fail_on)
    assert (got, err) == (rc, "")


def test_default_fail_on_is_yellow(capsys: pytest.CaptureFixture[str], work: Path) -> None:
    write(work / "m.sql", "SET lock_timeout = '1s';\nALTER TABLE orders ADD COLUMN x int;")
    assert cli(capsys, "lint", "m.sql", *MEASURED)[0] == 0
    write(work / "m.sql", "SET lock_timeout = '1s';\nALTER TABLE orders RENAME COLUMN note TO remark;")
    assert cli(capsys, "lint", "m.sql", *MEASURED)[0] == 1


def test_allowed_findings_show_and_do_not_fail(capsys: pytest.CaptureFixture[str], work: Path) -> None:
    write(work / "m.sql", "BEGIN;\nSET LOCAL lock_timeout = '1s';\n"
                          "-- migspec: allow renaming-column reason: the app reads both names since v41\n"
                          "ALTER TABLE orders RENAME COLUMN note TO remark;\nCOMMIT;\n")
    rc, out, err = cli(capsys, "lint", "m.sql", *MEASURED, "--fail-on", "green")
    assert (rc, err) == (0, "")
    assert "m.sql:4:1: YELLOW (allowed) [renaming-column]" in out
    assert "    allowed: the app reads both names since v41" in out
    assert "RISK: GREEN" in out and "1 allowed" in out
    rc, out, _ = cli(capsys, "lint", "m.sql", *MEASURED, "--format", "json")
    (finding,) = json.loads(out)["findings"]
    assert finding["suppressed"] == "the app reads both names since v41"
    rc, out, _ = cli(capsys, "lint", "m.sql", *MEASURED, "--format", "github")
    assert out == "migspec: m is GREEN\n"


def test_allow_covers_only_the_named_rule(capsys: pytest.CaptureFixture[str], work: Path) -> None:
    write(work / "m.sql", "-- migspec: allow dropping-column reason: wrong rule\n"
                          "ALTER TABLE orders RENAME COLUMN note TO remark;\n")
    rc, out, _ = cli(capsys, "lint", "m.sql", *MEASURED)
    assert rc == 1 and "(allowed)" not in out


def test_directory_files_in_lexical_order_with_state_carried(capsys: pytest.CaptureFixture[str], work: Path) -> None:
    write(work / "mig/0010_last.sql", "ALTER TABLE orders ADD COLUMN c int;")
    write(work / "mig/0002_second.sql", "ALTER TABLE fresh ADD COLUMN b int;\nCREATE INDEX fresh_idx ON fresh (b);")
    write(work / "mig/0001_first.sql", "CREATE TABLE fresh (id int);")
    write(work / "mig/notes.txt", "not SQL")
    rc, out, err = cli(capsys, "lint", "mig", *MEASURED, "--format", "json")
    assert err == ""
    doc = json.loads(out)
    assert doc["migration"] == "mig"
    assert [op["location"] for op in doc["operations"]] == [
        os.path.join("mig", "0001_first.sql") + ":1:1", os.path.join("mig", "0002_second.sql") + ":1:1",
        os.path.join("mig", "0002_second.sql") + ":2:1", os.path.join("mig", "0010_last.sql") + ":1:1"]
    assert [t["name"] for t in doc["tables"]] == ["public.orders"]  # fresh needs no measurements
    rc, out, err = cli(capsys, "lint", "mig")  # and only orders is refused
    assert rc == 3 and "public.orders: missing rows" in err and "fresh" not in err


def test_transaction_per_file(capsys: pytest.CaptureFixture[str], work: Path) -> None:
    write(work / "m.sql", "CREATE INDEX CONCURRENTLY orders_idx ON orders (id);")
    rc, out, _ = cli(capsys, "lint", "m.sql", *MEASURED)
    assert rc == 0 and "running-concurrently-in-transaction" not in out
    rc, out, _ = cli(capsys, "lint", "m.sql", *MEASURED, "--transaction-per-file")
    assert rc == 1
    assert "m.sql:1:1: RED [running-concurrently-in-transaction]" in out
    assert "in a file the runner wraps in a transaction" in " ".join(out.split())  # text wraps at 100 columns


def test_explicit_transaction_flags_concurrently(capsys: pytest.CaptureFixture[str], work: Path) -> None:
    write(work / "m.sql", "BEGIN;\nCREATE INDEX CONCURRENTLY orders_idx ON orders (id);\nCOMMIT;")
    rc, out, _ = cli(capsys, "lint", "m.sql", *MEASURED)
    assert rc == 1 and "inside BEGIN ... COMMIT" in out


# --- rules and --version ------------------------------------------------------------------------

def test_rules_lists_every_rule(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err = cli(capsys, "rules")
    assert (rc, err) == (0, "")
    lines = out.splitlines()
    # One entry per rule: its name at the left margin, its summary wrapped under the summary column.
    entries = [line for line in lines if not line.startswith(" ")]
    assert [line.split()[0] for line in entries] == sorted(rule_names())
    column = len(entries[0]) - len(entries[0][len(entries[0].split()[0]):].lstrip())
    assert all(len(line) <= 100 for line in lines)
    assert all(line[:column].strip() == "" for line in lines if line.startswith(" "))
    text = " ".join(line.strip() if line.startswith(" ") else "\n" + line for line in lines)
    for rule, entry in zip(all_rules(), text.strip().split("\n")):
        assert " ".join(entry.split()[1:]) == " ".join(rule.summary().split())


def test_rules_shows_one_rule(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err = cli(capsys, "rules", "dropping-table")
    assert (rc, err) == (0, "")
    assert out.startswith("dropping-table\n\n")
    for section in ("What it flags:", "Why:", "Example:", "Use instead:", "Version notes:", "References:"):
        assert f"\n{section}\n" in out


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(capsys, "--version") == (0, f"migspec {__version__}\n", "")


def test_help(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err = cli(capsys, "lint", "--help")
    assert rc == 0 and "--fail-on" in out and err == ""


# --- a real process: no traceback escapes --------------------------------------------------------

def run_migspec(cwd: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "migspec", *argv], cwd=cwd, capture_output=True, text=True,
                          timeout=120, env={**os.environ, "PYTHONIOENCODING": "utf-8"})


@pytest.mark.parametrize("files, argv, rc, expected", [
    ({"m.sql": "SELECT 'é';\nSELECT 1 FRO x;"}, ["lint", "m.sql"], 2, 'm.sql:2:14: syntax error at or near "x"'),
    ({"m.sql": "SELECT ("}, ["lint", "m.sql"], 2, "m.sql:1:9: syntax error at end of input"),
    ({"m.sql": b"\x00\x01"}, ["lint", "m.sql"], 2, "m.sql:1:1: not a text file"),
    ({"m.sql": b"SELECT '\xff';"}, ["lint", "m.sql"], 2, "m.sql:1:9: not UTF-8 text"),
    ({"s.yaml": "[1, 2]"}, ["lint", "ok.sql", "--stats", "s.yaml"], 2, "s.yaml: top level"),
    ({}, ["lint", "ok.sql", "--rows", "orders=inf", *MEASURED[2:]], 2, "argument --rows: expected"),
    ({"c.yaml": "rates: {rewrite: {rows_per_s: null}}"}, ["lint", "ok.sql", *MEASURED, "--calibration", "c.yaml"],
     2, "c.yaml: "),
    ({}, ["lint", "ok.sql", "--nope"], 2, "unrecognized arguments: --nope"),
    ({}, ["nope"], 2, "unknown command 'nope' (see 'migspec --help')"),
    ({}, ["lint", "ok.sql"], 3, "public.orders: missing lock_contention"),
])
def test_subprocess_errors(work: Path, files: dict[str, str | bytes], argv: list[str], rc: int,
                           expected: str) -> None:
    for name, content in files.items():
        write(work / name, content)
    proc = run_migspec(work, *argv)
    assert proc.returncode == rc, proc.stderr
    assert proc.stdout == ""
    assert proc.stderr.startswith("migspec: ") and "Traceback" not in proc.stderr
    assert expected in proc.stderr
    if rc == 2:
        assert proc.stderr.count("\n") == 1


def test_subprocess_success_and_version(work: Path) -> None:
    proc = run_migspec(work, "lint", "ok.sql", "--stats", "stats.yaml", "--format", "json")
    assert proc.stderr == "" and proc.returncode in (0, 1)
    assert json.loads(proc.stdout)["migration"] == "ok"
    proc = run_migspec(work, "--version")
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, f"migspec {__version__}\n", "")


def test_lint_schema_file_tells_a_widening_from_a_rewrite(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """Without the old type migspec must assume a rewrite; a pg_dump schema tells it varchar(10)
    -> varchar(20) is catalog-only (and lint and plan read the same facts)."""
    schema = tmp_path / "schema.sql"
    schema.write_text("CREATE TABLE public.items (id bigint NOT NULL, code character varying(10));\n")
    mig = tmp_path / "m.sql"
    mig.write_text("ALTER TABLE items ALTER COLUMN code TYPE varchar(20);\n")
    flags = ["--rows", "items=1000000", "--write-qps", "items=10", "--longest-transaction", "items=0",
             "--lock-waits", "items=0", "--format", "json"]
    rc, out, _ = cli(capsys, "lint", str(mig), *flags)
    assert json.loads(out)["operations"][0]["rewrites_table"] is True
    rc, out, _ = cli(capsys, "lint", str(mig), *flags, "--schema", str(schema))
    assert json.loads(out)["operations"][0]["rewrites_table"] is False


@pytest.mark.parametrize("doc, says", [
    ({"migration": "m", "phases": [{"name": "expand", "steps": [{"x": 1}]}]}, "missing 'description'"),
    ({"migration": "m", "phases": [{"name": "expand", "steps": [
        {"description": "d", "up": [], "down": [], "transactional": True, "lock": "NOPE"}]}]}, "unknown lock mode"),
    ({"migration": "m", "phases": [{"name": "cleanup", "steps": []}]}, "phase name must be one of"),
])
def test_damaged_plan_is_a_message(capsys: pytest.CaptureFixture[str], tmp_path: Path, doc: dict, says: str) -> None:
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps(doc))
    rc, out, err = cli(capsys, "apply", str(plan), "--phase", "expand", "--dry-run")
    assert rc == 2 and not out and "Traceback" not in err
    assert err.count("\n") == 1 and says in err

"""Start-up of ``migspec lint`` on one small file (issue 16: under 100 ms whole process, measured in
bench/, never asserted here). These tests guard what the time was cut with, without timing: the
modules a small lint of SQL files must not import, the cheap regular expressions that replaced slow
to compile ones (same code points), and the parser built for the command being run only (same
parse, same help)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from migspec.names import _UNQUOTED
from migspec.render.layout import _DOLLAR

ROOT = Path(__file__).resolve().parents[1]

#: The bench's small migration (bench/corpus.py SMALL_MIGRATION): a pre-commit hook's case.
SMALL = """\
ALTER TABLE t001 ADD COLUMN tracking_token uuid DEFAULT gen_random_uuid();
ALTER TABLE t001 ALTER COLUMN account_id SET NOT NULL;
CREATE INDEX t001_created_at_idx ON t001 (created_at);
ALTER TABLE t001 RENAME COLUMN note TO customer_note;
UPDATE t002 SET status = 'archived' WHERE created_at < now() - interval '2 years';
"""
STATS = """\
pg_version: 15
source: production
tables:
  public.t001: {rows: 1000000, write_qps: 100, lock_contention: {longest_transaction_seconds: 1.5, lock_waits_per_minute: 0.2}}
  public.t002: {rows: 600000, write_qps: 150, lock_contention: {longest_transaction_seconds: 1.5, lock_waits_per_minute: 0.2}}
"""

#: Imported by nothing a small lint of SQL files does (each was milliseconds at every start): the
#: standard library's TOML reader (only a [tool.migspec] table needs it), hashing (plan and
#: schema fingerprints), statistics (probed stats files), the commands' own packages, the planner
#: and the plan file's classes (the SET NOT NULL fix is the planner's recipe, reached through
#: migspec.plan.recipes alone), the operation modules of kinds the file does not hold (misc:
#: DROP SCHEMA, VACUUM ...; constraint), the reading of framework projects, pickle (it copies a
#: schema model: without --schema, lint builds the stats file's once and copies none), the
#: standard library's dataclasses with the inspect it imports (and ast, dis, tokenize with it):
#: migspec.frozen collects fields itself, the rule catalogue lists its modules without pkgutil
#: (migspec.submodules); PyYAML (the YAML stats file is read by migspec.plainyaml: ~97 M
#: instructions of its import); and pathlib with the urllib.parse and ipaddress it imports
#: (migspec.paths: ~14 M); and threading (the one-line report of a failed thread is set when a
#: command imports it, migspec.deferred.after_import).
NOT_AT_START = ("tomllib", "hashlib", "statistics", "psycopg", "rich", "subprocess", "migspec.verify",
                "migspec.measure", "migspec.execute", "migspec.pgserver", "migspec.frameworks.django",
                "migspec.frameworks.alembic", "pglast.stream", "pglast.printers", "migspec.plan.steps",
                "migspec.plan.rewrites", "migspec.plan.builder", "migspec.plan.context", "migspec.planfile",
                "migspec.ops.misc", "migspec.ops.constraint", "migspec.frameworks.project", "pickle",
                "dataclasses", "inspect", "ast", "dis", "tokenize", "pkgutil", "yaml", "pathlib", "urllib.parse",
                "ipaddress", "threading")


def _everything(pattern: str) -> str:
    """The characters of all of Unicode that ``pattern`` (one character class) matches."""
    return "".join(re.findall(pattern, "".join(map(chr, range(0x110000)))))


def test_fast_identifier_classes_match_the_same_characters_as_the_readable_ones() -> None:
    start, cont = re.match(r"(\[.*?\])(\[.*?\])\*$", _UNQUOTED.pattern).groups()  # type: ignore[union-attr]
    assert _everything(start) == _everything(r"[A-Za-z_\x80-\U0010ffff]")
    assert _everything(cont) == _everything(r"[A-Za-z0-9_$\x80-\U0010ffff]")
    start, cont = re.match(r"\\\$\((\[.*?\])(\[.*?\])\*\)\?\\\$$", _DOLLAR.pattern).groups()  # type: ignore[union-attr]
    assert _everything(start) == _everything(r"[A-Za-z_\x80-\uffff]")
    assert _everything(cont) == _everything(r"[A-Za-z_0-9\x80-\uffff]")


def test_small_lint_imports_only_what_it_uses(tmp_path: Path) -> None:
    """The real entry point (``python -m migspec``), text output as a pre-commit hook prints it."""
    sql = tmp_path / "0001_small.sql"
    sql.write_text(SMALL)
    stats = tmp_path / "stats.yaml"
    stats.write_text(STATS)
    code = ("import runpy, sys, json, atexit\n"
            "from migspec.deferred import DEFERRED, is_deferred\n"
            "atexit.register(lambda: sys.stderr.write('MODULES ' + json.dumps(sorted(sys.modules)) + '\\n'))\n"
            "atexit.register(lambda: sys.stderr.write('RAN ' + json.dumps([m for m in DEFERRED if not is_deferred(m)]) + '\\n'))\n"
            f"sys.argv = ['migspec', 'lint', {str(sql)!r}, '--stats', {str(stats)!r}]\n"
            "runpy.run_module('migspec', run_name='__main__')\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, check=False)
    assert done.returncode == 1, done.stderr  # YELLOW findings, the default --fail-on
    assert "[adding-volatile-default]" in done.stdout and "[setting-not-null-on-existing-column]" in done.stdout
    modules = set(json.loads(done.stderr.rsplit("MODULES ", 1)[1]))
    assert json.loads(done.stderr.split("RAN ", 1)[1].split("\n", 1)[0]) == []  # pglast's classes never built
    assert "migspec.lint" in modules and "migspec.plan.recipes" in modules  # the NOT NULL fix was built
    loaded = sorted(m for m in modules if any(m == p or m.startswith(p + ".") for p in NOT_AT_START))
    assert loaded == []


def test_lint_runs_without_the_cycle_collector_from_its_first_import(tmp_path: Path) -> None:
    """The collector walked every object pglast's and migspec's modules create as they were
    imported (a tenth of a small file's start-up): ``import migspec.cli`` loads no parser (pglast
    comes with the command), and ``lint`` runs paused from its first import to its output - no
    collection at all - then leaves the collector as it found it (in-process callers)."""
    sql = tmp_path / "0001_small.sql"
    sql.write_text(SMALL)
    stats = tmp_path / "stats.yaml"
    stats.write_text(STATS)
    code = ("import contextlib, gc, io, json, sys\n"
            "import migspec.cli\n"
            "parser_at_import = 'pglast' in sys.modules\n"
            "runs, command, out = [], migspec.cli.COMMANDS['lint'], io.StringIO()\n"
            "def traced(args):  # collections from the command's start until its output is written\n"
            "    gc.callbacks.append(lambda phase, info: runs.append(info['generation'])\n"
            "                        if phase == 'start' and not out.getvalue() else None)\n"
            "    return command(args)\n"
            "migspec.cli.COMMANDS['lint'] = traced\n"
            "with contextlib.redirect_stdout(out):\n"
            f"    rc = migspec.cli.main(['lint', {str(sql)!r}, '--stats', {str(stats)!r}])\n"
            "print(json.dumps([rc, parser_at_import, runs, gc.isenabled(), 'pglast' in sys.modules,\n"
            "                  '[setting-not-null-on-existing-column]' in out.getvalue()]))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, check=True)
    assert json.loads(done.stdout) == [1, False, [], True, True, True]


def test_pglast_classes_deferred_until_used_work_as_pglast_s_own() -> None:
    """migspec.deferred leaves pglast's node and enum modules unrun until a name is read from them;
    then they are pglast's modules: classes, enums, submodules, parsing to nodes and printing."""
    code = (
        "import sys, migspec\n"
        "from migspec.deferred import is_deferred\n"
        "import pglast, pglast.parser\n"
        "assert is_deferred('pglast.ast') and is_deferred('pglast.enums')\n"
        "assert pglast.parser.parse_sql_json('SELECT 1').startswith('{')\n"
        "assert is_deferred('pglast.ast') and is_deferred('pglast.enums')\n"
        "import pglast.ast, pglast.enums\n"
        "assert is_deferred('pglast.ast') and pglast.ast is sys.modules['pglast.ast']\n"
        "assert pglast.ast.SelectStmt.__name__ == 'SelectStmt' and pglast.enums.ObjectType.OBJECT_TABLE.name\n"
        "from pglast import ast, enums, parse_sql\n"
        "from pglast.enums.parsenodes import AlterTableType\n"
        "from pglast.stream import RawStream\n"
        "assert not is_deferred('pglast.ast') and not is_deferred('pglast.enums')\n"
        "stmt = parse_sql('ALTER TABLE t ADD COLUMN a int')[0].stmt\n"
        "assert isinstance(stmt, ast.AlterTableStmt) and stmt.cmds[0].subtype is AlterTableType.AT_AddColumn\n"
        "assert enums.AlterTableType is AlterTableType and enums.ObjectType.OBJECT_TABLE == stmt.objtype\n"
        "assert RawStream()(stmt) == 'ALTER TABLE t ADD COLUMN a integer'\n"
        "try:\n"
        "    ast.NoSuchNode\n"
        "except AttributeError as e:\n"
        "    assert 'NoSuchNode' in str(e)\n"
        "else:\n"
        "    raise AssertionError('a missing name must raise AttributeError')\n"
        "print('ok')\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0 and done.stdout == "ok\n", done.stderr

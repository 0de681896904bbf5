"""``migspec lint`` of SQL files imports only what it uses (issue 16: ~90 ms of imports before any
work was most of a small file's time): no database driver, no terminal renderer, no planner,
verify, measure or framework driver, no pglast printer; and the operations never import the
parse layer (issue 15: data flows text -> operations, never back)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

NOT_FOR_LINT = ("psycopg", "rich", "migspec.plan", "migspec.verify", "migspec.measure", "migspec.execute",
                "migspec.pgserver", "migspec.frameworks.django", "migspec.frameworks.alembic", "pglast.stream",
                "pglast.printers", "subprocess")


def _modules_after(code: str) -> set[str]:
    done = subprocess.run([sys.executable, "-c", code + "\nimport sys, json; print(json.dumps(sorted(sys.modules)))"],
                          capture_output=True, text=True, check=True, cwd=ROOT)
    return set(json.loads(done.stdout.splitlines()[-1]))


def _loaded(modules: set[str], prefixes: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if any(m == p or m.startswith(p + ".") for p in prefixes))


def test_lint_of_sql_files_imports_only_what_it_uses(tmp_path: Path) -> None:
    sql = tmp_path / "0001.sql"
    sql.write_text("ALTER TABLE t ADD COLUMN c uuid DEFAULT gen_random_uuid();\n"
                   "UPDATE t SET a = 1 WHERE id = 3;\nCREATE INDEX i ON t (a);\n")
    stats = tmp_path / "stats.yaml"
    stats.write_text("pg_version: 15\ntables:\n  public.t: {rows: 1000000, write_qps: 10, lock_contention: "
                     "{longest_transaction_seconds: 1, lock_waits_per_minute: 0}}\n")
    code = ("import contextlib, io\nfrom migspec.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
            f"    rc = main(['lint', {str(sql)!r}, '--stats', {str(stats)!r}, '--format', 'json'])\n"
            "assert rc in (0, 1), rc\nassert '\"findings\"' in out.getvalue()")
    modules = _modules_after(code)
    assert "migspec.lint" in modules and "migspec.rules.adding_volatile_default" in modules  # it did lint
    assert _loaded(modules, NOT_FOR_LINT) == []


def test_operations_never_import_the_parse_layer() -> None:
    modules = _modules_after("import migspec.ops.base, migspec.ops.constraint, migspec.ops.data, "
                             "migspec.ops.expressions, migspec.ops.index, migspec.ops.misc, migspec.ops.session, "
                             "migspec.ops.table, migspec.ops.types")
    assert _loaded(modules, ("migspec.parse", "pglast.stream", "pglast.printers")) == []

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


#: Every operation module the parse layer may load on first use, and what each file below holds.
OPS_MODULES = ("migspec.ops.table", "migspec.ops.index", "migspec.ops.data", "migspec.ops.misc",
               "migspec.ops.constraint")


def _lint_modules(tmp_path: Path, sql: str) -> tuple[set[str], str]:
    (tmp_path / "m.sql").write_text(sql)
    stats = tmp_path / "stats.yaml"
    stats.write_text("pg_version: 15\ntables:\n  public.t: {rows: 1000000, write_qps: 10, lock_contention: "
                     "{longest_transaction_seconds: 1, lock_waits_per_minute: 0}}\n")
    code = ("import contextlib, io\nfrom migspec.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
            f"    rc = main(['lint', {str(tmp_path / 'm.sql')!r}, '--stats', {str(stats)!r}, '--format', 'json'])\n"
            "assert rc in (0, 1), rc\nprint(out.getvalue().replace(chr(10), ' '))")
    done = subprocess.run([sys.executable, "-c", code + "\nimport sys, json; print(json.dumps(sorted(sys.modules)))"],
                          capture_output=True, text=True, check=True, cwd=ROOT)
    *report, modules = done.stdout.splitlines()
    return set(json.loads(modules)), "\n".join(report)


def test_a_migration_loads_the_operation_modules_of_its_kinds_only(tmp_path: Path) -> None:
    """Rules name the kinds they look at (``Operation.kind``), not classes, so no rule module loads
    an operation module: a CREATE INDEX alone loads ops.index, not the 13 classes of ops.misc."""
    modules, report = _lint_modules(tmp_path, "CREATE INDEX i ON t (a);\n")
    assert "creating-index-non-concurrently" in report
    assert _loaded(modules, OPS_MODULES) == ["migspec.ops.index"]
    modules, report = _lint_modules(tmp_path, "DROP SCHEMA old CASCADE;\n"
                                              "ALTER TABLE t ADD CONSTRAINT c CHECK (a > 0);\n")
    assert "dropping-schema" in report and "adding-check-constraint-without-not-valid" in report
    assert _loaded(modules, OPS_MODULES) == ["migspec.ops.constraint", "migspec.ops.misc"]


def test_rules_name_operation_kinds_that_exist() -> None:
    """A misspelt kind would silently switch a rule off: every kind a rule names is the ``kind`` of
    exactly one operation class."""
    import importlib
    import pkgutil

    import migspec.ops
    from migspec.ops.base import Operation
    from migspec.rules import all_rules

    for info in pkgutil.iter_modules(migspec.ops.__path__):
        importlib.import_module(f"migspec.ops.{info.name}")

    def subclasses(cls: type) -> list[type]:
        return [c for s in cls.__subclasses__() for c in (s, *subclasses(s))]

    owners: dict[str, list[str]] = {}
    for cls in subclasses(Operation):
        if "kind" in vars(cls):
            owners.setdefault(cls.kind, []).append(cls.__name__)
    assert {k: v for k, v in owners.items() if len(v) > 1} == {}
    unknown = {r.name: [k for k in r.operations if k not in owners] for r in all_rules()}
    assert {name: kinds for name, kinds in unknown.items() if kinds} == {}
    assert sum(bool(r.operations) for r in all_rules()) > 25  # most rules look at some kinds only


def test_a_json_stats_file_never_loads_pyyaml(tmp_path: Path) -> None:
    """PyYAML is imported for the first YAML document migspec.plainyaml leaves to it only
    (migspec.documents): a JSON stats file (``migspec measure -o stats.json``) is read by ``json``
    alone, a plain YAML one by migspec.plainyaml; one with an escape goes to PyYAML and still works."""
    sql = tmp_path / "0001.sql"
    sql.write_text("ALTER TABLE t ADD COLUMN c uuid DEFAULT gen_random_uuid();\n")
    table = {"rows": 1000000, "write_qps": 10,
             "lock_contention": {"longest_transaction_seconds": 1, "lock_waits_per_minute": 0}}
    (tmp_path / "stats.json").write_text(json.dumps({"pg_version": 15, "tables": {"public.t": table}}))
    (tmp_path / "stats.yaml").write_text("pg_version: 15\ntables:\n  public.t: " + json.dumps(table) + "\n")
    (tmp_path / "escaped.yaml").write_text('pg_version: 15\nsource: "prod\\u00e9"\ntables:\n  public.t: '
                                           + json.dumps(table) + "\n")
    for name, yaml_loaded in (("stats.json", False), ("stats.yaml", False), ("escaped.yaml", True)):
        code = ("import contextlib, io\nfrom migspec.cli import main\n"
                "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
                f"    rc = main(['lint', {str(sql)!r}, '--stats', {str(tmp_path / name)!r}, '--format', 'json'])\n"
                "assert rc == 1, rc\nassert 'adding-volatile-default' in out.getvalue()")
        assert ("yaml" in _modules_after(code)) is yaml_loaded, name

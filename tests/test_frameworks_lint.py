"""migspec lint of real Django and Alembic projects (tests/frameworks/): the frameworks themselves
render the SQL (Django's schema editor, Alembic's offline mode), findings point at the .py lines."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest

from migspec.cli import main
from migspec.frameworks import ProjectOptions, load_project, to_migration
from migspec.lint import lint
from migspec.parse.source import load_migration
from migspec.stats import parse_stats

HERE = Path(__file__).parent / "frameworks"
DJANGO = HERE / "djproject"
ALEMBIC = HERE / "alproject"
LOAD = {"longest_transaction_seconds": 1, "lock_waits_per_minute": 0}
APPLIED_DJANGO = ["contenttypes.0001_initial", "contenttypes.0002_remove_content_type_name",
                  "accounts.0001_initial", "accounts.0002_customer_email", "accounts.0003_customer_phone",
                  "shop.0001_initial"]


def _stats(**applied: list[str]):
    tables = {t: {"rows": 2_000_000, "write_qps": 40, "lock_contention": LOAD}
              for t in ("shop_order", "accounts_customer", "orders", "customer")}
    return parse_stats({"source": "production", "pg_version": 16, "tables": tables,
                        "applied_migrations": applied}, "test stats")


def _hits(report, root: Path) -> set[tuple[str, str]]:
    """(rule, file:line) with the file relative to the project (findings name it from the cwd)."""
    out = set()
    for f in report.findings:
        file = Path(f.location.file).resolve()
        out.add((f.rule, f"{file.relative_to(root.resolve())}:{f.location.line}"))
    return out


def _django_python(release: str) -> str | None:
    """The project's interpreter: migspec's own (the test extra pins the latest Django, 5.2 - Django 6
    needs Python 3.12 and this suite runs on 3.11), or one with the LTS, 4.2, from the framework cache."""
    if release == "latest":
        return None
    from upgrade_env import DJANGO_CURRENT, python_with

    return python_with(f"django=={DJANGO_CURRENT}")


@pytest.mark.parametrize("release", ["latest", "lts"])
def test_django_findings_point_at_the_migration_files(release: str) -> None:
    stats = _stats(django=APPLIED_DJANGO)
    project = load_project(DJANGO, ProjectOptions(applied=tuple(APPLIED_DJANGO), python=_django_python(release)))
    assert project.framework_version.startswith("5.2" if release == "latest" else "4.2")
    assert [m.key for m in project.migrations] == [f"shop.{n}" for n in (
        "0002_order_status", "0003_order_customer", "0004_rename_total_amount", "0005_order_status_idx",
        "0006_alter_order_amount", "0007_backfill_note")]
    report = lint(to_migration(project), stats)
    hits = _hits(report, DJANGO)
    m = "shop/migrations/"
    assert {("renaming-column", f"{m}0004_rename_total_amount.py:8"),
            ("creating-index-non-concurrently", f"{m}0005_order_status_idx.py:8"),
            ("creating-index-non-concurrently", f"{m}0003_order_customer.py:10"),
            ("changing-column-type", f"{m}0006_alter_order_amount.py:8"),
            # RunPython: the ORM .update() inside fill_notes, at its own line
            ("updating-rows-in-one-statement", f"{m}0007_backfill_note.py:8"),
            # RunPython handing apps to a helper in another module: unknown work, said so
            ("unknown-work", f"{m}0007_backfill_note.py:12"),
            ("updating-rows-in-one-statement", f"{m}0007_backfill_note.py:21")} <= hits
    rename = next(f for f in report.findings if f.rule == "renaming-column")
    assert rename.origin.startswith('migrations.RenameField(model_name="order", old_name="total"')
    opaque = next(f for f in report.findings if f.rule == "unknown-work")
    assert "recompute_everything(apps)" in opaque.message
    # Django's bookkeeping table is never a table to measure; SET CONSTRAINTS is not unknown work.
    assert all("django_migrations" not in (f.table or "") for f in report.findings)
    assert not any(f.rule == "unknown-work" and "ConstraintsSet" in f.message for f in report.findings)


def test_django_squashed_migrations_follow_what_production_applied() -> None:
    def keys(applied):
        project = load_project(DJANGO, ProjectOptions(applied=applied))
        return [m.key for m in project.migrations if m.key.startswith("accounts.")]

    # Nothing applied: Django runs the squashed migration instead of the three it replaces.
    assert keys(()) == ["accounts.0001_squashed_0003_customer_phone"]
    # Partly applied: the squashed one cannot be used; the rest of the originals are pending.
    assert keys(("accounts.0001_initial",)) == ["accounts.0002_customer_email", "accounts.0003_customer_phone"]
    assert keys(tuple(APPLIED_DJANGO)) == []


def test_alembic_findings_point_at_revision_files_across_heads() -> None:
    stats = _stats(alembic=["a1"])
    project = load_project(ALEMBIC, ProjectOptions(applied=("a1",)))
    assert sorted(m.key for m in project.migrations) == ["b2", "c3", "d4"]  # both heads
    report = lint(to_migration(project), stats)
    hits = _hits(report, ALEMBIC)
    v = "migrations/versions/"
    assert {("renaming-column", f"{v}b2_rename_and_not_null.py:16"),
            ("adding-not-null-column-without-default", f"{v}b2_rename_and_not_null.py:18"),
            ("changing-column-type", f"{v}d4_type_and_backfill.py:18"),
            ("updating-rows-in-one-statement", f"{v}d4_type_and_backfill.py:20"),  # through op.get_bind()
            ("unknown-work", f"{v}d4_type_and_backfill.py:21"),
            ("creating-index-non-concurrently", f"{v}c3_fk_and_index.py:18")} <= hits
    # autocommit_block(): Alembic's own COMMIT precedes the CONCURRENTLY build, so nothing to say.
    assert not any(h[1].endswith("c3_fk_and_index.py:20") and h[0] != "lock-wait-without-timeout" for h in hits)
    assert all(f.table != "public.alembic_version" for f in report.findings)


def test_cli_lint_project_uses_the_stats_record(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stats = tmp_path / "stats.json"
    doc = {"source": "production", "applied_migrations": {"django": APPLIED_DJANGO + [
        "shop.0002_order_status", "shop.0003_order_customer", "shop.0004_rename_total_amount",
        "shop.0005_order_status_idx"]},
           "tables": {"shop_order": {"rows": 10, "write_qps": 1, "lock_contention": LOAD}}}
    stats.write_text(json.dumps(doc))
    assert main(["lint", str(DJANGO), "--stats", str(stats), "--format", "json", "--fail-on", "red"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert {f["location"].split(":")[0] for f in out["findings"]} == {
        str((DJANGO / "shop/migrations" / name).relative_to(Path.cwd()))
        for name in ("0006_alter_order_amount.py", "0007_backfill_note.py")}
    assert any(f.get("origin", "").startswith("migrations.RunPython(recompute") for f in out["findings"])
    doc["applied_migrations"]["django"] += ["shop.0006_alter_order_amount", "shop.0007_backfill_note"]
    stats.write_text(json.dumps(doc))
    assert main(["lint", str(DJANGO), "--stats", str(stats)]) == 0
    assert "no pending django migrations" in capsys.readouterr().err


def test_cli_project_mistakes_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lint", str(DJANGO), "--since", "shop.9999"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("migspec: ") and err.count("\n") == 1 and "9999" in err
    assert main(["lint", str(DJANGO), "--django-settings", "no.such.settings"]) == 2
    err = capsys.readouterr().err
    assert "no.such.settings" in err and err.count("\n") == 1
    assert main(["lint", str(ALEMBIC), "--since", "zzz"]) == 2
    assert "zzz" in capsys.readouterr().err
    (tmp_path / "x.sql").write_text("SELECT 1;")
    assert main(["lint", str(tmp_path / "x.sql"), "--since", "a1"]) == 2


def test_django_same_hazards_as_sqlmigrate_on_a_real_server(pg_dsn: str, tmp_path: Path) -> None:
    """The equivalent SQL is Django's own ``sqlmigrate`` (which needs a database); linting it finds
    the same rules on the same tables as linting the project, minus RunPython (not SQL)."""
    env = {**os.environ, "MIGSPEC_TEST_DSN": pg_dsn, "PYTHONPATH": str(DJANGO)}
    pending = ["0002_order_status", "0003_order_customer", "0004_rename_total_amount", "0005_order_status_idx",
               "0006_alter_order_amount", "0007_backfill_note"]
    files = []
    for name in pending:
        sql = subprocess.run([sys.executable, "manage.py", "sqlmigrate", "shop", name], cwd=DJANGO, env=env,
                             capture_output=True, text=True, check=True).stdout
        path = tmp_path / f"{name}.sql"
        path.write_text(sql)
        files.append(path)
    stats = _stats(django=APPLIED_DJANGO)
    from_sql = lint(load_migration(files), stats)
    from_project = lint(to_migration(load_project(DJANGO, ProjectOptions(applied=tuple(APPLIED_DJANGO)))), stats)

    def rules(report) -> Counter:
        # RunPython: sqlmigrate prints a placeholder comment (unknown work); the project is read
        # from the function's source instead (tests above).
        return Counter((f.rule, f.table) for f in report.findings
                       if "RunPython" not in f.origin and "CANNOT BE WRITTEN AS SQL" not in f.statement)
    assert rules(from_project) == rules(from_sql)
    assert sum(1 for f in from_sql.findings if "CANNOT BE WRITTEN AS SQL" in f.statement and
               f.rule == "unknown-work") == 2


def test_django_bigautofield_switch_read_on_a_throwaway_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    """The DEFAULT_AUTO_FIELD switch, as Django's own makemigrations writes it: AlterField of a
    primary key has SQL only against a live schema (the FKs pointing at it are looked up), so migspec
    runs the applied migrations on a throwaway server and collects the SQL there."""
    project = tmp_path / "big"
    shutil.copytree(HERE / "djemit", project)
    (project / "ledger/migrations/0002_rename_total_amount.py").unlink()
    (project / "ledger/models.py").write_text(
        "from django.db import models\n\n\nclass Entry(models.Model):\n    total = models.IntegerField()\n"
        "    note = models.CharField(max_length=100, default='')\n\n\nclass Line(models.Model):\n"
        "    entry = models.ForeignKey(Entry, on_delete=models.CASCADE)\n")
    env = {**os.environ, "PYTHONPATH": str(project)}
    for name, auto in (("line", "django.db.models.AutoField"), ("bigautofield", "django.db.models.BigAutoField")):
        subprocess.run([sys.executable, "manage.py", "makemigrations", "ledger", "-n", name], cwd=project, check=True,
                       env={**env, "MIGSPEC_TEST_AUTO_FIELD": auto}, capture_output=True)
    stats = tmp_path / "stats.json"
    stats.write_text(json.dumps({"source": "production", "tables": {
        t: {"rows": 200_000, "write_qps": 40, "lock_contention": LOAD, "columns": {"id": "integer"}}
        for t in ("ledger_entry", "ledger_line")},
        "applied_migrations": {"django": ["ledger.0001_initial", "ledger.0002_line"]}}))
    monkeypatch.setenv("MIGSPEC_TEST_AUTO_FIELD", "django.db.models.BigAutoField")  # the settings' switch
    assert main(["lint", str(project), "--stats", str(stats), "--format", "json", "--fail-on", "red"]) == 0
    captured = capsys.readouterr()
    assert "DEFAULT_AUTO_FIELD switch: 2 primary key(s)" in captured.err and "throwaway" in captured.err
    findings = json.loads(captured.out)["findings"]
    assert not [f for f in findings if f["rule"] == "unknown-work"]
    retyped = {(f["table"], f["location"].rsplit(":", 2)[0].endswith("0003_bigautofield.py"))
               for f in findings if f["rule"] == "changing-column-type"}
    assert retyped == {("public.ledger_entry", True), ("public.ledger_line", True)}
    assert any(f["rule"] == "dropping-constraint" and f["table"] == "public.ledger_line" for f in findings)


def test_alembic_same_hazards_as_its_offline_sql(tmp_path: Path) -> None:
    """``alembic upgrade --sql`` is the equivalent SQL where Alembic can render it (branch c3); on
    d4 (a helper reading rows through op.get_bind()) Alembic's own offline mode fails, migspec reads it."""
    env = {**os.environ, "PYTHONPATH": str(ALEMBIC)}
    offline = subprocess.run([sys.executable, "-m", "alembic", "upgrade", "a1:c3", "--sql"], cwd=ALEMBIC, env=env,
                             capture_output=True, text=True, check=True).stdout
    (tmp_path / "c3.sql").write_text(offline)
    failed = subprocess.run([sys.executable, "-m", "alembic", "upgrade", "b2:d4", "--sql"], cwd=ALEMBIC, env=env,
                            capture_output=True, text=True)
    assert failed.returncode != 0 and "fetchall" in failed.stderr
    stats = _stats(alembic=["a1"])
    from_sql = lint(load_migration([tmp_path / "c3.sql"]), stats)
    project = load_project(ALEMBIC, ProjectOptions(applied=("a1",)))
    c3_only = replace(project, migrations=tuple(m for m in project.migrations if m.key in ("b2", "c3")))
    from_project = lint(to_migration(c3_only), stats)

    def rules(report) -> Counter:
        return Counter((f.rule, f.table) for f in report.findings if f.table != "public.alembic_version")
    assert rules(from_project) == rules(from_sql)


def test_measure_then_lint_a_django_project(pg_dsn: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The user's flow: production (here a real server) has some migrations applied; measure reads
    which (django_migrations) and measures the tables the pending ones touch; lint reads only those."""
    env = {**os.environ, "MIGSPEC_TEST_DSN": pg_dsn, "PYTHONPATH": str(DJANGO)}
    for app, name in (("contenttypes", "0002"), ("accounts", "0001_squashed_0003_customer_phone"),
                      ("shop", "0004_rename_total_amount")):
        subprocess.run([sys.executable, "manage.py", "migrate", app, name], cwd=DJANGO, env=env, check=True,
                       capture_output=True)
    stats = tmp_path / "stats.yaml"
    assert main(["measure", "--dsn", pg_dsn, "--migration", str(DJANGO), "--sample-seconds", "0.5",
                 "-o", str(stats)]) == 0
    capsys.readouterr()
    import yaml

    doc = yaml.safe_load(stats.read_text())
    assert "shop.0004_rename_total_amount" in doc["applied_migrations"]["django"]
    assert "accounts.0001_squashed_0003_customer_phone" in doc["applied_migrations"]["django"]
    assert set(doc["tables"]) == {"public.shop_order"}  # what 0005-0007 touch
    assert main(["lint", str(DJANGO), "--stats", str(stats), "--format", "json", "--fail-on", "red"]) == 1
    out = json.loads(capsys.readouterr().out)
    files = {Path(f["location"].split(":")[0]).name for f in out["findings"]}
    assert files == {"0005_order_status_idx.py", "0006_alter_order_amount.py", "0007_backfill_note.py"}


def test_alembic_revision_reading_rows_runs_on_a_throwaway_server(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """A revision that reads through op.get_bind() (a count sizing its work) has no offline
    rendering - Alembic's own --sql fails on it; migspec runs it on a throwaway server."""
    project = tmp_path / "alf"
    shutil.copytree(HERE / "alemit", project)
    shutil.copy(HERE / "e3_reads_through_get_bind.py.txt", project / "migrations/versions/e3_backfill.py")
    failed = subprocess.run([sys.executable, "-m", "alembic", "upgrade", "e1:e3", "--sql"], cwd=project,
                            env={**os.environ, "PYTHONPATH": str(project)}, capture_output=True, text=True)
    assert failed.returncode != 0
    stats = tmp_path / "stats.json"
    stats.write_text(json.dumps({"source": "production", "applied_migrations": {"alembic": ["e1"]},
                                 "tables": {"entry": {"rows": 2_000_000, "write_qps": 40, "lock_contention": LOAD}}}))
    assert main(["lint", str(project), "--stats", str(stats), "--format", "json"]) == 1
    captured = capsys.readouterr()
    assert "throwaway PostgreSQL" in captured.err
    hits = {(f["rule"], Path(f["location"].rsplit(":", 2)[0]).name + ":" + f["location"].rsplit(":", 2)[1])
            for f in json.loads(captured.out)["findings"]}
    assert {("renaming-column", "e2_rename.py:15"), ("updating-rows-in-one-statement", "e3_backfill.py:20"),
            ("lock-held-across-statements", "e3_backfill.py:20"),
            ("creating-index-non-concurrently", "e3_backfill.py:21")} <= hits

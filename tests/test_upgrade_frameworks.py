"""``migspec upgrade django|sqlalchemy`` against real, pinned framework releases (installed once
into a cache by ``upgrade_env``): the sample projects' tests pass on the current release and fail
on the target; every loud finding alone makes them fail on the target; the plan's EXPAND changes
(django-upgrade, the guide's replacements), applied, make them pass on both releases."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from migspec.cli import main
from migspec.upgrade import removals
from migspec.upgrade.django import releases
from migspec.upgrade.scanner import scan
from upgrade_env import (DJANGO_CURRENT, DJANGO_TARGET, DJANGO_UPGRADE, SAMPLES, SQLALCHEMY_CURRENT,
                         SQLALCHEMY_TARGET, copy_sample, install, python_with)


def _django_tests(python: str, project: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([python, "manage.py", "test"], cwd=project, capture_output=True, text=True, timeout=300)


def _sa_tests(python: str, project: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([python, "-m", "unittest", "discover"], cwd=project, capture_output=True, text=True,
                          timeout=300)


@pytest.fixture(scope="module")
def django_pythons() -> tuple[str, str]:
    return python_with(f"django=={DJANGO_CURRENT}"), python_with(f"django=={DJANGO_TARGET}")


@pytest.fixture(scope="module")
def sa_pythons() -> tuple[str, str]:
    return python_with(f"sqlalchemy=={SQLALCHEMY_CURRENT}"), python_with(f"sqlalchemy=={SQLALCHEMY_TARGET}")


def _apply_django_expand(project: Path, current: str) -> None:
    """The plan's EXPAND code changes: django-upgrade for the rows it has fixers for, then the
    release notes' replacement for the one it has none for (length_is -> length ==)."""
    fixer = python_with(f"django-upgrade=={DJANGO_UPGRADE}")
    files = [str(p.relative_to(project)) for p in project.rglob("*.py")]
    subprocess.run([fixer, "-m", "django_upgrade", "--target-version", current, *files], cwd=project,
                   capture_output=True, text=True, timeout=120)
    template = project / "shop" / "templates" / "shop" / "orders.html"
    template.write_text(template.read_text().replace('orders|length_is:"0"', "orders|length == 0"))


def _upgrade_json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict:  # type: ignore[type-arg]
    assert main(["upgrade", *argv, "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_django_loud_findings_fail_on_the_target_and_expand_fixes_pass_on_both(
        tmp_path: Path, django_pythons: tuple[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    old, new = django_pythons
    original = copy_sample("django_project", tmp_path / "original")
    assert _django_tests(old, original).returncode == 0
    failed = _django_tests(new, original)
    assert failed.returncode != 0 and "index_together" in failed.stderr

    doc = _upgrade_json(capsys, "django", str(original), "--to", "5.2", "--python", old, "--target-python", new,
                        "--pg-version", "16", "--run-tests")
    up = doc["upgrade"]
    assert up["installed"] == DJANGO_CURRENT and up["path"] == ["5.0", "5.1", "5.2"]
    assert up["postgresql"] == {"server": 16, "target_minimum": 14}
    assert up["warnings"]["ok"] and up["warnings"]["warnings"]["RemovedInDjango51Warning"] > 0
    assert up["target_tests"]["ok"] is False
    assert doc["risk"] == "RED"  # silent settings changes (USE_TZ, USE_L10N, DEFAULT_FILE_STORAGE)
    # DEFAULT_AUTO_FIELD unset: Django's own check says so under both; the plan pins today's key type
    assert up["system_checks"] == {"models.W042": 1}
    assert any("DEFAULT_AUTO_FIELD" in s["description"] for s in doc["phases"][0]["steps"])
    assert [p["name"] for p in doc["phases"]] == ["expand", "migrate", "contract"]
    assert all(s["down_note"] for p in doc["phases"] for s in p["steps"])
    loud = [f for f in up["findings"] if f["severity"] == "loud"]
    assert {f["label"] for f in loud} == {"django.utils.timezone.utc", "index_together", "length_is",
                                         "TransactionTestCase.assertQuerysetEqual"}

    fixed = copy_sample("django_project", tmp_path / "fixed")
    _apply_django_expand(fixed, "4.2")
    assert not [m for m in scan(fixed, removals.crossing("django", "4.2", "5.2")) if m.row.severity == "loud"]
    for python in (old, new):
        run = _django_tests(python, fixed)
        assert run.returncode == 0, run.stderr[-2000:]

    # each loud finding alone (its file put back as it was) fails under the target, not the current
    for finding in loud:
        trial = tmp_path / f"trial-{finding['line']}-{Path(finding['path']).stem}"
        shutil.copytree(fixed, trial)
        shutil.copy(original / finding["path"], trial / finding["path"])
        assert _django_tests(old, trial).returncode == 0, finding
        assert _django_tests(new, trial).returncode != 0, finding

    # the fixed project under the target: index_together -> indexes needs a RenameIndex migration,
    # which the plan routes through the schema planner
    stats = tmp_path / "stats.yaml"
    stats.write_text("pg_version: 16\nsource: production\ntables:\n  public.shop_order:\n    rows: 50000\n"
                     "    write_qps: 20\n    lock_contention: {longest_transaction_seconds: 1, lock_waits_per_minute: 0}\n")
    doc = _upgrade_json(capsys, "django", str(fixed), "--to", "5.2", "--python", old, "--target-python", new,
                        "--stats", str(stats))
    migrations = doc["upgrade"]["target_migrations"]
    assert migrations and "rename" in migrations[0]
    # ... which the schema planner plans: Django 5.2's RenameIndex is an ALTER INDEX ... RENAME, with its DOWN
    planned = [s for s in doc["phases"][1]["steps"] if s["up"]]
    assert planned and any("ALTER INDEX" in sql and "RENAME TO" in sql for s in planned for sql in s["up"])
    # the schema planner knows no DOWN for ALTER INDEX ... RENAME (yet): it says so instead of guessing
    assert all(s["down"] or s["down_note"] for s in planned)
    assert list(fixed.joinpath("shop", "migrations").glob("0002*")) == []  # the project was not touched
    # contrib apps (auth, contenttypes) gain no migration from 4.2 to 5.2: listed from both releases' files
    assert doc["upgrade"]["framework_migrations"] == []


def test_django_plan_to_the_latest_release(tmp_path: Path, django_pythons: tuple[str, str],
                                           capsys: pytest.CaptureFixture[str]) -> None:
    old, _ = django_pythons
    latest = max(releases(), key=lambda v: tuple(map(int, v.split("."))))  # the newest the data knows
    doc = _upgrade_json(capsys, "django", str(SAMPLES / "django_project"), "--to", latest, "--python", old,
                        "--pg-version", "14")
    up = doc["upgrade"]
    assert up["path"][-1] == latest and up["path"][0] == "5.0"
    rules = {r["rule"] for r in up["reasons"]}
    # Django 6.x needs Python 3.12+ and (6.1) PostgreSQL 15+: both refuse to run here
    assert "python_unsupported" in rules and "postgres_below_minimum" in rules
    assert doc["phases"][0]["steps"][0]["description"].startswith("upgrade PostgreSQL 14 -> 15")


def test_sqlalchemy_loud_and_silent_findings_are_real_and_expand_fixes_pass_on_both(
        tmp_path: Path, sa_pythons: tuple[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    old, new = sa_pythons
    original = copy_sample("sqlalchemy_project", tmp_path / "original")
    assert _sa_tests(old, original).returncode == 0
    assert _sa_tests(new, original).returncode != 0

    doc = _upgrade_json(capsys, "sqlalchemy", str(original), "--to", "2.0", "--python", old, "--target-python", new,
                        "--run-tests")
    up = doc["upgrade"]
    assert up["installed"] == SQLALCHEMY_CURRENT and up["warnings"]["warnings"]["RemovedIn20Warning"] > 0
    assert doc["risk"] == "RED"  # library-level autocommit: writes silently lost
    assert any(r["rule"] == "silent_findings" for r in up["reasons"])

    fixed = copy_sample("sqlalchemy_project", tmp_path / "fixed")
    for f in (SAMPLES / "sqlalchemy_fixed" / "app").iterdir():
        shutil.copy(f, fixed / "app" / f.name)
    for python in (old, new):
        run = _sa_tests(python, fixed)
        assert run.returncode == 0, run.stderr[-2000:]

    # every finding alone fails under 2.0 - the silent one too, because a test reads the write back
    for path in sorted({f["path"] for f in up["findings"]}):
        trial = tmp_path / f"trial-{Path(path).stem}"
        shutil.copytree(fixed, trial)
        shutil.copy(original / path, trial / path)
        assert _sa_tests(old, trial).returncode == 0, path
        result = _sa_tests(new, trial)
        assert result.returncode != 0, path
    writes = tmp_path / "trial-writes"
    assert "[] != ['ada', 'bob']" in _sa_tests(new, writes).stderr  # no error: the rows were never committed


def test_dependency_ranges_come_from_installed_classifiers(tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    # django-debug-toolbar 4.1.0 declares Django 3.2-4.2 in its trove classifiers, not 5.x
    python = python_with(f"django=={DJANGO_CURRENT}", "django-debug-toolbar==4.1.0")
    doc = _upgrade_json(capsys, "django", str(SAMPLES / "django_project"), "--to", "5.2", "--python", python,
                        "--pg-version", "16")
    deps = {d["name"]: d for d in doc["upgrade"]["dependencies"]}
    assert deps["django-debug-toolbar"]["supported"] == ["3.2", "4.0", "4.1", "4.2"]
    assert deps["django-debug-toolbar"]["supports_current"] and not deps["django-debug-toolbar"]["supports_target"]
    assert any(r["rule"] == "dependency_without_target" for r in doc["upgrade"]["reasons"])
    assert any(s["description"].startswith("upgrade django-debug-toolbar 4.1.0") for s in doc["phases"][0]["steps"])


def test_refusals_and_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    project = str(SAMPLES / "django_project")
    assert main(["upgrade", "django", project, "--to", "5.2", "--from", "4.2.30"]) == 3
    assert "PostgreSQL server version is unknown" in capsys.readouterr().err
    # an interpreter without site-packages has no Django: the installed version is unknown
    bare = tmp_path / "bare-python"
    bare.write_text(f'#!/bin/sh\nPYTHONPATH= exec {sys.executable} -S "$@"\n')
    bare.chmod(0o755)
    assert main(["upgrade", "django", project, "--to", "5.2", "--pg-version", "16", "--python", str(bare)]) == 3
    assert "installed Django version is unknown" in capsys.readouterr().err
    assert main(["upgrade", "django", project, "--to", "9.9", "--from", "4.2.1", "--pg-version", "16"]) == 2
    assert main(["upgrade", "django", str(tmp_path / "nope"), "--to", "5.2"]) == 2
    assert main(["upgrade", "sqlalchemy", project, "--to", "3.0", "--from", "1.4.54"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("migspec: ") >= 3


def test_install_is_cached() -> None:
    assert install(f"django=={DJANGO_CURRENT}") == install(f"django=={DJANGO_CURRENT}")

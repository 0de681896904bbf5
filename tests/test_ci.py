"""CI integration: [tool.migspec] in pyproject.toml, the pre-commit hooks, the GitHub Action's script."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from migspec.cli import main

ROOT = Path(__file__).parent.parent
DJANGO = Path(__file__).parent / "frameworks" / "djproject"
LOAD = {"longest_transaction_seconds": 1, "lock_waits_per_minute": 0}
APPLIED = ["contenttypes.0001_initial", "contenttypes.0002_remove_content_type_name", "accounts.0001_initial",
           "accounts.0002_customer_email", "accounts.0003_customer_phone", "shop.0001_initial",
           "shop.0002_order_status", "shop.0003_order_customer"]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository whose pyproject.toml points at the sample Django project and a stats file."""
    (tmp_path / "stats.json").write_text(json.dumps({
        "source": "production", "applied_migrations": {"django": APPLIED},
        "tables": {"shop_order": {"rows": 3_000_000, "write_qps": 30, "lock_contention": LOAD}}}))
    (tmp_path / "pyproject.toml").write_text(f"""
[project]
name = "shop"

[tool.migspec]
project = "{DJANGO}"
stats = "stats.json"
fail-on = "yellow"
ignore = [{{rule = "lock-wait-without-timeout", reason = "the deploy job sets lock_timeout"}}]
""")
    return tmp_path


def _migspec(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "migspec", *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, **(env or {})})


def test_pyproject_settings_drive_lint(repo: Path, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(repo)
    assert main(["lint", "--format", "json"]) == 1  # project, stats and fail-on from [tool.migspec]
    out = json.loads(capsys.readouterr().out)
    ignored = [f for f in out["findings"] if f["rule"] == "lock-wait-without-timeout"]
    assert ignored and all(f["suppressed"].startswith("the deploy job sets lock_timeout") for f in ignored)
    assert {f["rule"] for f in out["findings"] if not f["suppressed"]} >= {"renaming-column", "unknown-work"}
    assert main(["lint", "--fail-on", "red", "--since", "shop.0006_alter_order_amount"]) == 1  # unknown work: RED
    capsys.readouterr()


@pytest.mark.parametrize("table, message", [
    ('ignore = [{rule = "renaming-column"}]', "needs a reason"),
    ('ignore = [{rule = "no-such-rule", reason = "x"}]', "unknown rule"),
    ('fail-on = "orange"', "fail-on: must be one of"),
    ('colour = "blue"', "unknown key"),
])
def test_pyproject_mistakes_are_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str], table: str, message: str) -> None:
    (tmp_path / "pyproject.toml").write_text(f'[tool.migspec]\nproject = "."\n{table}\n')
    monkeypatch.chdir(tmp_path)
    assert main(["lint"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("migspec: ") and err.count("\n") == 1 and message in err


def test_no_path_and_no_project_is_a_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["lint"]) == 2
    assert "[tool.migspec]" in capsys.readouterr().err


def _hooks() -> dict[str, dict]:
    return {h["id"]: h for h in yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())}


def test_pre_commit_hook_runs_as_pre_commit_would(repo: Path) -> None:
    hook = _hooks()["migspec-lint"]
    files = re.compile(hook["files"])
    assert files.search("shop/migrations/0004_rename_total_amount.py")
    assert files.search("migrations/versions/b2_rename.py") and files.search("pyproject.toml")
    assert not files.search("shop/models.py")
    assert hook["pass_filenames"] is False and hook["language"] == "python"
    # pre-commit runs the entry (the console script) in the repository root, with args, no filenames
    entry = shlex.split(hook["entry"])
    assert entry[0] == "migspec"
    done = _migspec(entry[1:] + hook.get("args", []), cwd=repo)
    assert done.returncode == 1, done.stderr
    assert "0004_rename_total_amount.py:8:9: YELLOW [renaming-column]" in done.stdout


def test_pre_commit_sql_hook_takes_the_changed_files(tmp_path: Path) -> None:
    hook = _hooks()["migspec-lint-sql"]
    assert hook.get("pass_filenames", True) and re.search(hook["files"], "db/0001_add.sql")
    (tmp_path / "0001_add.sql").write_text("CREATE TABLE t (id int);\nCREATE INDEX t_i ON t (id);\n")
    done = _migspec(shlex.split(hook["entry"])[1:] + ["0001_add.sql"], cwd=tmp_path)
    assert done.returncode == 0, done.stderr


def test_action_script_writes_sarif_annotations_and_summary(repo: Path) -> None:
    action = yaml.safe_load((ROOT / "action.yml").read_text())
    lint_step = next(s for s in action["runs"]["steps"] if s.get("id") == "lint")
    assert lint_step["run"] == "python3 -m migspec.ci.action"
    for name in ("path", "stats", "fail-on", "args", "sarif-file"):  # every input reaches the script
        assert f"INPUT_{name.upper().replace('-', '_')}" in lint_step["env"] and name in action["inputs"]
    assert any("upload-sarif" in s.get("uses", "") for s in action["runs"]["steps"])

    summary, output = repo / "summary.md", repo / "output.txt"
    env = {"GITHUB_STEP_SUMMARY": str(summary), "GITHUB_OUTPUT": str(output), "INPUT_PATH": "",
           "INPUT_STATS": "", "INPUT_FAIL_ON": "", "INPUT_ARGS": "", "INPUT_SARIF_FILE": "out.sarif"}
    done = subprocess.run([sys.executable, "-m", "migspec.ci.action"], cwd=repo, capture_output=True, text=True,
                          env={**os.environ, **env})
    assert done.returncode == 1, done.stderr
    sarif = json.loads((repo / "out.sarif").read_text())
    results = sarif["runs"][0]["results"]
    uris = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in results}
    assert any(u.endswith("shop/migrations/0004_rename_total_amount.py") for u in uris)
    assert any(r["message"]["text"].startswith("migrations.RenameField(") for r in results)
    assert re.search(r"^::warning file=.*0004_rename_total_amount\.py,line=8,", done.stdout, re.M)
    text = summary.read_text()
    assert text.startswith("## migspec: djproject") and "| YELLOW | `" in text and "(allowed)" in text
    outputs = dict(line.split("=", 1) for line in output.read_text().splitlines())
    assert outputs["risk"] == "RED" and int(outputs["findings"]) > 0 and outputs["sarif-file"] == "out.sarif"

    # Nothing pending: a green summary and exit 0.
    env["INPUT_ARGS"] = "--since shop.0007_backfill_note --since accounts.0001_squashed_0003_customer_phone " \
                        "--since contenttypes.0002_remove_content_type_name"
    done = subprocess.run([sys.executable, "-m", "migspec.ci.action"], cwd=repo, capture_output=True, text=True,
                          env={**os.environ, **env})
    assert done.returncode == 0, done.stderr
    assert "no pending django migrations" in summary.read_text()


def test_scripts_test_reads_option_values_as_options_not_test_names() -> None:
    """``bash scripts/test -p no:cacheprovider`` still runs the per-major suites: an option's value
    is not a test name (a test name means "just these, on the default server"). It read
    ``no:cacheprovider`` as a test name and skipped the majors without a word."""
    env = {**os.environ, "MIGSPEC_CI_MAJORS": "13"}
    args = ["--collect-only", "-q", "-p", "no:cacheprovider", "-k", "test_a_server_that_cannot_start"]
    done = subprocess.run(["bash", str(ROOT / "scripts" / "test"), *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "per-major suites on PostgreSQL 13" in done.stderr
    named = subprocess.run(["bash", str(ROOT / "scripts" / "test"), *args, "tests/test_pgserver.py"], cwd=ROOT,
                           env=env, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert named.returncode == 0 and "per-major" not in named.stderr, named.stdout + named.stderr

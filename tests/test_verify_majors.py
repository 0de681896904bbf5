"""``migspec verify --pg-version N``: the proof runs on a throwaway server of major N and the
report says which server it was (13 and 18: the oldest and newest supported majors, one from
npm without client programs, one from PyPI with them)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from migspec import pginstall
from migspec.cli import main

SCHEMA = """
CREATE TABLE orders (id bigint PRIMARY KEY, customer_id bigint, note text, created_at timestamptz NOT NULL DEFAULT now());
CREATE INDEX orders_note_idx ON orders (note);
"""
TABLE = {"rows": 2_000_000, "size_bytes": 300_000_000, "write_qps": 50,
         "lock_contention": {"longest_transaction_seconds": 1, "lock_waits_per_minute": 0}}
MIGRATIONS = {
    "rename": "ALTER TABLE orders RENAME COLUMN note TO remark;",
    "index": "CREATE INDEX orders_created_idx ON orders (created_at);",
}


def _inputs(tmp_path: Path, kind: str, stats_major: int | None) -> list[str]:
    schema = tmp_path / "schema.sql"
    schema.write_text(SCHEMA)
    migration = tmp_path / f"{kind}.sql"
    migration.write_text(MIGRATIONS[kind] + "\n")
    stats = tmp_path / "stats.yaml"
    doc = {"source": "production", "tables": {"public.orders": TABLE}}
    if stats_major is not None:
        doc["pg_version"] = stats_major
    stats.write_text(yaml.safe_dump(doc))
    return [str(migration), "--schema", str(schema), "--stats", str(stats)]


@pytest.mark.parametrize("major", [13, 18])
@pytest.mark.parametrize("kind", sorted(MIGRATIONS))
@pytest.mark.parametrize("how", ["--pg-version", "stats"])
def test_verify_runs_on_the_major_asked_for(major: int, kind: str, how: str, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    """``--pg-version N`` wins over the stats file's major; without it the stats file's is used."""
    if pginstall.server_bindir(major) is None:
        pytest.fail(f"PostgreSQL {major} is not installed: run `{pginstall.install_hint(major)}`", pytrace=False)
    other = 18 if major == 13 else 13
    if how == "--pg-version":
        args = [*_inputs(tmp_path, kind, other), "--pg-version", str(major)]
    else:
        args = _inputs(tmp_path, kind, major)
    code = main(["verify", *args, "--rows", "2000", "--writers", "2", "--format", "json"])
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert code == 0, report["problems"]
    assert report["ok"] is True and report["plan_pg_version"] == major
    assert re.match(rf"{major}\.\d+", report["server_version"]), report["server_version"]
    assert report["target"].startswith(f"embedded PostgreSQL {major}.")
    assert re.search(rf"embedded PostgreSQL {major}\.\d+.* started in ", captured.err)
    steps = [s for p in report["phases"] for s in p["steps"]]
    assert steps and all(s["ok"] for s in steps)
    assert all(p["down"]["schema_restored"] and p["down"]["rows_intact"] for p in report["phases"])


def test_verify_on_a_major_not_installed_names_the_install_command(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv(pginstall.CACHE_ENV, str(tmp_path / "no-cache"))
    missing = next(m for m in pginstall.SUPPORTED_MAJORS if pginstall.server_bindir(m) is None)
    code = main(["verify", *_inputs(tmp_path, "rename", None), "--pg-version", str(missing), "--rows", "10"])
    err = capsys.readouterr().err
    assert code == 3
    assert f"no PostgreSQL {missing} server programs found" in err and f"pginstall install {missing}" in err

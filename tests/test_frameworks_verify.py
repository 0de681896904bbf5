"""migspec verify PROJECT: a Django / Alembic project's pending migrations planned and proven on a
throwaway server under writers, exactly as 'migspec plan PROJECT' plans them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from migspec.cli import main

HERE = Path(__file__).parent / "frameworks"
ENTRY = {"rows": 2_000_000, "write_qps": 40,
         "lock_contention": {"longest_transaction_seconds": 1, "lock_waits_per_minute": 0},
         "columns": {"id": "integer", "total": "integer", "note": "varchar(100)"},
         "schema": {"columns": [{"name": "id", "type": "integer", "not_null": True},
                                {"name": "total", "type": "integer", "not_null": True},
                                {"name": "note", "type": "character varying(100)", "not_null": True}],
                    "primary_key": ["id"]}}


def test_verify_takes_a_django_project(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stats = tmp_path / "stats.json"
    stats.write_text(json.dumps({"source": "production", "applied_migrations": {"django": ["ledger.0001_initial"]},
                                 "tables": {"ledger_entry": ENTRY}}))
    code = main(["verify", str(HERE / "djemit"), "--stats", str(stats), "--rows", "500", "--writers", "1",
                 "--format", "json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0, out
    assert out["source"].startswith(f"project {HERE / 'djemit'}, planned now")
    steps = [s["description"] for p in out["phases"] for s in p["steps"]]
    # RenameField(total -> amount) planned online, and every phase's DOWN proven
    assert any("copy total into amount" in d for d in steps)
    assert out["ok"] and all(p["down"]["schema_restored"] and p["down"]["rows_intact"] for p in out["phases"])


def test_verify_project_mistakes_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stats = tmp_path / "stats.json"
    stats.write_text(json.dumps({"source": "production", "tables": {"ledger_entry": ENTRY}}))
    assert main(["verify", str(HERE / "djemit"), "--stats", str(stats), "--since", "ledger.9999"]) == 2
    assert "ledger.9999" in capsys.readouterr().err
    everything = json.dumps({"source": "production", "applied_migrations": {
        "django": ["ledger.0001_initial", "ledger.0002_rename_total_amount"]}, "tables": {"ledger_entry": ENTRY}})
    stats.write_text(everything)
    assert main(["verify", str(HERE / "djemit"), "--stats", str(stats)]) == 0
    assert "no pending django migrations" in capsys.readouterr().err

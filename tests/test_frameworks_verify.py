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


def _bigauto_stats() -> dict:
    """What 'migspec measure' records of tests/frameworks/djbig after 0001_initial (Django 4.1+:
    identity keys, a deferrable foreign key with its index)."""
    def table(rows: int, columns: list[dict], constraints: dict, indexes: dict) -> dict:
        return {"rows": rows, "write_qps": 50, "lock_contention": {"longest_transaction_seconds": 1,
                                                                   "lock_waits_per_minute": 0},
                "schema": {"columns": columns, "primary_key": ["id"], "constraints": constraints,
                           "indexes": indexes}}

    key = {"name": "id", "type": "integer", "not_null": True, "identity": "by default"}
    fk = "catalog_review_product_id_e494243b_fk_catalog_product_id"
    return {"source": "production", "applied_migrations": {"django": ["catalog.0001_initial"]}, "tables": {
        "catalog_product": table(200_000, [key, {"name": "name", "type": "character varying(100)", "not_null": True}],
                                 {"catalog_product_pkey": "PRIMARY KEY (id)"},
                                 {"catalog_product_pkey": "CREATE UNIQUE INDEX catalog_product_pkey ON "
                                                          "public.catalog_product USING btree (id)"}),
        "catalog_review": table(50_000, [key, {"name": "stars", "type": "integer", "not_null": True},
                                         {"name": "product_id", "type": "integer", "not_null": True}],
                                {"catalog_review_pkey": "PRIMARY KEY (id)",
                                 fk: "FOREIGN KEY (product_id) REFERENCES catalog_product(id) DEFERRABLE INITIALLY "
                                     "DEFERRED"},
                                {"catalog_review_pkey": "CREATE UNIQUE INDEX catalog_review_pkey ON "
                                                        "public.catalog_review USING btree (id)",
                                 "catalog_review_product_id_e494243b": "CREATE INDEX catalog_review_product_id_e494243b "
                                                                       "ON public.catalog_review USING btree (product_id)"})}}


def test_verify_proves_the_bigautofield_switch_plan(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The key widening's every step under writers on a throwaway server: locks as claimed, no index
    rebuilt, every phase's DOWN restoring the catalog (identity, sequence type, foreign keys)."""
    stats = tmp_path / "stats.json"
    stats.write_text(json.dumps(_bigauto_stats()))
    code = main(["verify", str(HERE / "djbig"), "--stats", str(stats), "--rows", "1000", "--writers", "2",
                 "--format", "json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0, [p for p in out["problems"]]
    steps = [s["description"] for p in out["phases"] for s in p["steps"]]
    assert any(d.startswith("swap public.catalog_product.id for the bigint column") for d in steps)
    assert all(s["writers"]["errors"] == 0 for p in out["phases"] for s in p["steps"] if s["writers"])
    assert all(p["down"]["schema_restored"] and p["down"]["rows_intact"] for p in out["phases"])

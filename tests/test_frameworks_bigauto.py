"""Django's DEFAULT_AUTO_FIELD = BigAutoField switch, planned online (migspec.plan.pk_widen) and run by
Django itself: a sample project (tests/frameworks/djbig: Product, Review with a foreign key to it)
measured on a real server, planned and emitted as Django migrations, migrated phase by phase with
the application writing, then migrated back. No write is lost, the keys end bigint with the identity
sequence AS bigint, and the rollback restores the catalog exactly (verify's own snapshot)."""

from __future__ import annotations

import json
import random
import shutil
import sys
import threading
from pathlib import Path

import psycopg
import pytest

from migspec.cli import main
from migspec.verify.trace import catalog_snapshot, compare_catalogs
from test_frameworks_emit import Background, _manage as emit_manage

HERE = Path(__file__).parent / "frameworks"


class AppWriters(Background):
    """The application during the rollout: new products, reviews of them, renamed products; every
    write is checked at the end. ``wait_for_writes`` ties phases to writes actually made."""

    def __init__(self, dsn: str) -> None:
        super().__init__()
        self.dsn = dsn
        self.products: dict[int, str] = {}  # id -> name the application last wrote
        self.reviews: dict[int, int] = {}  # id -> product_id
        self.errors: list[str] = []
        self.count = 0
        self.cond = threading.Condition()

    def _run(self) -> None:
        rng = random.Random(13)
        # As Django's psycopg 3 backend: client-side binding, no server-side prepared statements.
        # (A prepared 'INSERT ... RETURNING id' fails once the key is bigint - "cached plan must not
        # change result type" - after this swap as after Django's own ALTER: the plan says so.)
        with psycopg.connect(self.dsn, autocommit=True, prepare_threshold=None) as conn:
            n = 0
            while not self.stop.is_set():
                n += 1
                try:
                    pid = conn.execute("INSERT INTO catalog_product (name) VALUES (%s) RETURNING id",
                                       (f"app {n}",)).fetchone()[0]
                    self.products[pid] = f"app {n}"
                    rid = conn.execute("INSERT INTO catalog_review (product_id, stars) VALUES (%s, %s) RETURNING id",
                                       (pid, n % 5)).fetchone()[0]
                    self.reviews[rid] = pid
                    target = rng.randint(1, 1000)
                    conn.execute("UPDATE catalog_product SET name = %s WHERE id = %s", (f"renamed {n}", target))
                    self.products[target] = f"renamed {n}"
                except psycopg.Error as exc:
                    self.errors.append(str(exc).splitlines()[0])
                with self.cond:
                    self.count += 1
                    self.cond.notify_all()

    def wait_for_writes(self, more: int = 3, timeout: float = 60) -> None:
        with self.cond:
            goal = self.count + more
            assert self.cond.wait_for(lambda: self.count >= goal, timeout), "the application stopped writing"


def _manage(python: str, project: Path, dsn: str, *args: str) -> str:
    return emit_manage(project, dsn, *args, python=python)


def _key_facts(conn: psycopg.Connection) -> dict[str, tuple[str, str]]:
    """table.column -> (type in pg_attribute, attidentity) of the keys the switch widens."""
    rows = conn.execute(
        "SELECT c.relname || '.' || a.attname, format_type(a.atttypid, a.atttypmod), a.attidentity::text "
        "FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid WHERE c.relname IN ('catalog_product', "
        "'catalog_review') AND a.attname IN ('id', 'product_id') AND NOT a.attisdropped").fetchall()
    return {k: (t, i) for k, t, i in rows}


def _sequence_type(conn: psycopg.Connection, table: str) -> str:
    return conn.execute("SELECT format_type(s.seqtypid, NULL) FROM pg_sequence s WHERE s.seqrelid = "
                        "pg_get_serial_sequence(%s, 'id')::regclass", (table,)).fetchone()[0]


def _check_writes(conn: psycopg.Connection, app: AppWriters) -> None:
    names = dict(conn.execute("SELECT id, name FROM catalog_product").fetchall())
    reviews = dict(conn.execute("SELECT id, product_id FROM catalog_review").fetchall())
    assert all(names.get(i) == v for i, v in app.products.items()), "a product write was lost"
    assert all(reviews.get(i) == v for i, v in app.reviews.items()), "a review write was lost"


def _run_switch(python: str, rows: int, pg_dsn: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    project = tmp_path / "djbig"
    shutil.copytree(HERE / "djbig", project, ignore=shutil.ignore_patterns("__pycache__"))
    _manage(python, project, pg_dsn, "migrate", "catalog", "0001_initial")
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(f"INSERT INTO catalog_product (name) SELECT 'p' || g FROM generate_series(1, {rows}) g")
        conn.execute(f"INSERT INTO catalog_review (product_id, stars) SELECT 1 + g % {rows}, g % 5 "
                     f"FROM generate_series(1, {rows // 4}) g")
        conn.execute("ANALYZE catalog_product, catalog_review")
        before = catalog_snapshot(conn)
        assert _key_facts(conn)["catalog_product.id"] == ("integer", "d")
    stats = tmp_path / "stats.json"
    project_python = ["--project-python", python]
    # production measured the way a user does it: the tables the pending migration touches
    assert main(["measure", "--dsn", pg_dsn, "--migration", str(project), "--sample-seconds", "0.5",
                 "-o", str(stats)]) == 0
    capsys.readouterr()
    assert main(["plan", str(project), "--stats", str(stats), "--format", "json", *project_python]) == 0
    plan = json.loads(capsys.readouterr().out)
    ups = [s for p in plan["phases"] for step in p["steps"] for s in step["up"]]
    assert not any("TYPE bigint" in s for s in ups), "Django's rewriting ALTERs are not in the plan"
    swap = next(step for step in plan["phases"][-1]["steps"] if step["description"].startswith("swap public.catalog_product"))
    assert any("PRIMARY KEY USING INDEX" in s for s in swap["up"]) and swap["down_steps"]
    assert main(["plan", str(project), "--stats", str(stats), "--emit", "django", *project_python]) == 0
    capsys.readouterr()
    names = sorted(p.stem for p in (project / "catalog/migrations").glob("0002_*.py"))
    assert "0002_bigautofield" not in names
    _manage(python, project, pg_dsn, "makemigrations", "--check", "--dry-run")
    last = {name.rsplit("_", 1)[1]: name for name in names}  # the last migration of each phase

    def recorded(conn: psycopg.Connection) -> list[str]:
        return [r[0] for r in conn.execute("SELECT name FROM django_migrations WHERE app = 'catalog' ORDER BY id")]

    with AppWriters(pg_dsn) as app, psycopg.connect(pg_dsn, autocommit=True) as conn:
        for phase in ("expand", "migrate", "contract"):
            app.wait_for_writes()
            _manage(python, project, pg_dsn, "migrate", "catalog", last[phase])
            assert recorded(conn) == ["0001_initial", *names[: names.index(last[phase]) + 1]]
        app.wait_for_writes()
        assert not app.errors, app.errors[:3]
        keys = _key_facts(conn)
        assert keys == {"catalog_product.id": ("bigint", "d"), "catalog_review.id": ("bigint", "d"),
                        "catalog_review.product_id": ("bigint", "")}
        assert _sequence_type(conn, "catalog_product") == "bigint" == _sequence_type(conn, "catalog_review")
        left = conn.execute("SELECT count(*) FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid WHERE "
                            "c.relkind = 'r' AND c.relname LIKE 'catalog_%' AND a.attname LIKE '%migspec%' AND NOT a.attisdropped"
                            ).fetchone()
        assert left == (0,)
        # the keys and the foreign key are what Django's own migration would have left, validated
        cons = dict(conn.execute("SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = "
                                 "'catalog_review'::regclass AND contype = 'f' AND convalidated").fetchall())
        assert list(cons.values()) == ["FOREIGN KEY (product_id) REFERENCES catalog_product(id) DEFERRABLE "
                                       "INITIALLY DEFERRED"]
        # the identity kept its counter: a new row gets a fresh id above every id handed out
        handed_out = max(app.products)  # ids the application got before the next INSERT (writers still run)
        new_id = conn.execute("INSERT INTO catalog_product (name) VALUES ('after') RETURNING id").fetchone()[0]
        assert new_id > handed_out
        conn.execute("DELETE FROM catalog_product WHERE id = %s", (new_id,))
    with psycopg.connect(pg_dsn) as conn:  # the writers stopped: every write they made is there
        _check_writes(conn, app)
    # Rolled back by Django, every DOWN in reverse, with the application writing.
    with AppWriters(pg_dsn) as app, psycopg.connect(pg_dsn, autocommit=True) as conn:
        for phase in ("migrate", "expand"):
            app.wait_for_writes()
            _manage(python, project, pg_dsn, "migrate", "catalog", last[phase])
            assert recorded(conn) == ["0001_initial", *names[: names.index(last[phase]) + 1]]
        app.wait_for_writes()
        _manage(python, project, pg_dsn, "migrate", "catalog", "0001_initial")
        assert recorded(conn) == ["0001_initial"]
        app.wait_for_writes()
        assert not app.errors, app.errors[:3]
        assert [str(d) for d in compare_catalogs(before, catalog_snapshot(conn))] == []
        assert _key_facts(conn)["catalog_product.id"] == ("integer", "d")
        assert _sequence_type(conn, "catalog_product") == "integer"
    with psycopg.connect(pg_dsn) as conn:
        _check_writes(conn, app)
        assert conn.execute("SELECT count(*) FROM catalog_review r LEFT JOIN catalog_product p ON p.id = "
                            "r.product_id WHERE p.id IS NULL").fetchone() == (0,)


def test_bigautofield_switch_online_under_writers_django_latest(pg_dsn: str, tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    """Django 5.2 (the test extra's pin; Django 6 needs Python 3.12, this suite runs 3.11), 200k rows."""
    _run_switch(sys.executable, 200_000, pg_dsn, tmp_path, capsys)


def test_bigautofield_switch_online_under_writers_django_lts(pg_dsn: str, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    """Django 4.2 LTS, installed pinned into migspec's framework cache (tests/upgrade_env.py)."""
    from upgrade_env import DJANGO_CURRENT, python_with

    _run_switch(python_with(f"django=={DJANGO_CURRENT}"), 20_000, pg_dsn, tmp_path, capsys)

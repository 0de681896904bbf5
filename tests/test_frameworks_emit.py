"""plan --emit: the rollout written back as Django migrations / Alembic revisions, run by the
framework itself on a real server phase by phase with application writers, then rolled back."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Self

import psycopg
import pytest

from migspec.cli import main

HERE = Path(__file__).parent / "frameworks"
LOAD = {"longest_transaction_seconds": 1, "lock_waits_per_minute": 0}
ROWS = 3_000


class Background:
    """A thread running ``_run`` until the ``with`` block ends (``stop`` set)."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(30)


class Writers(Background):
    """Application traffic during the migrations: inserts and updates through the OLD column name
    until the deploy, then through the new one; every write it made is checked afterwards."""

    def __init__(self, dsn: str, table: str, column: str = "total") -> None:
        super().__init__()
        self.dsn, self.table, self.column = dsn, table, column
        self.inserted: list[tuple[int, int]] = []  # (id, value) the application wrote
        self.errors: list[str] = []
        self.switched = threading.Event()  # a write through the current column has committed

    def switch(self, column: str, timeout: float = 60) -> None:
        """The deploy: the application writes ``column`` from now on. Returns once a write through it
        has committed - the writes are sequential, so none through the old name is still in flight
        (a fixed sleep was not enough under load)."""
        self.switched.clear()
        self.column = column
        assert self.switched.wait(timeout), f"no write through {column} committed: {self.errors[-3:]}"

    def _run(self) -> None:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            n = 0
            while not self.stop.is_set():
                n += 1
                column = self.column
                try:
                    row = conn.execute(f"INSERT INTO {self.table} ({column}, note) VALUES (%s, 'w') RETURNING id",
                                       (n,)).fetchone()
                    self.inserted.append((row[0], n))
                    conn.execute(f"UPDATE {self.table} SET note = 'u' WHERE id = %s", (n % ROWS + 1,))
                    if column == self.column:
                        self.switched.set()
                except psycopg.Error as exc:
                    self.errors.append(f"{column}: {exc}")
                time.sleep(0.002)


def _manage(project: Path, dsn: str, *args: str, python: str = sys.executable) -> str:
    """manage.py of a sample project, on the test server (``python``: the project's interpreter)."""
    done = subprocess.run([python, "manage.py", *args], cwd=project, capture_output=True, text=True,
                          env={**os.environ, "MIGSPEC_TEST_DSN": dsn, "PYTHONPATH": str(project)})
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def _columns(conn: psycopg.Connection, table: str) -> list[tuple[str, str, str]]:
    return conn.execute("SELECT column_name, data_type, is_nullable FROM information_schema.columns "
                        "WHERE table_name = %s ORDER BY column_name", (table,)).fetchall()


def test_django_rollout_runs_through_migrate_and_back(pg_dsn: str, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    project = tmp_path / "djemit"
    shutil.copytree(HERE / "djemit", project)
    _manage(project, pg_dsn, "migrate", "ledger", "0001_initial")
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(f"INSERT INTO ledger_entry (total, note) SELECT g, 'seed' FROM generate_series(1, {ROWS}) g")
        before = _columns(conn, "ledger_entry")
    stats = _ledger_stats(tmp_path, 2_000_000)
    assert main(["plan", str(project), "--stats", str(stats), "--emit", "django"]) == 0
    err = capsys.readouterr().err
    names = sorted(p.stem for p in (project / "ledger/migrations").glob("0002_*.py"))
    assert names and "0002_rename_total_amount" not in names and "removed" in err
    # Django's own checks: the model state the emitted migrations build is models.py's.
    _manage(project, pg_dsn, "makemigrations", "--check", "--dry-run")

    phases = {}
    for name in names:  # the last migration of each phase: where the runbook stops
        phases[name.rsplit("_", 1)[1]] = name
    with Writers(pg_dsn, "ledger_entry") as writers:
        _manage(project, pg_dsn, "migrate", "ledger", phases["expand"])
        _manage(project, pg_dsn, "migrate", "ledger", phases["migrate"])
        with psycopg.connect(pg_dsn) as conn:
            missing = conn.execute("SELECT count(*) FROM ledger_entry WHERE amount IS DISTINCT FROM total").fetchone()
            assert missing == (0,)
            recorded = conn.execute("SELECT name FROM django_migrations WHERE app = 'ledger' ORDER BY id").fetchall()
            assert [r[0] for r in recorded] == ["0001_initial", *[n for n in names if "contract" not in n]]
        writers.switch("amount")  # the deploy: the application now writes the new name
        _manage(project, pg_dsn, "migrate", "ledger", phases["contract"])
        writers.switch("amount")  # a write after the contract
    assert not writers.errors, writers.errors[:3]
    with psycopg.connect(pg_dsn) as conn:
        assert [c[0] for c in _columns(conn, "ledger_entry")] == ["amount", "id", "note"]
        values = dict(conn.execute("SELECT id, amount FROM ledger_entry").fetchall())
    assert all(values[i] == v for i, v in writers.inserted)  # no write lost
    assert all(values[i] == i for i in range(1, ROWS + 1))
    # Rolled back by Django: every DOWN, in reverse, and the recorded state follows.
    with Writers(pg_dsn, "ledger_entry", "amount") as writers:
        _manage(project, pg_dsn, "migrate", "ledger", phases["migrate"])
        writers.switch("total")  # the previous application version
        _manage(project, pg_dsn, "migrate", "ledger", "0001_initial")
    assert not writers.errors, writers.errors[:3]
    with psycopg.connect(pg_dsn) as conn:
        assert _columns(conn, "ledger_entry") == before
        values = dict(conn.execute("SELECT id, total FROM ledger_entry").fetchall())
        assert conn.execute("SELECT name FROM django_migrations WHERE app = 'ledger'").fetchall() == [("0001_initial",)]
    assert all(values[i] == i for i in range(1, ROWS + 1))
    assert all(values[i] == v for i, v in writers.inserted)


def _alembic(project: Path, dsn: str, *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "alembic", *args], cwd=project, capture_output=True, text=True,
                          env={**os.environ, "MIGSPEC_TEST_DSN": dsn, "PYTHONPATH": str(project)})
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_alembic_rollout_runs_through_upgrade_and_downgrade(pg_dsn: str, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    project = tmp_path / "alemit"
    shutil.copytree(HERE / "alemit", project)
    _alembic(project, pg_dsn, "upgrade", "e1")
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(f"INSERT INTO entry (total, note) SELECT g, 'seed' FROM generate_series(1, {ROWS}) g")
        before = _columns(conn, "entry")
    stats = tmp_path / "stats.json"
    stats.write_text(json.dumps({"source": "production", "applied_migrations": {"alembic": ["e1"]},
                                 "tables": {"entry": {
                                     "rows": 2_000_000, "write_qps": 40, "lock_contention": LOAD,
                                     "columns": {"id": "integer", "total": "integer", "note": "varchar(100)"},
                                     "schema": {"columns": [
                                         {"name": "id", "type": "integer", "not_null": True},
                                         {"name": "total", "type": "integer", "not_null": True},
                                         {"name": "note", "type": "character varying(100)", "not_null": True}],
                                         "primary_key": ["id"]}}}}))
    assert main(["plan", str(project), "--stats", str(stats), "--emit", "alembic"]) == 0
    assert "removed" in capsys.readouterr().err
    revisions = sorted(p.stem for p in (project / "migrations/versions").glob("e2_*.py"))
    assert revisions and not (project / "migrations/versions/e2_rename.py").exists()
    heads = _alembic(project, pg_dsn, "heads")
    assert heads.split()[0] == revisions[-1]  # one head: the rollout's last revision
    # Alembic's offline mode renders the whole rollout (the migrate revisions run migspec's runtime,
    # which needs a connection: offline renders up to them).
    assert "ADD COLUMN amount" in _alembic(project, pg_dsn, "upgrade", f"e1:{revisions[0]}", "--sql")

    phases = {r.rsplit("_", 1)[1]: r for r in revisions}
    with Writers(pg_dsn, "entry") as writers:
        _alembic(project, pg_dsn, "upgrade", phases["expand"])
        _alembic(project, pg_dsn, "upgrade", phases["migrate"])
        with psycopg.connect(pg_dsn) as conn:
            assert conn.execute("SELECT count(*) FROM entry WHERE amount IS DISTINCT FROM total").fetchone() == (0,)
            assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [(phases["migrate"],)]
        writers.switch("amount")
        _alembic(project, pg_dsn, "upgrade", "head")
        writers.switch("amount")
    assert not writers.errors, writers.errors[:3]
    with psycopg.connect(pg_dsn) as conn:
        assert [c[0] for c in _columns(conn, "entry")] == ["amount", "id", "note"]
        values = dict(conn.execute("SELECT id, amount FROM entry").fetchall())
    assert all(values[i] == v for i, v in writers.inserted)
    with Writers(pg_dsn, "entry", "amount") as writers:
        _alembic(project, pg_dsn, "downgrade", phases["migrate"])
        writers.switch("total")
        _alembic(project, pg_dsn, "downgrade", "e1")
    assert not writers.errors, writers.errors[:3]
    with psycopg.connect(pg_dsn) as conn:
        assert _columns(conn, "entry") == before
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [("e1",)]
        values = dict(conn.execute("SELECT id, total FROM entry").fetchall())
    assert all(values[i] == i for i in range(1, ROWS + 1))
    assert all(values[i] == v for i, v in writers.inserted)


def test_django_backfill_killed_mid_migrate_resumes(pg_dsn: str, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """SIGKILL of 'manage.py migrate' inside the emitted backfill: Django has not recorded the
    migration, migspec's state table has the last committed batch; migrate again resumes there and
    every row - seeded and written by the application meanwhile - ends right."""
    import signal

    rows = 200_000
    project = tmp_path / "djemit"
    shutil.copytree(HERE / "djemit", project)
    _manage(project, pg_dsn, "migrate", "ledger", "0001_initial")
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(f"INSERT INTO ledger_entry (total, note) SELECT g, 'seed' FROM generate_series(1, {rows}) g")
        conn.execute("ANALYZE ledger_entry")
    stats = _ledger_stats(tmp_path, rows)
    assert main(["plan", str(project), "--stats", str(stats), "--emit", "django"]) == 0
    capsys.readouterr()
    names = sorted(p.stem for p in (project / "ledger/migrations").glob("0002_*.py"))
    expand = [n for n in names if n.endswith("expand")][-1]
    backfill = next(n for n in names if "migrate" in n and "keyset" in (project / f"ledger/migrations/{n}.py")
                    .read_text())
    env = {**os.environ, "MIGSPEC_TEST_DSN": pg_dsn, "PYTHONPATH": str(project)}
    with Writers(pg_dsn, "ledger_entry") as writers:
        _manage(project, pg_dsn, "migrate", "ledger", expand)
        proc = subprocess.Popen([sys.executable, "manage.py", "migrate", "ledger", backfill], cwd=project, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        done_before_kill = 0
        with psycopg.connect(pg_dsn, autocommit=True) as conn:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and proc.poll() is None:
                row = conn.execute("SELECT max(rows_done) FROM migspec.steps WHERE cursor IS NOT NULL").fetchone() \
                    if conn.execute("SELECT to_regclass('migspec.steps')").fetchone()[0] else None
                if row and row[0]:
                    done_before_kill = row[0]
                    break
                time.sleep(0.01)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            assert 0 < done_before_kill < rows, "the backfill finished before it could be killed"
            recorded = [r[0] for r in conn.execute("SELECT name FROM django_migrations WHERE app = 'ledger'")]
            assert backfill not in recorded
            # Some rows are copied, others not yet: the kill landed mid-backfill.
            assert conn.execute("SELECT count(*) FROM ledger_entry WHERE amount IS NULL").fetchone()[0] > 0
        _manage(project, pg_dsn, "migrate", "ledger", backfill)  # resumes
    assert not writers.errors, writers.errors[:3]
    with psycopg.connect(pg_dsn) as conn:
        assert conn.execute("SELECT count(*) FROM ledger_entry WHERE amount IS DISTINCT FROM total").fetchone() == (0,)
        values = dict(conn.execute("SELECT id, total FROM ledger_entry").fetchall())
        attempts = conn.execute("SELECT max(attempts) FROM migspec.steps WHERE cursor IS NOT NULL").fetchone()[0]
    assert attempts == 2  # one run killed, one resumed
    assert all(values[i] == v for i, v in writers.inserted) and all(values[i] == i for i in range(1, rows + 1))


def _nothing_applied(tmp_path: Path, sample: str, kind: str) -> tuple[Path, Path]:
    """A copy of a sample project, and a production record with none of its migrations applied."""
    project = tmp_path / sample
    shutil.copytree(HERE / sample, project, ignore=shutil.ignore_patterns("__pycache__"))
    stats = tmp_path / "stats.json"
    stats.write_text(json.dumps({"source": "production", "applied_migrations": {kind: []}, "tables": {}}))
    return project, stats


def test_emit_replaces_several_pending_migrations(pg_dsn: str, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """Nothing applied yet: both of the app's migrations (CreateModel, then RenameField) are pending
    and one rollout replaces them; Django migrates it from zero and back, its state is models.py's."""
    project, stats = _nothing_applied(tmp_path, "djemit", "django")
    assert main(["plan", str(project), "--stats", str(stats), "--emit", "django"]) == 0
    err = capsys.readouterr().err
    assert err.count("migspec: removed") == 2
    names = sorted(p.stem for p in (project / "ledger/migrations").glob("0*.py"))
    assert names and all(n.startswith("0002_rename_total_amount_") for n in names)
    _manage(project, pg_dsn, "makemigrations", "--check", "--dry-run")
    _manage(project, pg_dsn, "migrate", "ledger")
    with psycopg.connect(pg_dsn) as conn:
        assert [c[0] for c in _columns(conn, "ledger_entry")] == ["amount", "id", "note"]
        assert [r[0] for r in conn.execute("SELECT name FROM django_migrations WHERE app = 'ledger' ORDER BY id")] \
            == names
    _manage(project, pg_dsn, "migrate", "ledger", "zero")
    with psycopg.connect(pg_dsn) as conn:
        assert conn.execute("SELECT to_regclass('ledger_entry')").fetchone() == (None,)


def test_emit_refuses_pending_migrations_of_several_apps(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    project, stats = _nothing_applied(tmp_path, "djproject", "django")
    assert main(["plan", str(project), "--stats", str(stats), "--emit", "django"]) == 2
    err = capsys.readouterr().err
    assert "one app" in err and "--since" in err and "Traceback" not in err
    assert (project / "shop/migrations/0001_initial.py").exists()  # nothing written, nothing removed


def test_alembic_emit_replaces_a_chain_of_pending_revisions(pg_dsn: str, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    project, stats = _nothing_applied(tmp_path, "alemit", "alembic")
    assert main(["plan", str(project), "--stats", str(stats), "--emit", "alembic"]) == 0
    assert capsys.readouterr().err.count("migspec: removed") == 2
    revisions = sorted(p.stem for p in (project / "migrations/versions").glob("*.py"))
    assert revisions and all(r.startswith("e2_0") for r in revisions)
    assert _alembic(project, pg_dsn, "heads").split()[0] == revisions[-1]
    _alembic(project, pg_dsn, "upgrade", "head")
    with psycopg.connect(pg_dsn) as conn:
        assert [c[0] for c in _columns(conn, "entry")] == ["amount", "id", "note"]
    _alembic(project, pg_dsn, "downgrade", "base")
    with psycopg.connect(pg_dsn) as conn:
        assert conn.execute("SELECT to_regclass('entry')").fetchone() == (None,)


def _ledger_stats(tmp_path: Path, rows: int) -> Path:
    """The djemit sample's measurements as production would give them: ledger_entry at ``rows``."""
    stats = tmp_path / "stats.json"
    stats.write_text(json.dumps({"source": "production", "applied_migrations": {"django": ["ledger.0001_initial"]},
                                 "tables": {"ledger_entry": {
                                     "rows": rows, "write_qps": 40, "lock_contention": LOAD,
                                     "columns": {"id": "integer", "total": "integer", "note": "varchar(100)"},
                                     "schema": {"columns": [
                                         {"name": "id", "type": "integer", "not_null": True},
                                         {"name": "total", "type": "integer", "not_null": True},
                                         {"name": "note", "type": "character varying(100)", "not_null": True}],
                                         "primary_key": ["id"]}}}}))
    return stats

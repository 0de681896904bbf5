"""Shared fixtures: one real throwaway PostgreSQL server per test session, one empty database
per test.

Real-server tests are the project's evidence, so a missing server is a failure, never a skip:
a CI run that silently skipped them would report green without having checked anything.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from migspec.pgserver import PARENT_ENV, Server, ServerError, find_bindir, start_server

#: Free space a tmpfs must have before the test server goes there (test tables are small).
_TMPFS_MIN_FREE = 2 * 1024**3


def _test_server_parent() -> Path | None:
    """Where the test cluster lives: ``$MIGSPEC_PG_TMPDIR`` if set, else ``/dev/shm`` when it is
    a roomy tmpfs, else the default (``/tmp``).

    Measured here: CREATE DATABASE takes ~10 ms on tmpfs and 100-200 ms on the /tmp disk even
    with fsync off, and the fixtures make one database per test.  Docker's default /dev/shm is
    only 64 MB, hence the free-space check.
    """
    if os.environ.get(PARENT_ENV):
        return None
    shm = Path("/dev/shm")
    try:
        st = os.statvfs(shm)
    except OSError:
        return None
    if st.f_bavail * st.f_frsize >= _TMPFS_MIN_FREE and os.access(shm, os.W_OK | os.X_OK):
        return shm
    return None


@pytest.fixture(scope="session")
def pg_server() -> Iterator[Server]:
    """A fast (fsync off) throwaway server shared by the whole session, stopped at the end."""
    if find_bindir() is None:
        pytest.fail(
            "no PostgreSQL server programs found (postgres, initdb, pg_ctl): real-server tests "
            "cannot run. Run `bash scripts/test` (it installs PostgreSQL), install the "
            "postgresql package, or set MIGSPEC_PG_BINDIR.",
            pytrace=False,
        )
    try:
        server = start_server(fast=True, parent=_test_server_parent())
    except ServerError as exc:
        pytest.fail(f"could not start the throwaway PostgreSQL server:\n{exc}", pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def _pg_admin(pg_server: Server) -> Iterator[psycopg.Connection]:
    """Session connection to the ``postgres`` database that creates and drops test databases."""
    with psycopg.connect(pg_server.dsn, autocommit=True) as conn:
        yield conn


@pytest.fixture
def pg_dsn(pg_server: Server, _pg_admin: psycopg.Connection) -> Iterator[str]:
    """DSN of a new, empty database made for this test alone and dropped after it.

    A database per test keeps tests independent (no leftover tables, locks or settings) at a
    cost of ~20 ms.  ``STRATEGY FILE_COPY`` (PG15+) copies template1 as files instead of through
    WAL, which is several times faster on a throwaway server.
    """
    name = f"t_{secrets.token_hex(6)}"
    create = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    if pg_server.major >= 15:
        create = sql.SQL("{} STRATEGY FILE_COPY").format(create)
    _pg_admin.execute(create)
    try:
        yield pg_server.dsn_for(name)
    finally:
        # WITH (FORCE) (PG13+) ends sessions a test left open, so one leak fails no other test.
        _pg_admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


@pytest.fixture
def pg(pg_dsn: str) -> Iterator[psycopg.Connection]:
    """An autocommit connection to this test's own empty database."""
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        yield conn

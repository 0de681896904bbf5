"""Shared fixtures: one real throwaway PostgreSQL server per test session, one empty database
per test.

Real-server tests are the project's evidence, so a missing server is a failure, never a skip:
a CI run that silently skipped them would report green without having checked anything.

Majors: ``--pg-major 13,18`` (repeatable) or ``MIGSPEC_PG_MAJORS=13,18`` runs every test that uses
the server once per major (ids ``[pg13]``, ``[pg18]``); without either, the tests run on the
server ``find_bindir()`` finds (Debian's 15 here).  ``python -m migspec.pginstall install 13 18``
installs the majors first; a selected major that is not installed fails the run.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from migspec import pginstall
from migspec.pgserver import PARENT_ENV, Server, ServerError, find_bindir, start_server

#: Environment variable selecting the majors the real-server tests run on ("13,15,18").
MAJORS_ENV = "MIGSPEC_PG_MAJORS"

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


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--pg-major", action="append", default=[], metavar="N[,N...]",
                     help=f"run the real-server tests on these PostgreSQL majors (also ${MAJORS_ENV})")


def selected_majors(config: pytest.Config) -> list[int]:
    """The majors chosen by ``--pg-major`` or ``$MIGSPEC_PG_MAJORS`` (empty: the default server)."""
    words = ",".join(config.getoption("--pg-major") or [os.environ.get(MAJORS_ENV, "")])
    try:
        majors = sorted({int(w) for w in words.replace(" ", ",").split(",") if w.strip()})
    except ValueError:
        raise pytest.UsageError(f"--pg-major / {MAJORS_ENV}: not a list of majors: {words!r}") from None
    # 11 and 12 (out of support, but installable) serve to observe the gates of tests/test_versions.py.
    bad = [m for m in majors if not pginstall.MIN_INSTALLABLE <= m <= max(pginstall.SUPPORTED_MAJORS)]
    if bad:
        raise pytest.UsageError(f"--pg-major / {MAJORS_ENV}: unsupported majors {bad}; "
                                f"supported: {list(pginstall.SUPPORTED_MAJORS)}")
    return majors


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Every test that uses the server runs once per selected major (session-scoped, so pytest
    runs all of one major's tests on one server before starting the next)."""
    if "pg_major" in metafunc.fixturenames:
        majors = selected_majors(metafunc.config)
        if majors:
            metafunc.parametrize("pg_major", majors, indirect=True, scope="session",
                                 ids=[f"pg{m}" for m in majors])


@pytest.fixture(scope="session")
def pg_major(request: pytest.FixtureRequest) -> int | None:
    """The major this test runs on, or None for the default server."""
    return getattr(request, "param", None)


@pytest.fixture(scope="session")
def pg_server(pg_major: int | None) -> Iterator[Server]:
    """A fast (fsync off) throwaway server shared by the whole session, stopped at the end."""
    if pg_major is not None and find_bindir(pg_major) is None:
        pytest.fail(f"PostgreSQL {pg_major} was selected but is not installed: run "
                    f"`{pginstall.install_hint(pg_major)}` (scripts/test does)", pytrace=False)
    if find_bindir() is None:
        pytest.fail(
            "no PostgreSQL server programs found (postgres, initdb, pg_ctl): real-server tests "
            "cannot run. Run `bash scripts/test` (it installs PostgreSQL), install the "
            "postgresql package, or set MIGSPEC_PG_BINDIR.",
            pytrace=False,
        )
    try:
        server = start_server(fast=True, parent=_test_server_parent(), major=pg_major)
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
        # WITH (FORCE) (PG13+) ends sessions a test left open, so one leak fails no other test;
        # 11/12 (gate probes only) end them by hand first.
        if pg_server.major < 13:
            _pg_admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
        force = sql.SQL(" WITH (FORCE)") if pg_server.major >= 13 else sql.SQL("")
        _pg_admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {}{}").format(sql.Identifier(name), force)
        )


@pytest.fixture
def pg(pg_dsn: str) -> Iterator[psycopg.Connection]:
    """An autocommit connection to this test's own empty database."""
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        yield conn

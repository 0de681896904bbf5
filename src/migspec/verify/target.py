"""Where verify runs: an embedded throwaway server it starts and removes itself (the default), or a
scratch database the user names - never production.

A user's DSN is refused (exit 3) when its cluster's system identifier is the one the production
stats recorded (``system_identifier``; every cluster gets a random one at initdb, and replicas
share their primary's), when no identifier was recorded to compare with, and when the database
already holds tables: verify creates the schema and writes rows, so it must start empty.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager


import psycopg

from migspec.dsn import connect
from migspec.errors import RefusedError
from migspec.frozen import frozen
from migspec.names import quote_ident


@frozen
class Target:
    dsn: str
    description: str  # "embedded PostgreSQL 15.18 (fsync off)" / "scratch database at ..."
    server_version: str
    server_version_num: int
    embedded: bool


def _connect(dsn: str) -> psycopg.Connection:
    return connect(dsn, application_name="migspec verify")


def system_identifier(conn: psycopg.Connection) -> str:
    try:
        row = conn.execute("SELECT system_identifier::text FROM pg_control_system()").fetchone()
    except psycopg.Error as exc:
        raise RefusedError("cannot read the server's system identifier (SELECT system_identifier FROM "
                           f"pg_control_system() failed: {str(exc).strip().splitlines()[0]}), so it cannot be told "
                           "apart from production: connect as a role that may run it") from None
    assert row is not None
    return str(row[0])


def check_scratch(conn: psycopg.Connection, production_id: str | None) -> None:
    """Refuse a DSN that is (or may be) production, or that is not empty."""
    if production_id is None:
        raise RefusedError("--dsn must be a scratch database, and nothing tells it apart from production: the stats "
                           "record no system_identifier (add the production value of 'SELECT system_identifier FROM "
                           "pg_control_system()' to the stats file, or let verify start its own server: omit --dsn)")
    ident = system_identifier(conn)
    if ident == str(production_id).strip():
        raise RefusedError(f"--dsn is the production cluster (system identifier {ident} matches the stats): "
                           "verify runs only against a scratch database")
    row = conn.execute("SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                       "WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND n.nspname NOT IN "
                       "('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'").fetchone()
    if row and row[0]:
        raise RefusedError(f"--dsn is not an empty scratch database ({row[0]} relations in it): verify creates the "
                           "schema and loads rows itself; give it a new, empty database")


def _version(conn: psycopg.Connection) -> tuple[str, int]:
    row = conn.execute("SELECT current_setting('server_version'), current_setting('server_version_num')::int").fetchone()
    assert row is not None
    return str(row[0]), int(row[1])


@contextmanager
def scratch(dsn: str | None, production_id: str | None, log: Callable[[str], None], *,
            major: int | None = None) -> Iterator[Target]:
    """The scratch database for one verify run; an embedded server is stopped and removed after.

    ``major``: the embedded server's major (None: the first server found); with ``dsn`` it is
    only compared, since the scratch server is the user's.
    """
    if dsn:
        with _connect(dsn) as conn:
            check_scratch(conn, production_id)
            version, num = _version(conn)
            fsync = conn.execute("SHOW fsync").fetchone()
        if major is not None and num // 10000 != major:
            log(f"--dsn is PostgreSQL {version}, not {major}: the proof runs on the --dsn server")
        yield Target(dsn, f"scratch database (PostgreSQL {version}, fsync {fsync[0] if fsync else '?'})",
                     version, num, embedded=False)
        return
    from migspec.pgserver import ServerError, start_server

    try:
        server = start_server(fast=True, major=major)
    except ServerError as exc:
        raise RefusedError(f"cannot start the embedded PostgreSQL server: {exc}") from None
    try:
        name = f"migspec_verify_{secrets.token_hex(4)}"
        with psycopg.connect(server.dsn, autocommit=True) as admin:
            admin.execute(f"CREATE DATABASE {quote_ident(name)}")
            version, num = _version(admin)
        log(f"embedded PostgreSQL {version} started in {server.basedir} ({server.bindir})")
        yield Target(server.dsn_for(name), f"embedded PostgreSQL {version} (throwaway, fsync off)", version, num,
                     embedded=True)
    finally:
        server.stop()

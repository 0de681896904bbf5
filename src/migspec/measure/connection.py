"""The one stateful edge of ``migspec measure``: a read-only, time-limited connection to production,
and the rule that nothing it says ever carries the password.

Read-only twice over: the session sets ``default_transaction_read_only`` and psycopg opens every
transaction with ``BEGIN READ ONLY`` (``Connection.read_only``). Each batch of queries is its own
short transaction, committed at once, so the collector never shows up as a long transaction or
holds back vacuum. ``statement_timeout`` bounds every query and ``lock_timeout`` bounds the one
kind of lock it asks for (ACCESS SHARE, taken by ``pg_table_size``, ``count(*)`` and the
``pg_get_*def`` deparsers), so a
migration holding ACCESS EXCLUSIVE on a table cannot make the collector hang, nor queue behind it
for long.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg
from psycopg import errors as pgerrors
from psycopg.conninfo import conninfo_to_dict

from migspec.errors import InputError

#: How long one query may run (seconds); ``--statement-timeout`` overrides it.
DEFAULT_STATEMENT_TIMEOUT = 10.0
#: How long the collector waits for a lock (seconds) before it gives up on that query.
LOCK_TIMEOUT = 2.0
#: Seconds libpq waits for the server to answer a connection attempt.
CONNECT_TIMEOUT = 10
APPLICATION_NAME = "migspec measure"


class MeasureError(InputError):
    """A problem reaching or reading the server: one line for the user, exit 2."""


@dataclass(frozen=True)
class Target:
    """Where the measurements come from, as the stats file records it: never user or password."""

    hostname: str
    port: int | None
    dbname: str

    def as_dict(self) -> dict[str, object]:
        return {"hostname": self.hostname, "port": self.port, "dbname": self.dbname}

    def __str__(self) -> str:
        host = f"[{self.hostname}]" if ":" in self.hostname else self.hostname
        return f"{host}:{self.port}/{self.dbname}" if self.port else f"{host}/{self.dbname}"


_PASSWORD_KV = re.compile(r"password\s*=\s*('(?:[^'\\]|\\.)*'|\S+)", re.IGNORECASE)
_PASSWORD_URI = re.compile(r"^[a-z]+://[^/@?#]*?:([^/@?#]*)@", re.IGNORECASE)


def secrets_in(dsn: str) -> tuple[str, ...]:
    """Every spelling of the password the DSN holds: as written (quoted or %-encoded) and decoded."""
    found: list[str] = []
    try:
        password = conninfo_to_dict(dsn).get("password")
        if password:
            found.append(str(password))
    except psycopg.Error:
        pass
    for match in _PASSWORD_KV.finditer(dsn):
        found.append(match.group(1))
        found.append(match.group(1).strip("'"))
    uri = _PASSWORD_URI.match(dsn.strip())
    if uri and uri.group(1):
        found.append(uri.group(1))
    # Longest first, so a secret that contains another is replaced whole.
    return tuple(sorted({s for s in found if s}, key=len, reverse=True))


def redact(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


def describe_dsn(dsn: str) -> dict[str, str]:
    """The DSN's keywords, or a message naming no part of it (a malformed DSN may hold a password
    anywhere, and libpq's own message quotes the offending word)."""
    try:
        return {k: str(v) for k, v in conninfo_to_dict(dsn).items()}
    except psycopg.Error:
        raise MeasureError("--dsn is not a valid connection string: expected keyword=value pairs "
                           "(host=... port=... dbname=... user=...) or a postgresql:// URI") from None


def _first_line(exc: BaseException, secrets: tuple[str, ...]) -> str:
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    text = lines[0] if lines else type(exc).__name__
    return redact(text.removeprefix("connection failed: "), secrets)


def connect(dsn: str, *, statement_timeout: float = DEFAULT_STATEMENT_TIMEOUT) -> psycopg.Connection:
    """A read-only session with bounded statements and lock waits; errors become MeasureError."""
    params = describe_dsn(dsn)
    secrets = secrets_in(dsn)
    kwargs: dict[str, object] = {"application_name": APPLICATION_NAME}
    if "connect_timeout" not in params:
        kwargs["connect_timeout"] = CONNECT_TIMEOUT
    try:
        conn = psycopg.connect(dsn, autocommit=False, **kwargs)  # type: ignore[arg-type]
    except psycopg.Error as exc:
        where = params.get("host") or params.get("hostaddr") or "the default server"
        raise MeasureError(f"cannot connect to {redact(where, secrets)}: {_first_line(exc, secrets)}") from None
    try:
        conn.read_only = True
        with conn.cursor() as cur:
            # SET (not the libpq 'options' keyword) so the user's own options in the DSN still apply.
            cur.execute("SELECT set_config('default_transaction_read_only', 'on', false), "
                        "set_config('statement_timeout', %s, false), "
                        "set_config('lock_timeout', %s, false), "
                        "set_config('idle_in_transaction_session_timeout', %s, false)",
                        (f"{int(statement_timeout * 1000)}ms", f"{int(LOCK_TIMEOUT * 1000)}ms",
                         f"{int(max(statement_timeout, 60) * 1000)}ms"))
        conn.commit()
    except psycopg.Error as exc:
        conn.close()
        raise MeasureError(f"cannot set up a read-only session: {_first_line(exc, secrets)}") from None
    return conn


def target_of(conn: psycopg.Connection) -> Target:
    """Host, port and database of the live connection (what libpq actually reached)."""
    info = conn.info
    port = info.port
    return Target(hostname=info.host, port=int(port) if port else None, dbname=info.dbname)


@contextmanager
def translated(secrets: tuple[str, ...], doing: str, *,
               privilege: str = "a role with pg_monitor, or ownership of the tables") -> Iterator[None]:
    """Turn a server error into one line naming what was being done and, for the common causes,
    what to do about it; the password never appears (the message passes through redact)."""
    try:
        yield
    except MeasureError:
        raise
    except pgerrors.InsufficientPrivilege as exc:
        raise MeasureError(f"{_first_line(exc, secrets)} while {doing}: this needs {privilege}") from None
    except pgerrors.LockNotAvailable:
        raise MeasureError(f"gave up waiting {LOCK_TIMEOUT:g} s for a lock while {doing} "
                           "(a session holds a conflicting lock; retry when it is done)") from None
    except pgerrors.QueryCanceled:
        raise MeasureError(f"statement_timeout expired while {doing} (raise --statement-timeout)") from None
    except psycopg.OperationalError as exc:
        raise MeasureError(f"lost the connection while {doing}: {_first_line(exc, secrets)}") from None
    except psycopg.Error as exc:
        raise MeasureError(f"server error while {doing}: {_first_line(exc, secrets)}") from None

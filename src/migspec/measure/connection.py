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

from collections.abc import Iterator
from contextlib import contextmanager


import psycopg
from psycopg import errors as pgerrors

from migspec.dsn import connect as open_connection
from migspec.dsn import first_line, redact, secrets_in
from migspec.errors import InputError
from migspec.frozen import frozen

__all__ = ["MeasureError", "Target", "connect", "redact", "secrets_in", "target_of", "translated"]

#: How long one query may run (seconds); ``--statement-timeout`` overrides it.
DEFAULT_STATEMENT_TIMEOUT = 10.0
#: How long the collector waits for a lock (seconds) before it gives up on that query.
LOCK_TIMEOUT = 2.0
APPLICATION_NAME = "migspec measure"


class MeasureError(InputError):
    """A problem reaching or reading the server: one line for the user, exit 2."""


@frozen
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


def connect(dsn: str, *, statement_timeout: float = DEFAULT_STATEMENT_TIMEOUT) -> psycopg.Connection:
    """A read-only session with bounded statements and lock waits; errors become MeasureError."""
    secrets = secrets_in(dsn)
    conn = open_connection(dsn, application_name=APPLICATION_NAME, autocommit=False)
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
        raise MeasureError(f"cannot set up a read-only session: {first_line(exc, secrets)}") from None
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
        raise MeasureError(f"{first_line(exc, secrets)} while {doing}: this needs {privilege}") from None
    except pgerrors.LockNotAvailable:
        raise MeasureError(f"gave up waiting {LOCK_TIMEOUT:g} s for a lock while {doing} "
                           "(a session holds a conflicting lock; retry when it is done)") from None
    except pgerrors.QueryCanceled:
        raise MeasureError(f"statement_timeout expired while {doing} (raise --statement-timeout)") from None
    except psycopg.OperationalError as exc:
        raise MeasureError(f"lost the connection while {doing}: {first_line(exc, secrets)}") from None
    except psycopg.Error as exc:
        raise MeasureError(f"server error while {doing}: {first_line(exc, secrets)}") from None

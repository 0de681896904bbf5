"""Guarded DDL: SET LOCAL timeouts inside the step's own transaction, retries on lock timeout
with capped exponential backoff and full jitter, and - when the attempts run out - a clean stop
that says which sessions held the lock.

Facts: lock_timeout raises SQLSTATE 55P03 (psycopg.errors.LockNotAvailable); SET LOCAL ends with
the transaction so nothing leaks through a pooler (postgres-locks.md row 24); a failed CREATE INDEX
CONCURRENTLY leaves an INVALID index that must be dropped before a retry (postgres-locks.md row 13).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable


import psycopg
from psycopg import sql as psql

from migspec import policy
from migspec.errors import MigspecError
from migspec.frozen import frozen
from migspec.planfile.model import Step

Log = Callable[[str], None]


class StepFailed(MigspecError):
    """A step could not be carried out; the state table says where to continue."""

    exit_code = 4


@frozen
class RetryPolicy:
    attempts: int = policy.RETRY_ATTEMPTS
    base_s: float = policy.RETRY_BASE_S
    cap_s: float = policy.RETRY_CAP_S

    def delay(self, attempt: int) -> float:
        """Full jitter (AWS architecture blog, "Exponential Backoff And Jitter")."""
        return random.uniform(0, min(self.cap_s, self.base_s * 2 ** (attempt - 1)))


def set_local_timeouts(conn: psycopg.Connection, lock_timeout_s: float | None, statement_timeout_s: float | None) -> None:
    if lock_timeout_s is not None:
        conn.execute("SELECT set_config('lock_timeout', %s, true)", (f"{int(lock_timeout_s * 1000)}ms",))
    if statement_timeout_s is not None:
        conn.execute("SELECT set_config('statement_timeout', %s, true)", (f"{int(statement_timeout_s * 1000)}ms",))


def lock_holders(conn: psycopg.Connection, table: str | None) -> str:
    """Who holds locks on the table now: pid, state, transaction age, query."""
    if not table:
        return "unknown holders"
    rows = conn.execute(
        "SELECT DISTINCT a.pid, a.state, round(extract(epoch FROM now() - a.xact_start)), left(a.query, 80), l.mode "
        "FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.granted AND l.relation = "
        "to_regclass(%s) AND a.pid <> pg_backend_pid() ORDER BY 3 DESC NULLS LAST LIMIT 5", (table,)).fetchall()
    if not rows:
        return "no holder seen any more"
    return "; ".join(f"pid {pid} ({state}, transaction {age} s, {mode}): {query}"
                     for pid, state, age, query, mode in rows)


def _concurrent_index_target(sql: str, step: Step) -> str | None:
    """The schema-qualified name of the index a CREATE INDEX CONCURRENTLY builds."""
    from pglast import parse_sql

    try:
        node = parse_sql(sql)[0].stmt
    except Exception:  # not parseable here: no leftover handling, the retry still works
        return None
    if type(node).__name__ != "IndexStmt" or not node.concurrent or not node.idxname:
        return None
    schema = node.relation.schemaname or "public"
    return psql.Identifier(schema, node.idxname).as_string(None)


def run_statements(conn: psycopg.Connection, step: Step, statements: tuple[str, ...], log: Log,
                   retry: RetryPolicy = RetryPolicy(), table: str | None = None,
                   inside: Callable[[], None] | None = None) -> None:
    """Run a step's statements: in one guarded transaction, or one by one outside any transaction
    (CONCURRENTLY), retrying lock timeouts. ``inside`` runs in the step's own transaction after its
    statements (the done record, so the effect and the record commit together)."""
    for attempt in range(1, retry.attempts + 1):
        try:
            if step.transactional:
                with conn.transaction():
                    set_local_timeouts(conn, step.lock_timeout_s, step.statement_timeout_s)
                    for s in statements:
                        conn.execute(s)
                    if inside is not None:
                        inside()
            else:
                for s in statements:
                    _run_outside_transaction(conn, s, step, log)
            return
        except psycopg.errors.LockNotAvailable:
            holders = lock_holders(conn, table)
            if attempt == retry.attempts:
                raise StepFailed(f"'{step.description}': lock not granted within {step.lock_timeout_s} s after "
                                 f"{attempt} attempts; held by {holders}. Nothing of this step was applied; "
                                 "re-run apply to continue.") from None
            wait = retry.delay(attempt)
            log(f"retry {attempt}/{retry.attempts} of '{step.description}' in {wait:.2f} s: lock_timeout "
                f"({step.lock_timeout_s} s) expired, held by {holders}")
            time.sleep(wait)


def _detach_target(sql: str) -> tuple[str, str] | None:
    """(parent, partition) of an ALTER TABLE ... DETACH PARTITION ... CONCURRENTLY."""
    from pglast import parse_sql

    try:
        node = parse_sql(sql)[0].stmt
    except Exception:  # not parseable here: run it as it is
        return None
    if type(node).__name__ != "AlterTableStmt":
        return None
    for cmd in node.cmds or ():
        part = getattr(getattr(cmd, "def_", None), "name", None)
        if part is not None and getattr(cmd.def_, "concurrent", False):
            from migspec.names import QualifiedName

            return (QualifiedName(node.relation.schemaname or "public", node.relation.relname).sql,
                    QualifiedName(part.schemaname or "public", part.relname).sql)
    return None


def _run_outside_transaction(conn: psycopg.Connection, sql: str, step: Step, log: Log) -> None:
    detach = _detach_target(sql)
    if detach is not None:
        # A DETACH ... CONCURRENTLY that finished (killed before its done record) is not run
        # again; one interrupted between its two transactions is completed with FINALIZE.
        row = conn.execute("SELECT inhdetachpending FROM pg_inherits WHERE inhrelid = to_regclass(%s) "
                           "AND inhparent = to_regclass(%s)", (detach[1], detach[0])).fetchone()
        if row is None:
            log(f"{detach[1]} is no longer a partition of {detach[0]}: skipped")
            return
        if row[0]:
            log(f"finishing the interrupted detach of {detach[1]}")
            conn.execute(f"ALTER TABLE {detach[0]} DETACH PARTITION {detach[1]} FINALIZE")
            return
    index = _concurrent_index_target(sql, step)
    if index is not None:
        row = conn.execute("SELECT i.indisvalid FROM pg_index i WHERE i.indexrelid = to_regclass(%s)",
                           (index,)).fetchone()
        if row is not None and row[0]:
            log(f"index {index} already exists and is valid: skipped")
            return
        if row is not None:
            log(f"dropping INVALID leftover {index} of an earlier failed build before retrying")
            conn.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {index}")
    # Outside a transaction block SET LOCAL does not apply; this connection is migspec's own, so a
    # session setting reset right after cannot leak to the application (use a direct connection,
    # not a transaction pooler, for apply).
    if step.lock_timeout_s is not None:
        conn.execute("SELECT set_config('lock_timeout', %s, false)", (f"{int(step.lock_timeout_s * 1000)}ms",))
    try:
        conn.execute(sql)
    finally:
        if step.lock_timeout_s is not None and not conn.closed:
            conn.execute("RESET lock_timeout")

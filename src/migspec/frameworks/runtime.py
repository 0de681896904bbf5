"""The small runtime emitted migrations call: one plan step, run the way ``migspec apply`` runs it.

A Django ``RunPython`` or an Alembic revision (inside ``autocommit_block()``) hands its connection
here; the step runs through the executor's own code - keyset backfill batches that checkpoint in
migspec's state table (so a killed ``migrate`` resumes where it stopped), statements outside a
transaction with the INVALID-index cleanup, lock timeouts retried with backoff - and a step already
done is skipped, so re-running a migration the framework did not record is safe.

Only psycopg 3 connections: Django's ``postgresql`` backend on psycopg 3, SQLAlchemy's
``postgresql+psycopg`` driver.
"""

from __future__ import annotations

import hashlib
import json
import sys
from typing import Any

import psycopg

from migspec import policy
from migspec.execute import state
from migspec.execute.backfill import run_backfill
from migspec.execute.guard import run_statements
from migspec.planfile import step_from_dict


def _log(message: str) -> None:
    sys.stderr.write(f"migspec: {message}\n")
    sys.stderr.flush()


def raw_connection(connection: Any) -> psycopg.Connection:
    """The psycopg connection under a Django connection or a SQLAlchemy Connection."""
    if isinstance(connection, psycopg.Connection):
        return connection
    ensure = getattr(connection, "ensure_connection", None)
    if callable(ensure):  # Django's DatabaseWrapper
        ensure()
        raw = connection.connection
    else:  # SQLAlchemy Connection -> its DBAPI connection
        raw = getattr(connection.connection, "dbapi_connection", None) or connection.connection
    if not isinstance(raw, psycopg.Connection):
        raise TypeError(f"migspec's runtime needs a psycopg 3 connection, not {type(raw).__name__}")
    return raw


def run_step(connection: Any, step: dict[str, Any], *, plan: str, phase: str, index: int,
             direction: str = "up") -> None:
    """Run one step's UP (or DOWN) on ``connection``, which must not be inside a transaction.

    ``plan`` names the rollout in migspec's state table; each step's done record commits with its
    effect (backfill batches checkpoint their cursor), so a killed ``migrate`` resumes on re-run."""
    conn = raw_connection(connection)
    if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        raise RuntimeError("migspec: this step runs its own transactions: the migration must not be atomic "
                           "(Django atomic = False; Alembic op.get_context().autocommit_block())")
    s = step_from_dict(step)
    sha = hashlib.sha256(json.dumps({k: step[k] for k in ("up", "down", "backfill") if k in step},
                                    sort_keys=True).encode()).hexdigest()
    state.ensure(conn)
    table = str(s.table) if s.table else None
    if direction == "down":
        # The DOWN exactly as 'migspec rollback' runs it: guarded, or part by part (batched
        # restores, NOT NULL online), each part recorded; the step forgotten with the last one.
        from migspec.execute.apply import ApplyOptions, StepKey, rollback_step

        rollback_step(conn, s, StepKey(plan, phase, index, "down", 0, sha, plan, s.description), ApplyOptions(phase),
                      _log)
        return
    done = state.status(conn, plan, phase, index, "up")
    if done and done[0] == "done":
        _log(f"{phase} step {index} already done: {s.description}")
        return
    with conn.transaction():
        state.clear_down(conn, plan, phase, index)
        state.start(conn, plan, phase, index, "up", s.description, step_sha256=sha, plan_sha256=plan)
    if s.backfill is not None:
        progress = run_backfill(conn, s.backfill, plan=plan, phase=phase, step=index, log=_log,
                                lock_timeout_s=s.lock_timeout_s or policy.LOCK_TIMEOUT_S)
        _log(f"{phase} step {index}: {progress.rows_done:,} rows in {progress.batches} batches")
        with conn.transaction():
            state.finish(conn, plan, phase, index, "up")
    else:
        run_statements(conn, s, s.up, _log, table=table,
                       inside=lambda: state.finish(conn, plan, phase, index, "up"))
        if not s.transactional:  # statements outside a transaction: ``inside`` has nowhere to run
            with conn.transaction():
                state.finish(conn, plan, phase, index, "up")

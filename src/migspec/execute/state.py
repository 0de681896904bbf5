"""Progress recorded in the target database: the source of truth for a rollout.

Rows are keyed by the migration's stable identity (the plan's ``migration`` name, the same for
every re-plan of one migration), the phase, the step's position and the direction; each row also
holds the step's identity (``step_sha256``: a hash of what the step does, not of its estimates or
batch sizes), so a re-planned plan is reconciled with what was recorded. A step's effect and its
``done`` record commit in one transaction (the executor passes the record to the step's own
transaction); a backfill's cursor commits with its batch. ``part`` numbers the parts of a DOWN
that runs as several units (guarded statements, batched restores); the UP is part 0.

``events`` is the audit trail of overrides (``--skip-wait``: who and why)."""

from __future__ import annotations

import json
from typing import Any

import psycopg

SCHEMA = "migspec"
TABLE = f"{SCHEMA}.steps"
EVENTS = f"{SCHEMA}.events"

DDL = (
    f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}",
    # The first layout was keyed by the plan file's hash: a re-planned plan lost its progress.
    # It is kept (renamed) for the record, never read.
    f"""DO $m$ BEGIN
        IF to_regclass('{TABLE}') IS NOT NULL AND NOT EXISTS (SELECT 1 FROM pg_attribute
           WHERE attrelid = to_regclass('{TABLE}') AND attname = 'migration' AND NOT attisdropped) THEN
            ALTER TABLE {TABLE} RENAME TO steps_by_plan_hash;
        END IF;
    END $m$""",
    f"""CREATE TABLE IF NOT EXISTS {TABLE} (
        migration text NOT NULL,
        phase text NOT NULL,
        step integer NOT NULL,
        direction text NOT NULL CHECK (direction IN ('up', 'down')),
        part integer NOT NULL DEFAULT 0,
        step_sha256 text NOT NULL,
        plan_sha256 text NOT NULL,
        status text NOT NULL CHECK (status IN ('running', 'done')),
        cursor jsonb,
        rows_done bigint NOT NULL DEFAULT 0,
        attempts integer NOT NULL DEFAULT 0,
        description text NOT NULL,
        started_at timestamptz NOT NULL DEFAULT now(),
        finished_at timestamptz,
        PRIMARY KEY (migration, phase, step, direction, part))""",
    f"""CREATE TABLE IF NOT EXISTS {EVENTS} (
        migration text NOT NULL,
        at timestamptz NOT NULL DEFAULT now(),
        event text NOT NULL,
        phase text,
        plan_sha256 text,
        os_user text,
        db_user text NOT NULL DEFAULT current_user,
        detail text)""",
)


#: Serializes ``ensure`` across sessions: two CREATE SCHEMA/TABLE IF NOT EXISTS racing on a new
#: database fail with a unique violation on pg_namespace/pg_type ("IF NOT EXISTS" is not atomic).
ENSURE_LOCK = 0x6D69677370656300  # "migspec\0"


def ensure(conn: psycopg.Connection) -> None:
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (ENSURE_LOCK,))
        for sql in DDL:
            conn.execute(sql)


_KEY = "migration = %s AND phase = %s AND step = %s AND direction = %s AND part = %s"


def status(conn: psycopg.Connection, mig: str, phase: str, step: int, direction: str,
           part: int = 0) -> tuple[str, Any, int] | None:
    row = conn.execute(f"SELECT status, cursor, rows_done FROM {TABLE} WHERE {_KEY}",
                       (mig, phase, step, direction, part)).fetchone()
    return None if row is None else (row[0], row[1], row[2])


def recorded(conn: psycopg.Connection, mig: str) -> list[tuple[str, int, str, int, str, str, str, Any]]:
    """Every row of the migration: (phase, step, direction, part, status, step_sha256, description,
    finished_at), in step order."""
    return conn.execute(f"SELECT phase, step, direction, part, status, step_sha256, description, finished_at "
                        f"FROM {TABLE} WHERE migration = %s ORDER BY phase, step, direction, part",
                        (mig,)).fetchall()


def start(conn: psycopg.Connection, mig: str, phase: str, step: int, direction: str, description: str, *,
          step_sha256: str, plan_sha256: str, part: int = 0) -> None:
    conn.execute(f"INSERT INTO {TABLE} (migration, phase, step, direction, part, step_sha256, plan_sha256, status, "
                 "description, attempts) VALUES (%s, %s, %s, %s, %s, %s, %s, 'running', %s, 1) "
                 "ON CONFLICT (migration, phase, step, direction, part) DO UPDATE SET attempts = steps.attempts + 1, "
                 "status = 'running', plan_sha256 = excluded.plan_sha256",
                 (mig, phase, step, direction, part, step_sha256, plan_sha256, description))


def checkpoint(conn: psycopg.Connection, mig: str, phase: str, step: int, cursor: Any, rows: int,
               direction: str = "up", part: int = 0) -> None:
    conn.execute(f"UPDATE {TABLE} SET cursor = %s, rows_done = rows_done + %s WHERE {_KEY}",
                 (json.dumps(cursor), rows, mig, phase, step, direction, part))


def finish(conn: psycopg.Connection, mig: str, phase: str, step: int, direction: str, part: int = 0) -> None:
    conn.execute(f"UPDATE {TABLE} SET status = 'done', finished_at = now() WHERE {_KEY}",
                 (mig, phase, step, direction, part))


def forget(conn: psycopg.Connection, mig: str, phase: str, step: int) -> None:
    """The step is rolled back completely: no UP, no DOWN progress remains."""
    conn.execute(f"DELETE FROM {TABLE} WHERE migration = %s AND phase = %s AND step = %s", (mig, phase, step))


def undoing(conn: psycopg.Connection, mig: str, phase: str, step: int) -> None:
    """A DOWN starts: the UP no longer counts as done (an apply re-runs it, a later phase waits)."""
    conn.execute(f"UPDATE {TABLE} SET status = 'running' WHERE migration = %s AND phase = %s AND step = %s "
                 "AND direction = 'up'", (mig, phase, step))


def clear_down(conn: psycopg.Connection, mig: str, phase: str, step: int) -> None:
    """The step is applied again: progress of an earlier, unfinished DOWN no longer applies, and
    a backfill walks the table again from the start (the DOWN may have undone rows it passed)."""
    gone = conn.execute(f"DELETE FROM {TABLE} WHERE migration = %s AND phase = %s AND step = %s "
                        "AND direction = 'down'", (mig, phase, step)).rowcount
    if gone:
        conn.execute(f"UPDATE {TABLE} SET cursor = NULL, rows_done = 0 WHERE migration = %s AND phase = %s "
                     "AND step = %s AND direction = 'up'", (mig, phase, step))


def event(conn: psycopg.Connection, mig: str, name: str, *, phase: str | None, plan_sha256: str,
          os_user: str, detail: str) -> None:
    conn.execute(f"INSERT INTO {EVENTS} (migration, event, phase, plan_sha256, os_user, detail) "
                 "VALUES (%s, %s, %s, %s, %s, %s)", (mig, name, phase, plan_sha256, os_user, detail))

"""Progress recorded in the target database, so an interrupted apply continues where it stopped
and a finished phase is not run twice. The backfill cursor is written in the same transaction as
its batch: a batch and its checkpoint commit together or not at all."""

from __future__ import annotations

import json
from typing import Any

import psycopg

SCHEMA = "migspec"
TABLE = f"{SCHEMA}.steps"

DDL = (
    f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}",
    f"""CREATE TABLE IF NOT EXISTS {TABLE} (
        plan_sha256 text NOT NULL,
        phase text NOT NULL,
        step integer NOT NULL,
        direction text NOT NULL CHECK (direction IN ('up', 'down')),
        status text NOT NULL CHECK (status IN ('running', 'done')),
        cursor jsonb,
        rows_done bigint NOT NULL DEFAULT 0,
        attempts integer NOT NULL DEFAULT 0,
        description text NOT NULL,
        started_at timestamptz NOT NULL DEFAULT now(),
        finished_at timestamptz,
        PRIMARY KEY (plan_sha256, phase, step, direction))""",
)


#: Serializes ``ensure`` across sessions: two CREATE SCHEMA/TABLE IF NOT EXISTS racing on a new
#: database fail with a unique violation on pg_namespace/pg_type ("IF NOT EXISTS" is not atomic).
ENSURE_LOCK = 0x6D69677370656300  # "migspec\0"


def ensure(conn: psycopg.Connection) -> None:
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (ENSURE_LOCK,))
        for sql in DDL:
            conn.execute(sql)


def status(conn: psycopg.Connection, plan: str, phase: str, step: int, direction: str) -> tuple[str, Any, int] | None:
    row = conn.execute(f"SELECT status, cursor, rows_done FROM {TABLE} WHERE plan_sha256 = %s AND phase = %s "
                       "AND step = %s AND direction = %s", (plan, phase, step, direction)).fetchone()
    return None if row is None else (row[0], row[1], row[2])


def start(conn: psycopg.Connection, plan: str, phase: str, step: int, direction: str, description: str) -> None:
    conn.execute(f"INSERT INTO {TABLE} (plan_sha256, phase, step, direction, status, description, attempts) "
                 "VALUES (%s, %s, %s, %s, 'running', %s, 1) ON CONFLICT (plan_sha256, phase, step, direction) "
                 "DO UPDATE SET attempts = steps.attempts + 1, status = 'running'",
                 (plan, phase, step, direction, description))


def checkpoint(conn: psycopg.Connection, plan: str, phase: str, step: int, cursor: Any, rows: int) -> None:
    conn.execute(f"UPDATE {TABLE} SET cursor = %s, rows_done = rows_done + %s WHERE plan_sha256 = %s AND "
                 "phase = %s AND step = %s AND direction = 'up'", (json.dumps(cursor), rows, plan, phase, step))


def finish(conn: psycopg.Connection, plan: str, phase: str, step: int, direction: str) -> None:
    conn.execute(f"UPDATE {TABLE} SET status = 'done', finished_at = now() WHERE plan_sha256 = %s AND phase = %s "
                 "AND step = %s AND direction = %s", (plan, phase, step, direction))
    other = "down" if direction == "up" else "up"
    conn.execute(f"DELETE FROM {TABLE} WHERE plan_sha256 = %s AND phase = %s AND step = %s AND direction = %s",
                 (plan, phase, step, other))

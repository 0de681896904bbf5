"""Plans for the benchmark table from the real ``migspec plan --format json``, and running their
steps with migspec's own executor (the calls ``migspec apply`` makes, step by step, so each step
gets its own time window)."""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg

from common import MIGSPEC, Templates, connect, log

from migspec.execute import state
from migspec.execute.backfill import Progress, run_backfill
from migspec.execute.guard import RetryPolicy, run_statements
from migspec.planfile import step_from_dict
from migspec.planfile.model import Step


def write_stats(path: Path, *, rows: int, size_bytes: int, write_qps: float) -> Path:
    path.write_text(
        "pg_version: 15\nsource: benchmark\ncollected_at: 2026-01-01T00:00:00Z\nmaintenance_window: none\ntables:\n"
        f"  public.bench:\n    rows: {rows}\n    size_bytes: {size_bytes}\n    write_qps: {write_qps:g}\n"
        "    lock_contention: {longest_transaction_seconds: 0.05, lock_waits_per_minute: 0}\n"
        f"  public.parent:\n    rows: 1000\n    size_bytes: 65536\n    write_qps: 0\n"
        "    lock_contention: {longest_transaction_seconds: 0.05, lock_waits_per_minute: 0}\n")
    return path


def schema_dump(templates: Templates, rows: int, path: Path) -> Path:
    """``pg_dump --schema-only`` of the template: the facts the plan's DOWN steps need."""
    tpl = templates.template(rows)
    s = templates.server
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        subprocess.run([str(s.tool("pg_dump")), "--schema-only", "-h", "127.0.0.1", "-p", str(s.port),
                        "-U", "postgres", "-t", "bench", "-t", "parent", tpl], stdout=fh, check=True)
    return path


@dataclass
class PlannedStep:
    phase: str
    index: int  # 1-based within the phase, as apply numbers them
    step: Step
    doc: dict


def plan(work: Path, name: str, sql: str, *, rows: int, size_bytes: int, write_qps: float,
         schema: Path, command: str = "plan") -> dict:
    d = work / "plans" / name
    d.mkdir(parents=True, exist_ok=True)
    (d / "migration.sql").write_text(sql + "\n")
    stats = write_stats(d / "stats.yaml", rows=rows, size_bytes=size_bytes, write_qps=write_qps)
    argv = [MIGSPEC, command, str(d / "migration.sql"), "--stats", str(stats), "--format", "json"]
    if command == "plan":
        argv += ["--schema", str(schema)]
    p = subprocess.run(argv, capture_output=True, text=True, check=False)
    if p.returncode not in (0, 1):
        raise RuntimeError(f"migspec {command} failed (exit {p.returncode}): {p.stderr.strip()}")
    (d / f"{command}.json").write_text(p.stdout)
    return json.loads(p.stdout)


def steps(doc: dict) -> list[PlannedStep]:
    out = []
    for ph in doc["phases"]:
        for i, s in enumerate(ph["steps"], 1):
            out.append(PlannedStep(ph["name"], i, step_from_dict(s), s))
    return out


class Executor:
    """One connection, as ``migspec apply`` opens it; runs a planned step the way apply does."""

    def __init__(self, dsn: str, plan_id: str) -> None:
        self.conn = psycopg.connect(dsn, autocommit=True, application_name="migspec apply")
        self.plan_id = plan_id
        state.ensure(self.conn)
        self.messages: list[str] = []

    def log(self, msg: str) -> None:
        self.messages.append(msg)

    def run(self, ps: PlannedStep) -> Progress | None:
        step = ps.step
        if step.manual:
            return None
        with self.conn.transaction():
            state.start(self.conn, self.plan_id, ps.phase, ps.index, "up", step.description, step_sha256="",
                        plan_sha256=self.plan_id)
        progress = None
        if step.backfill is not None:
            progress = run_backfill(self.conn, step.backfill, plan=self.plan_id, phase=ps.phase, step=ps.index,
                                    log=self.log, lock_timeout_s=step.lock_timeout_s or 2.0)
        else:
            run_statements(self.conn, step, step.up, self.log, RetryPolicy(),
                           str(step.table) if step.table else None)
        with self.conn.transaction():
            state.finish(self.conn, self.plan_id, ps.phase, ps.index, "up")
        return progress

    def post_check(self, ps: PlannedStep) -> bool | None:
        if not ps.step.post_check:
            return None
        row = self.conn.execute(ps.step.post_check).fetchone()
        return bool(row and row[0])

    def close(self) -> None:
        self.conn.close()


def table_facts(templates: Templates, db: str) -> tuple[int, int]:
    with connect(templates.server, db) as conn:
        rows = int(conn.execute("SELECT count(*) FROM bench").fetchone()[0])
        size = int(conn.execute("SELECT pg_table_size('bench')").fetchone()[0])
    return rows, size


def timed(fn) -> tuple[float, float, object]:  # type: ignore[no-untyped-def]
    """(epoch start, epoch end, result) of fn()."""
    t0 = time.time()
    r = fn()
    return t0, time.time(), r


__all__ = ["Executor", "PlannedStep", "plan", "steps", "schema_dump", "table_facts", "timed", "log"]

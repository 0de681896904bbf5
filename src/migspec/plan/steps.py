"""Plan steps as a rewrite builds them: each knows its SQL (UP), its inverse (DOWN), its estimate and
the table whose traffic it affects. Its lock is never typed by hand: it is the strongest lock the
operations its UP statements parse into take on that table - ``migspec.ops`` data, the same claims
lint makes and tests/test_trace.py checks on a real server.
"""

from __future__ import annotations

import functools
from typing import Any

from migspec.estimate.model import Estimate, catalog_only
from migspec.estimate.runner import RunnerPlan
from migspec.frozen import replace
from migspec.locks import LockMode
from migspec.names import QualifiedName
from migspec.ops.data import Update
from migspec.plan.context import PlanContext
from migspec.planfile.model import Backfill, PhaseName, Step
from migspec.planfile.sql import backfill_do_block
from migspec.plan.recipes import StepSpec

E, M, C = PhaseName.EXPAND, PhaseName.MIGRATE, PhaseName.CONTRACT
Steps = list[tuple[PhaseName, Step]]
#: Derive the lock from the statements (the default of ``ddl``'s ``lock``).
DERIVED: Any = object()


@functools.lru_cache(maxsize=8192)
def statement_lock(sql: str, table: QualifiedName | None, version: int) -> LockMode | None:
    """The strongest lock the statement(s) ``sql`` take on ``table`` at ``version``, from the
    operations migspec's parser makes of them (each operation's ``effect``). An operation that
    cannot name its table from the text alone (DROP INDEX: the index's table is in the catalog) is
    read as acting on the step's table. Without a table: the strongest lock on any relation
    outside migspec's backup schema (a step that only builds a backup table blocks nobody)."""
    from migspec.parse.operations import build_operations
    from migspec.parse.source import parse_text
    from migspec.plan.sql import BACKUP_SCHEMA
    from migspec.schema import Schema

    modes = []
    for stmt in parse_text(sql, "<plan step>"):
        for op in build_operations(stmt):
            if op.table is None and table is not None:
                op = replace(op, table=table)
            effect = op.effect(Schema(), version)
            if table is not None:
                modes.append(effect.lock_on(table))
            else:
                modes += [lk.mode for lk in effect.locks if lk.relation.schema != BACKUP_SCHEMA]
    return max((m for m in modes if m is not None), default=None)


def ddl(ctx: PlanContext, description: str, up: list[str] | tuple[str, ...], down: list[str] | tuple[str, ...],
        table_name: QualifiedName | None, *, lock: LockMode | None = DERIVED, estimate: Estimate | None = None,
        basis: str | None = None, transactional: bool = True, **extra: Any) -> Step:
    """A guarded DDL step: a lock that blocks reads or writes gets SET LOCAL lock_timeout (from the
    table's write rate) and statement_timeout (from the estimate's pessimistic end), and the retry
    policy. ``basis`` prefixes the estimate's own basis (what the work is). ``lock`` is derived
    from ``up`` (statement_lock); only a statement run as written passes the one lint derived for
    it in the migration's context."""
    if lock is DERIVED:
        lock = max((m for m in (statement_lock(s, table_name, ctx.version) for s in up) if m is not None),
                   default=None)
    guard = lock is not None and lock.blocks_writes
    # The writes the step's lock blocks on its table queue behind it, not beside it: the estimate's load.
    est = ctx.calibration.locked(estimate, lock, table_name) if estimate else catalog_only()
    return Step(description, tuple(up), tuple(down), transactional=transactional, lock=lock,
                estimate_seconds=est.high, estimate_basis=f"{basis}: {est.basis}" if basis else est.basis,
                estimate_low_seconds=est.low,
                lock_timeout_s=ctx.lock_timeout(table_name) if guard else None,
                statement_timeout_s=ctx.statement_timeout(est.high) if guard else None, table=table_name, **extra)


def built(ctx: PlanContext, specs: list[StepSpec], rows: int) -> Steps:
    return [spec.build(ctx, rows) for spec in specs]


def backfill_step(ctx: PlanContext, description: str, b: Backfill, rows: int, down: tuple[str, ...] = (),
                  down_note: str = "", post_check: str | None = None) -> Step:
    """A keyset-batched UPDATE/DELETE/restore sized from the table's measurements; each batch
    takes the row locks of an UPDATE (ops.data.Update.lock)."""
    size, pause, batch_s = ctx.batch(b.table)
    b = Backfill(**{**b.__dict__, "batch_size": size, "pause_seconds": pause,
                    "target_seconds": round(ctx.last_batch_target, 3)})
    est = ctx.calibration.duration("batched_update", rows, ctx.size(b.table),
                                   runner=RunnerPlan(size, b.target_seconds, pause))
    return Step(description, (backfill_do_block(b),), down, transactional=False, lock=Update.lock,
                table=b.table,
                estimate_seconds=est.high, estimate_basis=est.basis, estimate_low_seconds=est.low,
                batch_size=size, backfill=b,
                down_note=down_note, post_check=post_check)


def with_down(step: Step, parts: list[Step]) -> Step:
    """``step`` whose DOWN runs as ``parts``, each like an UP step (guarded statements or a batched
    restore: never one unbatched UPDATE over the table); ``down`` keeps their psql text."""
    return replace(step, down=tuple(s for p in parts for s in p.up), down_steps=tuple(parts))

"""DETACH PARTITION: CONCURRENTLY where the version has it."""

from __future__ import annotations

from migspec.analysis import Analyzed
from migspec.ops import misc
from migspec.plan.context import PlanContext
from migspec.plan.steps import C, Steps, ddl
from migspec.plan.rewrites.base import handles, table_of
from migspec.versions import supports


@handles(misc.DetachPartition)
def detach_partition(item: Analyzed, ctx: PlanContext) -> Steps:
    op: misc.DetachPartition = item.op
    t = table_of(op)
    conc = supports("detach_concurrently", ctx.version)
    sql = f"ALTER TABLE {t.sql} DETACH PARTITION {op.partition.sql}" + (" CONCURRENTLY" if conc else "")
    return [(C, ddl(ctx, f"detach {op.partition} from {t}" + (" CONCURRENTLY" if conc else ""), [sql], [],
                    t, transactional=not conc, reversible=False,
                    down_note="re-attach with its FOR VALUES bound by hand (the bound is not in the migration)"))]

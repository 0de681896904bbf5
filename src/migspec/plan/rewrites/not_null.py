"""NOT NULL without a long ACCESS EXCLUSIVE scan: CHECK NOT VALID -> VALIDATE -> SET NOT NULL (PG12+
uses the validated CHECK) -> drop the CHECK; PG18: NOT NULL NOT VALID -> VALIDATE. The one recipe:
the lint rule setting-not-null-on-existing-column suggests these same statements."""

from __future__ import annotations

from migspec.analysis import Analyzed
from migspec.names import QualifiedName
from migspec.ops import table
from migspec.plan.context import PlanContext
from migspec.plan.steps import M, Steps, built, ddl
from migspec.plan.recipes import not_null_recipe
from migspec.plan.rewrites.base import handles, table_of
from migspec.planfile.model import Step
from migspec.planfile.sql import q


def set_not_null_online(ctx: PlanContext, t: QualifiedName, column: str, rows: int) -> list[Step]:
    """The DOWN of a DROP NOT NULL: the same online sequence an UP SET NOT NULL gets, not a
    scanning SET NOT NULL under ACCESS EXCLUSIVE."""
    return [s for _, s in not_null_steps(ctx, t, column, rows)]


def not_null_steps(ctx: PlanContext, t: QualifiedName, column: str, rows: int) -> Steps:
    return built(ctx, not_null_recipe(t, column, ctx.version), rows)


@handles(table.SetNotNull)
def set_not_null(item: Analyzed, ctx: PlanContext) -> Steps:
    op: table.SetNotNull = item.op
    t = table_of(op)
    if item.new_table or not item.effect.scans_table:
        return [(M, ddl(ctx, f"SET NOT NULL on {t}.{op.column}", [item.stmt.sql if item.new_table else
                        f"ALTER TABLE {t.sql} ALTER COLUMN {q(op.column)} SET NOT NULL"],
                        [f"ALTER TABLE {t.sql} ALTER COLUMN {q(op.column)} DROP NOT NULL"], t))]
    return not_null_steps(ctx, t, op.column, ctx.rows(item))

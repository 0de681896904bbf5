"""Rewrites: each turns one operation into the list of steps that does the same thing safely.

One module per family of operations (like ``migspec.rules``), found by walking the package: a
module registers its functions with ``@handles(OperationClass, ...)``; an operation no module
handles runs as written (``passthrough``) with ``Operation.reverse()`` as its DOWN. A rewrite
returns ``[(phase, Step), ...]``. Rewrites never paste strings into the user's SQL: names go
through quote_ident, the user's expressions and definitions are re-printed by pglast from the
parsed tree.
"""

from __future__ import annotations

import importlib
from functools import cache

from pglast import ast
from pglast.enums import ObjectType

from migspec.analysis import Analyzed
# Names, not modules: the package's own modules (constraint, data, index ...) become attributes of
# the package when imported, and would shadow an ``ops`` module of the same name here.
from migspec.frozen import replace
from migspec.ops.constraint import DropConstraint
from migspec.ops.misc import DropTrigger
from migspec.ops.session import SetSetting, TransactionControl
from migspec.ops.table import DropNotNull
from migspec.parse.source import Placeholder
from migspec.plan.context import PlanContext
from migspec.plan.rewrites.base import REWRITES, Known, Rewrite
from migspec.plan.steps import C, E, M, Steps, ddl, with_down
from migspec.planfile.model import Step
from migspec.submodules import submodule_names

SKIPPED = (TransactionControl, SetSetting)


@cache
def registry() -> dict[type, Rewrite]:
    """Every rewrite module of this package imported (each registers itself with ``@handles``)."""
    for name in submodule_names(__path__):
        if name != "base":
            importlib.import_module(f"{__name__}.{name}")
    return REWRITES


def passthrough(item: Analyzed, ctx: PlanContext) -> Steps:
    """Operations that are already safe, or have no online form: run as written, with a guard and
    the operation's own reverse() as DOWN."""
    from migspec.plan.rewrites.not_null import set_not_null_online

    op = item.op
    back = op.reverse(Known(ctx.schema))
    node = item.stmt.node
    # A type or sequence goes after the columns that use it (dropped in CONTRACT).
    phase = C if op.destructive or isinstance(op, (DropConstraint, DropTrigger)) or (
        isinstance(node, ast.DropStmt) and node.removeType in (ObjectType.OBJECT_TYPE, ObjectType.OBJECT_SEQUENCE)) else E
    est = ctx.calibration.work(item.effect.work, ctx.rows(item), ctx.size(op.table)) if op.table else None
    # The statement as written: its lock is the one lint derived for it in the migration's context.
    step = ddl(ctx, op.describe(), [item.stmt.sql], list(back.statements), op.table, lock=item.effect.strongest,
               estimate=est, transactional=not op.no_transaction, down_note=back.note, reversible=back.reversible)
    if isinstance(op, DropNotNull) and op.table and not item.new_table:
        step = with_down(replace(step, down_note="the DOWN sets NOT NULL online (CHECK NOT VALID, "
                                                             "VALIDATE); it fails if NULLs arrived meanwhile"),
                         set_not_null_online(ctx, op.table, op.column, ctx.rows(item)))
    return [(phase, step)]


def framework_placeholder(item: Analyzed) -> Steps:
    """A framework operation with no SQL (Django RunPython): a human runs it; migspec cannot."""
    return [(M, Step(f"run by hand: the {item.op.describe()} at {item.stmt.location} - migspec cannot see or "
                     "run it", (), (), manual=True, reversible=False,
                     down_note="unknown: the framework operation's own reverse, if it has one"))]


def rewrite(item: Analyzed, ctx: PlanContext) -> Steps:
    """The steps for one analysed operation."""
    if isinstance(item.op, SKIPPED):
        return []
    if isinstance(item.stmt.node, Placeholder):
        return framework_placeholder(item)
    return registry().get(type(item.op), passthrough)(item, ctx)

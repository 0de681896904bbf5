"""Rewrites: each turns one operation into the list of steps that does the same thing safely.

One module per family of operations (like ``migspec.rules``), found by walking the package: a
module registers its functions with ``@handles(OperationClass, ...)``; an operation no module
handles runs as written (``passthrough``) with ``Operation.reverse()`` as its DOWN. A rewrite
returns ``[(phase, Step), ...]``. Rewrites never paste strings into the user's SQL: names go
through quote_ident, the user's expressions and definitions are re-printed by pglast from the
parsed tree.
"""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
from functools import cache

from pglast import ast
from pglast.enums import ObjectType

from migspec.analysis import Analyzed
from migspec.names import QualifiedName, quote_literal
from migspec.ops.base import Reverse
from migspec.planfile.sql import q
# Names, not modules: the package's own modules (constraint, data, index ...) become attributes of
# the package when imported, and would shadow an ``ops`` module of the same name here.
from migspec.ops.constraint import DropConstraint
from migspec.ops.misc import DropTrigger
from migspec.ops.session import SetSetting, TransactionControl
from migspec.ops.table import DropNotNull
from migspec.parse.source import Placeholder
from migspec.plan.context import PlanContext
from migspec.plan.rewrites.base import REWRITES, Known, Rewrite
from migspec.plan.steps import C, E, M, Steps, ddl, with_down
from migspec.planfile.model import Step

SKIPPED = (TransactionControl, SetSetting)


@cache
def registry() -> dict[type, Rewrite]:
    """Every rewrite module of this package imported (each registers itself with ``@handles``)."""
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name != "base":
            importlib.import_module(f"{__name__}.{info.name}")
    return REWRITES


def passthrough(item: Analyzed, ctx: PlanContext) -> Steps:
    """Operations that are already safe, or have no online form: run as written, with a guard and
    the operation's own reverse() as DOWN."""
    from migspec.plan.rewrites.not_null import set_not_null_online

    op = item.op
    back = statement_reverse(item, ctx) or op.reverse(Known(ctx.schema))
    node = item.stmt.node
    # A type or sequence goes after the columns that use it (dropped in CONTRACT).
    phase = C if op.destructive or isinstance(op, (DropConstraint, DropTrigger)) or (
        isinstance(node, ast.DropStmt) and node.removeType in (ObjectType.OBJECT_TYPE, ObjectType.OBJECT_SEQUENCE)) else E
    est = ctx.calibration.work(item.effect.work, ctx.rows(item), ctx.size(op.table)) if op.table else None
    # The statement as written: its lock is the one lint derived for it in the migration's context.
    step = ddl(ctx, op.describe(), [item.stmt.sql], list(back.statements), op.table, lock=item.effect.strongest,
               estimate=est, transactional=not op.no_transaction, down_note=back.note, reversible=back.reversible)
    if isinstance(op, DropNotNull) and op.table and not item.new_table:
        step = with_down(dataclasses.replace(step, down_note="the DOWN sets NOT NULL online (CHECK NOT VALID, "
                                                             "VALIDATE); it fails if NULLs arrived meanwhile"),
                         set_not_null_online(ctx, op.table, op.column, ctx.rows(item)))
    return [(phase, step)]


#: DROP statements whose DOWN is the object's CREATE, when the schema model holds it.
_RECREATABLE = (ObjectType.OBJECT_VIEW, ObjectType.OBJECT_SEQUENCE, ObjectType.OBJECT_TYPE, ObjectType.OBJECT_SCHEMA)
_SEQUENCE_OPTIONS = (("increment", "INCREMENT BY"), ("minimum", "MINVALUE"), ("maximum", "MAXVALUE"),
                     ("start", "START WITH"), ("cache", "CACHE"))


def _create_again(ctx: PlanContext, kind: ObjectType, name: QualifiedName) -> str | None:
    """The CREATE of a view, sequence or enum type the schema model knows, else None. A sequence
    comes back with the parameters the model holds (a model read from a dump without them: the
    type's defaults), not its last value."""
    view, enum, seq = ctx.schema.views.get(name), ctx.schema.enums.get(name), ctx.schema.sequences.get(name)
    if kind == ObjectType.OBJECT_VIEW and view is not None and view.definition and not view.materialized:
        return f"CREATE VIEW {name.sql} AS {view.definition}"
    if kind == ObjectType.OBJECT_SEQUENCE and seq is not None:
        options = [f"{sql} {getattr(seq, attr)}" for attr, sql in _SEQUENCE_OPTIONS
                   if getattr(seq, attr, None) is not None]
        return " ".join([f"CREATE SEQUENCE {name.sql} AS {seq.type}", *options]
                        + (["CYCLE"] if getattr(seq, "cycle", False) else []))
    if kind == ObjectType.OBJECT_TYPE and enum is not None:
        return f"CREATE TYPE {name.sql} AS ENUM ({', '.join(map(quote_literal, enum.labels))})"
    return None


def _relation(rv: ast.RangeVar) -> QualifiedName:
    """A pglast RangeVar's name (parse.operations.relation_name reads the JSON tree instead)."""
    return QualifiedName(rv.schemaname or "public", rv.relname)


def statement_reverse(item: Analyzed, ctx: PlanContext) -> Reverse | None:
    """The DOWN of statements whose operation does not carry the names it needs yet (renames of a
    constraint or an index; a DROP of a view, sequence, enum or schema the schema model can
    re-create); None: the operation's own reverse() answers. (Added with plan --target; moving
    these into their operations needs the parser to record the names.)"""
    node = item.stmt.node
    if isinstance(node, ast.RenameStmt) and node.renameType == ObjectType.OBJECT_TABCONSTRAINT:
        return Reverse((f"ALTER TABLE {_relation(node.relation).sql} RENAME CONSTRAINT {q(node.newname)} TO "
                        f"{q(node.subname)}",))
    if isinstance(node, ast.RenameStmt) and node.renameType == ObjectType.OBJECT_INDEX:
        old = _relation(node.relation)
        return Reverse((f"ALTER INDEX {old.sibling(node.newname).sql} RENAME TO {q(old.name)}",))
    if isinstance(node, ast.DropStmt) and node.removeType in _RECREATABLE and len(node.objects) == 1:
        if node.removeType == ObjectType.OBJECT_SCHEMA:
            return Reverse((f"CREATE SCHEMA {q(node.objects[0].sval)}",))
        obj = node.objects[0]
        names = [p.sval for p in (obj.names if isinstance(obj, ast.TypeName) else obj)]
        name = QualifiedName(names[-2] if len(names) > 1 else "public", names[-1])
        create = _create_again(ctx, node.removeType, name)
        if create:
            return Reverse((create,))
    return None


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

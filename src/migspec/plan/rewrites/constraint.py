"""ADD CONSTRAINT: CHECK and FOREIGN KEY as NOT VALID + VALIDATE (an index for the referencing
columns first); UNIQUE and PRIMARY KEY from a unique index built CONCURRENTLY."""

from __future__ import annotations

import copy
from typing import Any

from pglast import ast

from migspec.analysis import Analyzed
from migspec.names import identifier
from migspec.ops import constraint
from migspec.plan.context import PlanContext
from migspec.schema import sql_of
from migspec.names import default_index_name
from migspec.plan.steps import E, M, Steps, built, ddl
from migspec.plan.recipes import constraint_name, not_valid_then_validate
from migspec.plan.rewrites.base import handles, table_of
from migspec.plan.rewrites.index import leading_columns
from migspec.plan.rewrites.not_null import not_null_steps
from migspec.planfile.sql import cols, q


@handles(constraint.AddConstraint)
def add_constraint(item: Analyzed, ctx: PlanContext) -> Steps:
    op: constraint.AddConstraint = item.op
    t = table_of(op)
    node = copy.deepcopy(item.stmt.node.cmds[[getattr(c, "def_", None) is not None and
                                              isinstance(c.def_, ast.Constraint) for c in item.stmt.node.cmds].index(True)].def_)
    if len([c for c in item.stmt.node.cmds if isinstance(getattr(c, "def_", None), ast.Constraint)]) > 1:
        node = _constraint_node(item)
    name = op.name or constraint_name(t, op.columns, op.constraint)
    node.conname = name
    cname = q(name)
    drop = [f"ALTER TABLE {t.sql} DROP CONSTRAINT IF EXISTS {cname}"]
    if item.new_table:
        return [(E, ddl(ctx, f"add constraint {name} (new table)", [item.stmt.sql], drop, t))]
    if op.constraint in ("check", "foreign_key"):
        steps: Steps = []
        if op.constraint == "foreign_key":
            facts = ctx.schema.known(t)
            # pg_dump writes a primary key as a constraint, not a CREATE INDEX: it covers too.
            covered = facts is not None and (facts.primary_key[:1] == op.columns[:1] or any(
                leading_columns(idx.definition) == op.columns[:1] for idx in facts.indexes.values()))
            if facts is not None and (facts.indexes or facts.columns) and not covered and op.columns:
                idx = t.sibling(default_index_name(t, op.columns))
                est = ctx.calibration.duration("index_build_concurrent", ctx.rows(item), ctx.size(t))
                steps.append((E, ddl(ctx, f"index the referencing column(s) {', '.join(op.columns)} CONCURRENTLY "
                                          "(no index covers them)",
                                     [f"CREATE INDEX CONCURRENTLY {q(idx.name)} ON {t.sql} ({cols(op.columns)})"],
                                     [f"DROP INDEX CONCURRENTLY IF EXISTS {idx.sql}"], t, estimate=est, transactional=False)))
        node.conname, node.skip_validation = None, False  # the definition alone: name and NOT VALID added below
        return steps + built(ctx, not_valid_then_validate(t, name, sql_of(node)), ctx.rows(item))
    if op.constraint in ("unique", "primary_key") and not op.using_index:
        idx_name = name if op.name else (identifier(f"{t.name}_pkey") if op.constraint == "primary_key"
                                         else default_index_name(t, op.columns, True))
        if not op.name:
            name, cname = idx_name, q(idx_name)
        idx = t.sibling(idx_name)
        est = ctx.calibration.duration("index_build_concurrent", ctx.rows(item), ctx.size(t))
        steps = [(E, ddl(ctx, f"build unique index {idx_name} CONCURRENTLY (writes continue)",
                         [f"CREATE UNIQUE INDEX CONCURRENTLY {q(idx.name)} ON {t.sql} ({cols(op.columns)})"],
                         [f"DROP INDEX CONCURRENTLY IF EXISTS {idx.sql}"], t, estimate=est, transactional=False))]
        nullable = False
        if op.constraint == "primary_key":
            facts = ctx.schema.known(t)
            for c in op.columns:
                if not (facts and c in facts.columns and facts.columns[c].not_null):
                    steps += not_null_steps(ctx, t, c, ctx.rows(item))
                    nullable = True
        kind = "PRIMARY KEY" if op.constraint == "primary_key" else "UNIQUE"
        # After the NOT NULL steps (MIGRATE) when it needs them; else in EXPAND, before a foreign
        # key of the same migration that references it (its DOWN must not drop a key in use).
        steps.append((M if nullable else E,
                      ddl(ctx, f"attach {idx_name} as {kind} constraint {name} (catalog only)",
                          [f"ALTER TABLE {t.sql} ADD CONSTRAINT {cname} {kind} USING INDEX {q(idx_name)}"],
                          [f"ALTER TABLE {t.sql} DROP CONSTRAINT IF EXISTS {cname}"], t,
                          down_note="dropping the constraint drops its index too")))
        return steps
    if op.constraint == "not_null" and op.not_null_column:
        return not_null_steps(ctx, t, op.not_null_column, ctx.rows(item))
    est = ctx.calibration.work(item.effect.work, ctx.rows(item), ctx.size(t))
    return [(E, ddl(ctx, f"add {op.constraint} constraint {name}: no online form, needs a maintenance window",
                    [f"ALTER TABLE {t.sql} ADD {sql_of(node)}"], drop, t, estimate=est))]


def _constraint_node(item: Analyzed) -> Any:
    for c in item.stmt.node.cmds:
        d = getattr(c, "def_", None)
        if isinstance(d, ast.Constraint) and (d.conname == item.op.name):
            return copy.deepcopy(d)
    raise AssertionError("constraint sub-command not found")

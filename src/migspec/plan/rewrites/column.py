"""ADD COLUMN: catalog-only when it can be; otherwise the column bare, then the default for new
rows, a batched backfill, NOT NULL online and inline constraints online."""

from __future__ import annotations

from typing import Any

from migspec.analysis import Analyzed
from migspec.errors import RefusedError
from migspec.names import QualifiedName, identifier, quote_literal
from migspec.ops import table
from migspec.plan.context import PlanContext
from migspec.schema import Column, sql_of
from migspec.plan.steps import E, M, Steps, backfill_step, built, ddl
from migspec.plan.recipes import not_valid_then_validate
from migspec.plan.rewrites.base import cmd_index, handles, primary_key, table_of
from migspec.plan.rewrites.not_null import not_null_steps
from migspec.planfile.model import Backfill
from migspec.planfile.sql import cols, q


@handles(table.AddColumn)
def add_column(item: Analyzed, ctx: PlanContext) -> Steps:
    op: table.AddColumn = item.op
    t = table_of(op)
    coldef = item.stmt.node.cmds[cmd_index(item)].def_
    col, typ = q(op.column), sql_of(coldef.typeName)
    default_sql = sql_of(op.default) if op.default is not None else None
    ctx.schema.table(t).columns[op.column] = Column(op.column, typ, op.not_null, default_sql)
    drop = [f"ALTER TABLE {t.sql} DROP COLUMN IF EXISTS {col}"]
    rewrite = op.rewrite_reason(ctx.version)
    inline = op.inline_check or op.inline_unique or op.references is not None
    if item.new_table or not (rewrite or inline or (op.not_null and default_sql is None)):
        text = f"ALTER TABLE {t.sql} ADD COLUMN {col} {typ}"
        if default_sql is not None:
            text += f" DEFAULT {default_sql}"
        if op.not_null:
            text += " NOT NULL"
        if item.new_table:
            text = item.stmt.sql
        return [(E, ddl(ctx, f"add column {op.column} to {t}" + (" (catalog only)" if not item.new_table else ""),
                        [text], drop, t))]
    if op.identity or op.generated_stored:
        raise RefusedError(f"{item.stmt.location}: migspec cannot yet plan an online "
                           f"{'identity' if op.identity else 'stored generated'} column on an existing table; "
                           "add a plain column with a trigger and a batched backfill by hand")
    if op.not_null and default_sql is None and not (op.type is not None and op.type.is_serial):
        raise RefusedError(f"{item.stmt.location}: {t}.{op.column} is NOT NULL without a DEFAULT: existing rows "
                           "need a value - give a DEFAULT (or add the column nullable and backfill it)")
    steps: Steps = []
    seq = t.sibling(identifier(f"{t.name}_{op.column}_seq"))
    if op.type is not None and op.type.is_serial:
        typ = str(op.type.stored).replace("int8", "bigint").replace("int4", "integer").replace("int2", "smallint")
        default_sql = f"nextval({quote_literal(seq.sql)}::regclass)"
        steps.append((E, ddl(ctx, f"create sequence {seq.name} for {t}.{op.column}",
                             [f"CREATE SEQUENCE IF NOT EXISTS {seq.sql} AS {typ}"],
                             [f"DROP SEQUENCE IF EXISTS {seq.sql}"], None)))
    steps.append((E, ddl(ctx, f"add column {op.column} to {t} without default or constraints (catalog only)",
                         [f"ALTER TABLE {t.sql} ADD COLUMN {col} {typ}"], drop, t)))
    if op.type is not None and op.type.is_serial:
        steps.append((E, ddl(ctx, f"tie sequence {seq.name} to the column",
                             [f"ALTER SEQUENCE {seq.sql} OWNED BY {t.sql}.{col}"],
                             [f"ALTER SEQUENCE {seq.sql} OWNED BY NONE"], None)))
    rows = ctx.rows(item)
    if default_sql is not None:
        steps.append((E, ddl(ctx, f"set the default for new rows of {t}.{op.column} (existing rows unchanged)",
                             [f"ALTER TABLE {t.sql} ALTER COLUMN {col} SET DEFAULT {default_sql}"],
                             [f"ALTER TABLE {t.sql} ALTER COLUMN {col} DROP DEFAULT"], t)))
        pk = primary_key(ctx, t)
        steps.append((M, backfill_step(
            ctx, f"backfill {t}.{op.column} for existing rows in keyset batches",
            Backfill(t, pk, ((op.column, default_sql),), f"{col} IS NULL"), rows,
            down_note="nothing to undo separately: the EXPAND rollback drops the column",
            post_check=f"SELECT NOT EXISTS (SELECT 1 FROM {t.sql} WHERE {col} IS NULL) AS ok")))
    if op.not_null:
        steps += not_null_steps(ctx, t, op.column, rows)
    return steps + _inline_constraint_steps(item, ctx, t, coldef)


def _inline_constraint_steps(item: Analyzed, ctx: PlanContext, t: QualifiedName, coldef: Any) -> Steps:
    """CHECK / REFERENCES / UNIQUE / PRIMARY KEY written on a new column, each done online after the
    column exists and is filled: NOT VALID + VALIDATE, or a unique index CONCURRENTLY + USING INDEX."""
    from pglast.enums import ConstrType as CT

    column = coldef.colname
    rows = ctx.rows(item)
    steps: Steps = []
    for con in coldef.constraints or ():
        if con.contype == CT.CONSTR_FOREIGN and con.pktable is not None:
            ref = QualifiedName(con.pktable.schemaname or "public", con.pktable.relname)
            name = con.conname or identifier(f"{t.name}_{column}_fkey")
            target = f" ({cols([a.sval for a in con.pk_attrs])})" if con.pk_attrs else ""
            steps += built(ctx, not_valid_then_validate(t, name, f"FOREIGN KEY ({q(column)}) REFERENCES {ref.sql}{target}"),
                           rows)
        elif con.contype == CT.CONSTR_CHECK and con.raw_expr is not None:
            name = con.conname or identifier(f"{t.name}_{column}_check")
            steps += built(ctx, not_valid_then_validate(t, name, f"CHECK ({sql_of(con.raw_expr)})"), rows)
        elif con.contype in (CT.CONSTR_UNIQUE, CT.CONSTR_PRIMARY):
            kind = "PRIMARY KEY" if con.contype == CT.CONSTR_PRIMARY else "UNIQUE"
            name = con.conname or identifier(f"{t.name}_pkey" if kind == "PRIMARY KEY" else f"{t.name}_{column}_key")
            idx = t.sibling(name)
            est = ctx.calibration.duration("index_build_concurrent", rows, ctx.size(t))
            steps.append((M, ddl(ctx, f"build unique index {name} CONCURRENTLY (writes continue)",
                                 [f"CREATE UNIQUE INDEX CONCURRENTLY {q(name)} ON {t.sql} ({q(column)})"],
                                 [f"DROP INDEX CONCURRENTLY IF EXISTS {idx.sql}"], t, estimate=est, transactional=False)))
            steps.append((M, ddl(ctx, f"attach {name} as {kind} (catalog only)",
                                 [f"ALTER TABLE {t.sql} ADD CONSTRAINT {q(name)} {kind} USING INDEX {q(name)}"],
                                 [f"ALTER TABLE {t.sql} DROP CONSTRAINT IF EXISTS {q(name)}"], t,
                                 down_note="dropping the constraint drops its index too")))
    return steps

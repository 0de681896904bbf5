"""ALTER COLUMN ... TYPE that rewrites: a new column filled by a trigger and a batched backfill,
its indexes rebuilt concurrently, a swap at CONTRACT with the old column archived for the DOWN."""

from __future__ import annotations

import copy
from typing import Any

from pglast import ast

from migspec.analysis import Analyzed
from migspec.names import QualifiedName, identifier, quote_ident
from migspec.ops import table
from migspec.plan.context import PlanContext
from migspec.schema import Column, sql_of
from migspec.schema.model import CHECK
from migspec.plan.sql import BACKUP_SCHEMA, sync_trigger
from migspec.plan.steps import C, E, M, Steps, backfill_step, built, ddl, with_down
from migspec.plan.recipes import not_valid_then_validate
from migspec.plan.rewrites.base import (column_fact, confirmation, handles, parse_one, primary_key,
                                        refuse_if_views_read, table_of)
from migspec.plan.rewrites.index import copy_indexes, drop_dependent_indexes
from migspec.plan.rewrites.not_null import not_null_steps, set_not_null_online
from migspec.planfile.model import Backfill, Step
from migspec.planfile.sql import cols, q
from migspec.versions import supports


@handles(table.AlterColumnType)
def alter_type(item: Analyzed, ctx: PlanContext) -> Steps:
    op: table.AlterColumnType = item.op
    t = table_of(op)
    cmd = item.stmt.node.cmds[[getattr(c, "name", None) for c in item.stmt.node.cmds].index(op.column)]
    new_type = sql_of(cmd.def_.typeName)
    # The statement's COLLATE is part of the change (it was dropped from the emitted SQL).
    collate = f" {sql_of(cmd.def_.collClause)}" if cmd.def_.collClause is not None else ""
    old = column_fact(ctx, t, op.column)
    col = q(op.column)
    if item.effect.rewrites_table and not item.new_table:
        refuse_if_views_read(ctx, item, t, op.column, "a type change")
    if not item.effect.rewrites_table or item.new_table:
        ctx.schema.table(t).columns[op.column] = Column(op.column, new_type, old.not_null, old.default,
                                                        old.collation if new_type == old.type else None)
        # The DOWN states the old collation: without COLLATE a same-type change keeps the new one.
        back = (f" COLLATE {_collation_sql(old.collation)}" if collate or old.collation not in (None, "default")
                else "")
        # Indexes PostgreSQL cannot reuse are rebuilt under the lock: the step claims that work.
        rebuild = item.effect.rebuilds and not item.new_table
        est = ctx.calibration.work(item.effect.work, ctx.rows(item), ctx.size(t)) if rebuild else None
        return [(E, ddl(ctx, f"change {t}.{op.column} to {new_type} "
                        + (f"(no table rewrite; rebuilds {', '.join(i.name for i in item.effect.rebuilds)})"
                           if rebuild else "(catalog only: no rewrite)"),
                        [f"ALTER TABLE {t.sql} ALTER COLUMN {col} TYPE {new_type}{collate}"],
                        [f"ALTER TABLE {t.sql} ALTER COLUMN {col} TYPE {old.type}{back}"], t,
                        estimate=est,
                        down_note="the DOWN changes the type back, which may rewrite the table and fails "
                                  "if values that only fit the new type arrived"))]
    tmp = identifier(f"{op.column}__migspec_new")
    tcol = q(tmp)
    to_new = (sql_of(_on_new_row(op.using, op.column)) if op.using is not None
              else f"CAST(NEW.{col} AS {new_type})")
    # One way: until the swap only the old column is written (and a cast back could be lossy).
    fn, trg, drop_trg = sync_trigger(t, op.column, tmp, to_new, None, f"retype_{op.column}")
    rows = ctx.rows(item)
    pk = primary_key(ctx, t)
    backfill_expr = (sql_of(op.using) if op.using is not None else f"CAST({col} AS {new_type})")
    steps: Steps = [
        (E, ddl(ctx, f"add column {tmp} {new_type} beside {t}.{op.column} (catalog only)",
                [f"ALTER TABLE {t.sql} ADD COLUMN {tcol} {new_type}{collate}"],
                [f"ALTER TABLE {t.sql} DROP COLUMN IF EXISTS {tcol}"], t)),
        (E, ddl(ctx, f"install a trigger filling {tmp} from {op.column} on every write",
                [fn, trg], drop_trg.split("; "), t)),
        (M, backfill_step(ctx, f"copy {op.column} into {tmp} in keyset batches",
                           Backfill(t, pk, ((tmp, backfill_expr),), f"{tcol} IS DISTINCT FROM {backfill_expr}"), rows,
                           down_note="nothing to undo separately: the EXPAND rollback drops the column")),
    ]
    if old.not_null:
        steps += not_null_steps(ctx, t, tmp, rows)
    # The column's indexes, rebuilt on the new column before the swap (they went away with the
    # old column, and its DOWN did not bring them back: found by verify with an expression index).
    steps += copy_indexes(ctx, t, op.column, tmp, rows, M)
    raw_old = identifier(f"{op.column}__migspec_old")
    # The column's CHECK constraints, recreated on the new column (NOT VALID, then VALIDATE) before
    # the swap: they would go with the old column's drop, and a user's invariant with them.
    checks = _checks_on(ctx, t, op.column)
    renames_up: list[str] = []
    renames_down: list[str] = []
    readd: list[Step] = []
    for name, expr in checks.items():
        new_c = q(identifier(f"{name}__migspec_new"))
        # A CHECK the user left NOT VALID stays so: old rows may break it, its VALIDATE would fail.
        validated = ctx.schema.table(t).constraints[name].validated
        steps += built(ctx, not_valid_then_validate(t, identifier(f"{name}__migspec_new"),
                                                    f"CHECK ({_retarget(expr, op.column, tmp)})",
                                                    add_phase=M)[:None if validated else 1], rows)
        # At the swap the old column's copy goes (nothing writes that column any more: a CHECK
        # rejecting its NULLs would reject every INSERT); the swap's DOWN adds it back, validated.
        renames_up += [f"ALTER TABLE {t.sql} DROP CONSTRAINT {q(name)}",
                       f"ALTER TABLE {t.sql} RENAME CONSTRAINT {new_c} TO {q(name)}"]
        renames_down += [f"ALTER TABLE {t.sql} RENAME CONSTRAINT {q(name)} TO {new_c}"]
        readd += [s for _, s in built(ctx, not_valid_then_validate(t, name, f"CHECK ({sql_of(expr)})", add_phase=C)
                                      [:None if validated else 1], rows)]
    canonical, confirmed = confirmation(ctx, t, op.column)
    old_name = q(raw_old)
    # Where the recipe named the new column's NOT NULL (18: ``<table>_<tmp>_not_null``), the swap
    # gives it the old column's name once that one is dropped (18 keeps a name through a column
    # rename: the dump would differ), and its DOWN gives the name back before the old column's
    # NOT NULL is set again (observed on 18.1: tests/test_diff_corpus.py retype-int-bigint).
    nn_names: list[tuple[str, str]] = []
    if old.not_null and supports("not_null_not_valid", ctx.version):
        nn_names = [(q(identifier(f"{t.name}_{tmp}_not_null")),
                     q(old.not_null_name or identifier(f"{t.name}_{op.column}_not_null")))]
    nn_up = [f"ALTER TABLE {t.sql} RENAME CONSTRAINT {a} TO {b}" for a, b in nn_names]
    nn_down = [f"ALTER TABLE {t.sql} RENAME CONSTRAINT {b} TO {a}" for a, b in nn_names]
    archive = QualifiedName(BACKUP_SCHEMA, identifier(f"{t.schema}_{t.name}_{op.column}_old"))
    steps += [
        (C, with_down(ddl(ctx, f"swap: {tmp} becomes {op.column}, the old column is kept as {op.column}__migspec_old",
                          [*drop_trg.split("; "), f"ALTER TABLE {t.sql} RENAME COLUMN {col} TO {old_name}",
                           f"ALTER TABLE {t.sql} RENAME COLUMN {tcol} TO {col}", *renames_up]
                          + ([f"ALTER TABLE {t.sql} ALTER COLUMN {col} SET DEFAULT {old.default}"] if old.default else [])
                          # Nothing writes the old column after the swap: its NOT NULL would reject INSERTs.
                          + ([f"ALTER TABLE {t.sql} ALTER COLUMN {old_name} DROP NOT NULL"] if old.not_null else [])
                          + nn_up,
                          [], t),
                      # The DOWN swaps back (catalog only), then NOT NULL on the old column online.
                      [ddl(ctx, f"swap back: {op.column} is the old column again, {tmp} the new one",
                           ([f"ALTER TABLE {t.sql} ALTER COLUMN {col} DROP DEFAULT"] if old.default else [])
                           + nn_down + [f"ALTER TABLE {t.sql} RENAME COLUMN {col} TO {tcol}",
                              f"ALTER TABLE {t.sql} RENAME COLUMN {old_name} TO {col}", *renames_down, fn, trg],
                           [], t), *readd]
                      + (set_not_null_online(ctx, t, op.column, rows) if old.not_null else []))),
        (C, ddl(ctx, f"archive the old values of {op.column} into {archive} (a cast back may lose data)",
                [f"CREATE SCHEMA IF NOT EXISTS {q(BACKUP_SCHEMA)}",
                 f"CREATE TABLE {archive.sql} AS SELECT {cols(pk)}, {old_name} FROM {t.sql}",
                 f"ALTER TABLE {archive.sql} ADD PRIMARY KEY ({cols(pk)})"],
                [f"DROP TABLE IF EXISTS {archive.sql}"], None,
                estimate=ctx.calibration.duration("rewrite", rows, ctx.size(t)), basis="copy of the column")),
        *drop_dependent_indexes(ctx, t, op.column, rows, named_now=identifier(f"{op.column}__migspec_old")),
        (C, with_down(ddl(ctx, f"drop the old column {op.column}__migspec_old (destructive: needs confirmation)",
                          [f"ALTER TABLE {t.sql} DROP COLUMN {old_name}"], [], t,
                          requires_confirmation=canonical,
                          down_note=f"the DOWN restores the old column from {archive} in batches"),
                      # Rows that existed at the drop get their exact old value back; rows inserted
                      # later only exist in the new type and are cast back. Both in keyset batches.
                      [ddl(ctx, f"re-add {raw_old} to {t}",
                           [f"ALTER TABLE {t.sql} ADD COLUMN {old_name} {old.type}"]
                           + ([f"ALTER TABLE {t.sql} ALTER COLUMN {old_name} SET DEFAULT {old.default}"]
                              if old.default else []), [], t),
                       backfill_step(ctx, f"restore {raw_old} from {archive} in keyset batches",
                                      Backfill(t, pk, ((raw_old, f"s.{old_name}"),),
                                               f"t.{old_name} IS NULL AND s.{old_name} IS NOT NULL", source=archive),
                                      rows),
                       backfill_step(ctx, f"cast {op.column} back into {raw_old} for rows inserted after the archive",
                                      Backfill(t, pk, ((raw_old, f"CAST({col} AS {old.type})"),),
                                               f"{old_name} IS NULL AND {col} IS NOT NULL AND NOT EXISTS (SELECT 1 "
                                               f"FROM {archive.sql} AS a WHERE "
                                               + " AND ".join(f"a.{q(k)} = {t.sql}.{q(k)}" for k in pk) + ")"),
                                      rows)])),
    ]
    return steps


def _collation_sql(name: str | None) -> str:
    """A collation as the schema facts hold it (``C``, ``public.mine``; None or ``default``: the
    type's default) in SQL."""
    if name in (None, "default"):
        return 'pg_catalog."default"'
    return ".".join(quote_ident(part) for part in name.split("."))  # the catalog's names, joined


def _checks_on(ctx: PlanContext, t: QualifiedName, column: str) -> dict[str, Any]:
    """The CHECK constraints of ``t`` (own, not a partition's inherited copy) that read ``column``:
    name -> the parsed expression."""
    from migspec.parse.source import iter_nodes

    facts = ctx.schema.known(t)
    found: dict[str, Any] = {}
    for name, con in (facts.constraints.items() if facts else ()):
        if con.kind != CHECK or con.inherited or not con.definition:
            continue
        node = parse_one(f"ALTER TABLE x ADD CONSTRAINT c {con.definition}").cmds[0].def_
        if any(isinstance(n, ast.ColumnRef) and len(n.fields) == 1 and getattr(n.fields[0], "sval", None) == column
               for n in iter_nodes(node.raw_expr)):
            found[name] = node.raw_expr
    return found


def _on_new_row(expr: Any, column: str) -> Any:
    """The USING expression as a trigger computes it: references to the column read NEW.column."""
    from migspec.parse.tree import pglast_node

    return _refs_renamed(pglast_node(expr), column, ("new", column))


def _retarget(expr: Any, old: str, new: str) -> str:
    """The CHECK expression reading column ``new`` where it read ``old``."""
    return sql_of(_refs_renamed(expr, old, (new,)))


def _refs_renamed(expr: Any, column: str, fields: tuple[str, ...]) -> Any:
    """A copy of ``expr`` whose references to ``column`` are ``fields`` (a qualified name)."""
    from migspec.parse.source import iter_nodes

    expr = copy.deepcopy(expr)
    for node in iter_nodes(expr):
        if isinstance(node, ast.ColumnRef) and len(node.fields) == 1 and getattr(node.fields[0], "sval", None) == column:
            node.fields = tuple(ast.String(sval=f) for f in fields)
    return expr

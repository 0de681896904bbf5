"""RENAME COLUMN as expand/contract with a two-way sync trigger; RENAME TABLE with a compatibility
view under the old name."""

from __future__ import annotations


from migspec.analysis import Analyzed
from migspec.ops import table
from migspec.plan.context import PlanContext
from migspec.schema import Column
from migspec.plan.sql import sync_trigger
from migspec.plan.steps import C, E, M, Steps, backfill_step, ddl, with_down
from migspec.plan.rewrites.base import column_fact, confirmation, handles, primary_key, refuse_if_views_read, table_of
from migspec.plan.rewrites.index import copy_indexes, drop_dependent_indexes
from migspec.plan.rewrites.not_null import not_null_steps, set_not_null_online
from migspec.planfile.model import Backfill, Step
from migspec.planfile.sql import q


@handles(table.RenameColumn)
def rename_column(item: Analyzed, ctx: PlanContext) -> Steps:
    op: table.RenameColumn = item.op
    t = table_of(op)
    if item.new_table:
        return [(E, ddl(ctx, f"rename {t}.{op.column} (new table: no running code uses it)", [item.stmt.sql],
                        [f"ALTER TABLE {t.sql} RENAME COLUMN {q(op.new_name)} TO {q(op.column)}"], t))]
    old = column_fact(ctx, t, op.column)
    refuse_if_views_read(ctx, item, t, op.column, "a rename")
    o, n = q(op.column), q(op.new_name)
    fn, trg, drop_trg = sync_trigger(t, op.column, op.new_name, f"NEW.{o}", f"NEW.{n}", f"rename_{op.column}")
    rows = ctx.rows(item)
    pk = primary_key(ctx, t)
    ctx.schema.table(t).columns[op.new_name] = Column(op.new_name, old.type, old.not_null, old.default)
    # No DEFAULT on the new column until cutover: the sync trigger tells the two application
    # versions' INSERTs apart by it (plan.sql.sync_trigger).
    steps: Steps = [
        (E, ddl(ctx, f"add column {op.new_name} {old.type} to {t} (catalog only"
                + ("; its DEFAULT comes at cutover)" if old.default else ")"),
                [f"ALTER TABLE {t.sql} ADD COLUMN {n} {old.type}"],
                [f"ALTER TABLE {t.sql} DROP COLUMN IF EXISTS {n}"], t)),
        (E, ddl(ctx, f"install a trigger keeping {op.column} and {op.new_name} in sync in both directions",
                [fn, trg], drop_trg.split("; "), t)),
        (M, backfill_step(ctx, f"copy {op.column} into {op.new_name} in keyset batches",
                           Backfill(t, pk, ((op.new_name, o),), f"{n} IS DISTINCT FROM {o}"), rows,
                           down_note="nothing to undo separately: the EXPAND rollback drops the column")),
    ]
    if old.not_null:
        steps += not_null_steps(ctx, t, op.new_name, rows)
    steps += copy_indexes(ctx, t, op.column, op.new_name, rows, M)
    steps.append((M, Step(f"deploy the application reading and writing {op.new_name} instead of {op.column}",
                          (), (), manual=True, down_note="redeploy the previous application version")))
    canonical, _ = confirmation(ctx, t, op.column)
    if old.default:
        steps.append((C, ddl(ctx, f"give {op.new_name} the DEFAULT of {op.column} (only the new application runs)",
                             [f"ALTER TABLE {t.sql} ALTER COLUMN {n} SET DEFAULT {old.default}"],
                             [f"ALTER TABLE {t.sql} ALTER COLUMN {n} DROP DEFAULT"], t)))
    if old.not_null:
        # The new application no longer writes the old column: once the trigger is gone its
        # NOT NULL would reject every INSERT.
        steps.append((C, with_down(ddl(ctx, f"drop NOT NULL on the old column {op.column} (nothing writes it any "
                                            "more)",
                                       [f"ALTER TABLE {t.sql} ALTER COLUMN {o} DROP NOT NULL"], [], t,
                                       down_note="the DOWN sets NOT NULL online (CHECK NOT VALID, VALIDATE)"),
                                   set_not_null_online(ctx, t, op.column, rows))))
    steps += [
        # Its DOWN replaces the trigger the drop-old DOWN installed (idempotent either way).
        (C, ddl(ctx, "remove the sync trigger", drop_trg.split("; "), [*drop_trg.split("; "), fn, trg], t)),
        *drop_dependent_indexes(ctx, t, op.column, rows),
        (C, with_down(ddl(ctx, f"drop the old column {op.column} (destructive: needs confirmation)",
                          [f"ALTER TABLE {t.sql} DROP COLUMN {o}"], [], t, requires_confirmation=canonical,
                          down_note="the DOWN re-adds the old column and copies the data back from the new one "
                                    "in batches"),
                      # The trigger first, in the re-add's transaction: rows the application
                      # writes meanwhile through the new name fill the old column too, so none is
                      # left NULL behind the batched copy (NOT NULL comes back after it).
                      [ddl(ctx, f"re-add the old column {op.column} to {t} with the sync trigger",
                           [f"ALTER TABLE {t.sql} ADD COLUMN {o} {old.type}"]
                           + ([f"ALTER TABLE {t.sql} ALTER COLUMN {o} SET DEFAULT {old.default}"] if old.default
                              else []) + [fn, trg], [], t),
                       backfill_step(ctx, f"copy {op.new_name} back into {op.column} in keyset batches",
                                      Backfill(t, pk, ((op.column, n),), f"{o} IS NULL AND {n} IS NOT NULL"),
                                      rows)])),
    ]
    return steps


@handles(table.RenameTable)
def rename_table(item: Analyzed, ctx: PlanContext) -> Steps:
    op: table.RenameTable = item.op
    t = table_of(op)
    new = t.sibling(op.new_name)
    if item.new_table:
        return [(E, ddl(ctx, f"rename {t} (new table)", [item.stmt.sql],
                        [f"ALTER TABLE {new.sql} RENAME TO {q(t.name)}"], t))]
    return [
        (E, ddl(ctx, f"rename {t} to {new.name} and leave an updatable view under the old name (one transaction)",
                [f"ALTER TABLE {t.sql} RENAME TO {q(new.name)}", f"CREATE VIEW {t.sql} AS SELECT * FROM {new.sql}"],
                [f"DROP VIEW IF EXISTS {t.sql}", f"ALTER TABLE {new.sql} RENAME TO {q(t.name)}"], t)),
        (M, Step(f"deploy the application using {new.name}", (), (), manual=True,
                 down_note="redeploy the previous application version")),
        (C, ddl(ctx, f"drop the compatibility view {t}", [f"DROP VIEW IF EXISTS {t.sql}"],
                [f"CREATE VIEW {t.sql} AS SELECT * FROM {new.sql}"], t)),  # the lock is on the view
    ]

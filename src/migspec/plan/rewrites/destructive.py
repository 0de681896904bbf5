"""DROP COLUMN, DROP TABLE, TRUNCATE: confirmed, at CONTRACT, with the data archived so that the
DOWN can restore it."""

from __future__ import annotations


from migspec.analysis import Analyzed
from migspec.names import QualifiedName, identifier
from migspec.ops import table
from migspec.plan.context import PlanContext
from migspec.plan.sql import BACKUP_SCHEMA
from migspec.plan.steps import C, E, Steps, backfill_step, ddl, with_down
from migspec.plan.rewrites.base import column_fact, confirmation, handles, primary_key, refuse_if_views_read, table_of
from migspec.plan.rewrites.index import drop_dependent_indexes
from migspec.plan.rewrites.not_null import set_not_null_online
from migspec.planfile.model import Backfill, Step
from migspec.planfile.sql import cols, q


@handles(table.DropColumn)
def drop_column(item: Analyzed, ctx: PlanContext) -> Steps:
    op: table.DropColumn = item.op
    t = table_of(op)
    if item.new_table:
        return [(E, ddl(ctx, f"drop column {op.column} of new table {t}", [item.stmt.sql], [], t,
                        down_note="new table: nothing to restore"))]
    col = column_fact(ctx, t, op.column)
    refuse_if_views_read(ctx, item, t, op.column, "a drop")
    pk = primary_key(ctx, t)
    archive = QualifiedName(BACKUP_SCHEMA, identifier(f"{t.schema}_{t.name}_{op.column}"))
    canonical, _ = confirmation(ctx, t, op.column)
    c = q(op.column)
    rows = ctx.rows(item)
    # An enum column is archived as text: an archive still using the type would make a later DROP
    # TYPE of the same rollout fail (found by the diff corpus); the restore casts it back.
    as_text = _enum_typed(ctx, col.type)
    archived_value = f"CAST(s.{c} AS {col.type})" if as_text else f"s.{c}"
    # The DOWN: re-add the column, then restore from the archive in keyset batches only the rows
    # that still hold the NULL the re-add gave them (a value the redeployed application wrote
    # since wins); rows born after the archive get the default; NOT NULL online.
    restore = [ddl(ctx, f"re-add column {op.column} to {t}",
                   [f"ALTER TABLE {t.sql} ADD COLUMN IF NOT EXISTS {c} {col.type}"]
                   + ([f"ALTER TABLE {t.sql} ALTER COLUMN {c} SET DEFAULT {col.default}"] if col.default else []),
                   [], t),
               backfill_step(ctx, f"restore {t}.{op.column} from {archive} in keyset batches (rows written since "
                                   "keep their value)",
                              Backfill(t, pk, ((op.column, archived_value),), f"t.{c} IS NULL AND s.{c} IS NOT NULL",
                                       source=archive), rows)]
    if col.default:
        unarchived = " AND ".join(f"a.{q(k)} = {t.sql}.{q(k)}" for k in pk)
        restore.append(backfill_step(ctx, f"give rows inserted after the archive the default of {op.column}",
                                      Backfill(t, pk, ((op.column, col.default),),
                                               f"{c} IS NULL AND NOT EXISTS (SELECT 1 FROM {archive.sql} AS a "
                                               f"WHERE {unarchived})"), rows))
    if col.not_null and col.default:
        restore += set_not_null_online(ctx, t, op.column, rows)
    expand: Steps = []
    if col.not_null and not col.default:
        # The application must be able to stop writing the column before it is dropped.
        expand.append((E, with_down(ddl(ctx, f"drop NOT NULL on {t}.{op.column} so the application can stop "
                                              "writing it",
                                        [f"ALTER TABLE {t.sql} ALTER COLUMN {c} DROP NOT NULL"], [], t,
                                        down_note="the DOWN fails if rows without a value arrived meanwhile: "
                                                  "fill them first"),
                                    set_not_null_online(ctx, t, op.column, rows))))
    return [
        *expand,
        (C, Step(f"confirm no deployed code reads or writes {t}.{op.column}", (), (), manual=True,
                 requires_confirmation=canonical)),
        *drop_dependent_indexes(ctx, t, op.column, ctx.rows(item)),
        (C, ddl(ctx, f"archive {t}.{op.column} into {archive} (the DOWN restores from it)",
                [f"CREATE SCHEMA IF NOT EXISTS {q(BACKUP_SCHEMA)}",
                 f"CREATE TABLE {archive.sql} AS SELECT {cols(pk)}, "
                 + (f"CAST({c} AS text) AS {c}" if as_text else c) + f" FROM {t.sql}",
                 # the DOWN's batches walk the archive's key
                 f"ALTER TABLE {archive.sql} ADD PRIMARY KEY ({cols(pk)})"],
                [f"DROP TABLE IF EXISTS {archive.sql}"], None,
                estimate=ctx.calibration.duration("rewrite", ctx.rows(item), ctx.size(t)),
                basis="copy of the column")),
        (C, with_down(ddl(ctx, f"drop column {t}.{op.column} (destructive: needs confirmation)",
                          [f"ALTER TABLE {t.sql} DROP COLUMN {c}"], [], t, requires_confirmation=canonical,
                          down_note=f"the DOWN re-adds the column and restores its values from {archive} in "
                                    "batches"), restore)),
    ]


def _enum_typed(ctx: PlanContext, type_sql: str | None) -> bool:
    """The column's type (or its array's element type) is an enum the schema facts know."""
    base = (type_sql or "").split("[")[0].strip()
    return any(base in (e.name, str(e), e.sql) for e in ctx.schema.enums)


@handles(table.DropTable)
def drop_table(item: Analyzed, ctx: PlanContext) -> Steps:
    op: table.DropTable = item.op
    t = table_of(op)
    if item.new_table:
        return [(E, ddl(ctx, f"drop new table {t}", [item.stmt.sql], [], t, down_note="new table"))]
    canonical, _ = confirmation(ctx, t)
    archived = QualifiedName(BACKUP_SCHEMA, identifier(f"{t.schema}_{t.name}"))
    return [
        (C, Step(f"confirm no deployed code uses {t}", (), (), manual=True, requires_confirmation=canonical)),
        (C, ddl(ctx, f"move {t} into schema {BACKUP_SCHEMA} instead of dropping it (instant; the DOWN moves it back)",
                [f"CREATE SCHEMA IF NOT EXISTS {q(BACKUP_SCHEMA)}",
                 f"ALTER TABLE {t.sql} SET SCHEMA {q(BACKUP_SCHEMA)}",
                 f"ALTER TABLE {QualifiedName(BACKUP_SCHEMA, t.name).sql} RENAME TO {q(archived.name)}"],
                [f"ALTER TABLE {archived.sql} RENAME TO {q(t.name)}",
                 f"ALTER TABLE {QualifiedName(BACKUP_SCHEMA, t.name).sql} SET SCHEMA {q(t.schema)}"],
                t, requires_confirmation=canonical,
                down_note=f"purge {archived} by hand after the agreed retention")),
    ]


@handles(table.Truncate)
def truncate(item: Analyzed, ctx: PlanContext) -> Steps:
    op: table.Truncate = item.op
    t = table_of(op)
    if item.new_table:
        return [(E, ddl(ctx, f"truncate new table {t}", [item.stmt.sql], [], t))]
    canonical, _ = confirmation(ctx, t)
    archive = QualifiedName(BACKUP_SCHEMA, identifier(f"{t.schema}_{t.name}_truncated"))
    return [
        (C, ddl(ctx, f"archive every row of {t} into {archive}",
                [f"CREATE SCHEMA IF NOT EXISTS {q(BACKUP_SCHEMA)}",
                 f"CREATE TABLE {archive.sql} AS SELECT * FROM {t.sql}"], [f"DROP TABLE IF EXISTS {archive.sql}"],
                None, estimate=ctx.calibration.duration("rewrite", ctx.rows(item), ctx.size(t)),
                basis="copy of the table")),
        (C, ddl(ctx, f"TRUNCATE {t} (destructive: needs confirmation)", [f"TRUNCATE {t.sql}"],
                [f"INSERT INTO {t.sql} SELECT * FROM {archive.sql}"], t, requires_confirmation=canonical)),
    ]

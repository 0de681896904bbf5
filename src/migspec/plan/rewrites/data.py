"""UPDATE / DELETE over many rows: keyset batches, the old values backed up first for the DOWN."""

from __future__ import annotations

from migspec.analysis import Analyzed
from migspec.names import QualifiedName, identifier
from migspec.ops import data
from migspec.plan.context import PlanContext
from migspec.schema import sql_of
from migspec.plan.sql import BACKUP_SCHEMA
from migspec.plan.steps import E, M, Steps, backfill_step, ddl, with_down
from migspec.plan.rewrites.base import handles, primary_key, table_of
from migspec.planfile.model import Backfill
from migspec.planfile.sql import cols, q, written_column


@handles(data.Update, data.Delete)
def data_change(item: Analyzed, ctx: PlanContext) -> Steps:
    op: data.DataChange = item.op
    t = table_of(op)
    rows = item.effect.touched_rows(ctx.rows(item))  # a WHERE on a unique key touches few rows
    if item.new_table or rows <= ctx.thresholds.batch_rows:
        return [(M, ddl(ctx, f"{op.verb} {t} in one statement ({rows:,} rows: small enough)", [item.stmt.sql], [],
                        t, down_note="not reversible: old values are not kept",
                        reversible=False))]
    pk = primary_key(ctx, t)
    node = item.stmt.node
    where = sql_of(node.whereClause) if node.whereClause is not None else None
    backup = QualifiedName(BACKUP_SCHEMA, identifier(f"{t.schema}_{t.name}_{ctx.next_tag()}"))
    if isinstance(op, data.Delete):
        setup = [f"CREATE SCHEMA IF NOT EXISTS {q(BACKUP_SCHEMA)}",
                 f"CREATE TABLE IF NOT EXISTS {backup.sql} (LIKE {t.sql})",
                 f"ALTER TABLE {backup.sql} ADD PRIMARY KEY ({cols(pk)})"]
        b = Backfill(t, pk, (), "true", where, delete=True, backup=backup)
    else:
        assigns = tuple((tgt.name, sql_of(tgt.val)) for tgt in node.targetList)
        predicate = " OR ".join(f"{q(c)} IS DISTINCT FROM {e}" for c, e in assigns)
        bcols = tuple(c for c, _ in assigns)
        wrote = ", ".join(f"{q(c)} AS {q(written_column(c))}" for c in bcols)
        setup = [f"CREATE SCHEMA IF NOT EXISTS {q(BACKUP_SCHEMA)}",
                 f"CREATE TABLE IF NOT EXISTS {backup.sql} AS SELECT {cols(pk + bcols)}, {wrote} FROM {t.sql} "
                 "WITH NO DATA",
                 f"ALTER TABLE {backup.sql} ADD PRIMARY KEY ({cols(pk)})"]
        b = Backfill(t, pk, assigns, predicate, where, backup=backup, backup_columns=bcols, keep_written=True)
        # Only a column still holding what the batch wrote goes back: a later application write wins.
        still = [(c, f"t.{q(c)} IS NOT DISTINCT FROM s.{q(written_column(c))}") for c in bcols]
        restore = Backfill(t, pk, tuple((c, f"CASE WHEN {w} THEN s.{q(c)} ELSE t.{q(c)} END") for c, w in still),
                           " OR ".join(w for _, w in still), source=backup)
        what = (f"restore the old values from {backup} in keyset batches, only where the row still holds the value "
                "the UPDATE wrote")
    if isinstance(op, data.Delete):
        restore = Backfill(t, pk, (), "true", source=backup)
        what = f"re-insert the deleted rows from {backup} in keyset batches (a row re-created since is kept)"
    step = backfill_step(ctx, f"{op.verb} {t} in keyset batches (old values copied to {backup} first)", b, rows,
                          down_note=f"restores the old values from {backup}")
    return [
        (E, ddl(ctx, f"create backup table {backup} for the rows the {op.verb} changes (the DOWN restores them)",
                setup, [f"DROP TABLE IF EXISTS {backup.sql}"], None)),
        (M, with_down(step, [backfill_step(ctx, what, restore, rows)])),
    ]

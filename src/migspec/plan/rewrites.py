"""Rewrites: each turns one operation into the list of steps that does the same thing safely.

A rewrite returns ``[(phase, Step), ...]``; a Step carries its UP and its DOWN. Rewrites never
paste strings into the user's SQL: names go through quote_ident, the user's expressions and
definitions are re-printed by pglast from the parsed tree.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
from collections.abc import Callable
from typing import Any

from pglast import ast
from pglast.enums import ObjectType

from migspec.analysis import Analyzed
from migspec.errors import RefusedError
from migspec.estimate.model import Estimate, catalog_only
from migspec.estimate.runner import RunnerPlan
from migspec.locks import LockMode
from migspec.names import QualifiedName, identifier, quote_literal
from migspec.ops import constraint, data, index, misc, session, table
from migspec.ops.base import Operation
from migspec.plan.context import PlanContext
from migspec.plan.context import require
from migspec.schema import Column, sql_of
from migspec.schema.ddl import index_from_node
from migspec.planfile.model import Backfill, PhaseName, Step
from migspec.parse.operations import relation_name
from migspec.parse.source import Placeholder
from migspec.plan.sql import BACKUP_SCHEMA, default_index_name, sync_trigger
from migspec.planfile.sql import backfill_do_block, cols, q, written_column
from migspec.versions import supports

E, M, C = PhaseName.EXPAND, PhaseName.MIGRATE, PhaseName.CONTRACT
AEL, SUE, SRE = LockMode.ACCESS_EXCLUSIVE, LockMode.SHARE_UPDATE_EXCLUSIVE, LockMode.SHARE_ROW_EXCLUSIVE

Steps = list[tuple[PhaseName, Step]]


def ddl(ctx: PlanContext, description: str, up: list[str] | tuple[str, ...], down: list[str] | tuple[str, ...],
        table_name: QualifiedName | None, lock: LockMode | None, *, estimate: Estimate | None = None,
        basis: str | None = None, transactional: bool = True, **extra: Any) -> Step:
    """A guarded DDL step: a lock that blocks reads or writes gets SET LOCAL lock_timeout (from the
    table's write rate) and statement_timeout (from the estimate's pessimistic end), and the retry
    policy. ``basis`` prefixes the estimate's own basis (what the work is)."""
    guard = lock is not None and lock.blocks_writes
    est = estimate or catalog_only()
    return Step(description, tuple(up), tuple(down), transactional=transactional, lock=lock,
                estimate_seconds=est.high, estimate_basis=f"{basis}: {est.basis}" if basis else est.basis,
                estimate_low_seconds=est.low,
                lock_timeout_s=ctx.lock_timeout(table_name) if guard else None,
                statement_timeout_s=ctx.statement_timeout(est.high) if guard else None, table=table_name, **extra)


def _t(op: Operation) -> QualifiedName:
    assert op.table is not None
    return op.table


def _pk(ctx: PlanContext, t: QualifiedName) -> tuple[str, ...]:
    facts = ctx.schema.known(t)
    pk = facts.primary_key if facts else ()
    require(pk, f"the primary key of {t} (batched backfills walk it as a keyset cursor; a table without one "
                "cannot be backfilled online)")
    return pk


def _column_type(ctx: PlanContext, t: QualifiedName, column: str) -> Column:
    facts = ctx.schema.known(t)
    col = facts.columns.get(column) if facts else None
    require(col and col.type, f"the type of {t}.{column} (the new column must match it)")
    assert col is not None
    return col


def _refuse_if_views_read(ctx: PlanContext, item: Analyzed, t: QualifiedName, column: str, what: str) -> None:
    views = ctx.schema.views_reading(t, column)
    if views:
        raise RefusedError(f"{item.stmt.location}: cannot plan {what} of {t}.{column}: view(s) "
                           f"{', '.join(map(str, views))} read it and would keep reading the old column (or block "
                           "its drop); change the view(s) in the migration first, or plan this by hand")


def _confirmation(ctx: PlanContext, t: QualifiedName, column: str | None = None) -> tuple[str, bool]:
    """The canonical target (``schema.table[.column]``, quoted where SQL needs it) and whether the
    user confirmed it (``--confirm`` or an inline directive; the builder normalizes both)."""
    canonical = f"{t}.{q(column)}" if column else str(t)
    return canonical, canonical in ctx.confirmed


def _backfill_step(ctx: PlanContext, description: str, b: Backfill, rows: int, down: tuple[str, ...] = (),
                   down_note: str = "", post_check: str | None = None) -> Step:
    size, pause, batch_s = ctx.batch(b.table)
    b = Backfill(**{**b.__dict__, "batch_size": size, "pause_seconds": pause,
                    "target_seconds": round(ctx.last_batch_target, 3)})
    est = ctx.calibration.duration("batched_update", rows, ctx.size(b.table),
                                   runner=RunnerPlan(size, b.target_seconds, pause))
    return Step(description, (backfill_do_block(b),), down, transactional=False, lock=LockMode.ROW_EXCLUSIVE,
                table=b.table,
                estimate_seconds=est.high, estimate_basis=est.basis, estimate_low_seconds=est.low,
                batch_size=size, backfill=b,
                down_note=down_note, post_check=post_check)


def with_down(step: Step, parts: list[Step]) -> Step:
    """``step`` whose DOWN runs as ``parts``, each like an UP step (guarded statements or a batched
    restore: never one unbatched UPDATE over the table); ``down`` keeps their psql text."""
    return dataclasses.replace(step, down=tuple(s for p in parts for s in p.up), down_steps=tuple(parts))


def set_not_null_online(ctx: PlanContext, t: QualifiedName, column: str, rows: int) -> list[Step]:
    """The DOWN of a DROP NOT NULL: the same online sequence an UP SET NOT NULL gets, not a
    scanning SET NOT NULL under ACCESS EXCLUSIVE."""
    return [s for _, s in _not_null_steps(ctx, t, column, rows)]


def _not_null_steps(ctx: PlanContext, t: QualifiedName, column: str, rows: int) -> Steps:
    """NOT NULL without a long ACCESS EXCLUSIVE scan: CHECK NOT VALID -> VALIDATE (SHARE UPDATE
    EXCLUSIVE) -> SET NOT NULL (PG12+ uses the CHECK, no scan) -> drop the CHECK. PG18: NOT NULL
    NOT VALID -> VALIDATE."""
    name = identifier(f"{t.name}_{column}_not_null")
    con, col = q(name), q(column)
    no_nulls = f"SELECT NOT EXISTS (SELECT 1 FROM {t.sql} WHERE {col} IS NULL) AS ok"
    if supports("not_null_not_valid", ctx.version):
        return _not_valid_then_validate(ctx, t, name, f"NOT NULL {col}", AEL, rows, add_phase=M,
                                        post_check=no_nulls)
    check = f"CHECK ({col} IS NOT NULL)"
    return _not_valid_then_validate(ctx, t, name, check, AEL, rows, add_phase=M, post_check=no_nulls) + [
        (M, ddl(ctx, f"SET NOT NULL on {t}.{column} (uses the validated CHECK: no scan)",
                [f"ALTER TABLE {t.sql} ALTER COLUMN {col} SET NOT NULL"],
                [f"ALTER TABLE {t.sql} ALTER COLUMN {col} DROP NOT NULL"], t, AEL)),
        (M, ddl(ctx, f"drop the helper CHECK on {t}",
                [f"ALTER TABLE {t.sql} DROP CONSTRAINT {con}"],
                [f"ALTER TABLE {t.sql} ADD CONSTRAINT {con} {check} NOT VALID"], t, AEL)),
    ]


# --- indexes ----------------------------------------------------------------------------------

def indexes_on(ctx: PlanContext, t: QualifiedName, column: str) -> dict[str, Any]:
    """Indexes of ``t`` (from the schema facts) whose key or predicate uses ``column``, parsed.
    Primary keys and unique constraints are left out: their constraint owns them."""
    from migspec.parse.source import iter_nodes

    facts = ctx.schema.known(t)
    found: dict[str, Any] = {}
    owned = set(facts.constraints) if facts else set()
    for name, index in (facts.indexes.items() if facts else ()):
        if name in owned:
            continue
        node = _parse_one(index.definition)
        used = {p.name for p in node.indexParams if getattr(p, "name", None)}
        used |= {f.sval for n in iter_nodes(node) if isinstance(n, ast.ColumnRef) for f in n.fields
                 if isinstance(f, ast.String)}
        if column in used:
            found[name] = node
    return found


def retarget_index(node: Any, old: str, new: str, name: str) -> str:
    """The same index on column ``new`` instead of ``old``, named ``name``, built CONCURRENTLY."""
    from migspec.parse.source import iter_nodes

    node = copy.deepcopy(node)
    node.idxname, node.concurrent, node.if_not_exists = name, True, False
    for n in iter_nodes(node):
        if isinstance(n, ast.IndexElem) and n.name == old:
            n.name = new
        elif isinstance(n, ast.ColumnRef) and len(n.fields) == 1 and getattr(n.fields[0], "sval", None) == old:
            n.fields = (ast.String(sval=new),)
    return sql_of(node)


def _concurrent(node: Any) -> str:
    node = copy.deepcopy(node)
    node.concurrent, node.if_not_exists = True, False
    return sql_of(node)


def drop_dependent_indexes(ctx: PlanContext, t: QualifiedName, column: str, rows: int,
                           named_now: str | None = None) -> Steps:
    """Drop (CONCURRENTLY) the indexes that would vanish with the column, so the DOWN rebuilds them.
    ``named_now``: the column's name at that point, when the plan renamed it (a type change's swap
    keeps the old column as ``<col>__migspec_old``): the DOWN rebuilds the index on that name."""
    est = ctx.calibration.duration("index_build_concurrent", rows, ctx.size(t))
    return [(C, ddl(ctx, f"drop index {name} CONCURRENTLY (it uses {t}.{named_now or column}, which is dropped next)",
                    [f"DROP INDEX CONCURRENTLY IF EXISTS {t.sibling(name).sql}"],
                    [retarget_index(node, column, named_now, name) if named_now else _concurrent(node)], t, SUE,
                    transactional=False, down_note=f"the DOWN rebuilds it concurrently, est. {est.range_text}"))
            for name, node in indexes_on(ctx, t, column).items()]


def copy_indexes(ctx: PlanContext, t: QualifiedName, old: str, new: str, rows: int, phase: PhaseName) -> Steps:
    """Equivalent indexes on the new column, built CONCURRENTLY before the application switches."""
    est = ctx.calibration.duration("index_build_concurrent", rows, ctx.size(t))
    steps: Steps = []
    for name, node in indexes_on(ctx, t, old).items():
        new_name = identifier(name.replace(old, new) if old in name else f"{name}_{new}")
        steps.append((phase, ddl(ctx, f"build index {new_name} on {t}.{new} CONCURRENTLY (mirrors {name})",
                                 [retarget_index(node, old, new, new_name)],
                                 [f"DROP INDEX CONCURRENTLY IF EXISTS {t.sibling(new_name).sql}"], t, SUE,
                                 estimate=est, transactional=False)))
    return steps

def create_index(item: Analyzed, ctx: PlanContext) -> Steps:
    op: index.CreateIndex = item.op
    t = _t(op)
    if item.new_table or _partitioned(ctx, t) or not item.stmt.node.relation.inh:
        # An empty table nobody uses yet: the plain build is instant. A partitioned table (or
        # ON ONLY its parent) cannot build CONCURRENTLY (SQLSTATE 0A000): as written, its lock shown.
        return passthrough(item, ctx)
    node = copy.deepcopy(item.stmt.node)
    node.idxname = op.name or default_index_name(t, op.columns, op.unique)
    node.concurrent = True
    node.if_not_exists = False  # IF NOT EXISTS would skip an INVALID leftover of a failed build
    name = t.sibling(node.idxname)
    ctx.schema.table(t).indexes[node.idxname] = index_from_node(node)
    est = ctx.calibration.duration("index_build_concurrent", ctx.rows(item), ctx.size(t))
    return [(E, ddl(ctx, f"build index {name.name} on {t} CONCURRENTLY (writes continue; an INVALID leftover "
                         "of a failed attempt is dropped before a retry)",
                    [sql_of(node)], [f"DROP INDEX CONCURRENTLY IF EXISTS {name.sql}"], t, SUE,
                    estimate=est, transactional=False,
                    post_check=f"SELECT indisvalid AS ok FROM pg_index WHERE indexrelid = {quote_literal(name.sql)}::regclass"))]


def _partitioned(ctx: PlanContext, t: QualifiedName | None) -> bool:
    table = ctx.schema.known(t)
    return table is not None and table.partition_key is not None


def drop_index(item: Analyzed, ctx: PlanContext) -> Steps:
    op: index.DropIndex = item.op
    known = ctx.schema.index(op.index)
    definition = known.definition if known else None
    require(definition, f"the definition of index {op.index} (its DOWN recreates it)")
    assert definition is not None
    node = copy.deepcopy(_parse_one(definition))
    node.concurrent = True
    node.if_not_exists = False
    table_name = ctx.schema.index_table(op.index)
    if _partitioned(ctx, table_name):  # no DROP INDEX CONCURRENTLY on a partitioned index
        return [(C, ddl(ctx, f"drop index {op.index} of partitioned {table_name}", [item.stmt.sql],
                        [definition.replace(" ON ONLY ", " ON ", 1)], table_name, item.effect.strongest))]
    rows = ctx.stats.table(table_name).rows or 0 if table_name else 0
    est = ctx.calibration.duration("index_build_concurrent", rows, ctx.size(table_name))
    return [(C, ddl(ctx, f"drop index {op.index} CONCURRENTLY", [f"DROP INDEX CONCURRENTLY IF EXISTS {op.index.sql}"],
                    [sql_of(node)], table_name, SUE, transactional=False,
                    down_note=f"the DOWN rebuilds it concurrently, est. {est.range_text}"))]


def reindex(item: Analyzed, ctx: PlanContext) -> Steps:
    op: index.Reindex = item.op
    if not supports("reindex_concurrently", ctx.version):
        return [(E, ddl(ctx, f"REINDEX {op.relation} (no CONCURRENTLY before PG12: needs a quiet period)",
                        [item.stmt.sql], [], op.table, LockMode.SHARE, down_note="nothing to undo"))]
    return [(E, ddl(ctx, f"REINDEX {op.target.upper()} {op.relation} CONCURRENTLY",
                    [f"REINDEX {op.target.upper()} CONCURRENTLY {op.relation.sql}"], [], op.table, SUE,
                    transactional=False, down_note="nothing to undo: the index is rebuilt, not changed"))]


@functools.lru_cache(maxsize=4096)
def _parse_one(sql: str) -> Any:
    """A definition from the schema facts, parsed once: indexes_on() asks for every index of a
    table at each drop or rename (re-parsing made plan time grow quadratically: BENCHMARKS.md).
    Callers deep-copy before changing the tree."""
    from pglast import parse_sql

    return parse_sql(sql)[0].stmt


# --- columns ----------------------------------------------------------------------------------

def add_column(item: Analyzed, ctx: PlanContext) -> Steps:
    op: table.AddColumn = item.op
    t = _t(op)
    coldef = item.stmt.node.cmds[_cmd_index(item)].def_
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
                        [text], drop, t, AEL))]
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
                             [f"DROP SEQUENCE IF EXISTS {seq.sql}"], None, None)))
    steps.append((E, ddl(ctx, f"add column {op.column} to {t} without default or constraints (catalog only)",
                         [f"ALTER TABLE {t.sql} ADD COLUMN {col} {typ}"], drop, t, AEL)))
    if op.type is not None and op.type.is_serial:
        steps.append((E, ddl(ctx, f"tie sequence {seq.name} to the column",
                             [f"ALTER SEQUENCE {seq.sql} OWNED BY {t.sql}.{col}"],
                             [f"ALTER SEQUENCE {seq.sql} OWNED BY NONE"], None, None)))
    rows = ctx.rows(item)
    if default_sql is not None:
        steps.append((E, ddl(ctx, f"set the default for new rows of {t}.{op.column} (existing rows unchanged)",
                             [f"ALTER TABLE {t.sql} ALTER COLUMN {col} SET DEFAULT {default_sql}"],
                             [f"ALTER TABLE {t.sql} ALTER COLUMN {col} DROP DEFAULT"], t, AEL)))
        pk = _pk(ctx, t)
        steps.append((M, _backfill_step(
            ctx, f"backfill {t}.{op.column} for existing rows in keyset batches",
            Backfill(t, pk, ((op.column, default_sql),), f"{col} IS NULL"), rows,
            down_note="nothing to undo separately: the EXPAND rollback drops the column",
            post_check=f"SELECT NOT EXISTS (SELECT 1 FROM {t.sql} WHERE {col} IS NULL) AS ok")))
    if op.not_null:
        steps += _not_null_steps(ctx, t, op.column, rows)
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
            steps += _not_valid_then_validate(ctx, t, name, f"FOREIGN KEY ({q(column)}) REFERENCES {ref.sql}{target}",
                                              SRE, rows)
        elif con.contype == CT.CONSTR_CHECK and con.raw_expr is not None:
            name = con.conname or identifier(f"{t.name}_{column}_check")
            steps += _not_valid_then_validate(ctx, t, name, f"CHECK ({sql_of(con.raw_expr)})", AEL, rows)
        elif con.contype in (CT.CONSTR_UNIQUE, CT.CONSTR_PRIMARY):
            kind = "PRIMARY KEY" if con.contype == CT.CONSTR_PRIMARY else "UNIQUE"
            name = con.conname or identifier(f"{t.name}_pkey" if kind == "PRIMARY KEY" else f"{t.name}_{column}_key")
            idx = t.sibling(name)
            est = ctx.calibration.duration("index_build_concurrent", rows, ctx.size(t))
            steps.append((M, ddl(ctx, f"build unique index {name} CONCURRENTLY (writes continue)",
                                 [f"CREATE UNIQUE INDEX CONCURRENTLY {q(name)} ON {t.sql} ({q(column)})"],
                                 [f"DROP INDEX CONCURRENTLY IF EXISTS {idx.sql}"], t, SUE, estimate=est, transactional=False)))
            steps.append((M, ddl(ctx, f"attach {name} as {kind} (catalog only)",
                                 [f"ALTER TABLE {t.sql} ADD CONSTRAINT {q(name)} {kind} USING INDEX {q(name)}"],
                                 [f"ALTER TABLE {t.sql} DROP CONSTRAINT IF EXISTS {q(name)}"], t, AEL,
                                 down_note="dropping the constraint drops its index too")))
    return steps


def _not_valid_then_validate(ctx: PlanContext, t: QualifiedName, name: str, definition: str, lock: LockMode,
                             rows: int, *, add_phase: PhaseName = E, post_check: str | None = None) -> Steps:
    """A constraint without the scan under the strong lock: ADD ... NOT VALID (catalog only), then
    VALIDATE CONSTRAINT in its own transaction (SHARE UPDATE EXCLUSIVE: reads and writes go on)."""
    kind = "validate_fk" if definition.startswith("FOREIGN KEY") else "scan"
    scan = ctx.calibration.duration(kind, rows, ctx.size(t))
    return [
        (add_phase, ddl(ctx, f"add constraint {name} NOT VALID on {t}: {definition} (catalog only, no scan)",
                        [f"ALTER TABLE {t.sql} ADD CONSTRAINT {q(name)} {definition} NOT VALID"],
                        [f"ALTER TABLE {t.sql} DROP CONSTRAINT IF EXISTS {q(name)}"], t, lock)),
        (M, ddl(ctx, f"validate {name} (SHARE UPDATE EXCLUSIVE: reads and writes continue)",
                [f"ALTER TABLE {t.sql} VALIDATE CONSTRAINT {q(name)}"], [], t, SUE, estimate=scan,
                down_note="nothing to undo: validation only reads", post_check=post_check)),
    ]


def _cmd_index(item: Analyzed) -> int:
    """Which sub-command of the ALTER TABLE this operation came from."""
    node = item.stmt.node
    for i, cmd in enumerate(node.cmds):
        d = getattr(cmd, "def_", None)
        if isinstance(d, ast.ColumnDef) and d.colname == getattr(item.op, "column", None):
            return i
    return 0


def set_not_null(item: Analyzed, ctx: PlanContext) -> Steps:
    op: table.SetNotNull = item.op
    t = _t(op)
    if item.new_table or not item.effect.scans_table:
        return [(M, ddl(ctx, f"SET NOT NULL on {t}.{op.column}", [item.stmt.sql if item.new_table else
                        f"ALTER TABLE {t.sql} ALTER COLUMN {q(op.column)} SET NOT NULL"],
                        [f"ALTER TABLE {t.sql} ALTER COLUMN {q(op.column)} DROP NOT NULL"], t, AEL))]
    return _not_null_steps(ctx, t, op.column, ctx.rows(item))


def alter_type(item: Analyzed, ctx: PlanContext) -> Steps:
    op: table.AlterColumnType = item.op
    t = _t(op)
    cmd = item.stmt.node.cmds[[getattr(c, "name", None) for c in item.stmt.node.cmds].index(op.column)]
    new_type = sql_of(cmd.def_.typeName)
    # The statement's COLLATE is part of the change (it was dropped from the emitted SQL).
    collate = f" {sql_of(cmd.def_.collClause)}" if cmd.def_.collClause is not None else ""
    old = _column_type(ctx, t, op.column)
    col = q(op.column)
    if item.effect.rewrites_table and not item.new_table:
        _refuse_if_views_read(ctx, item, t, op.column, "a type change")
    if not item.effect.rewrites_table or item.new_table:
        ctx.schema.table(t).columns[op.column] = Column(op.column, new_type, old.not_null, old.default)
        # Indexes PostgreSQL cannot reuse are rebuilt under the lock: the step claims that work.
        rebuild = item.effect.rebuilds and not item.new_table
        est = ctx.calibration.work(item.effect.work, ctx.rows(item), ctx.size(t)) if rebuild else None
        return [(E, ddl(ctx, f"change {t}.{op.column} to {new_type} "
                        + (f"(no table rewrite; rebuilds {', '.join(i.name for i in item.effect.rebuilds)})"
                           if rebuild else "(catalog only: no rewrite)"),
                        [f"ALTER TABLE {t.sql} ALTER COLUMN {col} TYPE {new_type}{collate}"],
                        [f"ALTER TABLE {t.sql} ALTER COLUMN {col} TYPE {old.type}"], t, AEL,
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
    pk = _pk(ctx, t)
    backfill_expr = (sql_of(op.using) if op.using is not None else f"CAST({col} AS {new_type})")
    steps: Steps = [
        (E, ddl(ctx, f"add column {tmp} {new_type} beside {t}.{op.column} (catalog only)",
                [f"ALTER TABLE {t.sql} ADD COLUMN {tcol} {new_type}{collate}"],
                [f"ALTER TABLE {t.sql} DROP COLUMN IF EXISTS {tcol}"], t, AEL)),
        (E, ddl(ctx, f"install a trigger filling {tmp} from {op.column} on every write",
                [fn, trg], drop_trg.split("; "), t, SRE)),
        (M, _backfill_step(ctx, f"copy {op.column} into {tmp} in keyset batches",
                           Backfill(t, pk, ((tmp, backfill_expr),), f"{tcol} IS DISTINCT FROM {backfill_expr}"), rows,
                           down_note="nothing to undo separately: the EXPAND rollback drops the column")),
    ]
    if old.not_null:
        steps += _not_null_steps(ctx, t, tmp, rows)
    # The column's indexes, rebuilt on the new column before the swap (they went away with the
    # old column, and its DOWN did not bring them back: found by verify with an expression index).
    steps += copy_indexes(ctx, t, op.column, tmp, rows, M)
    canonical, confirmed = _confirmation(ctx, t, op.column)
    raw_old = identifier(f"{op.column}__migspec_old")
    old_name = q(raw_old)
    archive = QualifiedName(BACKUP_SCHEMA, identifier(f"{t.schema}_{t.name}_{op.column}_old"))
    join = " AND ".join(f"t.{q(k)} = a.{q(k)}" for k in pk)
    steps += [
        (C, with_down(ddl(ctx, f"swap: {tmp} becomes {op.column}, the old column is kept as {op.column}__migspec_old",
                          [*drop_trg.split("; "), f"ALTER TABLE {t.sql} RENAME COLUMN {col} TO {old_name}",
                           f"ALTER TABLE {t.sql} RENAME COLUMN {tcol} TO {col}"]
                          + ([f"ALTER TABLE {t.sql} ALTER COLUMN {col} SET DEFAULT {old.default}"] if old.default else [])
                          # Nothing writes the old column after the swap: its NOT NULL would reject INSERTs.
                          + ([f"ALTER TABLE {t.sql} ALTER COLUMN {old_name} DROP NOT NULL"] if old.not_null else []),
                          [], t, AEL),
                      # The DOWN swaps back (catalog only), then NOT NULL on the old column online.
                      [ddl(ctx, f"swap back: {op.column} is the old column again, {tmp} the new one",
                           ([f"ALTER TABLE {t.sql} ALTER COLUMN {col} DROP DEFAULT"] if old.default else [])
                           + [f"ALTER TABLE {t.sql} RENAME COLUMN {col} TO {tcol}",
                              f"ALTER TABLE {t.sql} RENAME COLUMN {old_name} TO {col}", fn, trg], [], t, AEL)]
                      + (set_not_null_online(ctx, t, op.column, rows) if old.not_null else []))),
        (C, ddl(ctx, f"archive the old values of {op.column} into {archive} (a cast back may lose data)",
                [f"CREATE SCHEMA IF NOT EXISTS {q(BACKUP_SCHEMA)}",
                 f"CREATE TABLE {archive.sql} AS SELECT {cols(pk)}, {old_name} FROM {t.sql}",
                 f"ALTER TABLE {archive.sql} ADD PRIMARY KEY ({cols(pk)})"],
                [f"DROP TABLE IF EXISTS {archive.sql}"], None, None,
                estimate=ctx.calibration.duration("rewrite", rows, ctx.size(t)), basis="copy of the column")),
        *drop_dependent_indexes(ctx, t, op.column, rows, named_now=identifier(f"{op.column}__migspec_old")),
        (C, with_down(ddl(ctx, f"drop the old column {op.column}__migspec_old (destructive: needs confirmation)",
                          [f"ALTER TABLE {t.sql} DROP COLUMN {old_name}"], [], t, AEL,
                          requires_confirmation=canonical,
                          down_note=f"the DOWN restores the old column from {archive} in batches"),
                      # Rows that existed at the drop get their exact old value back; rows inserted
                      # later only exist in the new type and are cast back. Both in keyset batches.
                      [ddl(ctx, f"re-add {raw_old} to {t}",
                           [f"ALTER TABLE {t.sql} ADD COLUMN {old_name} {old.type}"]
                           + ([f"ALTER TABLE {t.sql} ALTER COLUMN {old_name} SET DEFAULT {old.default}"]
                              if old.default else []), [], t, AEL),
                       _backfill_step(ctx, f"restore {raw_old} from {archive} in keyset batches",
                                      Backfill(t, pk, ((raw_old, f"s.{old_name}"),),
                                               f"t.{old_name} IS NULL AND s.{old_name} IS NOT NULL", source=archive),
                                      rows),
                       _backfill_step(ctx, f"cast {op.column} back into {raw_old} for rows inserted after the archive",
                                      Backfill(t, pk, ((raw_old, f"CAST({col} AS {old.type})"),),
                                               f"{old_name} IS NULL AND {col} IS NOT NULL AND NOT EXISTS (SELECT 1 "
                                               f"FROM {archive.sql} AS a WHERE "
                                               + " AND ".join(f"a.{q(k)} = {t.sql}.{q(k)}" for k in pk) + ")"),
                                      rows)])),
    ]
    return steps


def _on_new_row(expr: Any, column: str) -> Any:
    """The USING expression as a trigger computes it: references to the column read NEW.column."""
    from migspec.parse.source import iter_nodes
    from migspec.parse.tree import pglast_node

    expr = copy.deepcopy(pglast_node(expr))
    for node in iter_nodes(expr):
        if isinstance(node, ast.ColumnRef) and len(node.fields) == 1 and getattr(node.fields[0], "sval", None) == column:
            node.fields = (ast.String(sval="new"), ast.String(sval=column))
    return expr


def rename_column(item: Analyzed, ctx: PlanContext) -> Steps:
    op: table.RenameColumn = item.op
    t = _t(op)
    if item.new_table:
        return [(E, ddl(ctx, f"rename {t}.{op.column} (new table: no running code uses it)", [item.stmt.sql],
                        [f"ALTER TABLE {t.sql} RENAME COLUMN {q(op.new_name)} TO {q(op.column)}"], t, AEL))]
    old = _column_type(ctx, t, op.column)
    _refuse_if_views_read(ctx, item, t, op.column, "a rename")
    o, n = q(op.column), q(op.new_name)
    fn, trg, drop_trg = sync_trigger(t, op.column, op.new_name, f"NEW.{o}", f"NEW.{n}", f"rename_{op.column}")
    rows = ctx.rows(item)
    pk = _pk(ctx, t)
    ctx.schema.table(t).columns[op.new_name] = Column(op.new_name, old.type, old.not_null, old.default)
    # No DEFAULT on the new column until cutover: the sync trigger tells the two application
    # versions' INSERTs apart by it (plan.sql.sync_trigger).
    steps: Steps = [
        (E, ddl(ctx, f"add column {op.new_name} {old.type} to {t} (catalog only"
                + ("; its DEFAULT comes at cutover)" if old.default else ")"),
                [f"ALTER TABLE {t.sql} ADD COLUMN {n} {old.type}"],
                [f"ALTER TABLE {t.sql} DROP COLUMN IF EXISTS {n}"], t, AEL)),
        (E, ddl(ctx, f"install a trigger keeping {op.column} and {op.new_name} in sync in both directions",
                [fn, trg], drop_trg.split("; "), t, SRE)),
        (M, _backfill_step(ctx, f"copy {op.column} into {op.new_name} in keyset batches",
                           Backfill(t, pk, ((op.new_name, o),), f"{n} IS DISTINCT FROM {o}"), rows,
                           down_note="nothing to undo separately: the EXPAND rollback drops the column")),
    ]
    if old.not_null:
        steps += _not_null_steps(ctx, t, op.new_name, rows)
    steps += copy_indexes(ctx, t, op.column, op.new_name, rows, M)
    steps.append((M, Step(f"deploy the application reading and writing {op.new_name} instead of {op.column}",
                          (), (), manual=True, down_note="redeploy the previous application version")))
    canonical, _ = _confirmation(ctx, t, op.column)
    if old.default:
        steps.append((C, ddl(ctx, f"give {op.new_name} the DEFAULT of {op.column} (only the new application runs)",
                             [f"ALTER TABLE {t.sql} ALTER COLUMN {n} SET DEFAULT {old.default}"],
                             [f"ALTER TABLE {t.sql} ALTER COLUMN {n} DROP DEFAULT"], t, AEL)))
    if old.not_null:
        # The new application no longer writes the old column: once the trigger is gone its
        # NOT NULL would reject every INSERT.
        steps.append((C, with_down(ddl(ctx, f"drop NOT NULL on the old column {op.column} (nothing writes it any "
                                            "more)",
                                       [f"ALTER TABLE {t.sql} ALTER COLUMN {o} DROP NOT NULL"], [], t, AEL,
                                       down_note="the DOWN sets NOT NULL online (CHECK NOT VALID, VALIDATE)"),
                                   set_not_null_online(ctx, t, op.column, rows))))
    steps += [
        # Its DOWN replaces the trigger the drop-old DOWN installed (idempotent either way).
        (C, ddl(ctx, "remove the sync trigger", drop_trg.split("; "), [*drop_trg.split("; "), fn, trg], t, AEL)),
        *drop_dependent_indexes(ctx, t, op.column, rows),
        (C, with_down(ddl(ctx, f"drop the old column {op.column} (destructive: needs confirmation)",
                          [f"ALTER TABLE {t.sql} DROP COLUMN {o}"], [], t, AEL, requires_confirmation=canonical,
                          down_note="the DOWN re-adds the old column and copies the data back from the new one "
                                    "in batches"),
                      # The trigger first, in the re-add's transaction: rows the application
                      # writes meanwhile through the new name fill the old column too, so none is
                      # left NULL behind the batched copy (NOT NULL comes back after it).
                      [ddl(ctx, f"re-add the old column {op.column} to {t} with the sync trigger",
                           [f"ALTER TABLE {t.sql} ADD COLUMN {o} {old.type}"]
                           + ([f"ALTER TABLE {t.sql} ALTER COLUMN {o} SET DEFAULT {old.default}"] if old.default
                              else []) + [fn, trg], [], t, AEL),
                       _backfill_step(ctx, f"copy {op.new_name} back into {op.column} in keyset batches",
                                      Backfill(t, pk, ((op.column, n),), f"{o} IS NULL AND {n} IS NOT NULL"),
                                      rows)])),
    ]
    return steps


def rename_table(item: Analyzed, ctx: PlanContext) -> Steps:
    op: table.RenameTable = item.op
    t = _t(op)
    new = t.sibling(op.new_name)
    if item.new_table:
        return [(E, ddl(ctx, f"rename {t} (new table)", [item.stmt.sql],
                        [f"ALTER TABLE {new.sql} RENAME TO {q(t.name)}"], t, AEL))]
    return [
        (E, ddl(ctx, f"rename {t} to {new.name} and leave an updatable view under the old name (one transaction)",
                [f"ALTER TABLE {t.sql} RENAME TO {q(new.name)}", f"CREATE VIEW {t.sql} AS SELECT * FROM {new.sql}"],
                [f"DROP VIEW IF EXISTS {t.sql}", f"ALTER TABLE {new.sql} RENAME TO {q(t.name)}"], t, AEL)),
        (M, Step(f"deploy the application using {new.name}", (), (), manual=True,
                 down_note="redeploy the previous application version")),
        (C, ddl(ctx, f"drop the compatibility view {t}", [f"DROP VIEW IF EXISTS {t.sql}"],
                [f"CREATE VIEW {t.sql} AS SELECT * FROM {new.sql}"], t, AEL)),  # the lock is on the view
    ]


# --- constraints ------------------------------------------------------------------------------

def add_constraint(item: Analyzed, ctx: PlanContext) -> Steps:
    op: constraint.AddConstraint = item.op
    t = _t(op)
    node = copy.deepcopy(item.stmt.node.cmds[[getattr(c, "def_", None) is not None and
                                              isinstance(c.def_, ast.Constraint) for c in item.stmt.node.cmds].index(True)].def_)
    if len([c for c in item.stmt.node.cmds if isinstance(getattr(c, "def_", None), ast.Constraint)]) > 1:
        node = _constraint_node(item)
    name = op.name or identifier(f"{t.name}_{'_'.join(op.columns) or op.constraint}_{'fkey' if op.constraint == 'foreign_key' else 'check'}")
    node.conname = name
    cname = q(name)
    drop = [f"ALTER TABLE {t.sql} DROP CONSTRAINT IF EXISTS {cname}"]
    if item.new_table:
        return [(E, ddl(ctx, f"add constraint {name} (new table)", [item.stmt.sql], drop, t, op.lock_mode))]
    if op.constraint in ("check", "foreign_key"):
        steps: Steps = []
        if op.constraint == "foreign_key":
            facts = ctx.schema.known(t)
            # pg_dump writes a primary key as a constraint, not a CREATE INDEX: it covers too.
            covered = facts is not None and (facts.primary_key[:1] == op.columns[:1] or any(
                _leading(idx.definition) == op.columns[:1] for idx in facts.indexes.values()))
            if facts is not None and (facts.indexes or facts.columns) and not covered and op.columns:
                idx = t.sibling(default_index_name(t, op.columns))
                est = ctx.calibration.duration("index_build_concurrent", ctx.rows(item), ctx.size(t))
                steps.append((E, ddl(ctx, f"index the referencing column(s) {', '.join(op.columns)} CONCURRENTLY "
                                          "(no index covers them)",
                                     [f"CREATE INDEX CONCURRENTLY {q(idx.name)} ON {t.sql} ({cols(op.columns)})"],
                                     [f"DROP INDEX CONCURRENTLY IF EXISTS {idx.sql}"], t, SUE, estimate=est, transactional=False)))
        lock = SRE if op.constraint == "foreign_key" else AEL
        node.conname, node.skip_validation = None, False  # the definition alone: name and NOT VALID added below
        return steps + _not_valid_then_validate(ctx, t, name, sql_of(node), lock, ctx.rows(item))
    if op.constraint in ("unique", "primary_key") and not op.using_index:
        idx_name = name if op.name else (identifier(f"{t.name}_pkey") if op.constraint == "primary_key"
                                         else default_index_name(t, op.columns, True))
        if not op.name:
            name, cname = idx_name, q(idx_name)
        idx = t.sibling(idx_name)
        est = ctx.calibration.duration("index_build_concurrent", ctx.rows(item), ctx.size(t))
        steps = [(E, ddl(ctx, f"build unique index {idx_name} CONCURRENTLY (writes continue)",
                         [f"CREATE UNIQUE INDEX CONCURRENTLY {q(idx.name)} ON {t.sql} ({cols(op.columns)})"],
                         [f"DROP INDEX CONCURRENTLY IF EXISTS {idx.sql}"], t, SUE, estimate=est, transactional=False))]
        nullable = False
        if op.constraint == "primary_key":
            facts = ctx.schema.known(t)
            for c in op.columns:
                if not (facts and c in facts.columns and facts.columns[c].not_null):
                    steps += _not_null_steps(ctx, t, c, ctx.rows(item))
                    nullable = True
        kind = "PRIMARY KEY" if op.constraint == "primary_key" else "UNIQUE"
        # After the NOT NULL steps (MIGRATE) when it needs them; else in EXPAND, before a foreign
        # key of the same migration that references it (its DOWN must not drop a key in use).
        steps.append((M if nullable else E,
                      ddl(ctx, f"attach {idx_name} as {kind} constraint {name} (catalog only)",
                          [f"ALTER TABLE {t.sql} ADD CONSTRAINT {cname} {kind} USING INDEX {q(idx_name)}"],
                          [f"ALTER TABLE {t.sql} DROP CONSTRAINT IF EXISTS {cname}"], t, AEL,
                          down_note="dropping the constraint drops its index too")))
        return steps
    if op.constraint == "not_null" and op.not_null_column:
        return _not_null_steps(ctx, t, op.not_null_column, ctx.rows(item))
    est = ctx.calibration.work(item.effect.work, ctx.rows(item), ctx.size(t))
    return [(E, ddl(ctx, f"add {op.constraint} constraint {name}: no online form, needs a maintenance window",
                    [f"ALTER TABLE {t.sql} ADD {sql_of(node)}"], drop, t, AEL, estimate=est))]


def _constraint_node(item: Analyzed) -> Any:
    for c in item.stmt.node.cmds:
        d = getattr(c, "def_", None)
        if isinstance(d, ast.Constraint) and (d.conname == item.op.name):
            return copy.deepcopy(d)
    raise AssertionError("constraint sub-command not found")


def _leading(definition: str) -> tuple[str, ...]:
    try:
        node = _parse_one(definition)
        return tuple(p.name for p in node.indexParams[:1] if getattr(p, "name", None))
    except Exception:  # a definition we cannot read covers nothing we can prove
        return ()


# --- data -------------------------------------------------------------------------------------

def data_change(item: Analyzed, ctx: PlanContext) -> Steps:
    op: data.DataChange = item.op
    t = _t(op)
    rows = item.effect.touched_rows(ctx.rows(item))  # a WHERE on a unique key touches few rows
    if item.new_table or rows <= ctx.thresholds.batch_rows:
        return [(M, ddl(ctx, f"{op.verb} {t} in one statement ({rows:,} rows: small enough)", [item.stmt.sql], [],
                        t, LockMode.ROW_EXCLUSIVE, down_note="not reversible: old values are not kept",
                        reversible=False))]
    pk = _pk(ctx, t)
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
    step = _backfill_step(ctx, f"{op.verb} {t} in keyset batches (old values copied to {backup} first)", b, rows,
                          down_note=f"restores the old values from {backup}")
    return [
        (E, ddl(ctx, f"create backup table {backup} for the rows the {op.verb} changes (the DOWN restores them)",
                setup, [f"DROP TABLE IF EXISTS {backup.sql}"], None, None)),
        (M, with_down(step, [_backfill_step(ctx, what, restore, rows)])),
    ]


# --- destructive ------------------------------------------------------------------------------

def drop_column(item: Analyzed, ctx: PlanContext) -> Steps:
    op: table.DropColumn = item.op
    t = _t(op)
    if item.new_table:
        return [(E, ddl(ctx, f"drop column {op.column} of new table {t}", [item.stmt.sql], [], t, AEL,
                        down_note="new table: nothing to restore"))]
    col = _column_type(ctx, t, op.column)
    _refuse_if_views_read(ctx, item, t, op.column, "a drop")
    pk = _pk(ctx, t)
    archive = QualifiedName(BACKUP_SCHEMA, identifier(f"{t.schema}_{t.name}_{op.column}"))
    canonical, _ = _confirmation(ctx, t, op.column)
    c = q(op.column)
    rows = ctx.rows(item)
    # The DOWN: re-add the column, then restore from the archive in keyset batches only the rows
    # that still hold the NULL the re-add gave them (a value the redeployed application wrote
    # since wins); rows born after the archive get the default; NOT NULL online.
    restore = [ddl(ctx, f"re-add column {op.column} to {t}",
                   [f"ALTER TABLE {t.sql} ADD COLUMN IF NOT EXISTS {c} {col.type}"]
                   + ([f"ALTER TABLE {t.sql} ALTER COLUMN {c} SET DEFAULT {col.default}"] if col.default else []),
                   [], t, AEL),
               _backfill_step(ctx, f"restore {t}.{op.column} from {archive} in keyset batches (rows written since "
                                   "keep their value)",
                              Backfill(t, pk, ((op.column, f"s.{c}"),), f"t.{c} IS NULL AND s.{c} IS NOT NULL",
                                       source=archive), rows)]
    if col.default:
        unarchived = " AND ".join(f"a.{q(k)} = {t.sql}.{q(k)}" for k in pk)
        restore.append(_backfill_step(ctx, f"give rows inserted after the archive the default of {op.column}",
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
                                        [f"ALTER TABLE {t.sql} ALTER COLUMN {c} DROP NOT NULL"], [], t, AEL,
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
                 f"CREATE TABLE {archive.sql} AS SELECT {cols(pk)}, {c} FROM {t.sql}",
                 # the DOWN's batches walk the archive's key
                 f"ALTER TABLE {archive.sql} ADD PRIMARY KEY ({cols(pk)})"],
                [f"DROP TABLE IF EXISTS {archive.sql}"], None, None,
                estimate=ctx.calibration.duration("rewrite", ctx.rows(item), ctx.size(t)),
                basis="copy of the column")),
        (C, with_down(ddl(ctx, f"drop column {t}.{op.column} (destructive: needs confirmation)",
                          [f"ALTER TABLE {t.sql} DROP COLUMN {c}"], [], t, AEL, requires_confirmation=canonical,
                          down_note=f"the DOWN re-adds the column and restores its values from {archive} in "
                                    "batches"), restore)),
    ]


def drop_table(item: Analyzed, ctx: PlanContext) -> Steps:
    op: table.DropTable = item.op
    t = _t(op)
    if item.new_table:
        return [(E, ddl(ctx, f"drop new table {t}", [item.stmt.sql], [], t, AEL, down_note="new table"))]
    canonical, _ = _confirmation(ctx, t)
    archived = QualifiedName(BACKUP_SCHEMA, identifier(f"{t.schema}_{t.name}"))
    return [
        (C, Step(f"confirm no deployed code uses {t}", (), (), manual=True, requires_confirmation=canonical)),
        (C, ddl(ctx, f"move {t} into schema {BACKUP_SCHEMA} instead of dropping it (instant; the DOWN moves it back)",
                [f"CREATE SCHEMA IF NOT EXISTS {q(BACKUP_SCHEMA)}",
                 f"ALTER TABLE {t.sql} SET SCHEMA {q(BACKUP_SCHEMA)}",
                 f"ALTER TABLE {QualifiedName(BACKUP_SCHEMA, t.name).sql} RENAME TO {q(archived.name)}"],
                [f"ALTER TABLE {archived.sql} RENAME TO {q(t.name)}",
                 f"ALTER TABLE {QualifiedName(BACKUP_SCHEMA, t.name).sql} SET SCHEMA {q(t.schema)}"],
                t, AEL, requires_confirmation=canonical,
                down_note=f"purge {archived} by hand after the agreed retention")),
    ]


def truncate(item: Analyzed, ctx: PlanContext) -> Steps:
    op: table.Truncate = item.op
    t = _t(op)
    if item.new_table:
        return [(E, ddl(ctx, f"truncate new table {t}", [item.stmt.sql], [], t, AEL))]
    canonical, _ = _confirmation(ctx, t)
    archive = QualifiedName(BACKUP_SCHEMA, identifier(f"{t.schema}_{t.name}_truncated"))
    return [
        (C, ddl(ctx, f"archive every row of {t} into {archive}",
                [f"CREATE SCHEMA IF NOT EXISTS {q(BACKUP_SCHEMA)}",
                 f"CREATE TABLE {archive.sql} AS SELECT * FROM {t.sql}"], [f"DROP TABLE IF EXISTS {archive.sql}"],
                None, None, estimate=ctx.calibration.duration("rewrite", ctx.rows(item), ctx.size(t)),
                basis="copy of the table")),
        (C, ddl(ctx, f"TRUNCATE {t} (destructive: needs confirmation)", [f"TRUNCATE {t.sql}"],
                [f"INSERT INTO {t.sql} SELECT * FROM {archive.sql}"], t, AEL, requires_confirmation=canonical)),
    ]


# --- everything else --------------------------------------------------------------------------

def detach_partition(item: Analyzed, ctx: PlanContext) -> Steps:
    op: misc.DetachPartition = item.op
    t = _t(op)
    conc = supports("detach_concurrently", ctx.version)
    sql = f"ALTER TABLE {t.sql} DETACH PARTITION {op.partition.sql}" + (" CONCURRENTLY" if conc else "")
    return [(C, ddl(ctx, f"detach {op.partition} from {t}" + (" CONCURRENTLY" if conc else ""), [sql], [],
                    t, SUE if conc else AEL, transactional=not conc, reversible=False,
                    down_note="re-attach with its FOR VALUES bound by hand (the bound is not in the migration)"))]


def passthrough(item: Analyzed, ctx: PlanContext) -> Steps:
    """Operations that are already safe, or have no online form: run as written, with a guard and
    the inverse as DOWN when migspec knows it."""
    op = item.op
    down, note, reversible = inverse(item, ctx)
    # A type or sequence goes after the columns that use it (dropped in CONTRACT).
    phase = C if op.destructive or isinstance(op, (constraint.DropConstraint, misc.DropTrigger)) or (
        isinstance(item.stmt.node, ast.DropStmt) and item.stmt.node.removeType in (
            ObjectType.OBJECT_TYPE, ObjectType.OBJECT_SEQUENCE)) else E
    lock = item.effect.strongest
    est = ctx.calibration.work(item.effect.work, ctx.rows(item), ctx.size(op.table)) if op.table else None
    step = ddl(ctx, op.describe(), [item.stmt.sql], down, op.table, lock,
               estimate=est,
               transactional=not op.no_transaction, down_note=note, reversible=reversible)
    if isinstance(op, table.DropNotNull) and op.table and not item.new_table:
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


def inverse(item: Analyzed, ctx: PlanContext) -> tuple[list[str], str, bool]:
    """(DOWN statements, note, reversible) for an operation run as written."""
    op, node = item.op, item.stmt.node
    t = op.table
    if isinstance(op, table.CreateTable):
        return [f"DROP TABLE IF EXISTS {_t(op).sql}"], "", True
    if isinstance(op, table.SetDefault) and t:
        col = ctx.schema.known(t).columns.get(op.column) if ctx.schema.known(t) else None
        require(col, f"the current default of {t}.{op.column} (its DOWN restores it)")
        assert col is not None
        back = (f"SET DEFAULT {col.default}" if col.default else "DROP DEFAULT")
        return [f"ALTER TABLE {t.sql} ALTER COLUMN {q(op.column)} {back}"], "", True
    if isinstance(op, table.DropNotNull) and t:
        return [f"ALTER TABLE {t.sql} ALTER COLUMN {q(op.column)} SET NOT NULL"], \
            "the DOWN scans the table (and fails if NULLs arrived meanwhile)", True
    if isinstance(op, constraint.ValidateConstraint):
        return [], "nothing to undo: validation only reads", True
    if isinstance(op, constraint.DropConstraint) and t:
        facts = ctx.schema.known(t)
        known = facts.constraints.get(op.name) if facts else None
        definition = known.definition if known else None
        require(definition, f"the definition of constraint {op.name} on {t} (its DOWN re-adds it)")
        return [f"ALTER TABLE {t.sql} ADD CONSTRAINT {q(op.name)} {definition}"], "", True
    if isinstance(op, index.CreateIndex) and t:
        name = op.name or default_index_name(t, op.columns, op.unique)
        return [f"DROP INDEX IF EXISTS {t.sibling(name).sql}"], "", True
    if isinstance(op, misc.CreateTrigger) and t:
        return [f"DROP TRIGGER IF EXISTS {q(op.name)} ON {t.sql}"], "", True
    if isinstance(op, misc.AddEnumValue):
        return [], "not reversible: PostgreSQL cannot remove a value from an enum (harmless to keep)", False
    if isinstance(op, (misc.Maintenance, misc.LockTable)):
        return [], "nothing to undo", True
    if isinstance(node, ast.RenameStmt) and node.renameType == ObjectType.OBJECT_TABCONSTRAINT:
        return [f"ALTER TABLE {relation_name(node.relation).sql} RENAME CONSTRAINT {q(node.newname)} TO "
                f"{q(node.subname)}"], "", True
    if isinstance(node, ast.RenameStmt) and node.renameType == ObjectType.OBJECT_INDEX:
        old = relation_name(node.relation)
        return [f"ALTER INDEX {old.sibling(node.newname).sql} RENAME TO {q(old.name)}"], "", True
    if isinstance(node, ast.DropStmt) and node.removeType in _RECREATABLE and len(node.objects) == 1:
        if node.removeType == ObjectType.OBJECT_SCHEMA:
            return [f"CREATE SCHEMA {q(node.objects[0].sval)}"], "", True
        obj = node.objects[0]
        names = [p.sval for p in (obj.names if isinstance(obj, ast.TypeName) else obj)]
        name = QualifiedName(names[-2] if len(names) > 1 else "public", names[-1])
        create = _create_again(ctx, node.removeType, name)
        if create:
            return [create], "", True
    if isinstance(node, ast.ViewStmt):
        return [f"DROP VIEW IF EXISTS {QualifiedName(node.view.schemaname or 'public', node.view.relname).sql}"], "", True
    if isinstance(node, ast.CreateSeqStmt):
        return [f"DROP SEQUENCE IF EXISTS {QualifiedName(node.sequence.schemaname or 'public', node.sequence.relname).sql}"], "", True
    if isinstance(node, ast.CreateSchemaStmt):
        return [f"DROP SCHEMA IF EXISTS {q(node.schemaname)}"], "", True
    if isinstance(node, ast.CreateEnumStmt):
        names = [s.sval for s in node.typeName]
        return [f"DROP TYPE IF EXISTS {QualifiedName(names[-2] if len(names) > 1 else 'public', names[-1]).sql}"], "", True
    if isinstance(node, ast.CreateExtensionStmt):
        return [f"DROP EXTENSION IF EXISTS {q(node.extname)}"], "", True
    return [], "no DOWN known for this statement: write it by hand before approving", False


REWRITES: dict[type[Operation], Callable[[Analyzed, PlanContext], Steps]] = {
    index.CreateIndex: create_index,
    index.DropIndex: drop_index,
    index.Reindex: reindex,
    table.AddColumn: add_column,
    table.SetNotNull: set_not_null,
    table.AlterColumnType: alter_type,
    table.RenameColumn: rename_column,
    table.RenameTable: rename_table,
    table.DropColumn: drop_column,
    table.DropTable: drop_table,
    table.Truncate: truncate,
    constraint.AddConstraint: add_constraint,
    data.Update: data_change,
    data.Delete: data_change,
    misc.DetachPartition: detach_partition,
}

SKIPPED = (session.TransactionControl, session.SetSetting)


def framework_placeholder(item: Analyzed) -> Steps:
    """A framework operation with no SQL (Django RunPython): a human runs it; migspec cannot."""
    return [(M, Step(f"run by hand: the {item.op.describe()} at {item.stmt.location} - migspec cannot see or "
                     "run it", (), (), manual=True, reversible=False,
                     down_note="unknown: the framework operation's own reverse, if it has one"))]


def rewrite(item: Analyzed, ctx: PlanContext) -> Steps:
    if isinstance(item.op, SKIPPED):
        return []
    if isinstance(item.stmt.node, Placeholder):
        return framework_placeholder(item)
    return REWRITES.get(type(item.op), passthrough)(item, ctx)

"""Indexes: CREATE INDEX -> CONCURRENTLY; DROP INDEX -> CONCURRENTLY with the definition as DOWN;
REINDEX -> CONCURRENTLY (PG12+); and the index helpers other rewrites use when a column they
replace or drop carries indexes."""

from __future__ import annotations

import copy
from typing import Any

from pglast import ast

from migspec.analysis import Analyzed
from migspec.names import QualifiedName, identifier, quote_literal
from migspec.ops import index
from migspec.plan.context import PlanContext
from migspec.plan.context import require
from migspec.schema import sql_of
from migspec.schema.ddl import index_from_node
from migspec.names import default_index_name
from migspec.plan.steps import C, E, Steps, ddl
from migspec.plan.rewrites.base import handles, parse_one, table_of
from migspec.planfile.model import PhaseName
from migspec.versions import supports


def indexes_on(ctx: PlanContext, t: QualifiedName, column: str) -> dict[str, Any]:
    """Indexes of ``t`` (from the schema facts) whose key or predicate uses ``column``, parsed.
    Primary keys and unique constraints are left out: their constraint owns them."""
    from migspec.parse.source import iter_nodes

    facts = ctx.schema.known(t)
    found: dict[str, Any] = {}
    owned = set(facts.constraints) if facts else set()
    for name, idx in (facts.indexes.items() if facts else ()):
        if name in owned:
            continue
        node = parse_one(idx.definition)
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
                    [retarget_index(node, column, named_now, name) if named_now else _concurrent(node)], t,
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
                                 [f"DROP INDEX CONCURRENTLY IF EXISTS {t.sibling(new_name).sql}"], t,
                                 estimate=est, transactional=False)))
    return steps


@handles(index.CreateIndex)
def create_index(item: Analyzed, ctx: PlanContext) -> Steps:
    op: index.CreateIndex = item.op
    t = table_of(op)
    if item.new_table or partitioned(ctx, t) or not item.stmt.node.relation.inh:
        # An empty table nobody uses yet: the plain build is instant. A partitioned table (or
        # ON ONLY its parent) cannot build CONCURRENTLY (SQLSTATE 0A000): as written, its lock shown.
        from migspec.plan.rewrites import passthrough

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
                    [sql_of(node)], [f"DROP INDEX CONCURRENTLY IF EXISTS {name.sql}"], t,
                    estimate=est, transactional=False,
                    post_check=f"SELECT indisvalid AS ok FROM pg_index WHERE indexrelid = {quote_literal(name.sql)}::regclass"))]


def partitioned(ctx: PlanContext, t: QualifiedName | None) -> bool:
    table = ctx.schema.known(t)
    return table is not None and table.partition_key is not None


@handles(index.DropIndex)
def drop_index(item: Analyzed, ctx: PlanContext) -> Steps:
    op: index.DropIndex = item.op
    known = ctx.schema.index(op.index)
    definition = known.definition if known else None
    require(definition, f"the definition of index {op.index} (its DOWN recreates it)")
    assert definition is not None
    node = copy.deepcopy(parse_one(definition))
    node.concurrent = True
    node.if_not_exists = False
    table_name = ctx.schema.index_table(op.index)
    if partitioned(ctx, table_name):  # no DROP INDEX CONCURRENTLY on a partitioned index
        return [(C, ddl(ctx, f"drop index {op.index} of partitioned {table_name}", [item.stmt.sql],
                        [definition.replace(" ON ONLY ", " ON ", 1)], table_name, lock=item.effect.strongest))]
    rows = ctx.stats.table(table_name).rows or 0 if table_name else 0
    est = ctx.calibration.duration("index_build_concurrent", rows, ctx.size(table_name))
    return [(C, ddl(ctx, f"drop index {op.index} CONCURRENTLY", [f"DROP INDEX CONCURRENTLY IF EXISTS {op.index.sql}"],
                    [sql_of(node)], table_name, transactional=False,
                    down_note=f"the DOWN rebuilds it concurrently, est. {est.range_text}"))]


@handles(index.Reindex)
def reindex(item: Analyzed, ctx: PlanContext) -> Steps:
    op: index.Reindex = item.op
    t = op.table or ctx.schema.index_table(op.relation)  # REINDEX INDEX: the index's table, if known
    if not supports("reindex_concurrently", ctx.version):
        return [(E, ddl(ctx, f"REINDEX {op.relation} (no CONCURRENTLY before PG12: needs a quiet period)",
                        [item.stmt.sql], [], t, down_note="nothing to undo"))]
    return [(E, ddl(ctx, f"REINDEX {op.target.upper()} {op.relation} CONCURRENTLY",
                    [f"REINDEX {op.target.upper()} CONCURRENTLY {op.relation.sql}"], [], t,
                    transactional=False, down_note="nothing to undo: the index is rebuilt, not changed"))]


def leading_columns(definition: str) -> tuple[str, ...]:
    try:
        node = parse_one(definition)
        return tuple(p.name for p in node.indexParams[:1] if getattr(p, "name", None))
    except Exception:  # a definition we cannot read covers nothing we can prove
        return ()

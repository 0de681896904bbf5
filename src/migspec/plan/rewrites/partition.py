"""DETACH PARTITION: CONCURRENTLY where the version has it, then the CHECK constraint PostgreSQL
leaves on the detached table dropped in its own step. ATTACH PARTITION: as written, its DOWN detaches."""

from __future__ import annotations

from pglast import ast
from pglast.enums import PartitionRangeDatumKind

from migspec.analysis import Analyzed
from migspec.frozen import replace
from migspec.names import QualifiedName, default_index_name, identifier
from migspec.ops import misc
from migspec.plan.context import PlanContext
from migspec.plan.steps import C, Steps, built, ddl, with_down
from migspec.plan.recipes import not_valid_then_validate
from migspec.plan.rewrites.base import handles, parse_one, table_of
from migspec.planfile.sql import q
from migspec.schema import sql_of
from migspec.schema.model import EXCLUDE, FOREIGN, PRIMARY, UNIQUE
from migspec.versions import supports


@handles(misc.DetachPartition)
def detach_partition(item: Analyzed, ctx: PlanContext) -> Steps:
    """The DOWN re-attaches the table with the bound the schema facts give (without them: a note,
    not reversible). A CHECK copying the bound is there first (PostgreSQL 14+: the one DETACH
    CONCURRENTLY added, re-added by the next step's DOWN; 13: added NOT VALID and validated by this
    DOWN), so ATTACH PARTITION skips its scan under ACCESS EXCLUSIVE; it is dropped after the attach."""
    op: misc.DetachPartition = item.op
    t, part = table_of(op), op.partition
    conc = supports("detach_concurrently", ctx.version)
    sql = f"ALTER TABLE {t.sql} DETACH PARTITION {part.sql}" + (" CONCURRENTLY" if conc else "")
    description = f"detach {part} from {t}" + (" CONCURRENTLY" if conc else "")
    known = ctx.schema.known(part)
    rows = ctx.stats.table(part).rows or 0
    bound = _bound_check(ctx, t, part)
    if known is None or not known.partition_bound:
        return [(C, ddl(ctx, description, [sql], [], t, transactional=not conc, reversible=False,
                        down_note="re-attach with its FOR VALUES bound by hand (the schema facts do not give it)"))]
    down = [] if bound is None or conc else [s for _, s in built(ctx, not_valid_then_validate(part, *bound), rows)]
    down.append(ddl(ctx, f"re-attach {part} to {t} {known.partition_bound}",
                    [f"ALTER TABLE {t.sql} ATTACH PARTITION {part.sql} {known.partition_bound}"], [], part))
    if bound is not None:
        down.append(ddl(ctx, f"drop {bound[0]}, the copy of the bound the attach no longer needs",
                        [f"ALTER TABLE {part.sql} DROP CONSTRAINT IF EXISTS {q(bound[0])}"], [], part))
    steps: Steps = [(C, with_down(ddl(ctx, description, [sql], [], t, transactional=not conc), down))]
    if bound is not None and conc:
        name, check = bound
        steps.append((C, with_down(
            ddl(ctx, f"drop {name}, the copy of the partition bound DETACH CONCURRENTLY added to {part}",
                [f"ALTER TABLE {part.sql} DROP CONSTRAINT IF EXISTS {q(name)}"], [], part),
            # Back for a re-attach: with it ATTACH PARTITION skips its scan under the lock.
            [s for _, s in built(ctx, not_valid_then_validate(part, name, check), rows)])))
    return steps


def _bound_check(ctx: PlanContext, parent: QualifiedName, partition: QualifiedName) -> tuple[str, str] | None:
    """The name and CHECK of the constraint DETACH ... CONCURRENTLY (PG14+) adds to the detached
    table, copying its bound (tablecmds.c DetachAddConstraintIfNeeded): named as an unnamed CHECK on
    the bound's one column is (heap.c AddRelationNewConstraints: ``<table>_<column>_check``, a number
    appended while taken). None when the facts lack the bound or it is not a one-column RANGE/LIST."""
    part, par = ctx.schema.known(partition), ctx.schema.known(parent)
    if part is None or par is None or not part.partition_bound or not par.partition_key:
        return None
    key = parse_one(f"CREATE TABLE x () PARTITION BY {par.partition_key}").partspec
    spec = parse_one(f"CREATE TABLE x PARTITION OF y {part.partition_bound}").partbound
    params = key.partParams or ()
    if len(params) != 1 or not getattr(params[0], "name", None) or spec.is_default:
        return None
    col = q(params[0].name)
    terms = [f"{col} IS NOT NULL"]
    if spec.strategy == "r":
        for datums, op in ((spec.lowerdatums, ">="), (spec.upperdatums, "<")):
            d = datums[0]
            if isinstance(d, ast.PartitionRangeDatum):
                if d.kind != PartitionRangeDatumKind.PARTITION_RANGE_DATUM_VALUE:
                    continue
                d = d.value
            terms.append(f"{col} {op} {sql_of(d)}")
    elif spec.strategy == "l":
        values = [sql_of(v) for v in spec.listdatums]
        if any(v.upper() == "NULL" for v in values):
            return None
        terms.append(f"{col} IN ({', '.join(values)})")
    else:
        return None
    taken = set(part.constraints)
    base = identifier(f"{partition.name}_{params[0].name}_check")
    name, n = base, 0
    while name in taken:
        n += 1
        name = identifier(f"{base}{n}")
    return name, f"CHECK ({' AND '.join(terms)})"


@handles(misc.AttachPartition)
def attach_partition(item: Analyzed, ctx: PlanContext) -> Steps:
    """Run as written; the DOWN detaches the table again and drops what the attach built on it.
    ATTACH PARTITION gives the table a copy of each of its new parent's keys and indexes it has no
    match for (tablecmds.c AttachPartitionEnsureIndexes), named as unnamed ones are (``<table>_pkey``,
    ``<table>_<columns>_key``, ``<table>_<columns>_excl``, ``<table>_<columns>_idx``), and DETACH
    leaves them as the table's own (tests/test_schema_catalog.py::test_detach_leaves_the_parents_copies_as_the_tables_own;
    the DOWN checked on 13, 15 and 18 by tests/test_diff_corpus.py attach-partition). No DOWN (a
    note) without the facts of both tables, when the parent has foreign keys (cloned onto the table,
    left by DETACH) or a key whose columns the facts do not give."""
    from migspec.plan.rewrites import passthrough

    op: misc.AttachPartition = item.op
    (phase, step), = passthrough(item, ctx)
    t, part = table_of(op), op.partition
    parent, table = ctx.schema.known(t), ctx.schema.known(part)
    drops: list[str] | None = [] if parent is not None and table is not None and not any(
        c.kind == FOREIGN for c in parent.constraints.values()) else None
    if parent is not None and table is not None and drops is not None:
        # a key: unless the table has one with the same definition (a dump's facts list no index for it)
        mine = {(c.kind, c.definition) for c in table.constraints.values()}
        for name, con in sorted(parent.constraints.items()):
            if con.kind not in (PRIMARY, UNIQUE, EXCLUDE) or (con.kind, con.definition) in mine:
                continue
            idx = parent.indexes.get(name)
            if con.kind != PRIMARY and idx is None:
                drops = None
                break
            cols = tuple(k or "expr" for k in idx.keys) if idx else ()
            copy = identifier(f"{part.name}_pkey") if con.kind == PRIMARY else default_index_name(
                part, cols, unique=True) if con.kind == UNIQUE else identifier(f"{part.name}_{'_'.join(cols)}_excl")
            drops.append(f"ALTER TABLE {part.sql} DROP CONSTRAINT IF EXISTS {q(copy)}")
    if parent is None or table is None or drops is None:
        return [(phase, replace(step, reversible=False, down_note=(
            f"detach {part} from {t} and drop the keys, indexes and foreign keys the attach copied onto it, "
            "by hand (the schema facts lack the tables, the parent's foreign keys or a key's columns)")))]
    have = {i.shape for i in table.indexes.values()}
    for name, idx in sorted(parent.indexes.items()):
        if name not in parent.constraints and idx.shape not in have:
            copy = default_index_name(part, tuple(k or "expr" for k in idx.keys))
            drops.append(f"DROP INDEX IF EXISTS {part.sibling(copy).sql}")
    down = [ddl(ctx, f"detach {part} from {t}", [f"ALTER TABLE {t.sql} DETACH PARTITION {part.sql}"], [], t)]
    if drops:
        down.append(ddl(ctx, f"drop the copies of {t}'s keys and indexes the attach built on {part}", drops, [],
                        part))
    return [(phase, with_down(replace(step, reversible=True, down_note=""), down))]

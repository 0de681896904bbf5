"""DETACH PARTITION: CONCURRENTLY where the version has it, then the CHECK constraint PostgreSQL
leaves on the detached table dropped in its own step."""

from __future__ import annotations

from pglast import ast
from pglast.enums import PartitionRangeDatumKind

from migspec.analysis import Analyzed
from migspec.names import QualifiedName, identifier
from migspec.ops import misc
from migspec.plan.context import PlanContext
from migspec.plan.steps import C, Steps, built, ddl, with_down
from migspec.plan.rewrites.base import handles, not_valid_then_validate, parse_one, table_of
from migspec.planfile.sql import q
from migspec.schema import sql_of
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

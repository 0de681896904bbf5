"""An integer primary key widened to bigint, online: Django's ``DEFAULT_AUTO_FIELD = BigAutoField``
switch (an ``AlterField`` AutoField -> BigAutoField per model, which Django runs as ``ALTER COLUMN id
TYPE bigint`` on the table and on every column referencing it - each a rewrite under ACCESS
EXCLUSIVE), or the same ``ALTER TABLE t ALTER COLUMN id TYPE bigint`` written by hand.

Detected from the statement and the schema facts: the column is the table's whole primary key, its
type is ``integer``/``smallint``, the new type ``bigint``. The foreign keys pointing at it come from
the facts (``migspec measure`` records every table's constraints); the statements of the same
migration that only serve Django's way (DROP/ADD of those foreign keys, ``SET CONSTRAINTS``, their
columns' ``TYPE bigint``, ``ALTER SEQUENCE ... AS bigint``) are taken over by the plan below.

The plan - column swaps, as GitLab's bigint conversions of ``events.id``/``ci_*.id`` do it (a new
column kept in sync, backfilled, indexed, then one short transaction that swaps), learnt, not copied:

- EXPAND: ``<pk>__migspec_new bigint`` beside the key and a trigger filling it on every write; the
  same for every referencing column (``<fk>__migspec_new``).
- MIGRATE: keyset-batched backfills (migspec's resumable runner), NOT NULL online (CHECK NOT VALID,
  VALIDATE, SET NOT NULL without a scan), a unique index on the new key built CONCURRENTLY, each
  referencing column's indexes copied CONCURRENTLY, and each foreign key re-created on the new
  columns NOT VALID then VALIDATEd - all before the swap, so the swap itself checks nothing.
- CONTRACT: one transaction (lock_timeout, retried) swaps the whole table set: the old foreign keys
  dropped, columns renamed (the old ones kept as ``<col>__migspec_old``, nullable, filled by a
  reverse trigger - NULL once a value no longer fits ``integer``), ``ADD CONSTRAINT <pk> PRIMARY KEY
  USING INDEX`` (catalog only), the identity (or the serial sequence, ``AS bigint``) moved to the new
  column with its counter, the new foreign keys renamed to the names the migration gives them. Then
  the old columns' indexes are dropped CONCURRENTLY, the copies take their names, and a last step
  drops the old columns (nothing is lost: they only mirrored the new ones).

Every step has its DOWN. The swap's DOWN is online too: it refuses (a PL/pgSQL check) when the
sequence has handed out ids beyond ``integer`` - there is no way back then - else builds the unique
index the old key needs CONCURRENTLY, sets NOT NULL online, swaps back in one transaction (identity
or ``ALTER SEQUENCE ... AS integer`` back on the old column, the old foreign keys re-added NOT VALID)
and VALIDATEs them.
"""

from __future__ import annotations

import copy

from typing import Any

from pglast import ast, enums

from migspec.analysis import Analyzed
from migspec.frozen import frozen
from migspec.names import QualifiedName, identifier, quote_literal
from migspec.ops import constraint, table
from migspec.ops.types import ColumnType
from migspec.plan.context import PlanContext, require
from migspec.plan.sql import sync_trigger
from migspec.planfile.model import Backfill, PhaseName, Step
from migspec.planfile.sql import dollar_quote, q
from migspec.schema import FOREIGN, PRIMARY, sql_of

E, M, C = PhaseName.EXPAND, PhaseName.MIGRATE, PhaseName.CONTRACT
Steps = list[tuple[PhaseName, Step]]

#: Types an integer key widens from, as ``ColumnType`` canonical names (pg_type.typname).
NARROW = {"int2": "smallint", "int4": "integer"}
#: The largest value of each (the reverse trigger and the DOWN's guard).
MAX_VALUE = {"int2": 32767, "int4": 2147483647}


def new_name(column: str) -> str:
    return identifier(f"{column}__migspec_new")


def old_name(column: str) -> str:
    return identifier(f"{column}__migspec_old")


@frozen
class Reference:
    """A single-column foreign key pointing at the widened key."""

    table: QualifiedName
    column: str
    name: str  # the constraint's name today
    node: Any  # its definition, parsed (pglast Constraint)
    final_name: str  # the name the migration gives it (Django re-adds it under its own), else ``name``
    not_null: bool
    old_type: str

    @property
    def new_constraint(self) -> str:
        return identifier(f"{self.table.name}_{self.column}__migspec_fk")


@frozen
class Widening:
    table: QualifiedName
    column: str
    old_type: str  # "integer" / "smallint"
    narrow: str  # "int4" / "int2"
    pk_name: str
    identity: str | None  # "by default" / "always"
    sequence: QualifiedName | None  # a serial's sequence (DEFAULT nextval(...))
    default: str | None
    references: tuple[Reference, ...]

    @property
    def unique_index(self) -> str:
        return identifier(f"{self.table.name}_{new_name(self.column)}_key")

    @property
    def old_key_index(self) -> str:
        return identifier(f"{self.table.name}_{old_name(self.column)}_key")


# --- detection ----------------------------------------------------------------------------------

def _fk(definition: str) -> Any | None:
    """The Constraint node of a ``FOREIGN KEY ...`` definition from the facts, else None."""
    from pglast import parse_sql

    try:
        stmt = parse_sql(f"ALTER TABLE x ADD CONSTRAINT x {definition}")[0].stmt
    except Exception:  # a definition migspec cannot read is no foreign key it can move
        return None
    con = stmt.cmds[0].def_
    return con if isinstance(con, ast.Constraint) and con.contype == enums.ConstrType.CONSTR_FOREIGN else None


def _references(ctx: PlanContext, t: QualifiedName, column: str) -> list[Reference]:
    out = []
    for rname, facts in sorted(ctx.schema.tables.items()):
        for cname, con in sorted(facts.constraints.items()):
            node = _fk(con.definition) if con.kind == FOREIGN else None
            if node is None or node.pktable is None:
                continue
            target = QualifiedName(node.pktable.schemaname or rname.schema, node.pktable.relname)
            fk_cols = tuple(a.sval for a in node.fk_attrs or ())
            pk_cols = tuple(a.sval for a in node.pk_attrs or ()) or (column,)
            if target != t or pk_cols != (column,):
                continue
            if len(fk_cols) != 1:
                raise _refuse(t, column, f"the foreign key {cname} of {rname} has several columns")
            col = facts.columns.get(fk_cols[0])
            require(col and col.type, f"the type of {rname}.{fk_cols[0]} (it references {t}.{column})")
            require(facts.primary_key, f"the primary key of {rname} (its backfill walks it)")
            assert col is not None
            if _type_name(col.type or "") not in NARROW:
                raise _refuse(t, column, f"{rname}.{fk_cols[0]}, which references it, is {col.type}")
            out.append(Reference(rname, fk_cols[0], cname, node, cname, col.not_null, col.type or ""))
    return out


def _type_name(text: str) -> str:
    """The stored type's canonical name (a ``serial`` written in a DDL file is an ``int4``)."""
    try:
        return ColumnType.parse(text).stored.name
    except Exception:  # a type migspec cannot read is no integer
        return text


def _refuse(t: QualifiedName, column: str, why: str) -> Exception:
    from migspec.errors import RefusedError

    return RefusedError(f"cannot plan widening {t}.{column} to bigint online: {why}")


def _widening(item: Analyzed, ctx: PlanContext) -> Widening | None:
    op = item.op
    if not isinstance(op, table.AlterColumnType) or item.new_table or op.table is None or op.type is None:
        return None
    facts = ctx.schema.known(op.table)
    if facts is None or facts.primary_key != (op.column,) or op.type.name != "int8" or op.type.array:
        return None
    col = facts.columns.get(op.column)
    if col is None or not col.type:
        return None
    narrow = _type_name(col.type)
    if narrow not in NARROW:
        return None
    pk_name = next((n for n, c in facts.constraints.items() if c.kind == PRIMARY), None)
    require(pk_name, f"the name of {op.table}'s primary key constraint (the swap re-creates it)")
    assert pk_name is not None
    identity, default = col.identity, col.default
    sequence = None
    if _type_name(col.type) != col.type.lower() and ColumnType.parse(col.type).is_serial and not default:
        # "serial" as written (a DDL file, not pg_dump): PostgreSQL's own sequence name and DEFAULT
        default = f"nextval({quote_literal(op.table.sibling(identifier(f'{op.table.name}_{op.column}_seq')).sql)}::regclass)"
    if default and not identity:
        sequence = _serial_sequence(default, op.table)
        if sequence is None:
            raise _refuse(op.table, op.column, f"its DEFAULT {col.default} is not a sequence's nextval()")
    return Widening(op.table, op.column, NARROW[narrow], narrow, pk_name, identity, sequence, default,
                    tuple(_references(ctx, op.table, op.column)))


def _serial_sequence(default: str, t: QualifiedName) -> QualifiedName | None:
    """The sequence of ``nextval('seq'::regclass)`` (a serial column's DEFAULT)."""
    from pglast import parse_sql

    try:
        expr = parse_sql(f"SELECT {default}")[0].stmt.targetList[0].val
    except Exception:  # not an expression migspec can read: no sequence it can move
        return None
    if not (isinstance(expr, ast.FuncCall) and expr.funcname[-1].sval == "nextval" and expr.args):
        return None
    arg = expr.args[0]
    while isinstance(arg, ast.TypeCast):
        arg = arg.arg
    if not isinstance(arg, ast.A_Const) or not isinstance(arg.val, ast.String):
        return None
    parts = arg.val.sval.replace('"', "").split(".")
    return QualifiedName(parts[0], parts[1]) if len(parts) == 2 else t.sibling(parts[0])


def _absorbs(item: Analyzed, w: Widening) -> str | None:
    """The final FK name when ``item`` is one of the statements the widening takes over
    ("" when it carries none), else None."""
    op, node = item.op, item.stmt.node
    refs = {(r.table, r.column): r for r in w.references}
    names = {(r.table, r.name) for r in w.references}
    if isinstance(op, table.AlterColumnType) and (op.table, op.column) in refs and op.type is not None \
            and op.type.name == "int8":
        return ""
    if isinstance(op, constraint.DropConstraint) and (op.table, op.name) in names:
        return ""
    if isinstance(op, constraint.AddConstraint) and op.constraint == "foreign_key" and op.references == w.table \
            and (op.table, op.columns[:1]) in {(t, (c,)) for t, c in refs} and len(op.columns) == 1:
        return op.name or ""
    if isinstance(node, ast.ConstraintsSetStmt):
        named = {c.relname for c in node.constraints or () if isinstance(c, ast.RangeVar)}
        return "" if named and named <= {n for _, n in names} else None
    if isinstance(node, ast.AlterSeqStmt) and node.sequence is not None:
        seq = QualifiedName(node.sequence.schemaname or w.table.schema, node.sequence.relname)
        ours = w.sequence or w.table.sibling(f"{w.table.name}_{w.column}_seq")
        return "" if seq == ours else None
    return None


#: Seen in tests/test_frameworks_bigauto.py with psycopg's default auto-prepare: PostgreSQL refuses
#: to run a prepared statement whose result row type changed (plancache.c).
PREPARED_NOTE = ("after the swap of {key} (as after Django's own ALTER), a server-side prepared statement "
                 "returning the key fails once per connection with 'cached plan must not change result type': "
                 "Django's default client-side binding is not affected; with server-side binding or a pooler "
                 "that prepares, reconnect (or DEALLOCATE ALL) after CONTRACT")


def claim(items: list[Analyzed], ctx: PlanContext) -> tuple[dict[int, Steps], list[str]]:
    """``id(item)`` -> its steps, for the statements a primary key widening plans (the steps on the
    ALTER of the key, nothing on the statements it takes over); the builder plans the rest. And the
    notes for the plan."""
    out: dict[int, Steps] = {}
    notes: list[str] = []
    for item in items:
        w = _widening(item, ctx)
        if w is None:
            continue
        finals: dict[tuple[QualifiedName, str], str] = {}
        for other in items:
            if other is item or id(other) in out:
                continue
            final = _absorbs(other, w)
            if final is None:
                continue
            out[id(other)] = []
            if final and isinstance(other.op, constraint.AddConstraint) and other.op.table is not None:
                finals[(other.op.table, other.op.columns[0])] = final
        refs = tuple(Reference(**{**r.__dict__, "final_name": finals.get((r.table, r.column), r.name)})
                     for r in w.references)
        w = Widening(**{**w.__dict__, "references": refs})
        out[id(item)] = widen(ctx, w)
        notes.append(PREPARED_NOTE.format(key=f"{w.table}.{w.column}"))
    return out, notes


# --- the steps ----------------------------------------------------------------------------------

def _rows(ctx: PlanContext, t: QualifiedName) -> int:
    return ctx.stats.table(t).rows or 0 if t in ctx.stats.tables else 0


def _retarget_fk(node: Any, fk_column: str, pk_column: str) -> str:
    """The foreign key's definition (no name, no NOT VALID) on other columns."""
    node = copy.deepcopy(node)
    node.conname, node.skip_validation, node.initially_valid = None, False, True
    node.fk_attrs = (ast.String(sval=fk_column),)
    node.pk_attrs = (ast.String(sval=pk_column),)
    return sql_of(node)


def _definition(node: Any) -> str:
    node = copy.deepcopy(node)
    node.conname, node.skip_validation, node.initially_valid = None, False, True
    return sql_of(node)


def _in_range(expr: str, narrow: str) -> str:
    top = MAX_VALUE[narrow]
    return f"CASE WHEN {expr} BETWEEN {-top - 1} AND {top} THEN {expr} END"


def _triggers(t: QualifiedName, column: str, narrow: str) -> tuple[tuple[str, str, str], tuple[str, str, str]]:
    """(forward, reverse) sync triggers: ``<col>__migspec_new`` from ``<col>`` before the swap;
    ``<col>__migspec_old`` from the new ``<col>`` after it (NULL when the value does not fit)."""
    c = q(column)
    forward = sync_trigger(t, column, new_name(column), f"NEW.{c}", None, f"widen_{column}")
    reverse = sync_trigger(t, column, old_name(column), _in_range(f"NEW.{c}", narrow), None, f"unwiden_{column}")
    return forward, reverse


def _split(drop: str) -> list[str]:
    return drop.split("; ")


def _identity_move(w: Widening, source: str, target: str, *, guard: bool) -> str:
    """A DO block moving the identity (and its counter) from column ``source`` to ``target``."""
    t = w.table
    kind = "ALWAYS" if w.identity == "always" else "BY DEFAULT"
    check = ""
    if guard:
        top = MAX_VALUE[w.narrow]
        check = (f"  IF last_value > {top} THEN\n"
                 f"    RAISE EXCEPTION 'migspec: %: the sequence has handed out ids up to %, beyond {w.old_type}: "
                 "no way back to the narrow key', " + quote_literal(f"{t}.{w.column}") + ", last_value;\n"
                 "  END IF;\n")
    body = ("\nDECLARE\n  seq text;\n  last_value bigint;\n  called boolean;\nBEGIN\n"
            f"  seq := pg_get_serial_sequence({quote_literal(t.sql)}, {quote_literal(source)});\n"
            "  EXECUTE format('SELECT last_value, is_called FROM %s', seq) INTO last_value, called;\n"
            + check +
            f"  ALTER TABLE {t.sql} ALTER COLUMN {q(source)} DROP IDENTITY;\n"
            f"  ALTER TABLE {t.sql} ALTER COLUMN {q(target)} ADD GENERATED {kind} AS IDENTITY;\n"
            f"  PERFORM setval(pg_get_serial_sequence({quote_literal(t.sql)}, {quote_literal(target)}), last_value, "
            "called);\nEND\n")
    return f"DO {dollar_quote(body)}"


def _sequence_guard(w: Widening, column: str) -> str:
    """A DO block refusing (an exception) once the key's sequence - an identity's or a serial's, of
    ``column`` as it is named then - has handed out an id beyond the narrow type."""
    t = w.table
    top = MAX_VALUE[w.narrow]
    body = ("\nDECLARE\n  seq text;\n  last_value bigint;\nBEGIN\n"
            f"  seq := pg_get_serial_sequence({quote_literal(t.sql)}, {quote_literal(column)});\n"
            "  IF seq IS NOT NULL THEN\n"
            "    EXECUTE format('SELECT last_value FROM %s', seq) INTO last_value;\n"
            f"    IF last_value > {top} THEN\n"
            f"      RAISE EXCEPTION 'migspec: %: the sequence has handed out ids up to %, beyond {w.old_type}: "
            "no way back to the narrow key', " + quote_literal(f"{t}.{w.column}") + ", last_value;\n"
            "    END IF;\n  END IF;\nEND\n")
    return f"DO {dollar_quote(body)}"


def _default_move(w: Widening, source: str, target: str, *, back: bool) -> list[str]:
    """The key's default from column ``source`` to ``target`` (both named as they are then)."""
    t = w.table
    if w.identity:
        return [_identity_move(w, source, target, guard=back)]
    if w.sequence is None:
        return []
    seq = w.sequence.sql
    return ([_sequence_guard(w, source)] if back else []) + [
        f"ALTER TABLE {t.sql} ALTER COLUMN {q(source)} DROP DEFAULT",
        f"ALTER SEQUENCE {seq} AS {w.old_type if back else 'bigint'}",
        f"ALTER SEQUENCE {seq} OWNED BY {t.sql}.{q(target)}",
        f"ALTER TABLE {t.sql} ALTER COLUMN {q(target)} SET DEFAULT {w.default}",
    ]


def widen(ctx: PlanContext, w: Widening) -> Steps:
    from migspec.plan.recipes import not_valid_then_validate
    from migspec.plan.rewrites.index import copy_indexes, drop_dependent_indexes, indexes_on
    from migspec.plan.rewrites.not_null import not_null_steps, set_not_null_online
    from migspec.plan.steps import backfill_step, built, ddl, with_down

    t, c = w.table, w.column
    rows = _rows(ctx, t)
    members: list[tuple[QualifiedName, str, str, bool, int]] = [(t, c, w.narrow, True, rows)]
    for r in w.references:
        members.append((r.table, r.column, _type_name(r.old_type), r.not_null, _rows(ctx, r.table)))
    steps: Steps = []
    # EXPAND: the new columns and the triggers filling them.
    for rel, col, narrow, _, _ in members:
        (fn, trg, drop), _ = _triggers(rel, col, narrow)
        steps.append((E, ddl(ctx, f"add column {new_name(col)} bigint beside {rel}.{col} (catalog only)",
                             [f"ALTER TABLE {rel.sql} ADD COLUMN {q(new_name(col))} bigint"],
                             [f"ALTER TABLE {rel.sql} DROP COLUMN IF EXISTS {q(new_name(col))}"], rel)))
        steps.append((E, ddl(ctx, f"install a trigger filling {new_name(col)} from {col} on every write",
                             [fn, trg], _split(drop), rel)))
    # MIGRATE: backfills, NOT NULL, the unique index, the referencing columns' indexes and keys.
    copied: dict[tuple[QualifiedName, str], list[tuple[str, str]]] = {}
    for rel, col, narrow, not_null, n in members:
        pk = ctx.schema.table(rel).primary_key
        nc = q(new_name(col))
        steps.append((M, backfill_step(ctx, f"copy {rel}.{col} into {new_name(col)} in keyset batches",
                                        Backfill(rel, pk, ((new_name(col), q(col)),), f"{nc} IS DISTINCT FROM {q(col)}"),
                                        n, down_note="nothing to undo separately: the EXPAND rollback drops the column")))
        if not_null:
            steps += not_null_steps(ctx, rel, new_name(col), n)
        if rel == t and col == c:
            idx = t.sibling(w.unique_index)
            est = ctx.calibration.duration("index_build_concurrent", n, ctx.size(t))
            steps.append((M, ddl(ctx, f"build unique index {idx.name} on {t}.{new_name(c)} CONCURRENTLY (the new "
                                      "primary key's index)",
                                 [f"CREATE UNIQUE INDEX CONCURRENTLY {q(idx.name)} ON {t.sql} ({nc})"],
                                 [f"DROP INDEX CONCURRENTLY IF EXISTS {idx.sql}"], t, estimate=est,
                                 transactional=False)))
        else:
            copied[(rel, col)] = [(name, _copy_name(name, col)) for name in indexes_on(ctx, rel, col)]
            steps += copy_indexes(ctx, rel, col, new_name(col), n, M)
    for r in w.references:
        steps += built(ctx, not_valid_then_validate(r.table, r.new_constraint,
                                                    _retarget_fk(r.node, new_name(r.column), new_name(c)), add_phase=M),
                       _rows(ctx, r.table))
    # CONTRACT: the swap, in one transaction for the whole table set.
    swap, back = _swap(w, members)
    unswap = [
        ddl(ctx, f"check the sequence of {t}.{c} still fits {w.old_type} (else there is no way back)",
            [_sequence_guard(w, c)], [], None),
        ddl(ctx, f"build unique index {w.old_key_index} on {t}.{old_name(c)} CONCURRENTLY (the old key's index)",
            [f"CREATE UNIQUE INDEX CONCURRENTLY {q(w.old_key_index)} ON {t.sql} ({q(old_name(c))})"], [], t,
            estimate=ctx.calibration.duration("index_build_concurrent", rows, ctx.size(t)), transactional=False),
        ddl(ctx, f"build unique index {w.unique_index} on {t}.{c} CONCURRENTLY (the new key's index, as before "
                 "the swap)",
            [f"CREATE UNIQUE INDEX CONCURRENTLY {q(w.unique_index)} ON {t.sql} ({q(c)})"], [], t,
            estimate=ctx.calibration.duration("index_build_concurrent", rows, ctx.size(t)), transactional=False),
    ]
    for rel, col, _, not_null, n in members:
        if not_null:
            unswap += set_not_null_online(ctx, rel, old_name(col), n)
    unswap.append(ddl(ctx, f"swap back: {t}.{c} and the columns referencing it are the narrow ones again", back, [],
                      t))
    for r in w.references:
        for name in (r.name, r.new_constraint):
            unswap.append(ddl(ctx, f"validate {name} (SHARE UPDATE EXCLUSIVE: reads and writes continue)",
                              [f"ALTER TABLE {r.table.sql} VALIDATE CONSTRAINT {q(name)}"], [], r.table,
                              estimate=ctx.calibration.duration("validate_fk", _rows(ctx, r.table),
                                                                ctx.size(r.table))))
    tables = ", ".join(str(m[0]) for m in dict.fromkeys(members))
    steps.append((C, with_down(ddl(ctx, f"swap {t}.{c} for the bigint column, with every column referencing it "
                                        f"({tables}), in one transaction (catalog only; the old columns are kept, "
                                        "filled by reverse triggers)", swap, [], t,
                                   down_note="the DOWN refuses once ids beyond the narrow type were handed out; "
                                             "else it rebuilds the old key's index CONCURRENTLY and swaps back"),
                               unswap)))
    # The old columns' indexes go (the DOWN rebuilds them on the old column), the copies take their names.
    for r in w.references:
        n = _rows(ctx, r.table)
        steps += drop_dependent_indexes(ctx, r.table, r.column, n, named_now=old_name(r.column))
        for orig, made in copied.get((r.table, r.column), []):
            steps.append((C, ddl(ctx, f"rename index {made} to {orig} (the name it had on the old column)",
                                 [f"ALTER INDEX {r.table.sibling(made).sql} RENAME TO {q(orig)}"],
                                 [f"ALTER INDEX {r.table.sibling(orig).sql} RENAME TO {q(made)}"],
                                 r.table.sibling(made))))  # locks the index alone (ops.index.RenameIndex)
    drop_up: list[str] = []
    readd: list[str] = []
    refill: list[Step] = []
    # The referencing tables first, as the swap takes them: an application INSERT locks its table,
    # then its foreign key's check the key's table - the other order deadlocked with a writer.
    for rel, col, narrow, _, n in reversed(members):
        _, (rfn, rtrg, rdrop) = _triggers(rel, col, narrow)
        drop_up += [*_split(rdrop), f"ALTER TABLE {rel.sql} DROP COLUMN IF EXISTS {q(old_name(col))}"]
        readd += [f"ALTER TABLE {rel.sql} ADD COLUMN IF NOT EXISTS {q(old_name(col))} {NARROW[narrow]}", rfn, rtrg]
        expr = _in_range(q(col), narrow)
        refill.append(backfill_step(ctx, f"refill {rel}.{old_name(col)} from {col} in keyset batches",
                                     Backfill(rel, ctx.schema.table(rel).primary_key, ((old_name(col), expr),),
                                              f"{q(old_name(col))} IS DISTINCT FROM {expr}"), n))
    steps.append((C, with_down(ddl(ctx, f"drop the old narrow columns ({', '.join(old_name(m[1]) for m in members)}) "
                                        "and their reverse triggers (nothing is lost: they mirrored the new ones)",
                                   drop_up, [], t,
                                   down_note="the DOWN re-adds them with the reverse triggers and refills them in "
                                             "batches"),
                               [ddl(ctx, "re-add the old narrow columns with their reverse triggers", readd, [], t), *refill])))
    _learn(ctx, w)
    return steps


def _copy_name(name: str, column: str) -> str:
    """The name copy_indexes gives the copy of index ``name`` on ``column``'s new column."""
    new = new_name(column)
    return identifier(name.replace(column, new) if column in name else f"{name}_{new}")


def _swap(w: Widening, members: list[tuple[QualifiedName, str, str, bool, int]]) -> tuple[list[str], list[str]]:
    """(the swap, the swap back): the statements of one transaction each."""
    t, c = w.table, w.column
    # The foreign keys depend on the primary key's index: they go first, and come back last.
    up = [f"ALTER TABLE {r.table.sql} DROP CONSTRAINT {q(r.name)}" for r in w.references]
    back = [f"ALTER TABLE {r.table.sql} DROP CONSTRAINT {q(r.final_name)}" for r in w.references]
    up.append(f"ALTER TABLE {t.sql} DROP CONSTRAINT {q(w.pk_name)}")
    back.append(f"ALTER TABLE {t.sql} DROP CONSTRAINT {q(w.pk_name)}")
    for rel, col, narrow, _, _ in members:
        (fn, trg, drop), (rfn, rtrg, rdrop) = _triggers(rel, col, narrow)
        o, n, old = q(col), q(new_name(col)), q(old_name(col))
        up += [*_split(drop), f"ALTER TABLE {rel.sql} RENAME COLUMN {o} TO {old}",
               f"ALTER TABLE {rel.sql} RENAME COLUMN {n} TO {o}"]
        back += [*_split(rdrop), f"ALTER TABLE {rel.sql} RENAME COLUMN {o} TO {n}",
                 f"ALTER TABLE {rel.sql} RENAME COLUMN {old} TO {o}"]
        if rel == t and col == c:
            # After the renames: an identity's new sequence gets the usual name (<table>_<col>_seq).
            up += [f"ALTER TABLE {t.sql} ADD CONSTRAINT {q(w.pk_name)} PRIMARY KEY USING INDEX {q(w.unique_index)}",
                   *_default_move(w, old_name(c), c, back=False)]
            back += [f"ALTER TABLE {t.sql} ADD CONSTRAINT {q(w.pk_name)} PRIMARY KEY USING INDEX "
                     f"{q(w.old_key_index)}", *_default_move(w, new_name(c), c, back=True)]
        # Nothing but the reverse trigger writes the old column now, and it writes NULL where a value
        # no longer fits: no NOT NULL (the swap back sets it online first).
        up += [f"ALTER TABLE {rel.sql} ALTER COLUMN {old} DROP NOT NULL", rfn, rtrg]
        back += [fn, trg]
    for r in w.references:
        up.append(f"ALTER TABLE {r.table.sql} RENAME CONSTRAINT {q(r.new_constraint)} TO {q(r.final_name)}")
        back += [f"ALTER TABLE {r.table.sql} ADD CONSTRAINT {q(r.name)} {_definition(r.node)} NOT VALID",
                 f"ALTER TABLE {r.table.sql} ADD CONSTRAINT {q(r.new_constraint)} "
                 f"{_retarget_fk(r.node, new_name(r.column), new_name(c))} NOT VALID"]
    return up, back


def _learn(ctx: PlanContext, w: Widening) -> None:
    """What the migration leaves, for the steps after it: the key and its references are bigint."""
    for table_name, column in [(w.table, w.column), *((r.table, r.column) for r in w.references)]:
        col = ctx.schema.table(table_name).columns.get(column)
        if col is not None:
            col.type, col.parsed = "bigint", None

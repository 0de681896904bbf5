"""Operations on tables and columns (CREATE/DROP/RENAME TABLE, TRUNCATE, ADD/DROP/RENAME/ALTER COLUMN).

Lock modes: PostgreSQL docs "ALTER TABLE" (each sub-form names its lock), "13.3.1 Table-Level Locks";
every claim here is checked by tests/test_trace.py on a real server.
"""

from __future__ import annotations

from typing import ClassVar

from migspec.frozen import frozen
from migspec.locks import LockMode
from migspec.names import QualifiedName, quote_ident
from migspec.ops.base import Effect, Known, Operation, RelationLock, Reverse, Work
from migspec.ops.expressions import Expression, expression_volatility, svals, tree_of, unwrap, volatility_name
from migspec.ops.types import ColumnType, type_change
from migspec.schema import Schema
from migspec.schema.model import Column
from migspec.versions import GATES, supports

AEL = LockMode.ACCESS_EXCLUSIVE


@frozen(kw_only=True)
class CreateTable(Operation):
    """CREATE TABLE (and CREATE TABLE AS): a table the migration creates."""

    columns: tuple[tuple[str, ColumnType, bool], ...] = ()  # (name, type, not null)
    references: tuple[QualifiedName, ...] = ()
    if_not_exists: bool = False
    kind: ClassVar[str] = "create_table"

    def reverse(self, known: Known) -> Reverse:
        assert self.table
        return Reverse((f"DROP TABLE IF EXISTS {self.table.sql}",))

    def effect(self, schema: Schema, version: int) -> Effect:
        # A foreign key to an existing table takes SHARE ROW EXCLUSIVE on it (CREATE TABLE docs).
        return Effect(tuple(RelationLock(ref, LockMode.SHARE_ROW_EXCLUSIVE, "referenced table")
                            for ref in self.references))

    def apply(self, schema: Schema) -> None:
        assert self.table
        state = schema.tables.get(self.table)
        if state is not None and state.measured and not state.created_here:
            # A measured table exists in production with the measured rows: this CREATE TABLE (an
            # earlier file of a directory, already applied there) does not make it empty. What
            # the stats say wins, and the output says so (issue 12: a directory judged as if
            # production were empty).
            schema.notes.append(f"{self.stmt.location}: {self.table} is measured in the stats, so it is judged as "
                                "the existing table with those rows, not as the empty table this statement creates")
            return
        if self.if_not_exists and state is not None and not state.created_here:
            # The table is known to exist already (met earlier): IF NOT EXISTS makes this a no-op,
            # and the table keeps its rows and traffic.
            return
        schema.dropped.discard(self.table)
        state = schema.table(self.table)
        state.created_here = True
        for name, ctype, not_null in self.columns:
            state.columns[name] = Column(name, str(ctype), not_null, parsed=ctype)

    @property
    def tables(self) -> tuple[QualifiedName, ...]:
        return self.references


@frozen(kw_only=True)
class DropTable(Operation):
    """DROP TABLE (and DROP MATERIALIZED VIEW)."""

    cascade: bool = False
    kind: ClassVar[str] = "drop_table"
    lock = AEL
    breaking = True
    destructive = True

    def apply(self, schema: Schema) -> None:
        assert self.table
        schema.tables.pop(self.table, None)
        schema.dropped.add(self.table)


@frozen(kw_only=True)
class RenameTable(Operation):
    """ALTER TABLE ... RENAME TO."""

    new_name: str = ""
    kind: ClassVar[str] = "rename_table"
    lock = AEL
    breaking = True

    def apply(self, schema: Schema) -> None:
        assert self.table
        state = schema.tables.pop(self.table, None)
        if state:
            state.name = self.table.sibling(self.new_name)
            schema.tables[state.name] = state


@frozen(kw_only=True)
class Truncate(Operation):
    """TRUNCATE, one per table."""

    cascade: bool = False
    kind: ClassVar[str] = "truncate"
    lock = AEL
    destructive = True
    breaking = True


@frozen(kw_only=True)
class AddColumn(Operation):
    """ALTER TABLE ... ADD COLUMN."""

    column: str = ""
    type: ColumnType | None = None
    default: Expression | None = None
    not_null: bool = False
    generated_stored: bool = False
    generated_virtual: bool = False
    identity: bool = False
    inline_check: bool = False
    inline_unique: bool = False  # UNIQUE or PRIMARY KEY written on the column
    references: QualifiedName | None = None
    kind: ClassVar[str] = "add_column"
    lock = AEL

    def default_volatility(self) -> tuple[str, tuple[str, ...]]:
        if self.default is None:
            return "i", ()
        # Once per operation, kept beside its fields (not one of them): effect() and two rules ask,
        # each a walk of the DEFAULT's tree (issue 16).
        found = self.__dict__.get("_default_volatility")
        if found is None:
            found = self.__dict__["_default_volatility"] = expression_volatility(self.default)
        return found  # type: ignore[no-any-return]

    def rewrite_reason(self, version: int) -> str | None:
        """Why the table is rewritten, or None when the change is catalog-only."""
        if self.type is not None and self.type.is_serial:
            return f"{self.type.name} fills a sequence value into every existing row (nextval is volatile)"
        if self.identity:
            return "an identity column fills a sequence value into every existing row"
        if self.generated_stored:
            return "a STORED generated column computes and stores a value for every existing row"
        if self.generated_virtual and not supports("virtual_generated", version):
            return "generated columns are STORED before PostgreSQL 18: every existing row is rewritten"
        if self.default is None:
            return None
        level, culprits = self.default_volatility()
        if level == "v":
            return (f"the DEFAULT is volatile ({', '.join(culprits)}): it is evaluated for every existing row")
        if not supports("fast_default", version):
            return f"before PostgreSQL {GATES['fast_default'].since} every DEFAULT rewrites the table"
        return None

    def effect(self, schema: Schema, version: int) -> Effect:
        assert self.table
        locks = [RelationLock(self.table, AEL)]
        if self.references:
            locks.append(RelationLock(self.references, LockMode.SHARE_ROW_EXCLUSIVE, "referenced table"))
        reason = self.rewrite_reason(version)
        if reason:
            return Effect(tuple(locks), Work.REWRITE, (reason,))
        if self.inline_unique:
            return Effect(tuple(locks), Work.INDEX_BUILD, ("UNIQUE/PRIMARY KEY builds its index under the lock",))
        # A new column's REFERENCES is validated only when the column has a DEFAULT (even DEFAULT
        # NULL): without one every row is NULL and PostgreSQL marks the key valid unchecked
        # (parse_utilcmd.c transformFKConstraints). Observed on PG15: no seq scan of either table
        # without a DEFAULT, one of each with it (tests/rules/adding-foreign-key-without-not-valid.yml).
        if self.inline_check or (self.references and self.default is not None):
            return Effect(tuple(locks), Work.SCAN, ("the new column's constraint is checked against every row",))
        note = ()
        if self.default is not None:
            level, _ = self.default_volatility()
            note = (f"the DEFAULT is {volatility_name(level)}: {GATES['fast_default'].fact}",)
        return Effect(tuple(locks), Work.NONE, note)

    @property
    def tables(self) -> tuple[QualifiedName, ...]:
        # REFERENCES locks the referenced table against writes too (SHARE ROW EXCLUSIVE, PG15 pg_locks).
        return tuple(t for t in (self.table, self.references) if t)

    def apply(self, schema: Schema) -> None:
        assert self.table
        state = schema.table(self.table)
        column = state.column(self.column)
        if self.type:
            column.type, column.parsed = str(self.type), self.type
        if self.not_null:
            column.not_null = True


@frozen(kw_only=True)
class DropColumn(Operation):
    """ALTER TABLE ... DROP COLUMN."""

    column: str = ""
    kind: ClassVar[str] = "drop_column"
    lock = AEL
    breaking = True
    destructive = True

    def apply(self, schema: Schema) -> None:
        assert self.table
        schema.table(self.table).columns.pop(self.column, None)


@frozen(kw_only=True)
class RenameColumn(Operation):
    """ALTER TABLE ... RENAME COLUMN."""

    column: str = ""
    new_name: str = ""
    kind: ClassVar[str] = "rename_column"
    lock = AEL
    breaking = True

    def apply(self, schema: Schema) -> None:
        assert self.table
        state = schema.table(self.table)
        if self.column in state.columns:
            state.columns[self.new_name] = state.columns.pop(self.column)
            state.columns[self.new_name].name = self.new_name


def _effective_using(using: Expression | None, column: str, new: ColumnType) -> Expression | None:
    """A USING that is the column itself, or the column cast to the new type, is the conversion
    PostgreSQL does without one (Django writes ``USING "col"::newtype`` for every type change):
    ATPrepAlterColumnType plans the USING expression and asks ATColumnChangeRequiresRewrite about
    it either way, so it rewrites exactly when the plain form would (traced on a real server:
    tests/rules/changing-column-type.yml)."""
    kind, expr = unwrap(tree_of(using))
    if kind == "TypeCast":
        try:
            cast = ColumnType.from_tree(expr["typeName"])
        except (KeyError, IndexError, TypeError):
            return using
        if cast.stored != new.stored:
            return using
        kind, expr = unwrap(expr.get("arg"))
    fields = expr.get("fields") or []
    if kind == "ColumnRef" and len(fields) == 1 and svals(fields) == [column] and unwrap(fields[0])[0] == "String":
        return None
    return using


@frozen(kw_only=True)
class AlterColumnType(Operation):
    """ALTER TABLE ... ALTER COLUMN ... TYPE [USING]."""

    column: str = ""
    type: ColumnType | None = None
    using: Expression | None = None
    collate: str | None = None  # COLLATE written with the new type
    kind: ClassVar[str] = "alter_column_type"
    lock = AEL
    breaking = True

    def rewrite(self, schema: Schema, version: int) -> tuple[bool, str]:
        assert self.table and self.type
        known = schema.tables[self.table].columns.get(self.column) if self.table in schema.tables else None
        old = known.column_type if known else None
        return type_change(old, self.type, using=_effective_using(self.using, self.column, self.type),
                           version=version, timezone=schema.timezone)

    def rebuilt_indexes(self, schema: Schema) -> list[tuple[str, str]]:
        """(index, why) for the existing indexes a catalog-only type change still rebuilds.

        ALTER TABLE re-creates every index on the column and keeps the old one only when
        CheckIndexCompatible (src/backend/commands/indexcmds.c) says so: never for an index with
        expressions or a WHERE, and not when the operator class or collation changes. Seen on a
        real server (tests/rules/changing-column-type.yml traces): varchar -> text rebuilds an
        expression index on lower(slug::text); a COLLATE change rebuilds a unique index; a
        varchar widening keeps a plain index."""
        state = schema.tables.get(self.table) if self.table else None
        out = []
        for name, shape in (state.indexes.items() if state else ()):
            if self.column not in shape.reads or shape.created_here:
                continue
            if not shape.plain:
                out.append((name, "an index with an expression or a WHERE is never reused"))
            elif self.collate is not None:
                out.append((name, f"COLLATE {self.collate} changes the index's collation"))
        return out

    def effect(self, schema: Schema, version: int) -> Effect:
        assert self.table
        rewrites, why = self.rewrite(schema, version)
        if rewrites:
            return Effect((RelationLock(self.table, AEL),), Work.REWRITE, (why,))
        rebuilt = self.rebuilt_indexes(schema)
        if rebuilt:
            return Effect((RelationLock(self.table, AEL),), Work.INDEX_BUILD,
                          (why, "yet it rebuilds " + "; ".join(f"index {n} ({reason})" for n, reason in rebuilt)
                           + " under ACCESS EXCLUSIVE"),
                          rebuilds=tuple(self.table.sibling(n) for n, _ in rebuilt))
        return Effect((RelationLock(self.table, AEL),), Work.NONE, (why,))

    def apply(self, schema: Schema) -> None:
        assert self.table and self.type
        column = schema.table(self.table).column(self.column)
        column.type, column.parsed = str(self.type), self.type


@frozen(kw_only=True)
class SetNotNull(Operation):
    """ALTER TABLE ... ALTER COLUMN ... SET NOT NULL."""

    column: str = ""
    kind: ClassVar[str] = "set_not_null"
    lock = AEL

    def effect(self, schema: Schema, version: int) -> Effect:
        assert self.table
        locks = (RelationLock(self.table, AEL),)
        state = schema.tables.get(self.table)
        if state and self.column in state.columns and state.columns[self.column].not_null:
            return Effect(locks, Work.NONE, ("the column is already NOT NULL",))
        if state and state.has_validated_not_null_check(self.column) and supports("not_null_from_check", version):
            return Effect(locks, Work.NONE, (GATES["not_null_from_check"].fact,))
        return Effect(locks, Work.SCAN, ("every row is read to prove no NULL exists, under ACCESS EXCLUSIVE",))

    def apply(self, schema: Schema) -> None:
        assert self.table
        schema.table(self.table).column(self.column).not_null = True


@frozen(kw_only=True)
class DropNotNull(Operation):
    """ALTER TABLE ... ALTER COLUMN ... DROP NOT NULL."""

    column: str = ""
    kind: ClassVar[str] = "drop_not_null"
    lock = AEL

    def apply(self, schema: Schema) -> None:
        assert self.table
        column = schema.table(self.table).columns.get(self.column)
        if column is not None:
            column.not_null = False

    def reverse(self, known: Known) -> Reverse:
        assert self.table
        return Reverse((f"ALTER TABLE {self.table.sql} ALTER COLUMN {quote_ident(self.column)} SET NOT NULL",),
                       "the DOWN scans the table (and fails if NULLs arrived meanwhile)")


@frozen(kw_only=True)
class SetDefault(Operation):
    """ALTER TABLE ... ALTER COLUMN ... SET DEFAULT / DROP DEFAULT."""

    column: str = ""
    default: Expression | None = None  # None: DROP DEFAULT
    kind: ClassVar[str] = "set_default"
    lock = AEL  # catalog only: existing rows keep their values

    def reverse(self, known: Known) -> Reverse:
        assert self.table
        old = known.column_default(self.table, self.column)
        back = f"SET DEFAULT {old}" if old else "DROP DEFAULT"
        return Reverse((f"ALTER TABLE {self.table.sql} ALTER COLUMN {quote_ident(self.column)} {back}",))


@frozen(kw_only=True)
class AlterTableOther(Operation):
    """An ALTER TABLE form migspec does not model in detail: assumed ACCESS EXCLUSIVE (the
    strongest any form takes), catalog only - except the forms that copy the table."""

    subcommand: str = ""
    kind: ClassVar[str] = "alter_table_other"
    lock = AEL

    #: Forms that write a new copy of the table under ACCESS EXCLUSIVE. Seen on PG15: SET UNLOGGED
    #: gets a new relfilenode and seq-scans the table and each index; SET TABLESPACE gets a new
    #: relfilenode (a block copy). SET LOGGED of an already logged table is a no-op, which migspec
    #: cannot tell from the statement, so it assumes the copy.
    COPIES: ClassVar[dict[str, str]] = {
        "SetLogged": "SET LOGGED copies the table (and its indexes) into WAL-logged files",
        "SetUnLogged": "SET UNLOGGED copies the table (and its indexes) into new files",
        "SetTableSpace": "SET TABLESPACE copies every file of the table to the new tablespace",
    }

    #: Forms that take less than ACCESS EXCLUSIVE, as pg_locks shows on PG15 (and the ALTER TABLE
    #: docs state). SET (storage parameter) is left at ACCESS EXCLUSIVE: its lock depends on the option.
    LOCKS: ClassVar[dict[str, LockMode]] = {
        "SetStatistics": LockMode.SHARE_UPDATE_EXCLUSIVE,
        "ClusterOn": LockMode.SHARE_UPDATE_EXCLUSIVE,
        "DropCluster": LockMode.SHARE_UPDATE_EXCLUSIVE,
        **{form: LockMode.SHARE_ROW_EXCLUSIVE for form in (
            "EnableTrig", "EnableAlwaysTrig", "EnableReplicaTrig", "DisableTrig", "EnableTrigAll",
            "DisableTrigAll", "EnableTrigUser", "DisableTrigUser")},
    }

    def effect(self, schema: Schema, version: int) -> Effect:
        assert self.table
        if self.subcommand in self.COPIES:
            return Effect((RelationLock(self.table, AEL),), Work.REWRITE, (self.COPIES[self.subcommand],))
        return Effect((RelationLock(self.table, self.LOCKS.get(self.subcommand, AEL)),))

    def describe(self) -> str:
        return f"ALTER TABLE {self.subcommand} on {self.table}"

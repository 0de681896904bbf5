"""ADD / VALIDATE / DROP / RENAME CONSTRAINT.

Locks: ALTER TABLE docs - ADD CONSTRAINT takes ACCESS EXCLUSIVE, except FOREIGN KEY which takes
SHARE ROW EXCLUSIVE on both tables; VALIDATE CONSTRAINT takes SHARE UPDATE EXCLUSIVE (plus ROW
SHARE on the referenced table of a foreign key). NOT VALID skips the scan of existing rows.
RENAME CONSTRAINT takes ACCESS EXCLUSIVE, catalog only (pg_locks on 13 and 18:
tests/rules/lock-wait-without-timeout.yml trace).
"""

from __future__ import annotations

from typing import ClassVar

from migspec.frozen import frozen
from migspec.locks import LockMode
from migspec.names import QualifiedName, quote_ident
from migspec.ops.base import Effect, Known, Operation, RelationLock, Reverse, Work
from migspec.schema import Schema
from migspec.schema.model import CHECK, EXCLUDE, FOREIGN, NOT_NULL, PRIMARY, UNIQUE, Constraint
from migspec.versions import GATES, supports

AEL = LockMode.ACCESS_EXCLUSIVE
CONSTRAINT_KINDS = ("check", "foreign_key", "unique", "primary_key", "exclude", "not_null")


@frozen(kw_only=True)
class AddConstraint(Operation):
    name: str | None = None
    constraint: str = "check"  # one of CONSTRAINT_KINDS
    not_valid: bool = False
    using_index: str | None = None
    columns: tuple[str, ...] = ()
    not_null_column: str | None = None  # CHECK (col IS NOT NULL), or the column of a NOT NULL constraint
    references: QualifiedName | None = None
    kind: ClassVar[str] = "add_constraint"

    @property
    def lock_mode(self) -> LockMode:
        return LockMode.SHARE_ROW_EXCLUSIVE if self.constraint == "foreign_key" else AEL

    def effect(self, schema: Schema, version: int) -> Effect:
        assert self.table
        locks = [RelationLock(self.table, self.lock_mode)]
        if self.references:
            locks.append(RelationLock(self.references, LockMode.SHARE_ROW_EXCLUSIVE, "referenced table"))
        if self.constraint in ("unique", "primary_key", "exclude"):
            if self.using_index:
                if self.constraint == "primary_key":
                    return Effect(tuple(locks), Work.NONE, (
                        "the index exists already; PRIMARY KEY still needs its columns NOT NULL (a scan if not)",))
                return Effect(tuple(locks), Work.NONE, ("the index exists already: catalog only",))
            return Effect(tuple(locks), Work.INDEX_BUILD,
                          (f"{self.constraint.replace('_', ' ').upper()} builds its index while holding the lock",))
        if self.not_valid:
            return Effect(tuple(locks), Work.NONE, ("NOT VALID: existing rows are not checked",))
        if self.constraint == "not_null" and not supports("not_null_not_valid", version):
            return Effect(tuple(locks), Work.SCAN, (
                f"the named NOT NULL constraint syntax needs PostgreSQL {GATES['not_null_not_valid'].since}",))
        return Effect(tuple(locks), Work.SCAN, ("every existing row is checked while the lock is held",))

    def apply(self, schema: Schema) -> None:
        assert self.table
        state = schema.table(self.table)
        kind = {"check": CHECK, "foreign_key": FOREIGN, "unique": UNIQUE, "primary_key": PRIMARY,
                "exclude": EXCLUDE, "not_null": NOT_NULL}[self.constraint]
        if self.not_null_column and self.constraint == "check":
            name = self.name or f"{self.table.name}_{self.not_null_column}_check"
            state.constraints[name] = Constraint(name, CHECK, columns=(self.not_null_column,),
                                                 validated=not self.not_valid, not_null_column=self.not_null_column)
        elif self.constraint == "not_null" and self.not_null_column:
            if not self.not_valid:
                state.column(self.not_null_column).not_null = True
            elif self.name:  # NOT NULL ... NOT VALID (PostgreSQL 18): validated later, like a CHECK
                state.constraints[self.name] = Constraint(self.name, NOT_NULL, columns=(self.not_null_column,),
                                                          validated=False, not_null_column=self.not_null_column)
        elif self.name:
            state.constraints[self.name] = Constraint(self.name, kind, columns=self.columns,
                                                      validated=not self.not_valid, references=self.references)
        if self.constraint == "primary_key":
            for column in self.columns:
                state.column(column).not_null = True

    @property
    def tables(self) -> tuple[QualifiedName, ...]:
        # The referenced table is locked too (SHARE ROW EXCLUSIVE, seen in pg_locks on PG15: its
        # writes wait), so its traffic matters as much as CreateTable's references do.
        return tuple(t for t in (self.table, self.references) if t)

    def describe(self) -> str:
        label = self.constraint.replace("_", " ").upper()
        return f"add {label} constraint {self.name or ''} on {self.table}".replace("  ", " ")


@frozen(kw_only=True)
class ValidateConstraint(Operation):
    name: str = ""
    kind: ClassVar[str] = "validate_constraint"
    lock = LockMode.SHARE_UPDATE_EXCLUSIVE

    def reverse(self, known: Known) -> Reverse:
        return Reverse((), "nothing to undo: validation only reads")

    def effect(self, schema: Schema, version: int) -> Effect:
        assert self.table
        return Effect((RelationLock(self.table, self.lock),), Work.SCAN,
                      ("VALIDATE reads every row but lets reads and writes continue",))

    def apply(self, schema: Schema) -> None:
        assert self.table
        state = schema.table(self.table)
        if self.name in state.constraints:
            state.constraints[self.name].validated = True


@frozen(kw_only=True)
class DropConstraint(Operation):
    name: str = ""
    kind: ClassVar[str] = "drop_constraint"
    lock = AEL
    breaking = True  # an invariant the application may rely on goes away

    def reverse(self, known: Known) -> Reverse:
        assert self.table
        definition = known.constraint_definition(self.table, self.name)
        return Reverse((f"ALTER TABLE {self.table.sql} ADD CONSTRAINT {quote_ident(self.name)} {definition}",))

    def apply(self, schema: Schema) -> None:
        assert self.table
        schema.table(self.table).constraints.pop(self.name, None)


@frozen(kw_only=True)
class RenameConstraint(Operation):
    """ALTER TABLE t RENAME CONSTRAINT name TO new_name. A key's index is renamed with it
    (RenameConstraintById renames the index of a PRIMARY KEY, UNIQUE or EXCLUDE constraint)."""

    name: str = ""
    new_name: str = ""
    kind: ClassVar[str] = "rename_constraint"
    lock = AEL

    def apply(self, schema: Schema) -> None:
        assert self.table
        table = schema.table(self.table)
        con = table.constraints.pop(self.name, None)
        if con is None:
            return
        con.name = self.new_name
        table.constraints[self.new_name] = con
        if con.kind in (PRIMARY, UNIQUE, EXCLUDE) and self.name in table.indexes:
            idx = table.indexes.pop(self.name)
            idx.name = self.new_name
            table.indexes[self.new_name] = idx

    def reverse(self, known: Known) -> Reverse:
        assert self.table
        return Reverse((f"ALTER TABLE {self.table.sql} RENAME CONSTRAINT {quote_ident(self.new_name)} TO "
                        f"{quote_ident(self.name)}",))

    def describe(self) -> str:
        return f"rename constraint {quote_ident(self.name)} on {self.table} to {quote_ident(self.new_name)}"

"""Data changes: UPDATE, DELETE, INSERT ... SELECT.

They take ROW EXCLUSIVE (which blocks no reader or writer of other rows) but hold a row lock on
every row they touch until commit, write WAL for every row and leave dead tuples behind
(postgres-locks.md row 25).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from migspec.locks import LockMode
from migspec.ops.base import Effect, Operation, RelationLock, Work
from migspec.schema import SchemaState


@dataclass(frozen=True, kw_only=True)
class DataChange(Operation):
    has_where: bool = False
    columns: tuple[str, ...] = ()  # UPDATE: the columns set
    lock = LockMode.ROW_EXCLUSIVE
    verb: ClassVar[str] = "UPDATE"

    def effect(self, schema: SchemaState, version: int) -> Effect:
        assert self.table
        note = ("the WHERE clause's selectivity is unknown: migspec assumes it may match every row"
                if self.has_where else "no WHERE clause: every row is touched")
        return Effect((RelationLock(self.table, self.lock),), Work.ROWS, (
            f"{self.verb} row-locks every row it touches until commit; {note}",))

    def describe(self) -> str:
        return f"{self.verb} {'some' if self.has_where else 'all'} rows of {self.table}"


@dataclass(frozen=True, kw_only=True)
class Update(DataChange):
    kind: ClassVar[str] = "update"
    verb: ClassVar[str] = "UPDATE"


@dataclass(frozen=True, kw_only=True)
class Delete(DataChange):
    kind: ClassVar[str] = "delete"
    verb: ClassVar[str] = "DELETE"


@dataclass(frozen=True, kw_only=True)
class Insert(DataChange):
    from_select: bool = False
    kind: ClassVar[str] = "insert"
    verb: ClassVar[str] = "INSERT"

    def effect(self, schema: SchemaState, version: int) -> Effect:
        assert self.table
        return Effect((RelationLock(self.table, self.lock),), Work.NONE,
                      ("INSERT adds rows; it blocks no reader or writer of existing rows",))

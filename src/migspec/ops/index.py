"""CREATE INDEX, DROP INDEX, REINDEX.

Locks: CREATE INDEX docs - plain build takes SHARE (blocks writes, not reads); CONCURRENTLY takes
SHARE UPDATE EXCLUSIVE and cannot run in a transaction block. DROP INDEX takes ACCESS EXCLUSIVE
on the index's table; CONCURRENTLY avoids it. REINDEX docs - SHARE on the table, ACCESS EXCLUSIVE
on the index; CONCURRENTLY (PG12+) SHARE UPDATE EXCLUSIVE.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from migspec.locks import LockMode
from migspec.names import default_index_name, QualifiedName
from migspec.ops.base import Effect, Known, Operation, RelationLock, Reverse, Work
from migspec.schema import Schema
from migspec.schema.model import Index


@dataclass(frozen=True, kw_only=True)
class CreateIndex(Operation):
    name: str | None = None
    concurrent: bool = False
    unique: bool = False
    if_not_exists: bool = False
    columns: tuple[str, ...] = ()
    kind: ClassVar[str] = "create_index"

    @property
    def no_transaction(self) -> bool:  # type: ignore[override]
        return self.concurrent

    def effect(self, schema: Schema, version: int) -> Effect:
        assert self.table
        mode = LockMode.SHARE_UPDATE_EXCLUSIVE if self.concurrent else LockMode.SHARE
        why = ("CONCURRENTLY builds without blocking writes (two scans, waits for older transactions)"
               if self.concurrent else "a plain build blocks every write until the index is complete")
        return Effect((RelationLock(self.table, mode),), Work.INDEX_BUILD, (why,))

    def apply(self, schema: Schema) -> None:
        if self.name and self.table:
            keys = self.columns if self.columns else ("",)  # no plain columns: an expression index
            schema.table(self.table).indexes[self.name] = Index(
                self.name, self.stmt.sql if self.stmt else "", unique=self.unique,
                keys=keys, reads=frozenset(self.columns), created_here=True)

    def reverse(self, known: Known) -> Reverse:
        assert self.table
        name = self.name or default_index_name(self.table, self.columns, self.unique)
        return Reverse((f"DROP INDEX IF EXISTS {self.table.sibling(name).sql}",))


@dataclass(frozen=True, kw_only=True)
class DropIndex(Operation):
    index: QualifiedName = QualifiedName("public", "")
    concurrent: bool = False
    kind: ClassVar[str] = "drop_index"

    @property
    def no_transaction(self) -> bool:  # type: ignore[override]
        return self.concurrent

    def effect(self, schema: Schema, version: int) -> Effect:
        mode = LockMode.SHARE_UPDATE_EXCLUSIVE if self.concurrent else LockMode.ACCESS_EXCLUSIVE
        locks = [RelationLock(self.index, LockMode.ACCESS_EXCLUSIVE, "index")]
        if self.table:
            locks.insert(0, RelationLock(self.table, mode))
        return Effect(tuple(locks), Work.NONE)

    def describe(self) -> str:
        return f"drop index {self.index}" + (f" on {self.table}" if self.table else "")


@dataclass(frozen=True, kw_only=True)
class Reindex(Operation):
    target: str = "index"  # index | table
    relation: QualifiedName = QualifiedName("public", "")
    concurrent: bool = False
    kind: ClassVar[str] = "reindex"

    @property
    def no_transaction(self) -> bool:  # type: ignore[override]
        return self.concurrent

    def effect(self, schema: Schema, version: int) -> Effect:
        if self.concurrent:
            locks = [RelationLock(self.table, LockMode.SHARE_UPDATE_EXCLUSIVE)] if self.table else []
            return Effect(tuple(locks), Work.INDEX_BUILD, ("CONCURRENTLY rebuilds beside the old index",))
        locks = []
        if self.table:
            locks.append(RelationLock(self.table, LockMode.SHARE))
        if self.target == "index":
            locks.append(RelationLock(self.relation, LockMode.ACCESS_EXCLUSIVE, "index"))
        return Effect(tuple(locks), Work.INDEX_BUILD,
                      ("blocks writes to the table, and reads that use the index, for the whole rebuild",))

"""CREATE INDEX, DROP INDEX, ALTER INDEX RENAME, REINDEX.

Locks: CREATE INDEX docs - plain build takes SHARE (blocks writes, not reads); CONCURRENTLY takes
SHARE UPDATE EXCLUSIVE and cannot run in a transaction block. DROP INDEX takes ACCESS EXCLUSIVE
on the index's table; CONCURRENTLY avoids it. ALTER INDEX RENAME takes SHARE UPDATE EXCLUSIVE on the
index alone, nothing on its table (gate rename_index_sue, 12+; 11: ACCESS EXCLUSIVE). REINDEX docs - SHARE on the table, ACCESS EXCLUSIVE
on the index; CONCURRENTLY (PG12+) SHARE UPDATE EXCLUSIVE.
"""

from __future__ import annotations

from typing import ClassVar

from migspec.frozen import frozen
from migspec.locks import LockMode
from migspec.names import default_index_name, QualifiedName, quote_ident
from migspec.ops.base import Effect, Known, Operation, RelationLock, Reverse, Work
from migspec.schema import Schema
from migspec.schema.model import Index
from migspec.versions import GATES, supports


@frozen(kw_only=True)
class CreateIndex(Operation):
    """CREATE [UNIQUE] INDEX [CONCURRENTLY] [IF NOT EXISTS]."""

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


@frozen(kw_only=True)
class DropIndex(Operation):
    """DROP INDEX [CONCURRENTLY], one per index."""

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


@frozen(kw_only=True)
class RenameIndex(Operation):
    """ALTER INDEX [IF EXISTS] index RENAME TO new_name. ``table`` is None: the statement names only
    the index (its table is in the catalog), and its table is not locked at all. Renaming the index
    of a key renames the key's constraint with it (RenameRelationInternal)."""

    index: QualifiedName = QualifiedName("public", "")
    new_name: str = ""
    kind: ClassVar[str] = "rename_index"

    def effect(self, schema: Schema, version: int) -> Effect:
        if supports("rename_index_sue", version):
            return Effect((RelationLock(self.index, LockMode.SHARE_UPDATE_EXCLUSIVE, "index"),), Work.NONE,
                          ("catalog only: reads and writes of the table go on",))
        return Effect((RelationLock(self.index, LockMode.ACCESS_EXCLUSIVE, "index"),), Work.NONE,
                      (f"before PostgreSQL {GATES['rename_index_sue'].since} it takes ACCESS EXCLUSIVE on the "
                       "index: every query planning on the table waits",))

    def apply(self, schema: Schema) -> None:
        owner = schema.index_table(self.index)
        if owner is None:
            return
        table = schema.tables[owner]
        idx = table.indexes.pop(self.index.name)
        idx.name = self.new_name
        table.indexes[self.new_name] = idx
        con = table.constraints.pop(self.index.name, None)
        if con is not None:
            con.name = self.new_name
            table.constraints[self.new_name] = con

    def reverse(self, known: Known) -> Reverse:
        return Reverse((f"ALTER INDEX {self.index.sibling(self.new_name).sql} RENAME TO {quote_ident(self.index.name)}",))

    def describe(self) -> str:
        return f"rename index {self.index} to {quote_ident(self.new_name)}"


@frozen(kw_only=True)
class Reindex(Operation):
    """REINDEX [CONCURRENTLY] of an index or a table."""

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

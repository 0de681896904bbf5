"""Everything else that touches a live relation: enums, domains, VACUUM FULL/CLUSTER, partitions,
triggers, explicit LOCK TABLE, DO blocks and statements migspec cannot analyse."""

from __future__ import annotations

from typing import ClassVar

from migspec.frozen import frozen
from migspec.locks import LockMode
from migspec.names import QualifiedName, quote_ident
from migspec.ops.base import NOTHING_TO_UNDO, Effect, Known, Operation, RelationLock, Reverse, Work
from migspec.schema import Schema
from migspec.versions import GATES, supports

AEL = LockMode.ACCESS_EXCLUSIVE


@frozen(kw_only=True)
class AddEnumValue(Operation):
    type_name: QualifiedName = QualifiedName("public", "")
    value: str = ""
    neighbor: str | None = None
    kind: ClassVar[str] = "add_enum_value"

    def effect(self, schema: Schema, version: int) -> Effect:
        note = (() if supports("enum_add_in_transaction", version) else
                (f"before PostgreSQL {GATES['enum_add_in_transaction'].since} it cannot run in a transaction block",))
        return Effect((), Work.NONE, ("locks the type, not any table",) + note)

    def describe(self) -> str:
        return f"add value {self.value!r} to enum {self.type_name}"

    def reverse(self, known: Known) -> Reverse:
        return Reverse((), "not reversible: PostgreSQL cannot remove a value from an enum (harmless to keep)", False)


@frozen(kw_only=True)
class AddDomainConstraint(Operation):
    domain: QualifiedName = QualifiedName("public", "")
    not_valid: bool = False
    kind: ClassVar[str] = "add_domain_constraint"

    def effect(self, schema: Schema, version: int) -> Effect:
        if self.not_valid:
            return Effect((), Work.NONE, ("NOT VALID: existing values are not checked",))
        return Effect((), Work.UNKNOWN, (
            "every column of every table using the domain is re-checked under a SHARE lock on that table",))

    def describe(self) -> str:
        return f"add constraint to domain {self.domain}"


@frozen(kw_only=True)
class RewriteTable(Operation):
    """VACUUM FULL or CLUSTER: a full rewrite under ACCESS EXCLUSIVE."""

    command: str = "VACUUM FULL"
    kind: ClassVar[str] = "rewrite_table"
    lock = AEL

    @property
    def no_transaction(self) -> bool:  # type: ignore[override]
        # PG15 server: "VACUUM cannot run inside a transaction block" (CLUSTER of one table can).
        return self.command.startswith("VACUUM")

    def effect(self, schema: Schema, version: int) -> Effect:
        assert self.table
        return Effect((RelationLock(self.table, AEL),), Work.REWRITE,
                      (f"{self.command} copies the whole table while holding ACCESS EXCLUSIVE",))

    def describe(self) -> str:
        return f"{self.command} {self.table}"


@frozen(kw_only=True)
class Maintenance(Operation):
    """Plain VACUUM / ANALYZE: SHARE UPDATE EXCLUSIVE, never blocks reads or writes."""

    command: str = "VACUUM"
    kind: ClassVar[str] = "maintenance"

    def reverse(self, known: Known) -> Reverse:
        return NOTHING_TO_UNDO
    lock = LockMode.SHARE_UPDATE_EXCLUSIVE

    @property
    def no_transaction(self) -> bool:  # type: ignore[override]
        # PG15 server: "VACUUM cannot run inside a transaction block"; ANALYZE alone can.
        return self.command.startswith("VACUUM")

    def describe(self) -> str:
        return f"{self.command} {self.table}"


@frozen(kw_only=True)
class AttachPartition(Operation):
    partition: QualifiedName = QualifiedName("public", "")
    kind: ClassVar[str] = "attach_partition"

    def effect(self, schema: Schema, version: int) -> Effect:
        assert self.table
        parent = LockMode.SHARE_UPDATE_EXCLUSIVE if supports("attach_partition_sue", version) else AEL
        return Effect((RelationLock(self.table, parent, "parent"), RelationLock(self.partition, AEL, "partition")),
                      Work.SCAN, ("the partition is scanned to prove its rows fit the bound, unless a matching "
                                  "validated CHECK constraint exists",))

    @property
    def tables(self) -> tuple[QualifiedName, ...]:
        return tuple(t for t in (self.table, self.partition) if t)


@frozen(kw_only=True)
class DetachPartition(Operation):
    partition: QualifiedName = QualifiedName("public", "")
    concurrent: bool = False
    kind: ClassVar[str] = "detach_partition"

    @property
    def no_transaction(self) -> bool:  # type: ignore[override]
        return self.concurrent

    def effect(self, schema: Schema, version: int) -> Effect:
        assert self.table
        parent = LockMode.SHARE_UPDATE_EXCLUSIVE if self.concurrent else AEL
        # CONCURRENTLY (14+) takes ACCESS EXCLUSIVE on the partition in its last transaction.
        part = AEL if self.concurrent or supports("detach_partition_ael", version) else LockMode.SHARE_UPDATE_EXCLUSIVE
        return Effect((RelationLock(self.table, parent, "parent"), RelationLock(self.partition, part, "partition")))

    @property
    def tables(self) -> tuple[QualifiedName, ...]:
        return tuple(t for t in (self.table, self.partition) if t)


@frozen(kw_only=True)
class CreateTrigger(Operation):
    name: str = ""
    kind: ClassVar[str] = "create_trigger"
    lock = LockMode.SHARE_ROW_EXCLUSIVE  # CREATE TRIGGER docs

    def reverse(self, known: Known) -> Reverse:
        assert self.table
        return Reverse((f"DROP TRIGGER IF EXISTS {quote_ident(self.name)} ON {self.table.sql}",))


@frozen(kw_only=True)
class DropTrigger(Operation):
    name: str = ""
    kind: ClassVar[str] = "drop_trigger"
    lock = AEL


@frozen(kw_only=True)
class DropView(Operation):
    """DROP VIEW: ACCESS EXCLUSIVE on the view (queries reading it wait), no table data touched."""

    alone: bool = True  # the statement drops this view only (its DOWN re-creates just it)
    kind: ClassVar[str] = "drop_view"
    lock = AEL
    breaking = True  # code reading the view fails once it is gone

    def reverse(self, known: Known) -> Reverse:
        assert self.table
        create = known.recreate("VIEW", self.table) if self.alone else None
        return Reverse((create,)) if create else super().reverse(known)

    @property
    def tables(self) -> tuple[QualifiedName, ...]:
        """A view has no rows of its own to measure: nothing to refuse for."""
        return ()


@frozen(kw_only=True)
class LockTable(Operation):
    mode: LockMode = AEL
    kind: ClassVar[str] = "lock_table"

    def reverse(self, known: Known) -> Reverse:
        return NOTHING_TO_UNDO

    def effect(self, schema: Schema, version: int) -> Effect:
        assert self.table
        return Effect((RelationLock(self.table, self.mode),))


@frozen(kw_only=True)
class DropSchema(Operation):
    schema_name: str = ""
    cascade: bool = False
    alone: bool = True  # the statement drops this schema only
    kind: ClassVar[str] = "drop_schema"
    breaking = True
    destructive = True

    def reverse(self, known: Known) -> Reverse:
        return Reverse((f"CREATE SCHEMA {quote_ident(self.schema_name)}",)) if self.alone else super().reverse(known)

    def effect(self, schema: Schema, version: int) -> Effect:
        return Effect((), Work.UNKNOWN, ("every object in the schema is dropped under ACCESS EXCLUSIVE",))

    def describe(self) -> str:
        return f"drop schema {self.schema_name}"


@frozen(kw_only=True)
class UnknownWork(Operation):
    """A DO block or a statement whose effect migspec cannot see: assumed to do anything."""

    label: str = "DO block"
    kind: ClassVar[str] = "unknown"

    def effect(self, schema: Schema, version: int) -> Effect:
        return Effect((), Work.UNKNOWN, (f"migspec cannot see inside a {self.label}: it may lock and rewrite anything",))

    def describe(self) -> str:
        return self.label

    def reverse(self, known: Known) -> Reverse:
        if self.creates is None:
            return super().reverse(known)
        return Reverse((f"DROP {self.creates[0]} IF EXISTS {self.creates[1]}",))


@frozen(kw_only=True)
class Harmless(Operation):
    """A statement that creates new objects or reads only (CREATE FUNCTION/VIEW/SEQUENCE/TYPE,
    COMMENT, GRANT, SELECT ...): no lock that blocks the application's reads or writes."""

    label: str = ""
    #: The object the statement creates, as (SQL keyword, its name as SQL), e.g. ("VIEW",
    #: "public.v"): its DOWN drops it. None: the statement creates nothing migspec can name.
    creates: tuple[str, str] | None = None
    #: The object the statement drops alone, as (SQL keyword, name): "SEQUENCE" or "TYPE" (an enum);
    #: its DOWN is the CREATE the schema facts hold.
    drops: tuple[str, QualifiedName] | None = None
    kind: ClassVar[str] = "other"

    def describe(self) -> str:
        return self.label

    def reverse(self, known: Known) -> Reverse:
        if self.drops is not None:
            create = known.recreate(*self.drops)
            return Reverse((create,)) if create else super().reverse(known)
        if self.creates is None:
            return super().reverse(known)
        return Reverse((f"DROP {self.creates[0]} IF EXISTS {self.creates[1]}",))

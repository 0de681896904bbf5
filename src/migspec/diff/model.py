"""The differ's view of a schema. Field names follow the one schema model (``migspec.schema``);
the extras are what only a diff needs: sequence parameters, what each view reads column by
column, partitions' inherited columns, and the objects the differ does not change (``others``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from migspec.names import QualifiedName


@dataclass
class Column:
    name: str
    type: str | None = None
    not_null: bool = False
    default: str | None = None
    collation: str | None = None
    identity: str | None = None  # "always" | "by default"
    generated: str | None = None
    inherited: bool = False  # a partition's column that comes from its parent


@dataclass
class Constraint:
    name: str
    kind: str  # pg_constraint.contype: p u c f x
    definition: str = ""
    validated: bool = True


@dataclass
class Index:
    name: str
    definition: str
    unique: bool = False
    valid: bool = True


@dataclass
class Table:
    name: QualifiedName
    columns: dict[str, Column] = field(default_factory=dict)
    constraints: dict[str, Constraint] = field(default_factory=dict)
    indexes: dict[str, Index] = field(default_factory=dict)
    partition_key: str | None = None
    partition_of: QualifiedName | None = None
    partition_bound: str | None = None


@dataclass
class Sequence:
    name: QualifiedName
    type: str = "bigint"
    owned_by: tuple[QualifiedName, str] | None = None
    start: int = 1
    increment: int = 1
    minimum: int = 1
    maximum: int = 2**63 - 1
    cache: int = 1
    cycle: bool = False


@dataclass
class EnumType:
    name: QualifiedName
    labels: tuple[str, ...] = ()


@dataclass
class View:
    name: QualifiedName
    definition: str | None = None
    materialized: bool = False
    options: tuple[str, ...] = ()
    tables: frozenset[QualifiedName] = frozenset()
    #: (relation, column) it reads; column None: the relation as a whole (a view it selects from).
    reads: frozenset[tuple[QualifiedName, str | None]] = frozenset()


@dataclass
class DiffSchema:
    schemas: set[str] = field(default_factory=set)
    tables: dict[QualifiedName, Table] = field(default_factory=dict)
    sequences: dict[QualifiedName, Sequence] = field(default_factory=dict)
    enums: dict[QualifiedName, EnumType] = field(default_factory=dict)
    views: dict[QualifiedName, View] = field(default_factory=dict)
    #: (kind, name) -> definition of objects the differ does not change: any difference is unsupported.
    others: dict[tuple[str, str], str] = field(default_factory=dict)

"""The schema model's dataclasses. See the package docstring (``migspec.schema``) for how to fill
and read it."""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass, field, fields
from typing import Any

from migspec.names import QualifiedName
from migspec.ops.types import ColumnType

#: Constraint kinds, as pg_constraint.contype spells them.
PRIMARY, UNIQUE, CHECK, FOREIGN, EXCLUDE, NOT_NULL = "p", "u", "c", "f", "x", "n"


@dataclass
class Column:
    name: str
    type: str | None = None  # SQL text (format_type or as written); None: not known
    not_null: bool = False
    default: str | None = None  # expression text
    collation: str | None = None  # COLLATE given explicitly, None: the type's default
    identity: str | None = None  # "always" | "by default"
    generated: str | None = None  # expression of GENERATED ALWAYS AS (...) STORED
    #: The parsed type, when an operation set it (keeps what the text loses: a serial as written).
    parsed: ColumnType | None = field(default=None, compare=False, repr=False)

    @property
    def column_type(self) -> ColumnType | None:
        """The type parsed (None when unknown or unparsable): what lint's type-change judgement reads."""
        if self.parsed is None and self.type:
            try:
                self.parsed = ColumnType.parse(self.type)
            except ValueError:
                return None
        return self.parsed


@dataclass
class Constraint:
    name: str
    kind: str  # PRIMARY, UNIQUE, CHECK, FOREIGN, EXCLUDE, NOT_NULL
    definition: str = ""  # as pg_get_constraintdef writes it: "CHECK ((qty > 0))", "FOREIGN KEY ..."
    columns: tuple[str, ...] = ()  # the key (PK/UNIQUE/FK) or the column of a NOT NULL check
    validated: bool = True  # False: added NOT VALID and not validated since
    #: CHECK (col IS NOT NULL): PostgreSQL 12+ SET NOT NULL uses a validated one instead of a scan.
    not_null_column: str | None = None
    references: QualifiedName | None = None  # FOREIGN KEY's referenced table


@dataclass
class Index:
    name: str
    definition: str  # CREATE [UNIQUE] INDEX ... statement (pg_get_indexdef or as written)
    unique: bool = False
    method: str = "btree"
    keys: tuple[str, ...] = ()  # each key column; "" for an expression key
    predicate: str | None = None  # the WHERE of a partial index
    reads: frozenset[str] = frozenset()  # every column the keys or the predicate read
    valid: bool = True  # False: a failed CONCURRENTLY build left it INVALID
    created_here: bool = field(default=False, compare=False)  # walk overlay: built by this migration

    @property
    def plain(self) -> bool:
        """Only columns, no expression, no WHERE: the only indexes ALTER COLUMN TYPE can keep."""
        return self.predicate is None and all(self.keys)


@dataclass
class Trigger:
    name: str
    definition: str  # CREATE TRIGGER statement


@dataclass
class Sequence:
    name: QualifiedName
    type: str = "bigint"
    owned_by: tuple[QualifiedName, str] | None = None  # (table, column)


@dataclass
class EnumType:
    name: QualifiedName
    labels: tuple[str, ...] = ()  # in sort order


@dataclass
class View:
    name: QualifiedName
    definition: str | None = None
    tables: frozenset[QualifiedName] = frozenset()  # relations it reads
    #: Columns it names; None: it selects * (or the reader could not tell), so it may read any.
    columns: frozenset[str] | None = frozenset()
    materialized: bool = False


@dataclass
class Table:
    name: QualifiedName
    columns: dict[str, Column] = field(default_factory=dict)  # in attnum order
    constraints: dict[str, Constraint] = field(default_factory=dict)
    indexes: dict[str, Index] = field(default_factory=dict)
    triggers: dict[str, Trigger] = field(default_factory=dict)
    partition_key: str | None = None  # PARTITION BY ... of a partitioned table
    partition_of: QualifiedName | None = None  # the parent of a partition
    partition_bound: str | None = None  # FOR VALUES ... of a partition
    # Walk overlay (not part of the schema's identity, left out of the fingerprint):
    created_here: bool = field(default=False, compare=False)  # created earlier in this migration: empty
    measured: bool = field(default=False, compare=False)  # the stats measure it: it has those rows

    def column(self, name: str) -> Column:
        if name not in self.columns:
            self.columns[name] = Column(name)
        return self.columns[name]

    @property
    def primary_key(self) -> tuple[str, ...]:
        return next((c.columns for c in self.constraints.values() if c.kind == PRIMARY), ())

    @property
    def unique_keys(self) -> set[frozenset[str]]:
        """Column sets no two rows share (primary key, unique constraints and plain unique
        indexes without a WHERE): an equality on all of one matches at most one row."""
        keys = {frozenset(c.columns) for c in self.constraints.values() if c.kind in (PRIMARY, UNIQUE) and c.columns}
        keys |= {frozenset(i.keys) for i in self.indexes.values() if i.unique and i.plain and i.keys}
        return keys

    @property
    def not_null_columns(self) -> set[str]:
        return {c.name for c in self.columns.values() if c.not_null}

    def has_validated_not_null_check(self, column: str) -> bool:
        return any(c.not_null_column == column and c.validated for c in self.constraints.values())


@dataclass
class Schema:
    tables: dict[QualifiedName, Table] = field(default_factory=dict)
    sequences: dict[QualifiedName, Sequence] = field(default_factory=dict)
    enums: dict[QualifiedName, EnumType] = field(default_factory=dict)
    views: dict[QualifiedName, View] = field(default_factory=dict)
    # Walk overlay (what the migration did so far; left out of the fingerprint):
    dropped: set[QualifiedName] = field(default_factory=set, compare=False)
    notes: list[str] = field(default_factory=list, compare=False)  # what the walk decided the user should know
    #: The session TimeZone the migration set (SET [LOCAL] timezone / TIME ZONE) before the current
    #: statement, None when it set none: timestamp <-> timestamptz depends on it.
    timezone: str | None = field(default=None, compare=False)

    def table(self, name: QualifiedName) -> Table:
        if name not in self.tables:
            self.tables[name] = Table(name)
        return self.tables[name]

    def known(self, name: QualifiedName | None) -> Table | None:
        return self.tables.get(name) if name is not None else None

    def is_new(self, name: QualifiedName | None) -> bool:
        return name is not None and name in self.tables and self.tables[name].created_here

    def index_table(self, index: QualifiedName | None) -> QualifiedName | None:
        """The table an index (schema-qualified like its table) belongs to, None when unknown."""
        if index is None:
            return None
        for name, table in self.tables.items():
            if name.schema == index.schema and index.name in table.indexes:
                return name
        return None

    def index(self, index: QualifiedName) -> Index | None:
        table = self.index_table(index)
        return self.tables[table].indexes[index.name] if table else None

    def views_reading(self, table: QualifiedName, column: str) -> list[QualifiedName]:
        """Views that may read ``table.column``: they bind the column itself, so a swap or rename
        leaves them reading the old one, and a drop fails (SQLSTATE 2BP01)."""
        return sorted(v.name for v in self.views.values()
                      if table in v.tables and (v.columns is None or column in v.columns))

    def copy(self) -> Schema:
        return copy.deepcopy(self)

    def canonical(self, tables: set[QualifiedName] | None = None) -> dict[str, Any]:
        """The schema as plain sorted data, walk overlay left out (``tables``: only those tables
        and the views, sequences reading or owned by them)."""
        keep = (lambda n: True) if tables is None else (lambda n: n in tables)
        return {
            "tables": {str(n): _plain(t) for n, t in sorted(self.tables.items()) if keep(n)},
            "sequences": {str(n): _plain(s) for n, s in sorted(self.sequences.items())
                          if tables is None or (s.owned_by is not None and keep(s.owned_by[0]))},
            "enums": {str(n): _plain(e) for n, e in sorted(self.enums.items()) if tables is None},
            "views": {str(n): _plain(v) for n, v in sorted(self.views.items())
                      if tables is None or any(keep(t) for t in v.tables)},
        }

    def fingerprint(self, tables: set[QualifiedName] | None = None) -> str:
        """A stable hash of the schema (sha256 of its canonical JSON): equal schemas, equal hashes,
        whatever order they were filled in."""
        text = json.dumps(self.canonical(tables), sort_keys=True, separators=(",", ":"))
        return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def _plain(obj: Any) -> Any:
    """Dataclasses to sorted plain data, fields marked compare=False (the walk overlay) left out."""
    if isinstance(obj, QualifiedName):
        return str(obj)
    if hasattr(obj, "__dataclass_fields__"):
        # Columns keep their order (attnum: a dump and the catalog list them so); the rest sorts.
        return {f.name: [_plain(c) for c in getattr(obj, f.name).values()]
                if f.name == "columns" and isinstance(getattr(obj, f.name), dict)
                else _plain(getattr(obj, f.name)) for f in fields(obj) if f.compare}
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in sorted(obj.items(), key=lambda kv: str(kv[0]))}
    if isinstance(obj, (set, frozenset)):
        return sorted(_plain(v) for v in obj)
    if isinstance(obj, (tuple, list)):
        return [_plain(v) for v in obj]
    return obj

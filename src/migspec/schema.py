"""What the migration knows about the schema as it goes: tables it created (empty, so no
measurements needed), column types, validated NOT NULL checks. Seeded from schema facts in the
stats file (``columns``), updated by each operation's ``apply``."""

from __future__ import annotations

from dataclasses import dataclass, field

from migspec.names import QualifiedName
from migspec.ops.types import ColumnType


@dataclass(frozen=True)
class IndexShape:
    """What an ALTER COLUMN ... TYPE needs to know about an existing index: the columns it reads
    and whether it is plain (only columns, no expression, no WHERE)."""

    columns: frozenset[str]
    plain: bool


@dataclass
class TableState:
    name: QualifiedName
    created_here: bool = False  # created earlier in this migration: empty, no traffic yet
    measured: bool = False  # the stats measure it: it exists in production with those rows
    columns: dict[str, ColumnType] = field(default_factory=dict)
    not_null_checks: dict[str, tuple[str, bool]] = field(default_factory=dict)  # name -> (column, validated)
    not_null_columns: set[str] = field(default_factory=set)
    #: Column sets no two rows share (primary key, unique constraints and plain unique indexes):
    #: an equality on all of one matches at most one row.
    unique_keys: set[frozenset[str]] = field(default_factory=set)
    indexes: dict[str, IndexShape] = field(default_factory=dict)  # existing indexes, by name

    def has_validated_not_null_check(self, column: str) -> bool:
        return any(col == column and valid for col, valid in self.not_null_checks.values())


@dataclass
class SchemaState:
    tables: dict[QualifiedName, TableState] = field(default_factory=dict)
    dropped: set[QualifiedName] = field(default_factory=set)
    indexes: dict[QualifiedName, QualifiedName] = field(default_factory=dict)  # index -> its table
    notes: list[str] = field(default_factory=list)  # what the walk decided that the user should know
    #: The session TimeZone the migration set (SET [LOCAL] timezone / TIME ZONE) before the current
    #: statement, None when it set none: timestamp <-> timestamptz depends on it.
    timezone: str | None = None

    def table(self, name: QualifiedName) -> TableState:
        if name not in self.tables:
            self.tables[name] = TableState(name)
        return self.tables[name]

    def is_new(self, name: QualifiedName | None) -> bool:
        return name is not None and name in self.tables and self.tables[name].created_here

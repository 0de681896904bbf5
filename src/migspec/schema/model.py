"""The schema model's dataclasses. See the package docstring (``migspec.schema``) for how to fill
and read it."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

from migspec.frozen import field, record
from migspec.names import QualifiedName
from migspec.ops.types import ColumnType

#: Constraint kinds, as pg_constraint.contype spells them.
PRIMARY, UNIQUE, CHECK, FOREIGN, EXCLUDE, NOT_NULL = "p", "u", "c", "f", "x", "n"
#: Each integer type's largest value: a sequence's default MAXVALUE (CREATE SEQUENCE docs).
_TYPE_MAX = {"int2": 2**15 - 1, "int4": 2**31 - 1, "int8": 2**63 - 1}


@record
class Column:
    """A table's column."""

    name: str
    type: str | None = None  # SQL text (format_type or as written); None: not known
    not_null: bool = False
    default: str | None = None  # expression text
    collation: str | None = None  # COLLATE given explicitly, None: the type's default
    identity: str | None = None  # "always" | "by default"
    generated: str | None = None  # expression of GENERATED ALWAYS AS (...) STORED
    inherited: bool = False  # a partition's column that comes from its parent (attislocal false)
    #: The name of its validated NOT NULL constraint (PostgreSQL 18+ names them; pg_dump writes a
    #: name other than ``<table>_<column>_not_null``); None: not known (older majors, text sources).
    not_null_name: str | None = field(default=None, compare=False)
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


@record
class Constraint:
    """A table's constraint."""

    name: str
    kind: str  # PRIMARY, UNIQUE, CHECK, FOREIGN, EXCLUDE, NOT_NULL
    definition: str = ""  # as pg_get_constraintdef writes it: "CHECK ((qty > 0))", "FOREIGN KEY ..."
    columns: tuple[str, ...] = ()  # the key (PK/UNIQUE/FK) or the column of a NOT NULL check
    validated: bool = True  # False: added NOT VALID and not validated since
    #: CHECK (col IS NOT NULL): PostgreSQL 12+ SET NOT NULL uses a validated one instead of a scan.
    not_null_column: str | None = None
    references: QualifiedName | None = None  # FOREIGN KEY's referenced table
    inherited: bool = False  # a partition's copy of its parent's constraint (conislocal false)


@record
class Index:
    """An index of a table."""

    name: str
    definition: str  # CREATE [UNIQUE] INDEX ... statement (pg_get_indexdef or as written)
    unique: bool = False
    method: str = "btree"
    keys: tuple[str, ...] = ()  # each key column; "" for an expression key
    predicate: str | None = None  # the WHERE of a partial index
    reads: frozenset[str] = frozenset()  # every column the keys or the predicate read
    valid: bool = True  # False: a failed CONCURRENTLY build left it INVALID
    attached: bool = False  # a partition's index attached to its parent's partitioned index
    created_here: bool = field(default=False, compare=False)  # walk overlay: built by this migration

    @property
    def plain(self) -> bool:
        """Only columns, no expression, no WHERE: the only indexes ALTER COLUMN TYPE can keep."""
        return self.predicate is None and all(self.keys)

    @property
    def shape(self) -> str:
        """The definition without its name and table: a partition's copy has its parent's shape."""
        return re.sub(r"^CREATE (UNIQUE )?INDEX \S+ ON (ONLY )?\S+ ", r"\1", self.definition)


@record
class Trigger:
    """A trigger on a table."""

    name: str
    definition: str  # CREATE TRIGGER statement


@record
class Sequence:
    """A sequence, and the column that owns it."""

    name: QualifiedName
    type: str = "bigint"
    owned_by: tuple[QualifiedName, str] | None = None  # (table, column)
    # Parameters; None: the default for the type and direction (what pg_dump leaves out).
    start: int | None = None
    increment: int | None = None
    minimum: int | None = None
    maximum: int | None = None
    cache: int | None = None
    cycle: bool = False

    def parameters(self) -> dict[str, Any]:
        """Every parameter with CREATE SEQUENCE's default for the type and direction filled in
        where the source left it out (a dump writes NO MINVALUE, the catalog spells it out)."""
        from migspec.schema import normal  # pglast's parser: on first use (issue 16)

        typ = normal.type_text(self.type)
        top = _TYPE_MAX.get(typ, 2**63 - 1)
        increment = self.increment if self.increment is not None else 1
        lo, hi = (1, top) if increment > 0 else (-top - 1, -1)
        minimum = lo if self.minimum is None else self.minimum
        maximum = hi if self.maximum is None else self.maximum
        start = (minimum if increment > 0 else maximum) if self.start is None else self.start
        return {"type": typ, "start": start, "increment": increment, "minimum": minimum, "maximum": maximum,
                "cache": self.cache if self.cache is not None else 1, "cycle": self.cycle}


@record
class EnumType:
    """An enum type and its labels."""

    name: QualifiedName
    labels: tuple[str, ...] = ()  # in sort order


@record
class View:
    """A view (or materialized view) and what it reads."""

    name: QualifiedName
    definition: str | None = None
    tables: frozenset[QualifiedName] = frozenset()  # relations it reads
    #: Columns it names; None: it selects * (or the reader could not tell), so it may read any.
    columns: frozenset[str] | None = frozenset()
    materialized: bool = False
    options: tuple[str, ...] = ()  # reloptions (security_barrier=true, ...)
    #: (relation, column) pairs the catalog says it depends on (pg_depend of its rewrite rule);
    #: column None: the relation as a whole. Empty when read from text (``columns`` guesses then).
    reads: frozenset[tuple[QualifiedName, str | None]] = frozenset()


@record
class Table:
    """A table: columns, constraints, indexes, triggers."""

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
    #: The source gave the whole definition (a CREATE TABLE, the stats' schema section, the
    #: catalog), not just a few column types: only such a table can be checked for drift.
    defined: bool = field(default=False, compare=False)

    def column(self, name: str) -> Column:
        found = self.columns.get(name)
        if found is None:
            found = self.columns[name] = Column(name)
        return found

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


@record
class Schema:
    """The schema as the migration knows it so far: tables, sequences, enums, views."""

    tables: dict[QualifiedName, Table] = field(default_factory=dict)
    sequences: dict[QualifiedName, Sequence] = field(default_factory=dict)
    enums: dict[QualifiedName, EnumType] = field(default_factory=dict)
    views: dict[QualifiedName, View] = field(default_factory=dict)
    schemas: set[str] = field(default_factory=set)  # namespaces the catalog loader found
    #: (kind, name) -> definition of objects the model does not describe (functions, policies,
    #: domains, extensions, comments ...): the catalog loader lists them so a differ can refuse them.
    others: dict[tuple[str, str], str] = field(default_factory=dict)
    # Walk overlay (what the migration did so far; left out of the fingerprint):
    dropped: set[QualifiedName] = field(default_factory=set, compare=False)
    notes: list[str] = field(default_factory=list, compare=False)  # what the walk decided the user should know
    #: The session TimeZone the migration set (SET [LOCAL] timezone / TIME ZONE) before the current
    #: statement, None when it set none: timestamp <-> timestamptz depends on it.
    timezone: str | None = field(default=None, compare=False)

    def table(self, name: QualifiedName) -> Table:
        found = self.tables.get(name)  # one lookup, not two: a QualifiedName hashes in Python
        if found is None:
            found = self.tables[name] = Table(name)
        return found

    def known(self, name: QualifiedName | None) -> Table | None:
        return self.tables.get(name) if name is not None else None

    def is_new(self, name: QualifiedName | None) -> bool:
        table = self.tables.get(name)  # type: ignore[arg-type]  # None is no key: one lookup, not three
        return table is not None and table.created_here

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
        # A pickle round trip is the same deep copy (the model is plain dataclasses, tuples and
        # dicts) at about a third of copy.deepcopy's time; lint copies the schema per operation.
        import pickle  # here: a lint without --schema copies none (~3 ms of imports at start-up)

        return pickle.loads(pickle.dumps(self, pickle.HIGHEST_PROTOCOL))  # noqa: S301 - our own bytes

    def canonical(self, tables: set[QualifiedName] | None = None) -> dict[str, Any]:
        """The schema as plain sorted data in one spelling per meaning (``migspec.schema.normal``),
        the walk overlay left out: what the fingerprint hashes. ``tables``: only those tables, the
        sequences they own and the views reading them. Derived fields (an index's keys, a view's
        columns) are left out: their definition says it."""
        from migspec.schema import normal  # pglast's parser: on first use (issue 16)

        keep = (lambda n: True) if tables is None else (lambda n: n in tables)
        return {
            "tables": {str(n): _table(t) for n, t in sorted(self.tables.items()) if keep(n)},
            "sequences": {str(n): _sequence(s) for n, s in sorted(self.sequences.items())
                          if tables is None or (s.owned_by is not None and keep(s.owned_by[0]))},
            "enums": {str(n): list(e.labels) for n, e in sorted(self.enums.items()) if tables is None},
            "views": {str(n): {"definition": normal.query(v.definition) if v.definition else None,
                               "materialized": v.materialized, "options": sorted(v.options)}
                      for n, v in sorted(self.views.items()) if tables is None or any(keep(t) for t in v.tables)},
        }

    def fingerprint(self, tables: set[QualifiedName] | None = None) -> str:
        """A stable hash of the schema (sha256 of its canonical JSON): equal schemas, equal hashes,
        whatever order they were filled in."""
        import hashlib  # here, not at import: lint never hashes a schema (issue 16: start-up)

        text = json.dumps(self.canonical(tables), sort_keys=True, separators=(",", ":"))
        return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def _table(t: Table) -> dict[str, Any]:
    from migspec.schema import normal  # pglast's parser: on first use (issue 16)

    own = t.name.schema

    def text(value: str | None, how: Any) -> str | None:
        return normal.unqualified(how(value), own) if value else None

    return {
        "columns": [{"name": c.name, "type": normal.type_text(c.type) if c.type else None, "not_null": c.not_null,
                     "default": text(c.default, normal.expression),
                     "collation": c.collation.strip('"') if c.collation else None, "identity": c.identity,
                     "generated": text(c.generated, normal.expression)}
                    for c in t.columns.values()],
        # A validated NOT NULL constraint (PostgreSQL 18 lists them) is the column's not_null.
        "constraints": {name: {"kind": c.kind, "definition": text(c.definition, normal.constraint)
                               or " ".join(c.columns), "validated": c.validated}
                        for name, c in sorted(t.constraints.items()) if not (c.kind == NOT_NULL and c.validated)},
        # An index a constraint owns is the constraint's (a dump has only the constraint).
        "indexes": {name: {"definition": text(i.definition, lambda d: normal.statement(d, own)), "valid": i.valid}
                    for name, i in sorted(t.indexes.items()) if name not in t.constraints},
        "triggers": {name: text(tr.definition, lambda d: normal.statement(d, own))
                     for name, tr in sorted(t.triggers.items())},
        "partition_key": t.partition_key,
        "partition_of": str(t.partition_of) if t.partition_of else None,
        "partition_bound": normal.partition_bound(t.partition_bound) if t.partition_bound else None,
    }


def _sequence(s: Sequence) -> dict[str, Any]:
    return {**s.parameters(), "owned_by": f"{s.owned_by[0]}.{s.owned_by[1]}" if s.owned_by else None}

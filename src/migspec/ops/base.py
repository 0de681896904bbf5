"""What every operation states as data: the locks it takes, the work it does under them.

An operation is an immutable description of one change (one ALTER TABLE sub-command, one CREATE
INDEX, one UPDATE). ``effect()`` answers, for a target PostgreSQL version and what the migration
knows so far about the schema, which lock it takes on which relation and whether the table is
rewritten or scanned. Rules read effects; they never re-derive locks from SQL text.
"""

from __future__ import annotations

import enum
from functools import cached_property
from typing import TYPE_CHECKING, ClassVar, Protocol

from migspec.frozen import field, frozen
from migspec.locks import LockMode
from migspec.names import QualifiedName

if TYPE_CHECKING:
    from migspec.schema import Schema


class Work(enum.Enum):
    """What the server does to the table's data while the locks are held."""

    NONE = "catalog only"
    SCAN = "full-table scan"
    REWRITE = "table rewrite"
    INDEX_BUILD = "index build"
    ROWS = "row-by-row writes"
    UNKNOWN = "unknown work"

    @cached_property  # once per member, then an attribute (issue 16)
    def rewrites(self) -> bool:
        return self is Work.REWRITE

    @cached_property
    def scans(self) -> bool:
        """Reads every row: a scan, a rewrite, an index build, an unbounded UPDATE."""
        return self in (Work.SCAN, Work.REWRITE, Work.INDEX_BUILD, Work.ROWS)


@frozen
class RelationLock:
    """One lock an operation takes: its mode on one relation, and that relation's role."""

    relation: QualifiedName
    mode: LockMode
    role: str = "table"  # table | referenced table | partition | parent | index


@frozen
class Effect:
    """What an operation does at one version: the locks it takes and the work done under them."""

    locks: tuple[RelationLock, ...]
    work: Work = Work.NONE
    notes: tuple[str, ...] = ()  # the facts behind the claim, quoted from data (gates, catalogs)
    #: At most this many rows are touched (a WHERE on a primary key or unique key), when known;
    #: None: every row may be (migspec.ops.data.rows_bound).
    work_rows_max: int | None = None
    #: Existing indexes rebuilt without a table rewrite (a rewrite rebuilds every index anyway).
    rebuilds: tuple[QualifiedName, ...] = ()

    def touched_rows(self, table_rows: int) -> int:
        """Rows the work touches in a table of ``table_rows`` rows."""
        return table_rows if self.work_rows_max is None else min(table_rows, self.work_rows_max)

    def touched_bytes(self, table_rows: int, size_bytes: int | None) -> int | None:
        """The share of the table's bytes those rows hold: a row found by its key is read through
        the index, not by reading the whole table (cold or warm)."""
        if size_bytes is None or self.work_rows_max is None or not table_rows:
            return size_bytes
        return int(size_bytes * self.touched_rows(table_rows) / table_rows)

    @property
    def rewrites_table(self) -> bool:
        return self.work.rewrites

    @property
    def scans_table(self) -> bool:
        return self.work.scans

    @property
    def strongest(self) -> LockMode | None:
        locks = self.locks
        if len(locks) == 1:  # most operations lock one relation: no generator (issue 16)
            return locks[0].mode
        return max((lock.mode for lock in locks), default=None)

    def lock_on(self, relation: QualifiedName) -> LockMode | None:
        return max((lk.mode for lk in self.locks if lk.relation == relation), default=None)


@frozen
class Reverse:
    """How to undo an operation that runs as written: the DOWN statements, or a note saying why
    there are none (``reversible`` False: nothing can undo it)."""

    statements: tuple[str, ...] = ()
    note: str = ""
    reversible: bool = True


class Known(Protocol):
    """What ``reverse()`` may ask about the schema as it was before the operation (the planner's
    schema facts answer; a fact nobody gave is a refusal, exit 3, never a guess)."""

    def column_default(self, table: QualifiedName, column: str) -> str | None:
        """The DEFAULT expression of an existing column (None: it has none)."""
        ...

    def constraint_definition(self, table: QualifiedName, name: str) -> str:
        """The definition of an existing constraint, as pg_get_constraintdef() prints it."""
        ...

    def recreate(self, kind: str, name: QualifiedName) -> str | None:
        """The CREATE of an existing ``kind`` ("VIEW", "SEQUENCE", "TYPE": an enum) called ``name``;
        None when the schema facts do not hold it (the DOWN is then written by hand)."""
        ...


#: The reverse of an operation that changes nothing to undo.
NOTHING_TO_UNDO = Reverse((), "nothing to undo")


class Source(Protocol):
    """What an operation keeps of the statement it was read from. ``migspec.parse.source.Statement``
    is one; ops name only this shape so that they never import the parser (data flows
    text -> operations, never back)."""

    @property
    def sql(self) -> str: ...

    @property
    def location(self) -> object: ...  # file:line:col, printed in findings

    @property
    def index(self) -> int: ...  # position in the whole migration, from 0

    @property
    def node(self) -> object: ...  # pglast's node, built on first use (the planner re-prints from it)


@frozen(kw_only=True)
class Operation:
    """Base of all operations. ``kind`` is the stable name used in JSON and rule case files."""

    stmt: Source = field(compare=False, repr=False)
    table: QualifiedName | None = None

    kind: ClassVar[str] = "operation"
    #: The table lock this operation takes on ``table`` (PostgreSQL docs "13.3.1", ALTER TABLE notes).
    lock: ClassVar[LockMode | None] = None
    #: Running application code that uses the old shape breaks the moment this commits.
    breaking: ClassVar[bool] = False
    #: Data is gone: needs explicit confirmation before any plan may run it.
    destructive: ClassVar[bool] = False
    #: Only valid outside a transaction block (CONCURRENTLY forms).
    no_transaction: ClassVar[bool] = False

    def effect(self, schema: Schema, version: int) -> Effect:
        """Locks and work at ``version``; the default is ``lock`` on ``table`` with no data work."""
        if self.table is None or self.lock is None:
            return Effect(())
        return Effect((RelationLock(self.table, self.lock),))

    def apply(self, schema: Schema) -> None:
        """Record what this operation changes in the migration's running knowledge of the schema."""

    def reverse(self, known: Known) -> Reverse:
        """The DOWN of this operation run as written. By default none is known: a human writes it."""
        return Reverse((), "no DOWN known for this statement: write it by hand before approving", False)

    def describe(self) -> str:
        return f"{self.kind.replace('_', ' ')} on {self.table}" if self.table else self.kind.replace("_", " ")

    @property
    def tables(self) -> tuple[QualifiedName, ...]:
        """Every pre-existing relation whose size and traffic matter to this operation."""
        return (self.table,) if self.table else ()

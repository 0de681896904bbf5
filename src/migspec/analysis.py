"""Walk a migration statement by statement: operations, their effects, and the transaction and
settings context each runs in. Stateful facts carried across statements and files:
  - tables created earlier in the migration (empty: no measurements, no risk from size);
  - the schema model (migspec.schema), each operation applied to it: column types, validated
    CHECK (col IS NOT NULL) constraints (PG12+ SET NOT NULL skips its scan), unique keys;
  - locks taken earlier in the same transaction (held until COMMIT: postgres-locks.md row 9);
  - lock_timeout / statement_timeout in effect (SET is session-wide, SET LOCAL ends with the
    transaction);
  - runners that wrap each file in a transaction (Alembic, Django, Flyway): ``transaction_per_file``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from migspec.frozen import field, frozen, record
from migspec.locks import LockMode
from migspec.names import QualifiedName
from migspec.ops.base import Effect, Operation
from migspec.ops.session import SetSetting, TransactionControl
from migspec.parse.operations import build_operations
from migspec.parse.source import Location, Migration, Statement
from migspec.schema import Schema, from_stats
from migspec.stats import Stats


@frozen
class HeldLock:
    """A lock a transaction holds until it ends, and the statement that took it."""

    relation: QualifiedName
    mode: LockMode
    location: Location
    op_index: int


@frozen
class TxContext:
    """The transaction a statement runs in: its timeouts, and the locks earlier statements hold."""

    tx_id: int | None  # None: autocommit, the statement is its own transaction
    explicit: bool  # BEGIN written in the migration
    wrapped: bool  # the runner wraps each file in a transaction
    lock_timeout_s: float | None
    statement_timeout_s: float | None
    held: tuple[HeldLock, ...] = ()  # locks taken by earlier statements of this transaction

    @property
    def in_transaction(self) -> bool:
        return self.tx_id is not None


@frozen
class Analyzed:
    """One operation with its effect, its transaction context and its statement."""

    index: int
    op: Operation
    effect: Effect
    tx: TxContext
    new_table: bool  # op.table was created earlier in this migration

    @property
    def stmt(self) -> Statement:
        return self.op.stmt


_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "min": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration_setting(value: str | None) -> float | None:
    """PostgreSQL time setting -> seconds; a bare number is milliseconds; 0 disables (None)."""
    if value is None:
        return None
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*", value.lower())
    if not m or (m.group(2) and m.group(2) not in _UNITS):
        return None
    seconds = float(m.group(1)) * (_UNITS[m.group(2)] if m.group(2) else 1e-3)
    return seconds or None


@record
class _Session:
    """The running state of the session while the migration is walked."""

    wrapped: bool
    tx_id: int | None = None
    explicit: bool = False
    next_tx: int = 0
    session_settings: dict[str, float | str | None] = field(default_factory=dict)
    local_settings: dict[str, float | str | None] = field(default_factory=dict)
    #: Session settings as the transaction found them: a ROLLBACK undoes a plain SET too.
    settings_at_begin: dict[str, float | str | None] = field(default_factory=dict)
    held: list[HeldLock] = field(default_factory=list)
    #: (timezone, lock_timeout, statement_timeout) in effect, until a setting changes (``view``).
    _view: tuple[str | None, float | None, float | None] | None = field(default=None, repr=False)

    def begin(self, explicit: bool) -> None:
        if self.tx_id is None:
            self.tx_id, self.next_tx = self.next_tx, self.next_tx + 1
            self.explicit = explicit
            self.held = []
            if self.local_settings:  # (an autocommit statement has none: the view stays)
                self.local_settings, self._view = {}, None
            self.settings_at_begin = dict(self.session_settings)

    def end(self) -> None:
        self.tx_id, self.explicit, self.held = None, False, []
        if self.local_settings:
            self.local_settings, self._view = {}, None

    def set(self, name: str, value: float | str | None, *, local: bool) -> None:
        if local:
            self.local_settings[name] = value
        else:
            self.session_settings[name] = value
            self.local_settings.pop(name, None)
        self._view = None

    def restore(self, settings: dict[str, float | str | None]) -> None:
        self.session_settings = settings
        self._view = None

    def setting(self, name: str) -> float | str | None:
        if name in self.local_settings:
            return self.local_settings[name]
        return self.session_settings.get(name)

    def view(self) -> tuple[str | None, float | None, float | None]:
        """(timezone, lock_timeout seconds, statement_timeout seconds) in effect: worked out once
        per change of a setting, not for every statement (issue 16)."""
        if self._view is None:
            zone = self.setting("timezone")
            self._view = (zone if isinstance(zone, str) else None, self.seconds("lock_timeout"),
                          self.seconds("statement_timeout"))
        return self._view

    def context(self) -> TxContext:
        _, lock_timeout, statement_timeout = self.view()
        return TxContext(self.tx_id, self.explicit, self.wrapped and self.tx_id is not None,
                         lock_timeout, statement_timeout, tuple(self.held))

    def seconds(self, name: str) -> float | None:
        value = self.setting(name)
        return value if isinstance(value, float) else None


def analyze(migration: Migration, *, version: int, stats: Stats, transaction_per_file: bool = False,
            schema: Schema | None = None) -> Iterator[tuple[Analyzed, Schema]]:
    """Yield each operation with its effect and context, and the schema *before* it applies.
    ``schema``: the model before the migration (default: the stats file's); the walk changes a copy."""
    schema = schema.copy() if schema is not None else from_stats(stats)
    session = _Session(wrapped=transaction_per_file)
    current_file = -1
    index = 0
    autocommit_contexts: dict[tuple[bool, bool, float | None, float | None, tuple[HeldLock, ...]], TxContext] = {}
    for stmt in migration.statements:
        if stmt.file_index != current_file:
            if transaction_per_file and current_file >= 0:
                session.end()
            current_file = stmt.file_index
            if transaction_per_file:
                session.wrapped = True  # a COMMIT in the previous file ended only that file's wrapper
                session.begin(explicit=False)
        ops = build_operations(stmt)
        autocommit = session.tx_id is None
        if autocommit and not isinstance(ops[0], (TransactionControl, SetSetting)):
            session.begin(explicit=False)  # the statement is its own transaction
        effects: list[Effect] = []
        for op in ops:
            if isinstance(op, TransactionControl):
                _transaction(session, op, transaction_per_file)
            elif isinstance(op, SetSetting):
                _setting(session, op)
            zone, lock_timeout, statement_timeout = session.view()
            schema.timezone = zone
            effect = op.effect(schema, version)
            effects.append(effect)
            if autocommit and not isinstance(op, (TransactionControl, SetSetting)):
                # The statement is its own transaction: the same context as long as the settings
                # are (an immutable value, shared: building one per statement was a tenth of the walk).
                key = (session.explicit, session.wrapped and session.tx_id is not None, lock_timeout,
                       statement_timeout, tuple(session.held))
                ctx = autocommit_contexts.get(key)  # type: ignore[assignment]
                if ctx is None:
                    ctx = autocommit_contexts[key] = TxContext(None, *key)
            else:
                ctx = session.context()
            yield Analyzed(index, op, effect, ctx, schema.is_new(op.table)), schema
            op.apply(schema)
            index += 1
        # Locks taken by this statement stay held for the rest of the transaction - none to record
        # when the statement is its own transaction, which ends just below.
        ends = autocommit and session.tx_id is not None and not isinstance(ops[0], TransactionControl)
        for effect in effects if session.tx_id is not None and not ends else ():
            for lk in effect.locks:
                if lk.mode.blocks_writes:
                    session.held.append(HeldLock(lk.relation, lk.mode, stmt.location, index - 1))
        if ends:
            session.end()


def _transaction(session: _Session, op: TransactionControl, wrapped: bool) -> None:
    if op.action == "begin":
        session.begin(explicit=True)
        session.explicit = True
    elif op.action in ("commit", "rollback"):
        if op.action == "rollback" and session.tx_id is not None:
            # "If SET is issued within a transaction that is later aborted, the effects of the SET
            # command disappear" (PostgreSQL docs, SET).
            session.restore(dict(session.settings_at_begin))
        session.end()
        if wrapped:  # the runner's transaction ended early; later statements run in autocommit
            session.wrapped = False


def _setting(session: _Session, op: SetSetting) -> None:
    if op.name not in ("lock_timeout", "statement_timeout", "timezone"):
        return
    value: float | str | None = op.value if op.name == "timezone" else parse_duration_setting(op.value)
    if op.local:
        if session.tx_id is not None:  # SET LOCAL outside a transaction has no effect (a WARNING)
            session.set(op.name, value, local=True)
    else:
        session.set(op.name, value, local=False)

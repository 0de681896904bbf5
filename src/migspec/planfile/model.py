"""The plan as data: phases of steps, each step with its UP and - written first - its DOWN.

Renderers and the executor read these objects; nothing here knows how it is printed or run.
"""

from __future__ import annotations

from typing import Any

from migspec import policy
from migspec.estimate.model import format_range
from migspec.frozen import field, frozen
from migspec.locks import LockMode
from migspec.names import QualifiedName
from migspec.phases import PhaseName  # noqa: F401 - re-exported: the plan's vocabulary
from migspec.risk import Risk


@frozen
class Backfill:
    """A keyset-batched UPDATE: the executor runs it batch by batch; ``sql`` renders it for psql."""

    table: QualifiedName
    key: tuple[str, ...]  # primary key columns, the keyset cursor
    assignments: tuple[tuple[str, str], ...]  # (column, SQL expression)
    predicate: str  # idempotent: true only for rows that still need the update
    where: str | None = None  # the user's own filter, if any
    batch_size: int = policy.DEFAULT_BATCH_ROWS
    pause_seconds: float = policy.DEFAULT_PAUSE_S
    delete: bool = False  # DELETE in batches instead of UPDATE
    backup: QualifiedName | None = None  # rows' old values are copied here first (for the DOWN)
    backup_columns: tuple[str, ...] = ()
    target_seconds: float = policy.BATCH_TARGET_S  # the runner adapts the batch size toward this batch duration
    # A restore (a DOWN): walk the keys of ``source`` (a backup or archive table, alias ``s``)
    # and UPDATE ``table`` (alias ``t``) from it with ``assignments`` where ``predicate`` holds,
    # or - without assignments - INSERT its rows back (ON CONFLICT DO NOTHING).
    source: QualifiedName | None = None
    # The backup also keeps the value each batch wrote (sql.written_column), so the DOWN restores
    # only rows that still hold it and never overwrites a later application write.
    keep_written: bool = False


@frozen
class Step:
    description: str
    up: tuple[str, ...]  # SQL statements, in order
    down: tuple[str, ...]  # SQL statements that undo ``up`` (empty: nothing to undo, see down_note)
    transactional: bool = True  # False: must run outside a transaction block (CONCURRENTLY, batches)
    lock: LockMode | None = None
    estimate_seconds: float = 0.0
    estimate_basis: str = ""
    batch_size: int | None = None
    requires_confirmation: str | None = None  # the target that must be confirmed, e.g. "public.users.flag"
    lock_timeout_s: float | None = None
    statement_timeout_s: float | None = None
    backfill: Backfill | None = None
    manual: bool = False  # a human action (deploy, confirm); no SQL is run
    down_note: str = ""
    reversible: bool = True
    post_check: str | None = None  # SQL returning one row with a boolean ``ok``
    table: QualifiedName | None = None  # the table whose traffic the step's lock affects
    # The DOWN as units the executor runs in order, each like an UP step (guarded statements or a
    # batched restore); empty: ``down`` runs as one unit. ``down`` then holds their psql text.
    down_steps: tuple[Step, ...] = ()
    estimate_low_seconds: float | None = None  # the estimate's optimistic end (estimate_seconds: the pessimistic)

    @property
    def estimate_text(self) -> str:
        """The estimate as every command prints it: the range, optimistic to pessimistic end."""
        return format_range(self.estimate_low_seconds, self.estimate_seconds)

    @property
    def retry(self) -> str:
        if self.lock_timeout_s is None:
            return "none"
        return (f"{policy.RETRY_ATTEMPTS} attempts on lock timeout, exponential backoff from "
                f"{policy.RETRY_BASE_S:g} s capped at {policy.RETRY_CAP_S:g} s, full jitter")


@frozen
class Phase:
    name: PhaseName
    steps: tuple[Step, ...]
    after: str | None = None  # policy.contract_wait(days) for CONTRACT

    @property
    def estimate_seconds(self) -> float:
        return sum(s.estimate_seconds for s in self.steps)

    @property
    def estimate_low_seconds(self) -> float:
        return sum(s.estimate_seconds if s.estimate_low_seconds is None else s.estimate_low_seconds
                   for s in self.steps)

    @property
    def estimate_text(self) -> str:
        return format_range(self.estimate_low_seconds, self.estimate_seconds)

    @property
    def reversible(self) -> bool:
        return all(s.reversible for s in self.steps)


@frozen
class Confirmation:
    target: str
    operation: str
    confirmed: bool
    reason: str | None = None


@frozen
class Runbook:
    pre_check: tuple[str, ...]
    cutover: tuple[str, ...]
    rollback_trigger: tuple[str, ...]
    post_verify: tuple[str, ...]


@frozen
class Plan:
    migration: str
    risk: Risk
    pg_version: int
    phases: tuple[Phase, ...]
    runbook: Runbook
    confirmations: tuple[Confirmation, ...]
    notes: tuple[str, ...] = field(default=())
    maintenance_window: str | None = None
    rollback_risk: Risk = Risk.GREEN  # the DOWNs, assessed like the UP steps (builder.rollback_risk)
    #: The schema of the tables it changes, as planned from (migspec.schema.drift.record): apply
    #: refuses the plan when the live tables differ.
    schema: dict[str, Any] | None = None

    @property
    def handoff(self) -> str:
        pending = [c.target for c in self.confirmations if not c.confirmed]
        if pending:
            return ("ready for user approval before execution; destructive steps stay blocked until confirmed: "
                    + ", ".join(pending))
        return "ready for user approval before execution."

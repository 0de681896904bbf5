"""Apply or roll back one phase of an approved plan.

Order of work for ``apply``: approval and confirmations are checked before any connection is
made; then an advisory lock keyed by the plan's hash (two applies of one plan cannot overlap);
the runbook pre-checks; each step not yet done (the state table says which), guarded or batched;
each step's post-check; the phase is done when every step is. ``rollback`` runs the DOWN of every
step of the phase that was applied, last first. ``dry_run`` walks the same path with a sink that
prints instead of executing.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
from collections.abc import Callable


import psycopg

from migspec import policy
from migspec.dsn import connect, scrub
from migspec.errors import InputError, RefusedError
from migspec.execute import rollout, state
from migspec.execute.backfill import Progress, Throttle, run_backfill
from migspec.execute.guard import Log, RetryPolicy, StepFailed, run_statements
from migspec.execute.approval import check_approval
from migspec.frozen import frozen, record
from migspec.planfile import PHASES, LoadedPlan
from migspec.planfile import normalize_target
from migspec.planfile.model import Step


@record
class ApplyOptions:
    phase: str
    dry_run: bool = False
    retry: RetryPolicy = RetryPolicy()
    throttle: Throttle | None = None
    skip_pre_checks: bool = False
    skip_wait: str | None = None  # run CONTRACT before its 'after' period; the reason is recorded
    allow_drift: str | None = None  # run although the live schema differs from the plan's; recorded
    on_progress: Callable[[Progress, int], None] | None = None


def _advisory_key(plan: LoadedPlan) -> int:
    # Keyed by the migration, not the plan file: two plans of one migration must not run at once.
    return int.from_bytes(hashlib.sha256(plan.migration.encode()).digest()[:8], "big", signed=True)


def plan_lock(conn: psycopg.Connection, plan: LoadedPlan, wait_s: float = policy.PLAN_LOCK_WAIT_S) -> bool:
    """Take the migration's session advisory lock, waiting up to ``wait_s``; False when another
    session still holds it then. Not a bare pg_try_advisory_lock: a session releases the lock when
    its backend exits, which the server does a moment after the client closed or died, so the very
    next apply could find the lock of the one that just finished (policy.PLAN_LOCK_WAIT_S).
    lock_timeout bounds the wait of pg_advisory_lock like any heavyweight lock's (SQLSTATE 55P03)."""
    conn.execute("SELECT set_config('lock_timeout', %s, false)", (f"{int(wait_s * 1000)}ms",))
    try:
        conn.execute("SELECT pg_advisory_lock(%s)", (_advisory_key(plan),))
        return True
    except psycopg.errors.LockNotAvailable:
        return False
    finally:
        conn.execute("RESET lock_timeout")


def release_plan_lock(conn: psycopg.Connection, plan: LoadedPlan) -> None:
    """Release the lock before closing: the next apply/rollback then never meets it (closing alone
    releases it only when the server ends the backend). A broken connection's lock goes with it."""
    if not conn.closed and not conn.broken:
        with contextlib.suppress(psycopg.Error):
            conn.execute("SELECT pg_advisory_unlock(%s)", (_advisory_key(plan),))


def _take_plan_lock(conn: psycopg.Connection, plan: LoadedPlan) -> None:
    """The state table exists and no other apply/rollback of this migration runs (session advisory
    lock, released by release_plan_lock, or when the connection ends - also when the process is killed)."""
    state.ensure(conn)
    if not plan_lock(conn, plan):
        raise RefusedError(f"another 'migspec apply' or 'rollback' of migration '{plan.migration}' is running "
                           "(advisory lock held)")


def _fault_point(phase: str, step: int, direction: str) -> None:
    """Tests only: MIGSPEC_TEST_KILL_AFTER=phase:step:direction kills this process with SIGKILL
    right after that step's effect is carried out - the crash the done record must survive."""
    if os.environ.get("MIGSPEC_TEST_KILL_AFTER") == f"{phase}:{step}:{direction}":
        os.kill(os.getpid(), signal.SIGKILL)


def _check(conn: psycopg.Connection, text: str) -> tuple[bool, str]:
    # Runbook entries read "<what it proves>: SELECT ..."; post-checks are bare SQL.
    at = text.find(": SELECT")
    sql = text[at + 2:] if at >= 0 else text
    row = conn.execute(sql).fetchone()
    return bool(row and row[0]), sql


def _connect(dsn: str) -> psycopg.Connection:
    return connect(dsn, application_name="migspec apply")


def _db_failure(exc: psycopg.Error, conn: psycopg.Connection, what: str, command: str) -> StepFailed:
    """One line for a database error during ``what``: a lost connection (pg_terminate_backend, a
    restart, a network cut) or a statement that failed. Committed work is in the state table, so
    the same command continues where this one stopped."""
    first = next((ln.strip() for ln in str(exc).splitlines() if ln.strip()), type(exc).__name__)
    if conn.broken or conn.closed:
        return StepFailed(f"{what}: lost the connection to the server ({scrub(first)}). Work committed so far "
                          f"is recorded; re-run '{command}' to continue.")
    code = f" [SQLSTATE {exc.sqlstate}]" if exc.sqlstate else ""
    return StepFailed(f"{what} failed: {scrub(first)}{code}. Its transaction was rolled back and the step stays "
                      f"unfinished; fix the cause, then re-run '{command}' (or roll back).")


def apply_phase(plan: LoadedPlan, dsn: str | None, opts: ApplyOptions, log: Log) -> int:
    """Run the phase's UP. Returns the number of steps run now (0: already done)."""
    if opts.phase not in PHASES:
        raise InputError(f"--phase must be one of {', '.join(PHASES)}")
    approval = check_approval(plan)
    steps = plan.phase(opts.phase)
    confirmed = set(approval.get("confirmed", []))
    missing = [s.requires_confirmation for s in steps
               if s.requires_confirmation and normalize_target(s.requires_confirmation) not in confirmed]
    if missing:
        raise RefusedError(f"the {opts.phase} phase has destructive steps the approval did not confirm: "
                           + ", ".join(dict.fromkeys(m for m in missing if m))
                           + f". Approve again with --confirm TARGET once confirmed.")
    if not steps:
        log(f"{opts.phase}: the plan has no steps in this phase")
        return 0
    if opts.dry_run:
        for i, step in enumerate(steps, 1):
            _print_step(log, opts.phase, i, step, "up")
        return 0
    assert dsn is not None
    conn = _connect(dsn)
    locked = False
    what = f"apply --phase {opts.phase}"
    mig, ids = plan.migration, plan.step_ids(opts.phase)
    try:
        rollout.check_drift(conn, plan, opts.phase, opts.allow_drift)  # before anything is written
        _take_plan_lock(conn, plan)
        locked = True
        rollout.check_apply(conn, plan, opts.phase, opts.skip_wait)
        # Pre-checks guard the steps about to run; a phase already done runs none (and its checks
        # may name tables that a later phase renamed or dropped).
        pending = [i for i in range(1, len(steps) + 1)
                   if (state.status(conn, mig, opts.phase, i, "up") or ("",))[0] != "done"]
        if pending and not opts.skip_pre_checks:
            for text in plan.pre_checks:
                what = f"pre-check '{text.split(':')[0]}'"
                ok, _ = _check(conn, text)
                if not ok:
                    raise RefusedError(f"pre-check failed, nothing was changed: {text}")
                log(f"pre-check ok: {text.split(':')[0]}")
        ran = 0
        for i, step in enumerate(steps, 1):
            if i not in pending:
                log(f"{opts.phase} step {i} already done: {step.description}")
                continue
            ran += 1
            what = f"{opts.phase} step {i} ('{step.description}')"
            key = StepKey(mig, opts.phase, i, "up", 0, ids[i - 1], plan.sha256, step.description)
            with conn.transaction():
                state.clear_down(conn, mig, opts.phase, i)  # an unfinished earlier rollback no longer applies
            _run_unit(conn, step, step.up, key, opts, log)
        log(f"{opts.phase}: done ({ran} step(s) run now)")
        return ran
    except psycopg.Error as exc:
        raise _db_failure(exc, conn, what, f"migspec apply --phase {opts.phase}") from None
    finally:
        if locked:
            release_plan_lock(conn, plan)
        conn.close()


@frozen
class StepKey:
    """Where a unit of work is recorded in the state table."""

    mig: str
    phase: str
    step: int
    direction: str
    part: int
    step_sha256: str
    plan_sha256: str
    description: str

    def start(self, conn: psycopg.Connection) -> None:
        state.start(conn, self.mig, self.phase, self.step, self.direction, self.description,
                    step_sha256=self.step_sha256, plan_sha256=self.plan_sha256, part=self.part)

    def finish(self, conn: psycopg.Connection) -> None:
        state.finish(conn, self.mig, self.phase, self.step, self.direction, self.part)

    @property
    def label(self) -> str:
        return f"{self.phase} step {self.step}" + (" DOWN" if self.direction == "down" else "") + \
            (f" part {self.part}" if self.part else "")


def _run_unit(conn: psycopg.Connection, step: Step, statements: tuple[str, ...], key: StepKey, opts: ApplyOptions,
              log: Log, *, record: Callable[[], None] | None = None) -> None:
    """Carry out one unit (a step's UP, or one part of a DOWN) and record it done.

    A transactional unit's statements, post-check and done record commit in ONE transaction: a
    kill at any instant leaves either nothing or the whole step recorded. A non-transactional unit
    (CONCURRENTLY) is recorded 'running' first; its statements detect work already finished in the
    catalog (guard.run_statements), so the re-run after a kill between the effect and the record
    finishes it. A backfill commits each batch with its cursor. ``record`` replaces the default
    done record (a DOWN forgets the step instead)."""
    done = record or (lambda: key.finish(conn))
    if step.manual:
        log(f"{key.label} is manual - make sure it is done: {step.description}")
        with conn.transaction():
            key.start(conn)
            done()
        return
    log(f"{key.label}: {step.description}")
    if step.backfill is None and step.transactional:
        def inside() -> None:
            key.start(conn)
            _post_check(conn, step)
            done()
        run_statements(conn, step, statements, log, opts.retry, str(step.table) if step.table else None,
                       inside=inside)
        _fault_point(key.phase, key.step, key.direction)
        return
    with conn.transaction():
        key.start(conn)
    if step.backfill is not None:
        progress = run_backfill(conn, step.backfill, plan=key.mig, phase=key.phase, step=key.step, log=log,
                                throttle=opts.throttle, on_progress=opts.on_progress,
                                lock_timeout_s=step.lock_timeout_s or policy.LOCK_TIMEOUT_S, direction=key.direction, part=key.part)
        log(f"{key.label}: {progress.rows_done:,} rows in {progress.batches} batches")
    else:
        run_statements(conn, step, statements, log, opts.retry, str(step.table) if step.table else None)
    _fault_point(key.phase, key.step, key.direction)
    _post_check(conn, step)
    with conn.transaction():
        done()


def _post_check(conn: psycopg.Connection, step: Step) -> None:
    if step.post_check:
        ok, sql = _check(conn, step.post_check)
        if not ok:
            raise StepFailed(f"post-check of '{step.description}' failed: {sql}; the step stays "
                             "unfinished - investigate, then re-run or roll back")


def rollback_phase(plan: LoadedPlan, dsn: str | None, opts: ApplyOptions, log: Log) -> int:
    """Run the DOWN of every applied (or partly applied) step of the phase, last first."""
    if opts.phase not in PHASES:
        raise InputError(f"--phase must be one of {', '.join(PHASES)}")
    check_approval(plan)
    steps = plan.phase(opts.phase)
    if opts.dry_run:
        for i in range(len(steps), 0, -1):
            _print_step(log, opts.phase, i, steps[i - 1], "down")
        return 0
    assert dsn is not None
    conn = _connect(dsn)
    locked = False
    what = f"rollback --phase {opts.phase}"
    mig, ids = plan.migration, plan.step_ids(opts.phase)
    try:
        _take_plan_lock(conn, plan)
        locked = True
        rollout.check_rollback(conn, plan, opts.phase)
        ran = 0
        for i in range(len(steps), 0, -1):
            step = steps[i - 1]
            if state.status(conn, mig, opts.phase, i, "up") is None:
                continue  # never started (or already rolled back)
            ran += 1
            what = f"{opts.phase} rollback of step {i} ('{step.description}')"
            key = StepKey(mig, opts.phase, i, "down", 0, ids[i - 1], plan.sha256, step.description)
            rollback_step(conn, step, key, opts, log)
        log(f"{opts.phase}: rolled back ({ran} step(s))")
        return ran
    except psycopg.Error as exc:
        raise _db_failure(exc, conn, what, f"migspec rollback --phase {opts.phase}") from None
    finally:
        if locked:
            release_plan_lock(conn, plan)
        conn.close()


def rollback_step(conn: psycopg.Connection, step: Step, key: StepKey, opts: ApplyOptions, log: Log) -> None:
    """The step's DOWN; the step is forgotten (no UP recorded) in the transaction of its last part.
    A DOWN made of parts (guarded statements, batched restores) records each part as it finishes,
    so a killed rollback continues at the part it was in."""
    def forget() -> None:
        state.forget(conn, key.mig, key.phase, key.step)

    with conn.transaction():
        state.undoing(conn, key.mig, key.phase, key.step)

    parts = step.down_steps
    if not parts:
        if not step.down:
            if not step.reversible:
                log(f"{key.label} DOWN: not reversible: {step.down_note}")
            with conn.transaction():
                forget()
            return
        down = Step(step.description, step.down, (), transactional=step.transactional,
                    lock_timeout_s=step.lock_timeout_s, statement_timeout_s=step.statement_timeout_s, table=step.table)
        _run_unit(conn, down, down.up, key, opts, log, record=forget)
        return
    for n, part in enumerate(parts, 1):
        pk = StepKey(key.mig, key.phase, key.step, "down", n, key.step_sha256, key.plan_sha256, part.description)
        st = state.status(conn, key.mig, key.phase, key.step, "down", n)
        if st and st[0] == "done":
            log(f"{pk.label} already done: {part.description}")
            continue
        _run_unit(conn, part, part.up, pk, opts, log, record=forget if n == len(parts) else None)


def _print_step(log: Log, phase: str, i: int, step: Step, direction: str) -> None:
    statements = step.up if direction == "up" else step.down
    mode = "manual" if step.manual else ("batched" if step.backfill and direction == "up" else
                                         "in one guarded transaction" if step.transactional else "outside a transaction")
    log(f"[dry-run] {phase} step {i} {direction.upper()} ({mode}): {step.description}")
    if step.transactional and step.lock_timeout_s and not step.manual:
        log(f"    SET LOCAL lock_timeout = '{int(step.lock_timeout_s * 1000)}ms'; retry: {step.retry}")
    for s in statements:
        log("    " + " ".join(s.split())[:200])

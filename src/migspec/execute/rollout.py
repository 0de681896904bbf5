"""The order of a rollout, read from the state table (the source of truth), not from the plan file.

Rules (issue 9): a phase runs only when every phase before it in the plan is done; CONTRACT runs
only once its ``after`` period (``N days green``) has passed since the phase before it finished,
unless the operator overrides it with a reason (recorded in ``migspec.events`` with the OS user and
the database user); a phase is rolled back only while no later phase has anything applied. A plan
re-generated for the same migration (new stats, a newer migspec) is reconciled step by step with
what was recorded: a recorded step whose identity (planfile.step_identity) differs from the plan's
step at that position is refused with both descriptions, before anything runs.
"""

from __future__ import annotations

import datetime as dt
import getpass
from typing import Any

import psycopg

from migspec import policy
from migspec.errors import InputError, RefusedError
from migspec.execute import state
from migspec.frozen import field, record
from migspec.planfile import PHASES, LoadedPlan


@record
class PhaseProgress:
    name: str
    steps: int  # in the plan
    done: int = 0  # plan steps recorded done, with the same identity
    applied: int = 0  # steps with an UP recorded (running or done)
    finished_at: dt.datetime | None = None  # the last step's finish, once every step is done
    changed: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return self.done == self.steps and not self.changed


def progress(conn: psycopg.Connection, plan: LoadedPlan) -> dict[str, PhaseProgress]:
    out = {name: PhaseProgress(name, len(plan.step_ids(name))) for name in PHASES}
    latest: dict[str, dt.datetime] = {}
    for phase, step, direction, part, status, sha, description, finished in state.recorded(conn, plan.migration):
        if direction != "up" or part != 0 or phase not in out:
            continue
        p = out[phase]
        ids = plan.step_ids(phase)
        p.applied += 1
        if step > len(ids) or ids[step - 1] != sha:
            now = (f"'{plan.phase(phase)[step - 1].description}'" if step <= len(ids)
                   else "no such step")
            p.changed.append(f"{phase} step {step} was recorded ({status}) as '{description}'; "
                             f"{plan.path.name} has {now} there")
        elif status == "done":
            p.done += 1
            if finished is not None and (phase not in latest or finished > latest[phase]):
                latest[phase] = finished
    for name, p in out.items():
        if p.complete and p.steps:
            p.finished_at = latest.get(name)
    return out


def _changed(plan: LoadedPlan, p: PhaseProgress) -> RefusedError:
    more = f" (and {len(p.changed) - 1} more)" if len(p.changed) > 1 else ""
    return RefusedError(f"{plan.path.name} does not match what was applied for migration '{plan.migration}': "
                        f"{p.changed[0]}{more}; finish or roll back with the plan that applied it, or re-plan")


def _period(after: str | None) -> dt.timedelta | None:
    """'7 days green' (policy.contract_wait, the planner's wording) -> 7 days."""
    days = policy.contract_wait_days(after)
    return None if days is None else dt.timedelta(days=days)


def who() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry and no LOGNAME/USER (containers)
        return "unknown"


def check_apply(conn: psycopg.Connection, plan: LoadedPlan, phase: str, skip_wait: str | None) -> None:
    """Refuse (exit 3) before anything runs when ``phase`` may not run now."""
    prog = progress(conn, plan)
    if prog[phase].changed:
        raise _changed(plan, prog[phase])
    order = plan.phase_names
    before = [n for n in order[:order.index(phase)]] if phase in order else []
    for name in before:
        p = prog[name]
        if p.changed:
            raise _changed(plan, p)
        if not p.complete:
            raise RefusedError(f"apply --phase {name} first: {p.done} of its {p.steps} steps are done "
                               f"(migration '{plan.migration}'); nothing was changed")
    if prog[phase].complete or not before:
        return
    period = _period(plan.after(phase))
    finished = prog[before[-1]].finished_at
    if not period or finished is None:
        return
    now = conn.execute("SELECT now()").fetchone()[0]
    left = finished + period - now
    if left <= dt.timedelta(0):
        return
    if skip_wait is None:
        raise RefusedError(f"{phase.upper()} runs only after {plan.after(phase)} since {before[-1].upper()} finished "
                           f"({finished:%Y-%m-%d %H:%M %Z}): {_human(left)} left; to run it now anyway, pass "
                           "--skip-wait REASON (recorded with your name)")
    if not skip_wait.strip():
        raise InputError("--skip-wait needs a reason (it is recorded)")
    with conn.transaction():
        state.event(conn, plan.migration, "skip-wait", phase=phase, plan_sha256=plan.sha256, os_user=who(),
                    detail=f"{_human(left)} before the end of '{plan.after(phase)}': {skip_wait.strip()}")


def check_drift(conn: psycopg.Connection, plan: LoadedPlan, phase: str, allow: str | None) -> None:
    """Refuse (exit 3, nothing written) a plan whose tables changed in the live database since it
    was planned (migspec.schema.drift), unless ``allow`` gives a reason, which is recorded. Only
    before the rollout's first step: after it, the plan's own steps changed them."""
    from migspec.schema import drift
    from migspec.schema.catalog import load_catalog

    recorded = plan.doc.get("schema")
    if not isinstance(recorded, dict) or not recorded.get("tables"):
        return
    if conn.execute("SELECT to_regclass(%s)", (state.TABLE,)).fetchone()[0] is not None and \
            any(p.applied for p in progress(conn, plan).values()):
        return
    found = drift.differences(recorded, load_catalog(conn, drift.live_tables(recorded)))
    if not found:
        return
    more = f" (and {len(found) - 1} more table(s))" if len(found) > 1 else ""
    if allow is None:
        raise RefusedError(f"the schema drifted since the plan was made: {found[0]}{more}; nothing was changed. "
                           "Re-plan from the current schema, or pass --allow-drift REASON (recorded with your name)")
    if not allow.strip():
        raise InputError("--allow-drift needs a reason (it is recorded)")
    state.ensure(conn)
    with conn.transaction():
        state.event(conn, plan.migration, "allow-drift", phase=phase, plan_sha256=plan.sha256, os_user=who(),
                    detail=f"{'; '.join(found)}: {allow.strip()}")


def check_rollback(conn: psycopg.Connection, plan: LoadedPlan, phase: str) -> None:
    prog = progress(conn, plan)
    for name in reversed(PHASES[PHASES.index(phase) + 1:]):  # the latest applied comes back first
        if prog[name].applied:
            raise RefusedError(f"rollback --phase {name} first: {prog[name].applied} of its steps are applied "
                               f"(migration '{plan.migration}'); nothing was changed")
    if prog[phase].changed:
        raise _changed(plan, prog[phase])


def _human(delta: Any) -> str:
    s = int(delta.total_seconds())
    if s >= 86400:
        return f"{s // 86400} d {s % 86400 // 3600} h"
    if s >= 3600:
        return f"{s // 3600} h {s % 3600 // 60} min"
    return f"{max(s // 60, 1)} min"

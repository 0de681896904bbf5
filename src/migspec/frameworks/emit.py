"""Write a plan back as the framework's own migrations (``migspec plan PROJECT --emit django|alembic``).

One migration per *step group*: consecutive steps of one phase that run the same way - DDL inside
the framework's transaction, or steps that need their own transactions (CONCURRENTLY, keyset
backfills: run by :mod:`migspec.frameworks.runtime`, resumable). A manual step (deploy the
application) ends a group: the runbook names the migration to stop at before it. The rollout
replaces ONE pending migration (the newest of its app / the head revision), whose file is removed
when the new ones are written beside it.
"""

from __future__ import annotations

import hashlib
import json
import pprint
from dataclasses import dataclass
from pathlib import Path

from migspec.errors import InputError
from migspec.frameworks import FrameworkMigration, Project
from migspec.plan.model import Plan, Step
from migspec.render.plan import step_dict


@dataclass(frozen=True)
class Group:
    phase: str
    steps: tuple[tuple[int, Step], ...]  # (index in the phase, from 1; the step)
    transactional: bool  # DDL in the framework's transaction; else the runtime runs each step
    manual_after: tuple[str, ...] = ()  # manual steps that follow this group (deploys)


@dataclass(frozen=True)
class Emitted:
    files: tuple[Path, ...]
    removed: Path | None
    runbook: tuple[str, ...]


def groups(plan: Plan) -> list[Group]:
    out: list[Group] = []
    for phase in plan.phases:
        current: list[tuple[int, Step]] = []
        kind: bool | None = None

        def close() -> None:
            nonlocal current, kind
            if current:
                out.append(Group(phase.name.value, tuple(current), bool(kind)))
            current, kind = [], None

        for i, step in enumerate(phase.steps, 1):
            if step.manual:
                close()
                if out:
                    last = out[-1]
                    out[-1] = Group(last.phase, last.steps, last.transactional,
                                    (*last.manual_after, step.description))
                continue
            # a DOWN made of parts (batched restores) runs through the runtime too
            transactional = step.transactional and step.backfill is None and not step.down_steps
            if kind is not None and kind != transactional:
                close()
            kind = transactional
            current.append((i, step))
        close()
    return out


def plan_id(plan: Plan) -> str:
    """Identifies the rollout in migspec's state table: the hash of its steps."""
    body = json.dumps([[p.name.value, [step_dict(s) for s in p.steps]] for p in plan.phases], sort_keys=True)
    return hashlib.sha256(body.encode()).hexdigest()


def the_migration(project: Project) -> FrameworkMigration:
    if len(project.migrations) != 1:
        keys = ", ".join(m.key for m in project.migrations)
        raise InputError(f"--emit rewrites one pending migration, and {len(project.migrations)} are pending "
                         f"({keys}): give --since so that only the one to roll out is pending")
    return project.migrations[0]


def literal(value: object) -> str:
    """A Python literal of JSON-like data, wrapped for reading."""
    return pprint.pformat(value, width=110, sort_dicts=False)


def write(into: Path, files: dict[str, str]) -> tuple[Path, ...]:
    try:
        into.mkdir(parents=True, exist_ok=True)
        written = []
        for name, text in files.items():
            path = into / name
            path.write_text(text, encoding="utf-8")
            written.append(path)
    except OSError as exc:
        raise InputError(f"{into}: cannot write migrations: {exc.strerror or exc}") from None
    return tuple(written)


def emit(plan: Plan, project: Project | None, kind: str, into: Path | None) -> str:
    """Write the migrations; what was written and how to run it, for the terminal."""
    if project is None or project.kind != kind:
        raise InputError(f"--emit {kind} needs a {kind} project as PATH")
    if kind == "django":
        from migspec.frameworks.emit_django import emit_django as writer
    else:
        from migspec.frameworks.emit_alembic import emit_alembic as writer
    done = writer(plan, project, into)
    lines = [f"migspec: wrote {p}" for p in done.files]
    if done.removed:
        lines.append(f"migspec: removed {done.removed} (the rollout above replaces it)")
    lines += [f"migspec: run: {r}" for r in done.runbook]
    return "\n".join(lines) + "\n"

"""Write a plan back as the framework's own migrations (``migspec plan PROJECT --emit django|alembic``).

One migration per *step group*: consecutive steps of one phase that run the same way - DDL inside
the framework's transaction, or steps that need their own transactions (CONCURRENTLY, keyset
backfills: run by :mod:`migspec.frameworks.runtime`, resumable). A manual step (deploy the
application) ends a group: the runbook names the migration to stop at before it. The rollout
replaces the pending migrations - one app's (Django) or one chain of revisions (Alembic) - whose
files are removed when the new ones are written beside them.
"""

from __future__ import annotations

import hashlib
import json
import pprint

from pathlib import Path

from migspec.errors import InputError
from migspec.frameworks import FrameworkMigration, Project
from migspec.frozen import frozen
from migspec.planfile.model import Plan, Step
from migspec.planfile import step_dict


@frozen
class Group:
    phase: str
    steps: tuple[tuple[int, Step], ...]  # (index in the phase, from 1; the step)
    transactional: bool  # DDL in the framework's transaction; else the runtime runs each step
    manual_after: tuple[str, ...] = ()  # manual steps that follow this group (deploys)


@frozen
class Emitted:
    files: tuple[Path, ...]
    removed: tuple[Path, ...]
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
            # One table per framework transaction, as 'migspec apply' runs each step alone: locks
            # held on one table while waiting for the next deadlocked an application whose
            # INSERT's foreign key check takes them the other way (tests/test_frameworks_bigauto.py).
            other_table = transactional and kind and step.table is not None and any(
                s.table is not None and s.table != step.table for _, s in current)
            if kind is not None and (kind != transactional or other_table):
                close()
            kind = transactional
            current.append((i, step))
        close()
    return out


def plan_id(plan: Plan) -> str:
    """Identifies the rollout in migspec's state table: the hash of its steps."""
    body = json.dumps([[p.name.value, [step_dict(s) for s in p.steps]] for p in plan.phases], sort_keys=True)
    return hashlib.sha256(body.encode()).hexdigest()


def the_migrations(project: Project) -> tuple[FrameworkMigration, ...]:
    """The pending migrations the rollout replaces, in the order the framework runs them: one chain -
    Django migrations of one app, Alembic revisions each revising the one before (the rollout is one
    chain of its own, in their place)."""
    pending = project.migrations
    if not pending:
        raise InputError("--emit: no pending migration to rewrite")
    keys = ", ".join(m.key for m in pending)
    if project.kind == "django":
        apps = sorted({m.key.partition(".")[0] for m in pending})
        if len(apps) > 1:
            raise InputError(f"--emit rewrites the pending migrations of one app, and {len(apps)} apps have some "
                             f"({keys}): give --since so that only one app's are pending")
    else:
        for before, m in zip(pending, pending[1:]):
            if m.dependencies != ((before.key,),):
                raise InputError(f"--emit rewrites one chain of pending revisions, and {m.key} does not revise "
                                 f"{before.key} alone ({keys}): give --since so that only one chain is pending")
    return pending


def remove_replaced(originals: tuple[FrameworkMigration, ...], into: Path) -> tuple[Path, ...]:
    """The replaced migrations' files, removed when the rollout is written beside them."""
    removed = []
    for m in originals:
        source = Path(m.path)
        if into.resolve() == source.parent.resolve() and source.is_file():
            source.unlink()
            removed.append(source)
    return tuple(removed)


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


def check(project: Project | None, kind: str) -> None:
    """Before planning: the input is a project of that kind whose pending migrations one rollout
    can replace (InputError otherwise)."""
    if project is None or project.kind != kind:
        raise InputError(f"--emit {kind} needs a {kind} project as PATH")
    the_migrations(project)


def emit(plan: Plan, project: Project | None, kind: str, into: Path | None) -> str:
    """Write the migrations; what was written and how to run it, for the terminal."""
    check(project, kind)
    assert project is not None
    if kind == "django":
        from migspec.frameworks.emit_django import emit_django as writer
    else:
        from migspec.frameworks.emit_alembic import emit_alembic as writer
    done = writer(plan, project, into)
    lines = [f"migspec: wrote {p}" for p in done.files]
    lines += [f"migspec: removed {path} (the rollout above replaces it)" for path in done.removed]
    lines += [f"migspec: run: {r}" for r in done.runbook]
    return "\n".join(lines) + "\n"

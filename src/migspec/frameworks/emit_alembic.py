"""A plan as Alembic revisions: DDL groups as ``op.execute`` inside Alembic's transaction (with
``SET LOCAL`` timeouts), CONCURRENTLY and keyset backfills inside ``autocommit_block()`` through
migspec's runtime, and every ``downgrade()`` from the DOWN steps, in reverse. The chain starts where
the replaced revision started (its ``down_revision``), so the heads stay as they were.
"""

from __future__ import annotations

import re
from pathlib import Path

from migspec.errors import InputError
from migspec.frameworks import Project
from migspec.frameworks.emit import Emitted, groups, literal, plan_id, remove_replaced, the_migrations, write
from migspec.planfile.model import Plan
from migspec.planfile.sql import interval
from migspec.planfile import step_dict

#: ``text()`` reads ``:name`` as a bind parameter (sqlalchemy/sql/elements.py, TextClause); PL/pgSQL
#: assignments and literals may hold such colons: escaped, they reach the server as written.
_BIND = re.compile(r"(?<![:\\]):(?=\w)")
BACKSLASH_COLON = "\\\\:"  # a re.sub replacement: one backslash, then the colon


def _execute(sql: str) -> str:
    return f"op.execute(sa.text({_BIND.sub(BACKSLASH_COLON, sql)!r}))"


def _statements(step, statements: tuple[str, ...]) -> list[str]:  # type: ignore[no-untyped-def]
    guard = []
    if step.lock_timeout_s is not None:
        guard.append(f"SET LOCAL lock_timeout = {interval(step.lock_timeout_s)}")
    if step.statement_timeout_s is not None:
        guard.append(f"SET LOCAL statement_timeout = {interval(step.statement_timeout_s)}")
    return [*guard, *statements] if statements else []


def emit_alembic(plan: Plan, project: Project, into: Path | None) -> Emitted:
    originals = the_migrations(project)
    original = originals[-1]  # the emitted revisions are named after the last one
    for m in originals:
        if not Path(m.path).is_file():
            raise InputError(f"{m.path}: the revision to replace is not readable from here")
    into = into or Path(original.path).parent
    pid = plan_id(plan)
    parts = groups(plan)
    what = ", ".join(m.key for m in originals)
    if not parts:
        raise InputError(f"revision {what}: the plan has no steps to emit")
    downs = [d[0] for d in originals[0].dependencies]  # the chain starts where the first one started
    previous: str | tuple[str, ...] | None = downs[0] if len(downs) == 1 else tuple(downs) or None
    files: dict[str, str] = {}
    runbook: list[str] = []
    for k, group in enumerate(parts, 1):
        rev = f"{original.key}_{k:02d}_{group.phase}"
        doc = [f"migspec rollout of revision {what}: {group.phase.upper()}, revision {k} of {len(parts)}.",
               ""]
        doc += [f"- {group.phase} step {i}: {s.description}" for i, s in group.steps]
        if group.manual_after:
            doc += ["", f"Stop here (alembic upgrade {rev}) and, before upgrading further:"]
            doc += [f"- {m}" for m in group.manual_after]
            runbook.append(f"alembic upgrade {rev}; then: " + "; ".join(group.manual_after))
        doc += ["", f"Revision ID: {rev}", f"Revises: {previous if isinstance(previous, str) else previous or ''}"]
        body = ""
        if group.transactional:
            up, down = [], []
            for i, s in group.steps:
                up += [f"# {group.phase} step {i}: {s.description}"] + [_execute(x) for x in _statements(s, s.up)]
            for i, s in reversed(group.steps):
                statements = _statements(s, s.down)
                down += [f"# undo {group.phase} step {i}"] + ([_execute(x) for x in statements] or
                                                               [f"# {s.down_note or 'nothing to undo'}"])
        else:
            steps = {i: step_dict(s) for i, s in group.steps}
            body = f"\nPLAN = {pid!r}\nPHASE = {group.phase!r}\nSTEPS = {literal(steps)}\n"
            run = ("from migspec.frameworks.runtime import run_step\n\n"
                   "with op.get_context().autocommit_block():\n"
                   "    for index, step in {items}:\n"
                   "        run_step(op.get_bind(), step, plan=PLAN, phase=PHASE, index=index{direction})")
            up = run.format(items="STEPS.items()", direction="").splitlines()
            down = run.format(items="reversed(STEPS.items())", direction=', direction="down"').splitlines()
        text = ('"""' + "\n".join(doc) + '\n"""\nimport sqlalchemy as sa\nfrom alembic import op\n\n'
                f"revision = {rev!r}\ndown_revision = {previous!r}\nbranch_labels = None\ndepends_on = None\n"
                + body + "\n\ndef upgrade():\n" + "\n".join("    " + line if line else "" for line in up)
                + "\n\n\ndef downgrade():\n" + "\n".join("    " + line if line else "" for line in down) + "\n")
        files[f"{rev}.py"] = text
        previous = rev
    written = write(into, files)
    removed = remove_replaced(originals, into)
    runbook.append(f"alembic upgrade {previous}")
    return Emitted(written, removed, tuple(runbook))

"""A plan as Django migrations: ``RunSQL`` (with ``reverse_sql`` from the DOWN steps) inside Django's
transaction for DDL groups, ``atomic = False`` migrations whose ``RunPython`` calls migspec's runtime
for CONCURRENTLY and keyset backfills, and - in the first one - a ``SeparateDatabaseAndState``
carrying the original migration's operations as state only, so Django's model state ends exactly
where the user's migration meant it to (``makemigrations --check`` stays clean).
"""

from __future__ import annotations

import ast
from pathlib import Path

from migspec.errors import InputError
from migspec.frameworks import Project
from migspec.frameworks.emit import Emitted, Group, groups, literal, plan_id, remove_replaced, the_migrations, write
from migspec.planfile.model import Plan
from migspec.planfile.sql import interval
from migspec.planfile import step_dict

#: Operations that only touch the database: nothing for the state copy (SeparateDatabaseAndState).
_DATABASE_ONLY = {"RunPython", "RunSQL"}


def _original(path: Path) -> tuple[list[str], list[str], list[str]]:
    """The original migration's module-level imports, other top-level code, and its operations' source."""
    text = path.read_text(encoding="utf-8")
    tree = ast.parse(text)
    imports, helpers, operations = [], [], []
    for node in tree.body:
        segment = ast.get_source_segment(text, node) or ""
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            imports.append(segment)
        elif isinstance(node, ast.ClassDef) and node.name == "Migration":
            for stmt in node.body:
                if isinstance(stmt, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "operations"
                                                        for t in stmt.targets):
                    for element in getattr(stmt.value, "elts", []):
                        name = element.func.attr if isinstance(element, ast.Call) and \
                            isinstance(element.func, ast.Attribute) else ""
                        if name not in _DATABASE_ONLY:
                            operations.append(ast.get_source_segment(text, element) or "")
        elif not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)):
            helpers.append(segment)
    return imports, helpers, operations


def _indent(text: str, spaces: int) -> str:
    pad = " " * spaces
    return "\n".join(pad + line if line.strip() else line for line in text.splitlines())


def _run_sql(index: int, step, phase: str) -> str:  # type: ignore[no-untyped-def]
    guard = []
    if step.lock_timeout_s is not None:
        guard.append(f"SET LOCAL lock_timeout = {interval(step.lock_timeout_s)}")
    if step.statement_timeout_s is not None:
        guard.append(f"SET LOCAL statement_timeout = {interval(step.statement_timeout_s)}")
    up = [*guard, *step.up]
    down = [*guard, *step.down] if step.down else []
    reverse = literal(down) if down else "migrations.RunSQL.noop"
    return (f"# {phase} step {index}: {step.description}\n"
            f"migrations.RunSQL(\n    sql={_indent(literal(up), 4).lstrip()},\n"
            f"    reverse_sql={_indent(reverse, 4).lstrip()},\n),")


def emit_django(plan: Plan, project: Project, into: Path | None) -> Emitted:
    originals = the_migrations(project)
    original = originals[-1]  # the emitted migrations are named after the last one
    app, _, name = original.key.partition(".")
    imports: list[str] = []
    helpers: list[str] = []
    state_ops: list[str] = []
    replaced = {tuple(m.key.split(".", 1)) for m in originals}
    previous: list[tuple[str, ...]] = []
    for m in originals:
        source = Path(m.path)
        if not source.is_file():
            raise InputError(f"{source}: the migration to replace is not readable from here")
        more_imports, more_helpers, more_ops = _original(source)
        imports += [i for i in more_imports if i not in imports]
        helpers += [h for h in more_helpers if h not in helpers]
        state_ops += more_ops  # Django's model state moves through each migration's operations in turn
        previous += [tuple(d) for d in m.dependencies if tuple(d) not in replaced and tuple(d) not in previous]
    into = into or Path(original.path).parent
    what = original.key if len(originals) == 1 else f"{', '.join(m.key for m in originals)}"
    pid = plan_id(plan)
    parts = groups(plan)
    if not parts:
        raise InputError(f"{what}: the plan has no steps to emit")
    files: dict[str, str] = {}
    runbook: list[str] = []
    for k, group in enumerate(parts, 1):
        mig_name = f"{name}_{k:02d}_{group.phase}"
        doc = [f"migspec rollout of {what}: {group.phase.upper()}, migration {k} of {len(parts)}.", ""]
        doc += [f"- {group.phase} step {i}: {s.description}" for i, s in group.steps]
        if group.manual_after:
            doc += ["", f"Stop here (python manage.py migrate {app} {mig_name}) and, before migrating further:"]
            doc += [f"- {m}" for m in group.manual_after]
            runbook.append(f"python manage.py migrate {app} {mig_name}; then: " + "; ".join(group.manual_after))
        ops: list[str] = []
        if k == 1 and state_ops:
            ops.append("# Django's model state moves as the original migration meant; the database follows "
                       "in the steps below.\nmigrations.SeparateDatabaseAndState(state_operations=[\n"
                       + "\n".join(_indent(o + ",", 4) for o in state_ops) + "\n]),")
        body = ""
        if group.transactional:
            ops += [_run_sql(i, s, group.phase) for i, s in group.steps]
        else:
            steps = {i: step_dict(s) for i, s in group.steps}
            body = (f"\nPLAN = {pid!r}\nPHASE = {group.phase!r}\nSTEPS = {literal(steps)}\n\n\n"
                    "def forwards(apps, schema_editor):\n"
                    "    from migspec.frameworks.runtime import run_step\n\n"
                    "    for index, step in STEPS.items():\n"
                    "        run_step(schema_editor.connection, step, plan=PLAN, phase=PHASE, index=index)\n\n\n"
                    "def backwards(apps, schema_editor):\n"
                    "    from migspec.frameworks.runtime import run_step\n\n"
                    "    for index, step in reversed(STEPS.items()):\n"
                    "        run_step(schema_editor.connection, step, plan=PLAN, phase=PHASE, index=index, "
                    "direction=\"down\")\n")
            ops.append("migrations.RunPython(forwards, backwards),")
        head = '"""' + "\n".join(doc) + '\n"""\n'
        module_imports = ["from django.db import migrations"]
        if k == 1:
            module_imports += [i for i in imports if i.strip() != "from django.db import migrations"]
            module_imports += helpers  # functions the state operations may name
        deps = literal([tuple(d) for d in previous])
        text = (head + "\n".join(module_imports) + "\n" + body + "\n\nclass Migration(migrations.Migration):\n"
                + ("    atomic = False\n" if not group.transactional else "")
                + f"    dependencies = {_indent(deps, 4).lstrip()}\n\n    operations = [\n"
                + "\n".join(_indent(o, 8) for o in ops) + "\n    ]\n")
        files[f"{mig_name}.py"] = text.replace("\n\n\n\n", "\n\n\n")
        previous = [(app, mig_name)]
    written = write(into, files)
    removed = remove_replaced(originals, into)
    runbook.append(f"python manage.py migrate {app} {previous[0][1]}")
    return Emitted(written, removed, tuple(runbook))

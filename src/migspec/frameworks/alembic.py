"""An Alembic project: its pending revisions as Alembic's offline mode renders them for PostgreSQL.

The config is ``alembic.ini`` in the project directory or ``--alembic-config``. Pending: the
revisions after production's ``alembic_version`` rows (the stats file's
``applied_migrations.alembic``, written by ``migspec measure``) or after ``--since REV``; with neither,
from base. Every head is upgraded, in the order Alembic itself runs them. The transactions are
Alembic's own (``BEGIN``/``COMMIT`` of the rendered script, ``autocommit_block()`` included). Code a
revision hands its connection to (a helper in another module) is unknown work that says so.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from migspec.errors import InputError
from migspec.frameworks import (FrameworkMigration, FrameworkOperation, Project, ProjectOptions, display_path,
                                run_driver)
from migspec.frameworks.pyast import read_python

_RUNNING = re.compile(r"^-- Running upgrade .*? -> (\S+)\s*$", re.MULTILINE)


def config_path(path: Path, given: str | None) -> Path:
    if given:
        return Path(given)
    return path if path.is_file() else path / "alembic.ini"


def _upgrade_line(path: str) -> int:
    try:
        tree = ast.parse(Path(path).read_text(encoding="utf-8"))
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
        return 1
    return next((n.lineno for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "upgrade"), 1)


def load_alembic(path: Path, options: ProjectOptions) -> Project:
    ini = config_path(path, options.alembic_config)
    if not ini.is_file():
        raise InputError(f"{ini}: no such Alembic config file")
    root = ini.resolve().parent if path.is_file() or options.alembic_config else path.resolve()
    if len(options.since) > 1:
        raise InputError("--since: give one Alembic revision")
    request = {"project": str(root), "config": str(ini.resolve()),
               "applied": list(options.applied) if options.applied is not None else None,
               "since": list(options.since) or None}
    answer = run_driver("_alembic_driver.py", request, python=options.python, cwd=root,
                        what="Alembic's offline mode")
    notes = []
    if "offline_failed" in answer:
        answer = _on_throwaway_server(request, options, root, answer["offline_failed"])
        notes.append("Alembic's offline mode cannot render these revisions (they read through op.get_bind()): "
                     "they ran on a throwaway PostgreSQL upgraded to production's revisions, every statement recorded")
    if not answer.get("applied_known"):
        notes.append("no record of the revisions applied in production (measure the project's database, or give "
                     "--since): every revision from base is read")
    revisions = answer["revisions"]
    if not revisions:
        return Project("alembic", root, (), answer.get("version", ""), tuple(notes))
    by_id = {r["revision"]: r for r in revisions}
    ops: dict[str, list[FrameworkOperation]] = {r["revision"]: [] for r in revisions}
    current = revisions[0]["revision"]

    def framework(text: str, rev: str) -> None:
        if not text.strip():
            return
        file = by_id[rev]["file"]
        ops[rev].append(FrameworkOperation(display_path(file, root), _upgrade_line(file), 1,
                                           f"alembic: transaction and version bookkeeping of revision {rev}",
                                           sql=(text,)))

    for chunk in answer["chunks"]:
        if chunk.get("framework"):
            pos = 0
            for m in _RUNNING.finditer(chunk["sql"]):
                framework(chunk["sql"][pos:m.start()], current)
                current, pos = m.group(1), m.end()
            framework(chunk["sql"][pos:], current)
            continue
        rev = chunk.get("revision") or current
        source = _source_line(chunk["file"], chunk["line"]) or chunk["kind"]
        ops[rev].append(FrameworkOperation(display_path(chunk["file"], root), chunk["line"], 1, source,
                                           sql=(chunk["sql"],)))
    migrations = []
    for r in revisions:
        file = display_path(r["file"], root)
        # What the offline render cannot show: code the revision hands its connection to.
        for a in read_python(r["file"], function="upgrade", line=None, models={}, atomic=True, display=file):
            if a.via == "call" and a.opaque:
                # After the last rendered operation at or above the call, inside the revision's transaction.
                listed = ops[r["revision"]]
                at = max((i + 1 for i, o in enumerate(listed)
                          if not o.source.startswith("alembic:") and o.line <= a.line), default=min(1, len(listed)))
                listed.insert(at, FrameworkOperation(a.file, a.line, a.col, a.source, opaque=a.opaque))
        down = r.get("down_revision")
        downs = tuple((d,) for d in ([down] if isinstance(down, str) else down or []))
        migrations.append(FrameworkMigration(r["revision"], file, _upgrade_line(r["file"]), True,
                                             tuple(ops[r["revision"]]), framework_sql=True, dependencies=downs,
                                             path=r["file"]))
    return Project("alembic", root, tuple(migrations), answer.get("version", ""), tuple(notes))


def _on_throwaway_server(request: dict, options: ProjectOptions, root: Path, why: str) -> dict:
    from migspec.frameworks import throwaway_database
    from migspec.pgserver import ServerError

    try:
        with throwaway_database("migspec_alembic") as live:
            return run_driver("_alembic_driver.py", {**request, "server": live}, python=options.python, cwd=root,
                              what="Alembic on a throwaway server")
    except ServerError as exc:
        raise InputError(f"{why}; and no throwaway server to run it on: {str(exc).splitlines()[0]}") from None


def _source_line(path: str, line: int) -> str:
    """The statement at ``line`` of ``path`` (a whole ``op.*(...)`` call), on one line."""
    try:
        text = Path(path).read_text(encoding="utf-8")
        tree = ast.parse(text)
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
        return ""
    best = None
    for node in ast.walk(tree):
        if isinstance(node, ast.stmt) and not isinstance(node, (ast.FunctionDef, ast.With, ast.ClassDef)) \
                and node.lineno <= line <= (node.end_lineno or node.lineno):
            best = node
    segment = ast.get_source_segment(text, best) if best is not None else None
    return " ".join((segment or "").split())

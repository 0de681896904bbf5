"""A Django project: its pending migrations with the SQL Django's schema editor writes for them.

The settings module comes from ``--django-settings`` or from ``manage.py``'s
``os.environ.setdefault("DJANGO_SETTINGS_MODULE", ...)`` line, the way ``manage.py`` itself finds it.
Which migrations are pending: those not in production's ``django_migrations`` (the stats file's
``applied_migrations.django``, written by ``migspec measure``), or those after ``--since
app.migration``; with neither, every migration (a note says so). ``RunPython`` code is read by
:mod:`migspec.frameworks.pyast`; an operation whose SQL Django writes only against a live schema is
unknown work that says so.
"""

from __future__ import annotations

import re
from pathlib import Path

from migspec.errors import InputError
from migspec.frameworks import (FrameworkMigration, FrameworkOperation, Project, ProjectOptions, display_path,
                                run_driver)
from migspec.frameworks.pyast import read_python

_SETTINGS = re.compile(r"""DJANGO_SETTINGS_MODULE['"]\s*,\s*['"]([\w.]+)['"]""")


def settings_module(root: Path, given: str | None) -> str:
    if given:
        return given
    manage = root / "manage.py"
    try:
        match = _SETTINGS.search(manage.read_text(encoding="utf-8"))
    except OSError:
        match = None
    if not match:
        raise InputError(f"{root}: cannot find the settings module in manage.py: give --django-settings MODULE")
    return match.group(1)


def load_django(root: Path, options: ProjectOptions) -> Project:
    if not root.is_dir():
        raise InputError(f"{root}: not a directory (a Django project is the directory holding manage.py)")
    applied = None
    if options.applied is not None:
        applied = [list(a.split(".", 1)) for a in options.applied if "." in a]
    request = {"project": str(root.resolve()), "settings": settings_module(root, options.django_settings),
               "applied": applied, "since": list(options.since) or None, "pg_version": options.pg_version}
    answer = run_driver("_django_driver.py", request, python=options.python, cwd=root.resolve(),
                        what="Django's migration loader")
    notes = []
    if any(op.get("needs_database") for m in answer["migrations"] for op in m["operations"]
           if op["kind"] != "RunPython" and op.get("needs_database") != _NOT_SQL):
        answer, note = _with_throwaway_server(request, options, root, answer)
        notes.append(note)
    if not answer.get("applied_known"):
        notes.append("no record of the migrations applied in production (measure the project's database, or "
                     "give --since): every migration is read")
    widened = [op["auto_field_widened"] for m in answer["migrations"] for op in m["operations"]
               if op.get("auto_field_widened")]
    if widened:
        notes.append(f"DEFAULT_AUTO_FIELD switch: {len(widened)} primary key(s) AutoField -> BigAutoField "
                     f"({', '.join(widened[:5])}{', ...' if len(widened) > 5 else ''}): Django rewrites each table "
                     "and every table whose foreign keys point at it, under ACCESS EXCLUSIVE")
    migrations = []
    for m in answer["migrations"]:
        file = display_path(m["file"], root)
        ops: list[FrameworkOperation] = []
        for op in m["operations"]:
            base = dict(file=file, line=op["line"], col=op["col"], source=op["source"])
            if op["kind"] == "RunPython":
                ops.extend(_run_python(op, m, root, base))
            elif op.get("needs_database"):
                ops.append(FrameworkOperation(**base, opaque=f"{op['kind']} whose SQL Django writes only against a "
                                                             f"live database ({op['needs_database']})"))
            else:
                ops.append(FrameworkOperation(**base, sql=tuple(op["sql"])))
        migrations.append(FrameworkMigration(f"{m['app']}.{m['name']}", file, m["line"], m["atomic"], tuple(ops),
                                             dependencies=tuple(tuple(d) for d in m.get("dependencies", ())),
                                             path=m["file"]))
    return Project("django", root, tuple(migrations), answer.get("version", ""), tuple(notes))


_NOT_SQL = "this operation cannot be written as SQL"


def _with_throwaway_server(request: dict, options: ProjectOptions, root: Path, offline: dict) -> tuple[dict, str]:
    """Some operations write their SQL only against a live schema (AlterField of a primary key looks
    up the foreign keys pointing at it): run the applied migrations on a throwaway server, then
    collect the pending ones' SQL there, as ``sqlmigrate`` would against production."""
    from migspec.frameworks import throwaway_database
    from migspec.pgserver import ServerError

    try:
        with throwaway_database("migspec_django") as live:
            answer = run_driver("_django_driver.py", {**request, "server": live}, python=options.python,
                                cwd=root.resolve(), what="Django's migration loader on a throwaway server")
    except ServerError as exc:
        first = str(exc).splitlines()[0]
        return offline, f"no throwaway server for the operations that need a database ({first}): unknown work"
    return answer, (f"some operations' SQL needs the live schema: Django wrote it against a throwaway "
                    f"PostgreSQL {live['version']} migrated to production's applied migrations")


def _run_python(op: dict, m: dict, root: Path, base: dict) -> list[FrameworkOperation]:
    code = op.get("code") or {}
    if code.get("name") == "RunPython.noop":
        return []
    atomic = m["atomic"] if op.get("atomic") is None else bool(op["atomic"]) or m["atomic"]
    if not code.get("file"):
        return [FrameworkOperation(**base, opaque=f"RunPython({code.get('name')}): no Python source to read")]
    actions = read_python(code["file"], function=code["name"], line=code["line"], models=op.get("models") or {},
                          atomic=atomic, display=display_path(code["file"], root))
    out = []
    for a in actions:
        origin = f"{base['source'][:60]} -> {a.source}"
        out.append(FrameworkOperation(a.file, a.line, a.col, origin, sql=(a.sql,) if a.sql else (),
                                      opaque=a.opaque or ""))
    return out

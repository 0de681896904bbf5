"""Framework projects (Django, Alembic) read as they are: their pending migrations, the SQL the
framework itself renders for PostgreSQL, and every statement placed at the Python line that makes it.

Data flows one way, as for SQL files: project -> :class:`Project` (framework migrations with the SQL
of each operation) -> :class:`migspec.parse.source.Migration` (statements located in the ``.py``
files, ``origin`` naming the operation) -> lint / plan, unchanged.

The framework runs in a subprocess with the project's own interpreter and ``sys.path``
(``_django_driver.py``, ``_alembic_driver.py``: standard library + the framework only), so the
project's imports never load into migspec's process.

This module tells a project from SQL files (``detect``, ``read_migration``); reading a project is
``migspec.frameworks.project``, imported when a project is read (its names are also reachable
from here): linting .sql files never loads it (issue 16: lint imports only what it uses).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from migspec.errors import EXIT_OK, InputError, MigspecError
from migspec.frozen import frozen, replace

if TYPE_CHECKING:
    from migspec.frameworks.project import Project
    from migspec.parse.source import Migration
    from migspec.stats import Stats  # noqa: F401


@frozen
class ProjectOptions:
    """What the command line (or ``[tool.migspec]``) says about a project."""

    django_settings: str | None = None
    alembic_config: str | None = None
    since: tuple[str, ...] = ()  # Django "app.migration" (repeatable) or an Alembic revision
    applied: tuple[str, ...] | None = None  # recorded in production (the stats file's 'applied_migrations')
    python: str | None = None  # the project's interpreter (default: migspec's)
    pg_version: int = 16
    kind: str | None = None  # "django" / "alembic" / "sql" when the user says so ([tool.migspec] kind)


def detect(path: str | os.PathLike[str], options: ProjectOptions) -> str | None:
    """``django`` / ``alembic`` when ``path`` is such a project (or the options say so), else None."""
    from migspec.paths import is_dir, is_file, name

    if options.kind:
        return None if options.kind == "sql" else options.kind
    if options.alembic_config:
        return "alembic"
    if options.django_settings:
        return "django"
    # migspec.paths, not pathlib: lint asks this of every path it is given (issue 16).
    try:
        if is_dir(path) and is_file(os.path.join(path, "manage.py")):
            return "django"
        if is_dir(path) and is_file(os.path.join(path, "alembic.ini")):
            return "alembic"
        if is_file(path) and name(path) == "alembic.ini":
            return "alembic"
    except OSError:  # a name the OS refuses (too long, no permission): reading the files says so, exit 2
        return None
    return None


def read_migration(paths: list[str], *, stats: "Stats", django_settings: str | None = None,
                   alembic_config: str | None = None, since: tuple[str, ...] = (), python: str | None = None,
                   pg_version: int | None = None, kind: str | None = None,
                   runnable: bool = False) -> tuple[Migration, tuple[str, ...], Project | None]:
    """SQL files as they are, or a framework project's pending migrations; notes for the user; the project."""
    from migspec.parse.source import load_migration

    options = ProjectOptions(django_settings=django_settings, alembic_config=alembic_config, since=since,
                             python=python, pg_version=pg_version or stats.pg_version or 16, kind=kind)
    kind = detect(paths[0], options) if len(paths) == 1 else None
    if kind is None:
        if django_settings or alembic_config or since:
            raise InputError("--django-settings, --alembic-config and --since need one project directory")
        return load_migration(paths), (), None
    recorded = stats.applied_migrations.get(kind)
    if recorded is not None and not since:
        options = replace(options, applied=tuple(recorded))
    from migspec.frameworks.project import load_project, to_migration

    project = load_project(paths[0], options)
    if not project.migrations:
        raise NothingPending(f"{paths[0]}: no pending {kind} migrations")
    return to_migration(project, runnable=runnable), project.notes, project


class NothingPending(MigspecError):
    """Every migration of the project is already applied: nothing to lint or plan (exit 0)."""

    exit_code = EXIT_OK


#: Reading a project (migspec.frameworks.project), imported on first use of one of its names.
_PROJECT = ("ORIGIN_CHARS", "FrameworkMigration", "FrameworkOperation", "Project", "display_path", "load_project",
            "run_driver", "throwaway_database", "to_migration")


def __getattr__(name: str) -> Any:
    if name in _PROJECT:
        from migspec.frameworks import project

        return getattr(project, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

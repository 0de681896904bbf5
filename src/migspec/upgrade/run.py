"""The ``migspec upgrade django|sqlalchemy`` commands as library calls: options in, rendered plan out."""

from __future__ import annotations

import shlex
from pathlib import Path

from migspec import policy
from migspec.errors import InputError
from migspec.stats import Stats, load_stats
from migspec.upgrade import django, sqlalchemy
from migspec.upgrade.render import RENDERERS


def _project(path: str) -> Path:
    project = Path(path)
    if not project.is_dir():
        raise InputError(f"{path}: not a directory")
    return project.resolve()


def _stats(stats_path: str | None, pg_version: int | None) -> tuple[Stats | None, int | None]:
    """The stats file, if any, and the server version: ``--pg-version`` wins over the stats file's
    (``migspec measure`` records it)."""
    stats = load_stats(stats_path) if stats_path else None
    if pg_version is not None and pg_version < 9:
        raise InputError(f"--pg-version {pg_version}: not a PostgreSQL major version")
    return stats, pg_version if pg_version is not None else stats.pg_version if stats else None


def upgrade_django(project: str, target: str, *, fmt: str = "text", python: str | None = None,
                   target_python: str | None = None, current: str | None = None, stats: str | None = None,
                   pg_version: int | None = None, run_tests: bool = False, settings: str | None = None,
                   contract_after_days: int = policy.CONTRACT_AFTER_DAYS) -> str:
    stats_file, server = _stats(stats, pg_version)
    opts = django.DjangoOptions(target=target, python=python, target_python=target_python, current=current,
                                pg_version=server, stats=stats_file, run_tests=run_tests, settings=settings,
                                contract_after_days=contract_after_days)
    report = django.measure(_project(project), opts)
    return RENDERERS[fmt](django.build_plan(report, contract_after_days), report)


def upgrade_sqlalchemy(project: str, target: str, *, fmt: str = "text", python: str | None = None,
                       target_python: str | None = None, current: str | None = None, run_tests: bool = False,
                       test_command: str | None = None, contract_after_days: int = policy.CONTRACT_AFTER_DAYS) -> str:
    command = tuple(shlex.split(test_command)) if test_command else sqlalchemy.SQLAlchemyOptions().test_command
    opts = sqlalchemy.SQLAlchemyOptions(target=target, python=python, target_python=target_python, current=current,
                                        run_tests=run_tests, test_command=command,
                                        contract_after_days=contract_after_days)
    report = sqlalchemy.measure(_project(project), opts)
    return RENDERERS[fmt](sqlalchemy.build_plan(report, contract_after_days), report)

"""``[tool.migspec]`` in pyproject.toml: the settings a team keeps with its code, for CI and hooks.

    [tool.migspec]
    project = "."                  # what 'migspec lint' / 'plan' read when no PATH is given
    kind = "django"                # "django", "alembic" or "sql": say what PROJECT is
    stats = "ops/stats.yaml"       # the stats file (paths are relative to pyproject.toml)
    fail-on = "red"                # lint's exit-1 threshold
    django-settings = "site.settings"
    alembic-config = "alembic.ini"
    python = ".venv/bin/python"    # the project's interpreter
    pg-version = 16
    ignore = [{rule = "renaming-column", reason = "nothing reads these tables yet"}]

The command line wins over the file. An ignored rule needs a reason, as an inline directive does;
its findings stay in the output marked allowed, with that reason.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from migspec.errors import InputError
from migspec.frozen import frozen, replace

if TYPE_CHECKING:
    from pathlib import Path

KINDS = ("django", "alembic", "sql")
FAIL_ON = ("green", "yellow", "red")
_KEYS = {"project", "kind", "stats", "fail-on", "django-settings", "alembic-config", "python", "pg-version", "ignore"}


@frozen
class Config:
    """The [tool.migspec] table of the project's pyproject.toml."""

    origin: str = ""  # the pyproject.toml read, or "" when none
    project: str | None = None
    kind: str | None = None
    stats: str | None = None
    fail_on: str | None = None
    django_settings: str | None = None
    alembic_config: str | None = None
    python: str | None = None
    pg_version: int | None = None
    ignore: tuple[tuple[str, str], ...] = ()  # (rule, reason)


def find_pyproject(start: str | os.PathLike[str]) -> str | None:
    """The nearest pyproject.toml with a [tool.migspec] table, from ``start`` (an absolute
    directory) up to the root. With os.path, not pathlib: lint runs this at every start (issue 16)."""
    directory = os.fspath(start)
    while True:
        candidate = os.path.join(directory, "pyproject.toml")
        if os.path.isfile(candidate):
            try:
                with open(candidate, encoding="utf-8") as fh:  # noqa: PTH123 - see the docstring
                    if "[tool.migspec]" in fh.read():
                        return candidate
            except (OSError, UnicodeDecodeError):
                pass
        parent = os.path.dirname(directory)
        if parent == directory:
            return None
        directory = parent


def _text(table: dict[str, Any], key: str, origin: str, choices: tuple[str, ...] | None = None) -> str | None:
    value = table.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or (choices and value not in choices):
        expected = f"one of {', '.join(choices)}" if choices else "a string"
        raise InputError(f"{origin}: [tool.migspec] {key}: must be {expected}, not {value!r}")
    return value


def load_config(path: str | os.PathLike[str]) -> Config:
    import tomllib  # here: only a project with a [tool.migspec] table pays for it (issue 16)
    from pathlib import Path

    path = Path(path)

    origin = str(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{origin}: cannot read: {getattr(exc, 'strerror', None) or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{origin}: malformed TOML: {exc}") from None
    table = data.get("tool", {}).get("migspec", {})
    if not isinstance(table, dict):
        raise InputError(f"{origin}: [tool.migspec] must be a table")
    unknown = sorted(set(table) - _KEYS)
    if unknown:
        raise InputError(f"{origin}: [tool.migspec] {unknown[0]}: unknown key (expected one of {', '.join(sorted(_KEYS))})")
    base = path.parent

    def rel(value: str | None) -> str | None:
        return None if value is None else str(base / value)

    ignore = []
    raw_ignore = table.get("ignore", [])
    if not isinstance(raw_ignore, list):
        raise InputError(f"{origin}: [tool.migspec] ignore: must be a list of {{rule = ..., reason = ...}}")
    from migspec.rules import rule_names

    known = rule_names()
    for i, item in enumerate(raw_ignore):
        rule = item.get("rule") if isinstance(item, dict) else None
        reason = (item.get("reason") or "").strip() if isinstance(item, dict) else ""
        if rule not in known:
            from migspec.suggest import did_you_mean

            raise InputError(f"{origin}: [tool.migspec] ignore[{i}]: unknown rule {rule!r}"
                             f"{did_you_mean(str(rule), known)} (see 'migspec rules')")
        if not reason:
            raise InputError(f"{origin}: [tool.migspec] ignore[{i}] ({rule}): needs a reason = \"<why>\"")
        ignore.append((rule, reason))
    version = table.get("pg-version")
    if version is not None and (isinstance(version, bool) or not isinstance(version, int)):
        raise InputError(f"{origin}: [tool.migspec] pg-version: must be a whole number, not {version!r}")
    python = _text(table, "python", origin)
    return Config(origin, rel(_text(table, "project", origin)), _text(table, "kind", origin, KINDS),
                  rel(_text(table, "stats", origin)), _text(table, "fail-on", origin, FAIL_ON),
                  _text(table, "django-settings", origin),
                  rel(_text(table, "alembic-config", origin)),
                  rel(python) if python and "/" in python else python, version, tuple(ignore))


def discover(start: str | os.PathLike[str] | None = None) -> Config:
    path = find_pyproject(os.path.realpath(start or os.getcwd()))  # Path.resolve() is realpath
    return load_config(path) if path else Config()


def apply_ignores(report, config: Config):  # type: ignore[no-untyped-def]
    """The report with findings of ignored rules marked allowed, with the configured reason."""
    if not config.ignore:
        return report
    reasons = dict(config.ignore)
    results = []
    for r in report.results:
        findings = tuple(replace(f, suppressed=f.suppressed or f"{reasons[f.rule]} ({config.origin})")
                         if f.rule in reasons else f for f in r.findings)
        results.append(replace(r, findings=findings))
    return replace(report, results=tuple(results))


def merge_args(args, config: Config) -> None:  # type: ignore[no-untyped-def]
    """Fill what the command line left unsaid from ``[tool.migspec]`` (the command line wins)."""
    if not args.paths and not getattr(args, "target", None):  # plan --target reads no migration
        if not config.project:
            raise InputError(f"{args.command}: name the migration (SQL files or a project directory), or set "
                             "project in [tool.migspec] of pyproject.toml")
        args.paths = [config.project]
    args.stats = args.stats or config.stats
    if hasattr(args, "fail_on"):
        args.fail_on = args.fail_on or config.fail_on or "yellow"
    args.django_settings = args.django_settings or config.django_settings
    args.alembic_config = args.alembic_config or config.alembic_config
    args.project_python = args.project_python or config.python
    args.pg_version = args.pg_version or config.pg_version
    args.project_kind = config.kind

"""Which tables to measure: named on the command line, or the ones a migration touches."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from migspec.analysis import analyze
from migspec.errors import InputError
from migspec.names import QualifiedName
from migspec.parse.source import load_migration
from migspec.stats import Stats
from migspec.versions import DEFAULT_VERSION


def split_table_list(text: str) -> list[str]:
    """``a, "B,c".d`` -> ``['a', '"B,c".d']``: commas inside double quotes do not split."""
    parts: list[str] = []
    buf: list[str] = []
    quoted = False
    for ch in text:
        if ch == '"':
            quoted = not quoted
        if ch == "," and not quoted:
            parts.append("".join(buf))
            buf = []
        else:
            buf.append(ch)
    parts.append("".join(buf))
    return [p.strip() for p in parts if p.strip()]


def parse_table_list(texts: Iterable[str]) -> list[QualifiedName]:
    """``--tables`` values (each a comma-separated list) -> names; a bare name means ``public``."""
    names: list[QualifiedName] = []
    for text in texts:
        for part in split_table_list(text):
            try:
                names.append(QualifiedName.parse(part))
            except ValueError as exc:
                raise InputError(f"--tables: {exc}") from None
    return list(dict.fromkeys(names))


def tables_of_migration(paths: Sequence[str | Path], *, dsn: str | None = None) -> list[QualifiedName]:
    """The pre-existing tables a migration touches, exactly the set ``lint`` asks measurements for:
    a table created earlier in the migration (or dropped earlier) needs none.

    A Django or Alembic project (one directory) is read as ``lint`` reads it: its migrations not yet
    recorded in the database at ``dsn`` (read-only: django_migrations / alembic_version)."""
    from migspec.frameworks import NothingPending, ProjectOptions, detect, read_migration

    if len(paths) == 1 and dsn and detect(paths[0], ProjectOptions()):
        from migspec.measure.connection import connect
        from migspec.measure.frameworks import applied_migrations

        with connect(dsn) as conn:
            applied, _ = applied_migrations(conn)
        try:
            migration, _, _ = read_migration([str(paths[0])], stats=Stats(applied_migrations={
                k: tuple(v) for k, v in applied.items()}))
        except NothingPending:
            return []
    else:
        migration = load_migration(paths)
    touched: dict[QualifiedName, None] = {}
    # The version changes locks and work, not which tables an operation touches.
    for item, schema in analyze(migration, version=DEFAULT_VERSION, stats=Stats()):
        if item.new_table:
            continue
        for name in item.op.tables:
            if not schema.is_new(name) and name not in schema.dropped:
                touched.setdefault(name, None)
    return list(touched)

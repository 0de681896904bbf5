"""Reading a Django or Alembic project: its pending migrations as the framework renders them
(``load_project``, run through the framework's own driver in the project's interpreter), and as one
migspec migration with every statement placed at the operation that makes it (``to_migration``)."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from migspec.errors import InputError
from migspec.frameworks import ProjectOptions, detect
from migspec.frozen import field, frozen
from migspec.names import quote_ident
from migspec.parse.source import Location, Migration, Placeholder, Statement, parse_text
from migspec.stats import BOOKKEEPING_TABLES

#: How much of an operation's source a finding quotes.
ORIGIN_CHARS = 120


@frozen
class FrameworkOperation:
    """One operation of a migration (a Django operation, an Alembic ``op.*`` call, a data change)."""

    file: str  # as findings show it: relative to the project when inside it
    line: int
    col: int
    source: str  # the user's code, on one line
    sql: tuple[str, ...] = ()
    opaque: str = ""  # non-empty: work migspec cannot see, and why


@frozen
class FrameworkMigration:
    key: str  # "shop.0002_order_status" (Django) or a revision id (Alembic)
    file: str
    line: int
    atomic: bool  # the framework runs it in one transaction
    operations: tuple[FrameworkOperation, ...]
    framework_sql: bool = False  # operations' SQL already holds the framework's BEGIN/COMMIT
    #: what it runs after: Django ("app", "name") pairs; Alembic down revisions (one element each)
    dependencies: tuple[tuple[str, ...], ...] = ()
    path: str = ""  # the file, absolute


@frozen
class Project:
    kind: str  # "django" | "alembic"
    root: Path
    migrations: tuple[FrameworkMigration, ...]
    framework_version: str = ""
    notes: tuple[str, ...] = field(default=())

    @property
    def name(self) -> str:
        return f"{self.root.resolve().name} ({self.kind}, {len(self.migrations)} pending migration(s))"


def display_path(path: str | None, root: Path) -> str:
    """A path as findings show it: relative to the working directory when inside it (so CI
    annotations and SARIF land on the repository's file), else to the project root."""
    if not path:
        return str(root)
    for base in (Path.cwd(), root):
        try:
            return str(Path(path).resolve().relative_to(base.resolve()))
        except ValueError:
            continue
    return str(path)


def run_driver(driver: str, request: dict, *, python: str | None, cwd: Path, what: str) -> dict:
    """Run a framework driver in its own interpreter; its JSON answer, or a one-line InputError."""
    import subprocess  # here, not at import: linting .sql files never runs a driver

    script = Path(__file__).with_name(driver)
    env = {k: v for k, v in os.environ.items() if k not in ("PGPASSWORD",)}
    env["PYTHONPATH"] = os.pathsep.join([str(cwd), *filter(None, [env.get("PYTHONPATH")])])
    try:
        done = subprocess.run([python or sys.executable, str(script)], input=json.dumps(request), cwd=cwd,
                              capture_output=True, text=True, env=env, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise InputError(f"{cwd}: cannot run {what}: {exc}") from None
    try:
        answer = json.loads(done.stdout) if done.stdout.strip() else None
    except json.JSONDecodeError:
        answer = None
    if not isinstance(answer, dict):
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise InputError(f"{cwd}: {what} failed: {last}")
    if "error" in answer:
        raise InputError(f"{cwd}: {answer['error']}")
    return answer


@contextlib.contextmanager
def throwaway_database(name: str) -> Iterator[dict[str, str | None]]:
    """A new database on a throwaway server (migspec.pgserver), as the drivers' ``server`` request:
    host, port, user, dbname (no password: the server trusts its local connections). The server and
    its files are gone after the block. ``ServerError`` when no PostgreSQL server programs exist."""
    import psycopg

    from migspec.pgserver import start_server

    with start_server() as server:
        with psycopg.connect(server.dsn, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {quote_ident(name)}")
        info = psycopg.conninfo.conninfo_to_dict(server.dsn_for(name))
        yield {"host": info.get("host"), "port": info.get("port"), "user": info.get("user"), "dbname": name,
               "version": str(server.version_num // 10000)}


def _has_unknown_values(stmt: Statement) -> bool:
    """``$n`` parameters: values (or conditions) Python code computes that migspec cannot read."""
    from migspec.parse.source import iter_nodes

    return any(type(node).__name__ == "ParamRef" for node in iter_nodes(stmt.node))


def _statements(op: FrameworkOperation, *, file_index: int, first: int, runnable: bool = False) -> list[Statement]:
    """The operation's SQL parsed, each statement placed at the operation's line in the .py file."""
    where = Location(op.file, op.line, op.col)
    origin = op.source if len(op.source) <= ORIGIN_CHARS else op.source[: ORIGIN_CHARS - 3] + "..."
    if op.opaque:
        return [Statement(op.source, where, Placeholder(op.opaque), first, file_index, origin=origin)]
    out: list[Statement] = []
    for text in op.sql:
        try:
            parsed = parse_text(text, op.file, file_index=file_index, first_index=first + len(out))
        except InputError as exc:
            raise InputError(f"{where}: the SQL the framework rendered for {origin} does not parse: {exc}") from None
        for stmt in parsed:
            if _bookkeeping(stmt):
                continue
            if runnable and _has_unknown_values(stmt):
                # A plan would run it: a statement with values only the Python code knows is a manual step.
                out.append(Statement(op.source, where, Placeholder(
                    f"{origin} (values or conditions computed in Python)"), first + len(out), file_index,
                    origin=origin))
                continue
            out.append(Statement(stmt.sql, where, stmt.tree, first + len(out), file_index, stmt.directives,
                                 origin=origin))
    return out


def _bookkeeping(stmt: Statement) -> bool:
    """A statement on the framework's own table (Alembic's version UPDATE): not the user's code."""
    from migspec.parse.source import iter_nodes

    for node in iter_nodes(stmt.node):
        if type(node).__name__ == "RangeVar" and node.relname in BOOKKEEPING_TABLES:
            return True
    return False


def to_migration(project: Project, *, runnable: bool = False) -> Migration:
    """The project's pending migrations as one migspec migration, in the order the framework runs them.

    ``runnable`` (for plans, which run what they read): statements whose values only the Python code
    knows become manual steps instead of SQL with ``$n`` parameters."""
    statements: list[Statement] = []

    def control(sql: str, m: FrameworkMigration, file_index: int) -> Statement:
        tree = parse_text(sql, m.file)[0].tree
        return Statement(sql, Location(m.file, m.line, 1), tree, len(statements), file_index,
                         origin=f"{m.key} (the framework's transaction)")

    for file_index, m in enumerate(project.migrations):
        wrap = m.atomic and not m.framework_sql
        if wrap:
            statements.append(control("BEGIN", m, file_index))
        for op in m.operations:
            statements.extend(_statements(op, file_index=file_index, first=len(statements), runnable=runnable))
        if wrap:
            statements.append(control("COMMIT", m, file_index))
    files = tuple(dict.fromkeys(m.file for m in project.migrations))
    return Migration(project.name, files, tuple(statements))


def load_project(path: str | Path, options: ProjectOptions) -> Project:
    kind = detect(path, options)
    if kind == "django":
        from migspec.frameworks.django import load_django

        return load_django(Path(path), options)
    if kind == "alembic":
        from migspec.frameworks.alembic import load_alembic

        return load_alembic(Path(path), options)
    raise InputError(f"{path}: not a Django project (no manage.py) nor an Alembic project (no alembic.ini)")

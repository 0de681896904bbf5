"""``migspec diff`` and ``plan --target``: read the current and the desired schema, diff them,
and hand the statements to the same pipeline as any migration.

A schema given as SQL (``--target DESIRED.sql``, ``--schema CURRENT.sql``: DDL or a
``pg_dump --schema-only`` file) is applied to its own database on one throwaway server
(:mod:`migspec.pgserver`, :func:`migspec.schema.applied.apply_ddl`) and read back by the catalog
loader (:func:`migspec.schema.catalog.load_catalog`), so PostgreSQL itself resolves every default,
type alias and expression. ``--dsn`` reads the live current schema instead, read-only
(:func:`migspec.schema.catalog.load_dsn`).
"""

from __future__ import annotations

import contextlib
import re
import secrets
import tempfile
from collections.abc import Callable, Iterator, Sequence

from pathlib import Path

from migspec.diff.differ import Diff, Rename, diff, schema_ddl
from migspec.errors import InputError, RefusedError
from migspec.frozen import record
from migspec.names import QualifiedName, quote_ident, split_name
from migspec.parse.source import Statement
from migspec.schema.ddl import ddl_statements
from migspec.schema.model import Schema

#: ``-- migspec:rename old=new`` in the desired schema: a rename the differ cannot infer.
_RENAME_COMMENT = re.compile(r"^\s*--\s*migspec:\s*rename\s+(\S+)\s*$", re.MULTILINE)


@record
class TargetDiff:
    diff: Diff
    current: Schema
    desired: Schema

    def check(self, *, accept_drops: bool) -> None:
        """Refuse (exit 3, one line) what the statements cannot carry: unsupported differences,
        and drops nobody confirmed."""
        d = self.diff
        if d.unsupported:
            raise RefusedError(f"{len(d.unsupported)} difference(s) migspec cannot turn into statements (nothing "
                               f"planned): {'; '.join(d.unsupported)}")
        if d.drops and not accept_drops:
            raise RefusedError(f"the desired schema lacks {len(d.drops)} table(s)/column(s) that nothing says were "
                               f"renamed, so a drop (and an add) is assumed: {', '.join(d.drops)}; name renames with "
                               "--rename OLD=NEW (or '-- migspec:rename OLD=NEW' in the desired schema), or pass "
                               "--accept-drops")


def statements_text(statements: Sequence[str]) -> str:
    return "".join(f"{s};\n\n" for s in statements)


def parse_rename(spec: str, current: Schema, renamed: dict[QualifiedName, QualifiedName] | None = None
                 ) -> Rename | None:
    """``old=new`` for a table (``[schema.]table``) or a column (``[schema.]table.column``); which
    one is decided by what the current schema holds. None: the current schema already has NEW and
    not OLD (the rename was applied: a ``-- migspec:rename`` comment outlives its rollout).
    ``renamed``: tables renamed by earlier specs, new name -> old (a column of a renamed table is
    named by the table's new name)."""
    renamed = renamed or {}
    left, eq, right = spec.partition("=")
    try:
        a, b = split_name(left), split_name(right)
    except ValueError:
        a = b = []
    if not eq or not a or not b or len(a) > 3 or len(b) > 3:
        raise InputError(f"--rename {spec!r}: expected OLD=NEW, e.g. users=accounts or users.mail=users.email")
    as_table = QualifiedName(*(a if len(a) == 2 else ["public", *a])) if len(a) <= 2 else None
    if as_table is not None and as_table in current.tables and len(b) == len(a):
        new = QualifiedName(*(b if len(b) == 2 else ["public", *b]))
        if new.schema != as_table.schema:
            raise InputError(f"--rename {spec!r}: a rename keeps the schema ({as_table.schema})")
        return Rename(as_table, None, new.name)
    if len(a) >= 2 and len(b) == len(a):
        table = QualifiedName(*(a[:-1] if len(a) == 3 else ["public", a[0]]))
        new_table = QualifiedName(*(b[:-1] if len(b) == 3 else ["public", b[0]]))
        was = current.tables.get(renamed.get(table, table))
        if was is not None and a[-1] in was.columns:
            if new_table != table:
                raise InputError(f"--rename {spec!r}: rename the table and the column separately")
            return Rename(table, a[-1], b[-1])
    if _exists(b, current) and not _exists(a, current):
        return None
    raise InputError(f"--rename {spec!r}: no such table or column in the current schema")


def _exists(parts: list[str], current: Schema) -> bool:
    if len(parts) <= 2 and QualifiedName(*(parts if len(parts) == 2 else ["public", *parts])) in current.tables:
        return True
    if len(parts) >= 2:
        table = current.tables.get(QualifiedName(*(parts[:-1] if len(parts) == 3 else ["public", parts[0]])))
        return table is not None and parts[-1] in table.columns
    return False


def renames_in(path: str) -> list[str]:
    """The ``-- migspec:rename OLD=NEW`` comments of a desired schema file."""
    return _RENAME_COMMENT.findall(_read(path))


def _read(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read: {getattr(exc, 'strerror', None) or exc}") from None


@contextlib.contextmanager
def scratch_server(major: int | None = None) -> Iterator[object]:
    """One throwaway server for both schemas, made from the cached initdb'd cluster on a tmpfs
    when there is one (:func:`migspec.pgserver.scratch_parent`); stopped and removed after,
    without waiting for it to go (:meth:`migspec.pgserver.Server.stop`: a detached reaper). The
    server starts in other processes (cp, pg_ctl), so the modules that apply and read the
    schemas are imported meanwhile (measured in bench/s_target.py)."""
    from concurrent.futures import ThreadPoolExecutor

    from migspec.pgserver import ServerError, find_bindir, scratch_parent, start_server

    with ThreadPoolExecutor(max_workers=1) as pool:
        starting = pool.submit(start_server, fast=True, major=major if major and find_bindir(major) else None,
                               template=True, parent=scratch_parent())
        import psycopg  # noqa: F401 - warm-up, see above

        import migspec.schema.applied  # noqa: F401
        import migspec.schema.catalog  # noqa: F401
        try:
            server = starting.result()
        except KeyboardInterrupt:  # Ctrl-C or SIGTERM while it starts: stopped once it is up
            starting.add_done_callback(_stop_started)
            raise
        except ServerError as exc:
            raise RefusedError(f"cannot start the throwaway PostgreSQL server the schemas are applied to: "
                               f"{str(exc).splitlines()[0]}") from None
    try:
        yield server
    finally:
        server.stop(wait=False)


def _stop_started(future) -> None:  # type: ignore[no-untyped-def]
    if future.exception() is None:
        future.result().stop(wait=False)


def schema_file_statements(path: str) -> list[Statement]:
    """The statements of one schema file (DDL, or a pg_dump --schema-only file) to apply; a file
    that does not parse, or has none, is bad input."""
    text = _RENAME_COMMENT.sub("", _read(path))  # ours, not a lint directive (line numbers kept)
    return ddl_statements(text, path)


def apply_schema(server, statements: list[Statement]) -> str:  # type: ignore[no-untyped-def]
    """Apply a schema file's statements to a new database on the throwaway ``server``; return the
    database's DSN. A statement that fails is bad input."""
    import psycopg

    from migspec.schema.applied import apply_statements

    name = f"migspec_diff_{secrets.token_hex(4)}"
    # FILE_COPY (15+): template1's files copied instead of written through the WAL, about half the
    # time on a throwaway server (bench/s_target.py); its checkpoints are cheap with fsync off.
    strategy = " STRATEGY FILE_COPY" if server.major >= 15 else ""
    with psycopg.connect(server.dsn, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {quote_ident(name)}{strategy}")
    dsn = server.dsn_for(name)
    apply_statements(dsn, statements)
    return dsn


def read_dsn(dsn: str, *, read_only: bool = True) -> Schema:
    """The schema behind ``dsn``: the user's database read-only, or a scratch one."""
    from migspec.schema.catalog import load_catalog, load_dsn

    if read_only:
        return load_dsn(dsn)
    import psycopg

    with psycopg.connect(dsn) as conn:
        return load_catalog(conn)


def live_major(dsn: str) -> int:
    from migspec.dsn import connect

    with contextlib.closing(connect(dsn, application_name="migspec diff")) as conn:
        row = conn.execute("SELECT current_setting('server_version_num')::int").fetchone()
    return int(row[0]) // 10000 if row else 0


def _read_both(server, target: list[Statement], schema: list[Statement] | None,  # type: ignore[no-untyped-def]
               dsn: str | None, meanwhile: Callable[[], object] = lambda: None) -> tuple[Schema, Schema]:
    """Apply and read the desired and the current schema (statements of
    :func:`schema_file_statements`, or the live ``dsn``) at the same time, each in its own
    database over its own connection (the statements and the catalog queries wait on the server,
    which has the cores; measured in bench/s_target.py). The desired schema's error is the one
    reported when both fail, as when they ran one after the other. ``meanwhile`` runs in this
    thread while they wait (the caller's imports)."""
    from concurrent.futures import ThreadPoolExecutor

    def applied(statements: list[Statement]) -> Schema:
        return read_dsn(apply_schema(server, statements), read_only=False)

    pool = ThreadPoolExecutor(max_workers=2)
    wait = True
    try:
        want = pool.submit(applied, target)
        have = pool.submit(applied, schema) if schema is not None else pool.submit(read_dsn, dsn)
        meanwhile()
        return want.result(), have.result()
    except KeyboardInterrupt:
        # Ctrl-C or SIGTERM: no waiting for the statements in flight - stopping the server (the
        # caller's ``finally``) ends them, and their threads with them.
        wait = False
        raise
    finally:
        pool.shutdown(wait=wait, cancel_futures=not wait)


def target_diff(target: str, *, schema: str | None = None, dsn: str | None = None,
                renames: Sequence[str] = (), meanwhile: Callable[[], object] = lambda: None) -> TargetDiff:
    """Diff the current schema (``schema`` file or live ``dsn``, read-only) against ``target``;
    ``meanwhile`` runs while the server applies the schemas (``plan --target`` imports the planner)."""
    if (schema is None) == (dsn is None):
        raise InputError("--target needs the current schema: --schema CURRENT.sql or --dsn DSN (one of them)")
    specs = [*renames, *renames_in(target)]
    # Read before any server starts: a file that does not parse is bad input with nothing started.
    wanted, had = schema_file_statements(target), schema_file_statements(schema) if schema else None
    major = live_major(dsn) if dsn else None
    with scratch_server(major) as server:
        desired, current = _read_both(server, wanted, had, dsn, meanwhile)
    parsed: list[Rename] = []
    renamed: dict[QualifiedName, QualifiedName] = {}
    def names_a_table(spec: str) -> bool:
        try:
            return _exists(split_name(spec.partition("=")[0])[:2], current) and spec.partition("=")[0].count(".") < 2
        except ValueError:
            return False

    for spec in sorted(specs, key=lambda s: not names_a_table(s)):  # tables first
        r = parse_rename(spec, current, renamed)
        if r is not None:
            parsed.append(r)
            if r.column is None:
                renamed[r.table.sibling(r.new)] = r.table
    return TargetDiff(diff(current, desired, parsed), current, desired)


def target_migration(td: TargetDiff, target: str):  # type: ignore[no-untyped-def]
    """The diff's statements as a migration (one file named after the target)."""
    from migspec.parse.source import Migration, parse_text

    text = statements_text(td.diff.statements)
    name = f"{target} (diff)"
    return Migration(name, (name,), tuple(parse_text(text, name)), tuple(td.diff.notes))


def _diff_of(args, note, meanwhile: Callable[[], object] = lambda: None) -> TargetDiff:  # type: ignore[no-untyped-def]
    td = target_diff(args.target, schema=args.schema, dsn=args.dsn, renames=args.rename, meanwhile=meanwhile)
    td.check(accept_drops=args.accept_drops)
    for line in td.diff.notes:
        note(line)
    if td.diff.drops:
        note(f"assumed dropped, not renamed (--accept-drops): {', '.join(td.diff.drops)}")
    return td


def diff_text(args, note) -> str:  # type: ignore[no-untyped-def]
    """``migspec diff``: the statements, each ended by ``;`` (empty when the schemas are equal)."""
    return statements_text(_diff_of(args, note).diff.statements)


def _import_planner() -> None:
    """The planner's modules and renderers (about 0.5 s of imports), loaded while the server works."""
    import migspec.plan.builder  # noqa: F401
    import migspec.render.plan  # noqa: F401


def target_plan_inputs(args):  # type: ignore[no-untyped-def]
    """``plan --target``: the diff as a migration, and the current schema as a file (a
    ``NamedTemporaryFile``: deleted when closed or collected) for the planner's facts. The drops
    accepted are confirmed for the planner as ``--confirm`` would."""
    import sys

    if args.paths:
        raise InputError("plan: --target replaces the migration: name no PATH with it")
    if args.emit:
        raise InputError("plan: --emit writes a framework's migrations; --target has none to replace")
    td = _diff_of(args, lambda line: sys.stderr.write(f"migspec: note: {line}\n"), _import_planner)
    args.confirm = [*args.confirm, *td.diff.drops]
    holder = tempfile.NamedTemporaryFile("w", suffix=".sql", prefix="migspec-current-", encoding="utf-8")
    holder.write(statements_text(schema_ddl(td.current)))
    holder.flush()
    return target_migration(td, args.target), holder

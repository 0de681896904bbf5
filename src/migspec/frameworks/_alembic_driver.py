"""Runs inside the user's Alembic project (its interpreter, its sys.path), never imported by migspec.

Reads a JSON request on stdin, writes a JSON answer on stdout: the pending revisions rendered by
Alembic's offline mode (``alembic upgrade --sql``) for PostgreSQL, cut into the pieces each ``op.*``
call wrote, each placed at the revision file's line that made the call.

The project's env.py is not run (it may connect, read secrets, or configure logging): this driver
sets up the same offline MigrationContext env.py's ``run_migrations_offline`` does, with the
PostgreSQL dialect, and reads ``transaction_per_migration`` from env.py's text.
``op.get_bind()`` returns a connection that renders what is executed through it into the same
offline output (``op.execute``) and returns no rows - offline there are none to read.
Only the standard library, SQLAlchemy and Alembic are imported here.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import sys
import traceback

if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
    del sys.path[0]  # migspec's frameworks package holds an alembic.py that would shadow Alembic


def _fail(message: str) -> None:
    json.dump({"error": message}, sys.stdout)
    sys.exit(0)


class _NoRows:
    rowcount = 0

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(())

    def fetchall(self) -> list:
        return []

    def fetchone(self) -> None:
        return None

    def scalar(self) -> None:
        return None

    def scalars(self) -> "_NoRows":
        return self

    def all(self) -> list:
        return []

    def first(self) -> None:
        return None

    def mappings(self) -> "_NoRows":
        return self


class _RenderingBind:
    """What ``op.get_bind()`` returns offline: statements go to the offline output, no rows come back."""

    def __init__(self, operations, dialect) -> None:  # type: ignore[no-untyped-def]
        self._operations = operations
        self.dialect = dialect

    def execute(self, statement, parameters=None, *args, **kwargs):  # type: ignore[no-untyped-def]
        from sqlalchemy import text

        if isinstance(statement, str):
            statement = text(statement)
        if parameters and hasattr(statement, "bindparams") and isinstance(parameters, dict):
            statement = statement.bindparams(**parameters)
        self._operations.execute(statement)
        return _NoRows()

    def exec_driver_sql(self, statement, parameters=None, *args, **kwargs):  # type: ignore[no-untyped-def]
        from sqlalchemy import text

        self._operations.execute(text(statement))
        return _NoRows()


def _live_context(live, script, start, per_migration, buf, spans, depth, caller):  # type: ignore[no-untyped-def]
    """A throwaway server brought to production's revisions, whose connection writes every statement
    it runs (parameters merged) and every BEGIN/COMMIT into the same buffer offline mode would."""
    import psycopg
    from alembic.operations import Operations
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy import create_engine, event
    from sqlalchemy.engine import URL

    engine = create_engine(URL.create("postgresql+psycopg", username=live["user"], host=live["host"],
                                      port=int(live["port"]), database=live["dbname"]))
    conn = engine.connect()
    for head in start:  # production's schema, by Alembic itself
        pre = MigrationContext.configure(connection=conn, opts={
            "script": script, "fn": lambda rev, context, head=head: script._upgrade_revs(head, rev)})
        with Operations.context(pre), pre.begin_transaction():
            pre.run_migrations()
        conn.commit()

    def write(text: str) -> None:
        begin = buf.tell()
        buf.write(text)
        where = caller() if depth[0] == 0 else None
        if where is not None:  # run through op.get_bind() (or a helper given it), not an op.* call
            spans.append((begin, buf.tell(), where[0], where[1], "execute"))

    def on_execute(conn_, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        text = statement
        if parameters:
            text = psycopg.ClientCursor(cursor.connection).mogrify(statement, parameters)
        write(text.rstrip().rstrip(";") + ";\n\n")

    class Marker(logging.Handler):
        """Online, Alembic logs 'Running upgrade a -> b' where offline it writes it as a comment: the
        same marker in the buffer tells which revision the statements that follow belong to."""

        def emit(self, record: logging.LogRecord) -> None:
            m = re.match(r"Running upgrade (.*?) -> ([^,\s]+)", record.getMessage())
            if m:
                buf.write(f"-- Running upgrade {m.group(1)} -> {m.group(2)}\n\n")

    logger = logging.getLogger("alembic.runtime.migration")
    logger.addHandler(Marker())
    logger.setLevel(logging.INFO)
    logger.propagate = False
    event.listen(conn, "before_cursor_execute", on_execute)
    event.listen(conn, "begin", lambda c: buf.write("BEGIN;\n\n"))
    event.listen(conn, "commit", lambda c: buf.write("COMMIT;\n\n"))
    return MigrationContext.configure(connection=conn, opts={
        "script": script, "transaction_per_migration": per_migration,
        "fn": lambda rev, context: script._upgrade_revs("heads", rev)})


def main() -> None:
    request = json.load(sys.stdin)
    os.chdir(request["project"])
    try:
        from alembic.config import Config
        from alembic.operations import Operations
        from alembic.runtime.migration import MigrationContext
        from alembic.script import ScriptDirectory
        import alembic
    except ImportError as exc:
        _fail(f"Alembic is not importable by {sys.executable}: {exc}")
    ini = request["config"]
    if not os.path.isfile(ini):
        _fail(f"{ini}: no such Alembic config file")
    cfg = Config(ini)
    try:
        script = ScriptDirectory.from_config(cfg)
    except Exception as exc:
        _fail(f"{ini}: Alembic cannot read the script directory: {type(exc).__name__}: {exc}")
    env_text = ""
    try:
        with open(os.path.join(script.dir, "env.py"), encoding="utf-8") as fh:
            env_text = fh.read()
    except OSError:
        pass
    per_migration = bool(re.search(r"transaction_per_migration\s*=\s*True", env_text))
    sys.path.insert(0, os.path.dirname(os.path.abspath(ini)))

    applied = request.get("applied")
    since = request.get("since")
    start = list(since) if since else list(applied or [])
    try:
        for rev in start:
            script.get_revision(rev)
        heads = script.get_heads()
        steps = list(script._upgrade_revs("heads", tuple(start)))
    except Exception as exc:
        _fail(f"Alembic cannot order the revisions from {','.join(start) or 'base'}: {type(exc).__name__}: {exc}")
    files = {}
    for step in steps:
        files[os.path.abspath(step.revision.path)] = step.revision.revision
    buf = io.StringIO()
    spans = []  # (start, end, file, line, col, source)
    original_invoke = Operations.invoke
    depth = [0]

    def invoke(self, operation):  # type: ignore[no-untyped-def]
        depth[0] += 1
        begin = buf.tell()
        try:
            return original_invoke(self, operation)
        finally:
            depth[0] -= 1
            if depth[0] == 0:
                frame = sys._getframe(1)
                while frame is not None and os.path.abspath(frame.f_code.co_filename) not in files:
                    frame = frame.f_back
                if frame is not None:
                    path = os.path.abspath(frame.f_code.co_filename)
                    spans.append((begin, buf.tell(), path, frame.f_lineno, type(operation).__name__))

    Operations.invoke = invoke

    def caller() -> tuple[str, int] | None:
        frame = sys._getframe(2)
        while frame is not None and os.path.abspath(frame.f_code.co_filename) not in files:
            frame = frame.f_back
        return (os.path.abspath(frame.f_code.co_filename), frame.f_lineno) if frame is not None else None

    live = request.get("server")
    try:
        if live:
            ctx = _live_context(live, script, start, per_migration, buf, spans, depth, caller)
        else:
            ctx = MigrationContext.configure(dialect_name="postgresql", opts={
                "as_sql": True, "output_buffer": buf, "literal_binds": True, "script": script,
                "starting_rev": start or None, "destination_rev": "heads",
                "transaction_per_migration": per_migration,
                "fn": lambda rev, context: script._upgrade_revs("heads", rev)})
            Operations.get_bind = lambda self: _RenderingBind(self, ctx.dialect)
        with Operations.context(ctx):
            with ctx.begin_transaction():
                ctx.run_migrations()
    except Exception as exc:
        tb = traceback.extract_tb(exc.__traceback__)
        where = next((f"{f.filename}:{f.lineno}" for f in reversed(tb) if os.path.abspath(f.filename) in files),
                     ini)
        mode = "on a throwaway server" if live else "offline (--sql)"
        message = f"{where}: Alembic failed {mode}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        if live:
            _fail(message)
        json.dump({"offline_failed": message}, sys.stdout)  # migspec retries on a throwaway server
        sys.exit(0)
    text = buf.getvalue()
    chunks = []
    pos = 0
    for begin, end, path, line, kind in spans:
        if begin > pos:
            chunks.append({"sql": text[pos:begin], "framework": True})
        chunks.append({"sql": text[begin:end], "file": path, "line": line, "kind": kind,
                       "revision": files.get(path)})
        pos = end
    if pos < len(text):
        chunks.append({"sql": text[pos:], "framework": True})
    revisions = []
    for step in steps:
        rev = step.revision
        revisions.append({"revision": rev.revision, "file": os.path.abspath(rev.path),
                          "down_revision": rev.down_revision})
    json.dump({"framework": "alembic", "version": alembic.__version__, "chunks": chunks, "revisions": revisions,
               "heads": list(heads), "per_migration": per_migration,
               "applied_known": applied is not None or bool(since)}, sys.stdout)


if __name__ == "__main__":
    try:
        main()
    except SystemExit:
        raise
    except BaseException:
        traceback.print_exc()
        sys.exit(70)

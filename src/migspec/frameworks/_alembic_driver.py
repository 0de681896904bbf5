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
    ctx = MigrationContext.configure(dialect_name="postgresql", opts={
        "as_sql": True, "output_buffer": buf, "literal_binds": True, "script": script,
        "starting_rev": start or None, "destination_rev": "heads",
        "transaction_per_migration": per_migration,
        "fn": lambda rev, context: script._upgrade_revs("heads", rev)})
    Operations.get_bind = lambda self: _RenderingBind(self, ctx.dialect)
    try:
        with Operations.context(ctx):
            with ctx.begin_transaction():
                ctx.run_migrations()
    except Exception as exc:
        tb = traceback.extract_tb(exc.__traceback__)
        where = next((f"{f.filename}:{f.lineno}" for f in reversed(tb) if os.path.abspath(f.filename) in files),
                     ini)
        _fail(f"{where}: Alembic's offline mode (--sql) failed: {type(exc).__name__}: {exc}")
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

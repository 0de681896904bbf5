"""Runs inside the user's Django project (its interpreter, its sys.path), never imported by migspec.

Reads a JSON request on stdin, writes a JSON answer on stdout: every pending migration with, per
operation, the SQL Django's own schema editor collects for PostgreSQL (what ``sqlmigrate`` prints),
the operation's place in the .py file, and the facts migspec needs to read ``RunPython`` code.

No database is contacted: the schema editor runs with ``collect_sql=True``; the two places where
Django's PostgreSQL backend would still connect - the server version (features) and merging query
parameters client-side (``DatabaseOperations.compose_sql`` opens a cursor, Django 4.2-5.2) - are
answered offline; any other attempt to connect (an operation that introspects the live schema, e.g.
AlterUniqueTogether looking up a constraint's name) marks that operation ``needs_database``.
Only the standard library and Django are imported here: the user's interpreter may lack migspec's
dependencies.
"""

from __future__ import annotations

import ast
import inspect
import json
import os
import sys
import traceback

# This file's directory is migspec's frameworks package, whose django.py and alembic.py would shadow
# the real frameworks: the project's sys.path only.
if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
    del sys.path[0]


class NeedsDatabase(Exception):
    pass


def _fail(message: str) -> None:
    json.dump({"error": message}, sys.stdout)
    sys.exit(0)


def _operation_nodes(path: str) -> tuple[list[ast.expr], int, str]:
    """The elements of ``class Migration: operations = [...]`` in source order, the class line, text."""
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
        tree = ast.parse(text)
    except (OSError, SyntaxError, UnicodeDecodeError):
        return [], 1, ""
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == "Migration":
            for stmt in node.body:
                targets = stmt.targets if isinstance(stmt, ast.Assign) else \
                    [stmt.target] if isinstance(stmt, ast.AnnAssign) else []
                if any(isinstance(t, ast.Name) and t.id == "operations" for t in targets) and \
                        isinstance(stmt.value, (ast.List, ast.Tuple)):
                    return list(stmt.value.elts), node.lineno, text
            return [], node.lineno, text
    return [], 1, text


def _source_of(node: ast.expr | None, text: str, fallback: str) -> str:
    segment = ast.get_source_segment(text, node) if node is not None else None
    return " ".join((segment or fallback).split())


def _model_facts(state, app_label: str) -> dict:  # type: ignore[no-untyped-def]
    """model label -> db_table and field -> column, for reading ``apps.get_model(...)`` in RunPython."""
    out = {}
    for (app, name), model in state.models.items():
        table = model.options.get("db_table") or f"{app}_{name}"
        columns = {}
        pk = None
        for fname, field in model.fields.items():
            column = getattr(field, "db_column", None) or fname
            if getattr(field, "many_to_one", False) or getattr(field, "one_to_one", False):
                column = getattr(field, "db_column", None) or f"{fname}_id"
            if getattr(field, "many_to_many", False):
                continue
            columns[fname] = column
            if getattr(field, "primary_key", False):
                pk = column
        out[f"{app}.{name}"] = {"table": table, "columns": columns, "pk": pk or "id"}
    return out


def _auto_field_widened(operation, old_state, app_label: str) -> str | None:  # type: ignore[no-untyped-def]
    """``app.model.field`` when an AlterField turns an AutoField primary key into a BigAutoField
    (the DEFAULT_AUTO_FIELD switch of Django 3.2+ makes one per model)."""
    if type(operation).__name__ != "AlterField" or type(operation.field).__name__ != "BigAutoField":
        return None
    model = old_state.models.get((app_label, operation.model_name_lower))
    old = model.fields.get(operation.name) if model is not None else None
    if old is None or type(old).__name__ not in ("AutoField", "SmallAutoField"):
        return None
    return f"{app_label}.{operation.model_name_lower}.{operation.name}"


def _code_facts(func) -> dict | None:  # type: ignore[no-untyped-def]
    if func is None:
        return None
    try:
        path = inspect.getsourcefile(func)
        line = func.__code__.co_firstlineno
    except (TypeError, AttributeError):
        return {"name": getattr(func, "__qualname__", repr(func)), "file": None, "line": None}
    return {"name": getattr(func, "__qualname__", func.__name__), "file": path, "line": line}


def main() -> None:
    request = json.load(sys.stdin)
    os.chdir(request["project"])
    sys.path.insert(0, request["project"])
    if request.get("settings"):
        os.environ["DJANGO_SETTINGS_MODULE"] = request["settings"]
    if not os.environ.get("DJANGO_SETTINGS_MODULE"):
        _fail("no Django settings module: give --django-settings MODULE (or set DJANGO_SETTINGS_MODULE "
              "in manage.py the usual way)")
    try:
        import django
        from django.conf import settings
    except ImportError as exc:
        _fail(f"Django is not importable by {sys.executable}: {exc}")
    try:
        databases = settings.DATABASES
    except Exception as exc:  # the user's settings module failed to import
        _fail(f"cannot import settings {os.environ['DJANGO_SETTINGS_MODULE']!r}: {type(exc).__name__}: {exc}")
    alias = request.get("database") or "default"
    engine = (databases.get(alias) or {}).get("ENGINE", "")
    # The SQL must be PostgreSQL's whatever the development settings use; a PostgreSQL-family engine
    # (PostGIS, a zero-downtime backend) is kept because it changes the SQL emitted.
    if "postg" not in engine:
        engine = "django.db.backends.postgresql"
    live = request.get("server")  # a throwaway server migspec started: {"host", "port", "user", "dbname"}
    target = {"ENGINE": engine, "NAME": "migspec_offline", "HOST": "",
              "OPTIONS": (databases.get(alias) or {}).get("OPTIONS", {})}
    if live:
        target.update(NAME=live["dbname"], HOST=live["host"], PORT=str(live["port"]), USER=live["user"],
                      PASSWORD="")
    settings.DATABASES = {**databases, alias: target}
    django.setup()

    from django.db import connections
    from django.db.backends.postgresql.psycopg_any import sql as pgsql
    from django.db.migrations.executor import MigrationExecutor
    from django.db.migrations.loader import MigrationLoader
    from django.db.migrations.operations.special import RunPython, RunSQL
    from django.db.migrations.recorder import MigrationRecorder

    connection = connections[alias]
    if not live:
        connection.__dict__["pg_version"] = int(request.get("pg_version") or 16) * 10000

        def no_connect(*args, **kwargs):  # type: ignore[no-untyped-def]
            raise NeedsDatabase("this operation reads the live schema")

        connection.connect = no_connect

        def compose_sql(sql_text, params):  # type: ignore[no-untyped-def]
            if isinstance(params, dict):
                return sql_text % {k: pgsql.quote(v) for k, v in params.items()}
            return sql_text % tuple(pgsql.quote(v) for v in params or ())

        connection.ops.compose_sql = compose_sql

    applied = request.get("applied")
    since = request.get("since")
    # The production record (django_migrations) drives Django's own replacement logic for squashed
    # migrations: Django picks the squashed or the replaced migrations from what is applied.
    real_applied = MigrationRecorder.applied_migrations
    MigrationRecorder.applied_migrations = lambda self: {tuple(k): None for k in (applied or [])}
    real_has_table = MigrationRecorder.has_table
    MigrationRecorder.has_table = lambda self: True
    try:
        loader = MigrationLoader(connection, ignore_no_migrations=True)
        if since:
            keys = []
            for ref in since:
                app, _, name = ref.replace(":", ".").partition(".")
                try:
                    keys.append((app, loader.get_migration_by_prefix(app, name).name))
                except Exception as exc:
                    _fail(f"--since {ref}: {exc}")
            done = set()
            for key in keys:
                done.update(loader.graph.forwards_plan(key))
            for key in list(done):  # Django records a squashed migration with the ones it replaces
                done.update(tuple(r) for r in getattr(loader.graph.nodes.get(key), "replaces", None) or ())
            MigrationRecorder.applied_migrations = lambda self: {k: None for k in done}
            loader = MigrationLoader(connection, ignore_no_migrations=True)
        executor = MigrationExecutor(connection)
        executor.loader = loader
        plan = executor.migration_plan(loader.graph.leaf_nodes())
        state = executor._create_project_state(with_applied_migrations=True)
        if live:
            # The throwaway database gets the schema production has: the applied migrations, run by
            # Django itself; then the pending ones' SQL is collected against it (as sqlmigrate does).
            pending = {m for m, _ in plan}
            done_plan = [(m, False) for m, _ in executor.migration_plan(loader.graph.leaf_nodes(), clean_start=True)
                         if m not in pending]
            MigrationRecorder.applied_migrations, MigrationRecorder.has_table = real_applied, real_has_table
            real = MigrationExecutor(connection)
            real.migrate(None, plan=done_plan, state=real._create_project_state())
    except NeedsDatabase:
        _fail("Django needed a database to load the migrations")
    except Exception as exc:
        _fail(f"Django could not load the migrations: {type(exc).__name__}: {exc}")

    out = []
    for migration, backwards in plan:
        if backwards:
            continue
        module = sys.modules.get(type(migration).__module__)
        path = getattr(module, "__file__", None) or ""
        nodes, class_line, text = _operation_nodes(path)
        ops = []
        for i, operation in enumerate(migration.operations):
            node = nodes[i] if i < len(nodes) else None
            entry = {
                "index": i, "kind": type(operation).__name__,
                "line": node.lineno if node is not None else class_line,
                "col": node.col_offset + 1 if node is not None else 1,
                "source": _source_of(node, text, operation.describe()),
                "describe": operation.describe(), "sql": [], "atomic": operation.atomic
                if isinstance(operation, (RunPython, RunSQL)) else None,
            }
            old_state = state.clone()
            operation.state_forwards(migration.app_label, state)
            widened = _auto_field_widened(operation, old_state, migration.app_label)
            if widened:
                entry["auto_field_widened"] = widened
            if isinstance(operation, RunPython):
                entry["code"] = _code_facts(operation.code)
                entry["reverse_code"] = _code_facts(operation.reverse_code)
                entry["models"] = _model_facts(old_state, migration.app_label)
                ops.append(entry)
                continue
            if not operation.reduces_to_sql:
                entry["needs_database"] = "this operation cannot be written as SQL"  # django.py's _NOT_SQL
                ops.append(entry)
                continue
            editor = connection.schema_editor(collect_sql=True, atomic=False)
            try:
                with editor:
                    operation.database_forwards(migration.app_label, editor, old_state, state)
                entry["sql"] = [s for s in editor.collected_sql if s.strip()]
            except NeedsDatabase as exc:
                entry["needs_database"] = str(exc)
            except Exception as exc:
                entry["needs_database"] = f"{type(exc).__name__}: {exc}"
            if isinstance(operation, RunSQL):
                entry["reverse_sql"] = operation.reverse_sql if isinstance(operation.reverse_sql, str) else None
            ops.append(entry)
        out.append({"app": migration.app_label, "name": migration.name, "file": path, "line": class_line,
                    "atomic": bool(migration.atomic), "replaces": [list(r) for r in migration.replaces or ()],
                    "dependencies": [list(d) for d in migration.dependencies],
                    "operations": ops})
    json.dump({"framework": "django", "version": django.get_version(), "migrations": out,
               "applied_known": applied is not None or bool(since)}, sys.stdout)


if __name__ == "__main__":
    try:
        main()
    except SystemExit:
        raise
    except BaseException:  # a message the parent turns into one line; the traceback goes to stderr
        traceback.print_exc()
        sys.exit(70)

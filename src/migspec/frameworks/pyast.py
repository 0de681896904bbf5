"""Data changes inside Python migration code, read from its source (``ast``), never run.

A Django ``RunPython`` function or the body of an Alembic ``upgrade()`` can change rows in ways no
schema editor renders as SQL. This module reads the function and reports each data change as SQL
migspec's rules already judge, placed at the Python line that does it:

- ORM bulk writes: ``Model.objects[.filter(...)...].update(...)`` -> ``UPDATE table SET ...``
  (with a WHERE placeholder when the queryset is filtered), ``.delete()`` -> ``DELETE``,
  ``bulk_update`` and a ``for obj in queryset: ... obj.save()`` loop -> ``UPDATE ... WHERE``;
- literal SQL run through ``cursor.execute`` / ``schema_editor.execute`` / ``connection.execute`` /
  ``op.execute`` (strings, ``text("...")``), parameters (``%s``, ``%(name)s``, ``:name``) becoming
  ``$n`` so PostgreSQL's grammar parses them;
- anything else the function hands the migration's ``apps``, connection or models to (a helper in
  another module, SQL built at run time) is *opaque*: migspec says it cannot see that work.

Batching only helps when each batch commits: in an atomic migration (Django's default; Alembic's
transactional DDL on PostgreSQL) a loop of small UPDATEs still holds every row lock until the one
COMMIT, so it is reported like a single UPDATE. A loop in a non-atomic migration is batched work
and is not reported.
"""

from __future__ import annotations

import ast
import builtins
import re
from pathlib import Path

from migspec.frozen import field, frozen, record
from migspec.names import quote_ident, quote_literal

#: Calls whose receiver runs SQL text given as the first argument.
SQL_RUNNERS = frozenset({"execute", "exec_driver_sql", "executemany"})
#: Queryset methods that narrow the rows (the WHERE migspec cannot size).
FILTERS = frozenset({"filter", "exclude", "get", "in_bulk", "select_for_update"})
#: Queryset methods that keep the row set as it is.
PASS_THROUGH = frozenset({"all", "only", "defer", "order_by", "select_related", "prefetch_related", "using",
                          "iterator", "annotate", "values", "values_list", "distinct", "reverse", "alias"})


@frozen
class DataAction:
    """One data change found in Python code: SQL to judge, or ``opaque`` work migspec cannot see."""

    file: str
    line: int
    col: int
    source: str  # the Python text that does it, on one line
    sql: str | None = None
    opaque: str | None = None
    via: str = "sql"  # "orm" (a queryset write), "sql" (SQL text run), "call" (code handed the migration's state)


@record
class _Scope:
    models: dict[str, str] = field(default_factory=dict)  # variable -> model label "app.model"
    querysets: dict[str, tuple[str, tuple]] = field(default_factory=dict)  # variable -> (label, filter calls)
    instances: dict[str, str] = field(default_factory=dict)  # loop variable -> model label
    tainted: set[str] = field(default_factory=set)  # apps, schema_editor, connections, cursors


def placeholders_to_params(sql: str) -> str:
    """``%s`` / ``%(name)s`` (DB-API) and ``:name`` (SQLAlchemy text) -> ``$1, $2, ...``."""
    counter = iter(range(1, 10_000))
    sql = re.sub(r"%\([A-Za-z_]\w*\)s|%s", lambda m: f"${next(counter)}", sql)
    sql = re.sub(r"(?<![:\w]):([A-Za-z_]\w*)", lambda m: f"${next(counter)}", sql)
    return sql.replace("%%", "%")


def _one_line(node: ast.AST, text: str) -> str:
    segment = ast.get_source_segment(text, node) or ""
    return " ".join(segment.split())


def _literal_sql(node: ast.expr) -> str | None:
    """A SQL string the code passes as written: a literal, or ``text("...")`` / ``sa.text("...")``."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Call) and node.args and _name(node.func) in ("text", "sql.SQL", "SQL") and \
            isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
        return node.args[0].value
    return None


def _name(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return ""


def _chain(node: ast.expr) -> tuple[ast.expr, list[str]]:
    """``A.objects.filter(x).all()`` -> (A, ['objects', 'filter', 'all'])."""
    root, links = _links(node)
    return root, [name for name, _ in links]


def _links(node: ast.expr) -> tuple[ast.expr, list[tuple[str, ast.Call | None]]]:
    """``A.objects.filter(x)`` -> (A, [('objects', None), ('filter', <call filter(x)>)])."""
    links: list[tuple[str, ast.Call | None]] = []
    call: ast.Call | None = None
    while True:
        if isinstance(node, ast.Call) and _name(node.func) == "get_model":
            return node, links[::-1]  # apps.get_model(...) is the root: a model
        if isinstance(node, ast.Call):
            call, node = node, node.func
        elif isinstance(node, ast.Attribute):
            links.append((node.attr, call))
            call, node = None, node.value
        else:
            return node, links[::-1]


#: Django lookups with a direct SQL spelling (django/db/models/lookups.py); others stay unknown.
LOOKUPS = {"exact": "=", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}


class _Params:
    """Numbers the values migspec cannot read: ``$1``, ``$2``, ... (PostgreSQL parses them)."""

    def __init__(self) -> None:
        self.n = 0

    def next(self) -> str:
        self.n += 1
        return f"${self.n}"


def _value(node: ast.expr, columns: dict[str, str], params: _Params) -> str:
    """A Python value as SQL: literals as literals, ``F("field")`` as its column, else ``$n``."""
    if isinstance(node, ast.Constant):
        v = node.value
        if v is None:
            return "NULL"
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (int, float)):
            return repr(v)
        if isinstance(v, str):
            return quote_literal(v)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) and isinstance(node.operand, ast.Constant) \
            and isinstance(node.operand.value, (int, float)) and not isinstance(node.operand.value, bool):
        return repr(-node.operand.value)
    if isinstance(node, ast.Call) and _name(node.func) == "F" and len(node.args) == 1 and \
            isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
        return quote_ident(columns.get(node.args[0].value, node.args[0].value))
    return params.next()


def _condition(keyword: ast.keyword, columns: dict[str, str], params: _Params) -> str:
    field, _, lookup = (keyword.arg or "").partition("__")
    column = quote_ident(columns.get(field, field)) if field else params.next()
    if lookup in ("", *LOOKUPS) and "__" not in lookup:
        value = _value(keyword.value, columns, params)
        if value == "NULL" and lookup in ("", "exact"):
            return f"{column} IS NULL"
        return f"{column} {LOOKUPS.get(lookup or 'exact')} {value}"
    if lookup == "isnull" and isinstance(keyword.value, ast.Constant) and isinstance(keyword.value.value, bool):
        return f"{column} IS {'' if keyword.value.value else 'NOT '}NULL"
    if lookup == "in" and isinstance(keyword.value, (ast.List, ast.Tuple, ast.Set)) and keyword.value.elts:
        return f"{column} IN ({', '.join(_value(e, columns, params) for e in keyword.value.elts)})"
    return params.next()  # a lookup or expression migspec does not translate: an unknown condition


def _where(filters: tuple[tuple[str, ast.Call], ...], columns: dict[str, str], params: _Params) -> str:
    parts = []
    for name, call in filters:
        terms = [_condition(k, columns, params) for k in call.keywords if k.arg]
        terms += [params.next() for _ in call.args]  # Q objects: unknown conditions
        if not terms:
            continue
        joined = " AND ".join(terms)
        parts.append(f"NOT ({joined})" if name == "exclude" else joined if len(terms) == 1 else f"({joined})")
    return f" WHERE {' AND '.join(parts)}" if parts else ""


class _Reader:
    def __init__(self, path: str, text: str, tree: ast.Module, models: dict[str, dict], atomic: bool,
                 display: str) -> None:
        self.path, self.text, self.tree, self.models, self.atomic = path, text, tree, models, atomic
        self.display = display
        self.functions = {n.name: n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
        self.actions: list[DataAction] = []
        self.visited: set[str] = set()

    # -- resolution ------------------------------------------------------------------------------
    def _model_of(self, node: ast.expr, scope: _Scope) -> str | None:
        if isinstance(node, ast.Name):
            return scope.models.get(node.id)
        if isinstance(node, ast.Call) and _name(node.func) == "get_model":
            args = [a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
            label = ".".join(args) if len(args) == 2 else args[0] if len(args) == 1 else None
            return label.lower() if label else None
        return None

    def _queryset(self, node: ast.expr, scope: _Scope) -> tuple[str, tuple] | None:
        """(model label, its filter/exclude calls) when ``node`` is a queryset of a known model."""
        root, links = _links(node)
        if isinstance(root, ast.Name) and root.id in scope.querysets:
            label, filters = scope.querysets[root.id]
        else:
            label = self._model_of(root, scope)
            if label is None or not links or links[0][0] not in ("objects", "_default_manager", "_base_manager"):
                return None
            links, filters = links[1:], ()
        for name, call in links:
            if name in FILTERS and call is not None:
                filters = (*filters, (name, call))
            elif name not in PASS_THROUGH:
                return None
        return label, filters

    def _table(self, label: str) -> dict | None:
        return self.models.get(label)

    # -- emitting --------------------------------------------------------------------------------
    def _emit(self, node: ast.AST, *, sql: str | None = None, opaque: str | None = None, via: str = "orm") -> None:
        self.actions.append(DataAction(self.display, node.lineno, node.col_offset + 1, _one_line(node, self.text),
                                       sql, opaque, via))

    def _update_sql(self, label: str, assignments: list[tuple[str, ast.expr | None]], filters: tuple | None,
                    verb: str = "UPDATE") -> str | None:
        """The statement the ORM call runs; ``filters`` None: rows chosen in a way migspec cannot read."""
        facts = self._table(label)
        if facts is None:
            return None
        columns = facts["columns"]
        params = _Params()
        table = quote_ident(facts["table"])
        sets = ", ".join(f"{quote_ident(columns.get(c, c))} = "
                         f"{params.next() if v is None else _value(v, columns, params)}"
                         for c, v in assignments) or f"{quote_ident(facts.get('pk') or 'id')} = {params.next()}"
        where = f" WHERE {params.next()}" if filters is None else _where(filters, columns, params)
        if verb == "DELETE":
            return f"DELETE FROM {table}{where}"
        return f"UPDATE {table} SET {sets}{where}"

    # -- walking ---------------------------------------------------------------------------------
    def read_function(self, fn: ast.FunctionDef | ast.AsyncFunctionDef, in_loop: bool = False,
                      atomic: bool | None = None) -> None:
        if fn.name in self.visited:
            return
        self.visited.add(fn.name)
        scope = _Scope()
        scope.tainted.update(a.arg for a in fn.args.args + fn.args.kwonlyargs)
        self._body(fn.body, scope, in_loop, self.atomic if atomic is None else atomic)

    def _body(self, body: list[ast.stmt], scope: _Scope, in_loop: bool, atomic: bool) -> None:
        for stmt in body:
            self._stmt(stmt, scope, in_loop, atomic)

    def _stmt(self, stmt: ast.stmt, scope: _Scope, in_loop: bool, atomic: bool) -> None:
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
            target = stmt.targets[0].id
            label = self._model_of(stmt.value, scope)
            qs = None if label else self._queryset(stmt.value, scope)
            if label:
                scope.models[target] = label
            elif qs:
                scope.querysets[target] = qs
            elif self._is_tainted(stmt.value, scope):
                scope.tainted.add(target)
        if isinstance(stmt, (ast.For, ast.AsyncFor)):
            qs = self._queryset(stmt.iter, scope)
            if qs and isinstance(stmt.target, ast.Name):
                scope.instances[stmt.target.id] = qs[0]
                saved = self._saved_attrs(stmt.body, stmt.target.id)
                if saved is not None and atomic:
                    sql = self._update_sql(qs[0], [(c, None) for c in saved], None)
                    if sql:
                        self._emit(stmt, sql=sql)
            self._calls(stmt.iter, scope, in_loop, atomic)
            self._body(stmt.body + stmt.orelse, scope, True, atomic)
            return
        if isinstance(stmt, ast.While):
            self._body(stmt.body + stmt.orelse, scope, True, atomic)
            return
        if isinstance(stmt, (ast.With, ast.AsyncWith)):
            # Alembic: work under op.get_context().autocommit_block() commits statement by statement.
            block_atomic = atomic and not any("autocommit_block" in _one_line(i.context_expr, self.text)
                                              for i in stmt.items)
            for item in stmt.items:
                self._calls(item.context_expr, scope, in_loop, atomic)
                if isinstance(item.optional_vars, ast.Name) and self._is_tainted(item.context_expr, scope):
                    scope.tainted.add(item.optional_vars.id)
            self._body(stmt.body, scope, in_loop, block_atomic)
            return
        if isinstance(stmt, (ast.If, ast.Try)):
            for part in ("body", "orelse", "finalbody"):
                self._body(getattr(stmt, part, []), scope, in_loop, atomic)
            for handler in getattr(stmt, "handlers", []):
                self._body(handler.body, scope, in_loop, atomic)
            self._calls(getattr(stmt, "test", None), scope, in_loop, atomic)
            return
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            return
        self._calls(stmt, scope, in_loop, atomic)

    def _is_tainted(self, node: ast.expr, scope: _Scope) -> bool:
        return any(isinstance(n, ast.Name) and (n.id in scope.tainted or n.id in scope.models)
                   for n in ast.walk(node)) or any(isinstance(n, ast.Call) and _name(n.func) in
                                                   ("get_bind", "cursor", "connect") for n in ast.walk(node))

    def _saved_attrs(self, body: list[ast.stmt], var: str) -> list[str] | None:
        """Attributes assigned on the loop variable when the loop also calls ``var.save()``."""
        saves = [n for s in body for n in ast.walk(s) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
                 and n.func.attr == "save" and isinstance(n.func.value, ast.Name) and n.func.value.id == var]
        if not saves:
            return None
        return list(dict.fromkeys(t.attr for s in body for n in ast.walk(s) if isinstance(n, ast.Assign)
                                  for t in n.targets if isinstance(t, ast.Attribute)
                                  and isinstance(t.value, ast.Name) and t.value.id == var))

    def _calls(self, node: ast.AST | None, scope: _Scope, in_loop: bool, atomic: bool) -> None:
        if node is None:
            return
        for call in [n for n in ast.walk(node) if isinstance(n, ast.Call)]:
            self._call(call, scope, in_loop, atomic)

    def _call(self, call: ast.Call, scope: _Scope, in_loop: bool, atomic: bool) -> None:
        func = call.func
        batched = in_loop and not atomic
        if isinstance(func, ast.Attribute) and func.attr in ("update", "delete", "bulk_update"):
            qs = self._queryset(func.value, scope)
            if qs is not None or func.attr == "bulk_update":
                if batched:
                    return
                if func.attr == "bulk_update":
                    label = self._model_of(_chain(func.value)[0], scope)
                    fields_arg = call.args[1] if len(call.args) > 1 else next(
                        (k.value for k in call.keywords if k.arg == "fields"), None)
                    cols = [(e.value, None) for e in getattr(fields_arg, "elts", []) if isinstance(e, ast.Constant)]
                    sql = self._update_sql(label, cols, None) if label else None
                else:
                    label, filters = qs  # type: ignore[misc]
                    assignments = [(k.arg, k.value) for k in call.keywords if k.arg]
                    sql = self._update_sql(label, assignments, filters,
                                           "DELETE" if func.attr == "delete" else "UPDATE")
                if sql:
                    self._emit(call, sql=sql)
                else:
                    self._emit(call, opaque=f"{_one_line(call, self.text)} (rows of a model migspec cannot "
                                            "resolve to a table)")
                return
        if isinstance(func, ast.Attribute) and func.attr in SQL_RUNNERS:
            receiver = func.value
            if not (self._is_tainted(receiver, scope) or _name(receiver) in ("op", "cursor", "connection", "conn")):
                return
            if not call.args:
                return
            sql = _literal_sql(call.args[0])
            if sql is None and isinstance(call.args[0], ast.Name):
                sql = self._constant(call.args[0].id)
            if sql is None:
                self._emit(call, opaque=f"{_one_line(call, self.text)} (SQL built at run time)", via="sql")
            elif not batched:
                self._emit(call, sql=placeholders_to_params(sql), via="sql")
            return
        name = func.id if isinstance(func, ast.Name) else None
        if name and name in self.functions:
            self.read_function(self.functions[name], in_loop, atomic)
            return
        passes_state = any(self._is_tainted(a, scope) for a in [*call.args, *(k.value for k in call.keywords)])
        if passes_state and not (name and hasattr(builtins, name)) and not self._orm_call(call, scope):
            self._emit(call, opaque=f"{_one_line(call, self.text)} (code handed the migration's models or "
                                    "connection)", via="call")

    def _orm_call(self, call: ast.Call, scope: _Scope) -> bool:
        """A read or a model lookup: nothing to report."""
        func = call.func
        if _name(func) in ("get_model", "cursor", "get_bind", "get_context", "autocommit_block", "connect"):
            return True
        if isinstance(func, ast.Attribute):
            root, names = _chain(func)
            if isinstance(root, ast.Name) and (root.id in scope.models or root.id in scope.querysets
                                               or root.id in scope.instances):
                return True
        return False

    def _constant(self, name: str) -> str | None:
        for node in self.tree.body:
            if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
                return _literal_sql(node.value)
        return None


def read_python(path: str | Path, *, function: str | None, line: int | None, models: dict[str, dict],
                atomic: bool, display: str) -> list[DataAction]:
    """The data changes one function makes (a RunPython callable, an Alembic ``upgrade``).

    ``display`` is the path findings name (relative to the project). A function that cannot be found
    in its source (a lambda, a C function, a file that is gone) is one opaque action.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
        tree = ast.parse(text)
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError) as exc:
        return [DataAction(display, line or 1, 1, function or "?", opaque=f"{function}: source unreadable ({exc})")]
    short = (function or "").rsplit(".", 1)[-1]
    candidates = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
                  and n.name == short]
    fn = next((n for n in candidates if line is None or n.lineno == line or
               (n.decorator_list and n.decorator_list[0].lineno == line)), candidates[0] if candidates else None)
    if fn is None:
        return [DataAction(display, line or 1, 1, function or "?",
                           opaque=f"{function} is not a function migspec can read in {display}")]
    reader = _Reader(str(path), text, tree, models, atomic, display)
    reader.read_function(fn)
    return reader.actions

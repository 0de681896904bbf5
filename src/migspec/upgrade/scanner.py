"""Find a project's uses of removed and changed framework APIs, with a confidence per match.

How each row kind is matched (rows: ``upgrade/removals.py``, generated from the frameworks' docs):

- ``import``: the Python AST with import-alias resolution - ``from django.utils import timezone``
  then ``timezone.utc``, ``import django.utils.timezone as tz`` then ``tz.utc``, and the import
  statement itself - HIGH.
- ``keyword``: a call passing the keyword to a callee that resolves to the row's owner - HIGH when
  the callee resolves through the imports into the framework, MEDIUM when only its name matches.
- ``method``/``attribute``: ``.name`` on a receiver whose type the module makes known
  (``engine = create_engine(...)``, ``conn = engine.connect()``, ``Session(...)``) - HIGH; Django's
  distinctive method names in a module that imports Django - MEDIUM (receiver-chain heuristic).
- ``setting``: a module-level assignment in a settings module - HIGH (elsewhere MEDIUM); for a
  setting whose *default* changes, its absence from the settings module.
- ``meta``: an assignment in a model's inner ``class Meta`` (not in migrations, where Django keeps
  the historical operations) - HIGH.
- ``template``: a regular expression over template files: ``|name`` filters, ``{% name`` tags - HIGH.
- ``pattern``: SQLAlchemy's migration guide shows the removed spelling as code; that code is
  parsed and compared structurally with the project's calls (callee names, argument shapes,
  keywords) - HIGH when the receiver's type is known, MEDIUM when only its name suggests it.
  Library-level autocommit patterns inside ``with ....begin():`` or followed by ``.commit()`` are
  explicit transactions and are skipped.
- ``behavior`` rows are not matched in code: the runtime warnings (``-Wall``) stay authoritative.
"""

from __future__ import annotations

import ast
import enum
import re
from collections.abc import Iterable, Iterator

from functools import cache
from pathlib import Path

from migspec.frozen import frozen
from migspec.upgrade.removals import Removal


class Confidence(enum.IntEnum):
    MEDIUM = 1
    HIGH = 2

    def __str__(self) -> str:
        return self.name


@frozen
class Match:
    row: Removal
    path: str  # relative to the project
    line: int
    confidence: Confidence
    code: str  # the source line, stripped

    def sort_key(self) -> tuple[str, int, str]:
        return self.path, self.line, self.row.symbol


#: Directories never scanned (environments, VCS, caches).
SKIP_DIRS = {".git", ".hg", ".venv", "venv", "env", "node_modules", "__pycache__", "site-packages", ".tox",
              ".mypy_cache", ".pytest_cache", "build", "dist"}
#: Naming conventions that stand for SQLAlchemy's connection objects in its migration guide's
#: examples; a project variable of that name is MEDIUM evidence of the type.
_RECEIVER_TYPES = {"engine": "Engine", "conn": "Connection", "connection": "Connection", "session": "Session",
                   "sess": "Session", "metadata": "MetaData", "metadata_obj": "MetaData"}
#: Calls whose result has a known type: (callee name) -> type; ``.connect()`` on an Engine etc.
_CONSTRUCTORS = {"create_engine": "Engine", "Session": "Session", "MetaData": "MetaData", "select": "Select",
                 "Table": "Table"}
_METHOD_RESULTS = {("Engine", "connect"): "Connection", ("Engine", "begin"): "Connection",
                   ("Session", "query"): "Query", ("Table", "select"): "Select", ("Table", "insert"): "Insert",
                   ("Table", "update"): "Update", ("Table", "delete"): "Delete"}
#: Row owners that stand for a family of classes (SQLAlchemy's ``Executable`` is every statement).
_FAMILIES = {"Executable": {"Select", "Insert", "Update", "Delete", "Executable"},
             "FunctionElement": {"FunctionElement"}, "Query": {"Query"}}


def project_files(root: Path, suffixes: tuple[str, ...]) -> Iterator[Path]:
    for path in sorted(root.rglob("*")):
        if path.suffix in suffixes and path.is_file() and not (SKIP_DIRS & set(path.relative_to(root).parts[:-1])):
            yield path


def scan(root: Path, removals: Iterable[Removal]) -> list[Match]:
    """Every match of ``removals`` in the project at ``root`` (Python files and templates)."""
    removals = tuple(removals)
    found: dict[tuple[str, str, int], Match] = {}

    def add(match: Match) -> None:
        key = (match.row.source + match.row.symbol, match.path, match.line)
        if key not in found or found[key].confidence < match.confidence:
            found[key] = match

    py_files = list(project_files(root, (".py",)))
    modules = []
    for path in py_files:
        try:
            source = path.read_text(encoding="utf-8")
            tree = ast.parse(source, filename=str(path))
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue  # not ours to judge; the project's own test run reports it
        modules.append(_Module(tree, source, str(path.relative_to(root))))
    in_use = {f for module in modules for f in module.frameworks}
    for module in modules:
        for match in module.matches(removals, in_use):
            add(match)
    for match in _settings_defaults(root, py_files, removals):
        add(match)
    templates = [p for p in project_files(root, (".html", ".txt", ".xml", ".jinja", ".djhtml"))
                 if "templates" in p.relative_to(root).parts]
    for path in templates:
        for match in _template_matches(root, path, removals):
            add(match)
    # the guide's example and a more specific row on the same line: keep the specific one
    specific = {(m.path, m.line, name) for m in found.values() if m.row.kind != "pattern"
                for name in (m.row.symbol.rsplit(".", 1)[-1], *(o.rsplit(".", 1)[-1] for o in m.row.owners))}
    return sorted((m for m in found.values() if m.row.kind != "pattern" or
                   (m.path, m.line, _callee_name(m.row.symbol)) not in specific), key=Match.sort_key)


def _callee_name(code: str) -> str:
    pattern = _pattern(code)
    parts = _dotted(pattern.func) if pattern is not None else None
    return parts[-1] if parts else ""


# --- Python modules ------------------------------------------------------------------------------

def _dotted(node: ast.AST) -> list[str] | None:
    """``a.b.c`` -> ["a", "b", "c"]; None when the chain does not start with a name."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return [node.id, *reversed(parts)]
    return None


def _is_settings_module(rel: str) -> bool:
    parts = Path(rel).parts
    return Path(rel).stem.startswith("settings") or "settings" in parts[:-1]


class _Module:
    def __init__(self, tree: ast.Module, source: str, rel: str) -> None:
        self.tree, self.lines, self.rel = tree, source.splitlines(), rel
        self.aliases: dict[str, str] = {}  # local name -> dotted path it was imported as
        self.imports: list[tuple[str, int]] = []  # (imported dotted path, line)
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    self.imports.append((a.name, node.lineno))
                    if a.asname:
                        self.aliases[a.asname] = a.name
                    else:
                        self.aliases.setdefault(a.name.split(".")[0], a.name.split(".")[0])
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                for a in node.names:
                    full = f"{node.module}.{a.name}"
                    self.imports.append((full, node.lineno))
                    self.aliases[a.asname or a.name] = full
        self.frameworks = {path.split(".")[0] for path, _ in self.imports}
        self.types: dict[str, str] = {}
        self.types = self._infer_types()
        self.parents: dict[ast.AST, ast.AST] = {}
        for parent in ast.walk(tree):
            for child in ast.iter_child_nodes(parent):
                self.parents[child] = parent

    def code(self, line: int) -> str:
        return self.lines[line - 1].strip() if 0 < line <= len(self.lines) else ""

    def resolve(self, node: ast.AST) -> str | None:
        parts = _dotted(node)
        if not parts or parts[0] not in self.aliases:
            return None
        return ".".join([self.aliases[parts[0]], *parts[1:]])

    def type_of(self, node: ast.AST) -> str | None:
        """The SQLAlchemy type of an expression, when the module makes it known."""
        if isinstance(node, ast.Name):
            return self.types.get(node.id)
        if isinstance(node, ast.Call):
            callee = node.func
            if isinstance(callee, ast.Attribute):
                recv = self.type_of(callee.value)
                if recv and (recv, callee.attr) in _METHOD_RESULTS:
                    return _METHOD_RESULTS[(recv, callee.attr)]
            path = self.resolve(callee)
            if path and path.startswith("sqlalchemy") and path.rsplit(".", 1)[-1] in _CONSTRUCTORS:
                return _CONSTRUCTORS[path.rsplit(".", 1)[-1]]
        return None

    def _infer_types(self) -> dict[str, str]:
        types = self.types
        for _ in range(3):  # assignments may chain: engine -> conn -> ...
            for node in ast.walk(self.tree):
                targets: list[ast.expr] = []
                value: ast.AST | None = None
                if isinstance(node, ast.Assign):
                    targets, value = node.targets, node.value
                elif isinstance(node, ast.withitem) and node.optional_vars is not None:
                    targets, value = [node.optional_vars], node.context_expr
                for t in targets:
                    if isinstance(t, ast.Name) and value is not None:
                        kind = self.type_of(value)
                        if kind:
                            types[t.id] = kind
                    elif isinstance(t, ast.Attribute) and value is not None:
                        kind = self.type_of(value)
                        if kind:
                            types[ast.unparse(t)] = kind
        return types

    # --- matching -----------------------------------------------------------------------------

    def matches(self, removals: tuple[Removal, ...], in_use: set[str]) -> Iterator[Match]:
        """Matches in this module; a module that does not import the framework itself (objects
        passed in from elsewhere in the project) gives at most MEDIUM."""
        for row in removals:
            if row.framework not in in_use and not (row.kind == "setting" and _is_settings_module(self.rel)):
                continue  # a settings module need not import Django
            if row.kind == "import":
                yield from self._imports(row)
            elif row.kind == "keyword":
                yield from self._keywords(row)
            elif row.kind in ("method", "attribute"):
                yield from self._attributes(row)
            elif row.kind == "setting":
                yield from self._settings(row)
            elif row.kind == "meta":
                yield from self._meta(row)
            elif row.kind == "pattern":
                yield from self._patterns(row)

    def _match(self, row: Removal, line: int, confidence: Confidence) -> Match:
        if row.framework not in self.frameworks and row.kind != "setting":
            confidence = Confidence.MEDIUM
        return Match(row, self.rel, line, confidence, self.code(line))

    def _imports(self, row: Removal) -> Iterator[Match]:
        sym = row.symbol
        for path, line in self.imports:
            if path == sym or path.startswith(sym + "."):
                yield self._match(row, line, Confidence.HIGH)
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Attribute | ast.Name) and not isinstance(self.parents.get(node), ast.Attribute):
                path = self.resolve(node)
                if path and (path == sym or path.startswith(sym + ".")):
                    yield self._match(row, node.lineno, Confidence.HIGH)

    def _keywords(self, row: Removal) -> Iterator[Match]:
        owners = {o.rsplit(".", 1)[-1].removesuffix("()"): o for o in row.owners}
        for node in ast.walk(self.tree):
            if not isinstance(node, ast.Call) or not any(k.arg == row.symbol for k in node.keywords):
                continue
            parts = _dotted(node.func)
            name = parts[-1] if parts else None
            if name == "__init__" or name not in owners:
                continue
            path = self.resolve(node.func)
            owner = owners[name]
            high = bool(path) and (path == owner or (path.startswith(row.framework) and "." not in owner)
                                   or path.endswith("." + owner))
            yield self._match(row, node.lineno, Confidence.HIGH if high else Confidence.MEDIUM)

    def _attributes(self, row: Removal) -> Iterator[Match]:
        owner, _, name = row.symbol.rpartition(".")
        if not name or name.startswith("__"):
            return
        family = _FAMILIES.get(owner, {owner})
        for node in ast.walk(self.tree):
            if not isinstance(node, ast.Attribute) or node.attr != name:
                continue
            kind = self.type_of(node.value)
            if kind in family:
                yield self._match(row, node.lineno, Confidence.HIGH)
            elif row.framework == "django" and kind is None:
                # Django's removed methods have distinctive names (assertQuerysetEqual,
                # make_random_password): the name alone, in a module using Django, is MEDIUM.
                path = self.resolve(node)
                if path is None or path.startswith("django"):
                    yield self._match(row, node.lineno, Confidence.MEDIUM)
            elif row.framework == "sqlalchemy" and kind is None and isinstance(node.value, ast.Name) and \
                    _RECEIVER_TYPES.get(node.value.id.lower()) in family:
                yield self._match(row, node.lineno, Confidence.MEDIUM)

    def _settings(self, row: Removal) -> Iterator[Match]:
        if row.change == "behavior":
            return  # a changed default: judged by its absence (_settings_defaults)
        for node in self.tree.body:
            targets = node.targets if isinstance(node, ast.Assign) else \
                [node.target] if isinstance(node, ast.AnnAssign) else []
            if any(isinstance(t, ast.Name) and t.id == row.symbol for t in targets):
                yield self._match(row, node.lineno,
                                  Confidence.HIGH if _is_settings_module(self.rel) else Confidence.MEDIUM)

    def _meta(self, row: Removal) -> Iterator[Match]:
        if "migrations" in Path(self.rel).parts:
            return  # historical migrations keep the old options on purpose
        for node in ast.walk(self.tree):
            if isinstance(node, ast.ClassDef):
                for inner in node.body:
                    if isinstance(inner, ast.ClassDef) and inner.name == "Meta":
                        for stmt in inner.body:
                            if isinstance(stmt, ast.Assign) and any(
                                    isinstance(t, ast.Name) and t.id == row.symbol for t in stmt.targets):
                                yield self._match(row, stmt.lineno, Confidence.HIGH)

    def _patterns(self, row: Removal) -> Iterator[Match]:
        pattern = _pattern(row.symbol)
        if pattern is None:
            return
        autocommit = "autocommit" in row.text.lower()
        for node in ast.walk(self.tree):
            if not isinstance(node, ast.Call):
                continue
            confidence = self._like(pattern, node)
            if confidence is None:
                continue
            if autocommit and self._explicit_transaction(node):
                continue
            yield self._match(row, node.lineno, confidence)

    def _like(self, p: ast.AST, c: ast.AST) -> Confidence | None:
        """Structural match of pattern ``p`` against code ``c``: None, or how sure."""
        if isinstance(p, ast.Name):
            return Confidence.HIGH  # a placeholder in the guide's example
        if isinstance(p, ast.Constant):
            return Confidence.HIGH if isinstance(c, ast.Constant) and type(c.value) is type(p.value) else None
        if isinstance(p, ast.List | ast.Tuple | ast.Dict):
            return Confidence.HIGH if type(c) is type(p) else None
        if isinstance(p, ast.Compare | ast.BinOp):
            return Confidence.HIGH if type(c) is type(p) else None
        if isinstance(p, ast.Call):
            if not isinstance(c, ast.Call) or len(c.args) < len(p.args):
                return None
            if any(isinstance(a, ast.Starred) for a in c.args) or any(k.arg is None for k in c.keywords):
                return None  # *args/**kwargs: the shape is not visible
            results = [self._callee(p.func, c.func)]
            results += [self._like(pa, ca) for pa, ca in zip(p.args, c.args)]
            code_kw = {k.arg: k.value for k in c.keywords}
            for k in p.keywords:
                if _sample_value(k):
                    results.append(Confidence.HIGH if c.keywords else None)  # foo="bar": column data
                else:
                    results.append(self._like(k.value, code_kw[k.arg]) if k.arg in code_kw else None)
            if p.args == [] and p.keywords == [] and (c.args or c.keywords):
                return None
            return None if None in results else min(results)  # type: ignore[type-var]
        if isinstance(p, ast.Attribute):
            return self._callee(p, c)
        return None

    def _callee(self, p: ast.AST, c: ast.AST) -> Confidence | None:
        if isinstance(p, ast.Name):
            if isinstance(c, ast.Name) and c.id == p.id:
                return Confidence.HIGH if (self.resolve(c) or "").startswith("sqlalchemy") else Confidence.MEDIUM
            path = self.resolve(c)
            return Confidence.HIGH if path and path.startswith("sqlalchemy") and path.endswith("." + p.id) else None
        if isinstance(p, ast.Attribute):
            if not isinstance(c, ast.Attribute) or c.attr != p.attr:
                return None
            if isinstance(p.value, ast.Name):
                wanted = _RECEIVER_TYPES.get(p.value.id)
                if wanted is None:
                    return Confidence.HIGH  # a placeholder receiver (t, table, some_table)
                kind = self.type_of(c.value)
                if kind == wanted:
                    return Confidence.HIGH
                if kind is None and isinstance(c.value, ast.Name) and _RECEIVER_TYPES.get(c.value.id.lower()) == wanted:
                    return Confidence.MEDIUM
                return None
            return self._like(p.value, c.value)
        return None

    def _explicit_transaction(self, node: ast.AST) -> bool:
        """Inside ``with x.begin():`` / ``with Session.begin()``, or in a function that commits."""
        scope: ast.AST | None = node
        while scope is not None:
            if isinstance(scope, ast.With | ast.AsyncWith):
                for item in scope.items:
                    expr = item.context_expr
                    if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute) and \
                            expr.func.attr == "begin":
                        return True
            if isinstance(scope, ast.FunctionDef | ast.AsyncFunctionDef):
                return any(isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == "commit"
                           for n in ast.walk(scope))
            scope = self.parents.get(scope)
        return False


def _sample_value(k: ast.keyword) -> bool:
    """``values(foo="bar")``, ``execute(t.insert(), x=10)``: the guide's sample column data, whose
    names are placeholders; ``inline=True``, ``bind=engine``, ``values={...}`` name an API."""
    return isinstance(k.value, ast.Constant) and not isinstance(k.value.value, bool | type(None))


@cache
def _pattern(code: str) -> ast.Call | None:
    """The guide's example as a matchable call, or None when it is too generic to match (a bare
    method call with nothing but placeholders would match every call of that name)."""
    try:
        stmt = ast.parse(code).body[0]
    except (SyntaxError, IndexError):
        return None
    value = stmt.value if isinstance(stmt, ast.Assign | ast.Expr) else None
    if not isinstance(value, ast.Call):
        return None
    specific = [n for n in ast.walk(value) if isinstance(n, ast.Constant | ast.List | ast.Tuple | ast.Dict | ast.keyword)
                or (isinstance(n, ast.Call) and n is not value)]
    return value if specific else None


def _settings_defaults(root: Path, py_files: list[Path], removals: tuple[Removal, ...]) -> Iterator[Match]:
    """A setting whose default changes matters where the settings module leaves it unset."""
    changed = [r for r in removals if r.kind == "setting" and r.change == "behavior"]
    if not changed:
        return
    for path in py_files:
        rel = str(path.relative_to(root))
        if not _is_settings_module(rel):
            continue
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue
        assigned = {t.id for n in tree.body if isinstance(n, ast.Assign) for t in n.targets if isinstance(t, ast.Name)}
        if "INSTALLED_APPS" not in assigned and "DATABASES" not in assigned:
            continue  # a settings helper, not the settings module
        for row in changed:
            if row.symbol not in assigned:
                yield Match(row, rel, 1, Confidence.MEDIUM, f"{row.symbol} not set: its default changes")


def _template_matches(root: Path, path: Path, removals: tuple[Removal, ...]) -> Iterator[Match]:
    rows = [r for r in removals if r.kind == "template" and r.change == "removed"]
    if not rows:
        return
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (UnicodeDecodeError, OSError):
        return
    for row in rows:
        name = re.escape(row.symbol)
        rx = re.compile(rf"\|\s*{name}\b|{{%\s*{name}\b")
        for n, line in enumerate(lines, 1):
            if rx.search(line):
                yield Match(row, str(path.relative_to(root)), n, Confidence.HIGH, line.strip())

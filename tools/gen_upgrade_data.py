#!/usr/bin/env python3
"""Generate ``src/migspec/upgrade/data/{django,sqlalchemy}.py``: removed and changed APIs of Django
and SQLAlchemy, read from the frameworks' own documents in their source distributions.

Why generated: a hand-kept list of removals drifts and misses entries (NumPy's maintainers found
many removals ruff's NPY201 misses).  Each framework already publishes the list:

- Django: ``docs/internals/deprecation.txt`` (the deprecation timeline: one section per release
  that removes things, bullets naming the release notes that deprecated them), the "Features
  deprecated in X.Y" sections of ``docs/releases/X.Y.txt`` (replacements), their "Dropped support
  for PostgreSQL N" and "Python compatibility" sections (minimum server, supported Pythons).
  django-upgrade's fixers (its wheel) say which rows have a mechanical fix (``min_version``).
- SQLAlchemy: the ``deprecated_20`` / ``moved_20`` / ``deprecated_params`` / ``warn_deprecated_20``
  markers in the 1.4 source (``lib/sqlalchemy``), the commented code lines of the "Synopsis"
  blocks of ``doc/build/changelog/migration_20.rst``, and the "Behavioral Changes" section of
  2.0's ``whatsnew_20.rst``.

Usage::

    python tools/gen_upgrade_data.py                 # downloads the pinned sdists with pip
    python tools/gen_upgrade_data.py --cache DIR     # keep/reuse the downloads in DIR
    python tools/gen_upgrade_data.py --check         # exit 1 if the files on disk differ

Output is sorted and carries no timestamp: the same source versions give byte-identical files.
"""

from __future__ import annotations

import argparse
import ast
import builtins
import io
import re
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "src" / "migspec" / "upgrade" / "data"

#: The pinned source versions (a newer pin only adds rows; the test checks these).
DJANGO = "6.1"
DJANGO_UPGRADE = "1.33.0"
SQLALCHEMY_14 = "1.4.54"
SQLALCHEMY_20 = "2.0.58"
#: Removals before this Django release are history no supported upgrade crosses (3.2 is long gone).
DJANGO_OLDEST_REMOVAL = (4, 0)

COMMAND = "python tools/gen_upgrade_data.py"


# --- fetching --------------------------------------------------------------------------------

def download(spec: str, cache: Path, sdist: bool = True) -> Path:
    """``pip download`` one distribution into ``cache`` (once) and return the file."""
    name, _, version = spec.partition("==")
    stem = name.replace("-", "_").lower()
    for path in sorted(cache.iterdir()) if cache.exists() else ():
        low = path.name.lower().replace("-", "_")
        if low.startswith(f"{stem}_{version}.") or low.startswith(f"{stem}_{version}_") or \
                low.startswith(f"{stem}-{version}"):
            return path
    cache.mkdir(parents=True, exist_ok=True)
    cmd = [str(_pip_python(cache)), "-m", "pip", "download", "--no-deps", "-q", "-d", str(cache), spec]
    # --no-binary makes pip prepare the sdist's metadata; build isolation would fetch each build
    # backend (Cython for SQLAlchemy), so a small venv with current setuptools and wheel does it.
    cmd += ["--no-binary", ":all:", "--no-build-isolation", "--ignore-requires-python"] if sdist else \
        ["--only-binary", ":all:"]
    subprocess.run(cmd, check=True)
    return download(spec, cache, sdist)


def _pip_python(cache: Path) -> Path:
    """The interpreter of ``<cache>/.pip-venv`` (created once): pip with setuptools and wheel."""
    venv = cache / ".pip-venv"
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "setuptools>=77", "wheel"], check=True)
    return python


def read_members(archive: Path, pattern: str) -> dict[str, str]:
    """Text of the members of a .tar.gz or .whl whose path (below the top directory) matches."""
    rx = re.compile(pattern)
    out: dict[str, str] = {}
    if archive.name.endswith(".whl"):
        with zipfile.ZipFile(archive) as zf:
            for name in zf.namelist():
                if rx.fullmatch(name):
                    out[name] = zf.read(name).decode("utf-8")
        return out
    with tarfile.open(archive) as tf:
        for member in tf.getmembers():
            rel = member.name.split("/", 1)[1] if "/" in member.name else member.name
            if member.isfile() and rx.fullmatch(rel):
                f = tf.extractfile(member)
                assert f is not None
                out[rel] = io.TextIOWrapper(f, encoding="utf-8").read()
    return out


# --- reStructuredText helpers ----------------------------------------------------------------

_ROLE = re.compile(r":(?P<role>[a-z]+):`(?P<body>[^`]+)`")
_LITERAL = re.compile(r"``(?P<body>[^`]+)``")


def _role_target(body: str) -> tuple[str, str]:
    """(shown text, target) of a role body: ``text <target>``, ``~a.b.C``, ``.C``, ``_engine.Engine``."""
    m = re.fullmatch(r"(.*?)\s*<([^>]+)>", body, re.S)
    shown, target = (m.group(1), m.group(2)) if m else (body, body)
    target = target.lstrip("~.!")
    target = re.sub(r"^_[a-z]+\.", "", target)  # SQLAlchemy's doc-only prefixes: _engine.Engine
    if not m:
        shown = target.rsplit(".", 1)[-1] if body.startswith("~") else target
    return " ".join(shown.split()), target.removesuffix("()")


def plain(text: str) -> str:
    """RST inline markup -> plain text, one line."""
    text = _ROLE.sub(lambda m: _role_target(m.group("body"))[0], text)
    text = _LITERAL.sub(lambda m: m.group("body"), text)
    text = re.sub(r"\*\*([^*]+)\*\*", r"\1", text)
    return " ".join(text.split())


def identifiers(text: str) -> list[tuple[str, str]]:
    """(identifier, role) for every ``literal`` and :role:`x` in order; role '' for literals."""
    found: list[tuple[int, str, str]] = []
    for m in _LITERAL.finditer(text):
        found.append((m.start(), " ".join(m.group("body").split()).removesuffix("()"), ""))
    for m in _ROLE.finditer(text):
        if m.group("role") in ("ref", "doc", "term", "djadmin"):
            continue
        found.append((m.start(), _role_target(m.group("body"))[1], m.group("role")))
    return [(ident, role) for _, ident, role in sorted(found)]


def sections(lines: list[str], underline: str) -> Iterator[tuple[str, int, list[str]]]:
    """(title, first line number, body lines) of the sections underlined with ``underline``."""
    starts = [i for i in range(1, len(lines)) if lines[i] and set(lines[i]) == {underline}
              and len(lines[i]) >= len(lines[i - 1].rstrip()) > 0 and lines[i - 1].strip()]
    for n, i in enumerate(starts):
        end = starts[n + 1] - 1 if n + 1 < len(starts) else len(lines)
        yield lines[i - 1].strip(), i, lines[i + 1:end]


def bullets(body: list[str], offset: int) -> Iterator[tuple[int, str, list[str]]]:
    """Top-level ``* `` items of a section: (line number, text, nested item texts)."""
    current: list[str] = []
    nested: list[str] = []
    start = 0
    for k, line in enumerate(body + ["END"]):
        if line.startswith("* ") or (line and not line.startswith(" ") and current):
            if current:
                yield start, " ".join(current), nested
            current, nested = ([line[2:].strip()], []) if line.startswith("* ") else ([], [])
            start = offset + k + 1
        elif current and line.strip().startswith("* ") and line.startswith("  "):
            nested.append(line.strip()[2:])
        elif current and line.strip():
            if nested and line.startswith("    "):
                nested[-1] += " " + line.strip()
            else:
                current.append(line.strip())


# --- Django ------------------------------------------------------------------------------------

_VERSION = re.compile(r"^(\d+)\.(\d+)$")
_UPPER = re.compile(r"^[A-Z][A-Z0-9_]+$")
_KWARG = re.compile(r"^[a-z_][a-z0-9_]*$")
_SILENT = re.compile(r"\b(will change|default|will return|will compile|no longer fall ?back|"
                     r"no longer automatically|will always|transitional)\b", re.I)
_LOUD = re.compile(r"\b(raise|error|no longer (be )?allowed|required|unsupported)\b", re.I)
_REPLACEMENT_CUE = re.compile(r"\b(alias (?:to|of)|in favor of|use|replaced by|instead of)\b", re.I)


def _version(text: str) -> tuple[int, int]:
    major, minor = text.split(".")
    return int(major), int(minor)


def _symbolic(ident: str) -> bool:
    """A name code can spell: not prose (``IS NULL``), a string (``"sha1"``), a template snippet or a
    builtin that the text mentions as what will be raised (``TypeError``, ``None``)."""
    return bool(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*", ident)) and ident not in dir(builtins)


def _django_kind(text: str, idents: list[tuple[str, str]]) -> tuple[str, list[str], list[str]]:
    """(kind, symbols, owners) of one deprecation bullet."""
    low = text.lower()
    idents = [(i, r) for i, r in idents if _symbolic(i)]
    names = [i for i, _ in idents]
    if "template filter" in low or "template tag" in low:
        return "template", [n for n in names if _KWARG.match(n)], []
    metas = [n[5:] for n in names if n.startswith("Meta.")]
    if metas:
        return "meta", metas, []
    settings = [i for i, role in idents if role == "setting" or (_UPPER.match(i) and "setting" in low)]
    if settings:
        return "setting", settings, []
    if re.search(r"\b(argument|parameter)s?\b", low):
        kws = [i for i, role in idents if not role and _KWARG.match(i)]
        owners = [n for n in names if n not in kws]
        if kws and owners:
            return "keyword", kws, owners
        return "behavior", owners or names, []
    objs = [n for n in names if "." in n or n[:1].isupper()]
    methods = [n for n in names if _KWARG.match(n)]
    classes = [n for n in objs if "." not in n]
    if "method" in low and methods and classes:
        return "method", [f"{c}.{m}" for c in classes for m in methods], []
    if not objs:
        return "behavior", names, []
    if all(n.startswith("django.") for n in objs):
        return "import", objs, []
    roles = {i: r for i, r in idents}
    kind = "method" if "method" in low or any(roles.get(n) == "meth" for n in objs) else "attribute"
    return kind, objs, []


def _release_notes_replacement(notes: str, symbol: str) -> str:
    """The sentence of a release's "Features deprecated" section that names the symbol's
    replacement ("Use X instead", "in favor of X"), or ''."""
    lines = notes.splitlines()
    for title, _, body in sections(lines, "="):
        if not title.startswith("Features deprecated"):
            continue
        text = "\n".join(body)
        for para in re.split(r"\n\s*\n|\n\* ", text):
            if symbol.rsplit(".", 1)[-1] not in para:
                continue
            for sentence in re.split(r"(?<=\.)\s+(?=[A-Z`:])", plain(para)):
                sentence = re.split(r"\s[-=~]{3,}", sentence.removeprefix("* "))[-1].strip()
                if _REPLACEMENT_CUE.search(sentence) and not sentence.endswith("::"):
                    return sentence
    return ""


def _django_upgrade_fixers(wheel: Path) -> list[dict[str, Any]]:
    """Fixers of the django-upgrade wheel: name, min_version, the names they look for."""
    fixers = []
    for path, src in sorted(read_members(wheel, r"django_upgrade/fixers/[a-z_0-9]+\.py").items()):
        tree = ast.parse(src)
        min_version = None
        strings: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Fixer":
                for kw in node.keywords:
                    if kw.arg == "min_version" and isinstance(kw.value, ast.Tuple):
                        min_version = tuple(ast.literal_eval(kw.value))
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                strings.update(re.findall(r"[A-Za-z_][A-Za-z0-9_.]*", node.value))
        doc = ast.get_docstring(tree) or ""
        strings.update(re.findall(r"[A-Za-z_][A-Za-z0-9_.]*", doc))
        if min_version:
            fixers.append({"name": Path(path).stem, "min_version": min_version, "names": strings})
    return fixers


def _autofix(fixers: list[dict[str, Any]], symbol: str, deprecated_in: str) -> str:
    """``django-upgrade:<fixer>`` when a fixer for the deprecating release names the symbol."""
    last = symbol.rsplit(".", 1)[-1]
    for f in fixers:
        if f["min_version"] == _version(deprecated_in) and (symbol in f["names"] or last in f["names"]):
            return f"django-upgrade:{f['name']}"
    return ""


def django_rows(sdist: Path, fixers_wheel: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    docs = read_members(sdist, r"docs/(internals/deprecation|releases/\d+\.\d+)\.txt")
    fixers = _django_upgrade_fixers(fixers_wheel)
    timeline = docs["docs/internals/deprecation.txt"].splitlines()
    rows: list[dict[str, Any]] = []
    for title, start, body in sections(timeline, "-"):
        if not _VERSION.match(title) or _version(title) < DJANGO_OLDEST_REMOVAL:
            continue
        removed_in = title
        deprecated_in = ""
        chunk: list[str] = []
        chunk_start = start + 1
        for k, line in enumerate(body + ["See the END"]):
            m = re.search(r"Django (\d+\.\d+) release notes", line)
            if line.startswith("See the") or k == len(body):
                for lineno, text, nested in bullets(chunk, chunk_start):
                    rows += _django_bullet_rows(text, nested, deprecated_in, removed_in, lineno, docs, fixers)
                chunk, chunk_start = [], start + 2 + k
                if m:
                    deprecated_in = m.group(1)
                elif line.startswith("See the") and k < len(body):
                    # the reference wraps onto the next line
                    nxt = body[k + 1] if k + 1 < len(body) else ""
                    m2 = re.search(r"(\d+\.\d+) release notes", line + " " + nxt)
                    deprecated_in = m2.group(1) if m2 else ""
                continue
            chunk.append(line)
    releases = _django_releases(docs)
    return rows, releases


def _django_bullet_rows(text: str, nested: list[str], deprecated_in: str, removed_in: str, lineno: int,
                        docs: dict[str, str], fixers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    full = text + "".join(" " + n for n in nested)
    head, cue, tail = text, "", ""
    m = _REPLACEMENT_CUE.search(text)
    if m:
        head, cue, tail = text[:m.start()], m.group(0), text[m.end():]
    idents = identifiers(head) or identifiers(text)
    kind, symbols, owners = _django_kind(head if identifiers(head) else text, idents)
    if kind == "keyword" and nested:
        owners = owners + [i for n in nested for i, _ in identifiers(n)]
    if not symbols:
        symbols = [plain(text)[:80]]
    change = "removed" if re.search(r"\bwill be removed\b|\bremoved\b", full) and \
        not re.search(r"\bwill change\b|default", full) else "behavior"
    if kind == "setting":
        severity = "silent"  # Django ignores settings it no longer knows: nothing fails, behaviour changes
    elif change == "behavior" and _SILENT.search(full) and not _LOUD.search(full):
        severity = "silent"
    else:
        severity = "loud"
    replacement = re.split(r"\s+will\b", plain(tail))[0].rstrip(". ") if cue.lower().startswith("alias") else ""
    rows = []
    for symbol in dict.fromkeys(symbols):
        repl = replacement or _release_notes_replacement(docs.get(f"docs/releases/{deprecated_in}.txt", ""), symbol)
        rows.append({
            "framework": "django", "symbol": symbol, "kind": kind, "owners": tuple(dict.fromkeys(owners)),
            "change": change, "deprecated_in": deprecated_in, "removed_in": removed_in, "replacement": repl,
            "severity": severity,
            "autofix": _autofix(fixers, owners[0] if kind == "keyword" else symbol, deprecated_in)
            if deprecated_in else "",
            "text": plain(full), "source": f"docs/internals/deprecation.txt:{lineno}",
        })
    return rows


def _django_releases(docs: dict[str, str]) -> dict[str, Any]:
    """Feature releases with their minimum PostgreSQL and supported Pythons (release notes)."""
    releases: dict[str, Any] = {}
    min_pg = None
    for path in sorted((p for p in docs if p.startswith("docs/releases/")),
                       key=lambda p: _version(Path(p).stem)):
        version = Path(path).stem
        if _version(version) < (3, 0):
            continue
        text = docs[path]
        m = re.search(r"Django \d+\.\d+ supports\s+PostgreSQL (\d+) and higher", text)
        if m:
            min_pg = int(m.group(1))
        py = re.search(r"Django \d+\.\d+ supports Python ([0-9., and]+?)(?:\s*\(|\.\s)", " ".join(text.split()))
        pythons = tuple(re.findall(r"3\.\d+", py.group(1))) if py else ()
        releases[version] = {"min_postgresql": min_pg, "python": pythons, "lts": bool(re.search(
            r"long-term support|LTS", text[:3000]))}
    return releases


# --- SQLAlchemy ----------------------------------------------------------------------------------

def _marker_name(node: ast.AST) -> str:
    f = node.func if isinstance(node, ast.Call) else node
    return f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")


def _const(node: ast.AST) -> str:
    try:
        value = ast.literal_eval(node)
    except ValueError:
        # "..." % (args): keep the format string
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod):
            return _const(node.left)
        return ""
    return value if isinstance(value, str) else ""


def sqlalchemy_source_rows(sdist: Path) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for path, src in sorted(read_members(sdist, r"lib/sqlalchemy/.+\.py").items()):
        module = path.removeprefix("lib/").removesuffix(".py").removesuffix("/__init__").replace("/", ".")
        tree = ast.parse(src)
        rows += _SAVisitor(module, path).run(tree)
    return rows


class _SAVisitor(ast.NodeVisitor):
    def __init__(self, module: str, path: str) -> None:
        self.module, self.path, self.scope, self.rows = module, path, [], []  # type: ignore[var-annotated]

    def run(self, tree: ast.AST) -> list[dict[str, Any]]:
        self.visit(tree)
        return self.rows

    def _row(self, symbol: str, kind: str, text: str, line: int, replacement: str = "", owners: tuple[str, ...] = (),
             change: str = "removed") -> None:
        silent = bool(re.search(r"will not take place|will default|no longer autocommit|won't autocommit", text))
        self.rows.append({
            "framework": "sqlalchemy", "symbol": symbol, "kind": kind, "owners": owners, "change":
            "behavior" if silent else change, "deprecated_in": "1.4", "removed_in": "2.0",
            "replacement": replacement, "severity": "silent" if silent else "loud", "autofix": "",
            "text": text, "source": f"{self.path}:{line}"})

    def _def(self, node: ast.FunctionDef | ast.ClassDef | ast.AsyncFunctionDef) -> None:
        qual = ".".join([*self.scope, node.name])
        for deco in node.decorator_list:
            if not isinstance(deco, ast.Call):
                continue
            name = _marker_name(deco)
            if name in ("deprecated_20", "deprecated_20_cls") and deco.args:
                api = _const(deco.args[0])
                kw = {k.arg: k.value for k in deco.keywords}
                alt = plain(_const(kw["alternative"])) if "alternative" in kw else ""
                if name == "deprecated_20_cls":
                    symbol, kind = f"{self.module}.{node.name}", "import"
                else:
                    idents = identifiers(api)
                    symbol = idents[0][0] if idents else qual
                    kind = {"meth": "method", "attr": "attribute", "func": "import", "class": "import"}.get(
                        idents[0][1] if idents else "", "method")
                    if kind == "import" and "." not in symbol:
                        symbol = f"{self.module}.{symbol}"
                if "becomes_legacy" in kw and _const(kw["becomes_legacy"]) != "" or \
                        (isinstance(kw.get("becomes_legacy"), ast.Constant) and kw["becomes_legacy"].value):
                    self._row(symbol, kind, f"{plain(api)} is legacy in 2.0. {alt}".strip(), node.lineno, alt,
                              change="legacy")
                else:
                    self._row(symbol, kind, f"{plain(api)} is removed in 2.0. {alt}".strip(), node.lineno, alt)
            elif name == "moved_20" and deco.args:
                message = plain(_const(deco.args[0]))
                self._row(f"{self.module}.{node.name}", "import", message, node.lineno, message, change="moved")
            elif name == "deprecated_params":
                owner = qual.removesuffix(".__init__")
                for kw in deco.keywords:
                    if isinstance(kw.value, ast.Tuple) and len(kw.value.elts) == 2 and \
                            _const(kw.value.elts[0]) == "2.0":
                        self._row(kw.arg or "", "keyword", plain(_const(kw.value.elts[1])), node.lineno,
                                  owners=(owner.rsplit(".", 1)[-1] if "." in owner else owner,))
        self.scope.append(node.name)
        self.generic_visit(node)
        self.scope.pop()

    visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = _def  # type: ignore[assignment]

    def visit_Call(self, node: ast.Call) -> None:
        if _marker_name(node) == "warn_deprecated_20" and node.args:
            text = plain(_const(node.args[0]))
            owner = ".".join(self.scope[-2:]) or self.module
            self._row(owner, "behavior", text, node.lineno, owners=(owner,))
        self.generic_visit(node)


_COMMENT_CUE = re.compile(r"no longer|won't|not supported|removed|legacy|deprecat|1\.x", re.I)


def sqlalchemy_synopsis_rows(text: str, path: str) -> list[dict[str, Any]]:
    """Commented code lines in the "Synopsis" blocks of migration_20.rst: each is a pattern the
    scanner matches structurally (the code after the comment, or before a trailing comment)."""
    rows: list[dict[str, Any]] = []
    lines = text.splitlines()
    for title, start, body in sections(lines, "~"):
        syn = next((k for k, line in enumerate(body) if line.strip().lower() == "**synopsis**"), None)
        if syn is None:
            continue
        end = next((k for k in range(syn + 1, len(body)) if body[k].startswith("**")), len(body))
        block = body[syn + 1:end]
        title_plain = plain(title)
        comment = ""
        k = 0
        while k < len(block):
            line = block[k]
            stripped = line.strip()
            if stripped.startswith("#"):
                comment = (comment + " " + stripped.lstrip("# ")).strip()
                k += 1
                continue
            code, _, trailing = line.partition("  # ")
            cue = trailing.strip() or comment
            if line.startswith(" ") and stripped and _COMMENT_CUE.search(cue):
                # a statement may span lines: take lines until it parses
                stmt, j = code.strip(), k
                while True:
                    try:
                        ast.parse(stmt)
                        break
                    except SyntaxError:
                        j += 1
                        if j >= len(block) or j > k + 6:
                            stmt = ""
                            break
                        stmt += "\n" + block[j].strip()
                if stmt:
                    silent = bool(re.search(r"autocommit|evaluates to", cue + " " + title_plain, re.I))
                    legacy = "legacy" in cue.lower()
                    rows.append({
                        "framework": "sqlalchemy", "symbol": stmt, "kind": "pattern", "owners": (),
                        "change": "legacy" if legacy else "behavior" if silent else "removed",
                        "deprecated_in": "1.4", "removed_in": "2.0", "replacement": "",
                        "severity": "silent" if silent else "loud", "autofix": "",
                        "text": f"{title_plain}: {cue}", "source": f"{path}:{start + 2 + syn + 1 + k}"})
                k = j + 1 if stmt else k + 1
                comment = ""
                continue
            if stripped:
                comment = ""
            k += 1
    return rows


def sqlalchemy_rows(sdist14: Path, sdist20: Path) -> list[dict[str, Any]]:
    rows = sqlalchemy_source_rows(sdist14)
    mig = read_members(sdist14, r"doc/build/changelog/migration_20\.rst")
    for path, text in mig.items():
        rows += sqlalchemy_synopsis_rows(text, path)
    new = read_members(sdist20, r"doc/build/changelog/whatsnew_20\.rst")
    for path, text in new.items():
        rows += _behavioral(text, path)
    return rows


def _behavioral(text: str, path: str) -> list[dict[str, Any]]:
    """The subsections between the "Behavioral Changes" heading and the next same-level one."""
    lines = text.splitlines()
    heads = sorted((start, title, ch) for ch in "=-~^" for title, start, _ in sections(lines, ch))
    rows = []
    level = None
    for n, (start, title, ch) in enumerate(heads):
        if title == "Behavioral Changes":
            level = ch
            continue
        if level is None:
            continue
        if ch == level:
            break
        end = heads[n + 1][0] - 1 if n + 1 < len(heads) else len(lines)
        body = " ".join(line.strip() for line in lines[start + 1:end] if line.strip() and
                        not line.startswith(" "))
        loud = bool(re.search(r"\braises?\b|\bstricter\b", title, re.I))
        rows.append({
            "framework": "sqlalchemy", "symbol": plain(title), "kind": "behavior", "owners": (),
            "change": "behavior", "deprecated_in": "", "removed_in": "2.0", "replacement": "",
            "severity": "loud" if loud else "silent", "autofix": "",
            "text": plain(body)[:300], "source": f"{path}:{start}"})
    return rows


# --- output ----------------------------------------------------------------------------------------

_FIELDS = ("framework", "symbol", "kind", "owners", "change", "deprecated_in", "removed_in", "replacement",
           "severity", "autofix", "text", "source")


def render(name: str, doc: str, sources: dict[str, str], rows: list[dict[str, Any]],
           extra: dict[str, Any] | None = None) -> str:
    rows = sorted({tuple(r[f] for f in _FIELDS): r for r in rows}.values(),
                  key=lambda r: (r["removed_in"], r["deprecated_in"], r["kind"], r["symbol"], r["source"]))
    out = [f"# Generated by `{COMMAND}`",
           "# from " + ", ".join(f"{k} {v}" for k, v in sources.items()) + ".",
           "# Do not edit by hand: rerun the command above to regenerate.",
           f'"""{doc}"""', "", "from __future__ import annotations", "",
           "#: The source distributions these rows were read from.",
           f"SOURCES: dict[str, str] = {sources!r}", ""]
    for key, value in (extra or {}).items():
        out += [f"{key} = {value!r}", ""]
    out.append(f"#: ({', '.join(_FIELDS)})")
    out.append("ROWS: tuple[tuple[str, str, str, tuple[str, ...], str, str, str, str, str, str, str, str], ...] = (")
    for r in rows:
        out.append(f"    {tuple(r[f] for f in _FIELDS)!r},")
    out.append(")")
    return "\n".join(out) + "\n"


def generate(cache: Path) -> dict[str, str]:
    django = download(f"django=={DJANGO}", cache)
    fixers = download(f"django-upgrade=={DJANGO_UPGRADE}", cache, sdist=False)
    sa14 = download(f"sqlalchemy=={SQLALCHEMY_14}", cache)
    sa20 = download(f"sqlalchemy=={SQLALCHEMY_20}", cache)
    drows, releases = django_rows(django, fixers)
    srows = sqlalchemy_rows(sa14, sa20)
    return {
        "django.py": render("django", "Django's removed and changed APIs (deprecation timeline), its feature "
                            "releases' minimum PostgreSQL and Pythons.",
                            {"django": DJANGO, "django-upgrade": DJANGO_UPGRADE}, drows,
                            {"#: feature release -> {min_postgresql, python, lts}\nRELEASES: dict[str, dict[str, object]]":
                             releases}),
        "sqlalchemy.py": render("sqlalchemy", "SQLAlchemy 1.4 -> 2.0 removed, moved and changed APIs (1.4 source "
                                "markers, migration_20 synopses, whatsnew_20 behavioural changes).",
                                {"sqlalchemy": SQLALCHEMY_14, "sqlalchemy-whatsnew": SQLALCHEMY_20}, srows),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cache", type=Path, help="directory for the downloaded distributions (default: a temp dir)")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--check", action="store_true", help="exit 1 if the files on disk differ")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        files = generate(args.cache or Path(tmp))
    stale = []
    for name, text in files.items():
        path = args.out / name
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(str(path))
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path} ({text.count(chr(10))} lines)")
    if stale:
        print("out of date (rerun the generator): " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

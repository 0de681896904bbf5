"""Read migration files and split them into parsed statements that remember ``file:line:col``.

Parsing is libpg_query's (PostgreSQL's own grammar, through pglast) into its JSON tree
(migspec.parse.tree), offsets converted to characters of the decoded text, which is what
line/column arithmetic needs; pglast's Python nodes are built only when asked for (``node``).
"""

from __future__ import annotations

import os
import re
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from functools import cached_property
from typing import Any

from migspec.documents import read_capped
from migspec.errors import InputError
from migspec.frozen import field, frozen
from migspec.limits import MAX_SQL_BYTES, MAX_SQL_NESTING, MAX_STATEMENTS, size
from migspec.paths import display, exists, is_dir, name as path_name, stem


@frozen(order=True)
class Location:
    """Where a statement starts: file, line and column (from 1); ordered by file, then position."""

    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


@frozen
class Directive:
    """An inline instruction: ``-- migspec: allow <rule>[,<rule>] reason: <why>`` or
    ``-- migspec: confirm <target> reason: <why>``; it applies to the statement that follows."""

    verb: str  # "allow" | "confirm"
    targets: tuple[str, ...]
    reason: str
    location: Location


@frozen(eq=False)
class Statement:
    """One statement of a migration: its SQL, where it is, its parse tree, its directives."""

    sql: str
    location: Location
    tree: Any  # the statement's parse tree (libpg_query JSON: {"Kind": {...}}), or a Placeholder
    index: int  # position in the whole migration, from 0
    file_index: int  # which file of the migration, from 0
    directives: tuple[Directive, ...] = ()
    #: The framework code that produced this SQL (a Django operation, an Alembic op call), if any.
    origin: str = ""

    @property
    def kind(self) -> str:
        return type(self.tree).__name__ if isinstance(self.tree, Placeholder) else next(iter(self.tree), "")

    @cached_property
    def node(self) -> Any:
        """pglast's node of the statement (the planner re-prints SQL from it), built on first use
        by re-reading ``sql``; the Placeholder of a statement that has no SQL."""
        if isinstance(self.tree, Placeholder):
            return self.tree
        from migspec.parse.tree import statement_node

        return statement_node(self.sql)


@frozen
class Placeholder:
    """The node of a "statement" a framework wrote as a comment because it has no SQL (Django's
    RunPython in ``sqlmigrate`` output): work migspec cannot see, which must not vanish silently."""

    label: str


#: Comments frameworks print in place of an operation that has no SQL, and what they stand for.
#: Django: django/db/migrations/migration.py (Migration.apply with collect_sql) prints it for every
#: operation whose ``reduces_to_sql`` is false - RunPython, and any custom Python operation.
PLACEHOLDERS = {
    "THIS OPERATION CANNOT BE WRITTEN AS SQL": "Django operation that cannot be written as SQL (RunPython)",
}


@frozen
class Migration:
    """The statements of a migration's files, in the order they run."""

    name: str
    files: tuple[str, ...]
    statements: tuple[Statement, ...] = field(default=())
    notes: tuple[str, ...] = field(default=())  # what reading the files noticed (an empty file)


_DIRECTIVE = re.compile(r"--\s*migspec:\s*(?P<body>.*)$", re.MULTILINE)
_BODY = re.compile(r"^(?P<verb>allow|confirm)\s+(?P<targets>[^\s].*?)(?:\s+reason:\s*(?P<reason>.*))?\s*$")


def collect_files(paths: Sequence[str | os.PathLike[str]]) -> list[str]:
    """Files named, and the ``*.sql`` files of directories named, in lexical order per directory;
    each named as ``str(Path(...))`` names it (migspec.paths: pathlib only for a directory)."""
    if not paths:
        raise InputError("no migration given: name one or more .sql files or a directory")
    files: list[str] = []
    if sum(str(raw) == STDIN for raw in paths) > 1:
        raise InputError("- (standard input) can be named only once")
    for raw in paths:
        if str(raw) == STDIN:
            files.append(STDIN)
            continue
        path = display(raw)
        try:
            if is_dir(path):
                from pathlib import Path  # its walk and its order (by parts), as before

                found = sorted(p for p in Path(path).rglob("*.sql") if p.is_file())
                if not found:
                    raise InputError(f"{path}: directory holds no .sql files")
                files.extend(str(p) for p in found)
            elif exists(path):
                files.append(path)
            else:
                raise InputError(f"{path}: no such file or directory")
        except (OSError, ValueError) as exc:  # a name too long, a NUL byte in it
            raise InputError(f"{str(path)[:200]}: cannot read: {getattr(exc, 'strerror', None) or exc}") from None
    return files


#: The path that means standard input (``git show HEAD:m.sql | migspec lint -``); locations say "stdin".
STDIN = "-"


def _read_stdin() -> bytes:
    import sys

    try:
        data = sys.stdin.buffer.read(MAX_SQL_BYTES + 1)
    except (OSError, ValueError, AttributeError) as exc:  # closed, not readable, or no byte stream
        raise InputError(f"stdin: cannot read: {getattr(exc, 'strerror', None) or exc}") from None
    if len(data) > MAX_SQL_BYTES:
        raise InputError(f"stdin: file is larger than {size(MAX_SQL_BYTES)}, the limit for it (migspec.limits)")
    return data


def read_text(path: str | os.PathLike[str]) -> str:
    """The file's text, or an InputError that names what is wrong with it (also: larger than
    migspec.limits.MAX_SQL_BYTES - read no further, so /dev/zero costs no more than that)."""
    is_stdin = str(path) == STDIN
    path = "stdin" if is_stdin else display(path)  # as str(Path(path)) names it, for the messages
    data = _read_stdin() if is_stdin else read_capped(path, MAX_SQL_BYTES, "")
    if b"\x00" in data:
        raise InputError(f"{path}:1:1: not a text file (it contains NUL bytes)")
    data = data.removeprefix(b"\xef\xbb\xbf")  # a UTF-8 byte order mark is not part of the text
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        # Line and column of the first bad byte, the column in characters like every other location.
        before = data[: exc.start]
        line = before.count(b"\n") + 1
        col = len(before[before.rfind(b"\n") + 1:].decode("utf-8")) + 1
        raise InputError(f"{path}:{line}:{col}: not UTF-8 text ({exc.reason})") from None


def line_col(text: str, offset: int) -> tuple[int, int]:
    """1-based line and column of a character offset."""
    offset = max(0, min(offset, len(text)))
    line = text.count("\n", 0, offset) + 1
    start = text.rfind("\n", 0, offset) + 1
    return line, offset - start + 1


class LineIndex:
    """Line starts of one text, so that locating 10,000 statements is not 10,000 scans of the file
    (line_col on each was quadratic: 1.1 s of a 10k-statement file's 3.4 s)."""

    def __init__(self, text: str) -> None:
        self.starts = [0]
        pos = text.find("\n")
        while pos != -1:
            self.starts.append(pos + 1)
            pos = text.find("\n", pos + 1)
        self.length = len(text)

    def __call__(self, offset: int) -> tuple[int, int]:
        offset = max(0, min(offset, self.length))
        line = bisect_right(self.starts, offset)
        return line, offset - self.starts[line - 1] + 1


#: Blanks, as str.isspace() sees them (``\s`` of a str pattern: the same Unicode whitespace).
_BLANKS = re.compile(r"\s*")


def _skip_space_and_comments(text: str, pos: int, end: int) -> int:
    """Offset of the first token at or after ``pos``: pglast's stmt_location points just past the
    previous semicolon, so leading blanks and comments must be skipped for a useful column."""
    while pos < end:
        if text[pos].isspace():
            pos += 1
        elif text.startswith("--", pos):
            nl = text.find("\n", pos)
            pos = end if nl == -1 else nl + 1
        elif text.startswith("/*", pos):
            depth, pos = 1, pos + 2
            while pos < end and depth:
                if text.startswith("/*", pos):
                    depth, pos = depth + 1, pos + 2
                elif text.startswith("*/", pos):
                    depth, pos = depth - 1, pos + 2
                else:
                    pos += 1
        else:
            break
    return pos


def parse_directives(text: str, file: str, base: int, full_text: str,
                     locate: LineIndex | None = None) -> list[Directive]:
    found: list[Directive] = []
    locate = locate or LineIndex(full_text)
    for match in _DIRECTIVE.finditer(text):
        line, col = locate(base + match.start())
        where = Location(file, line, col)
        body = _BODY.match(match.group("body").strip())
        if not body:
            raise InputError(
                f"{where}: unreadable migspec directive; write "
                "'-- migspec: allow <rule> reason: <why>' or '-- migspec: confirm <target> reason: <why>'"
            )
        reason = (body.group("reason") or "").strip()
        targets = tuple(t.strip() for t in body.group("targets").split(",") if t.strip())
        if not reason:
            raise InputError(f"{where}: 'migspec: {body.group('verb')}' needs a reason: add 'reason: <why>'")
        found.append(Directive(body.group("verb"), targets, reason, where))
    return found


def _refuse_inner_directive(text: str, start: int, end: int, file: str, locate: LineIndex) -> None:
    """A directive comment inside a statement applies to nothing and would be silently ignored (the
    finding it meant to allow would still fail the build): say so instead. Comments are found with
    PostgreSQL's own scanner, so a string literal that happens to read '-- migspec:' is not one."""
    from pglast.parser import scan

    for token in scan(text[start:end]):  # offsets in characters, ``end`` inclusive
        if token.name in ("SQL_COMMENT", "C_COMMENT") and \
                _DIRECTIVE.search(text, start + token.start, start + token.end + 1):
            line, col = locate(start + token.start)
            raise InputError(f"{file}:{line}:{col}: migspec directive inside a statement applies to nothing: "
                             "put it on its own line before the statement")


#: Tokens that open / close a nesting level of an expression, and that chain one (``a + b + ...``
#: is a tree as deep as it is long; AND/OR lists are flat), as PostgreSQL's scanner names them.
_OPEN = frozenset({"ASCII_40", "ASCII_91", "CASE"})
_CLOSE = frozenset({"ASCII_41", "ASCII_93", "END_P"})
_RESET = frozenset({"ASCII_44", "ASCII_59", "WHEN", "THEN", "ELSE", "AND", "OR"})
_CHAIN = frozenset({"Op", "ASCII_42", "ASCII_43", "ASCII_45", "ASCII_47", "ASCII_37", "ASCII_94", "ASCII_60",
                    "ASCII_61", "ASCII_62", "TYPECAST", "LESS_EQUALS", "GREATER_EQUALS", "NOT_EQUALS", "NOT",
                    "NOT_LA", "IS", "ISNULL", "NOTNULL", "LIKE", "ILIKE", "SIMILAR", "BETWEEN", "COLLATE", "AT",
                    "IN_P", "OPERATOR"})
_MAYBE_DEEP = re.compile(r"[(\[+\-*/<>=~!@#%^&|`?:]|\b(?:not|case|is|isnull|notnull|like|ilike|similar|between|"
                         r"collate|at|in|operator)\b", re.IGNORECASE)


def _nesting(sql: str) -> int:
    """An upper bound on how deeply PostgreSQL's parse tree of ``sql`` nests, from its tokens
    (PostgreSQL's own scanner: quotes and comments hold no nesting); counting stops past the limit."""
    from pglast.parser import scan

    levels = [0]  # chained operators seen at each open level
    depth = 0  # open levels + chained operators on them: len(levels) - 1 + sum(levels), kept running
    for token in scan(sql):
        name = token.name
        if name in _OPEN:
            levels.append(0)
            depth += 1
        elif name in _CLOSE and len(levels) > 1:
            depth -= 1 + levels.pop()
        elif name in _RESET:
            depth -= levels[-1]
            levels[-1] = 0
        elif name in _CHAIN:
            levels[-1] += 1
            depth += 1
        if depth > MAX_SQL_NESTING:
            return depth
    return depth


def check_bounds(text: str, file: str, first_index: int = 0) -> None:
    """Refuse, before pglast builds a tree, a text with more statements than
    migspec.limits.MAX_STATEMENTS or an expression nested deeper than MAX_SQL_NESTING (50,000
    chained operators crash pglast's C code; a few thousand exhaust Python's recursion)."""
    from pglast.parser import ParseError, split

    try:
        slices = split(text, with_parser=False, only_slices=True)
    except ParseError:
        return  # the parser says what is wrong, at its place
    if first_index + len(slices) > MAX_STATEMENTS:
        raise InputError(f"{file}: more than {MAX_STATEMENTS:,} statements (the limit in migspec.limits)")
    for piece in slices:
        # Cheap first: a statement with fewer operator/bracket characters than the limit cannot exceed
        # it. Its length from the slice, not from a copy of its text (issue 16).
        if piece.stop - piece.start <= MAX_SQL_NESTING:
            continue
        sql = text[piece]
        if sum(1 for _ in zip(range(MAX_SQL_NESTING + 1), _MAYBE_DEEP.finditer(sql))) > MAX_SQL_NESTING:
            if _nesting(sql) > MAX_SQL_NESTING:
                line, col = line_col(text, piece.start)
                raise InputError(f"{file}:{line}:{col}: statement nested more than {MAX_SQL_NESTING} levels deep "
                                 "(the limit in migspec.limits)")


def parse_text(text: str, file: str, *, file_index: int = 0, first_index: int = 0) -> list[Statement]:
    """Parse one file's text into statements; a syntax error becomes ``file:line:col: message``."""
    from pglast.parser import ParseError

    from migspec.parse.tree import parse_json

    check_bounds(text, file, first_index)
    try:
        raw = parse_json(text)
    except ParseError as exc:
        message, offset = exc.args[0], exc.args[1] if len(exc.args) > 1 else None
        if offset is None:  # "syntax error at end of input" carries no offset: point past the last token
            offset = len(text.rstrip())
        line, col = line_col(text, offset)
        # 'at or near "..."' quotes the rest of an unterminated string: keep the message one line.
        message = " ".join(str(message).split())
        raise InputError(f"{file}:{line}:{col}: {message if len(message) <= 160 else message[:157] + '...'}") from None
    statements: list[Statement] = []
    locate = LineIndex(text)
    starts = locate.starts
    prev_end = 0
    placeholders = _placeholders(text)
    i = 0
    length = len(text)
    for rs in raw:
        loc = rs.get("stmt_location", 0)
        end = loc + rs["stmt_len"] if rs.get("stmt_len") else length
        # The statement's first token: most statements follow the previous one's semicolon after
        # blanks only (one C call, no loop in Python per character - issue 16).
        start = _BLANKS.match(text, loc, end).end()  # type: ignore[union-attr]
        if text.startswith(("--", "/*"), start):
            start = _skip_space_and_comments(text, start, end)
        directives: tuple[Directive, ...] = ()
        if text.find("migspec", prev_end, end) != -1:  # (no copy of the text between)
            directives = tuple(parse_directives(text[prev_end:start], file, prev_end, text, locate))
            if text.find("migspec", start, end) != -1:
                _refuse_inner_directive(text, start, end, file, locate)
        while placeholders and placeholders[0][0] < start:
            offset, comment, label = placeholders.pop(0)
            statements.append(Statement(comment, Location(file, *locate(offset)), Placeholder(label),
                                        first_index + i, file_index))
            i += 1
        line = bisect_right(starts, start)  # locate(start), without the call: 0 <= start <= length
        sql = text[start:end].strip().rstrip(";").rstrip()
        statements.append(Statement(sql, Location(file, line, start - starts[line - 1] + 1), rs["stmt"],
                                    first_index + i, file_index, directives))
        i += 1
        prev_end = end
    for offset, comment, label in placeholders:
        statements.append(Statement(comment, Location(file, *locate(offset)), Placeholder(label),
                                    first_index + i, file_index))
        i += 1
    trailing = parse_directives(text[prev_end:], file, prev_end, text, locate)
    if trailing:
        raise InputError(f"{trailing[0].location}: migspec directive is not followed by a statement")
    return statements


def _placeholders(text: str) -> list[tuple[int, str, str]]:
    """(offset, comment text, label) of every framework placeholder comment, in order. Comments are
    found with PostgreSQL's own scanner, so a string literal holding the phrase is not one."""
    if not any(marker in text for marker in PLACEHOLDERS):
        return []
    from pglast.parser import scan

    found = []
    for token in scan(text):  # offsets in characters, ``end`` inclusive
        if token.name in ("SQL_COMMENT", "C_COMMENT"):
            comment = text[token.start:token.end + 1]
            for marker, label in PLACEHOLDERS.items():
                if marker in comment:
                    found.append((token.start, comment.strip(), label))
    return found


def load_migration(paths: Sequence[str | os.PathLike[str]], *, name: str | None = None) -> Migration:
    """Read and parse every file; the migration's name defaults to the first path's stem.

    A file without statements among files that have some is a note, not an error: frameworks
    write no-op migrations (Django's ``sqlmigrate`` of a state-only change prints only comments),
    and projects keep placeholder files. Only a migration with no statement at all is refused."""
    files = collect_files(paths)
    statements: list[Statement] = []
    empty: list[str] = []
    total = 0
    for file_index, path in enumerate(files):
        text = read_text(path)
        total += len(text)
        if total > MAX_SQL_BYTES:
            raise InputError(f"{path}: the migration's files hold more than {size(MAX_SQL_BYTES)} of SQL together "
                             "(the limit in migspec.limits)")
        label = "stdin" if str(path) == STDIN else str(path)
        parsed = parse_text(text, label, file_index=file_index, first_index=len(statements))
        if not parsed:
            empty.append(label)
        statements.extend(parsed)
    if not statements:
        raise InputError(f"{empty[0]}:1:1: no SQL statements in this file")
    notes = tuple(f"{path}: no SQL statements in this file (a no-op migration?): nothing to judge"
                  for path in empty)
    first = files[0] if len(files) == 1 else display(paths[0])
    if first == STDIN:
        first = "stdin"
    return Migration(name or stem(first) or path_name(first), tuple("stdin" if f == STDIN else f for f in files),
                     tuple(statements), notes)


def iter_nodes(node: Any) -> Iterable[Any]:
    """Every pglast node below (and including) ``node``, depth first."""
    from pglast.ast import Node

    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, Node):
            yield item
            for name in item:
                stack.append(getattr(item, name))
        elif isinstance(item, (tuple, list)):
            stack.extend(item)

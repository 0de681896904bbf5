"""The YAML that stats, calibration and plan files hold, read without importing PyYAML.

Why: ``import yaml`` builds PyYAML's pure-Python reader, scanner, resolver and emitter, regular
expressions included, even when libyaml parses: ~97 M instructions, a fifth of ``migspec lint``
of one small file (issue 16: under 100 ms whole process; callgrind, CPython 3.11, PyYAML 6.0).

What: :func:`read` returns the document exactly as ``migspec.documents`` would build it from
PyYAML (YAML 1.1, PyYAML's safe types), or raises :class:`Unsupported` - and then the caller
reads the text with PyYAML, whose errors and messages stay the only ones users see. Read here:
block mappings and sequences (a sequence's items may be compact mappings, ``- name: x``), flow
mappings and sequences (also over several lines), plain scalars (also folded over several
lines), single-quoted scalars (also folded), double-quoted scalars without escapes, comments.
Plain scalars resolve as PyYAML's implicit resolvers do: null, booleans (``yes``/``on``/...),
decimal integers, floats, timestamps (dates and datetimes, as PyYAML's constructor builds them),
everything else a string. Anything else declines: anchors, aliases, tags, folded block scalars (``>``), escapes, ``---``/``...``, directives, tabs, ``\\r`` and YAML 1.1's other line breaks,
non-printable characters, complex and over-long keys, a key given twice, the merge key, the
numbers PyYAML reads in other bases or with ``_`` or ``:``, anything a plain scalar holds that
could resolve to a number or timestamp not read here, nesting deeper than the limit, and any
structure this reader does not recognise. Declining is always safe; guessing never is: a test
compares this reader with PyYAML on generated documents in every style PyYAML writes.
"""

from __future__ import annotations

import datetime
import re
from typing import Any

from migspec.limits import MAX_DOCUMENT_DEPTH, MAX_NUMBER_DIGITS


class Unsupported(Exception):
    """The text is outside what this reader handles: read it with PyYAML."""


# YAML 1.1's implicit types (https://yaml.org/type/), as PyYAML resolves plain scalars.
_TRUE = frozenset("yes Yes YES true True TRUE on On ON".split())
_FALSE = frozenset("no No NO false False FALSE off Off OFF".split())
_NULL = frozenset("~ null Null NULL".split())
_INT = re.compile(r"[-+]?(?:0|[1-9][0-9]*)")
_FLOAT = re.compile(r"[-+]?[0-9]+\.[0-9]*(?:[eE][-+][0-9]+)?")
_TIMESTAMP = re.compile(
    r"(?P<year>[0-9]{4})-(?P<month>[0-9][0-9]?)-(?P<day>[0-9][0-9]?)"
    r"(?:(?:[Tt]|[ \t]+)(?P<hour>[0-9][0-9]?):(?P<minute>[0-9]{2}):(?P<second>[0-9]{2})"
    r"(?:\.(?P<fraction>[0-9]*))?"
    r"(?:[ \t]*(?P<tz>Z|(?P<tz_sign>[-+])(?P<tz_hour>[0-9][0-9]?)(?::(?P<tz_minute>[0-9]{2}))?))?)?")
# A date alone must have two-digit month and day (the spec's first form).
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
# The characters of every other number form YAML 1.1 knows (bases, ``_``, sexagesimal, .inf, .nan):
# a plain scalar of these alone, starting like a number, is declined rather than guessed (each of
# those forms has a digit, but for .inf and .nan; only a timestamp has a space).
_NUMBERISH = re.compile(r"[-+.0-9][-+.0-9_:a-zA-Z]*|[0-9]{4}-[-+.0-9:tTzZ \t]*")
# Characters that cannot start a plain scalar, or that start what this reader declines.
_INDICATORS = frozenset("-?:,[]{}#&*!|>'\"%@`")
# YAML 1.1's line breaks besides \n, and what PyYAML's reader refuses.
_REFUSED_ASCII = re.compile("[\x00-\x09\x0b-\x1f\x7f]")
_REFUSED = "[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff\ud800-\udfff]"  # compiled if needed


def read(text: str) -> Any:
    """The document in ``text``, or :class:`Unsupported`."""
    if _REFUSED_ASCII.search(text) if text.isascii() else re.search(_REFUSED, text):
        raise Unsupported("a character this reader leaves to PyYAML")
    reader = _Reader(text.split("\n"))
    node = reader.node(-1, 0)
    reader.skip()
    if reader.pos < len(reader.lines):
        raise Unsupported(f"line {reader.pos + 1}: unexpected structure")
    return node


def scalar(text: str) -> Any:
    """A plain scalar's value, resolved as PyYAML's safe loader does."""
    if not text:
        return None
    first = text[0]
    if first in "yYnNtTfFoO":
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        return None if text in _NULL else text
    if first in "-+.0123456789":
        if _INT.fullmatch(text):
            if sum(ch.isdigit() for ch in text) > MAX_NUMBER_DIGITS:
                raise Unsupported("an over-long number")  # PyYAML's reading refuses it
            return int(text)
        if _FLOAT.fullmatch(text):
            return float(text)
        if first.isdigit():
            stamp = _TIMESTAMP.fullmatch(text)
            if stamp is not None:
                return _timestamp(stamp)
        if _NUMBERISH.fullmatch(text) and (any(ch.isdigit() for ch in text)
                                           or text.lstrip("+-").lower() in (".inf", ".nan")):
            raise Unsupported(f"a plain scalar that may be a number: {text[:40]!r}")
        return text
    if text == "~":
        return None
    if text in ("<<", "="):
        raise Unsupported("the merge and value keys")
    return text


def _timestamp(match: re.Match[str]) -> datetime.date:
    """As PyYAML's ``construct_yaml_timestamp``: a date, or a datetime (aware when a zone is given)."""
    values = match.groupdict()
    if not values["hour"] and not _DATE.fullmatch(match.group(0)):
        raise Unsupported("a date with one-digit month or day")  # a string to YAML 1.1
    try:
        year, month, day = int(values["year"]), int(values["month"]), int(values["day"])
        if not values["hour"]:
            return datetime.date(year, month, day)
        fraction = int((values["fraction"] or "")[:6].ljust(6, "0"))
        tzinfo = None
        if values["tz_sign"]:
            delta = datetime.timedelta(hours=int(values["tz_hour"]), minutes=int(values["tz_minute"] or 0))
            tzinfo = datetime.timezone(-delta if values["tz_sign"] == "-" else delta)
        elif values["tz"]:
            tzinfo = datetime.timezone.utc
        return datetime.datetime(year, month, day, int(values["hour"]), int(values["minute"]),
                                 int(values["second"]), fraction, tzinfo=tzinfo)
    except ValueError as exc:  # 2026-13-01: PyYAML's error, with its line and column
        raise Unsupported(str(exc)) from None


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


# Where a plain scalar ends: ``: `` or a final ``:``, `` #`` (a comment), and in flow context
# also ``,[]{}`` and a ``:`` before one of them.
_BLOCK_END = re.compile(r":(?= |$)| #")
_FLOW_END = re.compile(r":(?=[ ,\[\]{}]|$)| #|[,\[\]{}]")


def _plain_end(line: str, start: int, flow: bool) -> int:
    """Where a plain scalar starting at ``start`` ends (the index of what ends it, or the length)."""
    found = (_FLOW_END if flow else _BLOCK_END).search(line, start)
    if found is None:
        return len(line)
    end = found.start()
    return end + 1 if line[end] == " " else end  # `` #``: the comment's ``#``


def _single_quoted(text: str, start: int) -> tuple[str, int]:
    """The single-quoted scalar at ``text[start]`` (on one line) and the index after it."""
    out: list[str] = []
    i = start + 1
    while True:
        j = text.find("'", i)
        if j < 0:
            raise Unsupported("an unclosed single-quoted scalar")
        out.append(text[i:j])
        if text.startswith("''", j):
            out.append("'")
            i = j + 2
            continue
        return "".join(out), j + 1


def _double_quoted(text: str, start: int) -> tuple[str, int]:
    j = text.find('"', start + 1)
    if j < 0:
        raise Unsupported("an unclosed double-quoted scalar")
    body = text[start + 1:j]
    if "\\" in body:
        raise Unsupported("escapes in a double-quoted scalar")
    return body, j + 1


def _rest_is_comment(text: str, i: int) -> None:
    rest = text[i:]
    stripped = rest.lstrip(" ")
    if stripped and not (stripped[0] == "#" and len(stripped) < len(rest)):
        raise Unsupported(f"text after a value: {rest[:40]!r}")


class _Reader:
    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        self.pos = 0
        self.flows: dict[str, Any] = {}  # a one-line flow collection of scalars, by its text

    def skip(self) -> None:
        """Past blank and comment-only lines."""
        lines = self.lines
        while self.pos < len(lines):
            stripped = lines[self.pos].lstrip(" ")
            if stripped and stripped[0] != "#":
                return
            self.pos += 1

    def _line_at(self, indent: int) -> tuple[str, int] | None:
        """The next line that is not blank or a comment, with its indentation; None at the end of
        the text or when it is indented less than ``indent`` (the collection ends there)."""
        self.skip()
        if self.pos >= len(self.lines):
            return None
        line = self.lines[self.pos]
        here = _indent(line)
        return None if here < indent else (line, here)

    def node(self, parent: int, depth: int) -> Any:
        """The block node on the next line when it is indented more than ``parent``, else None."""
        self.skip()
        if self.pos >= len(self.lines):
            return None
        line = self.lines[self.pos]
        indent = _indent(line)
        if indent <= parent:
            return None
        return self.block(indent, depth)

    def block(self, indent: int, depth: int) -> Any:
        if depth >= MAX_DOCUMENT_DEPTH:
            raise Unsupported("nested deeply")
        content = self.lines[self.pos][indent:]
        if content.startswith("---") or content.startswith("...") or content[0] == "%":
            raise Unsupported("document markers and directives")
        if content == "-" or content.startswith("- "):
            return self.sequence(indent, depth)
        return self.mapping(indent, depth)

    def sequence(self, indent: int, depth: int) -> list[Any]:
        items: list[Any] = []
        lines = self.lines
        while True:
            at = self._line_at(indent)
            if at is None:
                return items
            line, here = at
            content = line[here:]
            if here > indent or not (content == "-" or content.startswith("- ")):
                if here == indent:
                    return items  # a mapping's next key after a sequence at its own indentation
                raise Unsupported(f"line {self.pos + 1}: unexpected indentation")
            rest = content[1:].lstrip(" ")
            if not rest or rest[0] == "#":
                self.pos += 1
                items.append(self.node(indent, depth + 1))
                continue
            inner = len(line) - len(rest)
            if rest.startswith("- ") or rest == "-" or self._is_key(rest):
                # A compact collection: the item's text, re-indented where it starts.
                lines[self.pos] = " " * inner + rest
                items.append(self.block(inner, depth + 1))
                continue
            items.append(self.value(rest, indent, depth + 1))

    def _is_key(self, content: str) -> bool:
        if content[0] in "'\"":
            try:
                _, end = (_single_quoted if content[0] == "'" else _double_quoted)(content, 0)
            except Unsupported:
                return False
            return content[end:end + 1] == ":" and (len(content) == end + 1 or content[end + 1] == " ")
        end = _plain_end(content, 0, flow=False)
        return end < len(content) and content[end] == ":"

    def mapping(self, indent: int, depth: int) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        lines = self.lines
        while True:
            at = self._line_at(indent)
            if at is None:
                return out
            line, here = at
            if here > indent:
                raise Unsupported(f"line {self.pos + 1}: unexpected indentation")
            content = line[here:]
            if content == "-" or content.startswith("- "):
                return out  # a sequence at the mapping's own indentation: the caller's
            key, after = self._key(content)
            if key in out:
                raise Unsupported("a key given twice")  # PyYAML's reading names it
            rest = content[after:].lstrip(" ")
            if not rest or rest[0] == "#":
                self.pos += 1
                self.skip()
                value = None
                if self.pos < len(lines):
                    below = lines[self.pos]
                    at = _indent(below)
                    if at > indent or (at == indent and (below[at:] == "-" or below[at:].startswith("- "))):
                        value = self.block(at, depth + 1)
                out[key] = value
                continue
            out[key] = self.value(rest, indent, depth + 1)

    def _key(self, content: str) -> tuple[Any, int]:
        """A block mapping's key and the index after its ``:``."""
        first = content[0]
        if first in "'\"":
            text, end = (_single_quoted if first == "'" else _double_quoted)(content, 0)
            key: Any = text
        else:
            if first in _INDICATORS:
                raise Unsupported(f"a key starting with {first!r}")
            end = _plain_end(content, 0, flow=False)
            key = scalar(content[:end].rstrip(" "))
        if content[end:end + 1] != ":" or not (len(content) == end + 1 or content[end + 1] == " "):
            raise Unsupported(f"line {self.pos + 1}: not a 'key: value' line")
        if end > 1024:
            raise Unsupported("a key over 1024 characters")
        return key, end + 1

    def _continuation(self, parent: int) -> list[str]:
        """The lines after the current one that continue its scalar (indented more than
        ``parent``), blank lines kept as empty strings; the position moves past them."""
        lines = self.lines
        out: list[str] = []
        pos = self.pos + 1
        while pos < len(lines):
            line = lines[pos]
            stripped = line.strip(" ")
            if stripped and _indent(line) <= parent:
                break
            out.append(stripped)
            pos += 1
        while out and not out[-1]:
            out.pop()  # trailing blank lines belong to no scalar
            pos -= 1
        self.pos = pos
        return out

    def value(self, rest: str, parent: int, depth: int) -> Any:
        """The value starting at ``rest`` (the current line's text from the value on), with the
        lines that continue it (indented more than ``parent``); leaves the position on the next line."""
        first = rest[0]
        if first in "[{":
            return self._flow_block(rest, parent, depth)
        if first in "'\"":
            line_end = (_single_quoted if first == "'" else _double_quoted)
            try:
                text, end = line_end(rest, 0)
            except Unsupported:
                if first == '"':
                    raise
                # Folded over lines: join them as YAML folds, then read it as one line.
                folded = _fold([rest, *self._continuation(parent)])
                text, end = _single_quoted(folded, 0)
                _rest_is_comment(folded, end)
                return text
            _rest_is_comment(rest, end)
            self.pos += 1
            return text
        if rest in ("|", "|-") or rest.startswith(("| #", "|- #")):
            return self._literal(parent, strip=rest.startswith("|-"))
        if first in _INDICATORS and not (first in "-?:" and len(rest) > 1 and rest[1] != " "):
            raise Unsupported(f"a value starting with {first!r}")
        end = _plain_end(rest, 0, flow=False)
        head = rest[:end].rstrip(" ")
        if end < len(rest):
            if rest[end] == ":":
                raise Unsupported("a mapping value where a scalar was expected")
            self.pos += 1
            return scalar(head)  # a comment follows: nothing continues this scalar
        more = self._continuation(parent)
        if not more:
            return scalar(head)
        for line in more:
            if line and (line[0] in _INDICATORS or _plain_end(line, 0, flow=False) < len(line)):
                raise Unsupported("a continuation line this reader does not fold")
        return scalar(_fold([head, *more]))

    def _literal(self, parent: int, *, strip: bool) -> str:
        """A literal block scalar (``|``, or ``|-`` without its final line break), its indentation
        taken from its first line; the more exotic forms (``+``, an indentation indicator, a
        first line after blank ones, a whitespace line deeper than the text) are declined."""
        lines = self.lines
        pos = self.pos + 1
        out: list[str] = []
        width = -1
        while pos < len(lines):
            line = lines[pos]
            here = _indent(line)
            if here == len(line):  # blank, or spaces only
                if width < 0 or here > width:
                    raise Unsupported("blank lines a literal scalar's reading depends on")
                out.append("")
            elif here <= parent:
                break
            else:
                if width < 0:
                    width = here
                elif here < width:
                    raise Unsupported("a literal scalar line indented less than its first")
                out.append(line[width:])
            pos += 1
        while out and not out[-1]:
            out.pop()
            pos -= 1
        if out and pos == len(lines):
            raise Unsupported("a literal scalar at the end of a text without a final line break")
        self.pos = pos
        return "\n".join(out) + ("\n" if out and not strip else "")

    def _flow_block(self, rest: str, parent: int, depth: int) -> Any:
        """A flow collection starting at ``rest``, over as many lines as it takes."""
        if depth + 1 < MAX_DOCUMENT_DEPTH:
            known = self.flows.get(rest)
            if known is not None:  # the same one-line collection of scalars again: a fresh copy
                self.pos += 1
                return known.copy()
        text = rest
        lines = self.lines
        while True:
            try:
                value, end = _Flow(text, depth).collection(0)
            except _Open:
                self.pos += 1
                if self.pos >= len(lines):
                    raise Unsupported("an unclosed flow collection") from None
                line = lines[self.pos]
                stripped = line.strip(" ")
                if not stripped or _indent(line) <= parent or stripped[0] == "#":
                    raise Unsupported("a flow collection this reader does not join") from None
                text = text.rstrip(" ") + " " + stripped
                continue
            _rest_is_comment(text, end)
            self.pos += 1
            if text is rest and not any(isinstance(v, (dict, list)) for v in (value.values() if isinstance(value, dict) else value)):
                # A stats file repeats a table's lock_contention and columns text for many tables.
                self.flows[rest] = value.copy()
            return value


def _fold(parts: list[str]) -> str:
    """YAML's line folding: a line break between two lines is a space, each blank line a newline."""
    out = parts[0].rstrip(" ")
    blanks = 0
    for part in parts[1:]:
        if not part:
            blanks += 1
            continue
        out += ("\n" * blanks if blanks else " ") + part
        blanks = 0
    return out


class _Open(Exception):
    """The flow collection goes on past the end of the text read so far."""


class _Flow:
    """A flow collection on one (joined) line: ``{k: v, ...}`` and ``[v, ...]``."""

    def __init__(self, text: str, depth: int) -> None:
        self.text = text
        self.depth = depth

    def _space(self, i: int) -> int:
        text = self.text
        try:
            while text[i] == " ":
                i += 1
        except IndexError:
            raise _Open from None
        if text[i] == "#":
            raise Unsupported("a comment inside a flow collection")
        return i

    def collection(self, i: int) -> tuple[Any, int]:
        self.depth += 1
        if self.depth > MAX_DOCUMENT_DEPTH:
            raise Unsupported("nested deeply")
        mapping = self.text[i] == "{"
        close = "}" if mapping else "]"
        out: Any = {} if mapping else []
        i += 1
        while True:
            i = self._space(i)
            if self.text[i] == close:
                self.depth -= 1
                return out, i + 1
            if mapping:
                key, i = self.item(i, key=True)
                i = self._space(i)
                if self.text[i] != ":":
                    raise Unsupported("a flow mapping key without a value")
                if key in out:
                    raise Unsupported("a key given twice")
                value, i = self.item(i + 1, key=False)
                out[key] = value
            else:
                value, i = self.item(i, key=False)
                out.append(value)
            i = self._space(i)
            ch = self.text[i]
            if ch == ",":
                i = self._space(i + 1)
                if self.text[i] in ",]}":
                    raise Unsupported("an empty or trailing flow entry")
            elif ch != close:
                raise Unsupported(f"unexpected {ch!r} in a flow collection")

    def item(self, i: int, *, key: bool) -> tuple[Any, int]:
        i = self._space(i)
        text = self.text
        ch = text[i]
        if ch in "[{":
            if key:
                raise Unsupported("a collection as a key")
            return self.collection(i)
        if ch == "'":
            return _single_quoted(text, i)
        if ch == '"':
            return _double_quoted(text, i)
        if ch in ",]}":
            if key or text[i] != "}" and text[i] != ",":
                raise Unsupported("an empty flow entry")
            return None, i  # ``{a: }``: an empty value is null
        if ch in _INDICATORS and not (ch in "-?:" and i + 1 < len(text) and text[i + 1] not in " ,[]{}"):
            raise Unsupported(f"a flow scalar starting with {ch!r}")
        end = _plain_end(text, i, flow=True)
        if end >= len(text):
            raise _Open
        if text[end] == "#":
            raise Unsupported("a comment inside a flow collection")
        if text[end] == ":" and not key:
            raise Unsupported("a single-pair mapping inside a flow collection")
        return scalar(text[i:end].rstrip(" ")), end

"""Text laid out to a width, styled by meaning, with no terminal library: renderers build blocks
(prose that wraps at spaces, SQL that breaks only where whitespace means nothing) and this module
lays them out; ``plain`` joins the pieces, ``migspec.render.terminal`` colours the same lines.

A style is a name (``risk.RED``, ``lock``, ``estimate``, ``sql``, ...), never an escape code, so
piped output and ``--format text`` stay plain text that a test can compare."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from migspec.frozen import frozen


Segment = tuple[str, str]  # (text, style name; "" is unstyled)
Line = list[Segment]

#: Styles whose text never wraps inside: a lock mode, an estimate range ("47.8 s-63.7 s").
UNBROKEN = frozenset({"lock", "estimate"})

#: Plain text goes to files, CI logs and pipes: one fixed width, so the output is the same everywhere.
PLAIN_WIDTH = 100


@frozen
class Para:
    """Prose: words wrap at spaces (runs of spaces kept inside a line); continuation lines start at
    ``hang``. A word longer than a whole line is cut, since prose has no meaning to keep in one piece."""
    segments: tuple[Segment, ...]
    indent: int = 0
    hang: int | None = None  # default: indent + 4


@frozen
class Sql:
    """One SQL statement (or a ``--`` comment) after a label: its own line breaks kept, a line too long
    broken only at whitespace outside string literals, quoted names, comments and dollar-quoted
    literals (a function or DO body is code: it breaks too), continued two columns further in."""
    text: str
    indent: int
    label: tuple[Segment, ...] = ()


Block = Para | Sql


def para(*segments: Segment | str, indent: int = 0, hang: int | None = None) -> Para:
    return Para(tuple((s, "") if isinstance(s, str) else s for s in segments), indent, hang)


def layout(blocks: Iterable[Block], width: int) -> list[Line]:
    out: list[Line] = []
    for block in blocks:
        out += _para(block, width) if isinstance(block, Para) else _sql(block, width)
    return [_merged(line) for line in out]


def _merged(line: Line) -> Line:
    """Neighbouring pieces of one style as one piece (fewer escape codes, whole SQL lines to highlight)."""
    out: Line = []
    for text, style in line:
        if out and out[-1][1] == style:
            out[-1] = (out[-1][0] + text, style)
        elif text:
            out.append((text, style))
    return out


def plain(lines: Sequence[Line]) -> str:
    return "".join("".join(text for text, _ in line).rstrip() + "\n" for line in lines)


# --- prose ---------------------------------------------------------------------------------------

_WORD = re.compile(r"[^ ]+")


def _para(p: Para, width: int) -> list[Line]:
    """Greedy wrapping of the paragraph's text, then its styles cut to each line's span."""
    hang = p.indent + 4 if p.hang is None else p.hang
    text = "".join(t for t, _ in p.segments)
    spans: list[tuple[int, int, str]] = []
    pos = 0
    for t, style in p.segments:
        spans.append((pos, pos + len(t), style))
        pos += len(t)
    if p.indent + len(text) <= width:  # the common case: one line
        return [_styled(text, spans, 0, len(text), p.indent)]
    glued = text  # spaces inside an unbroken span (a lock mode, an estimate) are not break points
    for a, b, style in spans:
        if style in UNBROKEN:
            glued = glued[:a] + glued[a:b].replace(" ", "\0") + glued[b:]
    lines: list[Line] = []
    first, col, indent = None, p.indent, p.indent  # first: the current line's start offset
    last = 0  # end of the last word placed
    for m in _WORD.finditer(glued):
        a, b = m.span()
        if first is None:
            first, col = a, indent + (b - a)
        elif col + (a - last) + (b - a) <= width:
            col += (a - last) + (b - a)
        else:
            lines.append(_styled(text, spans, first, last, indent))
            first, indent, col = a, hang, hang + (b - a)
        while col > width and b - first > 1 and width - indent > 0:  # longer than a line: cut it
            cut = first + (width - indent)
            lines.append(_styled(text, spans, first, cut, indent))
            first, indent, col = cut, hang, hang + (b - cut)
        last = b
    lines.append(_styled(text, spans, first or 0, last, indent))
    return lines


def _styled(text: str, spans: list[tuple[int, int, str]], a: int, b: int, indent: int) -> Line:
    line: Line = [(" " * indent, "")] if indent else []
    for start, end, style in spans:
        lo, hi = max(a, start), min(b, end)
        if lo < hi:
            line.append((text[lo:hi], style))
    return line


# --- SQL -------------------------------------------------------------------------------------------

# A dollar quote's tag: [A-Za-z_\x80-\uffff] then [A-Za-z_0-9\x80-\uffff]*, written as the complements
# (same code points, tests/test_startup.py): the ranges up to U+FFFF cost `re` ~10 ms to compile
# at every start, the complements 0.5 ms (issue 16).
_DOLLAR = re.compile(r"\$([^\x00-\x40\x5b-\x5e\x60\x7b-\x7f\U00010000-\U0010ffff]"
                     r"[^\x00-\x2f\x3a-\x40\x5b-\x5e\x60\x7b-\x7f\U00010000-\U0010ffff]*)?\$")
#: A dollar quote right after these opens code (a DO or function body), not a string value.
_BODY_KEYWORDS = frozenset({"DO", "AS"})
_BLANK = " \t\n"


def break_points(sql: str) -> list[int]:
    """Offsets of whitespace in ``sql`` that a line break may replace without changing the statement:
    the gaps between PostgreSQL's own tokens (pglast's scanner: literals, quoted names and comments
    are tokens, kept whole); a dollar-quoted DO or function body is code, and breaks between its own
    tokens too. SQL the scanner refuses gets no break points."""
    from pglast.parser import scan

    try:
        tokens = scan(sql)
    except Exception:  # noqa: BLE001 - unscannable text is shown as it is, unbroken
        return []
    points: list[int] = []
    pos, previous = 0, ""
    for token in tokens:
        points += [i for i in range(pos, token.start) if sql[i] in _BLANK]
        text = sql[token.start:token.end + 1]
        quote = _DOLLAR.match(text)
        if token.name == "SCONST" and previous in _BODY_KEYWORDS and quote and len(text) > 2 * len(quote[0]):
            inner = token.start + len(quote[0])
            points += [inner + p for p in break_points(text[len(quote[0]):-len(quote[0])])]
        pos, previous = token.end + 1, token.name
    return points + [i for i in range(pos, len(sql)) if sql[i] in _BLANK]


def _sql(block: Sql, width: int) -> list[Line]:
    label = list(block.label)
    start = block.indent + sum(len(t) for t, _ in label)
    points = break_points(block.text)
    lines: list[Line] = []
    offset = 0
    for k, text in enumerate(block.text.split("\n")):
        prefix: Line = [(" " * block.indent, "")] + label if k == 0 else [(" " * start, "")]
        breaks = [p - offset for p in points if offset <= p < offset + len(text)]
        comment = text.lstrip().startswith("--") and text.lstrip().removeprefix("--").strip() != ""
        if comment and not breaks:  # a comment line: wrapped as prose, each piece still a comment
            lines += _comment(text, prefix, start, width)
        else:
            lines += _break(text, breaks, prefix, start, width)
        offset += len(text) + 1
    return lines


def _comment(text: str, prefix: Line, start: int, width: int) -> list[Line]:
    body = text.strip().removeprefix("--").strip()
    wrapped = _para(Para(((body, "comment"),), 0, 0), max(width - start - 3, 10))
    return [(prefix if k == 0 else [(" " * start, "")]) + [("-- ", "comment")] + line
            for k, line in enumerate(wrapped)]


def _break(text: str, breaks: list[int], prefix: Line, start: int, width: int) -> list[Line]:
    """Greedy: each piece as long as fits; a piece with no break point before the width stays whole."""
    out: list[Line] = []
    pos = 0
    cont = start + len(text) - len(text.lstrip(" ")) + 4  # deeper than the line's own indentation
    room = width - start
    allowed = set(breaks)
    while True:
        rest = len(text) - pos
        if rest <= room:
            break
        fits = [b for b in breaks if pos < b <= pos + room]
        cut = fits[-1] if fits else next((b for b in breaks if b > pos), None)
        if cut is None:
            break
        out.append(prefix + [(text[pos:cut].rstrip(), "sql")])
        pos = cut + 1
        while pos < len(text) and pos in allowed:  # whitespace runs go with the break
            pos += 1
        prefix, room = [(" " * cont, "")], width - cont
    out.append(prefix + [(text[pos:], "sql")])
    return out

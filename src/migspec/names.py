"""Qualified names and the one identifier-quoting function every emitted statement uses."""

from __future__ import annotations

import re
from dataclasses import dataclass

from pglast.keywords import UNRESERVED_KEYWORDS

from pglast import keywords as _kw

# PostgreSQL's quote_ident() leaves an identifier bare only when it is lower case, starts with a
# letter or underscore, and is not a keyword other than an unreserved one (ruleutils.c).
_SAFE = re.compile(r"^[a-z_][a-z0-9_$]*$")
_NEEDS_QUOTES = (
    set(_kw.RESERVED_KEYWORDS) | set(_kw.TYPE_FUNC_NAME_KEYWORDS) | set(_kw.COL_NAME_KEYWORDS)
) - set(UNRESERVED_KEYWORDS)


def quote_ident(name: str) -> str:
    """Quote ``name`` exactly when PostgreSQL's own quote_ident() would."""
    if _SAFE.match(name) and name not in _NEEDS_QUOTES:
        return name
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: str) -> str:
    """A standard-conforming string literal."""
    return "'" + value.replace("'", "''") + "'"


@dataclass(frozen=True, order=True)
class QualifiedName:
    """``schema.name`` of a table, index, type or sequence; a bare name means ``public``."""

    schema: str
    name: str

    @classmethod
    def parse(cls, text: str) -> QualifiedName:
        """Parse the user's spelling ``schema.table`` or ``table`` (as in a stats file); quoted parts
        keep their case and may hold dots or spaces, unquoted parts fold to lower case."""
        parts = split_name(text)
        if len(parts) == 1:
            return cls("public", parts[0])
        if len(parts) == 2:
            return cls(parts[0], parts[1])
        raise ValueError(f"not a table name: {text!r}")

    @property
    def sql(self) -> str:
        """The name as it must appear in SQL: each part through quote_ident."""
        return f"{quote_ident(self.schema)}.{quote_ident(self.name)}"

    def __str__(self) -> str:
        # Displayed as SQL so that what migspec prints can be pasted back (stats keys, --confirm).
        return self.sql

    def sibling(self, name: str) -> QualifiedName:
        """Another object in the same schema (an index, a view, a helper column's trigger)."""
        return QualifiedName(self.schema, name)


def split_name(text: str) -> list[str]:
    """``a."B c".d`` -> ``['a', 'B c', 'd']``: dots inside double quotes do not split; unquoted parts
    fold to lower case, as PostgreSQL folds them."""
    parts: list[str] = []
    buf: list[str] = []
    quoted = was_quoted = False
    i, text = 0, text.strip()
    while i < len(text):
        ch = text[i]
        if quoted:
            if ch == '"' and i + 1 < len(text) and text[i + 1] == '"':
                buf.append('"')
                i += 1
            elif ch == '"':
                quoted = False
            else:
                buf.append(ch)
        elif ch == '"':
            quoted = was_quoted = True
        elif ch == ".":
            parts.append("".join(buf) if was_quoted else "".join(buf).strip().lower())
            buf, was_quoted = [], False
        else:
            buf.append(ch)
        i += 1
    if quoted:
        raise ValueError(f"unterminated quoted name: {text!r}")
    parts.append("".join(buf) if was_quoted else "".join(buf).strip().lower())
    if not all(parts):
        raise ValueError(f"not a name: {text!r}")
    return parts

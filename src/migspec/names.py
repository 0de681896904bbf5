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
        """Parse the user's spelling ``schema.table`` or ``table`` (as in a stats file)."""
        schema, dot, name = text.strip().rpartition(".")
        if not name or (dot and not schema):
            raise ValueError(f"not a table name: {text!r}")
        return cls(_unquote(schema) if dot else "public", _unquote(name))

    @property
    def sql(self) -> str:
        """The name as it must appear in SQL: each part through quote_ident."""
        return f"{quote_ident(self.schema)}.{quote_ident(self.name)}"

    def __str__(self) -> str:
        return f"{self.schema}.{self.name}"

    def sibling(self, name: str) -> QualifiedName:
        """Another object in the same schema (an index, a view, a helper column's trigger)."""
        return QualifiedName(self.schema, name)


def _unquote(part: str) -> str:
    if len(part) >= 2 and part[0] == part[-1] == '"':
        return part[1:-1].replace('""', '"')
    return part.lower()

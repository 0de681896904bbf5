"""Qualified names and the one identifier-quoting function every emitted statement uses."""

from __future__ import annotations

import re
from functools import cache, cached_property

from pglast.keywords import UNRESERVED_KEYWORDS

from pglast import keywords as _kw

from migspec.frozen import frozen

# PostgreSQL's quote_ident() leaves an identifier bare only when it starts with a-z or _, holds
# only a-z, 0-9 and _ (not $, not upper case, not non-ASCII), and is not a keyword other than an
# unreserved one (ruleutils.c, quote_identifier).  fullmatch: "$" would also match before a "\n".
_SAFE = re.compile(r"[a-z_][a-z0-9_]*")
_NEEDS_QUOTES = (
    set(_kw.RESERVED_KEYWORDS) | set(_kw.TYPE_FUNC_NAME_KEYWORDS) | set(_kw.COL_NAME_KEYWORDS)
) - set(UNRESERVED_KEYWORDS)


@cache  # the same few names are quoted for every finding and message (80,000 calls on 10,000 statements)
def quote_ident(name: str) -> str:
    """Quote ``name`` exactly when PostgreSQL's own quote_ident() would."""
    if _SAFE.fullmatch(name) and name not in _NEEDS_QUOTES:
        return name
    return '"' + name.replace('"', '""') + '"'


#: PostgreSQL keeps identifiers to NAMEDATALEN - 1 = 63 bytes (pg_config_manual.h; manual "4.1.1.
#: Identifiers and Key Words"), cutting longer ones at a character boundary (pg_mbcliplen).
MAX_IDENTIFIER_BYTES = 63


def identifier(name: str) -> str:
    """A derived name (``users_email_idx``, ``col__migspec_new``) as PostgreSQL stores it: cut to
    63 bytes - not characters: a multi-byte name is cut earlier - at a character boundary. Every
    name migspec derives goes through here, so the name it plans is the name the server keeps."""
    data = name.encode("utf-8")
    if len(data) <= MAX_IDENTIFIER_BYTES:
        return name
    return data[:MAX_IDENTIFIER_BYTES].decode("utf-8", errors="ignore")


def default_index_name(table: QualifiedName, columns: tuple[str, ...], unique: bool = False) -> str:
    """PostgreSQL's own choice for an unnamed index: table_col1_col2_idx (or _key), 63 bytes max."""
    suffix = "key" if unique else "idx"
    return identifier(f"{table.name}_{'_'.join(columns) or 'expr'}_{suffix}")


def quote_literal(value: str) -> str:
    """A standard-conforming string literal."""
    return "'" + value.replace("'", "''") + "'"


@frozen(order=True)
class QualifiedName:
    """``schema.name`` of a table, index, type or sequence; a bare name means ``public``."""

    schema: str
    name: str

    def __eq__(self, other: object) -> bool:
        # The dataclass's own __eq__ builds two tuples per call; names are compared in every dict
        # lookup by table (schema, stats, held locks): ~60,000 calls on 10,000 statements (issue 16).
        if other.__class__ is self.__class__:
            return self.name == other.name and self.schema == other.schema  # type: ignore[attr-defined]
        return NotImplemented

    def __hash__(self) -> int:
        return hash((self.schema, self.name))  # the dataclass's own: equal names, equal hashes, same order

    @classmethod
    def of(cls, schema: str, name: str) -> QualifiedName:
        """The one shared instance of ``schema.name`` (the parser's and the stats file's names): a
        dict keyed by names then finds its key by identity, without calling __eq__ - a name is
        looked up some 60,000 times on 10,000 statements (issue 16). Equal to any other instance."""
        key = (schema, name)
        found = _SHARED.get(key)
        if found is None:
            found = _SHARED[key] = cls(schema, name)
        return found

    @classmethod
    def parse(cls, text: str) -> QualifiedName:
        """Parse the user's spelling ``schema.table`` or ``table`` (as in a stats file); quoted parts
        keep their case and may hold dots or spaces, unquoted parts fold to lower case."""
        parts = split_name(text)
        if len(parts) == 1:
            return cls.of("public", parts[0])
        if len(parts) == 2:
            return cls.of(parts[0], parts[1])
        raise ValueError(f"not a table name: {text!r}")

    @cached_property  # once per name: printed in most findings and messages (issue 16)
    def sql(self) -> str:
        """The name as it must appear in SQL: each part through quote_ident."""
        return f"{quote_ident(self.schema)}.{quote_ident(self.name)}"

    def __str__(self) -> str:
        # Displayed as SQL so that what migspec prints can be pasted back (stats keys, --confirm).
        return self.sql

    def sibling(self, name: str) -> QualifiedName:
        """Another object in the same schema (an index, a view, a helper column's trigger)."""
        return QualifiedName(self.schema, name)


#: QualifiedName.of's instances, one per (schema, name) met in this process: immutable values, as
#: many as the distinct names of the inputs read.
_SHARED: dict[tuple[str, str], QualifiedName] = {}


def split_name(text: str) -> list[str]:
    """``a."B c".d`` -> ``['a', 'B c', 'd']``, as PostgreSQL's parse_ident() splits it: dots inside
    double quotes do not split, unquoted parts must be identifiers and fold to lower case (ASCII
    letters only, as in a UTF-8 database), blanks around the parts are ignored."""
    parts: list[str] = []
    i, n = 0, len(text)
    while True:
        while i < n and text[i] in _BLANKS:
            i += 1
        if i < n and text[i] == '"':
            buf: list[str] = []
            j = i + 1
            while True:
                k = text.find('"', j)
                if k == -1:
                    raise ValueError(f"unterminated quoted name: {text!r}")
                buf.append(text[j:k])
                if text.startswith('""', k):
                    buf.append('"')
                    j = k + 2
                    continue
                i = k + 1
                break
            part = "".join(buf)
        else:
            m = _UNQUOTED.match(text, i)
            part = m.group().translate(_ASCII_LOWER) if m else ""
            i = m.end() if m else i
        if not part:
            raise ValueError(f"not a name: {text!r}")
        parts.append(part)
        while i < n and text[i] in _BLANKS:
            i += 1
        if i == n:
            return parts
        if text[i] != ".":
            raise ValueError(f"not a name: {text!r}")
        i += 1


# The scanner's identifier (scan.l: ident_start, ident_cont; bytes >= 0x80 count as letters) and
# the blanks parse_ident() skips (scansup.c: scanner_isspace).  The classes are
# [A-Za-z_\x80-\U0010ffff] and [A-Za-z0-9_$\x80-\U0010ffff] written as their ASCII complements:
# the same code points (tests/test_startup.py compares them over all of Unicode), but a range
# above U+FFFF costs `re` ~10 ms to compile at every start, the complement 0.1 ms (issue 16).
_UNQUOTED = re.compile(r"[^\x00-\x40\x5b-\x5e\x60\x7b-\x7f][^\x00-\x23\x25-\x2f\x3a-\x40\x5b-\x5e\x60\x7b-\x7f]*")
_BLANKS = " \t\n\r\v\f"
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")

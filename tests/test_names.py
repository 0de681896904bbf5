"""migspec.names against a real server: quote_ident must agree with PostgreSQL's quote_ident(), and
the user's spelling of a name must split as PostgreSQL's parse_ident() splits it."""

from __future__ import annotations

import psycopg
import pytest
from pglast import keywords as kw
from psycopg import sql

from migspec.names import QualifiedName, quote_ident, quote_literal, split_name

#: Identifiers that probe every branch of ruleutils.c quote_identifier(): case, characters outside
#: [a-z0-9_], a leading digit, quotes, keywords of each category, non-ASCII, blanks, the empty name.
IDENTIFIERS = [
    "orders", "order_items", "_x", "_", "x1", "x_", "a" * 63,
    "Orders", "ORDERS", "camelCase",
    "select", "user", "order", "table", "from", "group", "all", "any", "offset", "current_user",
    "session_user", "authorization", "left", "join", "collate", "true", "null",  # reserved / type_func
    "between", "int", "integer", "char", "varchar", "values",  # col_name keywords
    "name", "action", "type", "value", "data", "text", "over", "filter",  # unreserved: bare
    "café", "Café", "ü", "日本",
    "1abc", "123", "9",
    "my table", " lead", "trail ", "tab\tin", "new\nline", "abc\n",
    'my"table', '"', '""', 'a"b"c',
    "a$b", "$a", "a-b", "a.b", "a;b",
    "",
]


@pytest.fixture
def server_quote(pg: psycopg.Connection):
    def quote(name: str) -> str:
        return pg.execute("SELECT quote_ident(%s)", (name,)).fetchone()[0]
    return quote


def test_quote_ident_matches_the_server(server_quote) -> None:
    mismatches = {name: (quote_ident(name), server_quote(name)) for name in IDENTIFIERS
                  if quote_ident(name) != server_quote(name)}
    assert mismatches == {}


def test_quote_ident_matches_the_server_for_every_keyword(pg: psycopg.Connection, server_quote) -> None:
    """Every keyword the server and pglast put in the same category quotes identically; a keyword
    only a newer PostgreSQL reserves (pglast follows the newest grammar) is quoted by migspec, which
    the older server must still accept as the same name."""
    server = dict(pg.execute("SELECT word, catcode FROM pg_get_keywords()").fetchall())
    ours = {}
    for code, words in (("U", kw.UNRESERVED_KEYWORDS), ("C", kw.COL_NAME_KEYWORDS),
                        ("T", kw.TYPE_FUNC_NAME_KEYWORDS), ("R", kw.RESERVED_KEYWORDS)):
        for word in words:
            ours[word] = code
    same = [w for w in server if ours.get(w) == server[w]]
    assert len(same) > 400  # the comparison covers the keyword list, not a handful
    assert {w: quote_ident(w) for w in same if quote_ident(w) != server_quote(w)} == {}
    newer = [w for w in ours if w not in server or ours[w] != server[w]]
    for word in newer:
        if quote_ident(word) != server_quote(word):
            assert quote_ident(word) == f'"{word}"' and ours[word] != "U"
            got = pg.execute(sql.SQL("SELECT 1 AS {}").format(sql.SQL(quote_ident(word)))).description[0].name
            assert got == word


def test_quote_ident_round_trips_through_the_server(pg: psycopg.Connection) -> None:
    """Whatever quote_ident returns, the server reads back as the same name."""
    for name in IDENTIFIERS:
        if not name or '\x00' in name:
            continue  # a zero-length identifier is not valid SQL at all
        got = pg.execute(sql.SQL("SELECT 1 AS {}").format(sql.SQL(quote_ident(name)))).description[0].name
        assert got == name


def test_quote_literal_round_trips(pg: psycopg.Connection) -> None:
    for value in ["", "it's", "''", "back\\slash", "café", "new\nline", "$$"]:
        assert pg.execute(sql.SQL("SELECT {}").format(sql.SQL(quote_literal(value)))).fetchone()[0] == value


SPELLINGS = [
    "orders", "Orders", "public.orders", "Public.Orders", '"Public"."Orders"', " a . b ", '"a.b".c',
    'A."B c"', "CAFÉ", "café", "a$b", '"a""b"', '"x"."y z"', "a.b.c", 'a. "B"', "_1.x",
    # not names: parse_ident() rejects every one of these
    "my table", "$a", "1a", "a..b", "", "  ", '"x"y', ".a", "a.", '"unterminated', '""', "a b.c", "a-b",
]


def test_split_name_matches_parse_ident(pg: psycopg.Connection) -> None:
    for text in SPELLINGS:
        try:
            server = pg.execute("SELECT parse_ident(%s)", (text,)).fetchone()[0]
        except psycopg.errors.DatabaseError:
            server = None
        try:
            ours = split_name(text)
        except ValueError:
            ours = None
        assert ours == server, text


def test_qualified_name_parse() -> None:
    assert QualifiedName.parse("orders") == QualifiedName("public", "orders")
    assert QualifiedName.parse("Sales.Orders") == QualifiedName("sales", "orders")
    assert QualifiedName.parse('"Sales"."Order Items"') == QualifiedName("Sales", "Order Items")
    assert QualifiedName.parse('"a.b"') == QualifiedName("public", "a.b")
    for bad in ["", "a.b.c", "my table", ".orders", "orders.", '"orders', "a..b"]:
        with pytest.raises(ValueError):
            QualifiedName.parse(bad)


def test_qualified_name_sql_round_trips() -> None:
    for schema in ["public", "Sales", "my schema", "user"]:
        for name in IDENTIFIERS:
            if not name:
                continue
            qn = QualifiedName(schema, name)
            assert QualifiedName.parse(qn.sql) == qn, qn.sql
            assert QualifiedName.parse(str(qn)) == qn


def test_qualified_name_sql_creates_that_table(pg: psycopg.Connection) -> None:
    """The emitted name, pasted into DDL, makes the table the QualifiedName describes."""
    pg.execute('CREATE SCHEMA "Sales"')
    names = [QualifiedName(s, n) for s in ("public", "Sales") for n in IDENTIFIERS
             if n and len(n.encode()) < 64]
    for qn in names:
        pg.execute(f"CREATE TABLE {qn.sql} ()")
        schema, rel = pg.execute(
            "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.oid = %s::regclass", (qn.sql,)).fetchone()
        assert (schema, rel) == (qn.schema, qn.name)


def test_sibling_keeps_the_schema() -> None:
    assert QualifiedName("Sales", "orders").sibling("orders_idx") == QualifiedName("Sales", "orders_idx")


@pytest.mark.parametrize("name", ["a" * 80, "é" * 40, "x" + "日本" * 30, "ab" + "é" * 31, "short"])
def test_identifier_is_the_name_the_server_keeps(pg: psycopg.Connection, name: str) -> None:
    """names.identifier() cuts a derived name where PostgreSQL does: 63 bytes on a character
    boundary (a character slice [:63] kept 63 multi-byte characters: a name the server stores
    differently, so a later DROP of the planned name missed the object)."""
    from migspec.names import identifier

    with pg.transaction():
        pg.execute(sql.SQL("CREATE TABLE {} (x int)").format(sql.Identifier(name)))
        kept = pg.execute("SELECT relname FROM pg_class WHERE relname LIKE %s ORDER BY oid DESC LIMIT 1",
                          (identifier(name)[:3] + "%",)).fetchone()
        pg.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(name)))
    assert kept is not None and kept[0] == identifier(name)
    assert len(identifier(name).encode()) <= 63

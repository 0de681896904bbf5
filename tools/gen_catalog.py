#!/usr/bin/env python3
"""Generate ``src/migspec/catalog/`` from a real PostgreSQL server's system catalogs.

Why generated: two of the linter's central questions are facts PostgreSQL already records.
Whether ``ADD COLUMN ... DEFAULT f()`` rewrites the table depends on ``pg_proc.provolatile`` of
``f`` (PG11+ fast default), and whether ``ALTER COLUMN TYPE`` rewrites depends first on whether
``pg_cast`` calls the cast binary-coercible.  A hand-kept guess list drifts and misses entries;
this tool copies the server's own answer, and the files it writes name the command and the
server version they came from.

Usage::

    python tools/gen_catalog.py                  # starts a throwaway server (migspec.pgserver)
    python tools/gen_catalog.py --dsn 'host=... dbname=postgres'
    python tools/gen_catalog.py --check          # exit 1 if the files on disk differ

Output is sorted and carries no timestamp, so the same server version gives byte-identical files.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))

import psycopg  # noqa: E402

from migspec.pgserver import ServerError, start_server  # noqa: E402

DEFAULT_OUT = REPO / "src" / "migspec" / "catalog"

#: Conservative order: a name whose overloads disagree gets the most volatile class.
_RANK = {"i": 0, "s": 1, "v": 2}

#: SQL spellings (as users write them, and as pglast reports them) -> pg_type.typname.
#: Hand-written, because the grammar, not the catalog, knows them (gram.y maps ``integer`` to
#: ``int4`` and ``serial`` is expanded by CREATE TABLE); the generator checks every target
#: exists in the live pg_catalog, so a typo cannot ship.
TYPE_ALIASES: dict[str, str] = {
    # integers
    "smallint": "int2", "int2": "int2", "smallserial": "int2", "serial2": "int2",
    "int": "int4", "integer": "int4", "int4": "int4", "serial": "int4", "serial4": "int4",
    "bigint": "int8", "int8": "int8", "bigserial": "int8", "serial8": "int8",
    # floating point and exact numerics ("float" without precision is double precision)
    "real": "float4", "float4": "float4",
    "double precision": "float8", "float": "float8", "float8": "float8",
    "decimal": "numeric", "dec": "numeric", "numeric": "numeric",
    # boolean
    "bool": "bool", "boolean": "bool",
    # character types (a bare "char" written by a user is character(1), i.e. bpchar)
    "character varying": "varchar", "char varying": "varchar", "varchar": "varchar",
    "national character varying": "varchar",
    "character": "bpchar", "char": "bpchar", "bpchar": "bpchar", "national character": "bpchar",
    "nchar": "bpchar",
    "text": "text",
    # date and time
    "timestamp": "timestamp", "timestamp without time zone": "timestamp",
    "timestamptz": "timestamptz", "timestamp with time zone": "timestamptz",
    "time": "time", "time without time zone": "time",
    "timetz": "timetz", "time with time zone": "timetz",
    "date": "date", "interval": "interval",
    # bit strings
    "bit": "bit", "bit varying": "varbit", "varbit": "varbit",
    # common others, identity so callers can rely on the table
    "uuid": "uuid", "json": "json", "jsonb": "jsonb", "bytea": "bytea", "inet": "inet",
    "cidr": "cidr", "macaddr": "macaddr", "macaddr8": "macaddr8", "money": "money", "xml": "xml",
    "oid": "oid", "tsvector": "tsvector", "tsquery": "tsquery",
}


@dataclass(frozen=True)
class Catalog:
    """What the generator reads from one server."""

    version: str
    version_num: int
    volatility: dict[str, str]
    mixed: frozenset[str]
    binary_coercible: frozenset[tuple[str, str]]
    typnames: frozenset[str]


def read_catalog(dsn: str) -> Catalog:
    """Read function volatility, binary-coercible casts and type names from ``dsn``."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(
            "SELECT current_setting('server_version'), current_setting('server_version_num')::int"
        ).fetchone()
        assert row is not None
        version, version_num = row
        procs = conn.execute(
            "SELECT lower(proname), provolatile FROM pg_proc "
            "WHERE pronamespace = 'pg_catalog'::regnamespace"
        ).fetchall()
        casts = conn.execute(
            "SELECT s.typname, t.typname FROM pg_cast c "
            "JOIN pg_type s ON s.oid = c.castsource JOIN pg_type t ON t.oid = c.casttarget "
            "WHERE c.castmethod = 'b' "
            "AND s.typnamespace = 'pg_catalog'::regnamespace "
            "AND t.typnamespace = 'pg_catalog'::regnamespace"
        ).fetchall()
        types = conn.execute(
            "SELECT typname FROM pg_type WHERE typnamespace = 'pg_catalog'::regnamespace"
        ).fetchall()

    seen: dict[str, set[str]] = {}
    for name, vol in procs:
        seen.setdefault(name, set()).add(vol)
    volatility = {name: max(vols, key=_RANK.__getitem__) for name, vols in seen.items()}
    mixed = frozenset(name for name, vols in seen.items() if len(vols) > 1)
    return Catalog(
        version=version,
        version_num=version_num,
        volatility=volatility,
        mixed=mixed,
        binary_coercible=frozenset((s, t) for s, t in casts),
        typnames=frozenset(t for (t,) in types),
    )


def _header(command: str, cat: Catalog) -> str:
    return (
        f"# Generated by `{command}`\n"
        f"# from PostgreSQL {cat.version} (server_version_num {cat.version_num}).\n"
        "# Do not edit by hand: rerun the command above to regenerate.\n"
    )


def render_volatility(command: str, cat: Catalog) -> str:
    """The text of ``volatility.py``."""
    # One string of names per class, split at import: a dict literal of ~2,700 entries cost ~7 M
    # instructions at every start of `migspec lint` (issue 16), the three strings under 1 M.
    assert not any(ch.isspace() for n in cat.volatility for ch in n), "a function name with a space"
    classes = {c: textwrap.fill(" ".join(sorted(n for n, v in cat.volatility.items() if v == c)), 96,
                                initial_indent="    ", subsequent_indent="    ", break_long_words=False,
                                break_on_hyphens=False) for c in "isv"}
    mixed = "".join(f"    {name!r},\n" for name in sorted(cat.mixed))
    return _header(command, cat) + f'''\
"""Volatility of every pg_catalog function, copied from ``pg_proc.provolatile``.

``'i'`` immutable, ``'s'`` stable, ``'v'`` volatile.  Since PostgreSQL 11, ``ADD COLUMN`` with a
non-volatile DEFAULT is catalog-only while a volatile one rewrites the table (docs: ALTER TABLE,
Notes), so this table decides that rule.  Names are lowercased (unquoted SQL identifiers fold
to lower case).  Where overloads of one name disagree the MOST volatile class is stored, so the
linter errs towards "rewrites"; those names are listed in ``MIXED``.
"""

from __future__ import annotations

#: server_version_num of the server this table was read from.
SOURCE_VERSION_NUM: int = {cat.version_num}

_IMMUTABLE = """
{classes["i"]}
"""
_STABLE = """
{classes["s"]}
"""
_VOLATILE = """
{classes["v"]}
"""

#: Function name -> ``'i'``, ``'s'`` or ``'v'``.
VOLATILITY: dict[str, str] = {{**dict.fromkeys(_IMMUTABLE.split(), "i"), **dict.fromkeys(_STABLE.split(), "s"),
                              **dict.fromkeys(_VOLATILE.split(), "v")}}

#: Names whose overloads have different volatility (VOLATILITY holds the most volatile one).
MIXED: frozenset[str] = frozenset({{
{mixed}}})
'''


def render_casts(command: str, cat: Catalog) -> str:
    """The text of ``casts.py``."""
    pairs = "".join(f"    ({s!r}, {t!r}),\n" for s, t in sorted(cat.binary_coercible))
    aliases = "".join(f"    {k!r}: {TYPE_ALIASES[k]!r},\n" for k in sorted(TYPE_ALIASES))
    return _header(command, cat) + f'''\
"""Binary-coercible casts from ``pg_cast`` (``castmethod = 'b'``), and type aliases.

``ALTER COLUMN ... TYPE`` skips the table rewrite when the old type is binary-coercible to the
new one and no length/precision coercion is needed (docs: ALTER TABLE, Notes).  This table
answers the first half only.  Changes within one type (``varchar(10)`` -> ``varchar(20)``,
``numeric(10,2)`` -> ``numeric(12,2)``) are typmod questions that pg_cast does not record, and
a binary cast into a type with a smaller typmod still runs a length check: callers must compare
typmods themselves.  Note what is absent: ``bpchar`` -> ``text``/``varchar`` goes through
``rtrim`` (a rewrite), and ``int4`` -> ``int8`` is never binary-coercible.
"""

from __future__ import annotations

#: server_version_num of the server this table was read from.
SOURCE_VERSION_NUM: int = {cat.version_num}

#: (source typname, target typname) pairs whose cast needs no conversion function.
BINARY_COERCIBLE: frozenset[tuple[str, str]] = frozenset({{
{pairs}}})

#: SQL spellings -> pg_type.typname (every target checked against pg_type when generated).
TYPE_ALIASES: dict[str, str] = {{
{aliases}}}
'''


def render_init(command: str, cat: Catalog) -> str:
    """The text of ``__init__.py``."""
    return _header(command, cat) + f'''\
"""Facts copied from PostgreSQL's own system catalogs (by ``tools/gen_catalog.py``).

The linter asks these tables instead of keeping guess lists: function volatility decides
whether an ADD COLUMN DEFAULT rewrites, binary coercibility whether an ALTER COLUMN TYPE does.
"""

from __future__ import annotations

from migspec.catalog.casts import (
    BINARY_COERCIBLE,
    TYPE_ALIASES,
)
from migspec.catalog.volatility import MIXED, VOLATILITY

#: server_version_num of the server the catalog was generated from.
SOURCE_VERSION_NUM: int = {cat.version_num}
#: server_version string of that server.
SOURCE_VERSION: str = {cat.version!r}

__all__ = [
    "BINARY_COERCIBLE",
    "MIXED",
    "SOURCE_VERSION",
    "SOURCE_VERSION_NUM",
    "TYPE_ALIASES",
    "VOLATILITY",
]
'''


def render(command: str, cat: Catalog) -> dict[str, str]:
    """File name -> content for every generated module."""
    missing = sorted({t for t in TYPE_ALIASES.values() if t not in cat.typnames})
    if missing:
        raise SystemExit(f"gen_catalog: TYPE_ALIASES targets not in pg_catalog.pg_type: {missing}")
    return {
        "__init__.py": render_init(command, cat),
        "volatility.py": render_volatility(command, cat),
        "casts.py": render_casts(command, cat),
    }


def _command_line(argv: list[str]) -> str:
    """The command to record in the headers; a --dsn value is hidden (it may hold a password)."""
    shown: list[str] = []
    hide_next = skip_next = False
    for arg in argv:
        if skip_next:
            skip_next = False
        elif hide_next:
            shown.append("DSN")
            hide_next = False
        elif arg == "--out":
            skip_next = True
        elif arg == "--dsn":
            shown.append(arg)
            hide_next = True
        elif arg.startswith("--dsn="):
            shown.append("--dsn=DSN")
        elif arg == "--check" or arg.startswith("--out"):
            continue  # how the files were checked or where they went does not change them
        else:
            shown.append(arg)
    return shlex.join(["python", "tools/gen_catalog.py", *shown])


def main(argv: list[str] | None = None) -> int:
    args_list = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dsn", help="read from this server instead of starting a throwaway one")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output package directory")
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 if the files on disk differ")
    args = parser.parse_args(args_list)
    command = _command_line(args_list)

    try:
        if args.dsn:
            cat = read_catalog(args.dsn)
        else:
            with start_server(fast=True) as server:
                cat = read_catalog(server.dsn)
    except (ServerError, psycopg.Error) as exc:
        print(f"gen_catalog: {exc}", file=sys.stderr)
        return 2

    files = render(command, cat)
    if args.check:
        stale = [n for n, text in files.items()
                 if not (args.out / n).exists() or (args.out / n).read_text() != text]
        for n in stale:
            print(f"gen_catalog: {args.out / n} differs from PostgreSQL {cat.version}",
                  file=sys.stderr)
        return 1 if stale else 0

    args.out.mkdir(parents=True, exist_ok=True)
    for n, text in files.items():
        (args.out / n).write_text(text)
    print(f"gen_catalog: wrote {', '.join(sorted(files))} to {args.out} from PostgreSQL "
          f"{cat.version}: {len(cat.volatility)} functions ({len(cat.mixed)} mixed), "
          f"{len(cat.binary_coercible)} binary-coercible casts")
    return 0


if __name__ == "__main__":
    sys.exit(main())

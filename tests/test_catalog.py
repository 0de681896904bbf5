"""The generated catalog (src/migspec/catalog) against a live server's pg_proc and pg_cast.

The catalog is a copy of the server's facts; these tests catch a stale or wrongly generated
copy.  Rerun ``python tools/gen_catalog.py`` when they fail after a server upgrade.
"""

from __future__ import annotations

import psycopg
import pytest

from migspec.catalog import (
    BINARY_COERCIBLE,
    MIXED,
    SOURCE_VERSION_NUM,
    VOLATILITY,
)
from migspec.ops.expressions import volatility
from migspec.pgserver import Server

# Functions that appear in column defaults and backfills, plus a few with mixed overloads.
SAMPLE = [
    "random", "clock_timestamp", "gen_random_uuid", "nextval", "currval", "setval", "now",
    "statement_timestamp", "transaction_timestamp", "timeofday", "txid_current", "lower",
    "upper", "length", "to_char", "to_timestamp", "date_trunc", "age", "md5", "concat",
    "format", "setseed", "pg_current_xact_id", "ts_rewrite",
]

# Most volatile overload per name, as the generator stores it.
LIVE_VOLATILITY = """
SELECT lower(proname),
       CASE max(CASE provolatile WHEN 'i' THEN 0 WHEN 's' THEN 1 ELSE 2 END)
            WHEN 0 THEN 'i' WHEN 1 THEN 's' ELSE 'v' END,
       count(DISTINCT provolatile) > 1
FROM pg_proc
WHERE pronamespace = 'pg_catalog'::regnamespace
GROUP BY 1
"""


@pytest.fixture
def live_volatility(pg: psycopg.Connection) -> dict[str, tuple[str, bool]]:
    """Name -> (most volatile class, overloads disagree) read from the live server."""
    return {name: (vol, mixed) for name, vol, mixed in pg.execute(LIVE_VOLATILITY).fetchall()}


@pytest.mark.parametrize("name", SAMPLE)
def test_sample_volatility_matches_live_pg_proc(
    live_volatility: dict[str, tuple[str, bool]], name: str
) -> None:
    assert name in live_volatility, f"{name} is not a pg_catalog function on this server"
    vol, mixed = live_volatility[name]
    assert VOLATILITY[name] == vol
    assert volatility(name) == vol
    assert (name in MIXED) == mixed


def test_defaults_that_rewrite_are_volatile() -> None:
    # The PG11 fast-default rule hinges on these: volatile ones rewrite, the others do not.
    for name in ("random", "clock_timestamp", "gen_random_uuid", "nextval", "timeofday"):
        assert volatility(name) == "v", name
    for name in ("now", "statement_timestamp", "transaction_timestamp", "lower"):
        assert volatility(name) in ("i", "s"), name
    assert volatility("pg_catalog.NOW") == "s"
    assert volatility("public.now") is None
    assert volatility("no_such_function") is None


def test_whole_catalog_agrees_with_live_server(
    pg_server: Server, live_volatility: dict[str, tuple[str, bool]]
) -> None:
    common = VOLATILITY.keys() & live_volatility.keys()
    # Another major version adds and removes functions, but the shared ones must agree.
    assert len(common) > 2000
    wrong = {n: (VOLATILITY[n], live_volatility[n][0]) for n in common
             if VOLATILITY[n] != live_volatility[n][0]}
    assert not wrong
    if pg_server.major == SOURCE_VERSION_NUM // 10000:
        # A minor release never removes a function but may add one (15.20 added
        # binary_upgrade_set_next_attribute_versions): what migspec relies on - every function it
        # knows - must exist with the same volatility; a function it does not know reads as unknown.
        assert VOLATILITY.keys() <= live_volatility.keys()
        assert MIXED == {n for n in common if live_volatility[n][1]}


def test_binary_coercible_casts_match_live_pg_cast(
    pg_server: Server, pg: psycopg.Connection
) -> None:
    for pair in [("varchar", "text"), ("cidr", "inet"), ("text", "varchar"), ("bit", "varbit")]:
        assert pair in BINARY_COERCIBLE, pair
    assert ("int4", "int8") not in BINARY_COERCIBLE
    assert ("bpchar", "text") not in BINARY_COERCIBLE  # rtrim: char(n) -> text rewrites
    live = set(pg.execute(
        "SELECT s.typname, t.typname FROM pg_cast c "
        "JOIN pg_type s ON s.oid = c.castsource JOIN pg_type t ON t.oid = c.casttarget "
        "WHERE c.castmethod = 'b'"
    ).fetchall())
    assert {("varchar", "text"), ("cidr", "inet"), ("text", "varchar")} <= live
    assert ("int4", "int8") not in live
    if pg_server.major == SOURCE_VERSION_NUM // 10000:
        assert BINARY_COERCIBLE == live


def test_type_spellings_resolve_like_the_server(pg: psycopg.Connection) -> None:
    """migspec.ops.types.ColumnType (the one place SQL type spellings are read) names the same
    pg_type the server resolves the spelling to."""
    from migspec.ops.types import ColumnType, type_change

    cases = {
        "integer": "int4", "INT": "int4", "bigint": "int8", "smallint": "int2",
        "character varying(20)": "varchar", "VARCHAR(10)": "varchar", "char(3)": "bpchar",
        "double precision": "float8", "real": "float4", "decimal(10,2)": "numeric",
        "boolean": "bool", "timestamp(3) with time zone": "timestamptz",
        "time with time zone": "timetz", "pg_catalog.int8": "int8", "text": "text",
    }
    for spelling, typname in cases.items():
        assert ColumnType.parse(spelling).name == typname, spelling
        live = pg.execute(f"SELECT typname FROM pg_type WHERE oid = pg_typeof(NULL::{spelling})").fetchone()
        assert live == (typname,), spelling
    assert ColumnType.parse("int[]").array
    assert ColumnType.parse("bigserial").stored.name == "int8"
    assert not type_change(ColumnType.parse("varchar(10)"), ColumnType.parse("text"), using=None, version=16)[0]
    assert type_change(ColumnType.parse("integer"), ColumnType.parse("bigint"), using=None, version=16)[0]

"""Column types and the question "does changing this type rewrite the table?".

PostgreSQL skips the rewrite when the new type is binary-coercible from the old one (pg_cast with
castmethod 'b', generated into migspec.catalog.casts) and any length/precision coercion is a no-op:
the typmod "support functions" varchar_support, numeric_support, timestamp_support, time_support,
interval_support and varbit_support (src/backend/utils/adt) declare a widening a no-op
(ALTER TABLE docs, Notes; postgres-locks.md row 6).
"""

from __future__ import annotations

import functools

from typing import Any

from migspec.catalog.casts import BINARY_COERCIBLE, TYPE_ALIASES
from migspec.frozen import frozen
from migspec.ops.expressions import svals, unwrap
from migspec.versions import GATES, supports

SERIAL_TYPES = {"serial": "int4", "serial4": "int4", "bigserial": "int8", "serial8": "int8",
                "smallserial": "int2", "serial2": "int2"}

# Types whose typmod change is a no-op when it widens (or removes) the limit.
_WIDENING_NO_REWRITE = {"varchar", "numeric", "varbit", "timestamp", "timestamptz", "time", "timetz", "interval"}
_PRECISION_DEFAULT = {"timestamp": 6, "timestamptz": 6, "time": 6, "timetz": 6, "interval": 6}


@frozen
class ColumnType:
    """A column's type as parsed: name, modifiers, array or not."""

    name: str  # canonical pg_type.typname for built-ins, else the name as written
    mods: tuple[int, ...] = ()
    array: bool = False
    schema: str | None = None

    def __str__(self) -> str:
        text = self.name + (f"({','.join(map(str, self.mods))})" if self.mods else "")
        return text + ("[]" if self.array else "")

    @classmethod
    def from_tree(cls, node: dict[str, Any]) -> ColumnType:
        """From a TypeName in libpg_query's JSON form (migspec.ops.expressions)."""
        names = svals(node.get("names"))
        name = names[-1].lower()
        schema = names[0] if len(names) > 1 and names[0] != "pg_catalog" else None
        if name in SERIAL_TYPES and schema is None:
            # Keep "bigserial" as written: the catalog's alias table maps it to int8, which hid
            # that ADD COLUMN ... bigserial rewrites the table (a real server's relfilenode
            # changes: tests/rules/adding-serial-column.yml trace). ``stored`` gives the int type.
            return cls(name)
        mods: list[int] = []
        array = bool(node.get("arrayBounds"))
        for mod in node.get("typmods") or ():
            kind, const = unwrap(mod)
            if kind != "A_Const" or "ival" not in const:  # a typmod that is no integer literal
                return cls(TYPE_ALIASES.get(name, name), (), array, schema)
            mods.append(int(const["ival"].get("ival", 0)))  # 0 is left out of the JSON
        return cls(TYPE_ALIASES.get(name, name), tuple(mods), array, schema)

    @classmethod
    def parse(cls, text: str) -> ColumnType:
        """Parse a type as a user writes it ("varchar(100)", "timestamp with time zone")."""
        return _parse_type(cls, text)

    @classmethod
    def _parse(cls, text: str) -> ColumnType:
        import json

        from pglast.parser import ParseError, parse_sql_json

        try:
            stmts = json.loads(parse_sql_json(f"SELECT NULL::{text}"))["stmts"]
            kind, cast = unwrap(unwrap(unwrap(stmts[0]["stmt"])[1]["targetList"][0])[1]["val"])
        except (ParseError, IndexError, KeyError):
            raise ValueError(f"not a SQL type: {text!r}") from None
        if kind != "TypeCast":
            raise ValueError(f"not a SQL type: {text!r}")
        return cls.from_tree(cast["typeName"])

    @property
    def is_serial(self) -> bool:
        return self.name in SERIAL_TYPES

    @property
    def stored(self) -> ColumnType:
        """The type the column really has: a serial column is an integer column."""
        return ColumnType(SERIAL_TYPES[self.name]) if self.is_serial else self


def _widens(name: str, old: tuple[int, ...], new: tuple[int, ...]) -> bool:
    if not new:
        return True  # no limit at all: the length coercion is not even called
    if name in _PRECISION_DEFAULT:
        return new[0] >= (old[0] if old else _PRECISION_DEFAULT[name])
    if not old:
        return False  # unlimited -> limited needs every value checked
    if name == "numeric":
        old_scale = old[1] if len(old) > 1 else 0
        new_scale = new[1] if len(new) > 1 else 0
        return new_scale == old_scale and new[0] >= old[0]
    return new[0] >= old[0]


#: TimeZone values whose UTC offset is fixed at zero. PostgreSQL's TimestampTimestampTzRequiresRewrite
#: (src/backend/utils/adt/timestamp.c, PG12+) skips the rewrite when pg_get_timezone_offset() of
#: the session zone succeeds with offset 0 - a zone without transitions; these are the IANA names
#: (and their Etc/ forms) and numeric spellings of such zones.
UTC_ZONES = frozenset({"utc", "etc/utc", "uct", "etc/uct", "gmt", "etc/gmt", "gmt0", "etc/gmt0", "gmt+0",
                       "etc/gmt+0", "gmt-0", "etc/gmt-0", "greenwich", "etc/greenwich", "universal",
                       "etc/universal", "zulu", "etc/zulu", "z", "0", "+0", "-0", "00:00", "+00:00", "+00",
                       "-00", "0.0"})


def is_utc(zone: str | None) -> bool:
    return zone is not None and zone.strip().lower() in UTC_ZONES


def type_change(old: ColumnType | None, new: ColumnType, *, using: Any, version: int,
                timezone: str | None = None) -> tuple[bool, str]:
    """(rewrites, why) for ALTER COLUMN ... TYPE from ``old`` to ``new`` on ``version``, with the
    session ``timezone`` the migration set (None: not set, unknown)."""
    if old is None:
        return True, ("the column's current type is unknown, so migspec assumes a rewrite; give it in the stats "
                      "file (tables.<t>.columns) or create the table in the migration")
    old, new = old.stored, new.stored
    if using is not None:
        return True, "a USING expression is evaluated for every row: the table is rewritten"
    if old.array != new.array:
        return True, f"{old} -> {new} changes array-ness: rewrite"
    if old.name == new.name and old.schema == new.schema:
        if old.mods == new.mods:
            return False, f"{old} -> {new} is the same type: no rewrite"
        if old.name in _WIDENING_NO_REWRITE and not old.array and _widens(old.name, old.mods, new.mods):
            return False, f"{old} -> {new} widens the limit: catalog-only, no rewrite"
        return True, f"{old} -> {new} narrows or changes the limit: every row is checked and rewritten"
    pair = {old.name, new.name}
    if pair == {"timestamp", "timestamptz"} and supports("timestamptz_utc_no_rewrite", version):
        if is_utc(timezone) and not old.mods and not new.mods:
            return False, f"{old} -> {new} with the session TimeZone '{timezone}': {GATES['timestamptz_utc_no_rewrite'].fact}"
        return True, (f"{old} -> {new} rewrites unless the session TimeZone is UTC "
                      f"({GATES['timestamptz_utc_no_rewrite'].fact}); "
                      + (f"the migration sets it to '{timezone}'" if timezone else
                         "the migration does not set it (SET LOCAL timezone = 'UTC' before the change), so migspec assumes a rewrite"))
    if (old.name, new.name) in BINARY_COERCIBLE and not old.array:
        if not new.mods or (new.name == old.name):
            return False, f"{old} -> {new} is binary-coercible (pg_cast castmethod 'b'): no rewrite"
        return True, f"{old} -> {new} is binary-coercible but the new length limit checks every row: rewrite"
    return True, f"{old} -> {new} is not binary-coercible: every row is converted and the table rewritten"


@functools.lru_cache(maxsize=8192)
def _parse_type(cls: type[ColumnType], text: str) -> ColumnType:
    """Memoized: every lint of a plan's DOWNs re-reads the same columns' types (a 40-table schema:
    thousands of parses of a few dozen spellings); ColumnType is frozen, so sharing is safe."""
    return cls._parse(text)

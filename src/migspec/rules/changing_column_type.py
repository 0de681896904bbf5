"""ALTER COLUMN ... TYPE breaks running code and, unless binary-coercible, rewrites the table.

What it flags:
    Every ``ALTER TABLE ... ALTER COLUMN c TYPE t`` on an existing table. A rewriting change is
    scored from the table's size; a catalog-only change is still at least YELLOW because the
    application and its ORM see a new type.

Why:
    A change that is not binary-coercible (int -> bigint, text -> int, varchar(n) narrowed, any
    USING) rewrites the table and rebuilds its indexes under ACCESS EXCLUSIVE. Binary-coercible
    changes (varchar(n) -> varchar(m > n), varchar -> text, numeric precision up, cidr -> inet)
    are catalog-only; migspec decides from pg_cast (migspec.catalog.casts) and typmod rules, and
    needs the old type (stats file ``columns`` or a CREATE TABLE in the migration) to say so.
    A catalog-only change still rebuilds, under ACCESS EXCLUSIVE, every index on the column that
    has an expression or a WHERE (lower(slug::text)) and, with COLLATE, the column's indexes:
    migspec reads the indexes from the stats file's ``schema`` section and scores the rebuild.
    ``USING col::newtype`` (Django writes it) is judged like the plain form; ``SET TIME ZONE
    'UTC'`` earlier in the migration is followed.

Example:
    ALTER TABLE orders ALTER COLUMN id TYPE bigint;

Use instead:
    Add the new column, keep it in sync with a trigger, backfill in keyset batches, switch
    readers, then drop the old column (migspec plan writes these steps).

Version notes:
    PG12+: timestamp <-> timestamptz avoids the rewrite only when the session TimeZone is UTC.

References:
    - https://www.postgresql.org/docs/current/sql-altertable.html (Notes)
    - src/migspec/locks.py and src/migspec/ops/ (each operation's locks, as data)
    - tests/test_trace.py (those locks observed on a real server)
    - https://squawkhq.com/docs/changing-column-type
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from migspec.risk import Risk
from migspec.rules.base import Hit, Rule, RuleContext

if TYPE_CHECKING:
    from migspec.ops.table import AlterColumnType


class ChangingColumnType(Rule):
    name = "changing-column-type"
    operations = ("alter_column_type",)

    def check(self, item, ctx: RuleContext) -> Iterable[Hit]:
        op: AlterColumnType = item.op
        rewrites, why = op.rewrite(ctx.schema, ctx.version)
        verb = "rewrites" if rewrites else "does not rewrite"
        rebuilt = op.rebuilt_indexes(ctx.schema) if not rewrites else []
        rebuilds = ("; yet it rebuilds " + "; ".join(f"index {n} ({reason})" for n, reason in rebuilt)
                    + " under ACCESS EXCLUSIVE") if rebuilt else ""
        yield Hit(f"changing {op.table}.{op.column} to {op.type} {verb} the table ({why}){rebuilds}; running code "
                  "sees a new type", "new column + sync trigger + batched backfill + switch readers + drop old column"
                  + (" (its indexes built CONCURRENTLY)" if rebuilt else "")
                  if rewrites or rebuilt else "deploy the application change that handles the new type first",
                  floor=Risk.YELLOW)

"""ADD COLUMN with a DEFAULT that must be evaluated for every existing row rewrites the table.

What it flags:
    ``ALTER TABLE ... ADD COLUMN`` whose DEFAULT is volatile (random(), clock_timestamp(),
    gen_random_uuid(), nextval(), any user-defined function) on any version, and any non-NULL
    DEFAULT before PostgreSQL 11.

Why:
    The table is rewritten under ACCESS EXCLUSIVE: no reads or writes until every row has been
    copied with its new value. At 20M rows that is minutes of downtime. A non-volatile default
    (a constant, now(), CURRENT_TIMESTAMP) is stored once in the catalog on PG11+ and is instant.
    Volatility is read from pg_proc.provolatile (migspec.catalog.volatility), never guessed.

Example:
    ALTER TABLE orders ADD COLUMN token uuid DEFAULT gen_random_uuid();

Use instead:
    ALTER TABLE orders ADD COLUMN token uuid;                        -- catalog only
    ALTER TABLE orders ALTER COLUMN token SET DEFAULT gen_random_uuid(); -- new rows
    -- then backfill existing rows in keyset batches (migspec plan writes them)

Version notes:
    PostgreSQL 11+: non-volatile defaults are catalog-only. Before 11 every default rewrites.

References:
    - https://www.postgresql.org/docs/current/sql-altertable.html (Notes)
    - src/migspec/locks.py and src/migspec/ops/ (each operation's locks, as data)
    - tests/test_trace.py (those locks observed on a real server)
    - https://squawkhq.com/docs/adding-field-with-default
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from migspec.names import quote_ident
from migspec.rules.base import Hit, Rule, RuleContext

if TYPE_CHECKING:
    from migspec.ops.table import AddColumn


class AddingVolatileDefault(Rule):
    name = "adding-volatile-default"
    operations = ("add_column",)

    def check(self, item, ctx: RuleContext) -> Iterable[Hit]:
        op: AddColumn = item.op
        if op.default is None or op.type is None or op.type.is_serial or op.identity or op.generated_stored:
            return
        reason = op.rewrite_reason(ctx.version)
        if not reason:
            return
        col = quote_ident(op.column)
        yield Hit(
            f"adding {op.column} rewrites {op.table} under ACCESS EXCLUSIVE: {reason}",
            f"ALTER TABLE {op.table.sql} ADD COLUMN {col} {op.type}; then ALTER TABLE {op.table.sql} ALTER COLUMN "
            f"{col} SET DEFAULT <expr>; then backfill existing rows in batches",
        )

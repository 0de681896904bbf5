"""SET NOT NULL on an existing column scans the whole table under ACCESS EXCLUSIVE.

What it flags:
    ``ALTER TABLE ... ALTER COLUMN c SET NOT NULL`` on a pre-existing table, unless a validated
    ``CHECK (c IS NOT NULL)`` constraint exists earlier in the migration (PG12+ then skips the scan).

Why:
    PostgreSQL reads every row to prove there is no NULL while holding ACCESS EXCLUSIVE: reads
    and writes stop for the length of a full scan.

Example:
    ALTER TABLE orders ALTER COLUMN customer_id SET NOT NULL;

Use instead:
    ALTER TABLE orders ADD CONSTRAINT orders_customer_id_nn CHECK (customer_id IS NOT NULL) NOT VALID;
    ALTER TABLE orders VALIDATE CONSTRAINT orders_customer_id_nn;   -- SHARE UPDATE EXCLUSIVE
    ALTER TABLE orders ALTER COLUMN customer_id SET NOT NULL;       -- no scan on PG12+
    ALTER TABLE orders DROP CONSTRAINT orders_customer_id_nn;

Version notes:
    PG12+: a validated CHECK (c IS NOT NULL) lets SET NOT NULL skip the scan. PG18: ADD CONSTRAINT
    name NOT NULL c NOT VALID, then VALIDATE CONSTRAINT name.

References:
    - https://www.postgresql.org/docs/current/sql-altertable.html (SET NOT NULL)
    - src/migspec/locks.py and src/migspec/ops/ (each operation's locks, as data)
    - tests/test_trace.py (those locks observed on a real server)
    - https://squawkhq.com/docs/adding-not-nullable-field
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from migspec.names import QualifiedName
from migspec.ops.base import Work
from migspec.rules.base import Hit, Rule, RuleContext

if TYPE_CHECKING:
    from migspec.ops.table import SetNotNull


def suggested_fix(table: QualifiedName, column: str, version: int) -> str:
    """The planner's own NOT NULL recipe for this version (migspec.plan.recipes): the fix printed
    here is the steps ``migspec plan`` builds, statement for statement."""
    from migspec.plan.recipes import not_null_recipe, up_sql

    return up_sql(not_null_recipe(table, column, version))


class SettingNotNullOnExistingColumn(Rule):
    name = "setting-not-null-on-existing-column"
    operations = ("set_not_null",)

    def check(self, item, ctx: RuleContext) -> Iterable[Hit]:
        op: SetNotNull = item.op
        if item.effect.work is Work.SCAN:
            yield Hit(f"SET NOT NULL on {op.table}.{op.column} scans every row under ACCESS EXCLUSIVE",
                      suggested_fix(op.table, op.column, ctx.version))

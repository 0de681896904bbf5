"""ADD COLUMN ... NOT NULL without a DEFAULT fails on any table that has rows.

What it flags:
    Adding a NOT NULL column (including an inline PRIMARY KEY) with no DEFAULT to an existing
    table.

Why:
    Existing rows would hold NULL, so PostgreSQL aborts the statement ("column contains null
    values") - the deploy fails in production although it passed on an empty development
    database. With a volatile default it would instead rewrite the table.

Example:
    ALTER TABLE users ADD COLUMN tenant_id bigint NOT NULL;

Use instead:
    ALTER TABLE users ADD COLUMN tenant_id bigint;             -- nullable, catalog only
    -- backfill in keyset batches, then:
    ALTER TABLE users ADD CONSTRAINT users_tenant_id_nn CHECK (tenant_id IS NOT NULL) NOT VALID;
    ALTER TABLE users VALIDATE CONSTRAINT users_tenant_id_nn;
    ALTER TABLE users ALTER COLUMN tenant_id SET NOT NULL;      -- PG12+: no scan
    ALTER TABLE users DROP CONSTRAINT users_tenant_id_nn;

Version notes:
    All versions. With a non-volatile DEFAULT the statement is catalog-only on PG11+.

References:
    - https://www.postgresql.org/docs/current/sql-altertable.html (ADD COLUMN)
    - src/migspec/locks.py and src/migspec/ops/ (each operation's locks, as data)
    - tests/test_trace.py (those locks observed on a real server)
    - https://github.com/ankane/strong_migrations
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from migspec.risk import Risk
from migspec.rules.base import Hit, Rule, RuleContext

if TYPE_CHECKING:
    from migspec.ops.table import AddColumn


class AddingNotNullColumnWithoutDefault(Rule):
    name = "adding-not-null-column-without-default"
    operations = ("add_column",)

    def check(self, item, ctx: RuleContext) -> Iterable[Hit]:
        op: AddColumn = item.op
        if op.not_null and op.default is None and not (op.identity or op.generated_stored or
                                                        (op.type is not None and op.type.is_serial)):
            yield Hit(f"adding NOT NULL column {op.column} without a DEFAULT fails when {op.table} has rows",
                      "add it nullable, backfill in batches, then CHECK (col IS NOT NULL) NOT VALID -> "
                      "VALIDATE -> SET NOT NULL -> drop the CHECK",
                      fixed=Risk.RED, min_rows=0)

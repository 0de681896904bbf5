"""ADD COLUMN ... GENERATED ALWAYS AS (...) STORED computes and writes a value into every row.

What it flags:
    Adding a STORED generated column to an existing table (and, before PostgreSQL 18, any
    generated column, because every generated column is stored there).

Why:
    The table is rewritten under ACCESS EXCLUSIVE, blocking reads and writes for the whole copy.

Example:
    ALTER TABLE orders ADD COLUMN total_cents bigint GENERATED ALWAYS AS (total * 100) STORED;

Use instead:
    Add a plain nullable column, keep it filled with a BEFORE INSERT OR UPDATE trigger, backfill
    existing rows in keyset batches; or, on PostgreSQL 18, a VIRTUAL generated column.

Version notes:
    PostgreSQL 18: VIRTUAL generated columns (the default kind) are catalog-only.

References:
    - https://www.postgresql.org/docs/current/sql-createtable.html (GENERATED ALWAYS AS ... STORED)
    - src/migspec/locks.py and src/migspec/ops/ (each operation's locks, as data)
    - tests/test_trace.py (those locks observed on a real server)
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from migspec.rules.base import Hit, Rule, RuleContext

if TYPE_CHECKING:
    from migspec.ops.table import AddColumn


class AddingStoredGeneratedColumn(Rule):
    name = "adding-stored-generated-column"
    operations = ("add_column",)

    def check(self, item, ctx: RuleContext) -> Iterable[Hit]:
        op: AddColumn = item.op
        if not (op.generated_stored or op.generated_virtual):
            return
        reason = op.rewrite_reason(ctx.version)
        if reason:
            yield Hit(f"adding generated column {op.column} rewrites {op.table}: {reason}",
                      "add a plain column, fill it with a trigger for new writes and a batched backfill for "
                      "existing rows" + ("; or use VIRTUAL on PostgreSQL 18" if ctx.version < 18 else ""))

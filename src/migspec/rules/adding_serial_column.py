"""ADD COLUMN of type serial/bigserial, or an identity column, rewrites the table.

What it flags:
    ``ADD COLUMN id bigserial`` / ``serial`` / ``smallserial`` and
    ``ADD COLUMN ... GENERATED { ALWAYS | BY DEFAULT } AS IDENTITY`` on an existing table.

Why:
    Every existing row gets a value from nextval(), which is volatile: the table is rewritten
    under ACCESS EXCLUSIVE.

Example:
    ALTER TABLE events ADD COLUMN seq bigserial;

Use instead:
    Add the column without a default, create the sequence, SET DEFAULT nextval(...) for new rows,
    then backfill existing rows in keyset batches; or build a new table and copy into it.

Version notes:
    All versions.

References:
    - https://www.postgresql.org/docs/current/sql-altertable.html (Notes)
    - https://www.postgresql.org/docs/current/sql-createsequence.html
    - src/migspec/locks.py and src/migspec/ops/ (each operation's locks, as data)
    - tests/test_trace.py (those locks observed on a real server)
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from migspec.rules.base import Hit, Rule, RuleContext

if TYPE_CHECKING:
    from migspec.ops.table import AddColumn


class AddingSerialColumn(Rule):
    name = "adding-serial-column"
    operations = ("add_column",)

    def check(self, item, ctx: RuleContext) -> Iterable[Hit]:
        op: AddColumn = item.op
        if (op.type is not None and op.type.is_serial) or op.identity:
            yield Hit(f"adding {op.column} rewrites {op.table}: {op.rewrite_reason(ctx.version)}",
                      "add the column without a default, CREATE SEQUENCE, SET DEFAULT nextval(...), "
                      "backfill existing rows in keyset batches")

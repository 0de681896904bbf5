"""RENAME TABLE breaks every running query that uses the old name, the moment it commits.

What it flags:
    ``ALTER TABLE ... RENAME TO ...`` on an existing table.

Why:
    Catalog-only, but the application instances still running the old code fail on every query
    until they are replaced.

Example:
    ALTER TABLE customers RENAME TO accounts;

Use instead:
    Rename, and in the same transaction create an updatable view under the old name
    (CREATE VIEW customers AS SELECT * FROM accounts); drop the view once no code uses it.

Version notes:
    Simple views are automatically updatable from PostgreSQL 9.3.

References:
    - src/migspec/locks.py and src/migspec/ops/ (each operation's locks, as data)
    - tests/test_trace.py (those locks observed on a real server)
    - https://www.postgresql.org/docs/current/sql-createview.html#SQL-CREATEVIEW-UPDATABLE-VIEWS
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from migspec.risk import Risk
from migspec.rules.base import Hit, Rule, RuleContext

if TYPE_CHECKING:
    from migspec.ops.table import RenameTable


class RenamingTable(Rule):
    name = "renaming-table"
    operations = ("rename_table",)

    def check(self, item, ctx: RuleContext) -> Iterable[Hit]:
        op: RenameTable = item.op
        yield Hit(f"renaming {op.table} to {op.new_name} breaks running code that uses the old name",
                  f"rename and create an updatable view {op.table.sql} over the new name in the same "
                  "transaction; drop the view after the application switched", floor=Risk.YELLOW)

"""RENAME COLUMN breaks every running query that uses the old name, the moment it commits.

What it flags:
    ``ALTER TABLE ... RENAME COLUMN a TO b`` on an existing table.

Why:
    The rename itself is catalog-only (a brief ACCESS EXCLUSIVE), but application instances still
    running the old code fail on every query naming the old column until they are all replaced.
    No deploy order makes a single-step rename safe.

Example:
    ALTER TABLE users RENAME COLUMN email TO email_address;

Use instead:
    Expand/contract: add the new column, keep both in sync with a trigger, backfill in batches,
    switch the application to the new name, then drop the old column (migspec plan).

Version notes:
    All versions.

References:
    - src/migspec/locks.py and src/migspec/ops/ (each operation's locks, as data)
    - tests/test_trace.py (those locks observed on a real server)
    - https://github.com/ankane/strong_migrations (renaming a column)
    - https://squawkhq.com/docs/renaming-column
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from migspec.risk import Risk
from migspec.rules.base import Hit, Rule, RuleContext

if TYPE_CHECKING:
    from migspec.ops.table import RenameColumn


class RenamingColumn(Rule):
    name = "renaming-column"
    operations = ("rename_column",)

    def check(self, item, ctx: RuleContext) -> Iterable[Hit]:
        op: RenameColumn = item.op
        yield Hit(f"renaming {op.table}.{op.column} to {op.new_name} breaks running code that uses the old name",
                  "add the new column + sync trigger + batched backfill, switch the application, drop the old "
                  "column later (migspec plan)", floor=Risk.YELLOW)

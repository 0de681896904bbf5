"""DROP COLUMN destroys data and breaks running code that still reads the column.

What it flags:
    ``ALTER TABLE ... DROP COLUMN`` on an existing table.

Why:
    The drop is catalog-only (brief ACCESS EXCLUSIVE), but the data is gone - the only DOWN is a
    restore - and instances running the old code (and ORMs that list columns) fail at once.

Example:
    ALTER TABLE users DROP COLUMN legacy_flag;

Use instead:
    Stop the application using the column and deploy; archive the data; drop it in a CONTRACT
    phase after an agreed number of green days, with explicit confirmation (migspec plan
    --confirm users.legacy_flag).

Version notes:
    All versions.

References:
    - src/migspec/locks.py and src/migspec/ops/ (each operation's locks, as data)
    - tests/test_trace.py (those locks observed on a real server)
    - https://github.com/ankane/strong_migrations (removing a column)
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from migspec.risk import Risk
from migspec.rules.base import Hit, Rule, RuleContext

if TYPE_CHECKING:
    from migspec.ops.table import DropColumn


class DroppingColumn(Rule):
    name = "dropping-column"
    operations = ("drop_column",)

    def check(self, item, ctx: RuleContext) -> Iterable[Hit]:
        op: DropColumn = item.op
        yield Hit(f"dropping {op.table}.{op.column} destroys its data and breaks code that still uses it",
                  f"stop using it, archive it, then drop it in CONTRACT with --confirm {op.table}.{op.column}",
                  floor=Risk.YELLOW)

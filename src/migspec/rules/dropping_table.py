"""DROP TABLE destroys data and breaks running code that still uses the table.

What it flags:
    ``DROP TABLE`` / ``DROP MATERIALIZED VIEW`` of a table that existed before the migration.

Why:
    ACCESS EXCLUSIVE (queues behind every running query), the data is gone, and instances running
    the old code fail. CASCADE also drops views and foreign keys of other tables.

Example:
    DROP TABLE audit_log_2019;

Use instead:
    Stop the application using it, archive it (pg_dump -t, or a copy), then drop it in a CONTRACT
    phase after an agreed number of green days, with explicit confirmation.

Version notes:
    All versions.

References:
    - src/migspec/locks.py and src/migspec/ops/ (each operation's locks, as data)
    - tests/test_trace.py (those locks observed on a real server)
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from migspec.risk import Risk
from migspec.rules.base import Hit, Rule, RuleContext

if TYPE_CHECKING:
    from migspec.ops.table import DropTable


class DroppingTable(Rule):
    name = "dropping-table"
    operations = ("drop_table",)

    def check(self, item, ctx: RuleContext) -> Iterable[Hit]:
        op: DropTable = item.op
        extra = " CASCADE also drops dependent views and foreign keys." if op.cascade else ""
        yield Hit(f"dropping {op.table} destroys its data and breaks code that still uses it.{extra}",
                  f"archive it and drop it in CONTRACT with --confirm {op.table}", floor=Risk.YELLOW)

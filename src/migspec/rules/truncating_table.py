"""TRUNCATE destroys every row under ACCESS EXCLUSIVE; CASCADE reaches other tables.

What it flags:
    ``TRUNCATE`` of a table that existed before the migration.

Why:
    ACCESS EXCLUSIVE on every table truncated (CASCADE adds every table with a foreign key to it),
    and the data is gone: the only DOWN is a restore from an archive.

Example:
    TRUNCATE sessions CASCADE;

Use instead:
    Name each table explicitly, archive first, and run it only with explicit confirmation; to
    empty a busy table online, delete in keyset batches instead.

Version notes:
    All versions.

References:
    - src/migspec/locks.py and src/migspec/ops/ (each operation's locks, as data)
    - tests/test_trace.py (those locks observed on a real server)
    - https://www.postgresql.org/docs/current/sql-truncate.html
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from migspec.risk import Risk
from migspec.rules.base import Hit, Rule, RuleContext

if TYPE_CHECKING:
    from migspec.ops.table import Truncate


class TruncatingTable(Rule):
    name = "truncating-table"
    operations = ("truncate",)

    def check(self, item, ctx: RuleContext) -> Iterable[Hit]:
        op: Truncate = item.op
        extra = "; CASCADE also empties every table that references it" if op.cascade else ""
        yield Hit(f"TRUNCATE destroys every row of {op.table}{extra}",
                  f"archive first and confirm (--confirm {op.table}), or DELETE in keyset batches",
                  floor=Risk.RED if op.cascade else Risk.YELLOW)

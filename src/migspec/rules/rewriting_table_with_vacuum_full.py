"""VACUUM FULL and CLUSTER rewrite the whole table under ACCESS EXCLUSIVE.

What it flags:
    ``VACUUM FULL`` of a table, and ``CLUSTER`` (of a table, or of every clustered table).

Why:
    The table is copied under ACCESS EXCLUSIVE: no reads or writes until the copy and every index
    rebuild finish, and it needs free disk space for a second copy.

Example:
    VACUUM FULL orders;

Use instead:
    pg_repack (online, needs the extension), or a maintenance window sized from the estimate.

Version notes:
    PostgreSQL 19 is expected to bring REPACK (CONCURRENTLY).

References:
    - https://www.postgresql.org/docs/current/sql-vacuum.html (FULL)
    - https://www.postgresql.org/docs/current/sql-cluster.html
    - src/migspec/locks.py and src/migspec/ops/ (each operation's locks, as data)
    - tests/test_trace.py (those locks observed on a real server)
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from migspec.rules.base import Hit, Rule, RuleContext

if TYPE_CHECKING:
    from migspec.ops.misc import RewriteTable


class RewritingTableWithVacuumFull(Rule):
    name = "rewriting-table-with-vacuum-full"
    operations = ("rewrite_table",)

    def check(self, item, ctx: RuleContext) -> Iterable[Hit]:
        op: RewriteTable = item.op
        yield Hit(f"{op.command} rewrites {op.table} under ACCESS EXCLUSIVE",
                  "pg_repack, or a maintenance window sized from the estimate")

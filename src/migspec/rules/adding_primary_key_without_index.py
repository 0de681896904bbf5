"""ADD PRIMARY KEY builds its index (and checks NOT NULL) while holding ACCESS EXCLUSIVE.

What it flags:
    ``ALTER TABLE ... ADD PRIMARY KEY (...)`` on an existing table without ``USING INDEX``.

Why:
    The unique index is built, and nullable key columns are scanned for NULLs, while ACCESS
    EXCLUSIVE is held: no reads or writes until both finish.

Example:
    ALTER TABLE events ADD PRIMARY KEY (id);

Use instead:
    CREATE UNIQUE INDEX CONCURRENTLY events_pkey ON events (id);
    -- make id NOT NULL online (CHECK NOT VALID -> VALIDATE -> SET NOT NULL)
    ALTER TABLE events ADD CONSTRAINT events_pkey PRIMARY KEY USING INDEX events_pkey;

Version notes:
    All supported versions; the NOT NULL step is scan-free from PG12 (validated CHECK).

References:
    - https://www.postgresql.org/docs/current/sql-altertable.html (ADD table_constraint_using_index)
    - src/migspec/locks.py and src/migspec/ops/ (each operation's locks, as data)
    - tests/test_trace.py (those locks observed on a real server)
    - https://squawkhq.com/docs/adding-serial-primary-key-field
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from migspec.rules.base import Hit, Rule, RuleContext

if TYPE_CHECKING:
    from migspec.ops.constraint import AddConstraint


class AddingPrimaryKeyWithoutIndex(Rule):
    name = "adding-primary-key-without-index"
    operations = ("add_constraint",)

    def check(self, item, ctx: RuleContext) -> Iterable[Hit]:
        op: AddConstraint = item.op
        if op.constraint == "primary_key" and not op.using_index:
            yield Hit(f"adding PRIMARY KEY on {op.table} builds its index and checks NOT NULL under ACCESS EXCLUSIVE",
                      f"CREATE UNIQUE INDEX CONCURRENTLY <name> ON {op.table.sql} (...); make the columns NOT NULL "
                      f"online; then ALTER TABLE {op.table.sql} ADD CONSTRAINT <name> PRIMARY KEY USING INDEX <name>")

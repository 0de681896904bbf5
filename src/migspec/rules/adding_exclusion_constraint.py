"""ADD CONSTRAINT ... EXCLUDE builds its index under ACCESS EXCLUSIVE and has no online form.

What it flags:
    ``ALTER TABLE ... ADD CONSTRAINT ... EXCLUDE USING ...`` on an existing table.

Why:
    The exclusion index is built under ACCESS EXCLUSIVE, and neither NOT VALID nor USING INDEX is
    accepted for exclusion constraints: there is no way to split the work out of the lock.

Example:
    ALTER TABLE bookings ADD CONSTRAINT no_overlap EXCLUDE USING gist (room WITH =, during WITH &&);

Use instead:
    A maintenance window sized from the table (migspec estimates it), or a new table with the
    constraint, filled by a batched copy and a dual-write trigger, then swapped.

Version notes:
    All supported versions.

References:
    - https://www.postgresql.org/docs/current/sql-altertable.html (NOT VALID is only for foreign key and CHECK constraints)
    - src/migspec/locks.py and src/migspec/ops/ (each operation's locks, as data)
    - tests/test_trace.py (those locks observed on a real server)
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from migspec.risk import Risk
from migspec.rules.base import Hit, Rule, RuleContext

if TYPE_CHECKING:
    from migspec.ops.constraint import AddConstraint


class AddingExclusionConstraint(Rule):
    name = "adding-exclusion-constraint"
    operations = ("add_constraint",)

    def check(self, item, ctx: RuleContext) -> Iterable[Hit]:
        op: AddConstraint = item.op
        if op.constraint == "exclude":
            yield Hit(f"adding EXCLUDE constraint {op.name or ''} builds its index on {op.table} under ACCESS "
                      "EXCLUSIVE, with no online alternative".replace("  ", " "),
                      "schedule a maintenance window sized from the estimate, or copy into a new table that "
                      "has the constraint and swap", floor=Risk.YELLOW)

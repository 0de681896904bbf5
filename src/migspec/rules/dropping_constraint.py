"""DROP CONSTRAINT removes an invariant the application and other tables may rely on.

What it flags:
    ``ALTER TABLE ... DROP CONSTRAINT`` on an existing table.

Why:
    ACCESS EXCLUSIVE (a dropped foreign key also locks the referenced table), and the invariant is
    gone: bad rows can arrive at once, and putting it back means a validation scan. Dropping a
    primary key or unique constraint also drops its index.

Example:
    ALTER TABLE orders DROP CONSTRAINT orders_customer_fk;

Use instead:
    Make sure no code depends on it, record its definition (the DOWN needs it), and drop it in a
    CONTRACT phase.

Version notes:
    All versions.

References:
    - src/migspec/locks.py and src/migspec/ops/ (each operation's locks, as data)
    - tests/test_trace.py (those locks observed on a real server)
    - https://www.postgresql.org/docs/current/sql-altertable.html (DROP CONSTRAINT)
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from migspec.risk import Risk
from migspec.rules.base import Hit, Rule, RuleContext

if TYPE_CHECKING:
    from migspec.ops.constraint import DropConstraint


class DroppingConstraint(Rule):
    name = "dropping-constraint"
    operations = ("drop_constraint",)

    def check(self, item, ctx: RuleContext) -> Iterable[Hit]:
        op: DropConstraint = item.op
        known = ctx.schema.table(op.table).constraints.get(op.name)
        if known is not None and known.not_null_column and any(
                h.op.kind == "add_constraint" and getattr(h.op, "name", None) == op.name for h in ctx.history):
            return  # the helper CHECK of the online NOT NULL recipe, added earlier in this migration
        yield Hit(f"dropping constraint {op.name} on {op.table} removes an invariant; restoring it needs a scan",
                  "record its definition for the DOWN and drop it in CONTRACT", floor=Risk.YELLOW)

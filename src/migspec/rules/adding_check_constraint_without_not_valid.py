"""ADD CONSTRAINT ... CHECK without NOT VALID scans the table under ACCESS EXCLUSIVE.

What it flags:
    ``ALTER TABLE ... ADD CONSTRAINT ... CHECK (...)`` (and ADD COLUMN with an inline CHECK, and the
    PG18 named ``NOT NULL`` constraint) on an existing table without ``NOT VALID``.

Why:
    Every existing row is checked while ACCESS EXCLUSIVE is held: reads and writes wait for the
    whole scan.

Example:
    ALTER TABLE orders ADD CONSTRAINT positive_total CHECK (total >= 0);

Use instead:
    ALTER TABLE orders ADD CONSTRAINT positive_total CHECK (total >= 0) NOT VALID;  -- instant
    ALTER TABLE orders VALIDATE CONSTRAINT positive_total;  -- own transaction, SHARE UPDATE EXCLUSIVE

Version notes:
    NOT VALID for CHECK exists on every supported version; for NOT NULL constraints from PG18.

References:
    - https://www.postgresql.org/docs/current/sql-altertable.html (ADD CONSTRAINT ... NOT VALID, VALIDATE CONSTRAINT)
    - src/migspec/locks.py and src/migspec/ops/ (each operation's locks, as data)
    - tests/test_trace.py (those locks observed on a real server)
"""

from __future__ import annotations

from collections.abc import Iterable

from migspec.ops.base import Work
from migspec.rules.base import Hit, Rule, RuleContext, not_valid_fix


class AddingCheckConstraintWithoutNotValid(Rule):
    name = "adding-check-constraint-without-not-valid"
    operations = ("add_constraint", "add_column")

    def check(self, item, ctx: RuleContext) -> Iterable[Hit]:
        op = item.op
        if op.kind == "add_column":
            if op.inline_check and item.effect.work is Work.SCAN:
                yield Hit(f"the inline CHECK on new column {op.column} is verified against every row of {op.table}",
                          "add the column without the CHECK, then ADD CONSTRAINT ... CHECK (...) NOT VALID and "
                          "VALIDATE CONSTRAINT in its own transaction")
            return
        if op.constraint in ("check", "not_null") and not op.not_valid:
            fix = not_valid_fix(item) if op.constraint == "check" else None
            yield Hit(f"adding {op.constraint.replace('_', ' ').upper()} constraint {op.name or ''} checks every row of "
                      f"{op.table} under ACCESS EXCLUSIVE".replace("  ", " "),
                      f"{fix}; the VALIDATE in its own transaction" if fix else
                      f"ALTER TABLE {op.table.sql} ADD CONSTRAINT ... NOT VALID; then, in its own transaction, "
                      f"ALTER TABLE {op.table.sql} VALIDATE CONSTRAINT ...")

"""ADD FOREIGN KEY without NOT VALID blocks writes to both tables while it scans.

What it flags:
    ``ALTER TABLE ... ADD [CONSTRAINT ...] FOREIGN KEY ... REFERENCES ...`` without ``NOT VALID``,
    and ``ADD COLUMN ... REFERENCES`` on an existing table.

Why:
    SHARE ROW EXCLUSIVE is taken on the referencing and the referenced table (writes to both
    stop) while every existing row of the referencing table is looked up in the referenced one.

Example:
    ALTER TABLE orders ADD CONSTRAINT orders_customer_fk FOREIGN KEY (customer_id) REFERENCES customers (id);

Use instead:
    CREATE INDEX CONCURRENTLY ... ON orders (customer_id);   -- if no index covers it
    ALTER TABLE orders ADD CONSTRAINT orders_customer_fk FOREIGN KEY (customer_id)
        REFERENCES customers (id) NOT VALID;                  -- brief
    ALTER TABLE orders VALIDATE CONSTRAINT orders_customer_fk; -- SHARE UPDATE EXCLUSIVE

Version notes:
    All supported versions.

References:
    - https://www.postgresql.org/docs/current/sql-altertable.html (ADD CONSTRAINT)
    - src/migspec/locks.py and src/migspec/ops/ (each operation's locks, as data)
    - tests/test_trace.py (those locks observed on a real server)
    - https://squawkhq.com/docs/adding-foreign-key-constraint
"""

from __future__ import annotations

from collections.abc import Iterable

from migspec.ops.base import Work
from migspec.rules.base import Hit, Rule, RuleContext, not_valid_fix


class AddingForeignKeyWithoutNotValid(Rule):
    name = "adding-foreign-key-without-not-valid"
    operations = ("add_constraint", "add_column")

    def check(self, item, ctx: RuleContext) -> Iterable[Hit]:
        op = item.op
        if op.kind == "add_column":
            if op.references is not None and item.effect.work is Work.SCAN:
                yield Hit(f"the inline REFERENCES {op.references} on new column {op.column} locks both tables "
                          "against writes and is validated against every row",
                          "add the column plain, then ADD CONSTRAINT ... FOREIGN KEY ... NOT VALID and "
                          "VALIDATE CONSTRAINT in its own transaction")
            return
        if op.constraint == "foreign_key" and not op.not_valid:
            fix = not_valid_fix(item)
            yield Hit(f"adding FOREIGN KEY {op.name or ''} takes SHARE ROW EXCLUSIVE on {op.table} and "
                      f"{op.references} and validates every row".replace("  ", " "),
                      f"{fix}; the VALIDATE in its own transaction; index the referencing column CONCURRENTLY "
                      "first when no index covers it" if fix else
                      f"ALTER TABLE {op.table.sql} ADD CONSTRAINT ... FOREIGN KEY (...) REFERENCES "
                      f"{op.references.sql if op.references else '...'} (...) NOT VALID; then VALIDATE CONSTRAINT "
                      "in its own transaction; index the referencing column CONCURRENTLY first")

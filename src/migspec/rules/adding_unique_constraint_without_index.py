"""ADD CONSTRAINT ... UNIQUE builds its index while holding ACCESS EXCLUSIVE.

What it flags:
    ``ALTER TABLE ... ADD CONSTRAINT ... UNIQUE (...)`` and ``ADD COLUMN ... UNIQUE`` on an existing
    table, without ``USING INDEX``.

Why:
    The unique index is built while ACCESS EXCLUSIVE is held: no reads or writes for the whole
    build.

Example:
    ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE (email);

Use instead:
    CREATE UNIQUE INDEX CONCURRENTLY users_email_key ON users (email);   -- outside a transaction
    ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE USING INDEX users_email_key;  -- brief

Version notes:
    All supported versions.

References:
    - https://www.postgresql.org/docs/current/sql-altertable.html (ADD table_constraint_using_index)
    - src/migspec/locks.py and src/migspec/ops/ (each operation's locks, as data)
    - tests/test_trace.py (those locks observed on a real server)
    - https://squawkhq.com/docs/disallowed-unique-constraint
"""

from __future__ import annotations

from collections.abc import Iterable

from migspec.rules.base import Hit, Rule, RuleContext


class AddingUniqueConstraintWithoutIndex(Rule):
    name = "adding-unique-constraint-without-index"
    operations = ("add_constraint", "add_column")

    def check(self, item, ctx: RuleContext) -> Iterable[Hit]:
        op = item.op
        if op.kind == "add_column":
            if op.inline_unique:
                yield Hit(f"the inline UNIQUE/PRIMARY KEY on new column {op.column} builds an index on {op.table} "
                          "under ACCESS EXCLUSIVE", "add the column plain, CREATE UNIQUE INDEX CONCURRENTLY, then "
                          "ADD CONSTRAINT ... USING INDEX")
            return
        if op.constraint == "unique" and not op.using_index:
            yield Hit(f"adding UNIQUE {op.name or ''} builds its index on {op.table} under ACCESS EXCLUSIVE".replace("  ", " "),
                      f"CREATE UNIQUE INDEX CONCURRENTLY <name> ON {op.table.sql} (...); then ALTER TABLE "
                      f"{op.table.sql} ADD CONSTRAINT <name> UNIQUE USING INDEX <name>")

"""ALTER DOMAIN ... ADD CONSTRAINT re-checks every column of every table that uses the domain.

What it flags:
    ``ALTER DOMAIN ... ADD CONSTRAINT ... CHECK (...)`` without ``NOT VALID``.

Why:
    Every table with a column of the domain is scanned under a lock that blocks its writes;
    migspec cannot see from the migration which tables those are or how large, so it assumes the
    worst.

Example:
    ALTER DOMAIN positive_amount ADD CONSTRAINT positive CHECK (VALUE > 0);

Use instead:
    ALTER DOMAIN positive_amount ADD CONSTRAINT positive CHECK (VALUE > 0) NOT VALID;
    ALTER DOMAIN positive_amount VALIDATE CONSTRAINT positive;
    -- or put the CHECK on the columns themselves (NOT VALID + VALIDATE per table)

Version notes:
    All supported versions.

References:
    - https://www.postgresql.org/docs/current/sql-alterdomain.html
    - src/migspec/locks.py and src/migspec/ops/ (each operation's locks, as data)
    - tests/test_trace.py (those locks observed on a real server)
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from migspec.rules.base import Hit, Rule, RuleContext

if TYPE_CHECKING:
    from migspec.ops.misc import AddDomainConstraint


class AddingDomainConstraint(Rule):
    name = "adding-domain-constraint"
    operations = ("add_domain_constraint",)
    on_new_tables = True

    def check(self, item, ctx: RuleContext) -> Iterable[Hit]:
        op: AddDomainConstraint = item.op
        if not op.not_valid:
            yield Hit(f"adding a constraint to domain {op.domain} scans every table that uses it, blocking their "
                      "writes", f"ALTER DOMAIN {op.domain.sql} ADD CONSTRAINT ... NOT VALID; then VALIDATE CONSTRAINT")

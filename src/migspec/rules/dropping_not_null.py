"""DROP NOT NULL lets NULLs in that older application versions may not expect.

What it flags:
    ``ALTER TABLE ... ALTER COLUMN c DROP NOT NULL`` on an existing table.

Why:
    Catalog-only (brief ACCESS EXCLUSIVE) and usually safe, but code still running that assumes
    the column is never NULL may break when the first NULL arrives, and putting NOT NULL back
    needs a scan.

Example:
    ALTER TABLE orders ALTER COLUMN shipped_at DROP NOT NULL;

Use instead:
    Deploy code that tolerates NULL first; then drop the constraint.

Version notes:
    All versions.

References:
    - src/migspec/locks.py and src/migspec/ops/ (each operation's locks, as data)
    - tests/test_trace.py (those locks observed on a real server)
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from migspec.rules.base import Hit, Rule, RuleContext

if TYPE_CHECKING:
    from migspec.ops.table import DropNotNull


class DroppingNotNull(Rule):
    name = "dropping-not-null"
    operations = ("drop_not_null",)

    def check(self, item, ctx: RuleContext) -> Iterable[Hit]:
        op: DropNotNull = item.op
        yield Hit(f"{op.table}.{op.column} may now hold NULL: code that assumes otherwise must be deployed first",
                  "deploy NULL-tolerant code before this migration")

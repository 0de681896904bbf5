"""A session-level SET lock_timeout / statement_timeout leaks to other clients of a pooler.

What it flags:
    ``SET lock_timeout`` and ``SET statement_timeout`` without ``LOCAL``.

Why:
    Behind PgBouncer in transaction pooling mode the server session outlives the migration's
    transaction: the next application transaction on that connection inherits the migration's
    timeouts (and a long statement_timeout set for a backfill can disable a safety net).

Example:
    SET lock_timeout = '2s';

Use instead:
    SET LOCAL lock_timeout = '2s';   -- inside the transaction it protects

Version notes:
    All versions.

References:
    - https://www.postgresql.org/docs/current/sql-set.html
    - src/migspec/locks.py and src/migspec/ops/ (each operation's locks, as data)
    - tests/test_trace.py (those locks observed on a real server)
    - src/migspec/execute/guard.py (SET LOCAL timeouts per step)
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from migspec.rules.base import Hit, Rule, RuleContext

if TYPE_CHECKING:
    from migspec.ops.session import SetSetting


class SettingSessionTimeout(Rule):
    name = "setting-session-timeout"
    operations = ("set",)
    on_new_tables = True

    def check(self, item, ctx: RuleContext) -> Iterable[Hit]:
        op: SetSetting = item.op
        if op.name in ("lock_timeout", "statement_timeout") and not op.local:
            yield Hit(f"session-level SET {op.name} outlives the migration's transaction and leaks through "
                      "transaction-pooling poolers", f"SET LOCAL {op.name} inside each transaction")

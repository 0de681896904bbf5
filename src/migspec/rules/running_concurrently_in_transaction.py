"""A CONCURRENTLY statement inside a transaction block fails.

What it flags:
    ``CREATE INDEX CONCURRENTLY``, ``DROP INDEX CONCURRENTLY``, ``REINDEX ... CONCURRENTLY`` and
    ``DETACH PARTITION ... CONCURRENTLY`` (and ``VACUUM``, which has the same restriction) after
    BEGIN, or in a file that the runner wraps in a transaction (``--transaction-per-file``:
    Alembic, Django, Flyway by default).

Why:
    PostgreSQL raises "cannot run inside a transaction block": the deploy fails at this
    statement, after the statements before it in the transaction have been rolled back.

Example:
    BEGIN;
    CREATE INDEX CONCURRENTLY orders_state_idx ON orders (state);
    COMMIT;

Use instead:
    Run it on its own, outside any transaction: Django ``atomic = False``, Alembic
    ``with op.get_context().autocommit_block():``, Flyway ``executeInTransaction=false``.

Version notes:
    All supported versions (DETACH ... CONCURRENTLY exists from PG14).

References:
    - https://www.postgresql.org/docs/current/sql-createindex.html
    - https://www.postgresql.org/docs/current/sql-dropindex.html
    - https://www.postgresql.org/docs/current/sql-reindex.html
    - https://www.postgresql.org/docs/current/sql-altertable.html (DETACH PARTITION)
"""

from __future__ import annotations

from collections.abc import Iterable

from migspec.risk import Risk
from migspec.rules.base import Hit, Rule, RuleContext


class RunningConcurrentlyInTransaction(Rule):
    name = "running-concurrently-in-transaction"
    on_new_tables = True
    #: Outside a transaction block there is nothing to flag.
    in_transaction_only = True

    def check(self, item, ctx: RuleContext) -> Iterable[Hit]:
        if not item.tx.in_transaction:
            return
        where = "inside BEGIN ... COMMIT" if item.tx.explicit else "in a file the runner wraps in a transaction"
        if item.op.no_transaction:
            how = " with CONCURRENTLY" if getattr(item.op, "concurrent", False) else ""
            yield Hit(f"{item.op.describe()}{how} cannot run {where}: the statement fails",
                      "run it alone, outside any transaction (disable the runner's transaction for this file)",
                      fixed=Risk.RED)

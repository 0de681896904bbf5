"""A lock taken earlier in the same transaction is still held while later statements run.

What it flags:
    Any statement that runs in a transaction (explicit BEGIN, or a runner that wraps each file)
    after an earlier statement of that transaction took a lock that blocks writes (ACCESS
    EXCLUSIVE, EXCLUSIVE, SHARE ROW EXCLUSIVE, SHARE).

Why:
    Locks are released only at COMMIT. A brief catalog-only ALTER followed by a backfill or an
    index build in the same transaction keeps the table blocked for the whole transaction.

Example:
    BEGIN;
    ALTER TABLE orders ADD COLUMN note text;      -- ACCESS EXCLUSIVE, held...
    UPDATE orders SET note = '';                  -- ...for the whole UPDATE
    COMMIT;

Use instead:
    One lock-taking statement per transaction: COMMIT between steps, or let migspec plan split
    them.

Version notes:
    All versions.

References:
    - https://www.postgresql.org/docs/current/explicit-locking.html (once acquired, a lock is normally held until the end of the transaction)
    - src/migspec/locks.py and src/migspec/ops/ (each operation's locks, as data)
    - tests/test_trace.py (those locks observed on a real server)
"""

from __future__ import annotations

from collections.abc import Iterable

from migspec.rules.base import Hit, Rule, RuleContext


class LockHeldAcrossStatements(Rule):
    name = "lock-held-across-statements"
    on_new_tables = True
    #: Outside a transaction block there is nothing to flag.
    in_transaction_only = True

    def check(self, item, ctx: RuleContext) -> Iterable[Hit]:
        if item.op.kind in ("transaction", "set") or not item.tx.held:
            return
        held = [h for h in item.tx.held if not ctx.schema.is_new(h.relation)]
        if not held:
            return
        first = {}
        for h in held:
            if h.relation not in first or h.mode > first[h.relation].mode:
                first[h.relation] = h
        desc = ", ".join(f"{h.mode.sql_name} on {h.relation} (taken at line {h.location.line})"
                         for h in first.values())
        yield Hit(f"{desc} is still held while this statement runs: the lock lasts until COMMIT",
                  "COMMIT after each lock-taking statement; run one lock-taking statement per transaction")

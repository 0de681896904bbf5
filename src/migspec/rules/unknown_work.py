"""A DO block, procedure call or unmodelled statement may lock and rewrite anything.

What it flags:
    ``DO $$ ... $$``, ``CALL``, and statements migspec does not model (VACUUM FULL of the whole
    database, REINDEX SCHEMA/DATABASE/SYSTEM, CLUSTER without a table, ...).

Why:
    Their effect cannot be read from the statement: migspec cannot say which tables they lock,
    for how long, or whether they rewrite, so it assumes the worst (RED) rather than guess.

Example:
    DO $$ BEGIN EXECUTE 'ALTER TABLE ' || tbl || ' ADD COLUMN x int'; END $$;

Use instead:
    Write the statements out as plain SQL so they can be analysed; or review the block by hand and
    allow it with a reason: -- migspec: allow unknown-work reason: <why it is safe>

Version notes:
    All versions.

References:
    - src/migspec/locks.py and src/migspec/ops/ (each operation's locks, as data)
    - tests/test_trace.py (those locks observed on a real server)
    - https://squawkhq.com/docs/rules and https://github.com/kaaveland/eugene (both treat DO blocks as opaque)
"""

from __future__ import annotations

from collections.abc import Iterable

from migspec.rules.base import Hit, Rule, RuleContext


class UnknownWorkRule(Rule):
    name = "unknown-work"
    operations = ("unknown",)
    on_new_tables = True

    def check(self, item, ctx: RuleContext) -> Iterable[Hit]:
        yield Hit(f"migspec cannot see what this {item.op.describe()} locks or rewrites; it assumes the worst",
                  "write it as plain SQL statements, or review it and allow it with a reason")

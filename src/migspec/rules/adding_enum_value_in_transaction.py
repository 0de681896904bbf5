"""ALTER TYPE ... ADD VALUE in a transaction fails before PG12, and the new value cannot be used
in the transaction that added it.

What it flags:
    ``ALTER TYPE ... ADD VALUE`` inside a transaction block when targeting PostgreSQL 11, and any
    later statement of the same transaction whose text uses the new value as a literal.

Why:
    Before PG12 the statement raises "cannot run inside a transaction block". On every version, a
    value added in an uncommitted transaction raises "unsafe use of new value" when used before
    COMMIT. Either way the deploy fails halfway.

Example:
    BEGIN;
    ALTER TYPE order_state ADD VALUE 'refunded';
    UPDATE orders SET state = 'refunded' WHERE refunded_at IS NOT NULL;
    COMMIT;

Use instead:
    Add the value in its own migration (outside a transaction before PG12); use it in a later one.

Version notes:
    PG12+: ADD VALUE may run in a transaction block, but the value is still unusable until COMMIT.

References:
    - https://www.postgresql.org/docs/current/sql-altertype.html (Notes)
    - src/migspec/locks.py and src/migspec/ops/ (each operation's locks, as data)
    - tests/test_trace.py (those locks observed on a real server)
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from migspec.names import quote_literal
from migspec.risk import Risk
from migspec.rules.base import Hit, Rule, RuleContext
from migspec.versions import GATES, supports

if TYPE_CHECKING:
    from migspec.ops.misc import AddEnumValue


class AddingEnumValueInTransaction(Rule):
    name = "adding-enum-value-in-transaction"
    on_new_tables = True
    #: Outside a transaction block there is nothing to flag.
    in_transaction_only = True

    def __init__(self) -> None:
        self.added: dict[str, tuple[int | None, AddEnumValue]] = {}

    def check(self, item, ctx: RuleContext) -> Iterable[Hit]:
        op = item.op
        if op.kind == "add_enum_value":
            if item.tx.in_transaction:
                self.added[op.value] = (item.tx.tx_id, op)
                if not supports("enum_add_in_transaction", ctx.version):
                    yield Hit(f"ALTER TYPE {op.type_name} ADD VALUE cannot run in a transaction block before "
                              f"PostgreSQL {GATES['enum_add_in_transaction'].since}: the statement fails",
                              "run it alone, outside any transaction", fixed=Risk.RED)
            return
        if op.kind == "transaction" or not item.tx.in_transaction:
            return
        for value, (tx_id, added) in self.added.items():
            if tx_id == item.tx.tx_id and quote_literal(value) in item.stmt.sql:
                yield Hit(f"uses enum value {value!r} added to {added.type_name} earlier in this transaction: "
                          "'unsafe use of new value' until COMMIT", "COMMIT after ADD VALUE, use it afterwards",
                          fixed=Risk.RED)

"""DROP SCHEMA destroys every object in the schema.

What it flags:
    ``DROP SCHEMA`` (with or without CASCADE).

Why:
    Every table in it is dropped under ACCESS EXCLUSIVE and its data lost; migspec cannot see
    which tables those are or how large, so it assumes the worst.

Example:
    DROP SCHEMA legacy CASCADE;

Use instead:
    Drop the tables one by one (each confirmed and archived), then the empty schema.

Version notes:
    All versions.

References:
    - src/migspec/locks.py and src/migspec/ops/ (each operation's locks, as data)
    - tests/test_trace.py (those locks observed on a real server)
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from migspec.risk import Risk
from migspec.rules.base import Hit, Rule, RuleContext

if TYPE_CHECKING:
    from migspec.ops.misc import DropSchema


class DroppingSchema(Rule):
    name = "dropping-schema"
    operations = ("drop_schema",)
    on_new_tables = True

    def check(self, item, ctx: RuleContext) -> Iterable[Hit]:
        op: DropSchema = item.op
        yield Hit(f"dropping schema {op.schema_name} destroys every object in it",
                  "archive and drop its tables one by one with confirmation, then drop the empty schema",
                  fixed=Risk.RED)

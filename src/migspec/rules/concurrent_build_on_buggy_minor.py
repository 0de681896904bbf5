"""CONCURRENTLY index builds on PostgreSQL 14.0-14.3 can silently corrupt the index.

What it flags:
    ``CREATE INDEX CONCURRENTLY`` and ``REINDEX ... CONCURRENTLY`` when the stats file says the
    server runs 14.0, 14.1, 14.2 or 14.3 (``pg_version: "14.2"``).

Why:
    A bug in those releases could miss tuples updated during the build (HOT chains), leaving an
    index that returns wrong results. It was fixed in 14.4, which also tells how to find damaged
    indexes (amcheck).

Example:
    -- pg_version: "14.2"
    CREATE INDEX CONCURRENTLY orders_state_idx ON orders (state);

Use instead:
    Upgrade to 14.4 or later first; until then build without CONCURRENTLY in a maintenance window.

Version notes:
    Only 14.0-14.3 (migspec.versions.MINOR_BUGS).

References:
    - https://www.postgresql.org/docs/release/14.4/
    - src/migspec/locks.py and src/migspec/ops/ (each operation's locks, as data)
    - tests/test_trace.py (those locks observed on a real server)
"""

from __future__ import annotations

from collections.abc import Iterable

from migspec.risk import Risk
from migspec.rules.base import Hit, Rule, RuleContext
from migspec.versions import MINOR_BUGS


class ConcurrentBuildOnBuggyMinor(Rule):
    name = "concurrent-build-on-buggy-minor"
    operations = ("create_index", "reindex")
    on_new_tables = True

    def check(self, item, ctx: RuleContext) -> Iterable[Hit]:
        bug = MINOR_BUGS["cic_corruption_14"]
        if item.op.concurrent and bug.affects(ctx.version_full):
            yield Hit(f"the server runs {ctx.version_full}: {bug.fact}", "upgrade to 14.4+ before building "
                      "indexes concurrently", fixed=Risk.RED)

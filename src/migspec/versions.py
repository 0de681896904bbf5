"""Version gates: facts about PostgreSQL that hold from one major release on, as data.

Every rule and operation asks ``supports(GATE, version)`` instead of comparing numbers itself,
so a gate is defined once, its source is stated once, and messages quote it from here.
Supported target versions are 11 through 18.

Every gate is observed, not only read from release notes: tests/test_versions.py probes each on
a real server (a syntax accepted, a mode in ``pg_locks``, a ``relfilenode`` kept, a scan counter)
and asserts ``supports()`` agrees. Checked on 11.x-18.x (npm/PyPI builds via migspec.pginstall),
so each gate is seen on both sides except ``fast_default`` (no 10 to compare); the results per
major are in docs/versions.md.
"""

from __future__ import annotations

from migspec.frozen import frozen


MIN_VERSION = 11
MAX_VERSION = 18
DEFAULT_VERSION = 16


@frozen
class Gate:
    """A behaviour that exists from ``since`` (a major version) on."""

    key: str
    since: int
    fact: str
    source: str
    until: int | None = None  # last major version that still has it, when it went away

    def holds(self, version: int) -> bool:
        return version >= self.since and (self.until is None or version <= self.until)


GATES: dict[str, Gate] = {
    g.key: g
    for g in (
        Gate("fast_default", 11,
             "ADD COLUMN with a non-volatile DEFAULT only updates the catalog (no rewrite)",
             "PostgreSQL 11 release notes; docs ALTER TABLE, Notes"),
        Gate("not_null_from_check", 12,
             "SET NOT NULL skips the full-table scan when a validated CHECK (col IS NOT NULL) exists",
             "PostgreSQL 12 release notes; docs ALTER TABLE SET NOT NULL"),
        Gate("enum_add_in_transaction", 12,
             "ALTER TYPE ... ADD VALUE may run inside a transaction block",
             "PostgreSQL 12 release notes; docs ALTER TYPE, Notes"),
        Gate("reindex_concurrently", 12, "REINDEX ... CONCURRENTLY exists",
             "PostgreSQL 12 release notes; docs REINDEX"),
        Gate("rename_index_sue", 12,
             "ALTER INDEX ... RENAME takes SHARE UPDATE EXCLUSIVE on the index instead of ACCESS EXCLUSIVE",
             "PostgreSQL 12 release notes; observed in pg_locks on 11.22 (ACCESS EXCLUSIVE) and 12-18 "
             "(tests/test_versions.py)"),
        Gate("timestamptz_utc_no_rewrite", 12,
             "timestamp <-> timestamptz is not a rewrite when the session TimeZone is UTC",
             "PostgreSQL 12 release notes"),
        Gate("attach_partition_sue", 12,
             "ATTACH PARTITION takes SHARE UPDATE EXCLUSIVE on the parent instead of ACCESS EXCLUSIVE",
             "PostgreSQL 12 release notes; docs ALTER TABLE ATTACH PARTITION"),
        Gate("detach_concurrently", 14, "ALTER TABLE ... DETACH PARTITION ... CONCURRENTLY exists",
             "PostgreSQL 14 release notes; docs ALTER TABLE DETACH PARTITION"),
        Gate("detach_partition_ael", 14,
             "DETACH PARTITION takes ACCESS EXCLUSIVE on the partition (13: SHARE UPDATE EXCLUSIVE)",
             "observed in pg_locks on 13.23 and 14-18 (tests/test_versions.py); tablecmds.c ATExecDetachPartition"),
        Gate("transaction_timeout", 17, "the transaction_timeout setting exists",
             "PostgreSQL 17 release notes"),
        Gate("not_null_not_valid", 18,
             "ADD CONSTRAINT name NOT NULL col NOT VALID, then VALIDATE CONSTRAINT, sets NOT NULL online",
             "PostgreSQL 18 release notes; docs ALTER TABLE ADD table_constraint"),
        Gate("virtual_generated", 18,
             "generated columns are VIRTUAL by default and a VIRTUAL column does not rewrite",
             "PostgreSQL 18 release notes; docs CREATE TABLE GENERATED"),
    )
}


def supports(key: str, version: int) -> bool:
    """Whether the gate ``key`` holds on major ``version``."""
    return GATES[key].holds(version)


@frozen
class MinorBug:
    """A defect confined to a range of minor releases of one major version."""

    key: str
    major: int
    first_minor: int
    last_minor: int
    fact: str
    source: str

    def affects(self, version: str | None) -> bool:
        if not version:
            return False
        major, _, minor = version.partition(".")
        if not (major.isdigit() and minor.isdigit()):
            return False
        return int(major) == self.major and self.first_minor <= int(minor) <= self.last_minor


MINOR_BUGS: dict[str, MinorBug] = {
    b.key: b
    for b in (
        MinorBug("cic_corruption_14", 14, 0, 3,
                 "CREATE/REINDEX INDEX CONCURRENTLY could silently corrupt indexes; upgrade to 14.4+",
                 "PostgreSQL 14.4 release notes"),
    )
}

"""Every version gate of ``migspec.versions`` observed on a real server.

Each gate has a probe here: SQL that shows, on the server under test, whether the gate's
behaviour holds (a syntax exists, a lock mode in ``pg_locks``, a rewrite by ``relfilenode``, a
scan by ``pg_stat_xact_user_tables``). The test asserts ``supports(gate, major)`` equals what the
server does. Run with ``--pg-major 13,14,15,16,17,18`` (scripts/test runs the default 15 plus 13
and 18) so each gate is seen on a major on each side of it where both sides are in 13-18;
``test_every_gate_has_a_probe`` keeps a new gate from going unobserved.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from helpers_record import record
from migspec.pgserver import Server
from migspec.versions import GATES, supports

Probe = Callable[[psycopg.Connection], bool]


def _relfilenode(conn: psycopg.Connection, table: str) -> int:
    row = conn.execute("SELECT relfilenode FROM pg_class WHERE oid = %s::regclass", (table,)).fetchone()
    assert row is not None
    return int(row[0])


def _refused(conn: psycopg.Connection, statement: str) -> bool:
    """True when the server refuses ``statement`` (in autocommit) as unknown syntax or setting."""
    try:
        conn.execute(statement)
    except (psycopg.errors.SyntaxError, psycopg.errors.UndefinedObject, psycopg.errors.FeatureNotSupported,
            psycopg.errors.ActiveSqlTransaction):
        return True
    return False


def _lock_in_transaction(conn: psycopg.Connection, statement: str, table: str) -> str:
    """The strongest relation lock ``statement`` holds on ``table`` before COMMIT (rolled back)."""
    conn.execute("BEGIN")
    try:
        conn.execute(statement)
        rows = conn.execute("SELECT mode FROM pg_locks WHERE pid = pg_backend_pid() AND locktype = 'relation' "
                            "AND relation = %s::regclass AND granted", (table,)).fetchall()
    finally:
        conn.execute("ROLLBACK")
    order = ["AccessShareLock", "RowShareLock", "RowExclusiveLock", "ShareUpdateExclusiveLock", "ShareLock",
             "ShareRowExclusiveLock", "ExclusiveLock", "AccessExclusiveLock"]
    return max((r[0] for r in rows), key=order.index)


def _fast_default(conn: psycopg.Connection) -> bool:
    conn.execute("CREATE TABLE t (a int); INSERT INTO t SELECT g FROM generate_series(1, 1000) g")
    before = _relfilenode(conn, "t")
    conn.execute("ALTER TABLE t ADD COLUMN b int NOT NULL DEFAULT 5")
    return _relfilenode(conn, "t") == before


def _not_null_from_check(conn: psycopg.Connection) -> bool:
    conn.execute("CREATE TABLE t (a int CONSTRAINT a_nn CHECK (a IS NOT NULL)); "
                 "INSERT INTO t SELECT g FROM generate_series(1, 1000) g")
    conn.execute("BEGIN")
    try:
        conn.execute("ALTER TABLE t ALTER COLUMN a SET NOT NULL")
        row = conn.execute("SELECT seq_scan FROM pg_stat_xact_user_tables WHERE relid = 't'::regclass").fetchone()
    finally:
        conn.execute("ROLLBACK")
    return row is not None and row[0] == 0


def _enum_add_in_transaction(conn: psycopg.Connection) -> bool:
    conn.execute("CREATE TYPE mood AS ENUM ('sad', 'ok')")
    conn.execute("BEGIN")
    try:
        return not _refused(conn, "ALTER TYPE mood ADD VALUE 'happy'")
    finally:
        conn.execute("ROLLBACK")


def _reindex_concurrently(conn: psycopg.Connection) -> bool:
    conn.execute("CREATE TABLE t (a int); CREATE INDEX t_a ON t (a)")
    return not _refused(conn, "REINDEX INDEX CONCURRENTLY t_a")


def _rename_index_sue(conn: psycopg.Connection) -> bool:
    conn.execute("CREATE TABLE t (a int); CREATE INDEX t_a ON t (a)")
    mode = _lock_in_transaction(conn, "ALTER INDEX t_a RENAME TO t_b", "t_b")
    assert mode in ("AccessExclusiveLock", "ShareUpdateExclusiveLock"), mode
    return mode == "ShareUpdateExclusiveLock"


def _timestamptz_utc_no_rewrite(conn: psycopg.Connection) -> bool:
    conn.execute("CREATE TABLE t (at timestamp); INSERT INTO t SELECT now() FROM generate_series(1, 1000)")
    before = _relfilenode(conn, "t")
    conn.execute("SET TimeZone = 'UTC'")
    conn.execute("ALTER TABLE t ALTER COLUMN at TYPE timestamptz")
    return _relfilenode(conn, "t") == before


_PARTITIONS = """
CREATE TABLE events (id bigint, at date NOT NULL) PARTITION BY RANGE (at);
CREATE TABLE events_2024 PARTITION OF events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
INSERT INTO events SELECT g, date '2024-01-01' + g % 300 FROM generate_series(1, 1000) g;
"""


def _attach_partition_sue(conn: psycopg.Connection) -> bool:
    conn.execute(_PARTITIONS + "CREATE TABLE events_2025 (id bigint, at date NOT NULL)")
    mode = _lock_in_transaction(
        conn, "ALTER TABLE events ATTACH PARTITION events_2025 FOR VALUES FROM ('2025-01-01') TO ('2026-01-01')",
        "events")
    return mode == "ShareUpdateExclusiveLock"


def _detach_concurrently(conn: psycopg.Connection) -> bool:
    conn.execute(_PARTITIONS)
    return not _refused(conn, "ALTER TABLE events DETACH PARTITION events_2024 CONCURRENTLY")


def _detach_partition_ael(conn: psycopg.Connection) -> bool:
    conn.execute(_PARTITIONS)
    mode = _lock_in_transaction(conn, "ALTER TABLE events DETACH PARTITION events_2024", "events_2024")
    assert mode in ("AccessExclusiveLock", "ShareUpdateExclusiveLock"), mode
    return mode == "AccessExclusiveLock"


def _transaction_timeout(conn: psycopg.Connection) -> bool:
    return not _refused(conn, "SHOW transaction_timeout")


def _not_null_not_valid(conn: psycopg.Connection) -> bool:
    conn.execute("CREATE TABLE t (a int); INSERT INTO t SELECT g FROM generate_series(1, 1000) g")
    if _refused(conn, "ALTER TABLE t ADD CONSTRAINT t_a_nn NOT NULL a NOT VALID"):
        return False
    conn.execute("ALTER TABLE t VALIDATE CONSTRAINT t_a_nn")
    row = conn.execute("SELECT attnotnull FROM pg_attribute WHERE attrelid = 't'::regclass AND attname = 'a'")
    return row.fetchone() == (True,)


def _virtual_generated(conn: psycopg.Connection) -> bool:
    conn.execute("CREATE TABLE t (a int); INSERT INTO t SELECT g FROM generate_series(1, 1000) g")
    before = _relfilenode(conn, "t")
    # Without STORED: VIRTUAL from 18 on; a syntax error before (STORED was required).
    if _refused(conn, "ALTER TABLE t ADD COLUMN b int GENERATED ALWAYS AS (a * 2)"):
        return False
    kind = conn.execute("SELECT attgenerated FROM pg_attribute WHERE attrelid = 't'::regclass AND attname = 'b'")
    return kind.fetchone() == ("v",) and _relfilenode(conn, "t") == before


PROBES: dict[str, Probe] = {
    "fast_default": _fast_default,
    "not_null_from_check": _not_null_from_check,
    "enum_add_in_transaction": _enum_add_in_transaction,
    "reindex_concurrently": _reindex_concurrently,
    "rename_index_sue": _rename_index_sue,
    "timestamptz_utc_no_rewrite": _timestamptz_utc_no_rewrite,
    "attach_partition_sue": _attach_partition_sue,
    "detach_concurrently": _detach_concurrently,
    "detach_partition_ael": _detach_partition_ael,
    "transaction_timeout": _transaction_timeout,
    "not_null_not_valid": _not_null_not_valid,
    "virtual_generated": _virtual_generated,
}


def test_every_gate_has_a_probe() -> None:
    assert sorted(PROBES) == sorted(GATES), "a gate without a probe (or a probe without a gate)"


@pytest.mark.parametrize("gate", sorted(PROBES))
def test_gate_matches_the_server(gate: str, pg_server: Server, pg: psycopg.Connection) -> None:
    observed = PROBES[gate](pg)
    claimed = supports(gate, pg_server.major)
    record("gate", gate=gate, major=pg_server.major, observed=observed, claimed=claimed)
    g = GATES[gate]
    assert observed == claimed, (
        f"{gate} ({g.fact}; from {g.since}): migspec says it {'holds' if claimed else 'does not hold'} on "
        f"PostgreSQL {pg_server.major}, the server says it {'does' if observed else 'does not'}")


def test_the_generated_table_covers_every_gate_and_major() -> None:
    """docs/versions.md (tools/gen_versions_doc.py) is regenerated when a gate is added."""
    doc = (Path(__file__).resolve().parent.parent / "docs" / "versions.md").read_text(encoding="utf-8")
    assert "python tools/gen_versions_doc.py" in doc.split("\n\n", 2)[1]
    assert "| gate | 13 | 14 | 15 | 16 | 17 | 18 |" in doc
    for gate in GATES:
        assert f"| `{gate}` |" in doc, f"docs/versions.md has no row for {gate}: regenerate it"

"""The catalog and statistics queries behind ``migspec measure``, one function per question.

Every function takes an open read-only connection (see :mod:`migspec.measure.connection`) and
runs its queries in one short transaction. Nothing here needs more than ``pg_monitor``: the
catalogs, ``pg_stat_*`` views, ``pg_locks`` and the ``pg_get_*def`` functions are readable by any
role; ``pg_monitor`` (through ``pg_read_all_stats``) only adds other roles' sessions to
``pg_stat_activity`` and the lag columns of ``pg_stat_replication``. ``--exact-rows`` is the one
exception: ``count(*)`` needs SELECT on the table.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence


import psycopg

from migspec.frozen import frozen
from migspec.names import QualifiedName
from migspec.stats import SchemaColumn, TableSchema

#: Relation kinds with rows and write traffic: ordinary, partitioned, materialized view.
TABLE_KINDS = {"r": "table", "p": "partitioned table", "m": "materialized view"}
_OTHER_KINDS = {"v": "a view", "f": "a foreign table", "i": "an index", "I": "a partitioned index",
                "S": "a sequence", "c": "a composite type", "t": "a TOAST table"}
#: identity codes of pg_attribute.attidentity.
_IDENTITY = {"a": "always", "d": "by default"}


@frozen
class ServerFacts:
    version_num: int  # server_version_num, e.g. 150018
    version: str  # "15.18"
    version_text: str  # server_version as the server spells it, e.g. "15.18 (Debian 15.18-0+deb12u1)"
    system_identifier: str | None
    in_recovery: bool
    user: str  # kept in memory for messages only; never written to the stats file
    database: str
    sees_all_sessions: bool  # superuser or pg_read_all_stats (pg_monitor): other roles' xact_start is visible
    track_counts: bool  # off: the n_tup_* counters never move
    track_activities: bool  # off: pg_stat_activity shows no xact_start

    @property
    def major(self) -> int:
        return self.version_num // 10000


@frozen
class Relation:
    """A table the user asked about, resolved to its OID; ``members`` are the relations that carry
    its rows and counters (itself, or the leaf partitions of a partitioned table)."""

    name: QualifiedName
    oid: int
    kind: str
    members: tuple[int, ...]

    @property
    def lock_oids(self) -> frozenset[int]:
        """Relations whose lock waits count as waits on this table: itself and its partitions."""
        return frozenset((self.oid, *self.members))


@frozen
class Size:
    rows: int
    rows_source: str
    size_bytes: int
    size_source: str


SERVER_SQL = """
SELECT current_setting('server_version_num')::int,
       current_setting('server_version'),
       (SELECT system_identifier::text FROM pg_control_system()),
       pg_is_in_recovery(),
       current_user,
       current_database(),
       coalesce((SELECT rolsuper FROM pg_roles WHERE rolname = current_user), false)
         OR pg_has_role('pg_read_all_stats', 'USAGE'),
       current_setting('track_counts')::bool,
       current_setting('track_activities')::bool
"""


def server_facts(conn: psycopg.Connection) -> ServerFacts:
    with conn.transaction(), conn.cursor() as cur:
        row = cur.execute(SERVER_SQL).fetchone()
    assert row is not None
    num, text, sysid, recovery, user, database, sees_all, track_counts, track_activities = row
    # server_version is "15.18 (Debian ...)" or "16beta1"; the number is authoritative.
    major, minor = divmod(int(num), 10000)
    return ServerFacts(int(num), f"{major}.{minor}", str(text), sysid, bool(recovery), str(user), str(database),
                       bool(sees_all), bool(track_counts), bool(track_activities))


# On a primary, the worst replay lag of its standbys (NULL columns unless pg_read_all_stats; NULL
# again once a standby has been idle and caught up: PostgreSQL docs, pg_stat_replication).
_PRIMARY_LAG_SQL = "SELECT count(*), extract(epoch FROM max(replay_lag))::float8 FROM pg_stat_replication"
# On a standby, the age of the last replayed transaction, or 0 when everything received is replayed
# (an idle primary would otherwise look like a growing lag).
_STANDBY_LAG_SQL = """
SELECT CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0::float8
            ELSE extract(epoch FROM clock_timestamp() - pg_last_xact_replay_timestamp())::float8 END
"""


def replication_lag(conn: psycopg.Connection, server: ServerFacts) -> float | None:
    """Seconds the slowest replica is behind (standby: this server), or None when there is none
    (or the role may not see it)."""
    with conn.transaction(), conn.cursor() as cur:
        if server.in_recovery:
            row = cur.execute(_STANDBY_LAG_SQL).fetchone()
            return None if row is None or row[0] is None else max(0.0, float(row[0]))
        row = cur.execute(_PRIMARY_LAG_SQL).fetchone()
    if row is None or not row[0]:
        return None
    if row[1] is None:
        return 0.0 if server.sees_all_sessions else None
    return max(0.0, float(row[1]))


_RESOLVE_SQL = """
SELECT n.nspname, c.relname, c.oid::int8, c.relkind::text
FROM unnest(%s::text[], %s::text[]) AS want(nspname, relname)
JOIN pg_namespace n ON n.nspname = want.nspname
JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = want.relname
"""
# Leaf partitions, at any depth (pg_inherits rather than pg_partition_tree, which is PG12+).
_LEAVES_SQL = """
WITH RECURSIVE tree(relid) AS (
    SELECT %s::oid
    UNION ALL
    SELECT i.inhrelid FROM pg_inherits i JOIN tree t ON i.inhparent = t.relid
)
SELECT c.oid::int8 FROM tree JOIN pg_class c ON c.oid = tree.relid WHERE c.relkind IN ('r', 'm') ORDER BY 1
"""


class UnknownTables(LookupError):
    def __init__(self, missing: Sequence[QualifiedName], not_tables: Sequence[tuple[QualifiedName, str]]) -> None:
        super().__init__(missing, not_tables)
        self.missing = tuple(missing)
        self.not_tables = tuple(not_tables)


def resolve_tables(conn: psycopg.Connection, names: Iterable[QualifiedName]) -> list[Relation]:
    """OIDs of the named tables, in the order given; UnknownTables lists every name that is not a
    table in this database (all of them, so one run tells the user everything)."""
    wanted = list(dict.fromkeys(names))
    with conn.transaction(), conn.cursor() as cur:
        rows = cur.execute(_RESOLVE_SQL, ([n.schema for n in wanted], [n.name for n in wanted])).fetchall()
        found = {QualifiedName(schema, name): (int(oid), kind) for schema, name, oid, kind in rows}
        missing = [n for n in wanted if n not in found]
        not_tables = [(n, _OTHER_KINDS.get(found[n][1], f"relkind {found[n][1]!r}"))
                      for n in wanted if n in found and found[n][1] not in TABLE_KINDS]
        if missing or not_tables:
            raise UnknownTables(missing, not_tables)
        relations = []
        for name in wanted:
            oid, kind = found[name]
            members: tuple[int, ...] = (oid,)
            if kind == "p":
                members = tuple(int(r[0]) for r in cur.execute(_LEAVES_SQL, (oid,)).fetchall())
            relations.append(Relation(name, oid, kind, members))
    return relations


# pg_relation_size / pg_table_size take ACCESS SHARE on the relation (dbsize.c: try_relation_open),
# hence lock_timeout; pg_class and the statistics views are read without locks.
_SIZE_SQL = """
SELECT c.oid::int8, c.reltuples::float8, c.relpages::int8, pg_relation_size(c.oid), pg_table_size(c.oid),
       coalesce(s.n_live_tup, 0), current_setting('block_size')::int8
FROM pg_class c LEFT JOIN pg_stat_all_tables s ON s.relid = c.oid
WHERE c.oid = ANY(%s)
"""
# Fallback when a session holds ACCESS EXCLUSIVE: sizes as of the last VACUUM/ANALYZE, no lock taken.
_SIZE_NOLOCK_SQL = """
SELECT c.oid::int8, c.reltuples::float8, c.relpages::int8,
       c.relpages::int8 * current_setting('block_size')::int8,
       (c.relpages::int8 + coalesce(t.relpages, 0)) * current_setting('block_size')::int8,
       coalesce(s.n_live_tup, 0), current_setting('block_size')::int8
FROM pg_class c LEFT JOIN pg_class t ON t.oid = c.reltoastrelid
LEFT JOIN pg_stat_all_tables s ON s.relid = c.oid
WHERE c.oid = ANY(%s)
"""

ROWS_FROM_RELTUPLES = "pg_class.reltuples, scaled to the current number of pages (as the planner does)"
ROWS_FROM_LIVE_TUPLES = "pg_stat_all_tables.n_live_tup (never vacuumed or analyzed, so no reltuples)"
ROWS_EXACT = "count(*)"
SIZE_LIVE = "pg_table_size (heap, TOAST, free space and visibility maps; no indexes)"
SIZE_STALE = "pg_class.relpages as of the last VACUUM/ANALYZE (pg_table_size would have waited for a lock)"


def estimate_rows(reltuples: float, relpages: int, pages_now: int, live_tuples: int) -> tuple[int, str]:
    """Rows of one relation without scanning it.

    PostgreSQL's planner scales the density reltuples/relpages (from the last VACUUM or ANALYZE) to
    the relation's current number of pages (optimizer/util/plancat.c, estimate_rel_size), which
    follows growth since then. reltuples is -1 until the first VACUUM/ANALYZE (PG14+; 0 before),
    when the statistics system's live-tuple count is the better figure.
    """
    if reltuples >= 0 and relpages > 0:
        return round(reltuples / relpages * pages_now), ROWS_FROM_RELTUPLES
    if reltuples >= 0 and pages_now == 0:
        return 0, ROWS_FROM_RELTUPLES
    return max(0, int(live_tuples)), ROWS_FROM_LIVE_TUPLES


def sizes(conn: psycopg.Connection, relations: Sequence[Relation]) -> tuple[dict[int, Size], list[str]]:
    """Rows and bytes per table (summed over partitions), and warnings."""
    oids = sorted({m for r in relations for m in r.members})
    warnings: list[str] = []
    source = SIZE_LIVE
    try:
        with conn.transaction(), conn.cursor() as cur:
            rows = cur.execute(_SIZE_SQL, (oids,)).fetchall()
    except psycopg.errors.LockNotAvailable:
        source = SIZE_STALE
        warnings.append("a session holds an ACCESS EXCLUSIVE lock on a measured table: sizes are from "
                        "pg_class.relpages (last VACUUM/ANALYZE), not pg_table_size")
        with conn.transaction(), conn.cursor() as cur:
            rows = cur.execute(_SIZE_NOLOCK_SQL, (oids,)).fetchall()
    per_oid = {int(r[0]): r[1:] for r in rows}
    out: dict[int, Size] = {}
    for rel in relations:
        total_rows = total_bytes = 0
        rows_sources: set[str] = set()
        for member in rel.members:
            if member not in per_oid:  # dropped between resolve and now
                continue
            reltuples, relpages, main_bytes, table_bytes, live, block = per_oid[member]
            n, src = estimate_rows(float(reltuples), int(relpages), int(main_bytes) // int(block), int(live))
            total_rows += n
            total_bytes += int(table_bytes)
            rows_sources.add(src)
        out[rel.oid] = Size(total_rows, "; ".join(sorted(rows_sources)) or ROWS_FROM_RELTUPLES, total_bytes, source)
    return out, warnings


def exact_rows(conn: psycopg.Connection, relation: Relation) -> int:
    """``count(*)``: a full scan under ACCESS SHARE, bounded by statement_timeout; needs SELECT."""
    with conn.transaction(), conn.cursor() as cur:
        row = cur.execute(f"SELECT count(*) FROM {relation.name.sql}").fetchone()  # type: ignore[arg-type]
    return int(row[0]) if row else 0


_COLUMNS_SQL = """
SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
       pg_get_expr(d.adbin, d.adrelid), a.attidentity::text, {generated}
FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE a.attrelid = %s AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum
"""
_PRIMARY_KEY_SQL = """
SELECT a.attname
FROM pg_constraint k CROSS JOIN LATERAL unnest(k.conkey) WITH ORDINALITY AS key(attnum, ord)
JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = key.attnum
WHERE k.conrelid = %s AND k.contype = 'p'
ORDER BY key.ord
"""
_CONSTRAINTS_SQL = """
SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s ORDER BY conname
"""
_INDEXES_SQL = """
SELECT c.relname, pg_get_indexdef(i.indexrelid), i.indisvalid
FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
WHERE i.indrelid = %s ORDER BY c.relname
"""
_TRIGGERS_SQL = """
SELECT tgname, pg_get_triggerdef(oid) FROM pg_trigger WHERE tgrelid = %s AND NOT tgisinternal ORDER BY tgname
"""


def schema_facts(conn: psycopg.Connection, relation: Relation, *, major: int) -> TableSchema:
    """What a DOWN needs, in PostgreSQL's own spelling (format_type, pg_get_*def).

    pg_get_expr, pg_get_constraintdef and pg_get_indexdef open the table under ACCESS SHARE
    (checked on PG15: each waits while another session holds ACCESS EXCLUSIVE), so this can raise
    LockNotAvailable after lock_timeout."""
    oid = relation.oid
    # pg_attribute.attgenerated exists from PG12 (generated columns).
    columns_sql = _COLUMNS_SQL.format(generated="a.attgenerated::text" if major >= 12 else "''::text")
    with conn.transaction(), conn.cursor() as cur:
        columns = []
        for name, typ, not_null, default, identity, generated in cur.execute(columns_sql, (oid,)).fetchall():
            # attgenerated 's': adbin holds the generation expression, not a default.
            is_generated = bool(generated and generated.strip())
            columns.append(SchemaColumn(name=name, type=typ, not_null=bool(not_null),
                                        default=None if is_generated else default,
                                        identity=_IDENTITY.get((identity or "").strip()),
                                        generated=default if is_generated else None))
        primary_key = tuple(r[0] for r in cur.execute(_PRIMARY_KEY_SQL, (oid,)).fetchall())
        constraints = {r[0]: r[1] for r in cur.execute(_CONSTRAINTS_SQL, (oid,)).fetchall()}
        index_rows = cur.execute(_INDEXES_SQL, (oid,)).fetchall()
        triggers = {r[0]: r[1] for r in cur.execute(_TRIGGERS_SQL, (oid,)).fetchall()}
    return TableSchema(
        columns=tuple(columns),
        primary_key=primary_key,
        constraints=constraints,
        indexes={r[0]: r[1] for r in index_rows},
        invalid_indexes=tuple(r[0] for r in index_rows if not r[2]),
        triggers=triggers,
    )

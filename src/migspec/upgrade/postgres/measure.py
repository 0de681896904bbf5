"""What a major-version upgrade needs to know, read over ``measure``'s window.

``migspec measure --upgrade-to N`` opens a second read-only session (the same
:func:`migspec.measure.connection.connect`), takes a snapshot before ``measure``'s window and one
after it, and writes the ``upgrade`` section of the stats file:

* sizes: ``pg_database_size``, the largest tables (``pg_total_relation_size``), the catalog
  object count (``pg_class``) - they drive the copy and pg_upgrade durations;
* rates: WAL bytes/s from ``pg_current_wal_lsn()`` deltas (and ``pg_stat_wal`` from 14 on),
  row changes/s from ``n_tup_ins + n_tup_upd + n_tup_del`` deltas of every user table - they
  drive the logical catch-up and the WAL a replication slot retains;
* logical replication's gaps (PostgreSQL docs, "Logical Replication Restrictions"): tables
  without a usable replica identity with their UPDATE/DELETE rates, sequences, large objects,
  unlogged tables, materialized views;
* pg_upgrade's checks (pg_upgrade/check.c): extensions and whether the target offers them,
  ``reg*`` columns, prepared transactions, data checksums;
* the slots, WAL senders, standbys and logical slots the methods consume or lose, ``wal_level``,
  the database's collation provider and version.

Free disk is not readable over SQL without superuser file functions; the operator states it
(``upgrade postgres --free-disk-bytes``).
"""

from __future__ import annotations

import time

from typing import Any

import psycopg

from migspec.frozen import frozen
from migspec.measure.connection import connect, secrets_in, translated

#: How many of the largest tables the section lists.
LARGEST_TABLES = 10
#: reg* types pg_upgrade refuses in user columns: their values are OIDs that the new cluster does
#: not keep (pg_upgrade/check.c, check_for_reg_data_type_usage; regclass, regrole and regtype
#: are allowed because those OIDs are preserved).
REG_TYPES_REFUSED_BY_PG_UPGRADE = ("regcollation", "regconfig", "regdictionary", "regnamespace", "regoper",
                                   "regoperator", "regproc", "regprocedure")
_USER_SCHEMAS = "n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%%' " \
                "AND n.nspname NOT LIKE 'pg\\_temp\\_%%'"

_COUNTERS_SQL = f"""
SELECT s.relid::int8, n.nspname, c.relname, s.n_tup_ins, s.n_tup_upd, s.n_tup_del
FROM pg_stat_all_tables s JOIN pg_class c ON c.oid = s.relid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r' AND {_USER_SCHEMAS}
"""
_CLOCK_SQL = "SELECT pg_stat_clear_snapshot(), extract(epoch FROM clock_timestamp())::float8, " \
             "CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_current_wal_lsn() - '0/0'::pg_lsn END::int8"
_STAT_WAL_SQL = "SELECT wal_records, wal_fpi, wal_bytes::int8 FROM pg_stat_wal"

_LARGEST_SQL = f"""
SELECT n.nspname, c.relname, pg_total_relation_size(c.oid)::int8, greatest(c.reltuples, 0)::int8
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'm', 'p') AND {_USER_SCHEMAS}
ORDER BY 3 DESC, 1, 2 LIMIT %s
"""
# Replica identity: d (default: the primary key), i (an index), f (full row), n (nothing).
_IDENTITY_SQL = f"""
SELECT c.oid::int8, n.nspname, c.relname, c.relreplident::text,
       EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary),
       EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisreplident),
       EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisunique AND i.indisvalid
               AND i.indpred IS NULL AND i.indexprs IS NULL),
       greatest(c.reltuples, 0)::int8, c.relpersistence::text
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r' AND {_USER_SCHEMAS}
ORDER BY 2, 3
"""
_SEQUENCES_SQL = f"""
SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'S' AND {_USER_SCHEMAS} ORDER BY 1, 2
"""
_MATVIEWS_SQL = f"""
SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'm' AND {_USER_SCHEMAS} ORDER BY 1, 2
"""
_REG_COLUMNS_SQL = f"""
SELECT n.nspname, c.relname, a.attname, t.typname
FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_type t ON t.oid = a.atttypid
WHERE c.relkind IN ('r', 'm', 'p') AND a.attnum > 0 AND NOT a.attisdropped AND {_USER_SCHEMAS}
  AND t.typnamespace = 'pg_catalog'::regnamespace AND t.typname LIKE 'reg%%'
ORDER BY 1, 2, 3
"""
_SERVER_SQL = """
SELECT current_setting('server_version_num')::int, pg_database_size(current_database())::int8,
       (SELECT count(*) FROM pg_class)::int8,
       (SELECT count(*) FROM pg_largeobject_metadata)::int8,
       (SELECT count(*) FROM pg_prepared_xacts)::int8,
       current_setting('data_checksums')::bool, current_setting('wal_level'),
       current_setting('max_replication_slots')::int, (SELECT count(*) FROM pg_replication_slots)::int,
       current_setting('max_wal_senders')::int,
       (SELECT count(*) FROM pg_stat_replication)::int,
       (SELECT count(*) FROM pg_stat_replication r WHERE NOT EXISTS (
            SELECT 1 FROM pg_replication_slots s WHERE s.active_pid = r.pid AND s.slot_type = 'logical'))::int,
       current_database(), (SELECT datcollate FROM pg_database WHERE datname = current_database()),
       (SELECT count(*) FROM pg_database WHERE datallowconn AND NOT datistemplate)::int,
       (SELECT sum(pg_database_size(oid)) FROM pg_database WHERE datallowconn)::int8,
       EXISTS (SELECT 1 FROM pg_proc WHERE proname = 'aurora_version'),
       EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'rds_superuser')
"""
_EXTENSIONS_SQL = "SELECT extname, extversion FROM pg_extension ORDER BY 1"
_LOGICAL_SLOTS_SQL = "SELECT slot_name, plugin, database, active FROM pg_replication_slots " \
                     "WHERE slot_type = 'logical' ORDER BY 1"
# datlocprovider appeared in 15 ('c' libc, 'i' ICU, 'b' builtin in 17); datcollversion in 15.
_COLLATION_15_SQL = "SELECT datlocprovider::text, datcollversion, " \
                    "pg_database_collation_actual_version(oid) FROM pg_database WHERE datname = current_database()"
_PROVIDERS = {"c": "libc", "i": "icu", "b": "builtin"}


@frozen
class Snapshot:
    at: float  # server clock, epoch seconds
    wal_lsn: int | None  # bytes since 0/0; None on a standby
    counters: dict[int, tuple[str, int, int, int]]  # oid -> (name, ins, upd, del)
    stat_wal: tuple[int, int, int] | None  # (records, full page images, bytes), PG 14+


def snapshot(conn: psycopg.Connection, major: int) -> Snapshot:
    with conn.transaction(), conn.cursor() as cur:
        _, at, lsn = cur.execute(_CLOCK_SQL).fetchone()  # type: ignore[misc]
        counters = {int(oid): (f"{nsp}.{rel}", int(i), int(u), int(d))
                    for oid, nsp, rel, i, u, d in cur.execute(_COUNTERS_SQL).fetchall()}
        stat_wal = None
        if major >= 14:
            row = cur.execute(_STAT_WAL_SQL).fetchone()
            stat_wal = (int(row[0]), int(row[1]), int(row[2])) if row else None
    return Snapshot(float(at), None if lsn is None else int(lsn), counters, stat_wal)


def _rate(delta: float, seconds: float) -> float:
    return round(max(delta, 0) / max(seconds, 1e-6), 3)


def _facts(conn: psycopg.Connection, major: int) -> dict[str, Any]:
    with conn.transaction(), conn.cursor() as cur:
        (num, db_bytes, objects, large_objects, prepared, checksums, wal_level, max_slots, used_slots,
         max_senders, senders, standbys, database, datcollate, databases, cluster_bytes, aurora,
         rds) = cur.execute(_SERVER_SQL).fetchone()  # type: ignore[misc]
        largest = [{"name": f"{n}.{r}", "bytes": int(b), "rows": int(rows)}
                   for n, r, b, rows in cur.execute(_LARGEST_SQL, (LARGEST_TABLES,)).fetchall()]
        identity_rows = cur.execute(_IDENTITY_SQL).fetchall()
        sequences = [f"{n}.{r}" for n, r in cur.execute(_SEQUENCES_SQL).fetchall()]
        matviews = [f"{n}.{r}" for n, r in cur.execute(_MATVIEWS_SQL).fetchall()]
        reg_columns = [{"column": f"{n}.{r}.{a}", "type": t} for n, r, a, t in cur.execute(_REG_COLUMNS_SQL)]
        extensions = [{"name": n, "version": v} for n, v in cur.execute(_EXTENSIONS_SQL).fetchall()]
        logical_slots = [{"name": s, "plugin": p, "database": d, "active": bool(a)}
                         for s, p, d, a in cur.execute(_LOGICAL_SLOTS_SQL).fetchall()]
        collation: dict[str, Any] = {"collate": datcollate, "provider": "libc", "version": None,
                                     "actual_version": None}
        if major >= 15:
            prov, ver, actual = cur.execute(_COLLATION_15_SQL).fetchone()  # type: ignore[misc]
            collation.update(provider=_PROVIDERS.get(prov, prov), version=ver, actual_version=actual)
    hosting = "aurora" if aurora else "rds" if rds else "self-managed"
    return {
        "source_version_num": int(num), "hosting": hosting, "database": database,
        "database_bytes": int(db_bytes), "cluster_databases": int(databases),
        "cluster_bytes": int(cluster_bytes or 0), "catalog_objects": int(objects),
        "largest_tables": largest, "_identity": identity_rows, "sequences": sequences,
        "large_objects": int(large_objects), "materialized_views": matviews, "reg_columns": reg_columns,
        "prepared_transactions": int(prepared), "data_checksums": bool(checksums), "wal_level": str(wal_level),
        "replication_slots": {"max": int(max_slots), "used": int(used_slots)},
        "wal_senders": {"max": int(max_senders), "used": int(senders)},
        "standbys": int(standbys),
        "logical_slots": logical_slots, "extensions": extensions, "collation": collation,
    }


def _target_extensions(target_dsn: str, statement_timeout: float) -> tuple[int, dict[str, str]]:
    """The target server's major and its available extensions (name -> default version)."""
    secrets = secrets_in(target_dsn)
    conn = connect(target_dsn, statement_timeout=statement_timeout)
    with conn, translated(secrets, "reading the target server's available extensions"):
        with conn.transaction(), conn.cursor() as cur:
            num = int(cur.execute("SELECT current_setting('server_version_num')::int").fetchone()[0])  # type: ignore
            rows = cur.execute("SELECT name, default_version FROM pg_available_extensions").fetchall()
    return num // 10000, {str(n): str(v) for n, v in rows}


class UpgradeWindow:
    """Snapshots around ``measure``'s window; :meth:`finish` returns the ``upgrade`` section."""

    def __init__(self, dsn: str, *, statement_timeout: float) -> None:
        self._secrets = secrets_in(dsn)
        self._timeout = statement_timeout
        self._conn = connect(dsn, statement_timeout=statement_timeout)
        with translated(self._secrets, "reading the server version"):
            with self._conn.transaction(), self._conn.cursor() as cur:
                num = cur.execute("SELECT current_setting('server_version_num')::int").fetchone()[0]  # type: ignore
        self.major = int(num) // 10000
        with translated(self._secrets, "reading the WAL position and change counters"):
            self._start = snapshot(self._conn, self.major)

    def close(self) -> None:
        self._conn.close()

    def finish(self, *, to: int, target_dsn: str | None = None, min_seconds: float = 0.0) -> dict[str, Any]:
        """End the window (waiting until ``min_seconds`` have passed since it began) and collect."""
        try:
            remaining = min_seconds - (time.time() - self._start.at)
            if remaining > 0:
                time.sleep(remaining)
            with translated(self._secrets, "reading the WAL position and change counters"):
                end = snapshot(self._conn, self.major)
            with translated(self._secrets, "reading what the upgrade depends on"):
                facts = _facts(self._conn, self.major)
        finally:
            self.close()
        return section(self._start, end, facts, to=to,
                       target=_target_extensions(target_dsn, self._timeout) if target_dsn else None)


def section(start: Snapshot, end: Snapshot, facts: dict[str, Any], *, to: int,
            target: tuple[int, dict[str, str]] | None) -> dict[str, Any]:
    """The ``upgrade`` section from two snapshots and the catalog facts (pure; tested alone)."""
    seconds = max(end.at - start.at, 1e-6)
    changes: dict[int, tuple[int, int, int]] = {}
    for oid, (_, i, u, d) in end.counters.items():
        _, i0, u0, d0 = start.counters.get(oid, ("", i, u, d))
        changes[oid] = (i - i0, u - u0, d - d0)
    total = sum(sum(c) for c in changes.values())
    rates: dict[str, Any] = {
        "window_seconds": round(seconds, 3),
        "wal_bytes_per_second": None if start.wal_lsn is None or end.wal_lsn is None
        else _rate(end.wal_lsn - start.wal_lsn, seconds),
        "row_changes_per_second": _rate(total, seconds),
    }
    if start.stat_wal and end.stat_wal:
        rates["pg_stat_wal"] = {"records_per_second": _rate(end.stat_wal[0] - start.stat_wal[0], seconds),
                                "full_page_images_per_second": _rate(end.stat_wal[1] - start.stat_wal[1], seconds),
                                "bytes_per_second": _rate(end.stat_wal[2] - start.stat_wal[2], seconds)}
    identity = []
    unlogged = []
    tables = 0
    for oid, nsp, rel, replident, has_pk, has_ri_index, has_unique, rows, persistence in facts.pop("_identity"):
        tables += 1
        name = f"{nsp}.{rel}"
        if persistence == "u":
            unlogged.append(name)
        usable = (replident == "d" and has_pk) or (replident == "i" and has_ri_index)
        if usable:
            continue
        _, upd, dele = changes.get(int(oid), (0, 0, 0))
        identity.append({"name": name, "replica_identity": {"d": "default", "i": "index", "f": "full",
                                                            "n": "nothing"}.get(replident, replident),
                         "has_primary_key": bool(has_pk), "has_unique_index": bool(has_unique), "rows": int(rows),
                         "updates_per_second": _rate(upd, seconds), "deletes_per_second": _rate(dele, seconds)})
    doc: dict[str, Any] = {"to": to, "source_major": facts["source_version_num"] // 10000, **facts, "tables": tables,
                           **rates, "tables_without_identity": identity, "unlogged_tables": unlogged}
    if target is not None:
        major, available = target
        if major != to:
            doc["target_server_major"] = major
        for ext in doc["extensions"]:
            ext["available_on_target"] = ext["name"] in available
            ext["target_version"] = available.get(ext["name"])
    else:
        for ext in doc["extensions"]:
            ext["available_on_target"] = None
    doc["target_checked"] = target is not None
    return doc


def summary(up: dict[str, Any]) -> str:
    """One line for the terminal after ``measure --upgrade-to``."""
    wal = up["wal_bytes_per_second"]
    return (f"upgrade {up['source_major']} -> {up['to']}: database {up['database_bytes']:,} B, "
            f"WAL {'unknown' if wal is None else f'{wal:,.0f}'} B/s, {up['row_changes_per_second']:,.1f} row changes/s, "
            f"{len(up['tables_without_identity'])} table(s) without a usable replica identity, "
            f"{up['large_objects']} large object(s), {len(up['sequences'])} sequence(s), wal_level {up['wal_level']}\n")

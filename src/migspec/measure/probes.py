"""``migspec measure --probe``: how fast this server reads its own tables, bounded and read-only.

For each measured table, one sample scan of at most ``pages`` pages, run twice with
``EXPLAIN (ANALYZE, BUFFERS)`` (a plain SELECT: it needs SELECT on the table, nothing more):

* PostgreSQL 14+: ``SELECT count(*) FROM t WHERE ctid >= '(0,0)' AND ctid < '(N,0)'`` - a TID
  range scan, which reads exactly pages 0..N-1 in order, as a full scan reads them;
* PostgreSQL 13: ``TABLESAMPLE SYSTEM (p) REPEATABLE (seed)`` with p chosen for about N pages (the
  same pages both times).

The first pass reads from disk or the OS cache whatever is not in shared_buffers (``Shared Read
Blocks``); the next find every page in shared_buffers and repeat for half a second, so the figure
is the speed a long step gets on the server as loaded now (see :data:`WARM_MIN_SECONDS`). :mod:`migspec.estimate.speed` turns the
second pass into the server's speed relative to the reference machine and the first pass's extra
time into its cold read rate. Next to the scans: the table's buffer cache hit ratio
(``pg_statio_all_tables``) and ``shared_buffers``, so a reader sees whether a table can be warm.

Bounds: ``statement_timeout`` of the measure session bounds each scan; at the default 2,048
pages a probe reads 16 MB per table, twice. It leaves those pages in shared_buffers (that is
what a read does), which is the one trace it leaves.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Sequence
from typing import Any

import psycopg

from migspec.frozen import frozen, replace
from migspec.measure.collect import Relation
from migspec.names import QualifiedName
from migspec.stats import ServerProbe, TableProbe

#: Pages per probe scan: 16 MB at the default 8 kB block, a few tens of ms from cache.
DEFAULT_PROBE_PAGES = 2048
#: The warm pass repeats until it has run this long (at most WARM_PASSES_MAX times), and the median
#: pass counts: one pass of a few tens of ms gets a busy CPU at once (the scheduler favours a
#: process that slept), so it says little about the sustained speed a long migration step gets. Measured here with the machine at a
#: load average of 10 on 2 cores: single passes 0.95x the reference, steps 3-5x slower.
WARM_MIN_SECONDS = 0.5
WARM_PASSES_MAX = 20
_SEED = 17  # TABLESAMPLE REPEATABLE: both passes read the same pages

_SERVER_SQL = ("SELECT pg_size_bytes(current_setting('shared_buffers')), current_setting('block_size')::int, "
               "current_setting('server_version_num')::int")
_PAGES_SQL = "SELECT pg_relation_size(%s::oid) / current_setting('block_size')::int8"
_STATIO_SQL = """
SELECT coalesce(sum(heap_blks_hit), 0)::int8, coalesce(sum(heap_blks_read), 0)::int8
FROM pg_statio_all_tables WHERE relid = ANY(%s)
"""


@frozen
class ProbeResult:
    server: ServerProbe
    tables: dict[QualifiedName, TableProbe]
    warnings: tuple[str, ...]

    def document(self) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
        """The stats file's ``probe`` section and each table's ``probe`` entry."""
        server = {"shared_buffers_bytes": self.server.shared_buffers_bytes, "block_size": self.server.block_size,
                  "collected_at": self.server.collected_at}
        if self.server.write_qps is not None:
            server["write_qps"] = round(self.server.write_qps, 1)
        tables = {str(name): {"rows": p.rows, "pages": p.pages, "first_seconds": round(p.first_seconds, 6),
                              "warm_seconds": round(p.warm_seconds, 6), "pages_read": p.pages_read,
                              "hit_ratio": None if p.hit_ratio is None else round(p.hit_ratio, 4),
                              "method": p.method}
                  for name, p in self.tables.items()}
        return server, tables


def _utc_now() -> str:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def sample_query(table_sql: str, pages: int, relpages: int, major: int) -> tuple[str, str]:
    """(the probe's SELECT, the method's name) reading about ``pages`` of ``relpages`` pages."""
    if major >= 14:
        return (f"SELECT count(*) FROM {table_sql} WHERE ctid >= '(0,0)'::tid AND ctid < '({pages},0)'::tid",
                f"TID range scan of pages 0-{pages - 1}")
    percent = min(100.0, 100.0 * pages / max(relpages, 1))
    return (f"SELECT count(*) FROM {table_sql} TABLESAMPLE SYSTEM ({percent:.6f}) REPEATABLE ({_SEED})",
            f"TABLESAMPLE SYSTEM {percent:.4g}%")


def _scan_node(plan: dict[str, Any]) -> dict[str, Any]:
    """The innermost node: the scan (its Actual Rows are the rows read)."""
    while plan.get("Plans"):
        plan = plan["Plans"][0]
    return plan


def timed_scan(conn: psycopg.Connection, sql: str) -> tuple[float, int, int, int, str]:
    """(seconds, rows, pages found in shared_buffers, pages read from outside, scan node type)."""
    with conn.transaction(), conn.cursor() as cur:
        # One process: parallel workers would make the timing depend on free worker slots.
        cur.execute("SET LOCAL max_parallel_workers_per_gather = 0")
        row = cur.execute(f"EXPLAIN (ANALYZE, BUFFERS, TIMING OFF, FORMAT JSON) {sql}").fetchone()
    doc = row[0] if row else None
    if isinstance(doc, str):
        doc = json.loads(doc)
    top = doc[0]
    plan = top["Plan"]
    scan = _scan_node(plan)
    rows = int(scan.get("Actual Rows", 0)) * max(int(scan.get("Actual Loops", 1)), 1)  # per loop when parallel
    return (float(top["Execution Time"]) / 1000.0, rows,
            int(plan.get("Shared Hit Blocks", 0)), int(plan.get("Shared Read Blocks", 0)), str(scan.get("Node Type")))


def probe_table(conn: psycopg.Connection, relation: Relation, *, pages: int, major: int) -> TableProbe | str:
    """The probe of one table, or why there is none (a warning)."""
    members = relation.members or (relation.oid,)
    sizes = []
    with conn.transaction(), conn.cursor() as cur:
        for oid in members:
            row = cur.execute(_PAGES_SQL, (oid,)).fetchone()
            sizes.append((int(row[0]) if row else 0, oid))
        hit, read = cur.execute(_STATIO_SQL, (list(members),)).fetchone() or (0, 0)
        relpages, oid = max(sizes)
        table_sql = relation.name.sql
        if oid != relation.oid:  # a partitioned table: probe its largest partition
            name = cur.execute("SELECT %s::oid::regclass::text", (oid,)).fetchone()
            table_sql = str(name[0]) if name else table_sql
    if relpages == 0:
        return f"probe of {relation.name} skipped: the table is empty"
    n = min(pages, relpages)
    sql, method = sample_query(table_sql, n, relpages, major)
    with conn.transaction(), conn.cursor() as cur:
        cur.execute(f"EXPLAIN {sql}")  # plan it once untimed: catalog reads are not the table's reads
    first_s, _rows, _hit, first_read, node = timed_scan(conn, sql)
    passes: list[float] = []
    started = time.monotonic()
    while True:
        took, rows, warm_hit, warm_read, _ = timed_scan(conn, sql)
        passes.append(took)
        if time.monotonic() - started >= WARM_MIN_SECONDS or len(passes) >= WARM_PASSES_MAX:
            break
    # The median pass: the executor's wall time, so waiting for a CPU inside the scan counts when
    # every pass waits (a busy server), but not one pass's stall. Measured on the benchmark machine
    # (load ~2, 2026-12-01): the passes of one probe ranged 62-267 ns/row, and one slow pass moved
    # the mean by up to 35% while the median stayed put; the estimator divides two probes (this
    # server's and the calibration copy's), so such noise went straight into the estimates.
    passes.sort()
    warm_s = passes[len(passes) // 2]
    if major >= 14 and node != "Tid Range Scan":
        return f"probe of {relation.name} skipped: the planner chose a {node}, not a TID range scan"
    covered = warm_hit + warm_read
    if rows == 0 or covered == 0:
        return f"probe of {relation.name} skipped: the sampled pages hold no rows"
    ratio = hit / (hit + read) if hit + read else None
    return TableProbe(rows=rows, pages=covered, first_seconds=first_s, warm_seconds=warm_s,
                      pages_read=first_read, hit_ratio=ratio, method=method)


def probe(conn: psycopg.Connection, relations: Sequence[Relation], *, pages: int = DEFAULT_PROBE_PAGES) -> ProbeResult:
    """Probe every relation on ``conn`` (a read-only measure session)."""
    with conn.transaction(), conn.cursor() as cur:
        shared, block, version_num = cur.execute(_SERVER_SQL).fetchone()  # type: ignore[misc]
    tables: dict[QualifiedName, TableProbe] = {}
    warnings: list[str] = []
    for rel in relations:
        got = probe_table(conn, rel, pages=pages, major=int(version_num) // 10000)
        if isinstance(got, str):
            warnings.append(got)
        else:
            tables[rel.name] = got
    return ProbeResult(ServerProbe(int(shared), int(block), _utc_now()), tables, tuple(warnings))


def run_probe(dsn: str, names: Sequence[QualifiedName], *, pages: int = DEFAULT_PROBE_PAGES,
              statement_timeout: float = 10.0) -> ProbeResult:
    """``measure --probe``: its own read-only session (see :func:`migspec.measure.connection.connect`)."""
    from migspec.measure import collect
    from migspec.measure.connection import MeasureError, connect, secrets_in, translated

    if not 1 <= pages <= 1_000_000:
        raise MeasureError("--probe-pages must be between 1 and 1000000")
    secrets = secrets_in(dsn)
    conn = connect(dsn, statement_timeout=statement_timeout)
    with conn:
        with translated(secrets, "looking up the tables to probe"):
            relations = collect.resolve_tables(conn, names)
        with translated(secrets, "probing the tables (a bounded sample scan of each)",
                        privilege="SELECT on the tables (the probe reads a sample of each)"):
            return probe(conn, relations, pages=pages)


def add_to_document(doc: dict[str, Any], result: ProbeResult) -> dict[str, Any]:
    """The stats document with the probe's sections (``probe`` and ``tables.<t>.probe``). The
    write_qps this measure run sampled, summed over its tables, is the load the probe ran under
    (seconds apart): the estimator's idle end divides it out (migspec.estimate.speed)."""
    qps = sum(float(t.get("write_qps") or 0.0) for t in doc.get("tables", {}).values())
    result = ProbeResult(replace(result.server, write_qps=qps), result.tables, result.warnings)
    server, tables = result.document()
    out = dict(doc)
    out["probe"] = server
    out["tables"] = {name: ({**entry, "probe": tables[name]} if name in tables else entry)
                     for name, entry in doc.get("tables", {}).items()}
    return out

"""migspec's claims against a real server: every ``trace:`` entry of tests/rules/<rule>.yml.

For each entry, in a fresh database of the throwaway PostgreSQL server (tests/conftest.py):

1. ``setup`` runs in autocommit.
2. migspec's knowledge is seeded from the live catalog: every table's column types
   (``format_type``) go into an inline stats document (``tables.<t>.columns``), with generous
   measurements so that lint never refuses. ``lint`` then states, for the server's major
   version, each operation's locks (``effect.locks``), rewrite and scan, and whether it can run
   in a transaction block (``op.no_transaction``).
3. The ``sql`` runs statement by statement, split exactly as migspec split it. Relations are
   compared by OID, so a table renamed or dropped by the sql keeps its identity; a claim names a
   relation as it was called just before the statement (or just after, if the statement made it).

   * **In a transaction** (everything migspec says may run in one): after each statement, before
     COMMIT (the transaction is rolled back at the end), the harness reads
       - ``pg_locks`` of its own backend (``locktype = 'relation'``, granted);
       - ``pg_class.relfilenode`` of every pre-existing table: changed *and* the new file holds
         data means a rewrite (TRUNCATE also swaps in a new relfilenode, but an empty one);
       - ``pg_stat_xact_user_tables`` counters, before and after the statement.
     Locks accumulate over a transaction, so the claims are accumulated too: after statement k
     the strongest lock seen on a relation must equal the strongest lock claimed on it by
     statements 1..k.
   * **Outside a transaction** (what migspec says cannot run in one: CONCURRENTLY forms and
     VACUUM): the harness first checks that claim - inside BEGIN the server must refuse the
     statement - then runs it in autocommit and observes it from outside:
       - a second connection samples ``pg_locks`` of that backend (granted locks *and* the mode
         of a request it is waiting on) every few milliseconds while it runs;
       - an optional ``blocker`` (SQL run by a third connection in an open transaction) makes the
         statement wait at a known point - e.g. CREATE INDEX CONCURRENTLY waits for writers
         (``LOCK TABLE ... IN ROW EXCLUSIVE MODE``) while holding its own lock, which a sample
         then sees for certain; the blocker commits once the statement has been seen waiting;
       - ``ddl_command_end`` / ``sql_drop`` event triggers copy the backend's ``pg_locks`` at the
         end of each DDL command into a log table: that catches the ACCESS EXCLUSIVE that
         DROP INDEX CONCURRENTLY and DETACH PARTITION ... CONCURRENTLY take only in their last
         transaction, which sampling would miss (they do not fire for CREATE INDEX / REINDEX
         CONCURRENTLY, whose session lock is released before, nor for VACUUM);
       - scans from ``pg_stat_user_tables`` deltas, after ``pg_stat_force_next_flush()`` on the
         statement's backend (the flush happens before it reports ready for the next query; on
         13/14, which lack it, ``_flush_stats`` waits out the statistics collector's interval)
         and ``pg_stat_clear_snapshot()`` on the reader.
     Samples can only under-report, so every entry of this kind has a blocker or an event
     trigger that sees the claimed lock.

Asserted, with claimed vs observed in every message:
  * for each relation migspec claims a lock on, the strongest mode observed equals the claim
    (``LockMode.from_pg_locks``);
  * no pre-existing table migspec claims no lock on is observed above ACCESS SHARE - unless the
    entry lists it under ``unclaimed`` with the reason migspec cannot know it (e.g. the table of a
    pre-existing index named only by the index); such an entry must really be observed, so it
    cannot go stale;
  * rewrite claimed == rewrite observed, per table and statement;
  * a claimed scan is seen (``seq_scan`` delta on the operation's table; for UPDATE/DELETE rows
    updated or deleted count too, as an UPDATE by primary key uses an index); and rows read under
    a lock that blocks writes (``seq_tup_read`` delta) by a statement that claims no scan at all
    are a failure. ``conservative`` names a rewrite or scan migspec knowingly over-states (with
    the reason); the harness then asserts the server really did less, so it cannot go stale.

Which scan signal works (measured on PG15): inside the transaction,
``pg_stat_xact_user_tables.seq_scan`` moves for every ALTER TABLE validation scan (SET NOT NULL,
ADD CHECK, VALIDATE CONSTRAINT, FOREIGN KEY validation - of both tables, ATTACH PARTITION), even
of an empty table; ``seq_tup_read`` moves by the rows read. Rewrites count one scan of the table
plus one per index rebuilt; index builds, REINDEX, CLUSTER, VACUUM FULL and UPDATE/DELETE count
too; plain VACUUM and catalog-only statements do not. No flush is needed inside the transaction:
the xact view reads the backend's pending counters.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field

import psycopg
import pytest
from psycopg import errors, sql

from migspec.lint import OpResult, lint
from migspec.locks import LockMode
from migspec.names import QualifiedName
from migspec.ops.base import Work
from migspec.ops.data import DataChange
from migspec.pgserver import Server
from migspec.rules import rule_names
from migspec.stats import parse_stats
from migspec.versions import supports
from helpers_record import record
from test_rule_cases import Trace, build_migration, case_files

MIN_TRACES = 25
#: Seconds a statement under observation may run before the harness gives up.
STATEMENT_TIMEOUT_S = 30.0
LOG_TABLE = "_migspec_trace_locks"
AS = LockMode.ACCESS_SHARE

CATALOG = """
SELECT c.oid, n.nspname, c.relname, c.relkind, c.relfilenode, i.indrelid
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace LEFT JOIN pg_index i ON i.indexrelid = c.oid
 WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%%'
   AND c.relname <> %(log)s
"""
COLUMNS = """
SELECT n.nspname, c.relname, a.attname, format_type(a.atttypid, a.atttypmod)
  FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped
   AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%%'
   AND c.relname <> %(log)s
 ORDER BY 1, 2, a.attnum
"""
INDEXES = """
SELECT schemaname, tablename, indexname, indexdef FROM pg_indexes
 WHERE schemaname NOT IN ('pg_catalog', 'information_schema') AND tablename <> %(log)s
"""
COUNTERS = """
SELECT relid, seq_scan, seq_tup_read, n_tup_upd + n_tup_del FROM {view}
"""
OWN_LOCKS = """
SELECT relation, mode FROM pg_locks
 WHERE pid = pg_backend_pid() AND locktype = 'relation' AND granted AND database = (
       SELECT oid FROM pg_database WHERE datname = current_database())
"""
EVENT_TRIGGERS = f"""
CREATE TABLE {LOG_TABLE} (relation oid, mode text);
CREATE FUNCTION _migspec_log_locks() RETURNS event_trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO {LOG_TABLE} SELECT relation, mode FROM pg_locks
     WHERE pid = pg_backend_pid() AND locktype = 'relation' AND granted AND relation IS NOT NULL;
END $$;
CREATE EVENT TRIGGER _migspec_log_end ON ddl_command_end EXECUTE FUNCTION _migspec_log_locks();
CREATE EVENT TRIGGER _migspec_log_drop ON sql_drop EXECUTE FUNCTION _migspec_log_locks();
"""


def _all_traces() -> list[Trace]:
    return [t for cf in case_files() for t in cf.traces]


@dataclass(frozen=True)
class Rel:
    name: QualifiedName
    kind: str  # pg_class.relkind
    filenode: int
    table: int | None = None  # an index's table

    @property
    def is_table(self) -> bool:
        return self.kind in ("r", "p")


@dataclass
class Observation:
    """What the server was seen doing, by relation OID (names change under RENAME)."""

    locks: dict[int, LockMode] = field(default_factory=dict)  # cumulative over a transaction
    rewritten: set[int] = field(default_factory=set)
    scanned: set[int] = field(default_factory=set)  # a seq scan started
    read_rows: set[int] = field(default_factory=set)  # seq_tup_read moved
    changed_rows: set[int] = field(default_factory=set)  # rows updated or deleted
    rebuilt: set[int] = field(default_factory=set)  # pre-existing indexes given a new relfilenode
    how: str = "pg_locks of the statement's own backend, inside its transaction"


@dataclass
class Relations:
    """The user relations of the trace database, by OID: as they were when the sql started
    (``start``), just before the current statement (``before``) and just after it (``after``)."""

    start: dict[int, Rel]
    before: dict[int, Rel] = field(default_factory=dict)
    after: dict[int, Rel] = field(default_factory=dict)

    def resolve(self, name: QualifiedName) -> int | None:
        """A claimed relation's OID: by its name before the statement, else after it (created by it)."""
        for snapshot in (self.before, self.after):
            for oid, rel in snapshot.items():
                if rel.name == name:
                    return oid
        return None

    def label(self, oid: int) -> str:
        for snapshot in (self.start, self.before, self.after):
            if oid in snapshot:
                return str(snapshot[oid].name)
        return f"relation {oid}"

    def known(self, oid: int) -> bool:
        return oid in self.start or oid in self.before or oid in self.after

    @property
    def tables(self) -> set[int]:
        """Tables that existed before the sql ran (those others can be using)."""
        return {oid for oid, rel in self.start.items() if rel.is_table}


def _catalog(conn: psycopg.Connection) -> dict[int, Rel]:
    return {oid: Rel(QualifiedName(nsp, name), kind, node, table)
            for oid, nsp, name, kind, node, table in conn.execute(CATALOG, {"log": LOG_TABLE}).fetchall()}


def _stats_document(conn: psycopg.Connection) -> dict:
    tables: dict[str, dict] = {}
    for nsp, rel, column, type_text in conn.execute(COLUMNS, {"log": LOG_TABLE}).fetchall():
        entry = tables.setdefault(f"{nsp}.{rel}", {
            "rows": 10_000, "size_bytes": 1_000_000, "write_qps": 1,
            "lock_contention": {"longest_transaction_seconds": 0.1, "lock_waits_per_minute": 0},
            "columns": {}})
        entry["columns"][column] = type_text
    # The indexes too (as 'migspec measure' records them): they decide whether a type change
    # rebuilds an index and whether a WHERE names a unique key.
    for nsp, rel, index, definition in conn.execute(INDEXES, {"log": LOG_TABLE}).fetchall():
        if f"{nsp}.{rel}" in tables:
            tables[f"{nsp}.{rel}"].setdefault("schema", {"indexes": {}})["indexes"][index] = definition
    return {"source": "production", "tables": tables}


def _counters(conn: psycopg.Connection, view: str) -> dict[int, tuple[int, int, int]]:
    rows = conn.execute(sql.SQL(COUNTERS).format(view=sql.Identifier(view))).fetchall()
    return {relid: (scan or 0, read or 0, changed or 0) for relid, scan, read, changed in rows}


def _record(obs: Observation, pairs: list[tuple[int, str]]) -> None:
    for oid, mode_name in pairs:
        try:
            mode = LockMode.from_pg_locks(mode_name)
        except ValueError:
            continue
        obs.locks[oid] = max(obs.locks.get(oid, mode), mode)


def _data_changes(rels: Relations, conn: psycopg.Connection, obs: Observation,
                  counters_before: dict[int, tuple[int, int, int]], counters_after: dict[int, tuple[int, int, int]]
                  ) -> None:
    for oid in rels.tables:
        scan0, read0, changed0 = counters_before.get(oid, (0, 0, 0))
        scan1, read1, changed1 = counters_after.get(oid, (scan0, read0, changed0))
        if scan1 > scan0:
            obs.scanned.add(oid)
        if read1 > read0:
            obs.read_rows.add(oid)
        if changed1 > changed0:
            obs.changed_rows.add(oid)
        old, new = rels.before.get(oid), rels.after.get(oid)
        if old and new and old.filenode and new.filenode != old.filenode:
            size = conn.execute("SELECT pg_relation_size(%s)", (oid,)).fetchone()
            if size and size[0] > 0:  # TRUNCATE swaps in an empty file: not a rewrite
                obs.rewritten.add(oid)
    emptied = {oid for oid in rels.tables if oid not in obs.rewritten and rels.before.get(oid) and rels.after.get(oid)
               and rels.before[oid].filenode != rels.after[oid].filenode}
    # ALTER TABLE re-creates an index it cannot reuse: same name, new OID, new file. So an index
    # is matched by OID, else by name.
    by_name = {rel.name: rel for rel in rels.after.values() if rel.kind == "i"}
    for oid, old in rels.before.items():
        new = rels.after.get(oid) or by_name.get(old.name)
        if old.kind == "i" and new and old.table in rels.tables and old.table not in emptied \
                and new.filenode != old.filenode:
            obs.rebuilt.add(oid)


@dataclass
class Claims:
    locks: dict[int, LockMode]  # cumulative over the transaction, by OID
    rewrites: set[int]
    scans: list[tuple[str, set[int], bool, bool]]  # (op, its tables' OIDs, data change, rewrite)
    unknown: bool  # an operation migspec says it cannot see into
    unresolved: list[str]  # claimed relations that exist neither before nor after the statement
    rebuilds: set[int] = field(default_factory=set)  # pre-existing indexes given a new file


def _claimed_rebuilds(result: OpResult, rels: Relations) -> set[int]:
    """Indexes the operation rebuilds: those it names (effect.rebuilds), every index of a table it
    rewrites, and what a REINDEX names."""
    op, effect = result.item.op, result.item.effect
    out = {o for o in (rels.resolve(i) for i in effect.rebuilds) if o is not None}
    tables = set()
    if effect.rewrites_table and op.table is not None:
        tables.add(rels.resolve(op.table))
    if op.kind == "reindex":
        target = rels.resolve(op.relation)
        if getattr(op, "target", "") == "index":
            out.add(target)
        else:
            tables.add(target)
    out |= {oid for oid, rel in rels.before.items() if rel.kind == "i" and rel.table in tables}
    return out


def _claims(results: list[OpResult], held: dict[int, LockMode], rels: Relations) -> Claims:
    claims = Claims(dict(held), set(), [], False, [])
    for result in results:
        op, effect = result.item.op, result.item.effect
        for lk in effect.locks:
            oid = rels.resolve(lk.relation)
            if oid is None:
                claims.unresolved.append(f"{lk.mode.sql_name} on {lk.relation}")
                continue
            claims.locks[oid] = max(claims.locks.get(oid, lk.mode), lk.mode)
        table = rels.resolve(op.table) if op.table else None
        if effect.rewrites_table and table is not None:
            claims.rewrites.add(table)
        if effect.scans_table:
            oids = {o for o in (rels.resolve(t) for t in op.tables) if o is not None}
            claims.scans.append((op.describe(), oids, isinstance(op, DataChange), effect.rewrites_table))
        claims.unknown = claims.unknown or effect.work is Work.UNKNOWN
        claims.rebuilds |= _claimed_rebuilds(result, rels)
    return claims


def _mode(mode: LockMode | None) -> str:
    return mode.sql_name if mode else "no lock"


def _compare(trace: Trace, label: str, claims: Claims, obs: Observation, rels: Relations,
             unclaimed_seen: set[str], conservative_seen: set[str]) -> list[str]:
    problems = [f"{label}: migspec claims {what}, which names no relation of the database"
                for what in claims.unresolved]
    for oid, claimed in sorted(claims.locks.items(), key=lambda item: rels.label(item[0])):
        seen = obs.locks.get(oid)
        if seen != claimed:
            problems.append(f"{label}: {rels.label(oid)}: migspec claims {_mode(claimed)}, the server took "
                            f"{_mode(seen)} ({obs.how})")
    for oid in sorted(rels.tables - set(claims.locks), key=rels.label):
        seen = obs.locks.get(oid)
        if seen is None or seen <= AS:
            continue
        if rels.label(oid) in trace.unclaimed:
            unclaimed_seen.add(rels.label(oid))
            continue
        problems.append(f"{label}: {rels.label(oid)}: migspec claims no lock, the server took {_mode(seen)} "
                        f"({obs.how})")
    for oid in sorted(rels.tables, key=rels.label):
        claimed, seen = oid in claims.rewrites, oid in obs.rewritten
        if claimed and not seen and "rewrite" in trace.conservative:
            conservative_seen.add("rewrite")
        elif claimed != seen:
            problems.append(f"{label}: {rels.label(oid)}: migspec claims {'a rewrite' if claimed else 'no rewrite'}, "
                            f"relfilenode {'changed' if seen else 'unchanged'}")
    # Every pre-existing index: a new relfilenode is a rebuild, which must be claimed (an ALTER
    # TYPE that keeps the table's file can still rebuild an index under ACCESS EXCLUSIVE).
    for oid in sorted(obs.rebuilt | claims.rebuilds, key=rels.label):
        claimed, seen = oid in claims.rebuilds, oid in obs.rebuilt
        if claimed and not seen and "rebuild" in trace.conservative:
            conservative_seen.add("rebuild")
        elif claimed != seen and (claimed or rels.before.get(oid) is not None):
            problems.append(f"{label}: index {rels.label(oid)}: migspec claims {'a rebuild' if claimed else 'no rebuild'}, "
                            f"relfilenode {'changed' if seen else 'unchanged'}")
    for what, oids, data_change, rewrite in claims.scans:
        targets = oids & rels.tables
        if not targets:
            continue  # a table created by the sql, or one migspec cannot name (REINDEX INDEX)
        seen = any(o in obs.scanned or (data_change and o in obs.changed_rows) for o in targets)
        # A rewrite reads the table: an over-stated rewrite over-states that read too.
        if not seen and ("scan" in trace.conservative or (rewrite and "rewrite" in trace.conservative)):
            conservative_seen.add("rewrite" if rewrite and "rewrite" in trace.conservative else "scan")
        elif not seen:
            problems.append(f"{label}: {what}: migspec claims it reads every row of "
                            f"{', '.join(sorted(map(rels.label, targets)))}; no seq scan seen "
                            "(pg_stat seq_scan, n_tup_upd/n_tup_del unchanged)")
    # Rows read under a lock that blocks writes, where migspec claims the statement reads none.
    # (Reading under ACCESS SHARE - INSERT ... SELECT, CREATE TABLE AS - stalls nobody.) Which
    # table a scan reads is not always knowable (VALIDATE of a foreign key reads the referenced
    # table too; migspec sees only the constraint's name), so a statement that claims any scan
    # may read any table.
    if not claims.unknown and not claims.scans:
        for oid in sorted(obs.read_rows & rels.tables, key=rels.label):
            seen = obs.locks.get(oid)
            if seen is not None and seen.blocks_writes and rels.label(oid) not in trace.unclaimed:
                problems.append(f"{label}: {rels.label(oid)}: migspec claims the statement reads no table, the "
                                f"server read rows of this one under {seen.sql_name} (seq_tup_read moved)")
    return problems


#: PostgreSQL 13/14 send a backend's counters to the statistics collector at most every
#: PGSTAT_STAT_INTERVAL (500 ms), and a reader accepts a stats file up to that old
#: (pgstat.c, backend_read_statsfile); pg_stat_force_next_flush() exists from 15 on.
_PGSTAT_STAT_INTERVAL_S = 0.5


def _flush_stats(conn: psycopg.Connection) -> None:
    """Make the counters of ``conn``'s backend visible to other sessions' ``pg_stat_*`` reads.

    15+: ``pg_stat_force_next_flush()`` - the flush happens before the backend reports ready for
    the next query. 13/14: wait out the send interval, run a statement (its end sends everything
    pending), then wait out the reader's staleness allowance so no older stats file is accepted.
    """
    if conn.info.server_version >= 150000:
        conn.execute("SELECT pg_stat_force_next_flush()")
        return
    time.sleep(_PGSTAT_STAT_INTERVAL_S + 0.1)
    conn.execute("SELECT 1")
    time.sleep(_PGSTAT_STAT_INTERVAL_S + 0.1)


def _sampled_run(trace: Trace, stmt_sql: str, dsn: str, conn: psycopg.Connection, rels: Relations
                 ) -> Observation:
    """Run one statement in autocommit and watch it from a second connection."""
    obs = Observation(how="sampled from another connection: granted locks and requested modes, plus the "
                          "event-trigger log at the end of the DDL command")
    pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
    _flush_stats(conn)
    with psycopg.connect(dsn, autocommit=True) as watcher, psycopg.connect(dsn, autocommit=True) as blocker:
        watcher.execute("SELECT pg_stat_clear_snapshot()")
        counters_before = _counters(watcher, "pg_stat_user_tables")
        if trace.blocker:
            blocker.execute("BEGIN")
            blocker.execute(trace.blocker)
        outcome: list[BaseException | None] = []

        def run() -> None:
            try:
                conn.execute(stmt_sql)
                outcome.append(None)
            except BaseException as exc:  # re-raised by the main thread
                outcome.append(exc)

        worker = threading.Thread(target=run, daemon=True)
        worker.start()
        blocked, waits, saw_wait = bool(trace.blocker), 0, False
        deadline = time.monotonic() + STATEMENT_TIMEOUT_S
        while worker.is_alive():
            _record(obs, watcher.execute(
                "SELECT relation, mode FROM pg_locks WHERE pid = %s AND locktype = 'relation' "
                "AND relation IS NOT NULL", (pid,)).fetchall())
            state = watcher.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone()
            if blocked and state and state[0] == "Lock":
                waits += 1
                if waits >= 2:  # seen waiting twice: its locks at the wait point are recorded
                    blocker.execute("COMMIT")
                    blocked, saw_wait = False, True
            if time.monotonic() > deadline:
                if blocked:
                    blocker.execute("COMMIT")
                watcher.execute("SELECT pg_cancel_backend(%s)", (pid,))
                worker.join(10)
                pytest.fail(f"{trace.id}: the statement did not finish within {STATEMENT_TIMEOUT_S:g} s")
            time.sleep(0.002)
        worker.join()
        if blocked:
            blocker.execute("COMMIT")
        if outcome and outcome[0] is not None:
            raise outcome[0]
        if trace.blocker and not saw_wait:
            pytest.fail(f"{trace.id}: the statement never waited on the blocker ({trace.blocker!r}): "
                        "the sample proves nothing; choose a blocker the statement must wait for")
        _flush_stats(conn)
        watcher.execute("SELECT pg_stat_clear_snapshot()")
        counters_after = _counters(watcher, "pg_stat_user_tables")
        _record(obs, watcher.execute(f"SELECT relation, mode FROM {LOG_TABLE}").fetchall())
        rels.after = _catalog(watcher)
        _data_changes(rels, watcher, obs, counters_before, counters_after)
    obs.locks = {oid: mode for oid, mode in obs.locks.items() if rels.known(oid)}
    return obs


def _observed(stmt_sql: str, obs: Observation, rels: Relations) -> dict:
    """One statement's observation, by relation name (locks are cumulative in a transaction)."""
    return {"sql": " ".join(stmt_sql.split()),
            "locks": {rels.label(oid): mode.sql_name for oid, mode in sorted(obs.locks.items()) if mode > AS},
            "rewritten": sorted(map(rels.label, obs.rewritten)),
            "scanned": sorted(map(rels.label, obs.scanned & rels.tables))}


def _by_statement(results: tuple[OpResult, ...]) -> Iterator[tuple[int, list[OpResult]]]:
    groups: dict[int, list[OpResult]] = defaultdict(list)
    for result in results:
        groups[result.item.stmt.index].append(result)
    yield from sorted(groups.items())


@pytest.mark.parametrize("trace", _all_traces(), ids=lambda t: t.id)
def test_trace(trace: Trace, pg_server: Server, pg: psycopg.Connection, pg_dsn: str) -> None:
    pg.execute(trace.setup)
    version = pg_server.major
    if trace.gate and not supports(trace.gate, version):
        # Before the gate's major the statement does not exist: the server must refuse it.
        with pytest.raises(psycopg.Error):
            pg.execute(trace.sql)
        record("trace", trace=trace.id, major=version, statements=[], refused=True)
        return
    stats = parse_stats(_stats_document(pg), f"{trace.id}: live catalog")
    migration = build_migration([trace.sql], trace.rule)
    report = lint(migration, stats, pg_version=version)
    statements = {s.index: s for s in migration.statements}
    groups = list(_by_statement(report.results))
    outside = [i for i, results in groups if any(r.item.op.no_transaction for r in results)]
    if outside and len(groups) > 1:
        pytest.fail(f"{trace.id}: a statement that cannot run in a transaction block must be the entry's only one")

    problems: list[str] = []
    observed: list[dict] = []  # per statement, for docs/versions.md
    unclaimed_seen: set[str] = set()
    conservative_seen: set[str] = set()
    if outside:
        pg.execute(EVENT_TRIGGERS)
        rels = Relations(_catalog(pg))
        rels.before = rels.start
        stmt = statements[outside[0]]
        # The claim itself: inside a transaction block the server must refuse the statement.
        pg.execute("BEGIN")
        try:
            pg.execute(stmt.sql)
            problems.append(f"{stmt.sql!r}: migspec claims it cannot run in a transaction block, but it ran in one")
        except errors.ActiveSqlTransaction:
            pass
        finally:
            pg.execute("ROLLBACK")
        if trace.error:
            with pytest.raises(psycopg.Error, match=trace.error):
                _sampled_run(trace, stmt.sql, pg_dsn, pg, rels)
        else:
            obs = _sampled_run(trace, stmt.sql, pg_dsn, pg, rels)
            observed.append(_observed(stmt.sql, obs, rels))
            claims = _claims(groups[0][1], {}, rels)
            problems += _compare(trace, f"{stmt.sql!r}", claims, obs, rels, unclaimed_seen, conservative_seen)
    else:
        rels = Relations(_catalog(pg))
        held: dict[int, LockMode] = {}
        pg.execute("BEGIN")
        try:
            for number, (index, results) in enumerate(groups, 1):
                stmt = statements[index]
                label = f"statement {number} {stmt.sql!r}"
                rels.before = _catalog(pg)
                counters_before = _counters(pg, "pg_stat_xact_user_tables")
                if trace.error and number == len(groups):
                    with pytest.raises(psycopg.Error, match=trace.error):
                        pg.execute(stmt.sql)
                    break
                try:
                    pg.execute(stmt.sql)
                except errors.ActiveSqlTransaction as exc:
                    problems.append(f"{label}: migspec claims it may run in a transaction block; the server "
                                    f"says: {exc}")
                    break
                obs = Observation()
                _record(obs, pg.execute(OWN_LOCKS).fetchall())
                counters_after = _counters(pg, "pg_stat_xact_user_tables")
                rels.after = _catalog(pg)
                obs.locks = {oid: mode for oid, mode in obs.locks.items() if rels.known(oid)}
                _data_changes(rels, pg, obs, counters_before, counters_after)
                observed.append(_observed(stmt.sql, obs, rels))
                claims = _claims(results, held, rels)
                problems += _compare(trace, label, claims, obs, rels, unclaimed_seen, conservative_seen)
                held = claims.locks
        finally:
            pg.execute("ROLLBACK")

    stale = sorted(set(trace.unclaimed) - unclaimed_seen)
    if stale and not trace.error:
        problems.append(f"'unclaimed' lists {', '.join(stale)}, but the server took no lock above ACCESS SHARE "
                        "there: remove the entry")
    stale = sorted(set(trace.conservative) - conservative_seen)
    if stale and not trace.error:
        problems.append(f"'conservative' lists {', '.join(stale)}, but the claim matches the server now: "
                        "remove the entry")
    record("trace", trace=trace.id, major=version, statements=observed, refused=False, ok=not problems)
    assert not problems, f"{trace.id}: migspec's claims vs the server (PostgreSQL {version}):\n  " + \
        "\n  ".join(problems)


def test_every_rule_has_a_trace() -> None:
    traced = {t.rule for t in _all_traces()}
    missing = sorted(rule_names() - traced)
    assert not missing, f"rules without a trace entry: {', '.join(missing)}"
    assert len(_all_traces()) >= MIN_TRACES

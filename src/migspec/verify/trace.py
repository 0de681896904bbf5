"""What the server did, observed from outside the step: the table locks a backend held or waited
for (pg_locks), which tables were rewritten (pg_class.relfilenode), and the catalog as a
comparable snapshot.

Facts (postgres-locks.md, "Other facts"): pg_locks from the same backend inside an open
transaction shows every lock the transaction took, since table locks are held until commit; a
statement outside a transaction block (CREATE INDEX CONCURRENTLY) can only be watched from another
connection while it runs; a changed relfilenode across a statement means the table was rewritten.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from typing import Any

import psycopg

from migspec.frozen import field, frozen, record
from migspec.locks import LockMode

#: Schemas whose objects are never the migration's: PostgreSQL's own, and migspec's state table.
#: ``migspec_backup`` (the plan's archive tables) is compared like any user schema.
SYSTEM_SCHEMA_FILTER = ("n.nspname NOT IN ('pg_catalog', 'information_schema', 'migspec') "
                        "AND n.nspname NOT LIKE 'pg\\_%'")

#: Name of the session setting a transactional step copies its own locks into just before COMMIT.
OWN_LOCKS_SETTING = "migspec.verify_locks"


_OWN_LOCKS = ("coalesce((SELECT string_agg(l.relation::oid::text || ':' || l.mode || ':' || l.granted::text, ',') "
              "FROM pg_locks l WHERE l.pid = pg_backend_pid() AND l.locktype = 'relation'), '')")


def own_locks_statement() -> str:
    """Appended to a transactional step: adds the table locks this transaction holds - all it
    took, since they are kept until COMMIT - to a session setting that survives the COMMIT
    (set_config with is_local = false is transactional: it is dropped again on ROLLBACK)."""
    return (f"SELECT set_config('{OWN_LOCKS_SETTING}', coalesce(current_setting('{OWN_LOCKS_SETTING}', true), '') "
            f"|| ',' || {_OWN_LOCKS}, false)")


#: The same capture at the end of every DDL command, from an event trigger: it runs inside the
#: command's own transaction, so it also sees the locks of a statement run outside a transaction
#: block (a plain CREATE INDEX in autocommit holds SHARE until its implicit COMMIT), which a
#: sampler polling every few milliseconds can miss. Creating an event trigger needs a superuser.
EVENT_TRIGGER_DDL = (
    "CREATE SCHEMA IF NOT EXISTS migspec",
    "CREATE OR REPLACE FUNCTION migspec.verify_capture_locks() RETURNS event_trigger LANGUAGE plpgsql AS "
    f"$migspec$ BEGIN PERFORM {own_locks_statement().removeprefix('SELECT ')}; END $migspec$",
    "CREATE EVENT TRIGGER migspec_verify_capture_locks ON ddl_command_end "
    "EXECUTE FUNCTION migspec.verify_capture_locks()",
)


def install_event_trigger(conn: psycopg.Connection) -> bool:
    """True when installed; False when this role may not create event triggers."""
    row = conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()
    if not row or not row[0]:
        return False
    with conn.transaction():
        for sql in EVENT_TRIGGER_DDL:
            conn.execute(sql)
    return True


def read_own_locks(conn: psycopg.Connection) -> list[tuple[int, str, bool]]:
    """The locks captured since the last call (and clears them)."""
    row = conn.execute(f"SELECT current_setting('{OWN_LOCKS_SETTING}', true)").fetchone()
    text = row[0] if row and row[0] else ""
    conn.execute(f"SELECT set_config('{OWN_LOCKS_SETTING}', '', false)")
    out = []
    for item in filter(None, text.split(",")):
        oid, mode, granted = item.split(":")
        out.append((int(oid), mode, granted == "true"))
    return out


@record
class LockObservation:
    """The strongest lock mode seen per relation oid: held (granted) and waited for."""

    held: dict[int, LockMode] = field(default_factory=dict)
    waited: dict[int, LockMode] = field(default_factory=dict)
    samples: int = 0
    own_backend: bool = False  # True when the step's own transaction reported its locks

    def add(self, relation: int, mode_name: str, granted: bool) -> None:
        try:
            mode = LockMode.from_pg_locks(mode_name)
        except ValueError:  # SIReadLock (serializable predicate locks) is not a table lock mode
            return
        target = self.held if granted else self.waited
        if relation not in target or mode > target[relation]:
            target[relation] = mode

    def strongest(self, relation: int) -> LockMode | None:
        """Held or requested: a lock the step waited for is a lock it was going to take."""
        modes = [m for m in (self.held.get(relation), self.waited.get(relation)) if m is not None]
        return max(modes) if modes else None

    def relations(self) -> set[int]:
        return set(self.held) | set(self.waited)


_SAMPLE = "SELECT l.relation::oid::bigint, l.mode, l.granted FROM pg_locks l WHERE l.pid = %s AND l.locktype = 'relation'"


class LockSampler:
    """Samples pg_locks for one backend from a connection of its own, every ``interval_s``.

    Used as ``with sampler.watch(pid) as obs: ...``; one sampler (one connection) serves every
    step of a run."""

    def __init__(self, dsn: str, interval_s: float = 0.005) -> None:
        self.interval_s = interval_s
        self.conn = psycopg.connect(dsn, autocommit=True, application_name="migspec verify lock sampler")
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def close(self) -> None:
        self.conn.close()

    def watch(self, pid: int) -> _Watch:
        return _Watch(self, pid)

    def _run(self, pid: int, obs: LockObservation) -> None:
        try:
            while not self._stop.is_set():
                for relation, mode, granted in self.conn.execute(_SAMPLE, (pid,)).fetchall():
                    obs.add(int(relation), mode, granted)
                obs.samples += 1
                self._stop.wait(self.interval_s)
        except BaseException as exc:  # surfaced by _Watch.__exit__
            self._error = exc


class _Watch:
    def __init__(self, sampler: LockSampler, pid: int) -> None:
        self.sampler, self.pid = sampler, pid
        self.observation = LockObservation()

    def __enter__(self) -> LockObservation:
        s = self.sampler
        s._stop.clear()
        s._error = None
        s._thread = threading.Thread(target=s._run, args=(self.pid, self.observation), daemon=True,
                                     name="migspec-lock-sampler")
        s._thread.start()
        # One sample before the step starts, so even an instant step is watched from the start.
        deadline = time.monotonic() + 1.0
        while self.observation.samples == 0 and s._error is None and time.monotonic() < deadline:
            time.sleep(0.0005)
        return self.observation

    def __exit__(self, *exc: object) -> None:
        s = self.sampler
        s._stop.set()
        if s._thread is not None:
            s._thread.join(timeout=10)
        if s._error is not None:
            raise RuntimeError(f"the lock sampler failed: {s._error}") from s._error


def user_relations(conn: psycopg.Connection) -> dict[int, str]:
    """oid -> name of every user relation now (to name one a step drops)."""
    rows = conn.execute("SELECT c.oid::bigint, format('%I.%I', n.nspname, c.relname) FROM pg_class c "
                        f"JOIN pg_namespace n ON n.oid = c.relnamespace WHERE {SYSTEM_SCHEMA_FILTER}").fetchall()
    return {int(o): name for o, name in rows}


def relation_names(conn: psycopg.Connection, oids: Iterable[int], before: dict[int, str] | None = None) -> dict[int, str]:
    """Names of ``oids`` now; a relation gone since ``before`` was taken keeps its old name."""
    oids = sorted(set(oids))
    if not oids:
        return {}
    before = before or {}
    rows = conn.execute("SELECT c.oid::bigint, format('%%I.%%I', n.nspname, c.relname) FROM pg_class c "
                        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = ANY(%s::oid[])", (oids,)).fetchall()
    names = {int(o): name for o, name in rows}
    return {o: names.get(o) or (f"{before[o]} (dropped)" if o in before else f"oid {o} (dropped)") for o in oids}


def regclass(conn: psycopg.Connection, name: str | None) -> int | None:
    if not name:
        return None
    row = conn.execute("SELECT to_regclass(%s)::oid::bigint", (name,)).fetchone()
    return int(row[0]) if row and row[0] is not None else None


def relfilenodes(conn: psycopg.Connection) -> dict[int, tuple[int, int]]:
    """(relfilenode, size in bytes) of every user table and materialized view (a partitioned
    parent has no storage of its own)."""
    rows = conn.execute("SELECT c.oid::bigint, c.relfilenode::bigint, pg_relation_size(c.oid) FROM pg_class c JOIN "
                        f"pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'm') AND {SYSTEM_SCHEMA_FILTER}"
                        ).fetchall()
    return {int(o): (int(f), int(size)) for o, f, size in rows}


def index_files(conn: psycopg.Connection) -> dict[str, tuple[int, int]]:
    """(relfilenode, table OID) of every user index, by qualified name: ALTER TABLE re-creates an
    index it cannot reuse under the same name with a new OID, so a name is what stays."""
    rows = conn.execute("SELECT format('%I.%I', n.nspname, c.relname), c.relfilenode::bigint, i.indrelid::bigint "
                        "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_index i ON "
                        f"i.indexrelid = c.oid WHERE c.relkind = 'i' AND {SYSTEM_SCHEMA_FILTER}").fetchall()
    return {name: (int(f), int(t)) for name, f, t in rows}


def rebuilt_indexes(before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]],
                    skip_tables: set[int] = frozenset()) -> list[str]:
    """Indexes that existed before and got a new file (rebuilt), except those of ``skip_tables``
    (emptied by TRUNCATE: a new empty file is no rebuild). A name that now belongs to an index that
    existed before under another name (``ADD CONSTRAINT pk PRIMARY KEY USING INDEX idx`` renames
    idx to pk) keeps that index's file: no rebuild either."""
    files = {file for file, _ in before.values()}
    return [name for name in sorted(before) if name in after and after[name][0] != before[name][0]
            and after[name][0] not in files and before[name][1] not in skip_tables]


def rewritten(before: dict[int, tuple[int, int]], after: dict[int, tuple[int, int]],
              truncated: set[int] = frozenset()) -> tuple[list[int], list[int]]:
    """(rewritten, emptied): a new relfilenode holding data means the rows were copied (ALTER TYPE,
    a volatile DEFAULT, VACUUM FULL); TRUNCATE also gives a table a new file, an empty one, at
    once (``truncated``: the tables the step truncates; writers may have refilled them since)."""
    changed = [o for o in sorted(before) if o in after and after[o][0] != before[o][0]]
    emptied = [o for o in changed if o in truncated or after[o][1] == 0]
    return [o for o in changed if o not in emptied], emptied


# --- catalog snapshot ----------------------------------------------------------------------------

_F = SYSTEM_SCHEMA_FILTER
#: category -> query returning (key, *facts); two snapshots are equal when every category maps the
#: same keys to the same facts. Columns are keyed by name (a column dropped and re-added comes back
#: at the end of the table: its position is not compared).
CATALOG_QUERIES: dict[str, str] = {
    "relations": "SELECT format('%I.%I', n.nspname, c.relname), c.relkind::text, c.relpersistence::text "
                 f"FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND {_F}",
    "columns": "SELECT format('%I.%I.%I', n.nspname, c.relname, a.attname), format_type(a.atttypid, a.atttypmod), "
               "a.attnotnull, pg_get_expr(d.adbin, d.adrelid), a.attidentity::text, a.attgenerated::text, "
               "CASE WHEN a.attcollation <> t.typcollation THEN a.attcollation::regcollation::text END "
               "FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
               "JOIN pg_type t ON t.oid = a.atttypid LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
               f"WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND a.attnum > 0 AND NOT a.attisdropped AND {_F}",
    "constraints": "SELECT format('%I.%I', n.nspname, coalesce(c.relname, ty.typname)) || ' ' || quote_ident(k.conname), "
                   "k.contype::text, pg_get_constraintdef(k.oid), k.convalidated, k.condeferrable, k.condeferred "
                   "FROM pg_constraint k JOIN pg_namespace n ON n.oid = k.connamespace "
                   "LEFT JOIN pg_class c ON c.oid = k.conrelid LEFT JOIN pg_type ty ON ty.oid = k.contypid "
                   f"WHERE {_F}",
    "indexes": "SELECT format('%I.%I', n.nspname, ic.relname), pg_get_indexdef(i.indexrelid), i.indisvalid, "
               "i.indisready FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid "
               f"JOIN pg_namespace n ON n.oid = ic.relnamespace WHERE {_F}",
    "triggers": "SELECT format('%I.%I', n.nspname, c.relname) || ' ' || quote_ident(t.tgname), pg_get_triggerdef(t.oid), "
                "t.tgenabled::text FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                f"JOIN pg_namespace n ON n.oid = c.relnamespace WHERE NOT t.tgisinternal AND {_F}",
    "functions": "SELECT format('%I.%I', n.nspname, p.proname) || '(' || pg_get_function_identity_arguments(p.oid) || ')', "
                 "pg_get_function_result(p.oid), p.prokind::text, p.provolatile::text, l.lanname, p.prosrc "
                 "FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace JOIN pg_language l ON l.oid = p.prolang "
                 "WHERE NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid "
                 f"AND d.deptype = 'e') AND {_F}",
    "views": "SELECT format('%I.%I', n.nspname, c.relname), pg_get_viewdef(c.oid) FROM pg_class c "
             f"JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('v', 'm') AND {_F}",
    "sequences": "SELECT format('%I.%I', n.nspname, c.relname), format_type(s.seqtypid, NULL), s.seqincrement, s.seqmin, "
                 "s.seqmax, s.seqcycle, (SELECT format('%I.%I.%I', tn.nspname, tc.relname, ta.attname) FROM pg_depend d "
                 "JOIN pg_class tc ON tc.oid = d.refobjid JOIN pg_namespace tn ON tn.oid = tc.relnamespace "
                 "JOIN pg_attribute ta ON ta.attrelid = d.refobjid AND ta.attnum = d.refobjsubid "
                 "WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype IN ('a', 'i') LIMIT 1) "
                 "FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid "
                 f"JOIN pg_namespace n ON n.oid = c.relnamespace WHERE {_F}",
    "types": "SELECT format('%I.%I', n.nspname, t.typname), t.typtype::text, "
             "(SELECT string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder) FROM pg_enum e WHERE e.enumtypid = t.oid), "
             "CASE WHEN t.typtype = 'd' THEN format_type(t.typbasetype, t.typtypmod) END "
             f"FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace WHERE t.typtype IN ('e', 'd') AND {_F}",
}

Snapshot = dict[str, dict[str, tuple[Any, ...]]]


def catalog_snapshot(conn: psycopg.Connection) -> Snapshot:
    out: Snapshot = {}
    for category, query in CATALOG_QUERIES.items():
        out[category] = {row[0]: tuple(row[1:]) for row in conn.execute(query).fetchall()}
    return out


@frozen
class CatalogDifference:
    category: str
    key: str
    before: tuple[Any, ...] | None  # None: the object was not there before
    after: tuple[Any, ...] | None  # None: the object is gone

    def __str__(self) -> str:
        if self.before is None:
            return f"{self.category}: {self.key} is left over ({_facts(self.after)})"
        if self.after is None:
            return f"{self.category}: {self.key} is missing (was {_facts(self.before)})"
        return f"{self.category}: {self.key} differs: was {_facts(self.before)}, now {_facts(self.after)}"


def _facts(facts: tuple[Any, ...] | None) -> str:
    text = ", ".join(" ".join(str(f).split()) for f in facts or () if f not in (None, ""))
    return text if len(text) <= 160 else text[:157] + "..."


def validated_only(d: CatalogDifference) -> bool:
    """A NOT VALID constraint that is now validated and otherwise the same: PostgreSQL has no way
    to un-validate a constraint, so a DOWN cannot undo VALIDATE CONSTRAINT (and need not: the
    constraint holds either way, and dropping it belongs to the DOWN of the phase that added it)."""
    if d.category != "constraints" or d.before is None or d.after is None:
        return False
    b, a = list(d.before), list(d.after)
    if b[2] is not False or a[2] is not True:
        return False
    return str(b[1]).removesuffix(" NOT VALID") == a[1] and b[0] == a[0] and b[3:] == a[3:]


def compare_catalogs(before: Snapshot, after: Snapshot) -> list[CatalogDifference]:
    diffs: list[CatalogDifference] = []
    for category in CATALOG_QUERIES:
        b, a = before.get(category, {}), after.get(category, {})
        for key in sorted(set(b) | set(a)):
            if b.get(key) != a.get(key):
                diffs.append(CatalogDifference(category, key, b.get(key), a.get(key)))
    return diffs

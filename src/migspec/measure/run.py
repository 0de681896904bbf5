"""``measure()``: connect read-only, resolve the tables, read the schema, watch the window, size
the tables; everything a stats file holds, as one immutable :class:`Measurement`."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from psycopg.errors import LockNotAvailable

from migspec.frozen import frozen
from migspec.measure import collect
from migspec.measure.collect import Relation, ServerFacts, Size
from migspec.measure.connection import (DEFAULT_STATEMENT_TIMEOUT, MeasureError, Target, connect, secrets_in,
                                        target_of, translated)
from migspec.measure.frameworks import applied_migrations
from migspec.measure.sample import DEFAULT_POLL_INTERVAL, DEFAULT_SAMPLE_SECONDS, ProgressCallback, TableWindow, Window, \
    sample
from migspec.names import QualifiedName
from migspec.stats import TableSchema
from migspec.versions import MAX_VERSION, MIN_VERSION

#: Below this window the flush granularity of the statistics (about 1 s) is a sizeable error.
SHORT_WINDOW_SECONDS = 10.0
#: Upper bound of the window and of statement_timeout (a day); also rejects inf and NaN.
MAX_SAMPLE_SECONDS = 86400.0


@dataclass(frozen=True, kw_only=True)
class MeasureOptions:
    dsn: str = field(repr=False)  # may hold a password: never printed, never stored
    tables: tuple[QualifiedName, ...]
    sample_seconds: float = DEFAULT_SAMPLE_SECONDS
    poll_interval: float = DEFAULT_POLL_INTERVAL
    exact_rows: bool = False
    statement_timeout: float = DEFAULT_STATEMENT_TIMEOUT
    source: str = "production"
    maintenance_window: str | None = None

    def __post_init__(self) -> None:
        if not 0 < self.sample_seconds <= MAX_SAMPLE_SECONDS:
            raise MeasureError(f"--sample-seconds must be more than 0 and at most {MAX_SAMPLE_SECONDS:g}")
        if not 0.01 <= self.poll_interval <= 10:
            raise MeasureError("--poll-interval must be between 0.01 and 10 seconds")
        if not 0 < self.statement_timeout <= MAX_SAMPLE_SECONDS:
            raise MeasureError(f"--statement-timeout must be more than 0 and at most {MAX_SAMPLE_SECONDS:g}")


@frozen
class TableMeasurement:
    relation: Relation
    size: Size
    window: TableWindow
    schema: TableSchema | None  # None: a lock kept the definition from being read
    exact_rows: bool = False

    @property
    def name(self) -> QualifiedName:
        return self.relation.name


@frozen
class Measurement:
    server: ServerFacts
    target: Target
    replication_lag_seconds: float | None
    collected_at: str  # ISO-8601 UTC, end of the window
    window: Window
    tables: tuple[TableMeasurement, ...]
    warnings: tuple[str, ...]
    source: str
    maintenance_window: str | None
    poll_interval: float
    #: framework -> migrations recorded as applied (migspec.measure.frameworks)
    applied_migrations: dict[str, list[str]] = field(default_factory=dict)

    @property
    def write_qps_error_bound(self) -> float:
        """Relative error bound of write_qps for a steady load (see migspec.measure.sample)."""
        return min(1.0, 1.0 / max(self.window.elapsed, 1e-6))


def _utc_now() -> str:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _warnings(server: ServerFacts, options: MeasureOptions) -> list[str]:
    out: list[str] = []
    if server.in_recovery:
        out.append("the server is a standby: its table counters do not include the primary's writes, so write_qps "
                   "is left empty (lint will ask for it); measure the primary for write rates")
    if not server.track_counts:
        out.append("track_counts is off: the write counters never move, so write_qps is left empty")
    if not server.track_activities:
        out.append("track_activities is off: pg_stat_activity shows no transactions, so "
                   "longest_transaction_seconds reads 0")
    if not server.sees_all_sessions:
        out.append("this role is neither superuser nor a member of pg_monitor/pg_read_all_stats: "
                   "longest_transaction_seconds only sees this role's own sessions, and replication lag "
                   "may be unknown")
    if options.sample_seconds < SHORT_WINDOW_SECONDS:
        out.append(f"a {options.sample_seconds:g} s window: write_qps may be off by up to "
                   f"{100 / options.sample_seconds:.0f}% (statistics are flushed about once a second); "
                   f"60 s or more is advised")
    return out


def _unknown(exc: collect.UnknownTables, database: str) -> MeasureError:
    parts = []
    if exc.missing:
        parts.append("unknown table" + ("s" if len(exc.missing) > 1 else "") + " "
                     + ", ".join(str(n) for n in exc.missing) + f" in database {database!r}")
    parts.extend(f"{name} is {kind}, not a table" for name, kind in exc.not_tables)
    return MeasureError("; ".join(parts))


def measure(options: MeasureOptions, *, on_progress: ProgressCallback | None = None) -> Measurement:
    """Collect everything the stats file holds for ``options.tables``; MeasureError on any problem
    (its message never holds the password)."""
    secrets = secrets_in(options.dsn)
    conn = connect(options.dsn, statement_timeout=options.statement_timeout)
    with conn:
        with translated(secrets, "reading the server's version and settings"):
            server = collect.server_facts(conn)
        if not MIN_VERSION <= server.major <= MAX_VERSION:
            raise MeasureError(f"the server runs PostgreSQL {server.version}; migspec knows "
                               f"{MIN_VERSION} to {MAX_VERSION}")
        warnings = _warnings(server, options)
        with translated(secrets, "looking up the tables"):
            try:
                relations = collect.resolve_tables(conn, options.tables)
            except collect.UnknownTables as exc:
                raise _unknown(exc, server.database) from None
        with translated(secrets, "sampling write counters and locks"):
            window = sample(conn, relations, seconds=options.sample_seconds, poll_interval=options.poll_interval,
                            count_writes=server.track_counts and not server.in_recovery, on_progress=on_progress)
        schemas: dict[int, TableSchema | None] = {}
        for rel in relations:
            with translated(secrets, f"reading the definition of {rel.name}"):
                try:
                    schemas[rel.oid] = collect.schema_facts(conn, rel, major=server.major)
                except LockNotAvailable:
                    schemas[rel.oid] = None
                    warnings.append(f"a session holds an ACCESS EXCLUSIVE lock on {rel.name}: its columns and "
                                    "schema facts are left out (plan will ask for them); measure again later")
        with translated(secrets, "reading table sizes"):
            sizes, size_warnings = collect.sizes(conn, relations)
        warnings.extend(size_warnings)
        if options.exact_rows:
            for rel in relations:
                with translated(secrets, f"counting the rows of {rel.name} (--exact-rows)",
                                privilege="SELECT on the table (pg_monitor alone cannot count rows)"):
                    n = collect.exact_rows(conn, rel)
                sizes[rel.oid] = Size(n, collect.ROWS_EXACT, sizes[rel.oid].size_bytes, sizes[rel.oid].size_source)
        with translated(secrets, "reading the replication lag"):
            lag = collect.replication_lag(conn, server)
        with translated(secrets, "reading the migration frameworks' records"):
            applied, applied_warnings = applied_migrations(conn)
        warnings.extend(applied_warnings)
        target = target_of(conn)
    tables = tuple(TableMeasurement(rel, sizes[rel.oid], window.tables[rel.oid], schemas[rel.oid], options.exact_rows)
                   for rel in relations)
    return Measurement(server=server, target=target, replication_lag_seconds=lag, collected_at=_utc_now(),
                       window=window, tables=tables, warnings=tuple(warnings), source=options.source,
                       maintenance_window=options.maintenance_window, poll_interval=options.poll_interval,
                       applied_migrations=applied)

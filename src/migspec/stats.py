"""Production measurements: the stats file, its validation, and the refusal to judge without it.

The brief is firm that the specialist refuses without measurements. A table the migration touches
that existed before it (so not created earlier in the same migration) needs ``rows``,
``write_qps`` and ``lock_contention``; anything missing is listed with the SQL that obtains it.
"""

from __future__ import annotations

import datetime as dt
import os
import math
from collections.abc import Iterable, Mapping
from typing import Any

from migspec.errors import InputError, RefusedError
from migspec.frozen import field, frozen, replace
from migspec.names import QualifiedName, quote_literal
from migspec.versions import MAX_VERSION, MIN_VERSION

REQUIRED = ("rows", "write_qps", "lock_contention")

#: Tables migration runners keep their own bookkeeping in: a handful of rows, written only by the
#: runner itself, so they need no measurements (a measured one is still judged by its figures).
#: Sources: Django django/db/migrations/recorder.py; Alembic alembic/runtime/migration.py
#: (version_table default); Flyway, Liquibase, Rails/golang-migrate/dbmate, goose, knex, sqlx,
#: Entity Framework documentation of their history tables.
BOOKKEEPING_TABLES = frozenset({
    "django_migrations", "alembic_version", "flyway_schema_history", "databasechangelog",
    "databasechangeloglock", "schema_migrations", "goose_db_version", "knex_migrations",
    "knex_migrations_lock", "_sqlx_migrations", "__EFMigrationsHistory",
})


def is_bookkeeping(name: QualifiedName) -> bool:
    """A migration runner's own bookkeeping table (any schema: Alembic's may live elsewhere)."""
    return name.name in BOOKKEEPING_TABLES


@frozen
class LockContention:
    """How contended a table's locks are: the longest transaction seen, lock waits per minute."""

    longest_transaction_seconds: float
    lock_waits_per_minute: float


@frozen
class SchemaColumn:
    """One column as the catalog describes it: ``format_type`` and ``pg_get_expr`` spellings."""

    name: str
    type: str
    not_null: bool = False
    default: str | None = None
    identity: str | None = None  # "always" | "by default" (GENERATED ... AS IDENTITY)
    generated: str | None = None  # expression of a GENERATED ALWAYS AS (...) STORED column


IDENTITY_KINDS = ("always", "by default")


@frozen
class TableSchema:
    """The per-table ``schema`` section: what a DOWN needs to put a table back as it was.

    Definitions are PostgreSQL's own deparsings (pg_get_constraintdef, pg_get_indexdef,
    pg_get_triggerdef), so they can be replayed as written.
    """

    columns: tuple[SchemaColumn, ...] = ()
    primary_key: tuple[str, ...] = ()
    constraints: Mapping[str, str] = field(default_factory=dict)  # name -> definition (CHECK (...), ...)
    indexes: Mapping[str, str] = field(default_factory=dict)  # name -> CREATE INDEX statement
    invalid_indexes: tuple[str, ...] = ()  # names in ``indexes`` whose build failed (indisvalid false)
    triggers: Mapping[str, str] = field(default_factory=dict)  # name -> CREATE TRIGGER statement


@frozen
class TableProbe:
    """A bounded, read-only sample scan of the table (``migspec measure --probe``), run twice: the
    first pass reads what is not in shared_buffers, the second finds every page there."""

    rows: int  # rows the sample scan counted
    pages: int  # pages it covered
    first_seconds: float
    warm_seconds: float
    pages_read: int  # pages the first pass read from outside shared_buffers
    hit_ratio: float | None = None  # pg_statio_user_tables: heap hits / (hits + reads) since the reset
    method: str = ""


@frozen
class ServerProbe:
    """Server-wide facts the probe records next to the per-table scans."""

    shared_buffers_bytes: int
    block_size: int = 8192
    collected_at: str | None = None
    write_qps: float | None = None  # the writes/s measure sampled in the same run: the load the probe ran under


@frozen
class TableStats:
    """One table's measurements: size, traffic, lock contention, columns, schema facts."""

    name: QualifiedName
    rows: int | None = None
    write_qps: float | None = None
    lock_contention: LockContention | None = None
    size_bytes: int | None = None
    columns: Mapping[str, str] = field(default_factory=dict)  # column -> SQL type, for DOWNs and coercions
    schema: TableSchema | None = None  # what a DOWN needs; written by 'migspec measure'
    probe: TableProbe | None = None  # written by 'migspec measure --probe'

    def missing(self) -> list[str]:
        return [key for key in REQUIRED if getattr(self, key) is None]


@frozen
class Stats:
    """A stats file: the server, its tables' measurements, the thresholds, where it came from."""

    pg_version: int | None = None
    pg_version_full: str | None = None  # e.g. "14.2": minor releases matter for some bugs
    source: str | None = None
    collected_at: str | None = None
    maintenance_window: str | None = None
    tables: Mapping[QualifiedName, TableStats] = field(default_factory=dict)
    thresholds: Mapping[str, float] = field(default_factory=dict)
    origin: str = "no stats file"
    #: framework ("django", "alembic") -> migrations production recorded as applied ('migspec measure')
    applied_migrations: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    probe: ServerProbe | None = None
    upgrade: Mapping[str, Any] | None = None  # 'measure --upgrade-to': read by migspec.upgrade.postgres

    @property
    def from_production(self) -> bool:
        return (self.source or "").strip().lower() == "production"

    def table(self, name: QualifiedName) -> TableStats:
        return self.tables.get(name) or TableStats(name)

    def with_table(self, stats: TableStats) -> Stats:
        tables = dict(self.tables)
        tables[stats.name] = stats
        return replace(self, tables=tables)


def _fail(origin: str, where: str, problem: str) -> InputError:
    # A value quoted in the problem may be a whole subtree of a hostile file: one line, bounded.
    problem = " ".join(problem.split())
    return InputError(f"{origin}: {str(where)[:200]}: {problem if len(problem) <= 300 else problem[:297] + '...'}")


def _number(value: Any, origin: str, where: str, *, integer: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _fail(origin, where, f"must be a number, not {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise _fail(origin, where, f"must be a finite number, not {value!r}")
    if value < 0:
        raise _fail(origin, where, f"must not be negative (got {value})")
    if integer and int(value) != value:
        raise _fail(origin, where, f"must be a whole number (got {value})")
    return int(value) if integer else float(value)


def _version(value: Any, origin: str) -> tuple[int, str]:
    text = str(value).strip()
    major = text.split(".")[0]
    if not major.isdigit() or not (MIN_VERSION <= int(major) <= MAX_VERSION):
        raise _fail(origin, "pg_version", f"must be a PostgreSQL major version {MIN_VERSION}-{MAX_VERSION}, "
                                          f"optionally with a minor (e.g. 16 or '14.2'), not {value!r}")
    return int(major), text


def parse_stats(data: Any, origin: str) -> Stats:
    """Validate a decoded stats document; every problem is an InputError naming the key."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise _fail(origin, "top level", "must be a mapping with 'tables' and global keys")
    known = {"pg_version", "source", "collected_at", "maintenance_window", "tables", "thresholds",
             "host", "system_identifier", "replication_lag_seconds", "schema", "migspec", "applied_migrations", "probe",
             "upgrade"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise _fail(origin, unknown[0], f"unknown key (expected one of {', '.join(sorted(known))})")
    version, full = (None, None)
    if data.get("pg_version") is not None:
        version, full = _version(data["pg_version"], origin)
    window = data.get("maintenance_window")
    if window is not None and not isinstance(window, str):
        raise _fail(origin, "maintenance_window", "must be 'none' or a window such as 'Sun 02:00-04:00 UTC'")
    if isinstance(window, str) and window.strip().lower() in {"", "none", "no"}:
        window = None
    collected = data.get("collected_at")
    if isinstance(collected, (dt.datetime, dt.date)):
        collected = collected.isoformat()
    tables_raw = data.get("tables") or {}
    if not isinstance(tables_raw, dict):
        raise _fail(origin, "tables", "must map 'schema.table' to its measurements")
    tables: dict[QualifiedName, TableStats] = {}
    for key, raw in tables_raw.items():
        try:
            name = QualifiedName.parse(str(key))
        except ValueError as exc:
            raise _fail(origin, f"tables.{key}", str(exc)) from None
        if name in tables:  # 'orders' and 'public.orders' (or 'ORDERS') are one table: which figures hold?
            raise _fail(origin, f"tables.{key}", f"names the same table as another key ({name})")
        tables[name] = _table(name, raw, origin, f"tables.{key}")
    thresholds_raw = data.get("thresholds") or {}
    if not isinstance(thresholds_raw, dict):
        raise _fail(origin, "thresholds", "must map threshold names to numbers")
    thresholds = {str(k): _number(v, origin, f"thresholds.{k}") for k, v in thresholds_raw.items()}
    source = data.get("source")
    upgrade = data.get("upgrade")
    if upgrade is not None and not isinstance(upgrade, dict):
        raise _fail(origin, "upgrade", "must be the mapping 'migspec measure --upgrade-to N' writes")
    applied_raw = data.get("applied_migrations") or {}
    if not isinstance(applied_raw, dict) or any(k not in ("django", "alembic") for k in applied_raw):
        raise _fail(origin, "applied_migrations", "must map 'django' and/or 'alembic' to lists of migrations")
    applied = {str(k): _names(v, origin, f"applied_migrations.{k}") for k, v in applied_raw.items()}
    return Stats(version, full, None if source is None else str(source), None if collected is None else str(collected),
                 window, tables, thresholds, origin, applied, _server_probe(data.get("probe"), origin),
                 upgrade)


_TABLE_PROBE_KEYS = ("rows", "pages", "first_seconds", "warm_seconds", "pages_read", "hit_ratio", "method")


def _mapping(raw: Any, origin: str, where: str, keys: Iterable[str], required: Iterable[str]) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise _fail(origin, where, f"must be a mapping with keys {', '.join(keys)}")
    unknown = sorted(set(raw) - set(keys))
    if unknown:
        raise _fail(origin, f"{where}.{unknown[0]}", f"unknown key (expected one of {', '.join(keys)})")
    for key in required:
        if raw.get(key) is None:
            raise _fail(origin, f"{where}.{key}", "is missing")
    return raw


def _server_probe(raw: Any, origin: str) -> ServerProbe | None:
    if raw is None:
        return None
    raw = _mapping(raw, origin, "probe", ("shared_buffers_bytes", "block_size", "collected_at", "write_qps"),
                   ("shared_buffers_bytes",))
    block = int(_number(raw.get("block_size", 8192), origin, "probe.block_size", integer=True))
    if block <= 0:
        raise _fail(origin, "probe.block_size", "must be positive")
    at = raw.get("collected_at")
    qps = raw.get("write_qps")
    return ServerProbe(int(_number(raw["shared_buffers_bytes"], origin, "probe.shared_buffers_bytes", integer=True)),
                       block, None if at is None else str(at),
                       None if qps is None else _number(qps, origin, "probe.write_qps"))


def _table_probe(raw: Any, origin: str, where: str) -> TableProbe | None:
    if raw is None:
        return None
    raw = _mapping(raw, origin, where, _TABLE_PROBE_KEYS, _TABLE_PROBE_KEYS[:5])
    whole = {k: int(_number(raw[k], origin, f"{where}.{k}", integer=True)) for k in ("rows", "pages", "pages_read")}
    hit = raw.get("hit_ratio")
    if hit is not None and _number(hit, origin, f"{where}.hit_ratio") > 1:
        raise _fail(origin, f"{where}.hit_ratio", f"must be between 0 and 1 (got {hit})")
    return TableProbe(whole["rows"], whole["pages"], _number(raw["first_seconds"], origin, f"{where}.first_seconds"),
                      _number(raw["warm_seconds"], origin, f"{where}.warm_seconds"), whole["pages_read"],
                      None if hit is None else float(hit), str(raw.get("method") or ""))


def _table(name: QualifiedName, raw: Any, origin: str, where: str) -> TableStats:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise _fail(origin, where, "must be a mapping of measurements (rows, write_qps, lock_contention)")
    allowed = {"rows", "write_qps", "lock_contention", "size_bytes", "columns", "schema", "probe"}
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise _fail(origin, f"{where}.{unknown[0]}", f"unknown key (expected one of {', '.join(sorted(allowed))})")
    rows = raw.get("rows")
    qps = raw.get("write_qps")
    size = raw.get("size_bytes")
    contention = raw.get("lock_contention")
    lc = None
    if contention is not None:
        if not isinstance(contention, dict):
            raise _fail(origin, f"{where}.lock_contention",
                        "must be {longest_transaction_seconds: N, lock_waits_per_minute: N}")
        for key in ("longest_transaction_seconds", "lock_waits_per_minute"):
            if key not in contention:
                raise _fail(origin, f"{where}.lock_contention.{key}", "is missing")
        extra = sorted(set(contention) - {"longest_transaction_seconds", "lock_waits_per_minute"})
        if extra:
            raise _fail(origin, f"{where}.lock_contention.{extra[0]}", "unknown key")
        lc = LockContention(
            _number(contention["longest_transaction_seconds"], origin, f"{where}.lock_contention.longest_transaction_seconds"),
            _number(contention["lock_waits_per_minute"], origin, f"{where}.lock_contention.lock_waits_per_minute"),
        )
    columns = raw.get("columns") or {}
    if not isinstance(columns, dict) or not all(isinstance(v, str) for v in columns.values()):
        raise _fail(origin, f"{where}.columns", "must map column names to SQL types")
    schema = raw.get("schema")
    return TableStats(
        name,
        rows=None if rows is None else int(_number(rows, origin, f"{where}.rows", integer=True)),
        write_qps=None if qps is None else _number(qps, origin, f"{where}.write_qps"),
        lock_contention=lc,
        size_bytes=None if size is None else int(_number(size, origin, f"{where}.size_bytes", integer=True)),
        columns={str(k).lower(): v for k, v in columns.items()},
        schema=None if schema is None else _schema(schema, origin, f"{where}.schema"),
        probe=_table_probe(raw.get("probe"), origin, f"{where}.probe"),
    )


_SCHEMA_KEYS = ("columns", "primary_key", "constraints", "indexes", "invalid_indexes", "triggers")
_COLUMN_KEYS = ("name", "type", "not_null", "default", "identity", "generated")


def _text(value: Any, origin: str, where: str, *, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value:
        raise _fail(origin, where, f"must be a non-empty string, not {value!r}")
    return value


def _names(value: Any, origin: str, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise _fail(origin, where, f"must be a list of names, not {value!r}")
    return tuple(str(_text(v, origin, f"{where}[{i}]")) for i, v in enumerate(value))


def _definitions(value: Any, origin: str, where: str, what: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _fail(origin, where, f"must map names to {what}, not {value!r}")
    if any(k is None or k == "" or isinstance(k, (bool, dict, list)) for k in value):
        raise _fail(origin, where, "every name must be a non-empty string")
    return {str(k): str(_text(v, origin, f"{where}.{k}")) for k, v in value.items()}


def _schema(raw: Any, origin: str, where: str) -> TableSchema:
    """Validate the ``schema`` section (the shape ``migspec measure`` writes)."""
    if not isinstance(raw, dict):
        raise _fail(origin, where, f"must be a mapping with keys {', '.join(_SCHEMA_KEYS)}")
    unknown = sorted(set(raw) - set(_SCHEMA_KEYS))
    if unknown:
        raise _fail(origin, f"{where}.{unknown[0]}", f"unknown key (expected one of {', '.join(_SCHEMA_KEYS)})")
    columns_raw = raw.get("columns") or []
    if not isinstance(columns_raw, list):
        raise _fail(origin, f"{where}.columns", "must be a list of {name, type, not_null, default}")
    columns: list[SchemaColumn] = []
    for i, col in enumerate(columns_raw):
        at = f"{where}.columns[{i}]"
        if not isinstance(col, dict):
            raise _fail(origin, at, "must be a mapping {name, type, not_null, default}")
        extra = sorted(set(col) - set(_COLUMN_KEYS))
        if extra:
            raise _fail(origin, f"{at}.{extra[0]}", f"unknown key (expected one of {', '.join(_COLUMN_KEYS)})")
        not_null = col.get("not_null", False)
        if not isinstance(not_null, bool):
            raise _fail(origin, f"{at}.not_null", f"must be true or false, not {not_null!r}")
        identity = _text(col.get("identity"), origin, f"{at}.identity", optional=True)
        if identity is not None and identity not in IDENTITY_KINDS:
            raise _fail(origin, f"{at}.identity", f"must be one of {', '.join(IDENTITY_KINDS)}, not {identity!r}")
        columns.append(SchemaColumn(
            name=str(_text(col.get("name"), origin, f"{at}.name")),
            type=str(_text(col.get("type"), origin, f"{at}.type")),
            not_null=not_null,
            default=_text(col.get("default"), origin, f"{at}.default", optional=True),
            identity=identity,
            generated=_text(col.get("generated"), origin, f"{at}.generated", optional=True),
        ))
    names: set[str] = set()
    for c in columns:  # a set, not list.count: a table of 10,000 columns must not take 10^8 steps
        if c.name in names:
            raise _fail(origin, f"{where}.columns", f"column {c.name!r} is listed twice")
        names.add(c.name)
    primary_key = _names(raw.get("primary_key"), origin, f"{where}.primary_key")
    if columns:
        stray = next((k for k in primary_key if k not in names), None)
        if stray is not None:
            raise _fail(origin, f"{where}.primary_key", f"names {stray!r}, which is not in {where}.columns")
    indexes = _definitions(raw.get("indexes"), origin, f"{where}.indexes", "CREATE INDEX statements")
    invalid = _names(raw.get("invalid_indexes"), origin, f"{where}.invalid_indexes")
    stray = next((n for n in invalid if n not in indexes), None)
    if stray is not None:
        raise _fail(origin, f"{where}.invalid_indexes", f"names {stray!r}, which is not in {where}.indexes")
    return TableSchema(
        columns=tuple(columns),
        primary_key=primary_key,
        constraints=_definitions(raw.get("constraints"), origin, f"{where}.constraints", "constraint definitions"),
        indexes=indexes,
        invalid_indexes=invalid,
        triggers=_definitions(raw.get("triggers"), origin, f"{where}.triggers", "CREATE TRIGGER statements"),
    )


def load_stats(path: str | os.PathLike[str]) -> Stats:
    """Read a YAML or JSON stats file within migspec.limits (migspec.documents: duplicate keys,
    aliases, overlong numbers and deep nesting are errors, JSON is read as JSON)."""
    from migspec.documents import load_document

    from migspec.paths import display

    return parse_stats(load_document(path, what="stats file"), display(path))


def how_to_measure(table: QualifiedName, key: str) -> str:
    """The SQL that obtains one measurement on the production server (read-only, pg_monitor)."""
    reg = f"{quote_literal(table.sql)}::regclass"
    if key == "rows":
        return (f"SELECT c.reltuples::bigint AS rows, pg_table_size(c.oid) AS size_bytes "
                f"FROM pg_class c WHERE c.oid = {reg};")
    if key == "write_qps":
        return (f"SELECT n_tup_ins + n_tup_upd + n_tup_del FROM pg_stat_user_tables WHERE relid = {reg}; "
                "-- run twice, N seconds apart: write_qps = difference / N")
    return ("SELECT coalesce(max(extract(epoch FROM now() - xact_start)), 0) AS longest_transaction_seconds "
            "FROM pg_stat_activity WHERE xact_start IS NOT NULL AND pid <> pg_backend_pid(); "
            f"SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = {reg}; "
            "-- sample once a second for a minute: lock_waits_per_minute = waits seen")


def require_measurements(stats: Stats, tables: Iterable[QualifiedName]) -> None:
    """Refuse (exit 3) when any pre-existing table lacks a required measurement."""
    lines: list[str] = []
    for name in sorted(set(tables)):
        if is_bookkeeping(name) and name not in stats.tables:
            continue
        missing = stats.table(name).missing()
        for key in missing:
            lines.append(f"  {name}: missing {key}\n      {how_to_measure(name, key)}")
    if lines:
        raise RefusedError(
            "refusing to judge without production measurements ("
            + (f"stats from {stats.origin}" if stats.origin != "no stats file" else "no --stats file given")
            + "):\n" + "\n".join(lines)
            + "\n  or collect them all at once: migspec measure --dsn DSN --migration PATH -o stats.yaml"
        )

"""A :class:`Measurement` as the stats file ``lint`` and ``plan`` read, and a one-screen summary.

The document is checked with :func:`migspec.stats.parse_stats` before anything is written: what
``measure`` writes is, by construction, a file ``lint`` accepts. Figures that do not fit the stats
format (row sources, blocked sessions, the window, warnings) go under the ``migspec`` key, which
``parse_stats`` accepts and ignores.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import yaml

from migspec import __version__
from migspec.errors import InputError
from migspec.measure.collect import TABLE_KINDS
from migspec.measure.run import Measurement, TableMeasurement
from migspec.stats import Stats, TableSchema, parse_stats


def _round_up(value: float, places: int = 2) -> float:
    """Round up: a longest transaction rounded down would understate the queue a DDL joins."""
    scale = 10**places
    return math.ceil(value * scale - 1e-9) / scale


def schema_document(schema: TableSchema) -> dict[str, Any]:
    columns = []
    for col in schema.columns:
        entry: dict[str, Any] = {"name": col.name, "type": col.type, "not_null": col.not_null, "default": col.default}
        if col.identity:
            entry["identity"] = col.identity
        if col.generated:
            entry["generated"] = col.generated
        columns.append(entry)
    doc: dict[str, Any] = {
        "columns": columns,
        "primary_key": list(schema.primary_key),
        "constraints": dict(schema.constraints),
        "indexes": dict(schema.indexes),
    }
    if schema.invalid_indexes:
        doc["invalid_indexes"] = list(schema.invalid_indexes)
    doc["triggers"] = dict(schema.triggers)
    return doc


def _table_document(t: TableMeasurement, m: Measurement) -> dict[str, Any]:
    w = t.window
    doc: dict[str, Any] = {
        "rows": t.size.rows,
        "size_bytes": t.size.size_bytes,
        "write_qps": None if w.write_qps is None else round(w.write_qps, 2),
        "lock_contention": {
            "longest_transaction_seconds": _round_up(m.window.longest_transaction_seconds),
            "lock_waits_per_minute": round(w.lock_waits_per_minute, 2),
        },
    }
    if t.schema is not None:
        doc["columns"] = {c.name: c.type for c in t.schema.columns}
        doc["schema"] = schema_document(t.schema)
    return doc


def _table_details(t: TableMeasurement) -> dict[str, Any]:
    w = t.window
    details: dict[str, Any] = {
        "kind": TABLE_KINDS.get(t.relation.kind, t.relation.kind),
        "rows_source": t.size.rows_source,
        "size_source": t.size.size_source,
        "rows_written_in_window": w.writes,
        "lock_wait_episodes": w.lock_wait_episodes,
        "blocked_sessions_max": w.blocked_sessions_max,
        "longest_blocker_seconds": _round_up(w.longest_blocker_seconds),
    }
    if t.relation.kind == "p":
        details["partitions"] = len(t.relation.members)
    return details


def to_document(m: Measurement) -> dict[str, Any]:
    """The stats document: the keys ``parse_stats`` reads first, provenance under ``migspec``."""
    doc: dict[str, Any] = {
        # A string keeps the minor release ("15.18"); parse_stats takes the major from it.
        "pg_version": m.server.version,
        "source": m.source,
        "collected_at": m.collected_at,
        "maintenance_window": m.maintenance_window or "none",
        "host": m.target.as_dict(),
        "system_identifier": m.server.system_identifier,
        "replication_lag_seconds": None if m.replication_lag_seconds is None else round(m.replication_lag_seconds, 3),
        "tables": {str(t.name): _table_document(t, m) for t in m.tables},
        **({"applied_migrations": m.applied_migrations} if m.applied_migrations else {}),
        "migspec": {
            "version": __version__,
            "command": "measure",
            "server_version": m.server.version_text,
            "server_version_num": m.server.version_num,  # exact: 130023 is 13.23
            "standby": m.server.in_recovery,
            "window": {
                "seconds": round(m.window.elapsed, 3),
                "poll_interval_seconds": m.poll_interval,
                "polls": m.window.polls,
                "write_qps_error_bound": round(m.write_qps_error_bound, 3),
            },
            "tables": {str(t.name): _table_details(t) for t in m.tables},
            "warnings": list(m.warnings),
        },
    }
    return doc


def render(doc: dict[str, Any], *, fmt: str = "yaml") -> str:
    if fmt == "json":
        return json.dumps(doc, indent=2) + "\n"
    header = "# migspec measure: production measurements for 'migspec lint --stats' and 'migspec plan --stats'\n"
    return header + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=100)


def check(doc: dict[str, Any], origin: str) -> Stats:
    """The document must parse as a stats file; a failure here is a bug in measure, said plainly."""
    try:
        return parse_stats(json.loads(json.dumps(doc)), origin)
    except InputError as exc:  # pragma: no cover - guards the invariant
        raise AssertionError(f"migspec measure produced a stats document lint rejects: {exc}") from exc


def format_for(path: str | None) -> str:
    return "json" if path and Path(path).suffix.lower() == ".json" else "yaml"


def write(text: str, path: str | Path) -> None:
    """Replace ``path`` atomically: a reader never sees half a stats file."""
    p = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", dir=str(p.parent))
    except OSError as exc:
        raise InputError(f"{p}: cannot write the stats file: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, p)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise InputError(f"{p}: cannot write the stats file: {exc.strerror or exc}") from None


def summary(m: Measurement) -> str:
    """A few lines for the terminal: per table rows, size, writes, lock waits."""
    lines = [f"measured {len(m.tables)} table(s) on {m.target} (PostgreSQL {m.server.version}"
             f"{', standby' if m.server.in_recovery else ''}) over {m.window.elapsed:.1f} s, "
             f"{m.window.polls} polls"]
    width = max((len(str(t.name)) for t in m.tables), default=0)
    for t in m.tables:
        w = t.window
        qps = "unknown" if w.write_qps is None else f"{w.write_qps:.1f}"
        lines.append(f"  {str(t.name):<{width}}  rows {t.size.rows:,}  size {t.size.size_bytes:,} B  "
                     f"write_qps {qps}  lock waits/min {w.lock_waits_per_minute:.1f}  "
                     f"blocked sessions (max) {w.blocked_sessions_max}")
    lines.append(f"  longest transaction {m.window.longest_transaction_seconds:.1f} s; replication lag "
                 + ("none" if m.replication_lag_seconds is None else f"{m.replication_lag_seconds:.1f} s"))
    return "\n".join(lines) + "\n"

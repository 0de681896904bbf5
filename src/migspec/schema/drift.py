"""Schema drift: the plan records the schema of the tables it changes, as it was planned from
(the stats file's schema section, a pg_dump, or a live database); ``apply`` reads the same tables
from the live catalog before the first step and refuses when they differ.

What is compared, per table, object by object: each column (type, NOT NULL, default, identity,
generated expression), constraint (kind, definition, validated), index not owned by a constraint
(definition, valid) and trigger (definition), each spelled one way (``migspec.schema.normal``).
These are the facts every source carries alike; collations, partition bounds, sequences and views
are not compared (the stats file does not record them). Only tables whose whole definition the
source gave (``Table.defined``) are recorded: a table known only by a few column types cannot be
checked, and is not. A partition's constraints and indexes are its parent's (a dump does not list
them), so only its columns and triggers are compared.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from migspec.names import QualifiedName
from migspec.schema.model import Schema, Table, _table


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def objects(table: Table) -> dict[str, str]:
    """``"column qty"`` / ``"constraint orders_pkey"`` / ``"index ..."`` / ``"trigger ..."`` -> a
    short hash of what the object is."""
    canon = _table(table)
    out = {}
    for col in canon["columns"]:
        out[f"column {col['name']}"] = {k: v for k, v in col.items() if k != "collation"}
    for kind in ("constraints", "indexes", "triggers"):
        for name, value in canon[kind].items():
            out[f"{kind[:-1] if kind != 'indexes' else 'index'} {name}"] = value
    return {key: _digest(value)[:16] for key, value in sorted(out.items())}


def record(schema: Schema, tables: list[QualifiedName] | tuple[QualifiedName, ...]) -> dict[str, Any] | None:
    """What the plan file keeps (``schema``): the fingerprint of the tables' objects and the
    objects' hashes, for the tables among ``tables`` the model defines; None when there is none."""
    known = {str(t): objects(schema.tables[t]) for t in sorted(set(tables))
             if t in schema.tables and schema.tables[t].defined}
    if not known:
        return None
    return {"fingerprint": "sha256:" + _digest(known), "tables": known}


def differences(recorded: dict[str, Any], live: Schema) -> list[str]:
    """What differs between the recorded tables and ``live``, one phrase per table, e.g.
    ``public.orders: column qty differs, index orders_x added``."""
    out = []
    for name, then in sorted(recorded.get("tables", {}).items()):
        table = live.tables.get(QualifiedName.parse(name))
        if table is None:
            out.append(f"{name} is missing")
            continue
        now = objects(table)
        if table.partition_of is not None:
            # A partition's keys and indexes are its parent's, copied by PARTITION OF / ATTACH
            # (conparentid, attached indexes): a dump or DDL file does not list them, the catalog
            # does. Its columns and triggers are compared.
            then = {k: v for k, v in then.items() if not k.startswith(("constraint ", "index "))}
            now = {k: v for k, v in now.items() if not k.startswith(("constraint ", "index "))}
        changes = [f"{key} differs" for key in then if key in now and now[key] != then[key]]
        changes += [f"{key} is missing" for key in then if key not in now]
        changes += [f"{key} added" for key in now if key not in then]
        if changes:
            out.append(f"{name}: {', '.join(changes)}")
    return out


def live_tables(recorded: dict[str, Any]) -> set[QualifiedName]:
    return {QualifiedName.parse(name) for name in recorded.get("tables", {})}

"""The differ's view of a live database: the one catalog loader (:func:`migspec.schema.catalog.load_catalog`,
read-only, one snapshot, ``search_path`` emptied so every name comes out schema-qualified) projected
onto what the differ changes (:mod:`migspec.diff.model`).

Objects the differ cannot change (functions, triggers, policies, rules, domains, composite
types, extensions, comments, materialized views, table options) are ``others``
(kind, name) -> definition, so that any difference in them is reported, never skipped. A
partition's copies of its parent's constraints and indexes, NOT NULL constraints (the column's
``not_null``) and the index a constraint owns are left out: the differ changes their owner.
"""

from __future__ import annotations

import psycopg

from migspec.diff.model import Column, Constraint, DiffSchema, EnumType, Index, Sequence, Table, View
from migspec.names import quote_ident
from migspec.schema.catalog import IGNORED_SCHEMAS, load_catalog
from migspec.schema.model import EXCLUDE, NOT_NULL, PRIMARY, UNIQUE

__all__ = ["IGNORED_SCHEMAS", "read_schema"]


def read_schema(conn: psycopg.Connection) -> DiffSchema:
    """The schema of the database ``conn`` is connected to, read-only."""
    model = load_catalog(conn)
    out = DiffSchema(schemas=set(model.schemas), others=dict(model.others))
    for name, t in model.tables.items():
        owned = {c.name for c in t.constraints.values() if c.kind in (PRIMARY, UNIQUE, EXCLUDE)}
        table = out.tables[name] = Table(name, partition_key=t.partition_key, partition_of=t.partition_of,
                                         partition_bound=t.partition_bound)
        for c in t.columns.values():
            table.columns[c.name] = Column(c.name, c.type, c.not_null, c.default,
                                           quote_ident(c.collation) if c.collation else None, c.identity,
                                           c.generated, inherited=c.inherited)
        for c in t.constraints.values():
            if c.kind != NOT_NULL and not c.inherited:
                table.constraints[c.name] = Constraint(c.name, c.kind, c.definition, validated=c.validated)
        for i in t.indexes.values():
            if i.name in owned or i.attached:
                continue
            # "ON ONLY" would build no index on the partitions
            definition = i.definition.replace(" ON ONLY ", " ON ", 1) if t.partition_key else i.definition
            table.indexes[i.name] = Index(i.name, definition, unique=i.unique, valid=i.valid)
        for tr in t.triggers.values():
            out.others[("trigger", f"{tr.name} on {name}")] = tr.definition
    for name, s in model.sequences.items():
        out.sequences[name] = Sequence(name, s.type, s.owned_by, s.start, s.increment, s.minimum, s.maximum,
                                       s.cache, s.cycle)
    for name, e in model.enums.items():
        out.enums[name] = EnumType(name, e.labels)
    for name, v in model.views.items():
        out.views[name] = View(name, v.definition, v.materialized, v.options, v.tables, v.reads)
    return out

"""The stats file's loader: ``migspec measure``'s per-table ``columns`` (name -> type) and
``schema`` section (columns, primary key, constraint / index / trigger definitions) -> the model.
Tables with measured rows are marked ``measured`` (the walk judges them as existing tables)."""

from __future__ import annotations

from migspec.names import identifier
from migspec.schema.model import PRIMARY, Column, Constraint, Index, Schema, Trigger
from migspec.stats import Stats


def from_stats(stats: Stats, into: Schema | None = None) -> Schema:
    schema = into if into is not None else Schema()
    for name, ts in stats.tables.items():
        table = schema.table(name)
        table.measured = ts.rows is not None
        for col, typ in ts.columns.items():
            table.column(col).type = typ
        if ts.schema is None:
            continue
        # Here, not at import: the definitions need the SQL loader (pglast's nodes), lint without
        # a schema section does not.
        from migspec.schema.ddl import constraint_from_definition, index_from_definition

        table.defined = True
        for c in ts.schema.columns:
            table.columns[c.name] = Column(c.name, c.type, c.not_null, c.default, identity=c.identity,
                                           generated=c.generated)
        for cname, definition in ts.schema.constraints.items():
            table.constraints[cname] = constraint_from_definition(cname, definition)
        if ts.schema.primary_key and not table.primary_key:
            pk = tuple(ts.schema.primary_key)
            name = identifier(f"{name.name}_pkey")
            table.constraints[name] = Constraint(name, PRIMARY, f"PRIMARY KEY ({', '.join(pk)})", pk)
        for iname, definition in ts.schema.indexes.items():
            valid = iname not in ts.schema.invalid_indexes
            # An unreadable definition is still replayed by a DOWN as written; it bounds nothing.
            table.indexes[iname] = index_from_definition(iname, definition, valid) or \
                Index(iname, definition, keys=("",), valid=valid)
        for tname, definition in ts.schema.triggers.items():
            table.triggers[tname] = Trigger(tname, definition)
    return schema

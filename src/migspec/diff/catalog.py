"""Read a schema from a live database's catalog, read-only, for the differ.

Every definition is PostgreSQL's own deparse (``format_type``, ``pg_get_expr``,
``pg_get_constraintdef``, ``pg_get_indexdef``, ``pg_get_viewdef``) under an empty ``search_path``,
so names come out schema-qualified and two databases on the same major print equal objects
equally: comparing the text is comparing the objects.

Objects the differ cannot change (functions, triggers, policies, rules, domains, composite
types, extensions, comments, materialized views, table options) are read as ``others``
(kind, name) -> definition, so that any difference in them is reported, never skipped.

Until the one schema model (``migspec.schema``) has its catalog loader, this fills the differ's
own dataclasses (:mod:`migspec.diff.model`), whose fields follow that model's names.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import psycopg

from migspec.diff.model import Column, Constraint, DiffSchema, EnumType, Index, Sequence, Table, View
from migspec.execute.state import SCHEMA as STATE_SCHEMA
from migspec.names import QualifiedName
from migspec.plan.sql import BACKUP_SCHEMA

#: Schemas that are PostgreSQL's or migspec's own bookkeeping (the rollout state, archived drops).
IGNORED_SCHEMAS = ("information_schema", STATE_SCHEMA, BACKUP_SCHEMA)

_SCHEMAS = """
SELECT n.oid, n.nspname FROM pg_namespace n
WHERE n.nspname NOT LIKE 'pg\\_%%' AND n.nspname <> ALL(%(ignored)s)
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_namespace'::regclass AND d.objid = n.oid
                  AND d.deptype = 'e')
"""

_RELATIONS = """
SELECT c.oid, n.nspname, c.relname, c.relkind, c.relispartition,
       CASE WHEN c.relkind = 'p' THEN pg_get_partkeydef(c.oid) END,
       pn.nspname, pc.relname, pg_get_expr(c.relpartbound, c.oid),
       c.relpersistence, c.reloptions, c.relrowsecurity, c.relforcerowsecurity,
       CASE WHEN c.relkind IN ('v', 'm') THEN pg_get_viewdef(c.oid) END,
       obj_description(c.oid, 'pg_class')
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_inherits i ON i.inhrelid = c.oid
LEFT JOIN pg_class pc ON pc.oid = i.inhparent
LEFT JOIN pg_namespace pn ON pn.oid = pc.relnamespace
WHERE c.relnamespace = ANY(%(schemas)s) AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                  AND d.deptype = 'e')
"""

_COLUMNS = """
SELECT a.attrelid, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
       CASE WHEN a.attgenerated = '' THEN pg_get_expr(d.adbin, d.adrelid) END,
       CASE WHEN a.attgenerated <> '' THEN pg_get_expr(d.adbin, d.adrelid) END,
       a.attidentity, CASE WHEN a.attcollation <> t.typcollation THEN quote_ident(co.collname) END,
       a.attislocal, col_description(a.attrelid, a.attnum)
FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
LEFT JOIN pg_collation co ON co.oid = a.attcollation
WHERE a.attrelid = ANY(%(tables)s) AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attrelid, a.attnum
"""

# contype 'n' (PostgreSQL 18's NOT NULL constraints) is the column's not_null; a constraint a
# partition inherits (conislocal false, or a clone of its parent's foreign key) is its parent's.
_CONSTRAINTS = """
SELECT conrelid, conname, contype, pg_get_constraintdef(oid), convalidated,
       obj_description(oid, 'pg_constraint')
FROM pg_constraint
WHERE conrelid = ANY(%(tables)s) AND contype <> 'n' AND conislocal AND conparentid = 0
"""

# Indexes a constraint owns come with the constraint; a partition's index attached to its
# parent's partitioned index comes with the parent's.
_INDEXES = """
SELECT i.indrelid, ic.relname, pg_get_indexdef(i.indexrelid), i.indisvalid, i.indisunique
FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
WHERE i.indrelid = ANY(%(tables)s)
  AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid AND k.conrelid = i.indrelid
                  AND k.contype IN ('p', 'u', 'x'))
  AND NOT EXISTS (SELECT 1 FROM pg_inherits h WHERE h.inhrelid = i.indexrelid)
"""

_SEQUENCES = """
SELECT c.oid, n.nspname, c.relname, format_type(s.seqtypid, NULL), s.seqstart, s.seqincrement, s.seqmin,
       s.seqmax, s.seqcache, s.seqcycle, d.deptype, tn.nspname, tc.relname, a.attname
FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = c.oid
     AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
LEFT JOIN pg_class tc ON tc.oid = d.refobjid LEFT JOIN pg_namespace tn ON tn.oid = tc.relnamespace
LEFT JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
WHERE c.relnamespace = ANY(%(schemas)s)
"""

_ENUMS = """
SELECT n.nspname, t.typname, array_agg(e.enumlabel ORDER BY e.enumsortorder)
FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace JOIN pg_enum e ON e.enumtypid = t.oid
WHERE t.typnamespace = ANY(%(schemas)s)
GROUP BY 1, 2
"""

# What each view reads: relations (refobjsubid 0) and their columns, from the rewrite rule's
# dependencies (what DROP ... CASCADE would follow).
_VIEW_DEPENDENCIES = """
SELECT DISTINCT r.ev_class, d.refobjid, a.attname
FROM pg_rewrite r JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid
LEFT JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid AND d.refobjsubid > 0
WHERE r.ev_class = ANY(%(views)s) AND d.refclassid = 'pg_class'::regclass AND d.refobjid <> r.ev_class
"""

# (kind, name, definition) of everything the differ does not change, to list their differences.
_OTHERS = """
SELECT 'function', p.oid::regprocedure::text,
       CASE WHEN p.prokind IN ('f', 'p') THEN pg_get_functiondef(p.oid) ELSE p.prokind::text END
FROM pg_proc p WHERE p.pronamespace = ANY(%(schemas)s)
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid
                  AND d.deptype = 'e')
UNION ALL
SELECT 'trigger', tgname || ' on ' || tgrelid::regclass::text, pg_get_triggerdef(oid)
FROM pg_trigger WHERE NOT tgisinternal AND tgrelid = ANY(%(tables)s)
UNION ALL
SELECT 'policy', polname || ' on ' || polrelid::regclass::text,
       polcmd::text || ' ' || polpermissive::text || ' ' || coalesce(pg_get_expr(polqual, polrelid), '') || ' '
       || coalesce(pg_get_expr(polwithcheck, polrelid), '') || ' ' || polroles::text
FROM pg_policy WHERE polrelid = ANY(%(tables)s)
UNION ALL
SELECT 'rule', rulename || ' on ' || ev_class::regclass::text, pg_get_ruledef(oid)
FROM pg_rewrite WHERE rulename <> '_RETURN' AND ev_class = ANY(%(relations)s)
UNION ALL
SELECT CASE t.typtype WHEN 'd' THEN 'domain' WHEN 'r' THEN 'range type' WHEN 'm' THEN 'range type'
       ELSE 'composite type' END, t.oid::regtype::text,
       coalesce(format_type(t.typbasetype, t.typtypmod), '') || ' ' || t.typnotnull::text || ' '
       || coalesce(t.typdefault, '') || ' ' || coalesce((SELECT string_agg(pg_get_constraintdef(k.oid), ', '
          ORDER BY k.conname) FROM pg_constraint k WHERE k.contypid = t.oid), '')
       || coalesce((SELECT string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod), ', '
          ORDER BY a.attnum) FROM pg_attribute a WHERE a.attrelid = t.typrelid AND a.attnum > 0), '')
FROM pg_type t LEFT JOIN pg_class c ON c.oid = t.typrelid
WHERE t.typnamespace = ANY(%(schemas)s) AND (t.typtype IN ('d', 'r', 'm') OR (t.typtype = 'c' AND c.relkind = 'c'))
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_type'::regclass AND d.objid = t.oid
                  AND d.deptype = 'e')
UNION ALL
SELECT 'extension', extname, extversion FROM pg_extension WHERE extname <> 'plpgsql'
UNION ALL
SELECT 'comment on type', t.oid::regtype::text, obj_description(t.oid, 'pg_type')
FROM pg_type t WHERE t.typnamespace = ANY(%(schemas)s) AND obj_description(t.oid, 'pg_type') IS NOT NULL
UNION ALL
SELECT 'comment on schema', nspname, obj_description(oid, 'pg_namespace')
FROM pg_namespace WHERE oid = ANY(%(schemas)s) AND obj_description(oid, 'pg_namespace') IS NOT NULL
"""


def read_schema(conn: psycopg.Connection) -> DiffSchema:
    """The schema of the database ``conn`` is connected to. Read-only: one snapshot (REPEATABLE
    READ, READ ONLY), ``search_path`` emptied for the transaction only, nothing written."""
    schema = DiffSchema()
    with conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        conn.execute("SELECT set_config('search_path', '', true)")
        schemas = {oid: name for oid, name in conn.execute(_SCHEMAS, {"ignored": list(IGNORED_SCHEMAS)})}
        schema.schemas = set(schemas.values())
        params: dict[str, Any] = {"schemas": list(schemas)}
        tables: dict[int, Table] = {}
        views: dict[int, View] = {}
        names: dict[int, QualifiedName] = {}
        for (oid, nsp, rel, kind, is_partition, key, pnsp, prel, bound, persistence, options, rls, force_rls,
             viewdef, comment) in conn.execute(_RELATIONS, params):
            name = QualifiedName(nsp, rel)
            names[oid] = name
            if comment is not None:
                schema.others[("comment on relation", str(name))] = comment
            if kind in ("v", "m"):
                views[oid] = schema.views[name] = View(name, viewdef, materialized=kind == "m",
                                                        options=tuple(options or ()))
                continue
            if kind == "f" or (prel is not None and not is_partition):
                schema.others[("foreign table" if kind == "f" else "inheritance", str(name))] = \
                    f"{kind} {pnsp}.{prel}"
                continue
            table = Table(name, partition_key=key,
                          partition_of=QualifiedName(pnsp, prel) if is_partition else None,
                          partition_bound=bound if is_partition else None)
            tables[oid] = schema.tables[name] = table
            flags = [f"persistence={persistence}", f"row security={rls}/{force_rls}", *sorted(options or ())]
            if flags != ["persistence=p", "row security=False/False"]:
                schema.others[("table options", str(name))] = ", ".join(flags)
        params["tables"] = list(tables)
        params["relations"] = list(names)
        for (oid, col, typ, not_null, default, generated, identity, collation, local,
             comment) in conn.execute(_COLUMNS, params):
            table = tables[oid]
            table.columns[col] = Column(col, typ, not_null, default, collation, {"a": "always", "d": "by default"}.get(
                identity), generated, inherited=not local)
            if comment is not None:
                schema.others[("comment on column", f"{table.name}.{col}")] = comment
        for oid, name, kind, definition, validated, comment in conn.execute(_CONSTRAINTS, params):
            tables[oid].constraints[name] = Constraint(name, kind, definition, validated=validated)
            if comment is not None:
                schema.others[("comment on constraint", f"{name} on {tables[oid].name}")] = comment
        for oid, name, definition, valid, unique in conn.execute(_INDEXES, params):
            if tables[oid].partition_key:  # "ON ONLY" would build no index on the partitions
                definition = definition.replace(" ON ONLY ", " ON ", 1)
            tables[oid].indexes[name] = Index(name, definition, unique=unique, valid=valid)
        for (oid, nsp, rel, typ, start, increment, minimum, maximum, cache, cycle, deptype, tnsp, trel,
             attname) in conn.execute(_SEQUENCES, params):
            if deptype == "i":  # an identity column's own sequence: part of the column
                continue
            owner = (QualifiedName(tnsp, trel), attname) if deptype == "a" else None
            schema.sequences[QualifiedName(nsp, rel)] = Sequence(QualifiedName(nsp, rel), typ, owner, start,
                                                                 increment, minimum, maximum, cache, cycle)
        for nsp, typ, labels in conn.execute(_ENUMS, params):
            schema.enums[QualifiedName(nsp, typ)] = EnumType(QualifiedName(nsp, typ), tuple(labels))
        reads: dict[int, set[tuple[QualifiedName, str | None]]] = defaultdict(set)
        for view, ref, column in conn.execute(_VIEW_DEPENDENCIES, {"views": list(views)}):
            if ref in names:
                reads[view].add((names[ref], column))
        for oid, view in views.items():
            view.reads = frozenset(reads[oid])
            view.tables = frozenset(t for t, _ in reads[oid])
        for kind, name, definition in conn.execute(_OTHERS, params):
            schema.others[(kind, name)] = definition
    return schema

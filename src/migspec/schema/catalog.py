"""The catalog loader: a live database -> the schema model, read-only (one REPEATABLE READ, READ
ONLY transaction; ``search_path`` emptied for that transaction only, so every name PostgreSQL
deparses comes out schema-qualified). PostgreSQL 13 to 18.

Every definition is PostgreSQL's own deparse: ``format_type``, ``pg_get_expr``,
``pg_get_constraintdef``, ``pg_get_indexdef``, ``pg_get_triggerdef``, ``pg_get_viewdef``,
``pg_get_partkeydef``; what a view reads comes from its rewrite rule's ``pg_depend`` rows (what
DROP ... CASCADE follows). Objects the model does not describe (functions, policies, rules,
domains, composite and range types, extensions, foreign tables, plain inheritance, comments,
table options) are listed in ``Schema.others`` as (kind, name) -> definition, so a differ can
refuse a change to them instead of skipping it.

The queries started as the differ's reader (branch h15diff, issue 15); they fill the one model.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import psycopg

from migspec.names import QualifiedName
from migspec.schema.ddl import constraint_from_definition, index_from_definition
from migspec.schema.model import NOT_NULL, Column, EnumType, Index, Schema, Sequence, Table, Trigger, View

#: Schemas that are PostgreSQL's or migspec's own bookkeeping (the rollout state, archived drops):
#: migspec.execute.state.SCHEMA and migspec.plan.sql.BACKUP_SCHEMA (named here, not imported: the
#: model sits below both).
IGNORED_SCHEMAS = ("information_schema", "migspec", "migspec_backup")

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
       a.attidentity, CASE WHEN a.attcollation <> t.typcollation THEN co.collname END,
       a.attislocal, col_description(a.attrelid, a.attnum)
FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
LEFT JOIN pg_collation co ON co.oid = a.attcollation
WHERE a.attrelid = ANY(%(tables)s) AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attrelid, a.attnum
"""

# contype 't' is a constraint trigger (listed with the triggers); a validated 'n' (PostgreSQL 18's
# NOT NULL constraints) is the column's attnotnull, its name the column's not_null_name.
_CONSTRAINTS = """
SELECT conrelid, conname, contype, pg_get_constraintdef(oid), convalidated, conislocal AND conparentid = 0,
       obj_description(oid, 'pg_constraint'),
       CASE WHEN contype = 'n' THEN (SELECT attname FROM pg_attribute WHERE attrelid = conrelid AND attnum = conkey[1]) END
FROM pg_constraint
WHERE conrelid = ANY(%(tables)s) AND contype <> 't'
"""

_INDEXES = """
SELECT i.indrelid, ic.relname, pg_get_indexdef(i.indexrelid), i.indisvalid,
       EXISTS (SELECT 1 FROM pg_inherits h WHERE h.inhrelid = i.indexrelid)
FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
WHERE i.indrelid = ANY(%(tables)s)
"""

# A partition's clone of its parent's trigger (tgparentid, PostgreSQL 13+) is the parent's.
_TRIGGERS = """
SELECT tgrelid, tgname, pg_get_triggerdef(oid)
FROM pg_trigger WHERE tgrelid = ANY(%(tables)s) AND NOT tgisinternal AND tgparentid = 0
"""

_SEQUENCES = """
SELECT n.nspname, c.relname, format_type(s.seqtypid, NULL), s.seqstart, s.seqincrement, s.seqmin,
       s.seqmax, s.seqcache, s.seqcycle, d.deptype, tn.nspname, tc.relname, a.attname
FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = c.oid
     AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
LEFT JOIN pg_class tc ON tc.oid = d.refobjid LEFT JOIN pg_namespace tn ON tn.oid = tc.relnamespace
LEFT JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
WHERE c.relnamespace = ANY(%(schemas)s)
"""

_ENUMS = """
SELECT n.nspname, t.typname, array_agg(e.enumlabel::text ORDER BY e.enumsortorder)
FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace JOIN pg_enum e ON e.enumtypid = t.oid
WHERE t.typnamespace = ANY(%(schemas)s)
GROUP BY 1, 2
"""

_VIEW_DEPENDENCIES = """
SELECT DISTINCT r.ev_class, d.refobjid, a.attname
FROM pg_rewrite r JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid
LEFT JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid AND d.refobjsubid > 0
WHERE r.ev_class = ANY(%(views)s) AND d.refclassid = 'pg_class'::regclass AND d.refobjid <> r.ev_class
"""

_OTHERS = """
SELECT 'function', p.oid::regprocedure::text,
       CASE WHEN p.prokind IN ('f', 'p') THEN pg_get_functiondef(p.oid) ELSE p.prokind::text END
FROM pg_proc p WHERE p.pronamespace = ANY(%(schemas)s)
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid
                  AND d.deptype = 'e')
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

_IDENTITY = {"a": "always", "d": "by default"}


def load_catalog(conn: psycopg.Connection, tables: set[QualifiedName] | None = None) -> Schema:
    """The schema of the database ``conn`` is connected to (``tables``: only those tables are
    read in full; views, sequences and enums are always read). Nothing is written; the
    connection's own settings are left as they were."""
    schema = Schema()
    with conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        conn.execute("SELECT set_config('search_path', '', true)")
        namespaces = dict(conn.execute(_SCHEMAS, {"ignored": list(IGNORED_SCHEMAS)}).fetchall())
        schema.schemas = set(namespaces.values())
        params: dict[str, Any] = {"schemas": list(namespaces)}
        by_oid: dict[int, Table] = {}
        views: dict[int, View] = {}
        names: dict[int, QualifiedName] = {}
        for (oid, nsp, rel, kind, is_partition, key, pnsp, prel, bound, persistence, options, rls, force_rls,
             viewdef, comment) in conn.execute(_RELATIONS, params).fetchall():
            name = QualifiedName(nsp, rel)
            names[oid] = name
            if comment is not None:
                schema.others[("comment on relation", str(name))] = comment
            if kind in ("v", "m"):
                views[oid] = schema.views[name] = View(name, viewdef, materialized=kind == "m",
                                                        options=tuple(options or ()))
                continue
            if kind == "f" or (prel is not None and not is_partition):
                schema.others[("foreign table" if kind == "f" else "inheritance", str(name))] = f"{kind} {pnsp}.{prel}"
                continue
            if tables is not None and name not in tables:
                continue
            by_oid[oid] = schema.tables[name] = Table(
                name, partition_key=key, partition_of=QualifiedName(pnsp, prel) if is_partition else None,
                partition_bound=bound if is_partition else None, defined=True)
            flags = [f"persistence={persistence}", f"row security={rls}/{force_rls}", *sorted(options or ())]
            if flags != ["persistence=p", "row security=False/False"]:
                schema.others[("table options", str(name))] = ", ".join(flags)
        params["tables"] = list(by_oid)
        params["relations"] = list(names)
        for (oid, col, typ, not_null, default, generated, identity, collation, local,
             comment) in conn.execute(_COLUMNS, params).fetchall():
            table = by_oid[oid]
            table.columns[col] = Column(col, typ, not_null, default, collation, _IDENTITY.get(identity), generated,
                                        inherited=not local)
            if comment is not None:
                schema.others[("comment on column", f"{table.name}.{col}")] = comment
        for (oid, name, kind, definition, validated, local, comment,
             not_null_of) in conn.execute(_CONSTRAINTS, params).fetchall():
            if kind == NOT_NULL and validated and not_null_of in by_oid[oid].columns:
                by_oid[oid].columns[not_null_of].not_null_name = name
                continue
            con = constraint_from_definition(name, definition)
            con.kind, con.validated, con.inherited = kind, validated, not local
            if kind == NOT_NULL and con.columns:
                con.not_null_column = con.columns[0]
            by_oid[oid].constraints[name] = con
            if comment is not None:
                schema.others[("comment on constraint", f"{name} on {by_oid[oid].name}")] = comment
        for oid, name, definition, valid, attached in conn.execute(_INDEXES, params).fetchall():
            by_oid[oid].indexes[name] = index_from_definition(name, definition, valid) or \
                Index(name, definition, keys=("",), valid=valid)
            by_oid[oid].indexes[name].attached = attached
        for oid, name, definition in conn.execute(_TRIGGERS, params).fetchall():
            by_oid[oid].triggers[name] = Trigger(name, definition)
        for (nsp, rel, typ, start, increment, minimum, maximum, cache, cycle, deptype, tnsp, trel,
             attname) in conn.execute(_SEQUENCES, params).fetchall():
            if deptype == "i":  # an identity column's own sequence: part of the column
                continue
            name = QualifiedName(nsp, rel)
            owner = (QualifiedName(tnsp, trel), attname) if deptype == "a" else None
            schema.sequences[name] = Sequence(name, typ, owner, start, increment, minimum, maximum, cache, cycle)
        for nsp, typ, labels in conn.execute(_ENUMS, params).fetchall():
            schema.enums[QualifiedName(nsp, typ)] = EnumType(QualifiedName(nsp, typ), tuple(labels))
        reads: dict[int, set[tuple[QualifiedName, str | None]]] = defaultdict(set)
        for view, ref, column in conn.execute(_VIEW_DEPENDENCIES, {"views": list(views)}).fetchall():
            if ref in names:
                reads[view].add((names[ref], column))
        for oid, view in views.items():
            view.reads = frozenset(reads[oid])
            view.tables = frozenset(t for t, _ in reads[oid])
            view.columns = frozenset(c for _, c in reads[oid] if c is not None)
        for kind, name, definition in conn.execute(_OTHERS, params).fetchall():
            schema.others[(kind, name)] = definition
    return schema


def load_dsn(dsn: str, tables: set[QualifiedName] | None = None) -> Schema:
    """The schema behind ``--dsn``, read-only (a DsnError, exit 2, when it cannot connect)."""
    from migspec.dsn import connect

    with connect(dsn, application_name="migspec schema", autocommit=False) as conn:
        conn.read_only = True
        return load_catalog(conn, tables)

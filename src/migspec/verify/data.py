"""Synthetic rows that a real schema accepts: one SQL expression per column in terms of a row
number ``g``, so that the loader (``INSERT ... SELECT ... FROM generate_series(1, N) g``) and the
writers (one fresh ``g`` per INSERT) use the same generator.

Why it satisfies the schema: every expression is injective in ``g`` (unique constraints hold), no
value is NULL (NOT NULL holds, and so does a later SET NOT NULL of the migration), a foreign key
column takes the referenced column's own expression at ``((g - 1) % N) + 1`` - a row the parent
has, because parents are loaded first with the same N - and a CHECK of the form
``col IN (...)`` / ``col = ANY (ARRAY[...])`` cycles through its list. Anything else a schema
demands (other CHECKs, exotic types without a default) is a clear error naming the column.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import psycopg

from migspec.errors import InputError
from migspec.frozen import field, record
from migspec.names import quote_ident, quote_literal
from migspec.verify.trace import SYSTEM_SCHEMA_FILTER

Template = Callable[[str], str]  # SQL for the row number -> SQL for the column's value


@record
class Column:
    name: str
    sql_type: str  # format_type(), the cast target
    base: str  # base type name (domains resolved)
    typtype: str  # 'b' base, 'e' enum, 'd' domain...
    category: str  # typcategory of the base type ('A' array)
    element: str | None  # element type name of an array
    typmod: int
    not_null: bool
    has_default: bool
    identity: str  # '', 'a' (ALWAYS), 'd' (BY DEFAULT)
    generated: str  # '', 's' (STORED)
    enum_type: str | None = None  # the enum's qualified name, for enum_range()
    choices: tuple[str, ...] = ()  # literals a CHECK allows


@record
class TableModel:
    oid: int
    name: str  # schema-qualified, quoted
    columns: dict[str, Column]
    key: tuple[str, ...]  # primary key, else the first unique NOT NULL index
    foreign_keys: list[tuple[tuple[str, ...], int, tuple[str, ...]]] = field(default_factory=list)
    templates: dict[str, Template] = field(default_factory=dict)
    #: CHECK expressions (pg_get_constraintdef without "CHECK") and the columns each names:
    #: generated rows that fail one are filtered out instead of failing the load.
    checks: list[tuple[str, frozenset[str]]] = field(default_factory=list)

    @property
    def insertable(self) -> list[str]:
        return [c for c in self.columns if c in self.templates]

    def select_list(self, g: str, only: list[str] | None = None) -> str:
        names = only if only is not None else self.insertable
        return ", ".join(f"CAST({self.templates[c](g)} AS {self.columns[c].sql_type})" for c in names)

    def writer_columns(self, application: list[str] | None = None, avoid: set[str] = frozenset()) -> list[str]:
        """Columns an application's INSERT names: the key, the ``application`` columns (those the
        table had before the migration: the old application writes complete rows, so a column the
        migration makes NOT NULL holds no NULLs), and every NOT NULL column without a default.
        ``avoid``: columns the phase drops or renames, which an application stops naming."""
        out = [c for c in self.key if c in self.templates]
        for name in application or ():
            if name in self.templates and name not in out and name not in avoid and not self.columns[name].identity:
                out.append(name)
        for name, col in self.columns.items():
            if name in out or name in avoid or col.generated or col.identity or col.has_default or not col.not_null:
                continue
            if name not in self.templates:
                raise InputError(f"{self.name}.{quote_ident(name)}: NOT NULL {col.sql_type} without a default: "
                                 "migspec cannot make up values of this type")
            out.append(name)
        return out

    def touch_column(self) -> str | None:
        """A column an UPDATE can set to itself: a key column unless it is GENERATED/identity ALWAYS
        (PostgreSQL refuses ``SET col = col`` on those, pgroll #1035)."""
        for name in (*self.key, *self.columns):
            col = self.columns.get(name)
            if col is not None and not col.generated and col.identity != "a":
                return name
        return None


# typname of the base type -> expression of the row number g (a bigint >= 1)
def _text(col: Column) -> Template:
    length = col.typmod - 4 if col.base in ("varchar", "bpchar") and col.typmod > 4 else None
    if length is not None and length < 12:
        # The last hex digits stay unique for 16**length rows (varchar(5): 1,048,575).
        return lambda g: f"right(to_hex({g}), {length})"
    return lambda g: f"('v' || ({g})::text)"


def _numeric(col: Column) -> Template:
    if col.typmod > 4:
        precision, scale = ((col.typmod - 4) >> 16) & 0xFFFF, (col.typmod - 4) & 0xFFFF
        digits = precision - scale
        if digits <= 0:
            return lambda g: "0"
        if digits < 18:
            return lambda g: f"(({g}) % {10 ** digits})"
    return lambda g: f"({g})"


_SIMPLE: dict[str, Template] = {
    "int2": lambda g: f"(({g}) % 32767)",
    "int4": lambda g: f"(({g}) % 2147483647)",
    "int8": lambda g: f"({g})",
    "float4": lambda g: f"({g})::float4",
    "float8": lambda g: f"({g})::float8",
    "money": lambda g: f"({g})::numeric::money",
    "bool": lambda g: f"(({g}) % 2 = 0)",
    "uuid": lambda g: f"md5(({g})::text)::uuid",
    "date": lambda g: f"(date '2000-01-01' + (({g}) % 2000000)::int)",
    "timestamp": lambda g: f"(timestamp '2024-01-01' + ({g}) * interval '1 second')",
    "timestamptz": lambda g: f"(timestamptz '2024-01-01 00:00:00+00' + ({g}) * interval '1 second')",
    "time": lambda g: f"(time '00:00' + (({g}) % 86400) * interval '1 second')",
    "timetz": lambda g: f"(timetz '00:00+00' + (({g}) % 86400) * interval '1 second')",
    "interval": lambda g: f"(({g}) * interval '1 second')",
    "json": lambda g: f"json_build_object('g', {g})",
    "jsonb": lambda g: f"jsonb_build_object('g', {g})",
    "bytea": lambda g: f"int8send(({g})::bigint)",
    "inet": lambda g: f"('10.0.0.0'::inet + ({g}))",
    "cidr": lambda g: f"('10.0.0.0'::inet + ({g}))::cidr",
    "macaddr": lambda g: f"lpad(to_hex(({g}) % 281474976710656), 12, '0')::macaddr",
    "oid": lambda g: f"(({g}) % 4294967295)::oid",
}
_TEXT = {"text", "varchar", "bpchar", "name", "citext"}


def base_template(col: Column) -> Template | None:
    if col.choices:
        choices = ", ".join(col.choices)
        return lambda g: f"(ARRAY[{choices}])[1 + (({g}) % {len(col.choices)})]"
    if col.enum_type:
        t = col.enum_type
        return lambda g: f"(enum_range(NULL::{t}))[1 + (({g}) % array_length(enum_range(NULL::{t}), 1))]"
    if col.category == "A" and col.element:
        inner = base_template(Column(col.name, col.element, col.element, "b", "", None, -1, False, False, "", ""))
        return None if inner is None else (lambda g: f"ARRAY[{inner(g)}]")
    if col.base in _TEXT:
        return _text(col)
    if col.base == "numeric":
        return _numeric(col)
    return _SIMPLE.get(col.base)


_COLUMNS = f"""
SELECT a.attrelid::bigint, a.attname, format_type(a.atttypid, a.atttypmod), b.typname, b.typtype::text,
       b.typcategory::text, e.typname, CASE WHEN t.typtype = 'd' THEN t.typtypmod ELSE a.atttypmod END,
       a.attnotnull, a.atthasdef, a.attidentity::text, a.attgenerated::text,
       CASE WHEN b.typtype = 'e' THEN format('%I.%I', bn.nspname, b.typname) END
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_type t ON t.oid = a.atttypid
JOIN pg_type b ON b.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END
JOIN pg_namespace bn ON bn.oid = b.typnamespace
LEFT JOIN pg_type e ON e.oid = b.typelem AND b.typcategory = 'A'
WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND a.attnum > 0 AND NOT a.attisdropped
  AND {SYSTEM_SCHEMA_FILTER} AND n.nspname <> 'migspec_backup'
ORDER BY a.attrelid, a.attnum
"""

_TABLES = f"""
SELECT c.oid::bigint, format('%I.%I', n.nspname, c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND {SYSTEM_SCHEMA_FILTER} AND n.nspname <> 'migspec_backup'
ORDER BY 2
"""

# Primary key first, then unique indexes whose columns are all NOT NULL (plain columns only).
_KEYS = """
SELECT i.indrelid::bigint, array_agg(a.attname ORDER BY k.ord)
FROM pg_index i CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
WHERE i.indisunique AND i.indisvalid AND i.indpred IS NULL AND i.indexprs IS NULL
GROUP BY i.indrelid, i.indexrelid, i.indisprimary
HAVING bool_and(a.attnotnull)
ORDER BY i.indrelid, i.indisprimary DESC, i.indexrelid
"""

_FKEYS = """
SELECT k.conrelid::bigint, k.confrelid::bigint,
       (SELECT array_agg(a.attname ORDER BY x.ord) FROM unnest(k.conkey) WITH ORDINALITY x(n, ord)
        JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = x.n),
       (SELECT array_agg(a.attname ORDER BY x.ord) FROM unnest(k.confkey) WITH ORDINALITY x(n, ord)
        JOIN pg_attribute a ON a.attrelid = k.confrelid AND a.attnum = x.n)
FROM pg_constraint k WHERE k.contype = 'f'
"""

_CHECKS = "SELECT k.conrelid::bigint, pg_get_constraintdef(k.oid) FROM pg_constraint k WHERE k.contype = 'c' AND k.conrelid <> 0"


ForeignKey = tuple[str, tuple[str, ...], str, tuple[str, ...]]  # table, columns, referenced table, columns


def table_models(conn: psycopg.Connection, rows: int, extra_foreign_keys: Sequence[ForeignKey] = ()
                 ) -> dict[int, TableModel]:
    """Every user table with a generator per column it can fill; ``rows`` is the N the parents
    were (or will be) loaded with, which the foreign key expressions point into.
    ``extra_foreign_keys`` are keys the migration will add: the rows must satisfy them already."""
    models: dict[int, TableModel] = {int(oid): TableModel(int(oid), name, {}, ()) for oid, name in conn.execute(_TABLES)}
    for (relid, name, sql_type, base, typtype, category, element, typmod, not_null, has_default, identity,
         generated, enum_type) in conn.execute(_COLUMNS):
        m = models.get(int(relid))
        if m is not None:
            m.columns[name] = Column(name, sql_type, base, typtype, category, element, typmod, not_null,
                                     has_default, identity, generated, enum_type)
    for relid, key in conn.execute(_KEYS):
        m = models.get(int(relid))
        if m is not None and not m.key:
            m.key = tuple(key)
    for relid, definition in conn.execute(_CHECKS):
        m = models.get(int(relid))
        if m is not None:
            for column, literals in _check_choices(definition):
                if column in m.columns:
                    m.columns[column].choices = literals
            check = _check_expression(definition)
            if check is not None:
                m.checks.append(check)
    for relid, parent, cols, pcols in conn.execute(_FKEYS):
        m = models.get(int(relid))
        if m is not None and int(parent) in models:
            m.foreign_keys.append((tuple(cols), int(parent), tuple(pcols)))
    by_name = {m.name: m for m in models.values()}
    for table, cols, ref, ref_cols in extra_foreign_keys:
        child, parent = by_name.get(table), by_name.get(ref)
        if child is not None and parent is not None:
            ref_cols = ref_cols or parent.key
            if len(ref_cols) == len(cols) and not any(cols == c for c, _, _ in child.foreign_keys):
                child.foreign_keys.append((tuple(cols), parent.oid, tuple(ref_cols)))
    for m in models.values():
        for name, col in m.columns.items():
            if col.generated:
                continue
            t = base_template(col)
            if t is not None:
                m.templates[name] = t
    # Foreign key columns point at a row the parent has: the parent's expression at a row number
    # in 1..N. A chain (the parent column is itself a foreign key) resolves from the top.
    resolving: set[tuple[int, str]] = set()

    def resolve(model: TableModel, column: str) -> Template | None:
        for cols, parent, pcols in model.foreign_keys:
            if column in cols:
                pcol = pcols[cols.index(column)]
                if (parent, pcol) in resolving:
                    return model.templates.get(column)
                resolving.add((parent, pcol))
                try:
                    parent_t = resolve(models[parent], pcol)
                finally:
                    resolving.discard((parent, pcol))
                if parent_t is None:
                    return None
                return lambda g, p=parent_t: p(f"((({g}) - 1) % {rows} + 1)")
        return model.templates.get(column)

    fk_templates = {(m.oid, c): resolve(m, c) for m in models.values() for cols, _, _ in m.foreign_keys for c in cols}
    for (oid, column), t in fk_templates.items():
        if t is None:
            models[oid].templates.pop(column, None)
        else:
            models[oid].templates[column] = t
    return models


def _check_choices(definition: str) -> list[tuple[str, tuple[str, ...]]]:
    """``CHECK ((status = ANY (ARRAY['a'::text, 'b'::text])))`` and ``CHECK (x IN (1, 2))`` ->
    [("status", ("'a'::text", "'b'::text"))]; anything else -> []."""
    from pglast import ast, enums, parse_sql

    from migspec.parse.source import iter_nodes
    from migspec.schema import sql_of

    if not definition.startswith("CHECK "):
        return []
    try:
        stmt = parse_sql(f"SELECT 1 WHERE {definition[len('CHECK '):].removesuffix(' NOT VALID')}")[0].stmt
    except Exception:  # a CHECK we cannot read gives no choices; the insert will say what failed
        return []
    out = []
    for node in iter_nodes(stmt.whereClause):
        if not isinstance(node, ast.A_Expr) or not isinstance(node.lexpr, ast.ColumnRef):
            continue
        column = getattr(node.lexpr.fields[-1], "sval", None)
        items: tuple | None = None
        if node.kind == enums.A_Expr_Kind.AEXPR_IN and isinstance(node.rexpr, (list, tuple)):
            items = tuple(node.rexpr)
        elif node.kind == enums.A_Expr_Kind.AEXPR_OP_ANY and isinstance(node.rexpr, ast.A_ArrayExpr):
            items = tuple(node.rexpr.elements or ())
        if column and items:
            out.append((column, tuple(sql_of(i) for i in items)))
    return out


def _check_expression(definition: str) -> tuple[str, frozenset[str]] | None:
    """``CHECK ((amount >= 0))`` -> ("(amount >= 0)", {"amount"}); None when unreadable."""
    if not definition.startswith("CHECK "):
        return None
    expr = definition[len("CHECK "):].removesuffix(" NOT VALID").removesuffix(" NO INHERIT")
    from pglast import ast, parse_sql

    from migspec.parse.source import iter_nodes

    try:
        stmt = parse_sql(f"SELECT 1 WHERE {expr}")[0].stmt
    except Exception:  # pglast's errors vary by version; an unreadable CHECK filters nothing
        return None

    names = frozenset(n.fields[-1].sval for n in iter_nodes(stmt.whereClause)
                      if isinstance(n, ast.ColumnRef) and isinstance(n.fields[-1], ast.String))
    return expr, names


def with_parents(models: dict[int, TableModel], names: set[str]) -> dict[int, TableModel]:
    """Only the tables named (those the migration touches) and the tables their foreign keys
    point to, transitively: the rest of a large schema needs no rows to prove the plan (issue 12:
    57 tables loaded for a migration touching 2). No names: every table."""
    keep = {oid for oid, m in models.items() if m.name in names}
    if not keep:
        return models
    todo = list(keep)
    while todo:
        for _, parent, _ in models[todo.pop()].foreign_keys:
            if parent in models and parent not in keep:
                keep.add(parent)
                todo.append(parent)
    return {oid: m for oid, m in models.items() if oid in keep}


def load_order(models: dict[int, TableModel]) -> list[TableModel]:
    """Parents before children (self references need no order: the statement checks them at its end)."""
    order: list[TableModel] = []
    state: dict[int, int] = {}  # 1 visiting, 2 done

    def visit(oid: int, path: list[str]) -> None:
        if state.get(oid) == 2:
            return
        if state.get(oid) == 1:
            raise InputError("cannot load synthetic rows: foreign keys form a cycle: " + " -> ".join(path))
        state[oid] = 1
        m = models[oid]
        for _, parent, _ in m.foreign_keys:
            if parent != oid:
                visit(parent, [*path, models[parent].name])
        state[oid] = 2
        order.append(m)

    for oid in sorted(models, key=lambda o: models[o].name):
        visit(oid, [models[oid].name])
    return order


def insert_sql(model: TableModel, g: str, source: str, columns: list[str] | None = None) -> str:
    names = columns if columns is not None else model.insertable
    if not names:  # every column has a default: a zero-column SELECT inserts default rows
        return f"INSERT INTO {model.name} SELECT FROM {source}"
    overriding = " OVERRIDING SYSTEM VALUE" if any(model.columns[c].identity == "a" for c in names) else ""
    target = f"INSERT INTO {model.name} ({', '.join(quote_ident(c) for c in names)}){overriding} "
    # Generated values a CHECK of the table would reject are left out, not inserted: the CHECK's
    # own expression filters them (over the generated values, named as the columns).
    checks = [expr for expr, cols in model.checks if cols and cols <= set(names)]
    if not checks:
        return target + f"SELECT {model.select_list(g, names)} FROM {source}"
    return target + (f"SELECT * FROM (SELECT {model.select_list(g, names)} FROM {source}) AS r"
                     f"({', '.join(quote_ident(c) for c in names)}) WHERE {' AND '.join(checks)}")


def load(conn: psycopg.Connection, rows: int, models: dict[int, TableModel], log: Callable[[str], None]) -> None:
    """N rows in every table of ``models``, parents first; sequences moved past the values used;
    VACUUM ANALYZE, as a long-lived table would have had."""
    # The schema's own triggers do not run for the synthetic rows (replica role: an audit or
    # validation trigger of the real schema would reject or multiply them); the rows satisfy the
    # foreign keys by construction and the CHECKs by the filter in insert_sql.
    conn.execute("SET session_replication_role = replica")
    try:
        for m in load_order(models):
            m.writer_columns()  # a NOT NULL column nobody can fill: say which, before inserting anything
            try:
                conn.execute(insert_sql(m, "g", f"generate_series(1, {int(rows)}) AS s(g)"))
            except psycopg.Error as exc:
                raise InputError(f"cannot load synthetic rows into {m.name}: {str(exc).strip().splitlines()[0]} "
                                 "(a constraint rejects the generated values; give a simpler schema)") from None
    finally:
        conn.execute("RESET session_replication_role")
    # Serial and identity columns got explicit values: move their sequences past them so that a
    # DEFAULT-filled insert (the writers', the migration's) does not collide.
    for seq, table, column in conn.execute(
            "SELECT format('%I.%I', sn.nspname, s.relname), format('%I.%I', tn.nspname, t.relname), a.attname "
            "FROM pg_depend d JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S' JOIN pg_namespace sn ON "
            "sn.oid = s.relnamespace JOIN pg_class t ON t.oid = d.refobjid JOIN pg_namespace tn ON tn.oid = "
            "t.relnamespace JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid "
            "WHERE d.classid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')").fetchall():
        conn.execute(f"SELECT setval({quote_literal(seq)}, greatest(max({quote_ident(column)})::bigint, 1)) FROM {table}")
    conn.execute("VACUUM (ANALYZE)")
    log(f"loaded {rows:,} synthetic rows into each of {len(models)} table(s)")

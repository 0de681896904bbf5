"""The static loader: SQL text (a ``pg_dump --schema-only`` file, a DDL file, or a migration's own
statements) -> the schema model, without a server. pglast parses; each statement that defines
schema updates the model (CREATE TABLE / INDEX / VIEW / MATERIALIZED VIEW / SEQUENCE / TYPE AS
ENUM / TRIGGER, ALTER TABLE's column and constraint commands, ATTACH PARTITION, ALTER SEQUENCE
OWNED BY, ALTER TYPE ADD VALUE, DROP and RENAME of those). Other statements are skipped: they
change no schema the model describes (GRANT, COMMENT, SET, functions)."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from pglast import ast, enums
from pglast.stream import RawStream
from pglast.visitors import Continue, Visitor

from migspec.errors import InputError
from migspec.frozen import replace
from migspec.names import QualifiedName, identifier
from migspec.ops.expressions import Expression
from migspec.parse.source import Statement, iter_nodes, parse_text, read_text
from migspec.parse.tree import pglast_node
from migspec.schema.model import (CHECK, EXCLUDE, FOREIGN, NOT_NULL, PRIMARY, UNIQUE, Column, Constraint, EnumType,
                                  Index, Schema, Sequence, Table, Trigger, View)

AT = enums.AlterTableType
CT = enums.ConstrType
_KINDS = {CT.CONSTR_PRIMARY: PRIMARY, CT.CONSTR_UNIQUE: UNIQUE, CT.CONSTR_CHECK: CHECK,
          CT.CONSTR_FOREIGN: FOREIGN, CT.CONSTR_EXCLUSION: EXCLUDE, CT.CONSTR_NOTNULL: NOT_NULL}
#: PostgreSQL's suffix for an unnamed constraint's generated name (ChooseConstraintName callers).
_SUFFIX = {PRIMARY: "pkey", UNIQUE: "key", CHECK: "check", FOREIGN: "fkey", EXCLUDE: "excl", NOT_NULL: "not_null"}


def sql_of(node: ast.Node | Expression) -> str:
    """pglast's printer: re-prints a user's expression or definition exactly as PostgreSQL parses it
    (an operation's Expression is re-read with pglast first: migspec.parse.tree)."""
    return _Stream()(pglast_node(node))


class _Ancestry(Visitor):
    """Sets every node's ``ancestors``, as :func:`pglast.visitors.populate_ancestors` does, with
    pglast's own walk (``Visitor.iterate``): that function defines a Visitor class and inspects its
    methods on every call, half of printing a column's type or default (a schema's model prints
    hundreds; bench/s_target.py)."""

    def __call__(self, tree: Any) -> None:
        walk = self.iterate(tree)
        try:
            ancestors, node = walk.send(None)
            while True:
                node.ancestors = ancestors
                ancestors, node = walk.send(Continue)
        except StopIteration:
            pass


_ANCESTRY = _Ancestry()


class _Stream(RawStream):
    """RawStream printing one node, its ancestry set by :class:`_Ancestry` (the same as
    ``RawStream.__call__`` sets for a single node: the node as the only item of a tuple)."""

    def __call__(self, sql: Any, plpgsql: bool = False) -> str:
        if not isinstance(sql, ast.Node) or isinstance(sql, ast.RawStmt):
            return super().__call__(sql, plpgsql)
        _ANCESTRY((sql,))
        self.print_node(sql)
        return self.getvalue()


def _name(rv: ast.RangeVar) -> QualifiedName:
    return QualifiedName(rv.schemaname or "public", rv.relname)


def _names(parts: Any) -> QualifiedName:
    names = [p.sval for p in parts]
    return QualifiedName(names[-2] if len(names) > 1 else "public", names[-1])


# Ownership and privileges name roles a scratch server does not have; they change nothing the
# model describes (nor what verify checks: locks, rewrites, catalog shape).
_SKIPPED = ("AlterOwnerStmt", "GrantStmt", "GrantRoleStmt", "AlterDefaultPrivilegesStmt")


def _skip(tree: dict[str, Any]) -> bool:
    """On the parse tree (libpg_query's JSON), not pglast's node: building the nodes of a whole
    dump is most of reading it, and a scratch server needs only the SQL (bench/s_target.py)."""
    if not isinstance(tree, dict):  # a framework's placeholder comment (parse.source.Placeholder)
        return False
    kind, body = next(iter(tree.items()), ("", {}))
    if kind in _SKIPPED:
        return True
    if kind == "AlterTableStmt":
        return all(c["AlterTableCmd"].get("subtype") == "AT_ChangeOwner" for c in body.get("cmds") or ())
    return False


def schema_statements(text: str, origin: str) -> list[Statement]:
    """The statements of a dump or DDL file worth running on a scratch server. psql meta-commands
    (\\connect, \\restrict ...) are not SQL: blanked, keeping line numbers."""
    text = "\n".join("" if line.lstrip().startswith("\\") else line for line in text.splitlines())
    return [s for s in parse_text(text, origin) if not _skip(s.tree)]


def ddl_statements(text: str, origin: str) -> list[Statement]:
    """:func:`schema_statements` of a file that must have some (a schema to apply): none is bad
    input."""
    statements = schema_statements(text, origin)
    if not statements:
        raise InputError(f"{origin}: no SQL statements: give a 'pg_dump --schema-only' or DDL file")
    return statements


def dump_statements(text: str, origin: str) -> list[tuple[str, str, object]]:
    """(location, SQL, node) of every statement of :func:`schema_statements`."""
    return [(str(s.location), s.sql, s.node) for s in schema_statements(text, origin)]


def load_ddl(text: str, origin: str = "<ddl>", into: Schema | None = None) -> Schema:
    """SQL text -> the model (``into``: add to that one)."""
    schema = into if into is not None else Schema()
    for _, _, node in dump_statements(text, origin):
        learn(schema, node)
    return schema


def load_schema_file(path: str | Path, into: Schema | None = None) -> Schema:
    """A ``pg_dump --schema-only`` (or any DDL) file -> the model."""
    p = Path(path)
    return load_ddl(read_text(p), str(p), into)


def learn(schema: Schema, node: object) -> None:
    """Record what one statement says about the schema (see the module docstring): from a dump,
    or from the migration itself as the planner walks it - a table it creates needs no measurement
    (it is empty), and a later step's DOWN restores the state the earlier steps left (DROP NOT
    NULL then DROP COLUMN: the column's DOWN must not SET NOT NULL a second time)."""
    if isinstance(node, ast.CreateStmt):
        _create(schema, node)
    elif isinstance(node, ast.AlterTableStmt) and node.relation is not None:
        if node.objtype == enums.ObjectType.OBJECT_SEQUENCE:
            return
        _alter(schema, _name(node.relation), node)
    elif isinstance(node, ast.IndexStmt) and node.idxname:
        t = _name(node.relation)
        schema.table(t).indexes[node.idxname] = index_from_node(node)
    elif isinstance(node, ast.ViewStmt):
        _view(schema, _name(node.view), node.query, False)
    elif isinstance(node, ast.CreateTableAsStmt) and node.objtype == enums.ObjectType.OBJECT_MATVIEW:
        _view(schema, _name(node.into.rel), node.query, True)
    elif isinstance(node, ast.CreateTrigStmt):
        schema.table(_name(node.relation)).triggers[node.trigname] = Trigger(node.trigname, sql_of(node))
    elif isinstance(node, ast.CreateSeqStmt):
        name = _name(node.sequence)
        seq = schema.sequences.setdefault(name, Sequence(name))
        _sequence_options(schema, seq, node.options)
    elif isinstance(node, ast.AlterSeqStmt) and node.sequence is not None:
        seq = schema.sequences.get(_name(node.sequence))
        if seq is not None:
            _sequence_options(schema, seq, node.options)
    elif isinstance(node, ast.CreateEnumStmt):
        name = _names(node.typeName)
        schema.enums[name] = EnumType(name, tuple(v.sval for v in node.vals or ()))
    elif isinstance(node, ast.AlterEnumStmt) and node.newVal:
        _enum_value(schema, node)
    elif isinstance(node, ast.DropStmt):
        _drop(schema, node)
    elif isinstance(node, ast.RenameStmt):
        _rename(schema, node)


def _create(schema: Schema, node: ast.CreateStmt) -> None:
    t = _name(node.relation)
    table = schema.table(t)
    table.defined = True
    if node.partbound is not None and node.inhRelations:
        # PARTITION OF: the parent's columns first, as PostgreSQL copies them (attislocal false).
        parent = schema.tables.get(_name(node.inhRelations[0]))
        for col in parent.columns.values() if parent else ():
            table.columns[col.name] = replace(col, inherited=True, default=None) if col.generated is None \
                else replace(col, inherited=True)
    for elt in node.tableElts or ():
        if isinstance(elt, ast.ColumnDef) and elt.typeName is not None:
            _column(table, elt)
        elif isinstance(elt, ast.Constraint):
            _constraint(table, elt)
    if node.partspec is not None:
        strategy, _, key = sql_of(node.partspec).partition(" ")
        table.partition_key = f"{strategy.upper()} {key}"  # as pg_get_partkeydef writes it: RANGE (at)
    if node.partbound is not None and node.inhRelations:
        table.partition_of = _name(node.inhRelations[0])
        table.partition_bound = sql_of(node.partbound)


def _alter(schema: Schema, t: QualifiedName, node: ast.AlterTableStmt) -> None:
    table = schema.table(t)
    for cmd in node.cmds or ():
        sub = cmd.subtype
        col = table.columns.get(cmd.name) if cmd.name else None
        if sub == AT.AT_AddConstraint:
            _constraint(table, cmd.def_)
        elif sub == AT.AT_AddColumn and cmd.def_.typeName is not None:
            _column(table, cmd.def_)
        elif sub == AT.AT_DropColumn:
            table.columns.pop(cmd.name, None)
        elif sub in (AT.AT_DropNotNull, AT.AT_SetNotNull) and col:
            col.not_null = sub == AT.AT_SetNotNull
        elif sub == AT.AT_ColumnDefault and col:
            col.default = sql_of(cmd.def_) if cmd.def_ is not None else None
        elif sub == AT.AT_AlterColumnType and col and cmd.def_ is not None and cmd.def_.typeName is not None:
            col.type, col.parsed = sql_of(cmd.def_.typeName), None
            if cmd.def_.collClause is not None:
                col.collation = _collation(cmd.def_.collClause)
        elif sub == AT.AT_AddIdentity and col and isinstance(cmd.def_, ast.Constraint):
            col.identity = _identity(cmd.def_)
            col.not_null = True
        elif sub == AT.AT_DropIdentity and col:
            col.identity = None
        elif sub == AT.AT_DropConstraint:
            table.constraints.pop(cmd.name, None)
        elif sub == AT.AT_ValidateConstraint and cmd.name in table.constraints:
            table.constraints[cmd.name].validated = True
        elif sub == AT.AT_AttachPartition and isinstance(cmd.def_, ast.PartitionCmd):
            child = schema.table(_name(cmd.def_.name))
            child.partition_of = t
            child.partition_bound = sql_of(cmd.def_.bound) if cmd.def_.bound is not None else None
        elif sub == AT.AT_DetachPartition and isinstance(cmd.def_, ast.PartitionCmd):
            child = schema.table(_name(cmd.def_.name))
            child.partition_of = child.partition_bound = None


def _identity(con: ast.Constraint) -> str:
    return "always" if con.generated_when == "a" else "by default"


def _collation(clause: ast.CollateClause) -> str:
    names = [n.sval for n in clause.collname]
    return ".".join(names[1:] if names[0] == "pg_catalog" and len(names) > 1 else names)  # pg_dump qualifies


def _column(table: Table, elt: ast.ColumnDef) -> None:
    col = Column(elt.colname, sql_of(elt.typeName), bool(elt.is_not_null))
    if elt.collClause is not None:
        col.collation = _collation(elt.collClause)
    table.columns[elt.colname] = col
    for con in elt.constraints or ():
        if con.contype == CT.CONSTR_NOTNULL:
            col.not_null = True
        elif con.contype == CT.CONSTR_NULL:
            col.not_null = False
        elif con.contype == CT.CONSTR_DEFAULT and con.raw_expr is not None:
            col.default = sql_of(con.raw_expr)
        elif con.contype == CT.CONSTR_IDENTITY:
            col.identity, col.not_null = _identity(con), True
        elif con.contype == CT.CONSTR_GENERATED and con.raw_expr is not None:
            col.generated = sql_of(con.raw_expr)
        elif con.contype in _KINDS:
            _constraint(table, con, elt.colname)


def _constraint(table: Table, con: ast.Constraint, column: str | None = None) -> None:
    kind = _KINDS.get(con.contype)
    if kind is None:
        return
    keys = tuple(k.sval for k in (con.fk_attrs if kind == FOREIGN else con.keys) or ())
    if not keys and column and kind != CHECK:
        keys = (column,)
    if kind == EXCLUDE:
        keys = tuple(getattr(e[0], "name", "") or "" for e in con.exclusions or ())
    not_null_column = _is_not_null_check(con.raw_expr) if kind == CHECK else (keys[0] if kind == NOT_NULL and keys else None)
    if kind == NOT_NULL and con.keys is None and column is None and not keys:
        return
    name = con.conname or _default_name(table, kind, keys, column)
    conname, con.conname = con.conname, None  # printed without its name: the definition alone
    try:
        definition = sql_of(con)
    finally:
        con.conname = conname
    if column and kind in (PRIMARY, UNIQUE) and not con.keys:
        definition = f"{definition} ({column})"
    references = _name(con.pktable) if kind == FOREIGN and con.pktable is not None else None
    if kind == FOREIGN and column and not con.fk_attrs:
        definition = f"FOREIGN KEY ({column}) {definition}"
    table.constraints[name] = Constraint(name, kind, definition, keys, not con.skip_validation,
                                         not_null_column, references)
    if kind == PRIMARY or (kind == NOT_NULL and not con.skip_validation):
        for k in keys:
            if k in table.columns:
                table.columns[k].not_null = True


def _default_name(table: Table, kind: str, keys: tuple[str, ...], column: str | None) -> str:
    """PostgreSQL's name for an unnamed constraint: table_pkey, table_col_key, table_col_check."""
    if kind == PRIMARY:
        return identifier(f"{table.name.name}_pkey")
    part = "_".join(keys) if kind != CHECK else (column or "")
    base = f"{table.name.name}_{part}_{_SUFFIX[kind]}" if part else f"{table.name.name}_{_SUFFIX[kind]}"
    name, n = identifier(base), 0
    while name in table.constraints:  # ChooseRelationName appends a number until the name is free
        n += 1
        name = f"{base[:63 - len(str(n))]}{n}"
    return name


def _is_not_null_check(expr: Any) -> str | None:
    """The column of ``CHECK (col IS NOT NULL)``, None for any other CHECK."""
    if isinstance(expr, ast.NullTest) and expr.nulltesttype == enums.NullTestType.IS_NOT_NULL \
            and isinstance(expr.arg, ast.ColumnRef) and isinstance(expr.arg.fields[-1], ast.String):
        return expr.arg.fields[-1].sval
    return None


def index_from_node(node: ast.IndexStmt) -> Index:
    keys = tuple(p.name or "" for p in node.indexParams)
    reads = {p.name for p in node.indexParams if p.name}
    reads |= {n.fields[-1].sval for n in iter_nodes((node.indexParams, node.whereClause))
              if isinstance(n, ast.ColumnRef) and isinstance(n.fields[-1], ast.String)}
    return Index(node.idxname, sql_of(node), bool(node.unique), node.accessMethod or "btree", keys,
                 sql_of(node.whereClause) if node.whereClause is not None else None, frozenset(reads))


def index_from_definition(name: str, definition: str, valid: bool = True) -> Index | None:
    """A CREATE INDEX statement (pg_get_indexdef's) -> the model's Index, None when unreadable."""
    index = _index_of(definition)
    return None if index is None else replace(index, name=name, definition=definition, valid=valid)


def constraint_from_definition(name: str, definition: str) -> Constraint:
    """``CHECK ((x > 0))`` / ``PRIMARY KEY (id)`` ... (pg_get_constraintdef's) -> the model's
    Constraint; an unreadable one is kept as a CHECK with its text."""
    return replace(_constraint_of(definition), name=name, definition=definition)


# Cached by text: a catalog repeats definitions (PRIMARY KEY (id), the same foreign key on every
# table) and the two schemas of a diff share nearly all of theirs; parsing them was most of reading
# a catalog (bench/s_target.py). The cached objects are never handed out: callers get copies.
@functools.lru_cache(maxsize=4096)
def _index_of(definition: str) -> Index | None:
    from pglast import parse_sql
    from pglast.parser import ParseError

    try:
        node = parse_sql(definition)[0].stmt
    except (ParseError, IndexError):
        return None
    if not isinstance(node, ast.IndexStmt):
        return None
    return index_from_node(node)


@functools.lru_cache(maxsize=4096)
def _constraint_of(definition: str) -> Constraint:
    from pglast import parse_sql
    from pglast.parser import ParseError

    table = Table(QualifiedName("public", "t"))
    try:
        node = parse_sql(f"ALTER TABLE t ADD CONSTRAINT x {definition}")[0].stmt
        con = node.cmds[0].def_
    except (ParseError, IndexError, AttributeError):
        return Constraint("x", CHECK, definition)
    _constraint(table, con)
    return table.constraints["x"]


def _view(schema: Schema, name: QualifiedName, query: Any, materialized: bool) -> None:
    tables: set[QualifiedName] = set()
    columns: set[str] | None = set()
    for n in iter_nodes(query):
        if isinstance(n, ast.RangeVar):
            tables.add(_name(n))
        elif isinstance(n, ast.ColumnRef) and columns is not None:
            last = n.fields[-1]
            if isinstance(last, ast.A_Star):
                columns = None
            elif isinstance(last, ast.String):
                columns.add(last.sval)
    schema.views[name] = View(name, sql_of(query), frozenset(tables),
                              None if columns is None else frozenset(columns), materialized)


def _sequence_options(schema: Schema, seq: Sequence, options: Any) -> None:
    for opt in options or ():
        if opt.defname == "as" and isinstance(opt.arg, ast.TypeName):
            seq.type = sql_of(opt.arg)
        elif opt.defname in _SEQUENCE_PARAMETERS:
            value = getattr(opt.arg, "ival", None) if opt.arg is not None else None
            if isinstance(opt.arg, ast.Float):  # a value beyond int32 comes as a Float node
                value = int(opt.arg.fval)
            setattr(seq, _SEQUENCE_PARAMETERS[opt.defname], value)
        elif opt.defname == "cycle":
            seq.cycle = bool(getattr(opt.arg, "boolval", True))
        elif opt.defname == "owned_by":
            parts = [p.sval for p in opt.arg]
            if parts == ["none"]:
                seq.owned_by = None
            elif len(parts) >= 2:
                seq.owned_by = (_names_list(parts[:-1]), parts[-1])


_SEQUENCE_PARAMETERS = {"start": "start", "increment": "increment", "minvalue": "minimum", "maxvalue": "maximum",
                       "cache": "cache"}


def _names_list(parts: list[str]) -> QualifiedName:
    return QualifiedName(parts[-2] if len(parts) > 1 else "public", parts[-1])


def _enum_value(schema: Schema, node: ast.AlterEnumStmt) -> None:
    enum = schema.enums.get(_names(node.typeName))
    if enum is None or node.newVal in enum.labels:
        return
    labels = list(enum.labels)
    if node.newValNeighbor and node.newValNeighbor in labels:
        at = labels.index(node.newValNeighbor) + (1 if node.newValIsAfter else 0)
        labels.insert(at, node.newVal)
    else:
        labels.append(node.newVal)
    enum.labels = tuple(labels)


def _drop(schema: Schema, node: ast.DropStmt) -> None:
    kind = node.removeType
    O = enums.ObjectType
    for obj in node.objects or ():
        if kind == O.OBJECT_TYPE:
            name = _names(obj[0].names) if isinstance(obj[0], ast.TypeName) else _names(obj)
            schema.enums.pop(name, None)
            continue
        if not isinstance(obj, (list, tuple)):
            continue
        name = _names(obj)
        if kind == O.OBJECT_TABLE:
            schema.tables.pop(name, None)
        elif kind in (O.OBJECT_VIEW, O.OBJECT_MATVIEW):
            schema.views.pop(name, None)
        elif kind == O.OBJECT_SEQUENCE:
            schema.sequences.pop(name, None)
        elif kind == O.OBJECT_INDEX:
            t = schema.index_table(name)
            if t is not None:
                schema.tables[t].indexes.pop(name.name, None)
        elif kind == O.OBJECT_TRIGGER and len(obj) >= 2:
            t = _names(obj[:-1])
            if t in schema.tables:
                schema.tables[t].triggers.pop(obj[-1].sval, None)


def _rename(schema: Schema, node: ast.RenameStmt) -> None:
    O = enums.ObjectType
    if node.relation is None:
        return
    t = _name(node.relation)
    if node.renameType == O.OBJECT_TABLE and t in schema.tables:
        table = schema.tables.pop(t)
        table.name = t.sibling(node.newname)
        schema.tables[table.name] = table
    elif node.renameType == O.OBJECT_COLUMN and t in schema.tables:
        table = schema.tables[t]
        if node.subname in table.columns:
            table.columns = {(node.newname if k == node.subname else k): v for k, v in table.columns.items()}
            table.columns[node.newname].name = node.newname
    elif node.renameType == O.OBJECT_INDEX:
        owner = schema.index_table(t)
        if owner is not None:
            idx = schema.tables[owner].indexes.pop(t.name)
            idx.name = node.newname
            schema.tables[owner].indexes[node.newname] = idx

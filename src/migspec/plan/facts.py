"""Schema facts a DOWN needs: column types and defaults, primary keys, index and constraint
definitions. Sources, merged in this order: the stats file (``columns`` and the ``schema``
section that ``migspec measure`` writes), a ``pg_dump --schema-only`` file (``--schema``), and the
migration itself (a table or index it creates)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pglast import ast, enums
from pglast.stream import RawStream

from migspec.errors import InputError
from migspec.names import QualifiedName
from migspec.parse.source import parse_text, read_text
from migspec.stats import Stats


def sql_of(node: ast.Node) -> str:
    """pglast's printer: re-prints a user's expression or definition exactly as PostgreSQL parses it."""
    return RawStream()(node)


@dataclass
class ColumnFact:
    name: str
    type: str
    not_null: bool = False
    default: str | None = None


@dataclass
class TableFacts:
    name: QualifiedName
    columns: dict[str, ColumnFact] = field(default_factory=dict)
    primary_key: tuple[str, ...] = ()
    indexes: dict[str, str] = field(default_factory=dict)  # index name -> CREATE INDEX statement
    constraints: dict[str, str] = field(default_factory=dict)  # name -> definition (CHECK (...), FOREIGN KEY ...)
    triggers: dict[str, str] = field(default_factory=dict)


@dataclass
class SchemaFacts:
    tables: dict[QualifiedName, TableFacts] = field(default_factory=dict)
    index_tables: dict[QualifiedName, QualifiedName] = field(default_factory=dict)  # index -> table
    # view -> (tables it reads, column names it names; None when it selects *)
    views: dict[QualifiedName, tuple[frozenset[QualifiedName], frozenset[str] | None]] = field(default_factory=dict)

    def views_reading(self, table: QualifiedName, column: str) -> list[QualifiedName]:
        """Views that may read ``table.column``: they bind the column itself, so a swap or rename
        leaves them reading the old one, and a drop fails (SQLSTATE 2BP01)."""
        return sorted(v for v, (tables, columns) in self.views.items()
                      if table in tables and (columns is None or column in columns))

    def table(self, name: QualifiedName) -> TableFacts:
        if name not in self.tables:
            self.tables[name] = TableFacts(name)
        return self.tables[name]

    def known(self, name: QualifiedName) -> TableFacts | None:
        return self.tables.get(name)

    def index_definition(self, index: QualifiedName) -> str | None:
        table = self.index_tables.get(index)
        if table is None:
            return None
        return self.tables[table].indexes.get(index.name)


def from_stats(stats: Stats) -> SchemaFacts:
    facts = SchemaFacts()
    for name, ts in stats.tables.items():
        tf = facts.table(name)
        for col, typ in ts.columns.items():
            tf.columns[col] = ColumnFact(col, typ)
        schema = getattr(ts, "schema", None)
        if schema is None:
            continue
        for col in schema.columns:
            tf.columns[col.name] = ColumnFact(col.name, col.type, col.not_null, col.default)
        tf.primary_key = tuple(schema.primary_key)
        tf.constraints.update(schema.constraints)
        tf.triggers.update(schema.triggers)
        for idx, definition in schema.indexes.items():
            tf.indexes[idx] = definition
            facts.index_tables[name.sibling(idx)] = name
    return facts


def load_schema_file(path: str | Path, facts: SchemaFacts) -> SchemaFacts:
    """Read a ``pg_dump --schema-only`` file into ``facts`` (psql meta-commands are skipped)."""
    p = Path(path)
    text = read_text(p)
    # psql meta-commands (\connect, \restrict ...) are not SQL; blank them, keeping line numbers.
    text = "\n".join("" if line.lstrip().startswith("\\") else line for line in text.splitlines())
    for stmt in parse_text(text, str(p)):
        learn(facts, stmt.node)
    return facts


def learn(facts: SchemaFacts, node: object) -> None:
    """Record what one schema statement says (CREATE TABLE, ALTER TABLE ADD COLUMN / ADD CONSTRAINT
    / SET DEFAULT / SET and DROP NOT NULL, CREATE INDEX, CREATE VIEW, CREATE TRIGGER): from a
    pg_dump file, or from the migration itself as the plan walks it - a table it creates needs no
    measurement (it is empty), and a later step's DOWN restores the state the earlier steps left
    (DROP NOT NULL then DROP COLUMN: the column's DOWN must not SET NOT NULL a second time)."""
    if isinstance(node, ast.CreateStmt):
        _create(facts, node)
    elif isinstance(node, ast.AlterTableStmt) and node.relation is not None:
        tname = QualifiedName(node.relation.schemaname or "public", node.relation.relname)
        for cmd in node.cmds or ():
            if cmd.subtype == enums.AlterTableType.AT_AddConstraint:
                _constraint(facts.table(tname), cmd.def_)
            elif cmd.subtype == enums.AlterTableType.AT_AddColumn and cmd.def_.typeName is not None:
                _column(facts.table(tname), cmd.def_)
            elif cmd.subtype in (enums.AlterTableType.AT_DropNotNull, enums.AlterTableType.AT_SetNotNull):
                col = facts.table(tname).columns.get(cmd.name)
                if col:
                    col.not_null = cmd.subtype == enums.AlterTableType.AT_SetNotNull
            elif cmd.subtype == enums.AlterTableType.AT_ColumnDefault and cmd.def_ is not None:
                col = facts.table(tname).columns.get(cmd.name)
                if col:
                    col.default = sql_of(cmd.def_)
    elif isinstance(node, ast.IndexStmt) and node.idxname:
        tname = QualifiedName(node.relation.schemaname or "public", node.relation.relname)
        facts.table(tname).indexes[node.idxname] = sql_of(node)
        facts.index_tables[tname.sibling(node.idxname)] = tname
    elif isinstance(node, ast.ViewStmt):
        _view(facts, node)
    elif isinstance(node, ast.CreateTrigStmt):
        tname = QualifiedName(node.relation.schemaname or "public", node.relation.relname)
        facts.table(tname).triggers[node.trigname] = sql_of(node)


def _view(facts: SchemaFacts, node: ast.ViewStmt) -> None:
    from migspec.parse.source import iter_nodes

    tables: set[QualifiedName] = set()
    columns: set[str] | None = set()
    for n in iter_nodes(node.query):
        if isinstance(n, ast.RangeVar):
            tables.add(QualifiedName(n.schemaname or "public", n.relname))
        elif isinstance(n, ast.ColumnRef) and columns is not None:
            last = n.fields[-1]
            if isinstance(last, ast.A_Star):
                columns = None
            elif isinstance(last, ast.String):
                columns.add(last.sval)
    name = QualifiedName(node.view.schemaname or "public", node.view.relname)
    facts.views[name] = (frozenset(tables), None if columns is None else frozenset(columns))


def _create(facts: SchemaFacts, node: ast.CreateStmt) -> None:
    tname = QualifiedName(node.relation.schemaname or "public", node.relation.relname)
    tf = facts.table(tname)
    for elt in node.tableElts or ():
        if isinstance(elt, ast.ColumnDef) and elt.typeName is not None:
            _column(tf, elt)
        elif isinstance(elt, ast.Constraint):
            _constraint(tf, elt)


def _column(tf: TableFacts, elt: ast.ColumnDef) -> None:
    col = ColumnFact(elt.colname, sql_of(elt.typeName), bool(elt.is_not_null))
    for con in elt.constraints or ():
        if con.contype == enums.ConstrType.CONSTR_NOTNULL:
            col.not_null = True
        elif con.contype == enums.ConstrType.CONSTR_DEFAULT and con.raw_expr is not None:
            col.default = sql_of(con.raw_expr)
        elif con.contype == enums.ConstrType.CONSTR_PRIMARY:
            col.not_null = True
            tf.primary_key = (elt.colname,)
    tf.columns[elt.colname] = col


def _constraint(tf: TableFacts, con: ast.Constraint) -> None:
    if con.contype == enums.ConstrType.CONSTR_PRIMARY:
        tf.primary_key = tuple(k.sval for k in con.keys or ())
        for k in tf.primary_key:
            if k in tf.columns:
                tf.columns[k].not_null = True
    if con.conname:
        text = sql_of(con)
        prefix = f"CONSTRAINT {con.conname} "
        tf.constraints[con.conname] = text[len(prefix):] if text.startswith(prefix) else text


def with_column_types(stats: Stats, facts: SchemaFacts, *, facts_win: bool = False) -> Stats:
    """The stats with every column type (and key and index) the facts know, so that lint judges
    type changes (a widening is catalog-only) from the same schema the planner writes DOWNs from.
    ``facts_win``: the facts are newer than the stats (the schema after the migration, to judge its
    DOWNs)."""
    from dataclasses import replace

    from migspec.stats import TableSchema, TableStats

    for name, tf in facts.tables.items():
        if not tf.columns:
            continue
        ts = stats.table(name) if name in stats.tables else TableStats(name)
        known = {c: f.type for c, f in tf.columns.items()}
        merged = {**ts.columns, **known} if facts_win else {**known, **ts.columns}
        # The keys and indexes as well, when the stats hold none: lint bounds a WHERE on a unique
        # key and sees the indexes a type change rebuilds from the same schema.
        schema = ts.schema if ts.schema is not None or not (tf.primary_key or tf.indexes) else \
            TableSchema(primary_key=tf.primary_key, constraints=dict(tf.constraints), indexes=dict(tf.indexes))
        stats = stats.with_table(replace(ts, columns=merged, schema=schema))
    return stats


def require(fact: object, what: str) -> None:
    """Refusal (exit 3) when a DOWN needs a fact nobody gave."""
    from migspec.errors import RefusedError

    if not fact:
        raise RefusedError(f"cannot plan without {what}: run 'migspec measure --dsn DSN --migration PATH' "
                           "(it records the schema facts), or give --schema with a pg_dump --schema-only file")


__all__ = ["ColumnFact", "InputError", "SchemaFacts", "TableFacts", "from_stats", "load_schema_file", "require", "sql_of"]

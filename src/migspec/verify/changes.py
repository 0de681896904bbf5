"""What the plan's SQL does to the objects verify watches, read with pglast (PostgreSQL's own
parser): foreign keys it adds (the synthetic rows must satisfy them already, as production's
do), columns and tables a phase drops, renames or moves (the application - and so the writers -
stops naming them), and tables a step truncates (a new, empty relfilenode that is no rewrite)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from pglast import ast, enums, parse_sql

from migspec.names import QualifiedName
from migspec.planfile.model import Step
from migspec.verify.data import ForeignKey


def _name(rel: Any) -> str:
    return QualifiedName(rel.schemaname or "public", rel.relname).sql


def nodes(statements: Iterable[str]) -> Iterator[Any]:
    for sql in statements:
        try:
            parsed = parse_sql(sql)
        except Exception:  # pglast raises its own ParseError; a statement it cannot read tells us nothing
            continue
        for raw in parsed:
            yield raw.stmt


def added_foreign_keys(steps: Iterable[Step]) -> list[ForeignKey]:
    out: list[ForeignKey] = []
    for node in nodes(s for step in steps for s in step.up):
        if not isinstance(node, ast.AlterTableStmt) or node.relation is None:
            continue
        for cmd in node.cmds or ():
            con = getattr(cmd, "def_", None)
            if isinstance(con, ast.Constraint) and con.contype == enums.ConstrType.CONSTR_FOREIGN:
                out.append((_name(node.relation), tuple(k.sval for k in con.fk_attrs or ()), _name(con.pktable),
                            tuple(k.sval for k in con.pk_attrs or ())))
    return out


def dropped_or_renamed(steps: Iterable[Step]) -> tuple[dict[str, set[str]], set[str]]:
    """(table -> columns dropped or renamed (either name), tables dropped or moved to another schema)."""
    columns: dict[str, set[str]] = {}
    tables: set[str] = set()
    for node in nodes(s for step in steps for s in step.up):
        if isinstance(node, ast.AlterTableStmt) and node.relation is not None:
            for cmd in node.cmds or ():
                if cmd.subtype == enums.AlterTableType.AT_DropColumn:
                    columns.setdefault(_name(node.relation), set()).add(cmd.name)
        elif isinstance(node, ast.RenameStmt) and node.renameType == enums.ObjectType.OBJECT_COLUMN:
            columns.setdefault(_name(node.relation), set()).add(node.subname)
        elif isinstance(node, ast.DropStmt) and node.removeType in (enums.ObjectType.OBJECT_TABLE,
                                                                     enums.ObjectType.OBJECT_VIEW):
            for obj in node.objects or ():
                parts = [p.sval for p in obj]
                tables.add(QualifiedName(parts[-2] if len(parts) > 1 else "public", parts[-1]).sql)
        elif isinstance(node, ast.AlterObjectSchemaStmt) and node.relation is not None:
            tables.add(_name(node.relation))
    return columns, tables


def swapped_columns(steps: Iterable[Step]) -> dict[str, dict[str, str]]:
    """table -> {column: the column renamed to its name}: a column renamed away while another takes
    its name (a type change's or a key widening's swap)."""
    renames: dict[str, dict[str, str]] = {}  # table -> old name -> new name
    for node in nodes(s for step in steps for s in step.up):
        if isinstance(node, ast.RenameStmt) and node.renameType == enums.ObjectType.OBJECT_COLUMN:
            renames.setdefault(_name(node.relation), {})[node.subname] = node.newname
    return {table: {new: old for old, new in names.items() if new in names} for table, names in renames.items()}


#: base types whose values a column of the other type takes unchanged (an application writing the
#: old type goes on writing through a swap to the wider one: Django's BigAutoField switch).
WIDER = {"int2": {"int4", "int8"}, "int4": {"int8"}}


def truncated_tables(step: Step) -> list[str]:
    return [_name(r) for node in nodes(step.up) if isinstance(node, ast.TruncateStmt) for r in node.relations or ()]

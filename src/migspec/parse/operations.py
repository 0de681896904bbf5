"""pglast statement nodes -> typed operations. One statement may become several operations
(an ALTER TABLE with several sub-commands, a TRUNCATE of several tables)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pglast import ast, enums
from pglast.enums import AlterTableType as AT
from pglast.enums import ConstrType as CT
from pglast.enums import ObjectType as OT

from migspec.locks import LockMode
from migspec.names import QualifiedName
from migspec.ops import constraint, data, index, misc, session, table
from migspec.ops.base import Operation
from migspec.ops.types import ColumnType
from migspec.parse.source import Placeholder, Statement


def relation_name(rv: ast.RangeVar) -> QualifiedName:
    return QualifiedName(rv.schemaname or "public", rv.relname)


def object_name(parts: Any) -> QualifiedName:
    names = [p.sval for p in parts]
    return QualifiedName(names[-2] if len(names) > 1 else "public", names[-1])


def _not_null_column(expr: Any) -> str | None:
    """The column of ``CHECK (col IS NOT NULL)``, the shape that lets SET NOT NULL skip its scan."""
    if isinstance(expr, ast.NullTest) and expr.nulltesttype == enums.NullTestType.IS_NOT_NULL:
        arg = expr.arg
        if isinstance(arg, ast.ColumnRef) and len(arg.fields) == 1 and isinstance(arg.fields[0], ast.String):
            return arg.fields[0].sval
    return None


_CONSTRAINT_KIND = {CT.CONSTR_CHECK: "check", CT.CONSTR_FOREIGN: "foreign_key", CT.CONSTR_UNIQUE: "unique",
                    CT.CONSTR_PRIMARY: "primary_key", CT.CONSTR_EXCLUSION: "exclude", CT.CONSTR_NOTNULL: "not_null"}


def _add_constraint(stmt: Statement, tbl: QualifiedName, con: ast.Constraint) -> Operation:
    kind = _CONSTRAINT_KIND.get(con.contype)
    if kind is None:
        return table.AlterTableOther(stmt=stmt, table=tbl, subcommand=f"ADD CONSTRAINT ({con.contype.name})")
    columns = tuple(k.sval for k in (con.keys or ()))
    if kind == "foreign_key":
        columns = tuple(k.sval for k in (con.fk_attrs or ()))
    nn_col = _not_null_column(con.raw_expr) if kind == "check" else (columns[0] if kind == "not_null" and columns else None)
    return constraint.AddConstraint(
        stmt=stmt, table=tbl, name=con.conname, constraint=kind, not_valid=bool(con.skip_validation),
        using_index=con.indexname, columns=columns, not_null_column=nn_col,
        references=relation_name(con.pktable) if con.pktable else None,
    )


def _add_column(stmt: Statement, tbl: QualifiedName, col: ast.ColumnDef) -> Operation:
    default = getattr(col, "raw_default", None)
    flags: dict[str, Any] = {"not_null": bool(col.is_not_null)}
    for con in col.constraints or ():
        ct = con.contype
        if ct == CT.CONSTR_DEFAULT:
            default = con.raw_expr
        elif ct == CT.CONSTR_NOTNULL:
            flags["not_null"] = True
        elif ct == CT.CONSTR_GENERATED:
            if con.generated_kind == "v":
                flags["generated_virtual"] = True
            else:
                # pglast 8 marks STORED as 's'; PG18 makes VIRTUAL the default when neither is written.
                flags["generated_stored"] = con.generated_kind == "s"
                flags["generated_virtual"] = con.generated_kind != "s"
        elif ct == CT.CONSTR_IDENTITY:
            flags["identity"] = True
        elif ct == CT.CONSTR_CHECK:
            flags["inline_check"] = True
        elif ct in (CT.CONSTR_UNIQUE, CT.CONSTR_PRIMARY):
            flags["inline_unique"] = True
            flags["not_null"] = flags["not_null"] or ct == CT.CONSTR_PRIMARY
        elif ct == CT.CONSTR_FOREIGN and con.pktable:
            flags["references"] = relation_name(con.pktable)
    return table.AddColumn(stmt=stmt, table=tbl, column=col.colname,
                           type=ColumnType.from_node(col.typeName) if col.typeName else None,
                           default=default, **flags)


def _alter_table(stmt: Statement, node: ast.AlterTableStmt) -> list[Operation]:
    tbl = relation_name(node.relation)
    if node.objtype == OT.OBJECT_INDEX:
        return [misc.Harmless(stmt=stmt, label="ALTER INDEX")]
    ops: list[Operation] = []
    for cmd in node.cmds:
        st = cmd.subtype
        if st == AT.AT_AddColumn:
            ops.append(_add_column(stmt, tbl, cmd.def_))
        elif st == AT.AT_DropColumn:
            ops.append(table.DropColumn(stmt=stmt, table=tbl, column=cmd.name))
        elif st == AT.AT_AlterColumnType:
            col = cmd.def_
            collate = ".".join(n.sval for n in col.collClause.collname) if col.collClause else None
            ops.append(table.AlterColumnType(stmt=stmt, table=tbl, column=cmd.name,
                                             type=ColumnType.from_node(col.typeName), using=col.raw_default,
                                             collate=collate))
        elif st == AT.AT_SetNotNull:
            ops.append(table.SetNotNull(stmt=stmt, table=tbl, column=cmd.name))
        elif st == AT.AT_DropNotNull:
            ops.append(table.DropNotNull(stmt=stmt, table=tbl, column=cmd.name))
        elif st == AT.AT_ColumnDefault:
            ops.append(table.SetDefault(stmt=stmt, table=tbl, column=cmd.name, default=cmd.def_))
        elif st == AT.AT_AddConstraint:
            ops.append(_add_constraint(stmt, tbl, cmd.def_))
        elif st == AT.AT_ValidateConstraint:
            ops.append(constraint.ValidateConstraint(stmt=stmt, table=tbl, name=cmd.name))
        elif st == AT.AT_DropConstraint:
            ops.append(constraint.DropConstraint(stmt=stmt, table=tbl, name=cmd.name))
        elif st == AT.AT_AttachPartition:
            ops.append(misc.AttachPartition(stmt=stmt, table=tbl, partition=relation_name(cmd.def_.name)))
        elif st == AT.AT_DetachPartition:
            ops.append(misc.DetachPartition(stmt=stmt, table=tbl, partition=relation_name(cmd.def_.name),
                                            concurrent=bool(cmd.def_.concurrent)))
        else:
            ops.append(table.AlterTableOther(stmt=stmt, table=tbl, subcommand=st.name.removeprefix("AT_")))
    return ops


def _create_table(stmt: Statement, node: ast.CreateStmt) -> list[Operation]:
    columns: list[tuple[str, ColumnType, bool]] = []
    refs: list[QualifiedName] = []
    for elt in node.tableElts or ():
        if isinstance(elt, ast.ColumnDef) and elt.typeName is not None:
            nn = bool(elt.is_not_null) or any(
                c.contype in (CT.CONSTR_NOTNULL, CT.CONSTR_PRIMARY) for c in (elt.constraints or ()))
            columns.append((elt.colname, ColumnType.from_node(elt.typeName), nn))
            refs += [relation_name(c.pktable) for c in (elt.constraints or ()) if c.contype == CT.CONSTR_FOREIGN]
        elif isinstance(elt, ast.Constraint) and elt.contype == CT.CONSTR_FOREIGN and elt.pktable:
            refs.append(relation_name(elt.pktable))
    tbl = relation_name(node.relation)
    return [table.CreateTable(stmt=stmt, table=tbl, columns=tuple(columns), if_not_exists=bool(node.if_not_exists),
                              references=tuple(r for r in dict.fromkeys(refs) if r != tbl))]


def _drop(stmt: Statement, node: ast.DropStmt) -> list[Operation]:
    cascade = node.behavior == enums.DropBehavior.DROP_CASCADE
    rt = node.removeType
    out: list[Operation] = []
    for obj in node.objects:
        if rt in (OT.OBJECT_TABLE, OT.OBJECT_MATVIEW):
            out.append(table.DropTable(stmt=stmt, table=object_name(obj), cascade=cascade))
        elif rt == OT.OBJECT_INDEX:
            out.append(index.DropIndex(stmt=stmt, index=object_name(obj), concurrent=bool(node.concurrent)))
        elif rt == OT.OBJECT_SCHEMA:
            out.append(misc.DropSchema(stmt=stmt, schema_name=obj.sval, cascade=cascade))
        elif rt == OT.OBJECT_TRIGGER:
            names = [p.sval for p in obj]
            out.append(misc.DropTrigger(stmt=stmt, table=object_name(obj[:-1]), name=names[-1]))
        else:
            out.append(misc.Harmless(stmt=stmt, label=f"DROP {rt.name.removeprefix('OBJECT_')}"))
    return out


def _rename(stmt: Statement, node: ast.RenameStmt) -> list[Operation]:
    if node.renameType == OT.OBJECT_COLUMN and node.relationType in (OT.OBJECT_TABLE, OT.OBJECT_MATVIEW):
        return [table.RenameColumn(stmt=stmt, table=relation_name(node.relation), column=node.subname,
                                   new_name=node.newname)]
    if node.renameType == OT.OBJECT_TABLE:
        return [table.RenameTable(stmt=stmt, table=relation_name(node.relation), new_name=node.newname)]
    if node.renameType == OT.OBJECT_TABCONSTRAINT:
        return [table.AlterTableOther(stmt=stmt, table=relation_name(node.relation), subcommand="RENAME CONSTRAINT")]
    return [misc.Harmless(stmt=stmt, label=f"RENAME {node.renameType.name.removeprefix('OBJECT_')}")]


def _index(stmt: Statement, node: ast.IndexStmt) -> list[Operation]:
    cols = tuple(p.name for p in node.indexParams if getattr(p, "name", None))
    return [index.CreateIndex(stmt=stmt, table=relation_name(node.relation), name=node.idxname,
                              concurrent=bool(node.concurrent), unique=bool(node.unique),
                              if_not_exists=bool(node.if_not_exists), columns=cols)]


def _reindex(stmt: Statement, node: ast.ReindexStmt) -> list[Operation]:
    concurrent = any(d.defname == "concurrently" for d in (node.params or ()))
    kind = node.kind.name.removeprefix("REINDEX_OBJECT_").lower()
    if node.relation is None:
        return [misc.UnknownWork(stmt=stmt, label=f"REINDEX {kind.upper()}")]
    rel = relation_name(node.relation)
    tbl = rel if kind == "table" else None
    return [index.Reindex(stmt=stmt, table=tbl, target=kind, relation=rel, concurrent=concurrent)]


def _vacuum(stmt: Statement, node: ast.VacuumStmt) -> list[Operation]:
    full = any(d.defname == "full" for d in (node.options or ()))
    label = ("VACUUM FULL" if full else "VACUUM") if node.is_vacuumcmd else "ANALYZE"
    if not node.rels:
        return [misc.UnknownWork(stmt=stmt, label=f"{label} of the whole database")] if full else [
            misc.Harmless(stmt=stmt, label=label)]
    out: list[Operation] = []
    for rel in node.rels:
        name = relation_name(rel.relation)
        out.append(misc.RewriteTable(stmt=stmt, table=name, command=label) if full
                   else misc.Maintenance(stmt=stmt, table=name, command=label))
    return out


def _set(stmt: Statement, node: ast.VariableSetStmt) -> list[Operation]:
    value: str | None = None
    if node.kind == enums.VariableSetKind.VAR_SET_VALUE and node.args:
        v = getattr(node.args[0], "val", None)
        for attr in ("sval", "ival", "fval"):  # 0 is a value (it disables the timeout), not a missing one
            if getattr(v, attr, None) is not None:
                value = str(getattr(v, attr))
                break
    if node.kind == enums.VariableSetKind.VAR_RESET_ALL:
        # RESET ALL resets every setting, both timeouts included.
        return [session.SetSetting(stmt=stmt, name=n, value=None, local=False)
                for n in ("lock_timeout", "statement_timeout", "timezone")]
    return [session.SetSetting(stmt=stmt, name=(node.name or "").lower(), value=value, local=bool(node.is_local))]


_TX = {
    enums.TransactionStmtKind.TRANS_STMT_BEGIN: "begin", enums.TransactionStmtKind.TRANS_STMT_START: "begin",
    enums.TransactionStmtKind.TRANS_STMT_COMMIT: "commit", enums.TransactionStmtKind.TRANS_STMT_ROLLBACK: "rollback",
    enums.TransactionStmtKind.TRANS_STMT_SAVEPOINT: "savepoint",
    enums.TransactionStmtKind.TRANS_STMT_RELEASE: "release",
    enums.TransactionStmtKind.TRANS_STMT_ROLLBACK_TO: "rollback_to",
    enums.TransactionStmtKind.TRANS_STMT_PREPARE: "commit",
}

_LOCK_MODES = {m.value: m for m in LockMode}


def _alter_domain(stmt: Statement, node: ast.AlterDomainStmt) -> list[Operation]:
    if node.subtype == "C":
        return [misc.AddDomainConstraint(stmt=stmt, domain=object_name(node.typeName),
                                         not_valid=bool(node.def_.skip_validation))]
    return [misc.Harmless(stmt=stmt, label="ALTER DOMAIN")]


_BUILDERS: dict[type, Callable[[Statement, Any], list[Operation]]] = {
    ast.AlterTableStmt: _alter_table,
    ast.CreateStmt: _create_table,
    ast.DropStmt: _drop,
    ast.RenameStmt: _rename,
    ast.IndexStmt: _index,
    ast.ReindexStmt: _reindex,
    ast.VacuumStmt: _vacuum,
    ast.VariableSetStmt: _set,
    ast.AlterDomainStmt: _alter_domain,
    ast.TruncateStmt: lambda s, n: [table.Truncate(stmt=s, table=relation_name(r),
                                                   cascade=n.behavior == enums.DropBehavior.DROP_CASCADE)
                                    for r in n.relations],
    ast.UpdateStmt: lambda s, n: [data.Update(stmt=s, table=relation_name(n.relation), has_where=n.whereClause is not None,
                                              columns=tuple(t.name for t in n.targetList), where=n.whereClause,
                                              alias=n.relation.alias.aliasname if n.relation.alias else None)],
    ast.DeleteStmt: lambda s, n: [data.Delete(stmt=s, table=relation_name(n.relation), has_where=n.whereClause is not None,
                                              where=n.whereClause,
                                              alias=n.relation.alias.aliasname if n.relation.alias else None)],
    ast.InsertStmt: lambda s, n: [data.Insert(stmt=s, table=relation_name(n.relation),
                                              from_select=n.selectStmt is not None)],
    ast.TransactionStmt: lambda s, n: [session.TransactionControl(stmt=s, action=_TX.get(n.kind, "begin"))],
    ast.VariableShowStmt: lambda s, n: [misc.Harmless(stmt=s, label="SHOW")],
    ast.AlterEnumStmt: lambda s, n: [misc.AddEnumValue(stmt=s, type_name=object_name(n.typeName), value=n.newVal,
                                                       neighbor=n.newValNeighbor)] if n.newVal and not n.oldVal
    else [misc.Harmless(stmt=s, label="ALTER TYPE ... RENAME VALUE")],
    ast.ClusterStmt: lambda s, n: [misc.RewriteTable(stmt=s, table=relation_name(n.relation), command="CLUSTER")]
    if n.relation else [misc.UnknownWork(stmt=s, label="CLUSTER of every clustered table")],
    ast.CreateTrigStmt: lambda s, n: [misc.CreateTrigger(stmt=s, table=relation_name(n.relation), name=n.trigname)],
    ast.LockStmt: lambda s, n: [misc.LockTable(stmt=s, table=relation_name(r), mode=_LOCK_MODES[n.mode])
                                for r in n.relations],
    ast.DoStmt: lambda s, n: [misc.UnknownWork(stmt=s, label="DO block")],
    ast.CreateTableAsStmt: lambda s, n: [table.CreateTable(stmt=s, table=relation_name(n.into.rel))],
    ast.CallStmt: lambda s, n: [misc.UnknownWork(stmt=s, label="CALL of a procedure")],
    # SET CONSTRAINTS only changes when this transaction's deferred constraint checks run (Django
    # emits "SET CONSTRAINTS ... IMMEDIATE" after every ADD COLUMN ... REFERENCES): it takes no
    # lock (pg_locks on a real server: tests/rules/unknown-work.yml trace); the checks it fires
    # are those of rows this transaction itself changed.
    ast.ConstraintsSetStmt: lambda s, n: [misc.Harmless(stmt=s, label="SET CONSTRAINTS")],
    Placeholder: lambda s, n: [misc.UnknownWork(stmt=s, label=n.label)],
}

# Statements that only create new objects, read, or change privileges/comments: nothing that blocks
# the application's reads or writes of existing tables.
_HARMLESS = (ast.SelectStmt, ast.CreateFunctionStmt, ast.ViewStmt, ast.CreateSeqStmt, ast.AlterSeqStmt,
             ast.CreateEnumStmt, ast.CompositeTypeStmt, ast.CreateDomainStmt, ast.CreateSchemaStmt,
             ast.CreateExtensionStmt, ast.CommentStmt, ast.GrantStmt, ast.GrantRoleStmt, ast.CreateRoleStmt,
             ast.AlterRoleStmt, ast.AlterOwnerStmt, ast.ExplainStmt, ast.DefineStmt, ast.CreateRangeStmt,
             ast.AlterFunctionStmt, ast.AlterObjectSchemaStmt, ast.CreatePolicyStmt, ast.AlterDefaultPrivilegesStmt)


def build_operations(stmt: Statement) -> list[Operation]:
    node = stmt.node
    builder = _BUILDERS.get(type(node))
    if builder is not None:
        return builder(stmt, node)
    if isinstance(node, _HARMLESS):
        return [misc.Harmless(stmt=stmt, label=stmt.kind.removesuffix("Stmt"))]
    return [misc.UnknownWork(stmt=stmt, label=f"{stmt.kind.removesuffix('Stmt')} statement")]

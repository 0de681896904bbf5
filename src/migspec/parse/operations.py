"""Parse trees (libpg_query's JSON, migspec.parse.tree) -> typed operations. One statement may
become several operations (an ALTER TABLE with several sub-commands, a TRUNCATE of several tables).

Fields the JSON leaves out are at their default (false, 0, empty, null): every read is ``.get``."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from migspec.locks import LockMode
from migspec.names import QualifiedName, quote_ident
from migspec.ops import session
from migspec.ops.base import Operation
from migspec.ops.expressions import Expression, svals, unwrap
from migspec.ops.types import ColumnType
from migspec.parse.source import Placeholder, Statement

Body = dict[str, Any]  # a node's fields


class _OnFirstUse:
    """An operations module, imported when a statement first needs one of its classes: a migration
    loads only the modules of the kinds it holds. Each operation class is a dataclass whose methods
    Python 3.11 compiles at every start (~0.5 ms apiece; issue 16). A name looked up is kept."""

    def __init__(self, module: str) -> None:
        self._module = module

    def __getattr__(self, name: str) -> Any:
        value = getattr(importlib.import_module(self._module), name)
        setattr(self, name, value)
        return value


constraint, data, index, misc, table = (_OnFirstUse(f"migspec.ops.{name}")
                                        for name in ("constraint", "data", "index", "misc", "table"))


def relation_name(rv: Any) -> QualifiedName:
    """The name of a RangeVar: a JSON one, or a pglast node (the planner re-reads statements)."""
    if not isinstance(rv, dict):
        return QualifiedName(rv.schemaname or "public", rv.relname)
    return QualifiedName.of(rv.get("schemaname") or "public", rv.get("relname", ""))


def object_name(parts: Any) -> QualifiedName:
    names = svals(parts)
    return QualifiedName.of(names[-2] if len(names) > 1 else "public", names[-1])


def _expr(stmt: Statement, tree: Any, *path: str | int) -> Expression | None:
    return None if tree is None else Expression(tree, stmt.sql, path)


def _not_null_column(expr: Any) -> str | None:
    """The column of ``CHECK (col IS NOT NULL)``, the shape that lets SET NOT NULL skip its scan."""
    kind, body = unwrap(expr)
    if kind == "NullTest" and body.get("nulltesttype") == "IS_NOT_NULL":
        akind, arg = unwrap(body.get("arg"))
        fields = arg.get("fields") or []
        if akind == "ColumnRef" and len(fields) == 1 and unwrap(fields[0])[0] == "String":
            return svals(fields)[0]
    return None


_CONSTRAINT_KIND = {"CONSTR_CHECK": "check", "CONSTR_FOREIGN": "foreign_key", "CONSTR_UNIQUE": "unique",
                    "CONSTR_PRIMARY": "primary_key", "CONSTR_EXCLUSION": "exclude", "CONSTR_NOTNULL": "not_null"}


def _add_constraint(stmt: Statement, tbl: QualifiedName, con: Body) -> Operation:
    kind = _CONSTRAINT_KIND.get(con.get("contype", ""))
    if kind is None:
        return table.AlterTableOther(stmt=stmt, table=tbl, subcommand=f"ADD CONSTRAINT ({con.get('contype')})")
    columns = tuple(svals(con.get("keys")))
    if kind == "foreign_key":
        columns = tuple(svals(con.get("fk_attrs")))
    nn_col = _not_null_column(con.get("raw_expr")) if kind == "check" else (
        columns[0] if kind == "not_null" and columns else None)
    return constraint.AddConstraint(
        stmt=stmt, table=tbl, name=con.get("conname"), constraint=kind, not_valid=bool(con.get("skip_validation")),
        using_index=con.get("indexname"), columns=columns, not_null_column=nn_col,
        references=relation_name(con["pktable"]) if con.get("pktable") else None,
    )


def _add_column(stmt: Statement, tbl: QualifiedName, col: Body, at: int) -> Operation:
    default = _expr(stmt, col.get("raw_default"), "cmds", at, "def", "raw_default")
    flags: dict[str, Any] = {"not_null": bool(col.get("is_not_null"))}
    for i, wrapped in enumerate(col.get("constraints") or ()):
        con = unwrap(wrapped)[1]
        ct = con.get("contype")
        if ct == "CONSTR_DEFAULT":
            default = _expr(stmt, con.get("raw_expr"), "cmds", at, "def", "constraints", i, "raw_expr")
        elif ct == "CONSTR_NOTNULL":
            flags["not_null"] = True
        elif ct == "CONSTR_GENERATED":
            if con.get("generated_kind") == "v":
                flags["generated_virtual"] = True
            else:
                # pglast 8 marks STORED as 's'; PG18 makes VIRTUAL the default when neither is written.
                flags["generated_stored"] = con.get("generated_kind") == "s"
                flags["generated_virtual"] = con.get("generated_kind") != "s"
        elif ct == "CONSTR_IDENTITY":
            flags["identity"] = True
        elif ct == "CONSTR_CHECK":
            flags["inline_check"] = True
        elif ct in ("CONSTR_UNIQUE", "CONSTR_PRIMARY"):
            flags["inline_unique"] = True
            flags["not_null"] = flags["not_null"] or ct == "CONSTR_PRIMARY"
        elif ct == "CONSTR_FOREIGN" and con.get("pktable"):
            flags["references"] = relation_name(con["pktable"])
    return table.AddColumn(stmt=stmt, table=tbl, column=col.get("colname", ""),
                           type=ColumnType.from_tree(col["typeName"]) if col.get("typeName") else None,
                           default=default, **flags)


def _alter_table(stmt: Statement, node: Body) -> list[Operation]:
    tbl = relation_name(node["relation"])
    if node.get("objtype") == "OBJECT_INDEX":
        return [misc.Harmless(stmt=stmt, label="ALTER INDEX")]
    ops: list[Operation] = []
    for at, wrapped in enumerate(node.get("cmds") or ()):
        cmd = unwrap(wrapped)[1]
        st = cmd.get("subtype", "")
        name = cmd.get("name")
        definition = unwrap(cmd.get("def"))[1]
        if st == "AT_AddColumn":
            ops.append(_add_column(stmt, tbl, definition, at))
        elif st == "AT_DropColumn":
            ops.append(table.DropColumn(stmt=stmt, table=tbl, column=name))
        elif st == "AT_AlterColumnType":
            coll = definition.get("collClause")
            collate = ".".join(svals(coll.get("collname"))) if coll else None
            ops.append(table.AlterColumnType(
                stmt=stmt, table=tbl, column=name, type=ColumnType.from_tree(definition["typeName"]),
                using=_expr(stmt, definition.get("raw_default"), "cmds", at, "def", "raw_default"), collate=collate))
        elif st == "AT_SetNotNull":
            ops.append(table.SetNotNull(stmt=stmt, table=tbl, column=name))
        elif st == "AT_DropNotNull":
            ops.append(table.DropNotNull(stmt=stmt, table=tbl, column=name))
        elif st == "AT_ColumnDefault":
            ops.append(table.SetDefault(stmt=stmt, table=tbl, column=name,
                                        default=_expr(stmt, cmd.get("def"), "cmds", at, "def")))
        elif st == "AT_AddConstraint":
            ops.append(_add_constraint(stmt, tbl, definition))
        elif st == "AT_ValidateConstraint":
            ops.append(constraint.ValidateConstraint(stmt=stmt, table=tbl, name=name))
        elif st == "AT_DropConstraint":
            ops.append(constraint.DropConstraint(stmt=stmt, table=tbl, name=name))
        elif st == "AT_AttachPartition":
            ops.append(misc.AttachPartition(stmt=stmt, table=tbl, partition=relation_name(definition["name"])))
        elif st == "AT_DetachPartition":
            ops.append(misc.DetachPartition(stmt=stmt, table=tbl, partition=relation_name(definition["name"]),
                                            concurrent=bool(definition.get("concurrent"))))
        else:
            ops.append(table.AlterTableOther(stmt=stmt, table=tbl, subcommand=st.removeprefix("AT_")))
    return ops


def _create_table(stmt: Statement, node: Body) -> list[Operation]:
    columns: list[tuple[str, ColumnType, bool]] = []
    refs: list[QualifiedName] = []
    for wrapped in node.get("tableElts") or ():
        kind, elt = unwrap(wrapped)
        if kind == "ColumnDef" and elt.get("typeName") is not None:
            cons = [unwrap(c)[1] for c in elt.get("constraints") or ()]
            nn = bool(elt.get("is_not_null")) or any(c.get("contype") in ("CONSTR_NOTNULL", "CONSTR_PRIMARY")
                                                     for c in cons)
            columns.append((elt.get("colname", ""), ColumnType.from_tree(elt["typeName"]), nn))
            refs += [relation_name(c["pktable"]) for c in cons if c.get("contype") == "CONSTR_FOREIGN"]
        elif kind == "Constraint" and elt.get("contype") == "CONSTR_FOREIGN" and elt.get("pktable"):
            refs.append(relation_name(elt["pktable"]))
    tbl = relation_name(node["relation"])
    return [table.CreateTable(stmt=stmt, table=tbl, columns=tuple(columns),
                              if_not_exists=bool(node.get("if_not_exists")),
                              references=tuple(r for r in dict.fromkeys(refs) if r != tbl))]


def _drop(stmt: Statement, node: Body) -> list[Operation]:
    cascade = node.get("behavior") == "DROP_CASCADE"
    rt = node.get("removeType", "")
    out: list[Operation] = []
    # A DOWN re-creates a dropped view, sequence, enum type or schema only when the statement drops it alone.
    alone = len(node.get("objects") or ()) == 1
    for obj in node.get("objects") or ():
        kind, body = unwrap(obj)
        parts = body.get("items") or [] if kind == "List" else body.get("names") or [] if kind == "TypeName" else [obj]
        if rt in ("OBJECT_TABLE", "OBJECT_MATVIEW"):
            out.append(table.DropTable(stmt=stmt, table=object_name(parts), cascade=cascade))
        elif rt == "OBJECT_INDEX":
            out.append(index.DropIndex(stmt=stmt, index=object_name(parts), concurrent=bool(node.get("concurrent"))))
        elif rt == "OBJECT_SCHEMA":
            out.append(misc.DropSchema(stmt=stmt, schema_name=body.get("sval", ""), cascade=cascade, alone=alone))
        elif rt == "OBJECT_VIEW":
            out.append(misc.DropView(stmt=stmt, table=object_name(parts), alone=alone))
        elif rt == "OBJECT_TRIGGER":
            out.append(misc.DropTrigger(stmt=stmt, table=object_name(parts[:-1]), name=svals(parts)[-1]))
        elif rt in ("OBJECT_SEQUENCE", "OBJECT_TYPE") and alone:
            out.append(misc.Harmless(stmt=stmt, label=f"DROP {rt.removeprefix('OBJECT_')}",
                                     drops=(rt.removeprefix("OBJECT_"), object_name(parts))))
        else:
            out.append(misc.Harmless(stmt=stmt, label=f"DROP {rt.removeprefix('OBJECT_')}"))
    return out


def _rename(stmt: Statement, node: Body) -> list[Operation]:
    rename = node.get("renameType", "")
    if rename == "OBJECT_COLUMN" and node.get("relationType") in ("OBJECT_TABLE", "OBJECT_MATVIEW"):
        return [table.RenameColumn(stmt=stmt, table=relation_name(node["relation"]), column=node.get("subname"),
                                   new_name=node.get("newname"))]
    if rename == "OBJECT_TABLE":
        return [table.RenameTable(stmt=stmt, table=relation_name(node["relation"]), new_name=node.get("newname"))]
    if rename == "OBJECT_INDEX":
        return [index.RenameIndex(stmt=stmt, index=relation_name(node["relation"]), new_name=node.get("newname", ""))]
    if rename == "OBJECT_TABCONSTRAINT":
        return [constraint.RenameConstraint(stmt=stmt, table=relation_name(node["relation"]),
                                            name=node.get("subname", ""), new_name=node.get("newname", ""))]
    return [misc.Harmless(stmt=stmt, label=f"RENAME {rename.removeprefix('OBJECT_')}")]


def _index(stmt: Statement, node: Body) -> list[Operation]:
    cols = tuple(p["name"] for p in (unwrap(w)[1] for w in node.get("indexParams") or ()) if p.get("name"))
    return [index.CreateIndex(stmt=stmt, table=relation_name(node["relation"]), name=node.get("idxname"),
                              concurrent=bool(node.get("concurrent")), unique=bool(node.get("unique")),
                              if_not_exists=bool(node.get("if_not_exists")), columns=cols)]


def _defnames(items: Any) -> list[str]:
    return [unwrap(d)[1].get("defname", "") for d in items or ()]


def _reindex(stmt: Statement, node: Body) -> list[Operation]:
    concurrent = "concurrently" in _defnames(node.get("params"))
    kind = node.get("kind", "").removeprefix("REINDEX_OBJECT_").lower()
    if node.get("relation") is None:
        return [misc.UnknownWork(stmt=stmt, label=f"REINDEX {kind.upper()}")]
    rel = relation_name(node["relation"])
    tbl = rel if kind == "table" else None
    return [index.Reindex(stmt=stmt, table=tbl, target=kind, relation=rel, concurrent=concurrent)]


def _vacuum(stmt: Statement, node: Body) -> list[Operation]:
    full = "full" in _defnames(node.get("options"))
    label = ("VACUUM FULL" if full else "VACUUM") if node.get("is_vacuumcmd") else "ANALYZE"
    rels = node.get("rels") or []
    if not rels:
        return [misc.UnknownWork(stmt=stmt, label=f"{label} of the whole database")] if full else [
            misc.Harmless(stmt=stmt, label=label)]
    out: list[Operation] = []
    for rel in rels:
        name = relation_name(unwrap(rel)[1]["relation"])
        out.append(misc.RewriteTable(stmt=stmt, table=name, command=label) if full
                   else misc.Maintenance(stmt=stmt, table=name, command=label))
    return out


def _set(stmt: Statement, node: Body) -> list[Operation]:
    value: str | None = None
    args = node.get("args") or []
    if node.get("kind") == "VAR_SET_VALUE" and args:
        kind, const = unwrap(args[0])
        if kind == "A_Const":
            for attr in ("sval", "ival", "fval"):  # 0 is a value (it disables the timeout), not a missing one
                if attr in const:
                    # The JSON leaves a value at its default out: ``{"ival": {}}`` is 0, ``{"sval": {}}`` is ''.
                    value = str(const[attr].get(attr, 0 if attr == "ival" else ""))
                    break
    if node.get("kind") == "VAR_RESET_ALL":
        # RESET ALL resets every setting, both timeouts included.
        return [session.SetSetting(stmt=stmt, name=n, value=None, local=False)
                for n in ("lock_timeout", "statement_timeout", "timezone")]
    return [session.SetSetting(stmt=stmt, name=(node.get("name") or "").lower(), value=value,
                               local=bool(node.get("is_local")))]


_TX = {
    "TRANS_STMT_BEGIN": "begin", "TRANS_STMT_START": "begin", "TRANS_STMT_COMMIT": "commit",
    "TRANS_STMT_ROLLBACK": "rollback", "TRANS_STMT_SAVEPOINT": "savepoint", "TRANS_STMT_RELEASE": "release",
    "TRANS_STMT_ROLLBACK_TO": "rollback_to", "TRANS_STMT_PREPARE": "commit",
}

_LOCK_MODES = {m.value: m for m in LockMode}


def _alter_domain(stmt: Statement, node: Body) -> list[Operation]:
    if node.get("subtype") == "C":
        return [misc.AddDomainConstraint(stmt=stmt, domain=object_name(node.get("typeName")),
                                         not_valid=bool(unwrap(node.get("def"))[1].get("skip_validation")))]
    return [misc.Harmless(stmt=stmt, label="ALTER DOMAIN")]


def _where(s: Statement, n: Body) -> Expression | None:
    return _expr(s, n.get("whereClause"), "whereClause")


def _alias(n: Body) -> str | None:
    alias = n["relation"].get("alias")
    return alias.get("aliasname") if alias else None


_BUILDERS: dict[str, Callable[[Statement, Body], list[Operation]]] = {
    "AlterTableStmt": _alter_table,
    "CreateStmt": _create_table,
    "DropStmt": _drop,
    "RenameStmt": _rename,
    "IndexStmt": _index,
    "ReindexStmt": _reindex,
    "VacuumStmt": _vacuum,
    "VariableSetStmt": _set,
    "AlterDomainStmt": _alter_domain,
    "TruncateStmt": lambda s, n: [table.Truncate(stmt=s, table=relation_name(unwrap(r)[1]),
                                                 cascade=n.get("behavior") == "DROP_CASCADE")
                                  for r in n.get("relations") or ()],
    "UpdateStmt": lambda s, n: [data.Update(
        stmt=s, table=relation_name(n["relation"]), has_where=n.get("whereClause") is not None,
        columns=tuple(unwrap(t)[1].get("name") for t in n.get("targetList") or ()), where=_where(s, n),
        alias=_alias(n))],
    "DeleteStmt": lambda s, n: [data.Delete(stmt=s, table=relation_name(n["relation"]),
                                            has_where=n.get("whereClause") is not None, where=_where(s, n),
                                            alias=_alias(n))],
    "InsertStmt": lambda s, n: [data.Insert(stmt=s, table=relation_name(n["relation"]),
                                            from_select=n.get("selectStmt") is not None)],
    "TransactionStmt": lambda s, n: [session.TransactionControl(stmt=s, action=_TX.get(n.get("kind", ""), "begin"))],
    "VariableShowStmt": lambda s, n: [misc.Harmless(stmt=s, label="SHOW")],
    "AlterEnumStmt": lambda s, n: [misc.AddEnumValue(stmt=s, type_name=object_name(n.get("typeName")),
                                                     value=n["newVal"], neighbor=n.get("newValNeighbor"))]
    if n.get("newVal") and not n.get("oldVal") else [misc.Harmless(stmt=s, label="ALTER TYPE ... RENAME VALUE")],
    "ClusterStmt": lambda s, n: [misc.RewriteTable(stmt=s, table=relation_name(n["relation"]), command="CLUSTER")]
    if n.get("relation") else [misc.UnknownWork(stmt=s, label="CLUSTER of every clustered table")],
    "CreateTrigStmt": lambda s, n: [misc.CreateTrigger(stmt=s, table=relation_name(n["relation"]),
                                                       name=n.get("trigname"))],
    "LockStmt": lambda s, n: [misc.LockTable(stmt=s, table=relation_name(unwrap(r)[1]),
                                             mode=_LOCK_MODES[n.get("mode", 0)])
                              for r in n.get("relations") or ()],
    "DoStmt": lambda s, n: [misc.UnknownWork(stmt=s, label="DO block")],
    "CreateTableAsStmt": lambda s, n: [table.CreateTable(stmt=s, table=relation_name(n["into"]["rel"]))],
    "CallStmt": lambda s, n: [misc.UnknownWork(stmt=s, label="CALL of a procedure")],
    # SET CONSTRAINTS only changes when this transaction's deferred constraint checks run (Django
    # emits "SET CONSTRAINTS ... IMMEDIATE" after every ADD COLUMN ... REFERENCES): it takes no
    # lock (pg_locks on a real server: tests/rules/unknown-work.yml trace); the checks it fires
    # are those of rows this transaction itself changed.
    "ConstraintsSetStmt": lambda s, n: [misc.Harmless(stmt=s, label="SET CONSTRAINTS")],
}

# Statements that only create new objects, read, or change privileges/comments: nothing that blocks
# the application's reads or writes of existing tables.
_HARMLESS = frozenset({
    "SelectStmt", "CreateFunctionStmt", "ViewStmt", "CreateSeqStmt", "AlterSeqStmt", "CreateEnumStmt",
    "CompositeTypeStmt", "CreateDomainStmt", "CreateSchemaStmt", "CreateExtensionStmt", "CommentStmt", "GrantStmt",
    "GrantRoleStmt", "CreateRoleStmt", "AlterRoleStmt", "AlterOwnerStmt", "ExplainStmt", "DefineStmt",
    "CreateRangeStmt", "AlterFunctionStmt", "AlterObjectSchemaStmt", "CreatePolicyStmt",
    "AlterDefaultPrivilegesStmt"})


def _creates(kind: str, node: Body) -> tuple[str, str] | None:
    """The object a CREATE statement makes, as (keyword, name as SQL), for its DOWN."""
    if kind == "ViewStmt" and node.get("view"):
        return "VIEW", relation_name(node["view"]).sql
    if kind == "CreateSeqStmt" and node.get("sequence"):
        return "SEQUENCE", relation_name(node["sequence"]).sql
    if kind == "CreateSchemaStmt" and node.get("schemaname"):
        return "SCHEMA", quote_ident(node["schemaname"])
    if kind == "CreateEnumStmt" and node.get("typeName"):
        return "TYPE", object_name(node["typeName"]).sql
    if kind == "CreateExtensionStmt" and node.get("extname"):
        return "EXTENSION", quote_ident(node["extname"])
    return None


def build_operations(stmt: Statement) -> list[Operation]:
    if isinstance(stmt.tree, Placeholder):
        return [misc.UnknownWork(stmt=stmt, label=stmt.tree.label)]
    kind, node = unwrap(stmt.tree)
    builder = _BUILDERS.get(kind)
    if builder is not None:
        return builder(stmt, node)
    if kind == "AlterObjectSchemaStmt" and node.get("objectType") == "OBJECT_TABLE" and node.get("relation"):
        # ALTER TABLE ... SET SCHEMA: an ALTER TABLE form (ACCESS EXCLUSIVE), not a harmless move.
        return [table.AlterTableOther(stmt=stmt, table=relation_name(node["relation"]), subcommand="SET SCHEMA")]
    if kind in _HARMLESS:
        return [misc.Harmless(stmt=stmt, label=kind.removesuffix("Stmt"), creates=_creates(kind, node))]
    return [misc.UnknownWork(stmt=stmt, label=f"{kind.removesuffix('Stmt')} statement")]

"""Current schema -> desired schema as SQL statements, in an order PostgreSQL accepts.

The order, and why:

1. new schemas;
2. views that go, change, or read anything that is renamed, retyped or dropped, dependents first
   (a view pins the columns it reads: ALTER COLUMN TYPE, DROP COLUMN and the planner's column
   swaps fail or leave it reading the old column while it exists);
3. the given renames (tables, then columns);
4. partitions detached (before their bound or their columns change);
5. foreign keys that go or change, and those whose referenced key is rebuilt (a key a foreign
   key depends on cannot be dropped);
6. other constraints and indexes that go or change;
7. new enums and enum values (ALTER TYPE ... ADD VALUE keeps the order of the desired labels);
8. new and changed sequences (a column default may call nextval on them);
9. new tables (partitioned parents before their partitions) and new columns, then type,
   default and NOT NULL changes, then columns dropped;
10. sequence ownership, partitions attached;
11. constraints (keys and checks, then indexes, then foreign keys, which need the keys);
12. views created, dependencies first;
13. tables, sequences, enums and schemas that go, last (nothing depends on them any more).

Each statement is one the migration pipeline parses and plans like a hand-written one: the
planner turns a SET NOT NULL into its online form, a CREATE INDEX into CONCURRENTLY, a DROP
COLUMN into an archived, confirmed contract step, and so on.

Renames cannot be told from a drop and an add: they are given (:class:`Rename`); otherwise the
differ assumes a drop and an add and lists them in :attr:`Diff.drops` for the caller to confirm.
What it cannot express (functions, triggers, policies, identity or generated changes, partition
keys, enum values removed or reordered...) is listed in :attr:`Diff.unsupported`, never skipped.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Sequence as Seq

from migspec.frozen import field, frozen, record, replace
from migspec.names import QualifiedName, quote_ident as q, quote_literal
from migspec.schema.model import EXCLUDE, NOT_NULL, PRIMARY, UNIQUE, Column, Constraint, Index, Schema, Sequence, Table


@frozen
class Rename:
    """``table`` renamed to ``new`` (``column`` None), or its ``column`` renamed to ``new``."""

    table: QualifiedName
    column: str | None
    new: str

    def __str__(self) -> str:
        if self.column is None:
            return f"{self.table}={self.table.sibling(self.new)}"
        return f"{self.table}.{q(self.column)}={self.table}.{q(self.new)}"


@record
class Diff:
    statements: list[str] = field(default_factory=list)
    #: Tables and columns dropped because nothing said they were renamed: ``schema.table[.column]``.
    drops: list[str] = field(default_factory=list)
    #: Differences the differ cannot express, one line each.
    unsupported: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def diff(current: Schema, desired: Schema, renames: Seq[Rename] = ()) -> Diff:
    return _Differ(current, desired, renames).run()


def _column_sql(col: Column, *, with_not_null: bool = True) -> str:
    parts = [q(col.name), col.type or "text"]
    if col.collation:
        parts.append(f"COLLATE {_collation_sql(col.collation)}")
    if col.identity:
        parts.append(f"GENERATED {col.identity.upper()} AS IDENTITY")
    if col.generated:
        parts.append(f"GENERATED ALWAYS AS ({_strip_parens(col.generated)}) STORED")
    elif col.default is not None:
        parts.append(f"DEFAULT {col.default}")
    if col.not_null and with_not_null and not col.identity:
        parts.append("NOT NULL")
    return " ".join(parts)


def _collation_sql(name: str) -> str:
    """The model keeps a collation's name as the catalog spells it ("C", "pg_catalog.default")."""
    return ".".join(q(part) for part in name.split("."))


def schema_ddl(schema: Schema) -> list[str]:
    """The statements that create ``schema`` from nothing, index definitions exactly as the catalog
    wrote them (ON ONLY a partitioned table): the planner's facts, not a script to run."""
    return _Differ(Schema(), schema, (), as_read=True).run().statements


def _strip_parens(expr: str) -> str:
    return expr[1:-1] if expr.startswith("(") and expr.endswith(")") and _balanced(expr[1:-1]) else expr


def _balanced(text: str) -> bool:
    depth = 0
    for ch in text:
        depth += (ch == "(") - (ch == ")")
        if depth < 0:
            return False
    return depth == 0


def _key_columns(definition: str) -> str:
    """The column list of "PRIMARY KEY (a, b)", "UNIQUE (a)" or a unique index's "USING btree (a)"."""
    m = re.search(r"(?:KEY|UNIQUE(?: NULLS NOT DISTINCT)?|USING \w+) \(([^)]*)\)", definition)
    return m.group(1) if m else definition


def _word(text: str, old: str, new: str) -> str:
    """``old`` (an identifier as SQL spells it) replaced by ``new`` where it stands alone."""
    return re.sub(rf'(?<![\w."$]){re.escape(old)}(?![\w"$])', lambda _: new, text)


class _Differ:
    def __init__(self, current: Schema, desired: Schema, renames: Seq[Rename], *, as_read: bool = False) -> None:
        self.as_read = as_read
        self.old = copy.deepcopy(current)
        self.new = desired
        self.renames = list(renames)
        self.out = Diff()
        #: (table, column or None) whose readers (views) must be rebuilt: renamed, retyped, dropped.
        self.touched: set[tuple[QualifiedName, str | None]] = set()
        #: Partitions the diff detaches (tables of their own in the desired schema).
        self.detached: set[QualifiedName] = set()

    # --- entry -----------------------------------------------------------------------------

    def run(self) -> Diff:
        old, new = self.old, self.new
        self._unsupported_others()
        rename_sql = self._apply_renames()
        tables_gone = [n for n in old.tables if n not in new.tables]
        for name in tables_gone:
            self.touched.add((name, None))
        self._column_touches()
        views_dropped = self._views_to_drop()
        s = self.out.statements
        s += [f"CREATE SCHEMA {q(n)}" for n in sorted(new.schemas - old.schemas)]
        s += [f"DROP VIEW {n.sql}" for n in self._view_order(views_dropped, old, reverse=True)]
        s += rename_sql
        s += self._detach()
        s += self._renamed_keys()
        fk_drop, fk_add, con_drop, con_add, idx_drop, idx_add, validate = self._constraints_and_indexes()
        s += fk_drop + con_drop + idx_drop
        s += self._enums()
        seq_sql, seq_owned, seq_drop = self._sequences()
        s += seq_sql
        s += self._tables()
        s += seq_owned
        s += self._attach()
        s += con_add + validate + idx_add + fk_add
        views_created = [n for n, v in new.views.items()
                         if not v.materialized and (n not in old.views or n in views_dropped)]
        for n in self._view_order(set(views_created), new, reverse=False):
            v = new.views[n]
            opts = f" WITH ({', '.join(v.options)})" if v.options else ""
            s.append(f"CREATE VIEW {n.sql}{opts} AS {(v.definition or '').strip().rstrip(';')}")
        for n in self._drop_table_order(tables_gone):
            parent = old.tables[n].partition_of
            if parent is not None and parent in new.tables:  # detached first: a partition cannot be archived
                s.append(f"ALTER TABLE {parent.sql} DETACH PARTITION {n.sql}")
            for child in sorted(c for c, t in old.tables.items() if t.partition_of == n and c in tables_gone):
                # the planner archives a dropped table by moving it to another schema: its
                # partitions would stay behind, still attached
                s += [f"ALTER TABLE {n.sql} DETACH PARTITION {child.sql}", f"DROP TABLE {child.sql}"]
            s.append(f"DROP TABLE {n.sql}")
        s += seq_drop
        s += [f"DROP TYPE {n.sql}" for n in sorted(old.enums) if n not in new.enums]
        s += [f"DROP SCHEMA {q(n)}" for n in sorted(old.schemas - new.schemas)]
        self.out.drops += [str(n) for n in sorted(tables_gone) if old.tables[n].partition_of is None
                           or old.tables[n].partition_of not in tables_gone]
        return self.out

    # --- what the differ does not change -----------------------------------------------------

    def _unsupported_others(self) -> None:
        for name in sorted(set(self.old.tables) & set(self.new.tables)):
            a, b = self.old.tables[name].triggers, self.new.tables[name].triggers
            for t in sorted(set(a) | set(b)):
                if (a[t].definition if t in a else None) != (b[t].definition if t in b else None):
                    what = "added" if t not in a else "removed" if t not in b else "changed"
                    self.out.unsupported.append(f"trigger {q(t)} on {name}: {what}")
        for schema in (self.old, self.new):  # triggers of tables that come or go
            for name, table in schema.tables.items():
                if name not in self.old.tables or name not in self.new.tables:
                    self.out.unsupported += [f"trigger {q(t)} on {name}: {'added' if schema is self.new else 'removed'}"
                                             for t in sorted(table.triggers)]
        old, new = self.old.others, self.new.others
        for key in sorted(set(old) | set(new)):
            if old.get(key) != new.get(key):
                what = "added" if key not in old else "removed" if key not in new else "changed"
                self.out.unsupported.append(f"{key[0]} {key[1]}: {what}")
        for name in sorted(set(self.old.views) | set(self.new.views)):
            a, b = self.old.views.get(name), self.new.views.get(name)
            if (a and a.materialized or b and b.materialized) and (a is None or b is None or
                                                                    (a.definition, a.options, a.materialized)
                                                                    != (b.definition, b.options, b.materialized)):
                self.out.unsupported.append(f"materialized view {name}: {'added' if a is None else 'removed' if b is None else 'changed'}")

    # --- renames ----------------------------------------------------------------------------

    def _apply_renames(self) -> list[str]:
        """Rewrite the current schema as the renames leave it (so the rest compares like with
        like) and return the RENAME statements."""
        out: list[str] = []
        old = self.old
        for r in sorted(self.renames, key=lambda r: r.column is not None):
            if r.column is None:
                if r.table not in old.tables:
                    from migspec.errors import InputError
                    raise InputError(f"rename {r}: no table {r.table} in the current schema")
                target = r.table.sibling(r.new)
                if target in self.new.tables:  # before the rename: the measurements are the old name's
                    kept = {c.column for c in self.renames if c.table == target and c.column is not None}
                    out += self._not_null_names(old.tables[r.table], self.new.tables[target], skip=kept)
                out.append(f"ALTER TABLE {r.table.sql} RENAME TO {q(r.new)}")
                self.touched.add((r.table, None))
                table = old.tables.pop(r.table)
                table.name = target
                old.tables[target] = table
                self._substitute(r.table.sql, target.sql)
                for t in old.tables.values():
                    if t.partition_of == r.table:
                        t.partition_of = target
                for seq in old.sequences.values():
                    if seq.owned_by and seq.owned_by[0] == r.table:
                        seq.owned_by = (target, seq.owned_by[1])
                        # a serial's default names the sequence, not the table: nothing to rewrite
            else:
                table = old.tables.get(r.table)
                if table is None or r.column not in table.columns:
                    from migspec.errors import InputError
                    raise InputError(f"rename {r}: no column {r.column} in {r.table} in the current schema")
                out.append(f"ALTER TABLE {r.table.sql} RENAME COLUMN {q(r.column)} TO {q(r.new)}")
                self.touched.add((r.table, r.column))
                table.columns = {(r.new if k == r.column else k): (replace(c, name=r.new) if k == r.column else c)
                                 for k, c in table.columns.items()}
                qo, qn = q(r.column), q(r.new)
                for con in table.constraints.values():
                    con.definition = _word(con.definition, qo, qn)
                for idx in table.indexes.values():
                    idx.definition = _word(idx.definition, qo, qn)
                for col in table.columns.values():
                    if col.generated:
                        col.generated = _word(col.generated, qo, qn)
                # foreign keys elsewhere naming the column: REFERENCES t(col, ...)
                ref = re.compile(rf"(REFERENCES {re.escape(r.table.sql)}\()([^)]*)\)")
                for t in old.tables.values():
                    for con in t.constraints.values():
                        if con.kind == "f":
                            con.definition = ref.sub(lambda m: m.group(1) + _word(m.group(2), qo, qn) + ")",
                                                     con.definition)
                for seq in old.sequences.values():
                    if seq.owned_by == (r.table, r.column):
                        seq.owned_by = (r.table, r.new)
        return out

    def _substitute(self, old_sql: str, new_sql: str) -> None:
        """A renamed table's qualified name inside the current definitions that name it."""
        for t in self.old.tables.values():
            for con in t.constraints.values():
                con.definition = _word(con.definition, old_sql, new_sql)
            for idx in t.indexes.values():
                idx.definition = _word(idx.definition, old_sql, new_sql)

    # --- columns that views read --------------------------------------------------------------

    def _column_touches(self) -> None:
        for name, table in self.old.tables.items():
            other = self.new.tables.get(name)
            if other is None:
                continue
            for col in table.columns.values():
                b = other.columns.get(col.name)
                if b is None or (b.type, b.collation) != (col.type, col.collation):
                    self.touched.add((name, col.name))

    def _views_to_drop(self) -> set[QualifiedName]:
        old, new = self.old.views, self.new.views
        drop = {n for n, v in old.items() if not v.materialized and
                (n not in new or (v.definition, v.options) != (new[n].definition, new[n].options))}
        changed = True
        while changed:
            changed = False
            for n, v in old.items():
                if n in drop or v.materialized:
                    continue
                if any((t, None) in self.touched or (t, c) in self.touched or t in drop for t, c in v.reads):
                    drop.add(n)
                    changed = True
        for n in sorted(drop):
            if n in new and (old[n].definition, old[n].options) == (new[n].definition, new[n].options):
                self.out.notes.append(f"view {n} is dropped and recreated: it reads a column that changes")
        return drop

    @staticmethod
    def _view_order(names: set[QualifiedName], schema: Schema, *, reverse: bool) -> list[QualifiedName]:
        """Dependencies first (``reverse``: dependents first)."""
        done: list[QualifiedName] = []

        def visit(n: QualifiedName, path: frozenset[QualifiedName]) -> None:
            if n in done or n in path:
                return
            for dep, _ in sorted(schema.views[n].reads, key=lambda x: (x[0], x[1] or "")):
                if dep in names:
                    visit(dep, path | {n})
            done.append(n)

        for n in sorted(names):
            visit(n, frozenset())
        return done[::-1] if reverse else done

    # --- partitions ---------------------------------------------------------------------------

    def _partition_change(self, name: QualifiedName) -> tuple[Table, Table] | None:
        a, b = self.old.tables.get(name), self.new.tables.get(name)
        if a is None or b is None or (a.partition_of, a.partition_bound) == (b.partition_of, b.partition_bound):
            return None
        return a, b

    def _detach(self) -> list[str]:
        out = []
        for name in sorted(self.old.tables):
            change = self._partition_change(name)
            if change and change[0].partition_of is not None and change[0].partition_of in self.new.tables:
                out.append(f"ALTER TABLE {change[0].partition_of.sql} DETACH PARTITION {name.sql}")
                detached(change[0])
                self.detached.add(name)
        return out

    def _attach(self) -> list[str]:
        out = []
        for name in sorted(self.new.tables):
            change = self._partition_change(name)
            if change and change[1].partition_of is not None:
                out.append(f"ALTER TABLE {change[1].partition_of.sql} ATTACH PARTITION {name.sql} "
                           f"{change[1].partition_bound}")
        return out

    # --- enums and sequences ------------------------------------------------------------------

    def _enums(self) -> list[str]:
        out = []
        for name, e in sorted(self.new.enums.items()):
            before = self.old.enums.get(name)
            if before is None:
                out.append(f"CREATE TYPE {name.sql} AS ENUM ({', '.join(map(quote_literal, e.labels))})")
                continue
            if before.labels == e.labels:
                continue
            it = iter(e.labels)
            if not all(label in it for label in before.labels):  # not a subsequence: removed or reordered
                self.out.unsupported.append(f"enum {name}: values removed or reordered "
                                            f"({', '.join(before.labels)} -> {', '.join(e.labels)}); only "
                                            "added values are supported")
                continue
            have = list(before.labels)
            for i, label in enumerate(e.labels):
                if label in have:
                    continue
                after = e.labels[i - 1] if i else None
                where = f" AFTER {quote_literal(after)}" if after is not None else f" BEFORE {quote_literal(have[0])}"
                out.append(f"ALTER TYPE {name.sql} ADD VALUE {quote_literal(label)}"
                           + ("" if after == have[-1] else where))
                have.insert(have.index(after) + 1 if after is not None else 0, label)
        return out

    def _sequences(self) -> tuple[list[str], list[str], list[str]]:
        body, owned, drop = [], [], []
        for name, s in sorted(self.new.sequences.items()):
            before = self.old.sequences.get(name)
            if before is None:
                body.append(f"CREATE SEQUENCE {name.sql} {self._seq_options(s, None)}")
            else:
                opts = self._seq_options(s, before)
                if opts:
                    body.append(f"ALTER SEQUENCE {name.sql} {opts}")
            if s.owned_by != (before.owned_by if before else None):
                owner = f"{s.owned_by[0].sql}.{q(s.owned_by[1])}" if s.owned_by else "NONE"
                owned.append(f"ALTER SEQUENCE {name.sql} OWNED BY {owner}")
        for name, s in sorted(self.old.sequences.items()):
            if name in self.new.sequences:
                continue
            if s.owned_by and s.owned_by[0] not in self.new.tables:
                continue  # goes with its table (the planner archives the table, sequence included)
            drop.append(f"DROP SEQUENCE {name.sql}")
        return body, owned, drop

    @staticmethod
    def _seq_options(s: Sequence, before: Sequence | None) -> str:
        parts = []
        for attr, sql in (("type", "AS {}"), ("increment", "INCREMENT BY {}"), ("minimum", "MINVALUE {}"),
                          ("maximum", "MAXVALUE {}"), ("start", "START WITH {}"), ("cache", "CACHE {}")):
            value = getattr(s, attr)
            if value is not None and (before is None or getattr(before, attr) != value):
                parts.append(sql.format(value))
        if before is None or before.cycle != s.cycle:
            parts.append("CYCLE" if s.cycle else "NO CYCLE")
        return " ".join(parts)

    # --- tables and columns -------------------------------------------------------------------

    def _tables(self) -> list[str]:
        out: list[str] = []
        new_names = [n for n in self.new.tables if n not in self.old.tables]
        for name in sorted(new_names, key=lambda n: (self.new.tables[n].partition_of is not None, n)):
            t = self.new.tables[name]
            if t.partition_of is not None:
                out.append(f"CREATE TABLE {name.sql} PARTITION OF {t.partition_of.sql} {t.partition_bound}")
                continue
            cols = ",\n    ".join(_column_sql(c) for c in t.columns.values())
            key = f" PARTITION BY {t.partition_key}" if t.partition_key else ""
            out.append(f"CREATE TABLE {name.sql} (\n    {cols}\n){key}")
        for name in sorted(n for n in self.new.tables if n in self.old.tables):
            out += self._columns(self.old.tables[name], self.new.tables[name])
        return out

    def _columns(self, a: Table, b: Table) -> list[str]:
        t = b.name.sql
        out: list[str] = []
        if (a.partition_key or "") != (b.partition_key or ""):
            self.out.unsupported.append(f"table {b.name}: partition key {a.partition_key or 'none'} -> "
                                        f"{b.partition_key or 'none'}")
        for col in b.columns.values():
            if col.name not in a.columns and not col.inherited:
                out.append(f"ALTER TABLE {t} ADD COLUMN {_column_sql(col)}")
        for col in b.columns.values():
            was = a.columns.get(col.name)
            if was is None or col.inherited and was.inherited:
                continue
            c = q(col.name)
            if (was.identity, was.generated) != (col.identity, col.generated):
                self.out.unsupported.append(f"column {b.name}.{c}: identity or generation expression changed")
                continue
            # The default first: the planner's type change (a new column swapped in) carries the
            # default the column has when it is planned.
            if was.default != col.default and not col.generated:
                out.append(f"ALTER TABLE {t} ALTER COLUMN {c} SET DEFAULT {col.default}" if col.default is not None
                           else f"ALTER TABLE {t} ALTER COLUMN {c} DROP DEFAULT")
            if (was.type, was.collation) != (col.type, col.collation):
                # without COLLATE the column keeps its collation when the type stays the same
                collate = f" COLLATE {_collation_sql(col.collation or 'pg_catalog.default')}" \
                    if col.collation or was.collation else ""
                out.append(f"ALTER TABLE {t} ALTER COLUMN {c} TYPE {col.type}{collate}")
            if was.not_null != col.not_null and not col.identity:
                out.append(f"ALTER TABLE {t} ALTER COLUMN {c} {'SET' if col.not_null else 'DROP'} NOT NULL")
        for col in a.columns.values():
            if col.name not in b.columns and not col.inherited:
                for seq in self.old.sequences.values():  # else the drop takes it along, unrestorable
                    if seq.owned_by == (a.name, col.name):
                        out.append(f"ALTER SEQUENCE {seq.name.sql} OWNED BY NONE")
                        seq.owned_by = None
                out.append(f"ALTER TABLE {t} DROP COLUMN {q(col.name)}")
                self.out.drops.append(f"{b.name}.{q(col.name)}")
        after = [c for c in a.columns if c in b.columns] + [c for c in b.columns if c not in a.columns]
        if after != list(b.columns) and not b.partition_of:
            self.out.notes.append(f"table {b.name}: column order differs; PostgreSQL appends new columns at the end "
                                  "and cannot reorder them (left as is)")
        return out

    def _drop_table_order(self, names: Iterable[QualifiedName]) -> list[QualifiedName]:
        gone = set(names)
        # Partitions of a dropped parent are detached and dropped with it (run()).
        return sorted(n for n in gone if self.old.tables[n].partition_of not in gone)

    # --- constraints and indexes --------------------------------------------------------------

    def _indexes(self, table: Table) -> dict[str, Index]:
        # as_read (the planner's facts): every index the catalog lists, a partition's attached copies
        # too, but not a key's own index (its constraint builds it: listed twice, a DOWN rebuilds it twice)
        return {n: i for n, i in table.indexes.items() if n not in _key_names(table)} if self.as_read \
            else own_indexes(table)

    def _constraints(self, table: Table) -> dict[str, Constraint]:
        return {n: c for n, c in table.constraints.items() if c.kind != NOT_NULL} if self.as_read \
            else own_constraints(table)

    def _renamed_keys(self) -> list[str]:
        """A constraint or index that only changed its name (a renamed table's ``t_pkey`` that the
        desired schema calls ``u_pkey``) is renamed, not dropped and rebuilt."""
        out: list[str] = []
        for name, a in sorted(self.old.tables.items()):
            b = self.new.tables.get(name)
            if b is None:
                continue
            out += self._not_null_names(a, b)
            gone = {n: c for n, c in self._constraints(a).items() if n not in b.constraints}
            came = {n: c for n, c in self._constraints(b).items() if n not in a.constraints}
            for n, con in sorted(gone.items()):
                match = next((m for m, c in sorted(came.items()) if (c.kind, c.definition) == (con.kind, con.definition)),
                             None)
                if match is not None:
                    del came[match]
                    out.append(f"ALTER TABLE {name.sql} RENAME CONSTRAINT {q(n)} TO {q(match)}")
                    con.name = match
                    a.constraints[match] = a.constraints.pop(n)
                    if con.kind in "pux" and n in a.indexes:  # the key's index is renamed with it
                        a.indexes[match] = a.indexes.pop(n)
                        a.indexes[match].name = match
            shape = lambda idx: idx.definition.replace(f" INDEX {q(idx.name)} ON ", " INDEX ON ", 1)  # noqa: E731
            gone_i = {n: i for n, i in self._indexes(a).items() if n not in b.indexes}
            came_i = {n: i for n, i in self._indexes(b).items() if n not in a.indexes}
            for n, idx in sorted(gone_i.items()):
                match = next((m for m, i in sorted(came_i.items()) if shape(i) == shape(idx)), None)
                if match is not None:
                    del came_i[match]
                    out.append(f"ALTER INDEX {name.sibling(n).sql} RENAME TO {q(match)}")
                    a.indexes[match] = a.indexes.pop(n)
                    a.indexes[match].definition = came_i.get(match, b.indexes[match]).definition
                    a.indexes[match].name = match
        return out

    def _not_null_names(self, a: Table, b: Table, *, skip: set[str] | None = None) -> list[str]:
        """PostgreSQL 18 names each NOT NULL constraint and keeps the name through DETACH and ATTACH
        PARTITION and through ALTER TABLE ... RENAME TO (``tags`` renamed ``labels`` keeps
        ``tags_id_not_null``, observed on 18.1; tests/test_diff_corpus.py rename-table): a partition
        made by PARTITION OF has its parent's (``events_at_not_null``), a table made on its own
        ``<table>_<column>_not_null``; pg_dump writes a name that differs from the default.
        Renamed (RENAME CONSTRAINT; its DOWN renames back) on a table the diff detaches (after the
        detach: its constraints are its own), on a table the diff renames (just before RENAME TO,
        under the old name: the measurements are that name's) and on a table the diff attaches
        (before the ATTACH, to its new parent's names; the ATTACH's DOWN detaches it first: an
        attached partition's are inherited and cannot be renamed, 42P16, observed on 18.1). Not a
        renamed column's (``skip``): the planner rebuilds a renamed column's NOT NULL under the new
        name itself. Before 18 a column's NOT NULL has no name (``not_null_name`` None): nothing
        to rename."""
        out: list[str] = []
        attaching = a.partition_of is None and b.partition_of is not None
        if self.as_read or (a.name not in self.detached and skip is None and not attaching):
            return out
        for col in a.columns.values():
            if skip and col.name in skip:
                continue
            other = b.columns.get(col.name)
            if other is None or not (col.not_null and other.not_null) or None in (col.not_null_name,
                                                                                  other.not_null_name):
                continue
            if col.not_null_name != other.not_null_name:
                if a.partition_of is not None:
                    self.out.notes.append(f"table {b.name}: the NOT NULL constraint of {q(col.name)} is named "
                                          f"{q(col.not_null_name or '')}, not {q(other.not_null_name or '')}; a "
                                          "partition's cannot be renamed (left as is)")
                    continue
                out.append(f"ALTER TABLE {a.name.sql} RENAME CONSTRAINT {q(col.not_null_name or '')} TO "
                           f"{q(other.not_null_name or '')}")
                col.not_null_name = other.not_null_name
        return out

    def _constraints_and_indexes(self) -> tuple[list[str], ...]:
        old, new = self.old.tables, self.new.tables
        fk_drop: list[str] = []
        fk_add: list[str] = []
        con_drop: list[str] = []
        con_add: list[str] = []
        idx_drop: list[str] = []
        idx_add: list[str] = []
        validate: list[str] = []
        # Unique keys rebuilt, as the text a foreign key names them by: "public.t(a, b)".
        rebuilt_keys: set[str] = set()
        for name, a in old.items():
            b = new.get(name)
            for cname, con in self._constraints(a).items():
                other = b.constraints.get(cname) if b else None
                if con.kind in "pu" and (other is None or other.definition != con.definition):
                    rebuilt_keys.add(f"{name.sql}({_key_columns(con.definition)})")
            for iname, idx in self._indexes(a).items():
                other = b.indexes.get(iname) if b else None
                if idx.unique and (other is None or other.definition != idx.definition):
                    rebuilt_keys.add(f"{name.sql}({_key_columns(idx.definition)})")

        def refs(con: Constraint) -> bool:
            return any(f"REFERENCES {key}" in con.definition for key in rebuilt_keys)

        for name, a in sorted(old.items()):
            b = new.get(name)
            if b is None:
                continue
            for cname, con in sorted(self._constraints(a).items()):
                other = b.constraints.get(cname)
                same = other is not None and other.definition == con.definition and other.kind == con.kind
                if other is not None and not same and other.kind == con.kind and con.definition.endswith(" NOT VALID") \
                        and con.definition.removesuffix(" NOT VALID") == other.definition:
                    validate.append(f"ALTER TABLE {name.sql} VALIDATE CONSTRAINT {q(cname)}")
                    continue
                if same and not (con.kind == "f" and refs(con)):
                    continue
                sql = f"ALTER TABLE {name.sql} DROP CONSTRAINT {q(cname)}"
                (fk_drop if con.kind == "f" else con_drop).append(sql)
            # A table attached as a partition keeps an index shaped like one of its new parent's:
            # ATTACH PARTITION attaches it (dropping it after the attach fails, 2BP01).
            parent = self.new.tables.get(b.partition_of) if b.partition_of and not a.partition_of else None
            attached = {i.shape for i in self._indexes(parent).values()} if parent else set()
            for iname, idx in sorted(self._indexes(a).items()):
                other = self._indexes(b).get(iname)
                if (other is None or other.definition != idx.definition) and idx.shape not in attached:
                    idx_drop.append(f"DROP INDEX {name.sibling(iname).sql}")
                elif not idx.valid:
                    self.out.notes.append(f"index {name.sibling(iname)} is INVALID in the current schema")
        # FKs on tables that go, pointing at tables that stay, go with their table; FKs on tables
        # that stay, pointing at tables that go, are not in the desired schema: dropped above.
        for name, b in sorted(new.items()):
            a = old.get(name)
            for cname, con in sorted(self._constraints(b).items()):
                before = a.constraints.get(cname) if a else None
                if before is not None and before.definition.removesuffix(" NOT VALID") == con.definition \
                        and before.kind == con.kind and not (con.kind == "f" and refs(con)):
                    continue
                sql = f"ALTER TABLE {name.sql} ADD CONSTRAINT {q(cname)} {con.definition}"
                (fk_add if con.kind == "f" else con_add).append(sql)
            for iname, idx in sorted(self._indexes(b).items()):
                before = self._indexes(a).get(iname) if a else None
                if before is None or before.definition != idx.definition:
                    idx_add.append(idx.definition if self.as_read else index_sql(b, idx))
        # keys before checks: a PRIMARY KEY's NOT NULL columns first
        con_add.sort(key=lambda s: (" PRIMARY KEY " not in s, " UNIQUE " not in s))
        return fk_drop, fk_add, con_drop, con_add, idx_drop, idx_add, validate


def detached(table: Table) -> None:
    """``table`` as DETACH PARTITION leaves it: a table of its own whose copies of the parent's
    columns, keys, checks, foreign keys and indexes stay, made its own (conislocal, attislocal true;
    the indexes no longer attached). Observed on PostgreSQL 13, 15 and 18
    (tests/test_schema_catalog.py::test_detach_leaves_the_parents_copies_as_the_tables_own); the differ compares
    them like any table's own (the desired table may lack the primary key it had as a partition)."""
    table.partition_of = table.partition_bound = None
    for col in table.columns.values():
        col.inherited = False
    for con in table.constraints.values():
        con.inherited = False
    for idx in table.indexes.values():
        idx.attached = False


def own_indexes(table: Table) -> dict[str, Index]:
    """The indexes a CREATE INDEX made on ``table``: not a constraint's own (a key's index comes
    with its constraint), not a partition's index attached to its parent's (it comes with the parent's)."""
    return {n: i for n, i in table.indexes.items() if n not in _key_names(table) and not i.attached}


def _key_names(table: Table) -> set[str]:
    """The names of ``table``'s keys, which are also the names of the indexes they own."""
    return {n for n, c in table.constraints.items() if c.kind in (PRIMARY, UNIQUE, EXCLUDE)}


def index_sql(table: Table, index: Index) -> str:
    """The CREATE INDEX: on a partitioned table without ONLY (pg_get_indexdef's ONLY would build
    no index on the partitions)."""
    return index.definition.replace(" ON ONLY ", " ON ", 1) if table.partition_key else index.definition


def own_constraints(table: Table) -> dict[str, Constraint]:
    """The constraints defined on ``table`` itself: not a partition's copies of its parent's (they come
    with it), not a NOT NULL constraint (the column's ``not_null``)."""
    return {n: c for n, c in table.constraints.items() if not c.inherited and c.kind != NOT_NULL}

"""The (current, desired) schema pairs of the diff oracle (tests/test_diff_corpus.py).

A small DSL: a schema is a :class:`Spec` (enums, sequences, tables as column -> definition,
constraints, indexes, views, partitions), rendered to SQL. Each :class:`Mutation` changes a copy of
the base schema; every mutation gives two pairs, base -> mutated and mutated -> base (an added
column read backwards is a dropped one), and combinations of mutations that touch different
objects (chosen by a seeded random, so the corpus is the same on every run) give more.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Tab:
    columns: dict[str, str]  # name (as SQL spells it) -> "type [DEFAULT ...] [NOT NULL]"
    partition_by: str | None = None


@dataclass
class Spec:
    schemas: list[str] = field(default_factory=list)
    enums: dict[str, list[str]] = field(default_factory=dict)
    sequences: dict[str, str] = field(default_factory=dict)  # name -> options
    tables: dict[str, Tab] = field(default_factory=dict)
    partitions: dict[str, str] = field(default_factory=dict)  # name -> "PARTITION OF parent FOR VALUES ..."
    constraints: dict[str, tuple[str, str]] = field(default_factory=dict)  # name -> (table, definition)
    indexes: dict[str, str] = field(default_factory=dict)  # name -> "[UNIQUE ]INDEX name ON ..." tail
    views: dict[str, str] = field(default_factory=dict)  # name -> SELECT (in creation order)
    owned: dict[str, str] = field(default_factory=dict)  # sequence -> table.column
    extra: list[str] = field(default_factory=list)  # statements the differ must refuse

    def sql(self) -> str:
        out = [f"CREATE SCHEMA {s};" for s in self.schemas]
        out += [f"CREATE TYPE {n} AS ENUM ({', '.join(repr(v) for v in vals)});" for n, vals in self.enums.items()]
        out += [f"CREATE SEQUENCE {n} {o};" for n, o in self.sequences.items()]
        for name, t in self.tables.items():
            cols = ",\n  ".join(f"{c} {d}" for c, d in t.columns.items())
            part = f" PARTITION BY {t.partition_by}" if t.partition_by else ""
            out.append(f"CREATE TABLE {name} (\n  {cols}\n){part};")
        out += [f"CREATE TABLE {n} {d};" for n, d in self.partitions.items()]
        out += [f"ALTER SEQUENCE {s} OWNED BY {c};" for s, c in self.owned.items()]
        keys = sorted(self.constraints.items(), key=lambda kv: "FOREIGN KEY" in kv[1][1])
        out += [f"ALTER TABLE {t} ADD CONSTRAINT {n} {d};" for n, (t, d) in keys]
        out += [f"CREATE {d};" for d in self.indexes.values()]
        out += [f"CREATE VIEW {n} AS {q};" for n, q in self.views.items()]
        out += self.extra
        return "\n".join(out) + "\n"


def base() -> Spec:
    s = Spec()
    s.enums = {"mood": ["sad", "ok", "happy"], "order_state": ["new", "paid"], "unused_kind": ["a", "b"]}
    s.sequences = {"invoice_seq": "START 100 INCREMENT 1"}
    s.tables = {
        "customers": Tab({"id": "bigint NOT NULL", "name": "text NOT NULL", "email": "text",
                          "created_at": "timestamptz NOT NULL DEFAULT now()"}),
        "orders": Tab({"id": "bigint NOT NULL", "customer_id": "bigint", "amount": "integer NOT NULL DEFAULT 0",
                       "note": "text", "code": "varchar(10)", "state": "order_state DEFAULT 'new'",
                       "mood": "mood"}),
        "items": Tab({"id": "bigint NOT NULL", "order_id": "bigint NOT NULL", "sku": "text NOT NULL",
                      "qty": "integer NOT NULL DEFAULT 1", "price": "numeric(10,2)"}),
        "tags": Tab({"id": "integer NOT NULL", "label": "text"}),
        "events": Tab({"id": "bigint NOT NULL", "at": "date NOT NULL", "kind": "text"}, partition_by="RANGE (at)"),
        "events_archive": Tab({"id": "bigint NOT NULL", "at": "date NOT NULL", "kind": "text"}),
        '"Order Notes"': Tab({'"ID"': "bigint NOT NULL", '"select"': "text"}),
    }
    s.partitions = {
        "events_2025": "PARTITION OF events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01')",
        "events_2026": "PARTITION OF events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01')",
    }
    s.constraints = {
        "customers_pkey": ("customers", "PRIMARY KEY (id)"),
        "customers_email_key": ("customers", "UNIQUE (email)"),
        "orders_pkey": ("orders", "PRIMARY KEY (id)"),
        "orders_customer_fk": ("orders", "FOREIGN KEY (customer_id) REFERENCES customers (id)"),
        "orders_amount_check": ("orders", "CHECK (amount >= 0)"),
        "items_pkey": ("items", "PRIMARY KEY (id)"),
        "items_order_fk": ("items", "FOREIGN KEY (order_id) REFERENCES orders (id)"),
        "events_pkey": ("events", "PRIMARY KEY (id, at)"),
        '"Order Notes_pkey"': ('"Order Notes"', 'PRIMARY KEY ("ID")'),
    }
    s.indexes = {
        "orders_note_idx": "INDEX orders_note_idx ON orders (note)",
        "orders_customer_idx": "INDEX orders_customer_idx ON orders (customer_id)",
        "items_sku_lower": "INDEX items_sku_lower ON items (lower(sku))",
        "orders_new_idx": "INDEX orders_new_idx ON orders (id) WHERE state = 'new'",
        "events_at_idx": "INDEX events_at_idx ON events (at)",
        "items_order_idx": "INDEX items_order_idx ON items (order_id)",
    }
    s.views = {
        "order_totals": "SELECT o.id, o.amount, c.name FROM orders o JOIN customers c ON c.id = o.customer_id",
        "big_orders": "SELECT id, amount FROM orders WHERE amount > 100",
        "vip_orders": "SELECT id FROM big_orders WHERE amount > 1000",
        "contacts": "SELECT id, email FROM customers",
    }
    return s


@dataclass(frozen=True)
class Mutation:
    name: str
    change: Callable[[Spec], None]
    touches: frozenset[str]  # objects it changes: combinations only join disjoint ones
    renames: tuple[str, ...] = ()  # --rename specs (base -> mutated)
    reverse_renames: tuple[str, ...] = ()
    data: bool = False  # safe to run with rows and writers (the rows satisfy the desired schema)
    #: It drops something (base -> mutated, or backwards with "reverse"): needs --accept-drops.
    drops: str = ""  # "", "forward", "reverse", "both"
    #: Backwards it is a change the differ refuses (an enum value removed): the pair checks the refusal.
    reverse_unsupported: bool = False
    #: A known failure of the oracle (forward, reverse): why. The pair runs as a strict xfail, so a
    #: fix shows up as an unexpected pass.
    known: tuple[str, str] = ("", "")


def _col(table: str, col: str, definition: str | None) -> Callable[[Spec], None]:
    def change(s: Spec) -> None:
        if definition is None:
            del s.tables[table].columns[col]
        else:
            s.tables[table].columns[col] = definition
    return change


def _put(field_name: str, name: str, value: object) -> Callable[[Spec], None]:
    """Set (or, with None, remove) one entry of a Spec's mapping ``field_name``."""
    def change(s: Spec) -> None:
        objects = getattr(s, field_name)
        if value is None:
            del objects[name]
        else:
            objects[name] = value
    return change


def _con(name: str, table: str, definition: str | None) -> Callable[[Spec], None]:
    return _put("constraints", name, None if definition is None else (table, definition))


def _idx(name: str, definition: str | None) -> Callable[[Spec], None]:
    return _put("indexes", name, definition)


def _view(name: str, query: str | None) -> Callable[[Spec], None]:
    return _put("views", name, query)


def _all(*changes: Callable[[Spec], None]) -> Callable[[Spec], None]:
    def change(s: Spec) -> None:
        for c in changes:
            c(s)
    return change


def _rename_column(table: str, old: str, new: str) -> Callable[[Spec], None]:
    def change(s: Spec) -> None:
        t = s.tables[table]
        t.columns = {(new if k == old else k): v for k, v in t.columns.items()}
        for n, (tt, d) in list(s.constraints.items()):
            if tt == table:
                s.constraints[n] = (tt, d.replace(f"({old})", f"({new})"))
        for v, q in list(s.views.items()):
            s.views[v] = q.replace(f" {old} ", f" {new} ").replace(f" {old},", f" {new},").replace(
                f"{old} FROM {table}", f"{new} FROM {table}")
    return change


def _rename_table(old: str, new: str) -> Callable[[Spec], None]:
    def change(s: Spec) -> None:
        s.tables = {(new if k == old else k): v for k, v in s.tables.items()}
        s.constraints = {n: (new if t == old else t, d.replace(f"REFERENCES {old} ", f"REFERENCES {new} "))
                         for n, (t, d) in s.constraints.items()}
        s.indexes = {n: d.replace(f" ON {old} ", f" ON {new} ") for n, d in s.indexes.items()}
    return change


def _enum(name: str, labels: list[str] | None) -> Callable[[Spec], None]:
    return _put("enums", name, labels)


def _seq(name: str, options: str | None) -> Callable[[Spec], None]:
    return _put("sequences", name, options)


def _table(name: str, tab: Tab | None) -> Callable[[Spec], None]:
    return _put("tables", name, tab)


def _partition(name: str, definition: str | None) -> Callable[[Spec], None]:
    return _put("partitions", name, definition)


def _detach_2025(s: Spec) -> None:
    del s.partitions["events_2025"]
    s.tables["events_2025"] = Tab({"id": "bigint NOT NULL", "at": "date NOT NULL", "kind": "text"})
    s.indexes["events_2025_at_idx"] = "INDEX events_2025_at_idx ON events_2025 (at)"


def _attach_archive(s: Spec) -> None:
    del s.tables["events_archive"]
    s.partitions["events_archive"] = "PARTITION OF events FOR VALUES FROM ('2020-01-01') TO ('2025-01-01')"


def _new_table(s: Spec) -> None:
    s.tables["invoices"] = Tab({"id": "bigint NOT NULL", "order_id": "bigint NOT NULL",
                                "total": "numeric(12,2) NOT NULL DEFAULT 0", "issued_on": "date"})
    s.constraints["invoices_pkey"] = ("invoices", "PRIMARY KEY (id)")
    s.constraints["invoices_order_fk"] = ("invoices", "FOREIGN KEY (order_id) REFERENCES orders (id)")
    s.indexes["invoices_order_idx"] = "INDEX invoices_order_idx ON invoices (order_id)"


def _new_schema(s: Spec) -> None:
    s.schemas.append("billing")
    s.tables["billing.accounts"] = Tab({"id": "integer NOT NULL", "owner": "text"})
    s.constraints["accounts_pkey"] = ("billing.accounts", "PRIMARY KEY (id)")


def _new_partitioned(s: Spec) -> None:
    s.tables["metrics"] = Tab({"id": "bigint NOT NULL", "region": "text NOT NULL", "v": "double precision"},
                              partition_by="LIST (region)")
    s.partitions["metrics_eu"] = "PARTITION OF metrics FOR VALUES IN ('eu')"
    s.partitions["metrics_us"] = "PARTITION OF metrics FOR VALUES IN ('us')"
    s.indexes["metrics_id_idx"] = "INDEX metrics_id_idx ON metrics (id)"


def _serial_column(s: Spec) -> None:
    s.sequences["orders_seq_no_seq"] = "AS integer"
    s.tables["orders"].columns["seq_no"] = "integer NOT NULL DEFAULT nextval('orders_seq_no_seq')"
    s.owned["orders_seq_no_seq"] = "orders.seq_no"


def _enum_column(s: Spec) -> None:
    s.enums["priority"] = ["low", "high"]
    s.tables["orders"].columns["priority"] = "priority DEFAULT 'low'"


def _tags_key_and_fk(s: Spec) -> None:
    s.constraints["tags_pkey"] = ("tags", "PRIMARY KEY (id)")
    s.tables["orders"].columns["tag_id"] = "integer"
    s.constraints["orders_tag_fk"] = ("orders", "FOREIGN KEY (tag_id) REFERENCES tags (id)")
    # covered by an index, or the planner adds one (its advice for a foreign key) the desired schema lacks
    s.indexes["orders_tag_idx"] = "INDEX orders_tag_idx ON orders (tag_id)"


M = Mutation
F = frozenset
MUTATIONS: list[Mutation] = [
    # columns
    M("add-nullable-column", _col("orders", "ref", "text"), F({"orders.ref"}), data=True, drops="reverse"),
    M("add-not-null-default-column", _col("orders", "flag", "boolean NOT NULL DEFAULT false"), F({"orders.flag"}),
      data=True, drops="reverse"),
    M("add-volatile-default-column", _col("customers", "token", "uuid DEFAULT gen_random_uuid()"),
      F({"customers.token"}), data=True, drops="reverse"),
    M("add-numeric-column", _col("items", "discount", "numeric(5,2)"), F({"items.discount"}), drops="reverse"),
    M("drop-column", _all(_col("orders", "note", None), _idx("orders_note_idx", None)),
      F({"orders.note", "orders_note_idx"}), data=True, drops="forward"),
    M("drop-column-no-index", _col("items", "price", None), F({"items.price"}), drops="forward"),
    M("rename-column", _all(_rename_column("customers", "name", "full_name"),
                            _view("order_totals", "SELECT o.id, o.amount, c.full_name FROM orders o JOIN customers c "
                                                  "ON c.id = o.customer_id")),
      F({"customers.name", "order_totals"}), renames=("customers.name=customers.full_name",),
      reverse_renames=("customers.full_name=customers.name",), data=True),
    M("rename-table", _rename_table("tags", "labels"), F({"tags"}), renames=("tags=labels",),
      reverse_renames=("labels=tags",)),
    # types
    M("retype-int-bigint", _col("orders", "amount", "bigint NOT NULL DEFAULT 0"), F({"orders.amount"}), data=True),
    M("retype-widen-varchar", _col("orders", "code", "varchar(20)"), F({"orders.code"}), data=True),
    M("retype-varchar-text", _col("orders", "code", "text"), F({"orders.code"})),
    M("retype-numeric-precision", _col("items", "price", "numeric(12,2)"), F({"items.price"})),
    M("retype-text-varchar", _col('"Order Notes"', '"select"', "varchar(50)"), F({'"Order Notes"'})),
    M("retype-collation", _col("customers", "email", 'text COLLATE "C"'), F({"customers.email", "contacts"})),
    M("retype-read-by-view", _col("customers", "name", "varchar(200) NOT NULL"),
      F({"customers.name", "order_totals"})),
    # defaults
    M("change-default", _col("orders", "amount", "integer NOT NULL DEFAULT 1"), F({"orders.amount"}), data=True),
    M("set-default", _col("orders", "note", "text DEFAULT 'n/a'"), F({"orders.note"}), data=True),
    M("drop-default", _col("items", "qty", "integer NOT NULL"), F({"items.qty"})),
    M("change-default-function", _col("customers", "created_at", "timestamptz NOT NULL DEFAULT statement_timestamp()"),
      F({"customers.created_at"})),
    M("enum-default", _col("orders", "state", "order_state DEFAULT 'paid'"), F({"orders.state"})),
    # NOT NULL
    M("set-not-null", _col("orders", "customer_id", "bigint NOT NULL"), F({"orders.customer_id"})),
    M("drop-not-null", _col("customers", "name", "text"), F({"customers.name"}), data=True),
    M("set-not-null-numeric", _col("items", "price", "numeric(10,2) NOT NULL"), F({"items.price"})),
    # CHECK
    M("add-check", _con("orders_code_check", "orders", "CHECK (code <> '')"), F({"orders.code"}), data=True),
    M("drop-check", _con("orders_amount_check", "orders", None), F({"orders_amount_check"})),
    M("change-check", _con("orders_amount_check", "orders", "CHECK (amount > -1)"), F({"orders_amount_check"})),
    M("add-check-items", _con("items_qty_check", "items", "CHECK (qty > 0)"), F({"items.qty"})),
    # FOREIGN KEY
    M("drop-fk", _con("orders_customer_fk", "orders", None), F({"orders_customer_fk"})),
    M("change-fk-cascade", _con("orders_customer_fk", "orders",
                                "FOREIGN KEY (customer_id) REFERENCES customers (id) ON DELETE CASCADE"),
      F({"orders_customer_fk"}), data=True),
    M("add-pk-and-fk", _tags_key_and_fk, F({"tags", "orders.tag_id"}), drops="reverse"),
    # UNIQUE / PRIMARY KEY
    M("add-unique", _con("items_sku_key", "items", "UNIQUE (sku, order_id)"), F({"items.sku"})),
    M("drop-unique", _con("customers_email_key", "customers", None), F({"customers_email_key"})),
    M("change-unique", _con("customers_email_key", "customers", "UNIQUE (email, name)"),
      F({"customers_email_key"})),
    M("add-primary-key", _con("tags_pkey", "tags", "PRIMARY KEY (id)"), F({"tags"})),
    M("change-primary-key", _con("items_pkey", "items", "PRIMARY KEY (id, order_id)"), F({"items_pkey"})),
    # indexes
    M("add-index", _idx("items_qty_idx", "INDEX items_qty_idx ON items (qty)"), F({"items_qty_idx"}), data=True),
    M("drop-index", _idx("orders_note_idx", None), F({"orders_note_idx"}), data=True),
    M("add-partial-index", _idx("orders_big_idx", "INDEX orders_big_idx ON orders (amount) WHERE amount > 100"),
      F({"orders_big_idx"})),
    M("add-expression-index", _idx("customers_email_lower", "INDEX customers_email_lower ON customers "
                                                            "(lower(email))"), F({"customers_email_lower"})),
    M("add-unique-index", _idx("tags_label_key", "UNIQUE INDEX tags_label_key ON tags (label)"), F({"tags.label"})),
    M("change-index-columns", _idx("orders_note_idx", "INDEX orders_note_idx ON orders (note, id)"),
      F({"orders_note_idx"}), data=True),
    M("change-partial-predicate", _idx("orders_new_idx", "INDEX orders_new_idx ON orders (id) WHERE state = 'paid'"),
      F({"orders_new_idx"})),
    M("add-covering-index", _idx("orders_cust_cover", "INDEX orders_cust_cover ON orders (customer_id DESC) "
                                                      "INCLUDE (amount)"), F({"orders_cust_cover"})),
    M("change-expression-index", _idx("items_sku_lower", "INDEX items_sku_lower ON items (upper(sku))"),
      F({"items_sku_lower"})),
    M("add-index-quoted", _idx('"Notes by select"', 'INDEX "Notes by select" ON "Order Notes" ("select")'),
      F({'"Order Notes"'})),
    # enums
    M("enum-add-value-end", _enum("mood", ["sad", "ok", "happy", "ecstatic"]), F({"mood"}), reverse_unsupported=True),
    M("enum-add-value-middle", _enum("mood", ["sad", "meh", "ok", "happy"]), F({"mood"}), reverse_unsupported=True),
    M("enum-add-value-first", _enum("order_state", ["draft", "new", "paid"]), F({"order_state"}), reverse_unsupported=True),
    M("enum-new-type-and-column", _enum_column, F({"orders.priority"}), drops="reverse"),
    M("enum-drop-unused", _enum("unused_kind", None), F({"unused_kind"})),
    # views
    M("add-view", _view("cheap_orders", "SELECT id FROM orders WHERE amount < 10"), F({"cheap_orders"})),
    M("drop-view", _view("vip_orders", None), F({"vip_orders"})),
    M("change-view", _view("big_orders", "SELECT id, amount FROM orders WHERE amount > 500"),
      F({"big_orders", "vip_orders"})),
    M("drop-column-read-by-view", _all(_col("customers", "email", None), _view("contacts", None),
                                       _con("customers_email_key", "customers", None)),
      F({"customers.email", "contacts", "customers_email_key"}), drops="forward"),
    M("add-column-to-view", _view("contacts", "SELECT id, email, name FROM customers"), F({"contacts"})),
    # sequences
    M("add-sequence", _seq("ticket_seq", "START 1000 INCREMENT 10"), F({"ticket_seq"})),
    M("change-sequence-increment", _seq("invoice_seq", "START 100 INCREMENT 5"), F({"invoice_seq"})),
    M("change-sequence-bounds", _seq("invoice_seq", "START 100 INCREMENT 1 MAXVALUE 100000 CYCLE"),
      F({"invoice_seq"})),
    M("drop-sequence", _seq("invoice_seq", None), F({"invoice_seq"})),
    M("serial-column", _serial_column, F({"orders.seq_no"}), drops="reverse"),
    # tables
    M("add-table", _new_table, F({"invoices"}), drops="reverse"),
    M("drop-table", _table("tags", None), F({"tags"}), drops="forward"),
    M("add-identity-table", _table("audit", Tab({"id": "bigint GENERATED ALWAYS AS IDENTITY", "what": "text"})),
      F({"audit"}), drops="reverse"),
    M("add-generated-table", _table("prices", Tab({"net": "numeric NOT NULL", "gross": "numeric GENERATED "
                                                   "ALWAYS AS (net * 1.2) STORED"})), F({"prices"}),
      drops="reverse"),
    M("add-schema-and-table", _new_schema, F({"billing"}), drops="reverse"),
    M("add-quoted-column", _col('"Order Notes"', '"User Name"', "text"), F({'"Order Notes"'}), drops="reverse"),
    # partitions
    M("add-partition", _partition("events_2027", "PARTITION OF events FOR VALUES FROM ('2027-01-01') TO "
                                                 "('2028-01-01')"), F({"events_2027"}), drops="reverse"),
    M("drop-partition", _partition("events_2026", None), F({"events_2026"}), drops="forward"),
    M("detach-partition", _detach_2025, F({"events_2025"})),
    M("attach-partition", _attach_archive, F({"events_archive"})),
    M("add-partitioned-table", _new_partitioned, F({"metrics"}), drops="reverse"),
    M("add-column-partitioned", _col("events", "source", "text"), F({"events"}), drops="reverse"),
    M("add-index-partitioned", _idx("events_kind_idx", "INDEX events_kind_idx ON events (kind)"), F({"events"})),
]


@dataclass(frozen=True)
class Pair:
    name: str
    current: str
    desired: str
    renames: tuple[str, ...]
    accept_drops: bool
    data: bool
    unsupported: bool = False  # the differ must refuse it, listing the difference
    known: str = ""  # why the oracle fails on it today (a strict xfail)


def _spec(mutations: list[Mutation]) -> Spec:
    s = copy.deepcopy(base())
    for m in mutations:
        m.change(s)
    return s


def pairs() -> list[Pair]:
    """Every mutation forward and backward, then combinations of 2 and 3 disjoint mutations."""
    base_sql = base().sql()
    out: list[Pair] = []
    for m in MUTATIONS:
        mutated = _spec([m]).sql()
        out.append(Pair(m.name, base_sql, mutated, m.renames, m.drops in ("forward", "both"), m.data,
                        known=m.known[0]))
        out.append(Pair(f"{m.name}-reverse", mutated, base_sql, m.reverse_renames, m.drops in ("reverse", "both"),
                        False, m.reverse_unsupported, m.known[1]))
    rnd = random.Random(15)
    seen: set[tuple[str, ...]] = set()
    while len(seen) < 12:
        size = rnd.choice((2, 3))
        chosen = rnd.sample(MUTATIONS, size)
        touched = [t for m in chosen for t in m.touches]
        key = tuple(sorted(m.name for m in chosen))
        if len(touched) != len(set(touched)) or key in seen:
            continue
        seen.add(key)
        out.append(Pair("+".join(key), base_sql, _spec(chosen).sql(), tuple(r for m in chosen for r in m.renames),
                        any(m.drops in ("forward", "both") for m in chosen), all(m.data for m in chosen),
                        known="; ".join(m.known[0] for m in chosen if m.known[0])))
    return out

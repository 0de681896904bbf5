"""The one schema model (migspec.schema): the static loader reads every kind of object a dump
holds, the fingerprint is stable and sees every change, and the walk overlay stays out of it."""

from __future__ import annotations

from migspec.names import QualifiedName
from migspec.schema import CHECK, EXCLUDE, FOREIGN, PRIMARY, UNIQUE, Schema, load_ddl
from migspec.stats import parse_stats
from migspec.schema import from_stats

DDL = """
CREATE TYPE public.mood AS ENUM ('sad', 'ok');
ALTER TYPE public.mood ADD VALUE 'happy' AFTER 'ok';
ALTER TYPE public.mood ADD VALUE 'meh' BEFORE 'ok';
CREATE SEQUENCE public.orders_id_seq AS integer START WITH 1;
CREATE TABLE public.customers (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email text COLLATE "C" NOT NULL UNIQUE,
    feeling public.mood
);
CREATE TABLE public.orders (
    id integer NOT NULL,
    customer_id bigint,
    qty integer DEFAULT 1,
    total numeric(10,2) GENERATED ALWAYS AS (qty * 2) STORED,
    during tstzrange
);
ALTER SEQUENCE public.orders_id_seq OWNED BY public.orders.id;
ALTER TABLE ONLY public.orders ALTER COLUMN id SET DEFAULT nextval('public.orders_id_seq'::regclass);
ALTER TABLE ONLY public.orders ADD CONSTRAINT orders_pkey PRIMARY KEY (id);
ALTER TABLE public.orders ADD CONSTRAINT orders_qty_check CHECK (qty > 0);
ALTER TABLE public.orders ADD CONSTRAINT orders_customer_nn CHECK (customer_id IS NOT NULL) NOT VALID;
ALTER TABLE public.orders ADD CONSTRAINT orders_customer_fkey FOREIGN KEY (customer_id)
    REFERENCES public.customers(id) NOT VALID;
ALTER TABLE public.orders ADD CONSTRAINT orders_no_overlap EXCLUDE USING gist (during WITH &&);
CREATE UNIQUE INDEX orders_lower ON public.orders USING btree (lower((qty)::text)) WHERE (qty > 10);
CREATE INDEX orders_customer ON public.orders USING hash (customer_id);
CREATE VIEW public.big_orders AS SELECT id, qty FROM public.orders WHERE qty > 100;
CREATE MATERIALIZED VIEW public.everything AS SELECT * FROM public.orders;
CREATE TRIGGER t BEFORE INSERT ON public.orders FOR EACH ROW EXECUTE FUNCTION f();
CREATE TABLE public.events (at date NOT NULL, x int) PARTITION BY RANGE (at);
CREATE TABLE public.events_2024 (at date NOT NULL, x int);
ALTER TABLE ONLY public.events ATTACH PARTITION public.events_2024
    FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
"""

ORDERS = QualifiedName("public", "orders")


def test_static_loader_reads_every_kind_of_object() -> None:
    s = load_ddl(DDL)
    assert s.enums[QualifiedName("public", "mood")].labels == ("sad", "meh", "ok", "happy")
    seq = s.sequences[QualifiedName("public", "orders_id_seq")]
    assert seq.type == "integer" and seq.owned_by == (ORDERS, "id")
    customers = s.tables[QualifiedName("public", "customers")]
    assert customers.columns["id"].identity == "always" and customers.columns["id"].not_null
    assert customers.columns["email"].collation == "C" and customers.columns["email"].not_null
    assert customers.constraints["customers_pkey"].kind == PRIMARY
    assert customers.constraints["customers_email_key"].kind == UNIQUE
    assert customers.unique_keys == {frozenset({"id"}), frozenset({"email"})}
    orders = s.tables[ORDERS]
    assert list(orders.columns) == ["id", "customer_id", "qty", "total", "during"]
    assert orders.columns["id"].default == "nextval(CAST('public.orders_id_seq' AS regclass))"  # pglast's print
    assert orders.columns["qty"].default == "1" and orders.columns["total"].generated == "qty * 2"
    assert orders.primary_key == ("id",)
    assert orders.constraints["orders_qty_check"].kind == CHECK and orders.constraints["orders_qty_check"].validated
    nn = orders.constraints["orders_customer_nn"]
    assert nn.not_null_column == "customer_id" and not nn.validated
    assert not orders.has_validated_not_null_check("customer_id")
    fk = orders.constraints["orders_customer_fkey"]
    assert fk.kind == FOREIGN and fk.columns == ("customer_id",) and fk.references == customers.name
    assert orders.constraints["orders_no_overlap"].kind == EXCLUDE
    lower = orders.indexes["orders_lower"]
    assert lower.unique and not lower.plain and lower.predicate == "qty > 10" and lower.reads == {"qty"}
    assert orders.indexes["orders_customer"].method == "hash" and orders.indexes["orders_customer"].plain
    assert frozenset({"qty"}) not in orders.unique_keys  # an expression index bounds nothing
    assert s.index_table(QualifiedName("public", "orders_lower")) == ORDERS
    assert s.views_reading(ORDERS, "qty") == [QualifiedName("public", "big_orders"),
                                              QualifiedName("public", "everything")]
    assert s.views_reading(ORDERS, "customer_id") == [QualifiedName("public", "everything")]
    assert s.views[QualifiedName("public", "everything")].materialized
    assert "t" in orders.triggers
    events = s.tables[QualifiedName("public", "events")]
    part = s.tables[QualifiedName("public", "events_2024")]
    assert events.partition_key == "RANGE (at)"
    assert part.partition_of == events.name and "2024-01-01" in (part.partition_bound or "")


def test_later_statements_change_the_model() -> None:
    s = load_ddl(DDL + """
        ALTER TABLE public.orders VALIDATE CONSTRAINT orders_customer_nn;
        ALTER TABLE public.orders DROP COLUMN during, ALTER COLUMN qty TYPE bigint, ALTER COLUMN qty DROP DEFAULT;
        ALTER TABLE public.orders DROP CONSTRAINT orders_qty_check;
        DROP INDEX public.orders_customer;
        ALTER TABLE public.orders RENAME COLUMN qty TO quantity;
        ALTER INDEX public.orders_lower RENAME TO orders_lower_q;
        DROP VIEW public.big_orders;
    """)
    orders = s.tables[ORDERS]
    assert orders.has_validated_not_null_check("customer_id")
    assert list(orders.columns) == ["id", "customer_id", "quantity", "total"]
    assert orders.columns["quantity"].type == "bigint" and orders.columns["quantity"].default is None
    assert "orders_qty_check" not in orders.constraints
    assert set(orders.indexes) == {"orders_lower_q"}
    assert QualifiedName("public", "big_orders") not in s.views


def test_fingerprint_is_stable_and_sees_every_change() -> None:
    base = load_ddl(DDL).fingerprint()
    assert base == load_ddl(DDL).fingerprint()
    # The order statements come in does not matter (besides column order, which is real).
    statements = [s for s in DDL.split(";\n") if s.strip()]
    views = [s for s in statements if "VIEW" in s or "TRIGGER" in s or "INDEX" in s]
    rest = [s for s in statements if s not in views]
    assert load_ddl(";\n".join(rest + list(reversed(views))) + ";").fingerprint() == base
    changes = [
        "ALTER TABLE public.orders ALTER COLUMN qty SET NOT NULL",
        "ALTER TABLE public.orders ALTER COLUMN qty SET DEFAULT 2",
        "ALTER TABLE public.orders ALTER COLUMN qty TYPE bigint",
        "ALTER TABLE public.orders VALIDATE CONSTRAINT orders_customer_nn",
        "CREATE INDEX x ON public.orders (qty)",
        "ALTER TYPE public.mood ADD VALUE 'glad'",
        "ALTER TABLE public.orders ADD COLUMN note text",
        "ALTER SEQUENCE public.orders_id_seq OWNED BY NONE",
        "CREATE VIEW public.v AS SELECT qty FROM public.orders",
    ]
    seen = {base}
    for change in changes:
        fp = load_ddl(DDL + change + ";").fingerprint()
        assert fp not in seen, change
        seen.add(fp)


def test_walk_overlay_is_not_part_of_the_fingerprint() -> None:
    s = load_ddl(DDL)
    before = s.fingerprint()
    s.tables[ORDERS].created_here = True
    s.tables[ORDERS].measured = True
    s.dropped.add(QualifiedName("public", "gone"))
    s.notes.append("a note")
    s.timezone = "UTC"
    assert s.fingerprint() == before
    assert s.copy() == s and s.copy() is not s


def test_fingerprint_of_some_tables_ignores_the_others() -> None:
    a = load_ddl(DDL)
    b = load_ddl(DDL + "ALTER TABLE public.customers ADD COLUMN note text;")
    assert a.fingerprint() != b.fingerprint()
    assert a.fingerprint({ORDERS}) == b.fingerprint({ORDERS})
    assert Schema().fingerprint() == Schema().fingerprint()


def test_stats_schema_section_fills_the_same_model() -> None:
    stats = parse_stats({
        "tables": {"public.orders": {
            "rows": 10, "write_qps": 1,
            "schema": {
                "columns": [{"name": "id", "type": "integer", "not_null": True},
                            {"name": "qty", "type": "integer", "default": "1"}],
                "primary_key": ["id"],
                "constraints": {"orders_pkey": "PRIMARY KEY (id)", "orders_qty_check": "CHECK ((qty > 0))"},
                "indexes": {"orders_pkey": "CREATE UNIQUE INDEX orders_pkey ON public.orders USING btree (id)",
                            "orders_qty": "CREATE INDEX orders_qty ON public.orders USING btree (qty) WHERE (qty > 1)"},
                "invalid_indexes": ["orders_qty"],
            }}}}, "s.yaml")
    s = from_stats(stats)
    orders = s.tables[ORDERS]
    assert orders.measured and orders.primary_key == ("id",)
    assert orders.columns["qty"].default == "1" and orders.columns["id"].not_null
    assert orders.constraints["orders_qty_check"].kind == CHECK
    assert not orders.indexes["orders_qty"].valid and not orders.indexes["orders_qty"].plain
    assert orders.unique_keys == {frozenset({"id"})}

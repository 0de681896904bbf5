"""The catalog loader on a real server (every selected major: MIGSPEC_PG_MAJORS): it reads what
the static loader reads from the DDL that made the database, and exactly what the static loader
reads from that database's pg_dump (same fingerprint)."""

from __future__ import annotations

import subprocess

import psycopg
import pytest

from migspec.names import QualifiedName
from migspec.pgserver import Server
from migspec.schema import PRIMARY, Schema, load_ddl
from migspec.schema.catalog import load_catalog, load_dsn

DDL = """
CREATE FUNCTION public.touch() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$;
CREATE TYPE public.mood AS ENUM ('sad', 'ok');
ALTER TYPE public.mood ADD VALUE 'happy' AFTER 'ok';
CREATE SEQUENCE public.counter AS integer START WITH 5 INCREMENT BY 2 CACHE 3;
CREATE TABLE public.customers (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email text COLLATE "C" NOT NULL UNIQUE,
    feeling public.mood DEFAULT 'ok'
);
CREATE TABLE public.orders (
    id serial PRIMARY KEY,
    customer_id bigint REFERENCES public.customers (id),
    qty integer DEFAULT 1 CHECK (qty > 0),
    note varchar(20),
    total numeric(10,2) GENERATED ALWAYS AS (qty * 2) STORED,
    at timestamp with time zone NOT NULL DEFAULT now()
);
ALTER TABLE public.orders ADD CONSTRAINT orders_note_nn CHECK (note IS NOT NULL) NOT VALID;
CREATE UNIQUE INDEX orders_lower ON public.orders (lower(note)) WHERE qty > 10;
CREATE INDEX orders_customer ON public.orders USING hash (customer_id);
CREATE VIEW public.big_orders AS SELECT id, qty FROM public.orders WHERE qty > 100;
CREATE MATERIALIZED VIEW public.everything AS SELECT o.id, c.email FROM public.orders o
    JOIN public.customers c ON c.id = o.customer_id;
CREATE TRIGGER orders_touch BEFORE UPDATE ON public.orders FOR EACH ROW EXECUTE FUNCTION public.touch();
CREATE TABLE public.events (at date NOT NULL, x int) PARTITION BY RANGE (at);
CREATE TABLE public.events_2024 PARTITION OF public.events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
"""

ORDERS = QualifiedName("public", "orders")


@pytest.fixture
def loaded(pg: psycopg.Connection) -> tuple[Schema, Schema]:
    pg.execute(DDL)
    return load_ddl(DDL), load_catalog(pg)


def test_catalog_reads_what_the_ddl_says(loaded: tuple[Schema, Schema]) -> None:
    static, live = loaded
    # The parts the static loader can know agree: names, kinds, keys, types, nullability.
    assert set(live.tables) == set(static.tables)
    for name, st in static.tables.items():
        lt = live.tables[name]
        assert list(lt.columns) == list(st.columns), name
        for col in st.columns.values():
            got = lt.columns[col.name]
            assert (got.not_null, got.identity, bool(got.generated), got.collation) == \
                (col.not_null, col.identity, bool(col.generated), col.collation), (name, col.name)
            if col.type != "serial":
                assert got.column_type == col.column_type, (name, col.name)
        assert {n: c.kind for n, c in lt.constraints.items() if not c.inherited} == \
            {n: c.kind for n, c in st.constraints.items()}, name
        for cname, con in st.constraints.items():
            assert lt.constraints[cname].columns == con.columns, cname
            assert lt.constraints[cname].validated == con.validated, cname
        owned = {n for n, c in lt.constraints.items() if c.kind in (PRIMARY, "u", "x")}
        assert set(lt.indexes) - owned == set(st.indexes), name
        for iname, idx in st.indexes.items():
            got_i = lt.indexes[iname]
            assert (got_i.unique, got_i.method, got_i.keys, got_i.reads) == \
                (idx.unique, idx.method, idx.keys, idx.reads), iname
        assert set(lt.triggers) == set(st.triggers)
        assert (lt.partition_of, lt.partition_key) == (st.partition_of, st.partition_key)
        assert lt.unique_keys == st.unique_keys, name
    assert live.enums == static.enums
    seq = live.sequences[QualifiedName("public", "counter")]
    assert (seq.start, seq.increment, seq.cache, seq.owned_by) == (5, 2, 3, None)
    # serial's own sequence, owned by its column
    assert live.sequences[QualifiedName("public", "orders_id_seq")].owned_by == (ORDERS, "id")
    assert set(live.views) == set(static.views)
    assert live.views[QualifiedName("public", "everything")].materialized
    # The catalog says exactly which columns a view reads; the text gives a superset.
    assert live.views_reading(ORDERS, "qty") == static.views_reading(ORDERS, "qty") == \
        [QualifiedName("public", "big_orders")]
    assert live.views_reading(ORDERS, "note") == []
    assert live.views_reading(ORDERS, "customer_id") == [QualifiedName("public", "everything")]
    assert ("function", "public.touch()") in live.others


def test_catalog_and_its_pg_dump_have_one_fingerprint(loaded: tuple[Schema, Schema], pg_server: Server,
                                                      pg_dsn: str) -> None:
    _, live = loaded
    dump = subprocess.run([str(pg_server.tool("pg_dump")), "--schema-only", "--no-owner", "-d", pg_dsn],
                          capture_output=True, text=True, check=True).stdout
    from_dump = load_ddl(dump)
    assert from_dump.canonical() == live.canonical()
    assert from_dump.fingerprint() == live.fingerprint()
    assert from_dump.fingerprint({ORDERS}) == live.fingerprint({ORDERS})


def test_catalog_fingerprint_sees_a_change_and_only_in_that_table(pg: psycopg.Connection, pg_dsn: str) -> None:
    pg.execute(DDL)
    before = load_dsn(pg_dsn)
    pg.execute("ALTER TABLE public.customers ADD COLUMN phone text")
    after = load_dsn(pg_dsn)
    assert before.fingerprint() != after.fingerprint()
    assert before.fingerprint({ORDERS}) == after.fingerprint({ORDERS})
    assert load_catalog(pg, {ORDERS}).fingerprint({ORDERS}) == before.fingerprint({ORDERS})
    # Read-only and settings untouched: the connection's search_path is as it was.
    assert pg.execute("SHOW search_path").fetchone()[0] == '"$user", public'


def test_a_ddl_file_applied_to_a_throwaway_server_is_read_back(tmp_path, pg_major: int | None,
                                                               loaded: tuple[Schema, Schema]) -> None:
    from migspec.schema.applied import load_applied

    _, live = loaded
    path = tmp_path / "schema.sql"
    path.write_text(DDL)
    applied = load_applied(path, major=pg_major)
    assert applied.fingerprint() == live.fingerprint()


def test_a_ddl_file_postgres_rejects_is_bad_input(tmp_path, pg_major: int | None) -> None:
    from migspec.errors import InputError
    from migspec.schema.applied import load_applied

    path = tmp_path / "bad.sql"
    path.write_text("CREATE TABLE a (id int);\nCREATE INDEX i ON missing (id);\n")
    with pytest.raises(InputError, match=r"bad.sql:2.*does not load.*missing"):
        load_applied(path, major=pg_major)


def test_detach_leaves_the_parents_copies_as_the_tables_own(pg: psycopg.Connection, pg_server: Server) -> None:
    """DETACH PARTITION keeps the partition's copies of its parent's primary key, unique key, CHECK,
    foreign key and indexes, made its own (conislocal, no longer attached; PostgreSQL 18: the NOT NULL
    constraints keep the parent's names): what ``differ.detached`` makes of the model before the
    differ compares the table with the desired one."""
    from migspec.diff.differ import detached, own_constraints, own_indexes

    pg.execute("""
        CREATE TABLE ref (id int PRIMARY KEY);
        CREATE TABLE ev (id bigint NOT NULL, at date NOT NULL, kind text, r int REFERENCES ref (id),
                         CHECK (kind <> ''), PRIMARY KEY (id, at), UNIQUE (kind, at)) PARTITION BY RANGE (at);
        CREATE INDEX ev_at_idx ON ev (at);
        CREATE TABLE ev_2025 PARTITION OF ev FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
    """)
    part = QualifiedName("public", "ev_2025")
    as_partition = load_catalog(pg).tables[part]
    assert own_constraints(as_partition) == {} and own_indexes(as_partition) == {}
    pg.execute("ALTER TABLE ev DETACH PARTITION ev_2025")
    after = load_catalog(pg).tables[part]
    assert {n: c.kind for n, c in own_constraints(after).items()} == {
        "ev_2025_pkey": "p", "ev_2025_kind_at_key": "u", "ev_kind_check": "c", "ev_r_fkey": "f"}
    assert set(own_indexes(after)) == {"ev_2025_at_idx"}
    detached(as_partition)
    assert as_partition == after  # the model's detach is PostgreSQL's
    names = {c.name: c.not_null_name for c in after.columns.values() if c.not_null}
    assert names == ({"id": "ev_id_not_null", "at": "ev_at_not_null"} if pg_server.major >= 18
                     else {"id": None, "at": None})

"""migspec.analysis: the transaction and settings context each statement runs in, and the locks
earlier statements of the same transaction still hold. The last tests replay the same scripts on a
real server and compare with what it reports (transaction status, SHOW, pg_locks)."""

from __future__ import annotations

import psycopg
import pytest
from psycopg.pq import TransactionStatus

from migspec.analysis import Analyzed, analyze, parse_duration_setting
from migspec.locks import LockMode
from migspec.names import QualifiedName
from migspec.parse.source import Migration, parse_text
from migspec.stats import Stats


def migration(*files: str) -> Migration:
    statements = []
    for i, text in enumerate(files):
        statements += parse_text(text, f"{i:04}.sql", file_index=i, first_index=len(statements))
    return Migration("m", tuple(f"{i:04}.sql" for i in range(len(files))), tuple(statements))


def run(*files: str, per_file: bool = False) -> list[Analyzed]:
    return [item for item, _ in analyze(migration(*files), version=16, stats=Stats(),
                                        transaction_per_file=per_file)]


def by_sql(items: list[Analyzed]) -> dict[str, Analyzed]:
    return {item.stmt.sql: item for item in items}


@pytest.mark.parametrize("value, seconds", [
    ("2s", 2.0), ("2000", 2.0), ("1min", 60.0), ("0", None), ("500ms", 0.5), ("1.5s", 1.5), ("1 h", 3600.0),
    ("2d", 172800.0), ("100us", 1e-4), ("1.5", 0.0015), (" 3s ", 3.0), (None, None), ("", None), ("abc", None),
    ("2 fortnights", None), ("-1", None), ("None", None),
])
def test_parse_duration_setting(value: str | None, seconds: float | None) -> None:
    assert parse_duration_setting(value) == (None if seconds is None else pytest.approx(seconds))


@pytest.mark.parametrize("statement, seconds", [
    ("SET lock_timeout = '2s'", 2.0), ("SET lock_timeout = 2000", 2.0), ("SET lock_timeout TO '1min'", 60.0),
    ("SET lock_timeout = '0'", None), ("SET lock_timeout = 0", None), ("SET SESSION lock_timeout = '3s'", 3.0),
    ("SET lock_timeout = 1.5", 0.0015), ("SET lock_timeout TO DEFAULT", None),
])
def test_lock_timeout_from_sql(statement: str, seconds: float | None) -> None:
    items = run(f"SET lock_timeout = '9s';\n{statement};\nALTER TABLE t ADD COLUMN x int;")
    assert items[-1].tx.lock_timeout_s == seconds


def test_session_set_persists() -> None:
    items = by_sql(run("SET lock_timeout = '2s';\nSET statement_timeout = '1h';\nALTER TABLE a ADD COLUMN x int;\n"
                       "BEGIN;\nALTER TABLE b ADD COLUMN x int;\nCOMMIT;\nALTER TABLE c ADD COLUMN x int;"))
    for sql in ("ALTER TABLE a ADD COLUMN x int", "ALTER TABLE b ADD COLUMN x int", "ALTER TABLE c ADD COLUMN x int"):
        assert (items[sql].tx.lock_timeout_s, items[sql].tx.statement_timeout_s) == (2.0, 3600.0)


def test_set_local_outside_a_transaction_has_no_effect() -> None:
    items = by_sql(run("SET LOCAL lock_timeout = '2s';\nALTER TABLE a ADD COLUMN x int;"))
    assert items["ALTER TABLE a ADD COLUMN x int"].tx.lock_timeout_s is None


def test_set_local_ends_at_commit() -> None:
    items = by_sql(run("SET lock_timeout = '9s';\nBEGIN;\nSET LOCAL lock_timeout = '2s';\n"
                       "ALTER TABLE a ADD COLUMN x int;\nCOMMIT;\nALTER TABLE b ADD COLUMN x int;"))
    assert items["ALTER TABLE a ADD COLUMN x int"].tx.lock_timeout_s == 2.0
    assert items["ALTER TABLE b ADD COLUMN x int"].tx.lock_timeout_s == 9.0


def test_set_inside_a_transaction_persists_after_commit_but_not_after_rollback() -> None:
    items = by_sql(run("BEGIN;\nSET lock_timeout = '2s';\nCOMMIT;\nALTER TABLE a ADD COLUMN x int;\n"
                       "BEGIN;\nSET lock_timeout = '5s';\nROLLBACK;\nALTER TABLE b ADD COLUMN x int;"))
    assert items["ALTER TABLE a ADD COLUMN x int"].tx.lock_timeout_s == 2.0
    assert items["ALTER TABLE b ADD COLUMN x int"].tx.lock_timeout_s == 2.0  # ROLLBACK undid the 5s


def test_session_set_after_set_local_wins_and_persists() -> None:
    items = by_sql(run("BEGIN;\nSET LOCAL lock_timeout = '7s';\nSET lock_timeout = '3s';\n"
                       "ALTER TABLE a ADD COLUMN x int;\nCOMMIT;\nALTER TABLE b ADD COLUMN x int;"))
    assert items["ALTER TABLE a ADD COLUMN x int"].tx.lock_timeout_s == 3.0
    assert items["ALTER TABLE b ADD COLUMN x int"].tx.lock_timeout_s == 3.0


def test_autocommit_statements_are_not_in_a_transaction() -> None:
    items = run("ALTER TABLE a ADD COLUMN x int;\nALTER TABLE b ADD COLUMN x int;")
    assert [i.tx.tx_id for i in items] == [None, None]
    assert not any(i.tx.in_transaction or i.tx.explicit or i.tx.wrapped or i.tx.held for i in items)


def test_begin_commit_context() -> None:
    items = run("BEGIN;\nALTER TABLE a ADD COLUMN x int;\nCREATE INDEX b_idx ON b (x);\nCOMMIT;\n"
                "ALTER TABLE c ADD COLUMN x int;\nSTART TRANSACTION;\nALTER TABLE d ADD COLUMN x int;\nEND;")
    ctx = [(i.stmt.sql.split()[0], i.tx.tx_id is not None, i.tx.explicit) for i in items]
    assert ctx == [("BEGIN", True, True), ("ALTER", True, True), ("CREATE", True, True), ("COMMIT", False, False),
                   ("ALTER", False, False), ("START", True, True), ("ALTER", True, True), ("END", False, False)]
    assert items[1].tx.tx_id == items[2].tx.tx_id != items[6].tx.tx_id


def test_held_locks_carry_across_statements_and_reset_at_commit() -> None:
    items = by_sql(run("BEGIN;\nALTER TABLE a ADD COLUMN x int;\nCREATE INDEX b_idx ON b (x);\n"
                       "LOCK TABLE c IN ACCESS SHARE MODE;\nALTER TABLE d ADD COLUMN x int;\nCOMMIT;\n"
                       "ALTER TABLE e ADD COLUMN x int;\nBEGIN;\nALTER TABLE f ADD COLUMN x int;\nROLLBACK;\n"
                       "ALTER TABLE g ADD COLUMN x int;"))

    def held(sql: str) -> set[tuple[str, LockMode]]:
        return {(h.relation.name, h.mode) for h in items[sql].tx.held}

    assert held("ALTER TABLE a ADD COLUMN x int") == set()
    assert held("CREATE INDEX b_idx ON b (x)") == {("a", LockMode.ACCESS_EXCLUSIVE)}
    # ACCESS SHARE blocks no writer: it is not tracked as a held write-blocking lock
    assert held("ALTER TABLE d ADD COLUMN x int") == {("a", LockMode.ACCESS_EXCLUSIVE), ("b", LockMode.SHARE)}
    assert held("ALTER TABLE e ADD COLUMN x int") == set()
    assert held("ALTER TABLE g ADD COLUMN x int") == set()
    where = items["ALTER TABLE d ADD COLUMN x int"].tx.held[0].location
    assert (where.line, where.col) == (2, 1)


def test_transaction_per_file() -> None:
    items = run("ALTER TABLE a ADD COLUMN x int;\nALTER TABLE b ADD COLUMN x int;",
                "ALTER TABLE c ADD COLUMN x int;", per_file=True)
    assert [(i.tx.tx_id is not None, i.tx.wrapped, i.tx.explicit) for i in items] == [(True, True, False)] * 3
    assert items[0].tx.tx_id == items[1].tx.tx_id != items[2].tx.tx_id
    assert {h.relation.name for h in items[1].tx.held} == {"a"}
    assert items[2].tx.held == ()  # the runner committed file 1


def test_without_transaction_per_file_each_statement_autocommits() -> None:
    items = run("ALTER TABLE a ADD COLUMN x int;\nALTER TABLE b ADD COLUMN x int;", per_file=False)
    assert [i.tx.tx_id for i in items] == [None, None]
    assert items[1].tx.held == ()


def test_commit_in_a_wrapped_file_ends_only_that_file() -> None:
    items = by_sql(run("ALTER TABLE a ADD COLUMN x int;\nCOMMIT;\nALTER TABLE b ADD COLUMN x int;",
                       "ALTER TABLE c ADD COLUMN x int;", per_file=True))
    b, c = items["ALTER TABLE b ADD COLUMN x int"], items["ALTER TABLE c ADD COLUMN x int"]
    assert (b.tx.in_transaction, b.tx.wrapped) == (False, False)
    assert (c.tx.in_transaction, c.tx.wrapped) == (True, True)  # the runner wraps the next file again


def test_set_local_in_a_wrapped_file_ends_with_the_file() -> None:
    items = run("SET LOCAL lock_timeout = '2s';\nALTER TABLE a ADD COLUMN x int;",
                "ALTER TABLE b ADD COLUMN x int;", per_file=True)
    assert [i.tx.lock_timeout_s for i in items] == [2.0, 2.0, None]


def test_tables_created_earlier_are_new_across_files() -> None:
    items = run("CREATE TABLE t (id int);", "ALTER TABLE t ADD COLUMN x int;\nALTER TABLE u ADD COLUMN x int;")
    assert [i.new_table for i in items] == [False, True, False]
    assert items[1].op.table == QualifiedName("public", "t")


# --- the same scripts on a real server ----------------------------------------------------------

SCRIPTS = [
    ["SET lock_timeout = '2s';\nALTER TABLE a ADD COLUMN x1 int;\nSET lock_timeout = 2000;\n"
     "SET lock_timeout TO '1min';\nSET lock_timeout = '1 h';\nSET lock_timeout = '0';\n"
     "SET statement_timeout = '5min';\nSET lock_timeout = 1500;\nSET lock_timeout TO DEFAULT;"],
    ["SET LOCAL lock_timeout = '2s';\nALTER TABLE a ADD COLUMN x1 int;\nBEGIN;\nSET LOCAL lock_timeout = '3s';\n"
     "ALTER TABLE a ADD COLUMN x2 int;\nCREATE INDEX b_idx ON b (id);\nLOCK TABLE c IN SHARE ROW EXCLUSIVE MODE;\n"
     "ALTER TABLE a ADD COLUMN x3 int;\nCOMMIT;\nALTER TABLE a ADD COLUMN x4 int;"],
    ["BEGIN;\nSET lock_timeout = '5s';\nALTER TABLE b ADD COLUMN x1 int;\nROLLBACK;\nALTER TABLE a ADD COLUMN x1 int;\n"
     "START TRANSACTION;\nSET lock_timeout = '4s';\nSET LOCAL lock_timeout = '7s';\nEND;\nSELECT 1;"],
    ["BEGIN;\nSET LOCAL statement_timeout = '1h';\nSET statement_timeout = '2h';\nLOCK TABLE a;\nCOMMIT;\n"
     "RESET statement_timeout;\nALTER TABLE a ADD COLUMN x1 int;"],
]
PER_FILE_SCRIPTS = [
    ["SET LOCAL lock_timeout = '2s';\nALTER TABLE a ADD COLUMN x1 int;\nCREATE INDEX b_idx ON b (id);",
     "ALTER TABLE c ADD COLUMN x1 int;\nSET lock_timeout = '3s';", "ALTER TABLE b ADD COLUMN x1 int;"],
]

_STATE = """
SELECT current_setting('lock_timeout'), current_setting('statement_timeout'),
       coalesce(array_agg(c.relname || ' ' || l.mode ORDER BY c.relname, l.mode)
                FILTER (WHERE c.relname IS NOT NULL), '{}')
FROM (SELECT 1) one
LEFT JOIN pg_locks l ON l.pid = pg_backend_pid() AND l.locktype = 'relation' AND l.granted
LEFT JOIN pg_class c ON c.oid = l.relation AND c.relname IN ('a', 'b', 'c')
"""


def _server_states(pg: psycopg.Connection, files: list[str], per_file: bool) -> list[tuple]:
    """State after each statement: (in a transaction, lock_timeout s, statement_timeout s, locks)."""
    pg.execute("CREATE TABLE a (id int); CREATE TABLE b (id int); CREATE TABLE c (id int)")
    states = []
    for text in files:
        if per_file:
            pg.execute("BEGIN")  # what Alembic, Django and Flyway do around each file
        for stmt in parse_text(text, "f.sql"):
            pg.execute(stmt.sql)
            in_tx = pg.info.transaction_status == TransactionStatus.INTRANS
            lock_timeout, statement_timeout, locks = pg.execute(_STATE).fetchone()
            held = {(rel, LockMode.from_pg_locks(mode)) for rel, mode in (x.split() for x in locks)}
            states.append((in_tx, parse_duration_setting(lock_timeout), parse_duration_setting(statement_timeout),
                           {(r, m) for r, m in held if m.blocks_writes} if in_tx else set()))
        if per_file and pg.info.transaction_status == TransactionStatus.INTRANS:
            pg.execute("COMMIT")
    return states


def _our_states(files: list[str], per_file: bool) -> list[tuple]:
    """The same, from migspec: the context of a no-op probe statement after each statement."""
    probed = [";\n".join(f"{stmt.sql};\nSELECT 'probe'" for stmt in parse_text(text, "f.sql")) for text in files]
    items = run(*probed, per_file=per_file)
    return [(p.tx.in_transaction, p.tx.lock_timeout_s, p.tx.statement_timeout_s,
             {(h.relation.name, h.mode) for h in p.tx.held})
            for p in items if p.stmt.sql == "SELECT 'probe'"]


@pytest.mark.parametrize("files, per_file", [(s, False) for s in SCRIPTS] + [(s, True) for s in PER_FILE_SCRIPTS])
def test_context_matches_a_real_server(pg: psycopg.Connection, files: list[str], per_file: bool) -> None:
    ours = _our_states(files, per_file)
    server = _server_states(pg, files, per_file)
    assert len(ours) == len(server)
    statements = [s.sql for text in files for s in parse_text(text, "f.sql")]
    for sql, mine, theirs in zip(statements, ours, server):
        assert mine == theirs, f"after {sql!r}"


def _items(sql: str, stats: Stats | None = None) -> list[Analyzed]:
    migration = Migration("m", ("m.sql",), tuple(parse_text(sql, "m.sql")))
    return [item for item, _ in analyze(migration, version=16, stats=stats or Stats())]


def test_set_to_zero_disables_and_reset_all_clears_timeouts() -> None:
    items = _items("SET lock_timeout = '2s'; SET statement_timeout = 0; ALTER TABLE t ADD COLUMN a int; "
                   "RESET ALL; ALTER TABLE t ADD COLUMN b int;")
    alters = [i for i in items if i.op.kind == "add_column"]
    assert alters[0].tx.lock_timeout_s == 2.0 and alters[0].tx.statement_timeout_s is None
    assert alters[1].tx.lock_timeout_s is None


def test_create_table_if_not_exists_on_a_measured_table_is_not_new() -> None:
    from migspec.stats import parse_stats

    stats = parse_stats({"tables": {"orders": {"rows": 10, "write_qps": 1, "lock_contention": {
        "longest_transaction_seconds": 0, "lock_waits_per_minute": 0}}}}, "s")
    items = _items("CREATE TABLE IF NOT EXISTS orders (id int); ALTER TABLE orders ALTER COLUMN id SET NOT NULL;",
                   stats)
    assert not items[1].new_table, "an existing table must keep its size and traffic"
    fresh = _items("CREATE TABLE IF NOT EXISTS widgets (id int); ALTER TABLE widgets ALTER COLUMN id SET NOT NULL;")
    assert fresh[1].new_table

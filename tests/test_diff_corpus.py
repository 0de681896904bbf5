"""The diff oracle, on one real server, for every (current, desired) pair of tests/diff_corpus.py:

(a) the plan of the diff, every phase applied in order by the rollout executor (``migspec apply``
    in-process; writers running for the pairs with data), turns a database holding CURRENT into
    one whose ``pg_dump --schema-only`` (normalised) equals DESIRED's applied directly;
(b) diffing the result against DESIRED again gives no statement;
(c) the rollout's DOWN (``migspec rollback`` of every phase, last first) restores CURRENT's
    pg_dump exactly - for every plan whose steps are all reversible; a plan with a step it cannot
    undo (an enum value added, a partition detached) must say so on that step.

Each database is made from a template holding the base schema when it can; dumps and catalog
reads of a schema are cached by its SQL, so each distinct schema is dumped once.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import re
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from diff_corpus import Pair, base, pairs
from helpers_apply import migspec_inproc
from migspec.diff.differ import diff, schema_ddl
from migspec.schema.catalog import IGNORED_SCHEMAS, load_catalog as read_schema
from migspec.schema.model import Schema
from migspec.diff.target import TargetDiff, parse_rename, statements_text, target_migration
from migspec.names import quote_ident
from migspec.plan.builder import PlanOptions, plan_migration
from migspec.render.plan import render_json
from migspec.stats import parse_stats
from migspec.verify import data as synthetic
from migspec.verify.writers import WriterPool, latency_stats, writer_work

CORPUS = pairs()
ROWS = 300  # rows per table for the pairs with data


def test_corpus_is_large_and_covers_every_kind() -> None:
    assert len(CORPUS) >= 100
    names = " ".join(p.name for p in CORPUS)
    for kind in ("column", "retype", "default", "not-null", "check", "fk", "unique", "primary-key", "index",
                 "partial", "expression", "enum", "view", "sequence", "partition", "rename", "table"):
        assert kind in names, kind
    assert sum(p.data for p in CORPUS) >= 10


class _Server:
    """The session server, a template database holding the base schema, and the caches."""

    def __init__(self, server, admin: psycopg.Connection) -> None:  # type: ignore[no-untyped-def]
        self.server, self.admin = server, admin
        self.base_sql = base().sql()
        self.template = f"diff_base_{secrets.token_hex(3)}"
        self.admin.execute(f"CREATE DATABASE {self.template}")
        with psycopg.connect(server.dsn_for(self.template), autocommit=True) as conn:
            conn.execute(self.base_sql)
        self.schemas: dict[str, Schema] = {}
        self.dumps: dict[str, str] = {}

    @contextlib.contextmanager
    def database(self, sql: str) -> Iterator[str]:
        name = f"diff_{secrets.token_hex(5)}"
        if sql == self.base_sql:
            strategy = " STRATEGY FILE_COPY" if self.server.major >= 15 else ""
            self.admin.execute(f"CREATE DATABASE {name} TEMPLATE {self.template}{strategy}")
        else:
            self.admin.execute(f"CREATE DATABASE {name}")
            with psycopg.connect(self.server.dsn_for(name), autocommit=True) as conn:
                conn.execute(sql)
        try:
            yield self.server.dsn_for(name)
        finally:
            self.admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def known(self, sql: str) -> tuple[Schema, str]:
        if sql not in self.schemas:
            with self.database(sql) as dsn:
                with psycopg.connect(dsn) as conn:
                    self.schemas[sql] = read_schema(conn)
                self.dumps[sql] = self.dump(dsn)
        return self.schemas[sql], self.dumps[sql]

    def dump(self, dsn: str) -> str:
        args = [str(self.server.tool("pg_dump")), "--schema-only", "--no-owner", "--no-privileges", "-d", dsn]
        args += [f"--exclude-schema={s}" for s in IGNORED_SCHEMAS]
        done = subprocess.run(args, capture_output=True, text=True, timeout=60, check=True)
        return normalise(done.stdout)

    def cleanup(self) -> None:
        self.admin.execute(f"DROP DATABASE IF EXISTS {self.template}")


def normalise(dump: str) -> str:
    """pg_dump text without what says nothing about the schema (comments, SET lines, psql
    meta-commands), and with each table's column lines sorted: PostgreSQL appends an added column
    at the end and cannot reorder them, so a rollout that re-adds or swaps a column ends with the
    same columns in another order."""
    lines = [ln for ln in dump.splitlines() if ln.strip() and not ln.startswith(("--", "SET ", "\\"))
             and not ln.startswith("SELECT pg_catalog.set_config")]
    out: list[str] = []
    body: list[str] | None = None
    for ln in lines:
        if body is not None:
            if ln.startswith(")"):
                out += sorted(b.rstrip(",") for b in body)
                out.append(ln)
                body = None
            else:
                body.append(ln)
        else:
            out.append(ln)
            if re.match(r"CREATE (UNLOGGED )?TABLE .*\($", ln):
                body = []
    return "\n".join(out)


@pytest.fixture(scope="module")
def corpus_server(pg_server, _pg_admin) -> Iterator[_Server]:  # type: ignore[no-untyped-def]
    s = _Server(pg_server, _pg_admin)
    try:
        yield s
    finally:
        s.cleanup()


def _stats(schema: Schema, rows: int) -> dict:  # type: ignore[type-arg]
    return {"pg_version": 15, "source": "production", "maintenance_window": "none",
            "thresholds": {"batch_rows": 100},
            "tables": {str(t): {"rows": rows, "size_bytes": 100_000, "write_qps": 5,
                                "lock_contention": {"longest_transaction_seconds": 1, "lock_waits_per_minute": 0}}
                       for t in schema.tables}}


def _ok(*args: str) -> None:
    r = migspec_inproc(*args)
    assert r.returncode == 0, f"migspec {' '.join(args[:1])} {' '.join(args[2:])}: {r.stderr}"


def _models(conn: psycopg.Connection) -> dict[int, synthetic.TableModel]:
    """The tables the synthetic rows go to: the unpartitioned ones (the generator knows no bounds)."""
    return {k: m for k, m in synthetic.table_models(conn, ROWS).items() if "events" not in m.name}


@contextlib.contextmanager
def _writers(dsn: str, enabled: bool) -> Iterator[WriterPool | None]:
    """Application writers on every table with a key (inserts of fresh rows, updates of loaded ones)."""
    if not enabled:
        yield None
        return
    with psycopg.connect(dsn) as conn:
        models = _models(conn)
    work = [writer_work(m, m.writer_columns()) for m in models.values() if m.key and m.insertable]
    pool = WriterPool(dsn, work, writers=2, existing_rows=ROWS, counter=itertools.count(ROWS + 1),
                      rate_per_writer=100, statement_timeout_s=5)
    pool.start()
    try:
        yield pool
    finally:
        pool.stop()


@pytest.mark.parametrize("pair", [pytest.param(p, marks=pytest.mark.xfail(reason=p.known, strict=True)) if p.known
                                  else p for p in CORPUS], ids=[p.name for p in CORPUS])
def test_diff_oracle(pair: Pair, corpus_server: _Server, tmp_path: Path) -> None:
    srv = corpus_server
    desired, desired_dump = srv.known(pair.desired)
    current_known, current_dump = srv.known(pair.current)
    with srv.database(pair.current) as dsn:
        with psycopg.connect(dsn, autocommit=True) as conn:
            if pair.data:
                synthetic.load(conn, ROWS, _models(conn), lambda _: None)
            current = read_schema(conn)
        renames = [r for r in (parse_rename(spec, current) for spec in pair.renames) if r is not None]
        d = diff(current, desired, renames)
        if pair.unsupported:  # refused, every difference listed: nothing to apply
            assert d.unsupported, statements_text(d.statements)
            return
        assert not d.unsupported, d.unsupported
        assert d.statements, "the pair differs but the diff is empty"
        assert bool(d.drops) == pair.accept_drops, d.drops
        td = TargetDiff(d, current, desired)
        schema_file = tmp_path / "current.sql"
        schema_file.write_text(statements_text(schema_ddl(current)))
        plan, report = plan_migration(target_migration(td, f"{pair.name}.sql"),
                                      parse_stats(_stats(current, ROWS if pair.data else 1000), "corpus stats"),
                                      schema_path=schema_file, pg_version=srv.server.major,
                                      options=PlanOptions(tuple(d.drops), 0))
        plan_path = tmp_path / "plan.json"
        plan_path.write_text(render_json(plan, report))
        confirm = [a for c in plan.confirmations for a in ("--confirm", c.target)]
        _ok("approve", str(plan_path), "--by", "corpus", *confirm)
        phases = [p["name"] for p in json.loads(plan_path.read_text())["phases"]]
        # The application writes while EXPAND and MIGRATE run; CONTRACT runs after it was
        # redeployed for the desired schema (what writes then is the new application).
        with _writers(dsn, pair.data) as pool:
            for phase in [p for p in phases if p != "contract"]:
                _ok("apply", str(plan_path), "--dsn", dsn, "--phase", phase, "--skip-pre-checks")
        for phase in [p for p in phases if p == "contract"]:
            _ok("apply", str(plan_path), "--dsn", dsn, "--phase", phase, "--skip-pre-checks")
        if pool is not None:
            stats = latency_stats(pool.ops)
            assert stats.ops > 0 and stats.errors == 0, stats
        # (a) the schema the rollout left is the desired one
        assert srv.dump(dsn) == desired_dump, f"statements:\n{statements_text(d.statements)}"
        # (b) and a second diff finds nothing
        with psycopg.connect(dsn) as conn:
            again = diff(read_schema(conn), desired)
        assert again.statements == [] and again.unsupported == [], statements_text(again.statements)
        # (c) the DOWN restores the current schema, when the plan says every step can be undone
        irreversible = [s.description for p in plan.phases for s in p.steps if not s.reversible]
        for phase in reversed(phases):
            _ok("rollback", str(plan_path), "--dsn", dsn, "--phase", phase, "--skip-pre-checks")
        if not irreversible:
            assert srv.dump(dsn) == current_dump, f"statements:\n{statements_text(d.statements)}"
        else:
            assert all(s.down_note for p in plan.phases for s in p.steps if not s.reversible)

"""A corpus of real migrations, generated here from pinned framework packages (the ``test``
extra): every migration of Django's own contrib apps as ``sqlmigrate`` prints it (against the
real test server: the schema editor reads the catalog), and the offline SQL
(``alembic upgrade A:B --sql``) of a small Alembic project (tests/corpus/alembic_project).

Each migration is linted and planned the way a user would meet it: the tables earlier migrations
created are measured (1M rows, 50 writes/s, 1 s transactions - a busy production) from a replay
database where every earlier migration really ran, with the schema facts ``migspec measure``
records (migspec.measure.collect). Then the migration itself runs on the replay database.

Asserted: no traceback anywhere; no RED verdict on a statement that takes no write-blocking
lock (unknown work - Django's RunPython - and row-by-row writes are RED by design: the first is
invisible, the second row-locks what it touches); and the verdicts and plans equal the reviewed
golden summaries in tests/golden/corpus-*.txt (regenerate with MIGSPEC_UPDATE_GOLDEN=1 and
review the diff).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from migspec.errors import MigspecError
from migspec.lint import lint
from migspec.measure import collect
from migspec.measure.scope import tables_of_migration
from migspec.measure.snapshot import schema_document
from migspec.ops.base import Work
from migspec.parse.source import Placeholder, load_migration
from migspec.plan.builder import PlanOptions, plan_migration
from migspec.risk import Risk
from migspec.stats import parse_stats

HERE = Path(__file__).parent
CORPUS = HERE / "corpus"
GOLDEN = HERE / "golden"
UPDATE = os.environ.get("MIGSPEC_UPDATE_GOLDEN") == "1"
ALEMBIC_REVISIONS = sorted(p.name.split("_")[0] for p in (CORPUS / "alembic_project" / "versions").glob("0*.py"))
#: What every pre-existing table measures: a busy production table.
MEASURED = {"rows": 1_000_000, "size_bytes": 200_000_000, "write_qps": 50,
            "lock_contention": {"longest_transaction_seconds": 1, "lock_waits_per_minute": 0}}


@pytest.fixture(scope="module")
def databases(pg_server, _pg_admin) -> Iterator[callable]:
    made: list[str] = []

    def make(name: str) -> str:
        _pg_admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        _pg_admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        made.append(name)
        return pg_server.dsn_for(name)

    yield make
    for name in made:
        _pg_admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def django_corpus(dsn: str, out: Path) -> list[Path]:
    done = subprocess.run([sys.executable, str(CORPUS / "django_sqlmigrate.py"), dsn, str(out)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return sorted(out.glob("*.sql"))


def alembic_corpus(out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    files, previous = [], None
    for rev in ALEMBIC_REVISIONS:
        target = f"{previous}:{rev}" if previous else rev
        done = subprocess.run([sys.executable, "-m", "alembic", "-c", str(CORPUS / "alembic_project" / "alembic.ini"),
                               "upgrade", target, "--sql"], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        path = out / f"{rev}.sql"
        path.write_text(done.stdout, encoding="utf-8")
        files.append(path)
        previous = rev
    return files


def stats_for(conn: psycopg.Connection, path: Path, major: int) -> dict:
    """Measurements for the tables the migration touches that exist on the replay database."""
    tables = {}
    wanted = tables_of_migration([path])
    existing = {name for name in wanted if conn.execute("SELECT to_regclass(%s)", (name.sql,)).fetchone()[0]}
    for relation in collect.resolve_tables(conn, sorted(existing)) if existing else ():
        schema = collect.schema_facts(conn, relation, major=major)
        tables[str(relation.name)] = {**MEASURED, "columns": {c.name: c.type for c in schema.columns},
                                      "schema": schema_document(schema)}
    return {"pg_version": major, "source": "production", "maintenance_window": "none", "tables": tables}


def judge(files: list[Path], replay_dsn: str, major: int) -> list[str]:
    """Lint and plan each migration against the replayed production, then run it there."""
    lines: list[str] = []
    problems: list[str] = []
    with psycopg.connect(replay_dsn, autocommit=True) as conn:
        for path in files:
            try:
                migration = load_migration([path])
            except MigspecError as exc:
                lines.append(f"{path.name}: {str(exc).replace(str(path), path.name)}")
                continue
            stats = parse_stats(stats_for(conn, path, major), f"{path.name} stats")
            report = lint(migration, stats)
            targets = tuple(f"{t}" for t in report.tables)
            try:
                plan, _ = plan_migration(migration, stats, options=PlanOptions(confirm=targets + tuple(
                    f"{r.item.op.table}.{getattr(r.item.op, 'column', '')}" for r in report.results
                    if r.item.op.destructive and r.item.op.table and getattr(r.item.op, "column", None))))
                planned = (f"plan {plan.risk}, {sum(len(p.steps) for p in plan.phases)} steps in "
                           f"{', '.join(p.name.value for p in plan.phases) or 'no phase'}")
            except MigspecError as exc:  # a refusal is a message, never a traceback
                planned = f"plan refused: {str(exc).splitlines()[0]}"
            lines.append(f"{path.name}: lint {report.risk}; {planned}")
            for r in report.results:
                for f in r.findings:
                    lines.append(f"  {f.location.line}: {f.rule} {f.risk}{' (allowed)' if f.suppressed else ''}")
                write_blocking = any(lk.mode.blocks_writes for lk in r.item.effect.locks)
                if r.risk is Risk.RED and not write_blocking and r.item.effect.work not in (Work.UNKNOWN, Work.ROWS):
                    problems.append(f"{path.name}:{r.item.stmt.location.line}: RED without a write-blocking lock: "
                                    f"{r.item.stmt.sql[:80]!r}: {[f.message for f in r.findings]}")
            # The migration really runs, statement by statement as psql would (CREATE INDEX
            # CONCURRENTLY may not share an implicit transaction): the next one meets its result.
            for stmt in migration.statements:
                if not isinstance(stmt.node, Placeholder):
                    conn.execute(stmt.sql)
    assert not problems, "\n".join(problems)
    return lines


def compare(name: str, lines: list[str]) -> None:
    path = GOLDEN / f"corpus-{name}.txt"
    text = "\n".join(lines) + "\n"
    if UPDATE:
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"missing {path.name}: run with MIGSPEC_UPDATE_GOLDEN=1 and review it"
    assert text == path.read_text(encoding="utf-8"), f"{path.name} changed: rerun with MIGSPEC_UPDATE_GOLDEN=1 and review"


def test_django_contrib_migrations(databases, pg_server, tmp_path: Path) -> None:
    files = django_corpus(databases("corpus_django_gen"), tmp_path / "django")
    assert len(files) >= 20 and any("CANNOT BE WRITTEN AS SQL" in f.read_text() for f in files)
    compare("django", judge(files, databases("corpus_django_replay"), pg_server.major))


def test_alembic_offline_sql(databases, pg_server, tmp_path: Path) -> None:
    files = alembic_corpus(tmp_path / "alembic")
    assert len(files) == len(ALEMBIC_REVISIONS) and "alembic_version" in files[-1].read_text()
    compare("alembic", judge(files, databases("corpus_alembic_replay"), pg_server.major))

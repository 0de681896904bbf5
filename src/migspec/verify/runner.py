"""``migspec verify``: run a plan on a scratch database under concurrent writes and check every
claim it makes against what the server does.

Per phase: catalog snapshot -> writers start -> each step's UP, run by the same functions
``apply`` uses (execute.guard.run_statements, execute.backfill.run_backfill), traced (pg_locks of
the step's backend sampled from another connection, plus the transaction's own locks before
COMMIT; relfilenodes before/after; duration; writer latency) -> writers stop -> the phase's DOWN
(last step first) -> the catalog must equal the snapshot and the rows that were there must be
intact -> UP again, which must succeed and give the catalog the first UP gave.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import math
import re
import secrets
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import psycopg

from migspec import policy
from migspec.errors import InputError, RefusedError
from migspec.estimate.model import CATALOG_ONLY_SECONDS, format_duration, format_range
from migspec.estimate.throughput import DEFAULT_RATES
from migspec.execute import state
from migspec.execute.backfill import Throttle, run_backfill
from migspec.execute.guard import RetryPolicy, StepFailed, run_statements
from migspec.frozen import field, frozen, record
from migspec.planfile import step_from_dict
from migspec.locks import LockMode
from migspec.names import QualifiedName, quote_ident
from migspec.schema import Schema
from migspec.planfile.model import Step
from migspec.verify import changes, data, schema, trace
from migspec.verify.report import PhaseResult, StepResult, VerifyResult
from migspec.verify.target import scratch
from migspec.verify.writers import WriterPool, latency_stats, writer_work

Log = Callable[[str], None]

#: Writers may wait this long beyond a step's lock_timeout before the wait counts as a stall
#: (the issue's default; --max-stall-ms replaces the whole limit).
STALL_GRACE_S = 0.25


@frozen
class VerifyOptions:
    rows: int = 20_000
    writers: int = 4
    max_stall_ms: float | None = None
    # pg_locks of the step's backend, polled from another connection. 2 ms, not 5: at 5 ms a
    # 9 ms CREATE INDEX CONCURRENTLY of 5,000 rows got 2 samples and was missed 1 time in 4 here.
    sample_interval_s: float = 0.002
    writer_rate: float = 200.0  # operations per second per writer
    writer_timeout_s: float = 10.0
    # The plan's estimate is checked against this run's throughput extrapolated to production's
    # rows: outside [low / tolerance, high x tolerance] is a problem ("fail") or a note ("warn").
    estimate_tolerance: float = 2.0
    estimate_mismatch: str = "warn"


@record
class VerifyInput:
    """The plan (its JSON document: the contract apply reads too) and the facts verify needs."""

    doc: dict[str, Any]
    source: str
    schema_file: Path | None = None
    facts: Schema | None = None  # the stats file's schema model, when there is no dump
    production_rows: dict[str, int] = field(default_factory=dict)  # str(QualifiedName) -> rows
    system_identifier: str | None = None
    server_major: int | None = None  # major of the embedded server: --pg-version, else the stats file's
    server_note: str | None = None  # why the embedded server is not of the stats file's major


# --- inputs -------------------------------------------------------------------------------------

def is_plan_file(paths: Sequence[str]) -> bool:
    if len(paths) != 1 or not Path(paths[0]).is_file():
        return False
    p = Path(paths[0])
    if p.suffix.lower() == ".json":
        return True
    try:
        with open(p, "rb") as fh:  # the first bytes tell; the file may be huge (or /dev/zero)
            return fh.read(4096).decode("utf-8-sig", errors="replace").lstrip().startswith("{")
    except OSError:
        return False


def _raw_stats_value(path: str, key: str) -> Any:
    """A top-level key of the stats file that migspec.stats.Stats does not keep."""
    from migspec.documents import load_document

    try:
        doc = load_document(path, what="stats file")
    except InputError:
        return None
    return doc.get(key) if isinstance(doc, dict) else None


def prepare(paths: Sequence[str], *, stats_path: str | None = None, schema_path: str | None = None,
            pg_version: int | None = None, transaction_per_file: bool = False,
            confirm: tuple[str, ...] = (), project: dict[str, Any] | None = None) -> VerifyInput:
    """Load a saved JSON plan, or plan a migration first (like 'migspec plan': --stats, --schema).
    The migration may be a Django or Alembic project (``project``: read_migration's project
    options): its pending migrations are planned, as 'migspec plan PROJECT' plans them."""
    from migspec.frameworks import ProjectOptions, detect
    from migspec.parse.source import collect_files
    from migspec.schema import from_stats
    from migspec.stats import Stats, load_stats

    project = project or {}
    is_project = len(paths) == 1 and detect(paths[0], ProjectOptions(
        django_settings=project.get("django_settings"), alembic_config=project.get("alembic_config"),
        kind=project.get("kind"))) is not None
    if not is_project:
        collect_files(paths)  # a missing input is bad input (exit 2), checked before any refusal
    stats = load_stats(stats_path) if stats_path else None
    # The pre-migration schema: the dump, else the schema sections 'migspec measure' writes.
    facts = None
    if schema_path is None:
        if stats is None or not any(getattr(ts, "schema", None) for ts in stats.tables.values()):
            raise RefusedError("verify needs the pre-migration schema: give --schema with a 'pg_dump --schema-only' "
                               "file (or --stats whose tables carry a schema section, from 'migspec measure')")
        facts = from_stats(stats)
    if is_plan_file(paths):
        from migspec.planfile import load as load_plan

        loaded = load_plan(paths[0])
        doc, source = loaded.doc, f"plan {paths[0]}"
    else:
        from migspec.frameworks import read_migration
        from migspec.plan.builder import PlanOptions, plan_migration
        from migspec.planfile import dump as plan_dict

        migration, notes, _ = read_migration(list(paths), stats=stats or Stats(), pg_version=pg_version,
                                             runnable=True, **project)
        plan, report = plan_migration(migration, stats or Stats(), schema_path=schema_path, pg_version=pg_version,
                                      transaction_per_file=transaction_per_file, options=PlanOptions(confirm))
        # Through JSON and back: verify checks exactly what 'plan --format json' hands to apply.
        doc = json.loads(json.dumps(plan_dict(plan, report)))
        source = f"{'project' if is_project else 'migration'} {', '.join(paths)}, planned now"
        source += "".join(f"; {n}" for n in notes)
    production: dict[str, int] = {}
    for t in doc.get("tables") or []:
        if t.get("rows") is not None:
            production[str(QualifiedName.parse(t["name"]))] = int(t["rows"])
    ident = None
    if stats is not None:
        production.update({str(n): ts.rows for n, ts in stats.tables.items() if ts.rows is not None})
        # Stats does not keep system_identifier (parse_stats accepts and drops it): read it here.
        ident = getattr(stats, "system_identifier", None) or _raw_stats_value(stats_path or "", "system_identifier")
    # The proof runs on the major production runs: asked for (refused when not installed), else
    # the one measured (when installed here; otherwise the default server, with a note).
    server_major, note = pg_version, None
    if server_major is None and stats is not None and stats.pg_version is not None:
        from migspec import pginstall

        if pginstall.server_bindir(stats.pg_version) is not None:
            server_major = stats.pg_version
        else:
            note = (f"the stats file says PostgreSQL {stats.pg_version}, which is not installed here "
                    f"({pginstall.install_hint(stats.pg_version)}): the proof ran on another major")
    return VerifyInput(doc, source, Path(schema_path) if schema_path else None, facts, production,
                       None if ident is None else str(ident), server_major, note)


# --- helpers ------------------------------------------------------------------------------------

def _utc_now() -> str:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


_KIND = re.compile(r"(?:rows|MB)/s ([a-z_]+)")


def rate_kind(step: Step) -> str | None:
    """The throughput the plan's estimate of this step used ('rewrite', 'scan', ...), if any."""
    m = _KIND.search(step.estimate_basis or "")
    return m.group(1) if m and m.group(1) in DEFAULT_RATES else None


def _row_hashes(conn: psycopg.Connection, table: str, columns: list[str]) -> Counter[str]:
    row = ", ".join(quote_ident(c) for c in sorted(columns))
    return Counter(h for (h,) in conn.execute(f"SELECT md5(ROW({row})::text) FROM {table}"))


def _columns_now(conn: psycopg.Connection, table: str) -> list[str] | None:
    rows = conn.execute("SELECT a.attname FROM pg_attribute a WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0 "
                        "AND NOT a.attisdropped", (table,)).fetchall()
    return [r[0] for r in rows] or None


def _check(conn: psycopg.Connection, text: str) -> bool:
    row = conn.execute(text).fetchone()
    return bool(row and row[0])


# --- the run ------------------------------------------------------------------------------------

class _Run:
    def __init__(self, inp: VerifyInput, opts: VerifyOptions, dsn: str, log: Log) -> None:
        self.inp, self.opts, self.dsn, self.log = inp, opts, dsn, log
        self.conn = psycopg.connect(dsn, autocommit=True, application_name="migspec verify")
        self.sampler = trace.LockSampler(dsn, opts.sample_interval_s)
        self.counter = itertools.count(opts.rows + 1)
        self.pending_fks = changes.added_foreign_keys(
            step_from_dict(st) for p in inp.doc.get("phases", []) for st in p.get("steps", []))
        self.original_columns: dict[str, list[str]] = {}
        self.measured: list[tuple[str, int, float, StepResult]] = []  # (rate kind, rows, seconds, step)

    def close(self) -> None:
        self.sampler.close()
        self.conn.close()

    # a step, UP or DOWN, exactly as apply runs it
    def execute(self, step: Step, statements: tuple[str, ...], *, phase: str, index: int, direction: str,
                plan_hash: str, messages: list[str]) -> int:
        """Returns the number of batches of a backfill (0 otherwise)."""
        def log(message: str) -> None:
            messages.append(message)

        with self.conn.transaction():
            state.start(self.conn, plan_hash, phase, index, direction, step.description, step_sha256="",
                        plan_sha256=plan_hash)
        batches = 0
        if direction == "down" and step.down_steps:
            for n, part in enumerate(step.down_steps, 1):  # each part its own cursor, as apply numbers them
                if part.backfill is not None:
                    batches += run_backfill(self.conn, part.backfill, plan=plan_hash, phase=phase, step=index,
                                            log=log, throttle=Throttle(), direction="down", part=n,
                                            lock_timeout_s=part.lock_timeout_s or policy.LOCK_TIMEOUT_S).batches
                elif part.up:
                    run_statements(self.conn, part, part.up, log, RetryPolicy(),
                                   str(part.table) if part.table else None)
        elif direction == "up" and step.backfill is not None:
            progress = run_backfill(self.conn, step.backfill, plan=plan_hash, phase=phase, step=index, log=log,
                                    throttle=Throttle(), lock_timeout_s=step.lock_timeout_s or policy.LOCK_TIMEOUT_S)
            batches = progress.batches
        elif statements:
            run_statements(self.conn, step, statements, log, RetryPolicy(),
                           str(step.table) if step.table else None)
        with self.conn.transaction():
            state.finish(self.conn, plan_hash, phase, index, direction)
        return batches

    def traced_up(self, step: Step, phase: str, index: int, plan_hash: str, pool: WriterPool | None) -> StepResult:
        r = StepResult(phase, index, step.description, manual=step.manual, transactional=step.transactional,
                       table=str(step.table) if step.table else None,
                       claimed_lock=step.lock.sql_name if step.lock else None,
                       plan_estimate_s=step.estimate_seconds, plan_estimate_low_s=step.estimate_low_seconds,
                       rate_kind=rate_kind(step))
        r.claimed_rewrite = r.rate_kind == "rewrite"
        if step.manual:
            return r
        table_name = str(step.table) if step.table else (str(step.backfill.table) if step.backfill else None)
        oid = trace.regclass(self.conn, table_name)
        created = oid is None  # the step makes its table: a lock on it blocks nobody until COMMIT
        if oid is not None and r.rate_kind:
            r.rows = int(self.conn.execute(f"SELECT count(*) FROM {table_name}").fetchone()[0])
        files = trace.relfilenodes(self.conn)
        index_files = trace.index_files(self.conn)
        known = trace.user_relations(self.conn)
        trace.read_own_locks(self.conn)  # forget what earlier DDL (DOWN, setup) left there
        own = step.transactional and step.backfill is None
        statements = step.up + ((trace.own_locks_statement(),) if own else ())
        messages: list[str] = []
        batches = 0
        t0 = time.monotonic()
        try:
            with self.sampler.watch(self.conn.info.backend_pid) as obs:
                batches = self.execute(step, statements, phase=phase, index=index, direction="up",
                                       plan_hash=plan_hash, messages=messages)
        except (StepFailed, psycopg.Error) as exc:
            r.error = _first_line(exc)
            obs = None
        t1 = time.monotonic()
        r.duration_s = t1 - t0
        r.retries = sum(1 for m in messages if m.startswith("retry "))
        if r.retries:
            r.notes.append(f"{r.retries} lock-timeout retr{'y' if r.retries == 1 else 'ies'}: {messages[0]}")
        captured = trace.read_own_locks(self.conn)
        if obs is not None:
            for rel, mode, granted in captured:
                obs.add(rel, mode, granted)
            obs.own_backend = bool(captured) or own
        if oid is None:
            oid = trace.regclass(self.conn, table_name)
        truncated = {trace.regclass(self.conn, t) for t in changes.truncated_tables(step)}
        changed, emptied = trace.rewritten(files, trace.relfilenodes(self.conn), {o for o in truncated if o})
        names = trace.relation_names(self.conn, set(changed) | set(emptied) | (obs.relations() if obs else set()), known)
        r.rewritten = [names[o] for o in changed]
        r.rebuilt_indexes = trace.rebuilt_indexes(index_files, trace.index_files(self.conn), set(emptied))
        if emptied:
            r.notes.append(f"emptied into a new file (TRUNCATE, no rewrite): {', '.join(names[o] for o in emptied)}")
        if obs is not None:
            r.lock_samples, r.own_backend_locks = obs.samples, obs.own_backend
            if oid is not None:
                strongest = obs.strongest(oid)
                r.observed_lock = strongest.sql_name if strongest else None
            # Catalogs, TOAST and migspec's own state table are bookkeeping, not the migration's.
            r.other_locks = {names[o]: mode.sql_name for o in sorted(obs.relations())
                             if o != oid and (mode := obs.strongest(o)) is not None
                             and not names[o].startswith(("pg_catalog.", "pg_toast.", "migspec."))}
        if oid is not None and r.error is None:
            r.observed_rewrite = oid in changed
        if pool is not None:
            r.writers = latency_stats(pool.during(t0, t1))
        lock_timeout = step.lock_timeout_s or (policy.LOCK_TIMEOUT_S if step.backfill is not None else 0.0)
        r.stall_limit_ms = self.opts.max_stall_ms if self.opts.max_stall_ms is not None else \
            round((lock_timeout + STALL_GRACE_S) * 1000, 1)
        if r.error is None and step.post_check:
            try:
                r.post_check = _check(self.conn, step.post_check)
            except psycopg.Error as exc:
                r.post_check = False
                r.notes.append(f"post-check raised: {_first_line(exc)}")
        self._timing(r, step, batches)
        self._judge(r, step, created)
        return r

    def _timing(self, r: StepResult, step: Step, batches: int) -> None:
        prod_table = r.table or (str(step.backfill.table) if step.backfill else None)
        r.production_rows = self.inp.production_rows.get(prod_table) if prod_table else None
        pauses = batches * step.backfill.pause_seconds if step.backfill is not None else 0.0
        r.work_s = max(r.duration_s - pauses, 1e-6)
        if r.error is not None:
            return
        if not r.rate_kind or not r.rows:
            r.production_s = r.duration_s  # catalog-only work does not grow with the table
            return
        if r.production_rows is not None:
            scaled = r.work_s * r.production_rows / r.rows
            if step.backfill is not None:
                size = max(step.backfill.batch_size, 1)
                scaled += math.ceil(r.production_rows / size) * step.backfill.pause_seconds
            r.production_s = scaled
            self._check_estimate(r)
        self.measured.append((r.rate_kind, r.rows, r.work_s, r))

    def _check_estimate(self, r: StepResult) -> None:
        """The plan's range against this run's throughput at production's rows (issue 17)."""
        problem = estimate_mismatch(r.production_s, r.plan_estimate_low_s, r.plan_estimate_s,
                                    self.opts.estimate_tolerance)
        if problem and self.opts.estimate_mismatch == "fail":
            r.problems.append(problem)
        elif problem and self.opts.estimate_mismatch == "warn":
            r.notes.append(problem)

    def _judge(self, r: StepResult, step: Step, created: bool = False) -> None:
        if r.error is not None:
            r.problems.append(f"UP failed: {r.error}")
        claimed = step.lock
        observed = LockMode[r.observed_lock.replace(" ", "_")] if r.observed_lock else None
        if created and observed is not None:
            r.notes.append(f"the step creates {r.table}: its {observed.sql_name} on it blocks nobody (no other session "
                           "sees the table before COMMIT)")
        elif observed is not None and claimed is not None and observed > claimed:
            r.problems.append(f"took {observed.sql_name} on {r.table}, stronger than the claimed {claimed.sql_name} "
                              f"({observed.blocks}; the claim says {claimed.blocks})")
        elif observed is not None and claimed is None:
            r.notes.append(f"took {observed.sql_name} on {r.table}; the plan claims no lock for this step")
        elif claimed is not None and observed is not None and observed < claimed:
            r.notes.append(f"the claim is conservative: {claimed.sql_name} claimed, only {observed.sql_name} seen")
        elif claimed is not None and observed is None and r.error is None and r.table:
            locked = ", ".join(f"{m} on {t}" for t, m in r.other_locks.items()) or "nothing else"
            if r.transactional and r.own_backend_locks:
                r.notes.append(f"the claim names the wrong relation: the step's own transaction took no lock on "
                               f"{r.table} (exact, read before COMMIT); it took {locked}")
            else:
                r.notes.append(f"no lock on {r.table} was seen in {r.lock_samples} samples (a short statement outside "
                               f"a transaction can fall between samples); seen: {locked}")
        if r.observed_rewrite and not r.claimed_rewrite:
            r.problems.append(f"{r.table} was rewritten (relfilenode changed) but the step claims no rewrite")
        elif r.claimed_rewrite and r.observed_rewrite is False:
            r.notes.append(f"the plan claims a rewrite of {r.table}, the server did not rewrite it")
        others = [t for t in r.rewritten if t != r.table]
        if others:
            r.notes.append(f"also rewritten: {', '.join(others)}")
        # Every index's file too: a type change that keeps the table's file can still rebuild an
        # index under ACCESS EXCLUSIVE (issue 12, class 2). A rewrite or an index build claims it.
        if r.rebuilt_indexes and not (r.claimed_rewrite or (r.rate_kind or "").startswith("index_build")):
            r.problems.append(f"index(es) {', '.join(r.rebuilt_indexes)} rebuilt (relfilenode changed) but the step "
                              "claims no rewrite and no index build")
        w = r.writers
        if w is not None and w.max_ms is not None and r.stall_limit_ms is not None and w.max_ms > r.stall_limit_ms:
            r.problems.append(f"writers stalled {w.max_ms:g} ms, over the limit of {r.stall_limit_ms:g} ms")
        if w is not None and w.errors:
            r.problems.append(f"writers got {w.errors} error(s): {'; '.join(w.error_samples)}")
        if r.post_check is False:
            r.problems.append(f"post-check failed: {step.post_check}")

    # a phase
    def phase(self, number: int, name: str, steps: list[Step]) -> PhaseResult:
        res = PhaseResult(name)
        before = trace.catalog_snapshot(self.conn)
        hashes = self._phase_rows()
        pool = self._writers(steps)
        plan_hash = f"verify-{secrets.token_hex(8)}"
        ran = 0
        self.log(f"{name}: UP ({len(steps)} step(s)) with {self.opts.writers if pool else 0} writer(s)")
        try:
            if pool is not None:
                pool.start()
            for i, step in enumerate(steps, 1):
                r = self.traced_up(step, name, i, plan_hash, pool)
                r.number = f"{number}.{i}"
                res.steps.append(r)
                ran = i
                if r.error is not None:
                    res.up_failed = True
                    break
        finally:
            if pool is not None:
                pool.stop()
        after_up = trace.catalog_snapshot(self.conn)
        self.log(f"{name}: DOWN")
        t0 = time.monotonic()
        for i in range(ran, 0, -1):
            step = steps[i - 1]
            if step.manual or not step.down:
                continue
            try:
                self.execute(step, step.down, phase=name, index=i, direction="down", plan_hash=plan_hash, messages=[])
            except (StepFailed, psycopg.Error) as exc:
                res.down_error = f"step {i} '{step.description}': {_first_line(exc)}"
                break
        res.down_s = time.monotonic() - t0
        diffs = trace.compare_catalogs(before, trace.catalog_snapshot(self.conn))
        res.catalog_diffs = [d for d in diffs if not trace.validated_only(d)]
        res.notes += [f"{d.key}: validated by this phase and still validated after its DOWN (PostgreSQL cannot "
                      "un-validate a constraint; the DOWN of the phase that added it drops it)"
                      for d in diffs if trace.validated_only(d)]
        res.rows_checked, res.row_problems = self._rows_intact(hashes)
        if res.up_failed or res.down_error:
            return res
        self.log(f"{name}: UP again")
        t0 = time.monotonic()
        again = f"verify-{secrets.token_hex(8)}"
        for i, step in enumerate(steps, 1):
            if step.manual:
                continue
            try:
                self.execute(step, step.up, phase=name, index=i, direction="up", plan_hash=again, messages=[])
            except (StepFailed, psycopg.Error) as exc:
                res.reup_error = f"step {i} '{step.description}': {_first_line(exc)}"
                break
        res.reup_s = time.monotonic() - t0
        if res.reup_error is None:
            res.reup_diffs = trace.compare_catalogs(after_up, trace.catalog_snapshot(self.conn))
        return res

    def _writers(self, steps: list[Step]) -> WriterPool | None:
        if self.opts.writers <= 0:
            return None
        touched = {str(s.table) for s in steps if s.table} | {str(s.backfill.table) for s in steps if s.backfill}
        if not touched:
            touched = {str(QualifiedName.parse(t["name"])) for t in self.inp.doc.get("tables") or []}
        avoid, dropped = changes.dropped_or_renamed(steps)
        models = data.table_models(self.conn, self.opts.rows, self.pending_fks)
        oids = {trace.regclass(self.conn, t) for t in touched - dropped}
        work = []
        swaps = changes.swapped_columns(steps)
        for oid, model in models.items():
            if oid in oids:
                # A swap to a column of the same or a wider type: the application keeps writing the name.
                keep = {name for name, source in swaps.get(model.name, {}).items()
                        if name in model.columns and source in model.columns and
                        (model.columns[name].base == model.columns[source].base or
                         model.columns[source].base in changes.WIDER.get(model.columns[name].base, ()))}
                try:
                    columns = model.writer_columns(self.original_columns.get(model.name),
                                                   avoid.get(model.name, set()) - keep)
                    work.append(writer_work(model, columns))
                except InputError as exc:
                    self.log(f"no writer for {model.name}: {exc}")
        if not work:
            return None
        return WriterPool(self.dsn, work, self.opts.writers, self.opts.rows, self.counter,
                          rate_per_writer=self.opts.writer_rate, statement_timeout_s=self.opts.writer_timeout_s)

    def _phase_rows(self) -> dict[str, tuple[list[str], Counter[str]]]:
        """Rows present now, over the columns the tables had before the migration (columns the
        migration adds are its own; a backfill of them is undone by dropping them)."""
        out = {}
        for table, original in self.original_columns.items():
            now = _columns_now(self.conn, table)
            if now is None:
                continue
            cols = [c for c in original if c in now]
            if cols:
                out[table] = (cols, _row_hashes(self.conn, table, cols))
        return out

    def _rows_intact(self, hashes: dict[str, tuple[list[str], Counter[str]]]) -> tuple[int, list[str]]:
        problems, checked = [], 0
        for table, (cols, before) in hashes.items():
            try:
                with self.conn.transaction():
                    now = _row_hashes(self.conn, table, cols)
            except psycopg.Error as exc:
                problems.append(f"cannot read the rows of {table}: {_first_line(exc)}")
                continue
            missing = before - now
            checked += sum(before.values())
            if missing:
                problems.append(f"{sum(missing.values()):,} of the {sum(before.values()):,} rows that were in {table} "
                                "before the phase are changed or gone")
        return checked, problems


def estimate_mismatch(measured_s: float | None, low: float | None, high: float, tolerance: float) -> str | None:
    """A message when ``measured_s`` (this run's throughput at production's rows) is outside the
    plan's range by more than ``tolerance`` times; None when it is inside, or nothing to compare."""
    if measured_s is None or high <= CATALOG_ONLY_SECONDS or not math.isfinite(high):
        return None
    low = high if low is None else low
    plan = format_range(low, high)
    if measured_s > high * tolerance:
        return (f"the plan's estimate {plan} is optimistic: this run's throughput gives ~{format_duration(measured_s)} "
                f"at production's rows, more than {tolerance:g}x its pessimistic end; re-plan with this run's "
                "--calibration, or measure production with 'migspec measure --probe'")
    if measured_s < low / tolerance:
        return (f"the plan's estimate {plan} is pessimistic: this run's throughput gives ~{format_duration(measured_s)} "
                f"at production's rows, under 1/{tolerance:g} of its optimistic end (a throwaway server with a small "
                "table in cache is faster than production: re-plan with this run's --calibration only if it is "
                "production-like)")
    return None


def calibration(measured: list[tuple[str, int, float, StepResult]]) -> dict[str, dict[str, float]]:
    """rows/s per rate kind over the steps that held their claims (a plain CREATE INDEX passing
    itself off as CONCURRENTLY says nothing about concurrent builds): total rows / total seconds."""
    totals: dict[str, list[float]] = {}
    for kind, rows, seconds, step in measured:
        if step.ok and rows > 0 and seconds > 0:
            acc = totals.setdefault(kind, [0.0, 0.0])
            acc[0] += rows
            acc[1] += seconds
    return {k: {"rows_per_s": rows / seconds} for k, (rows, seconds) in sorted(totals.items())}


def verify(inp: VerifyInput, opts: VerifyOptions = VerifyOptions(), *, dsn: str | None = None,
           log: Log = lambda _m: None) -> VerifyResult:
    if opts.rows < 1:
        raise InputError("--rows must be at least 1")
    if opts.writers < 0:
        raise InputError("--writers must not be negative")
    started = time.monotonic()
    doc = inp.doc
    with scratch(dsn, inp.system_identifier, log, major=inp.server_major) as target:
        result = VerifyResult(doc.get("migration", "?"), inp.source, target.description, doc.get("pg_version"),
                              target.server_version, opts.rows, opts.writers)
        if not target.embedded:
            result.notes.append("the scratch database keeps what verify created (schema, rows, the migspec schema "
                                "and its event trigger): drop it, or give a new one to the next run")
        if inp.server_note and target.embedded:
            result.notes.append(inp.server_note)
        plan_major = doc.get("pg_version")
        if isinstance(plan_major, int) and plan_major != target.server_version_num // 10000:
            result.notes.append(f"the plan was written for PostgreSQL {plan_major}; this server is "
                                f"{target.server_version}: version-gated steps may behave differently")
        if inp.schema_file is not None:
            n = schema.create_from_dump(target.dsn, inp.schema_file)
            log(f"schema: {n} statement(s) from {inp.schema_file}")
        else:
            assert inp.facts is not None
            n = schema.create_from_model(target.dsn, inp.facts)
            log(f"schema: {n} statement(s) from the stats file's schema facts")
        run = _Run(inp, opts, target.dsn, log)
        try:
            state.ensure(run.conn)
            if not trace.install_event_trigger(run.conn):
                result.notes.append("not a superuser: locks of statements run outside a transaction block are only "
                                    "sampled every few ms, not captured at the end of each DDL command")
            touched = {s["table"] for p in doc.get("phases", []) for s in p.get("steps", []) if s.get("table")}
            models = data.with_parents(data.table_models(run.conn, opts.rows, run.pending_fks), touched)
            data.load(run.conn, opts.rows, models, log)
            result.tables = len(models)
            run.original_columns = {m.name: list(m.columns) for m in models.values()}
            result.setup_s = time.monotonic() - started
            phases = [(p["name"], [step_from_dict(s) for s in p.get("steps", [])]) for p in doc.get("phases", [])]
            for i, (name, steps) in enumerate(phases):
                ph = run.phase(i + 1, name, steps)
                result.phases.append(ph)
                # A DOWN that did not restore the schema, or an UP that did not run again, leaves a
                # state the next phase was not planned for: its findings would be noise.
                if ph.up_failed or ph.down_error or ph.catalog_diffs or ph.reup_error or ph.reup_diffs:
                    result.skipped_phases = [n for n, _ in phases[i + 1:]]
                    break
            result.calibration = calibration(run.measured)
        finally:
            run.close()
    result.total_s = time.monotonic() - started
    result.finished_at = _utc_now()
    return result

"""Lint: migration + measurements -> findings with risk. The library entry point behind
``migspec lint`` (and the first half of ``migspec plan``).

Pass 1 walks the migration (migspec.analysis) and asks every rule about every operation. Pass 2
refuses when a pre-existing table lacks measurements, then scores each hit from the table's
size and traffic (migspec.risk).
"""

from __future__ import annotations

from collections import defaultdict

from migspec.analysis import Analyzed, analyze
from migspec.collector import collector_paused  # noqa: F401 - its home before cmd_lint paused from the start
from migspec.errors import InputError
from migspec.estimate.throughput import Calibration
from migspec.frozen import field, frozen, replace
from migspec.locks import LockMode
from migspec.names import QualifiedName
from migspec.ops.base import Work
from migspec.parse.source import Location, Migration
from migspec.risk import Assessment, Risk, TableLoad, Thresholds, assess, classify_stall, stall_seconds
from migspec.rules import Hit, RuleContext, RuleIndex, rule_names
from migspec.schema import Schema
from migspec.stats import Stats, require_measurements
from migspec.versions import DEFAULT_VERSION


@frozen
class Finding:
    """One rule's verdict on one operation, with its risk, lock and estimate (the JSON report's finding)."""

    rule: str
    location: Location
    statement: str
    operation: str
    table: str | None
    lock: LockMode | None
    rewrites_table: bool
    scans_table: bool
    risk: Risk
    message: str
    alternative: str
    estimate_seconds: float
    suppressed: str | None = None  # the reason given, when an inline directive allows it
    origin: str = ""  # the framework operation that produced the statement (migspec.frameworks)
    estimate_low_seconds: float | None = None  # the optimistic end (estimate_seconds: the pessimistic)
    # ``message`` is ``why`` + the measured context; the text renderer shows the context once per
    # statement (``cost``: the work's estimate and basis, then each stall reason), not per finding.
    why: str = ""
    cost: tuple[str, ...] = ()


@frozen
class OpResult:
    """An operation, its assessment and the findings on it."""

    item: Analyzed
    assessment: Assessment
    findings: tuple[Finding, ...]

    @property
    def risk(self) -> Risk:
        return max((f.risk for f in self.findings if not f.suppressed), default=Risk.GREEN)


@frozen
class Report:
    """The lint of a migration: every operation's result, the tables touched, notes."""

    migration: Migration
    version: int
    stats: Stats
    results: tuple[OpResult, ...]
    tables: tuple[QualifiedName, ...]  # pre-existing tables touched, in first-touch order
    notes: tuple[str, ...] = field(default=())

    @property
    def findings(self) -> list[Finding]:
        return [f for r in self.results for f in r.findings]

    @property
    def risk(self) -> Risk:
        return max((r.risk for r in self.results), default=Risk.GREEN)


def target_version(stats: Stats, override: int | None) -> int:
    return override or stats.pg_version or DEFAULT_VERSION


def lint(migration: Migration, stats: Stats, *, pg_version: int | None = None, transaction_per_file: bool = False,
         calibration: Calibration | None = None, require_stats: bool = True, schema: Schema | None = None) -> Report:
    """``schema``: the model before the migration (migspec.schema.load; default: the stats file's)."""
    version = target_version(stats, pg_version)
    thresholds = Thresholds.from_mapping(stats.thresholds, f"{stats.origin}")
    calibration = (calibration or Calibration()).bound(stats)  # the probed server's speed and load
    known_rules: frozenset[str] | None = None  # only a migration that names rules needs them all
    for stmt in migration.statements:
        for d in stmt.directives:
            if d.verb == "allow":
                for target in d.targets:
                    if known_rules is None:
                        known_rules = rule_names()
                    if target not in known_rules:
                        from migspec.suggest import did_you_mean

                        raise InputError(f"{d.location}: unknown rule {target!r} in 'migspec: allow'"
                                         f"{did_you_mean(target, known_rules)} (see 'migspec rules')")

    index = RuleIndex()  # each operation kind's rules imported when the first such operation comes
    ctx = RuleContext(version, stats.pg_version_full if pg_version in (None, stats.pg_version) else None,
                      schema=None, thresholds=thresholds)  # type: ignore[arg-type]
    collected: list[tuple[Analyzed, list[tuple[str, Hit]], frozenset[QualifiedName]]] = []
    touched: dict[QualifiedName, None] = {}
    schema_notes: list[str] = []
    for item, schema in analyze(migration, version=version, stats=stats, transaction_per_file=transaction_per_file,
                                  schema=schema):
        ctx.schema = schema
        hits = [(rule.name, hit) for rule in index.rules_for(item) for hit in rule.check(item, ctx)]
        # The operation's own table is new or not as item.new_table says (the schema before the
        # operation, as here): no lookup for it (issue 16).
        own, new_table = item.op.table, item.new_table
        new_locked = [lk.relation for lk in item.effect.locks
                      if (new_table if lk.relation is own else schema.is_new(lk.relation))]
        fresh = frozenset(new_locked) if new_locked else _NONE_FRESH
        collected.append((item, hits, fresh))
        ctx.history.append(item)
        schema_notes = schema.notes
        if not new_table:
            dropped = schema.dropped
            for name in item.op.tables:
                if (name is own or not schema.is_new(name)) and (not dropped or name not in dropped):
                    touched.setdefault(name, None)
    if require_stats:
        require_measurements(stats, touched)

    results: list[OpResult] = []
    # Seconds each write-blocking lock has been held so far, per (transaction, relation).
    tx_hold: dict[tuple[int, QualifiedName], float] = defaultdict(float)
    # Measurements, once per table (keyed by the name's id: the items keep every name alive, and a
    # QualifiedName hashes in Python).
    loads: dict[tuple[int, bool], TableLoad | None] = {}
    texts: dict[tuple[int, object], str] = {}  # _finding's texts of a load / an estimate (alive until the end)
    # assess() by its arguments: a function of them alone (the estimates are memoized values), asked
    # the same few hundred questions for thousands of statements (issue 16: a tenth of lint).
    assessed: dict[tuple[object, ...], Assessment] = {}
    for item, hits, fresh in collected:
        own = item.op.table
        new = item.new_table or (item.op.kind == "create_table" and own not in stats.tables)
        load = loads.get((id(own), new), _NO_LOAD)
        if load is _NO_LOAD:
            load = loads[(id(own), new)] = _load(item, stats)
        tx = item.tx
        # (an autocommit statement holds nothing: the shared empty frozenset, no set built per statement)
        held = {h.relation for h in tx.held} if tx.tx_id is not None else _NONE_FRESH
        extra = tx_hold[(tx.tx_id, own)] if tx.tx_id is not None and own in held else 0.0
        concurrent = bool(getattr(item.op, "concurrent", False))
        effect = item.effect
        strongest = effect.strongest
        # The effect as assess() reads it: its strongest lock, its work and how many rows it touches.
        key = (strongest, effect.work._value_, effect.work_rows_max, id(load), id(own), tx.lock_timeout_s,
               concurrent, extra)
        assessment = assessed.get(key)  # type: ignore[assignment]
        if assessment is None:
            assessment = assessed[key] = assess(effect, load, lock_timeout_s=tx.lock_timeout_s,
                                                calibration=calibration, thresholds=thresholds,
                                                concurrent=concurrent, extra_hold_s=extra, table=own)
        locks = effect.locks
        if len(locks) != 1 or locks[0].relation is not own:  # (a lock on its own table only: nothing to judge)
            assessment = _judge_other_locks(item, assessment, fresh, stats, thresholds)
        if tx.tx_id is not None:
            assessment = _extend_held(item, assessment, held - {own}, tx_hold, stats, thresholds)
            locked = {lk.relation for lk in locks if lk.mode.blocks_writes}
            for rel in held | locked:
                tx_hold[(tx.tx_id, rel)] += assessment.hold.seconds
        if not hits:
            results.append(OpResult(item, assessment, ()))
            continue
        directives = item.op.stmt.directives
        allowed = {t: d.reason for d in directives if d.verb == "allow" for t in d.targets} \
            if directives else _NO_DIRECTIVES
        findings = []
        primary = [(n, h) for n, h in hits if not h.fallback]
        for name, hit in primary or [(n, h) for n, h in hits if assessment.risk > Risk.GREEN]:
            if hit.min_rows is not None and load is not None:
                limit = getattr(thresholds, hit.min_rows) if isinstance(hit.min_rows, str) else hit.min_rows
                if effect.touched_rows(load.rows) <= limit:
                    continue
            risk = hit.fixed if hit.fixed is not None else max(assessment.risk, hit.floor)
            findings.append(_finding(item, name, hit, risk, assessment, load, allowed.get(name), texts))
        results.append(OpResult(item, assessment, tuple(findings)))

    notes = list(migration.notes) + schema_notes
    if stats.tables and not stats.from_production:
        notes.append(f"measurements are from '{stats.source or 'an unstated source'}', not production: "
                     "risk and estimates may not hold in production")
    return Report(migration, version, stats, tuple(results), tuple(touched), tuple(notes))


_NO_LOAD = TableLoad(-1, 0, 0.0, 0.0, 0.0)  # not looked up yet
_NONE_FRESH: frozenset[QualifiedName] = frozenset()
_NO_DIRECTIVES: dict[str, str] = {}


def _judge_other_locks(item: Analyzed, a: Assessment, fresh: frozenset[QualifiedName], stats: Stats,
                       t: Thresholds) -> Assessment:
    """Every lock is judged with the measurements of the relation it is taken on: a foreign key
    from a new (empty) table takes SHARE ROW EXCLUSIVE on the busy referenced table, which queues
    behind that table's longest transaction and stalls that table's writers for the statement's
    hold (issue 12, class 6)."""
    worst, reasons = a.risk, None
    stall, queued = a.stall_seconds, a.queued_writes
    own = item.op.table
    for lk in item.effect.locks:
        # The cheap tests first: most statements lock only their own table (issue 16).
        if lk.relation is own or lk.relation == own or not lk.mode.blocks_writes or lk.relation in fresh:
            continue
        ts = stats.tables.get(lk.relation)
        if ts is None or ts.rows is None:
            continue
        if reasons is None:
            reasons = list(a.reasons)
        lc = ts.lock_contention
        queue = lc.longest_transaction_seconds if lc else 0.0
        rel_stall = stall_seconds(queue, a.hold.seconds, item.tx.lock_timeout_s)
        qps = ts.write_qps or 0.0
        risk, why = classify_stall(rel_stall, qps, t)
        if lc and lc.lock_waits_per_minute >= t.contended_lock_waits_per_minute and risk < Risk.YELLOW:
            risk, why = Risk.YELLOW, f"{why}; the table is contended ({lc.lock_waits_per_minute:g} lock waits/min)"
        reasons.append(f"{lk.mode.sql_name} on {lk.relation} ({ts.rows:,} rows, {qps:g} writes/s): {why}")
        worst, stall, queued = max(worst, risk), max(stall, rel_stall), max(queued, qps * rel_stall)
    if reasons is None:
        return a  # no other lock judged: nothing changed (replace() on every statement was 5 % of lint)
    return replace(a, risk=worst, reasons=tuple(reasons), stall_seconds=stall, queued_writes=queued)


def _extend_held(item: Analyzed, a: Assessment, relations: set[QualifiedName],
                 tx_hold: dict[tuple[int, QualifiedName], float], stats: Stats, t: Thresholds) -> Assessment:
    """A statement running while earlier statements' locks are held stretches those stalls."""
    worst, reasons = a.risk, list(a.reasons)
    for rel in sorted(relations):
        stall = tx_hold[(item.tx.tx_id, rel)] + a.hold.seconds  # type: ignore[index]
        qps = stats.table(rel).write_qps or 0.0
        risk, why = classify_stall(stall, qps, t)
        if risk > Risk.GREEN:
            reasons.append(f"keeps the lock on {rel} held: {why}")
        worst = max(worst, risk)
    if worst == a.risk and len(reasons) == len(a.reasons):
        return a  # nothing added: the same assessment (no replace() per statement)
    return replace(a, risk=worst, reasons=tuple(reasons))


def _load(item: Analyzed, stats: Stats) -> TableLoad | None:
    table = item.op.table
    if table is None:
        return None
    if item.new_table or (item.op.kind == "create_table" and table not in stats.tables):
        return TableLoad(0, 0, 0.0, 0.0, 0.0, new=True)
    ts = stats.table(table)
    lc = ts.lock_contention
    return TableLoad(ts.rows or 0, ts.size_bytes, ts.write_qps or 0.0,
                     lc.longest_transaction_seconds if lc else 0.0, lc.lock_waits_per_minute if lc else 0.0)


def _finding(item: Analyzed, rule: str, hit: Hit, risk: Risk, a: Assessment, load: TableLoad | None,
             suppressed: str | None, texts: dict[tuple[int, object], str] | None = None) -> Finding:
    """``texts``: a cache of the measured context's parts by (id(object), kind), for objects that
    outlive it (a table's load, a memoized estimate): the same few texts for thousands of findings."""
    texts = {} if texts is None else texts
    message = hit.message
    cost: tuple[str, ...] = ()
    if load is not None and not load.new:
        measured = texts.get((id(load), None))
        if measured is None:
            size = f"{load.rows:,} rows" + (f" / {load.size_bytes / 1e6:,.0f} MB" if load.size_bytes else "")
            measured = texts[(id(load), None)] = f"{size}, {load.write_qps:g} writes/s"
        work: tuple[str, ...] = ()
        if item.effect.work is not Work.NONE:
            kind = item.effect.work._value_  # a str hashes in C, an Enum member in Python
            text = texts.get((id(a.hold), kind))
            if text is None:
                text = texts[(id(a.hold), kind)] = f"{kind} est. {a.hold}"
            work = (text,)
        cost = (*work, *a.reasons)
        message += f" [{measured}{f'; {work[0]}' if work else ''}; {'; '.join(a.reasons)}]"
    elif load is not None and load.new:
        others = [r for r in a.reasons if " on " in r and " writes/s): " in r]
        cost = ("table created earlier in this migration: empty" if item.op.kind != "create_table"
                else "new table: empty", *others)
        message += f" [{cost[0]}]"
        if others:
            message += f" [{'; '.join(others)}]"
    op, effect = item.op, item.effect
    stmt, hold = op.stmt, a.hold
    return Finding(rule, stmt.location, stmt.sql, op.kind, op.table.sql if op.table else None, a.lock,
                   effect.work is Work.REWRITE, effect.work.scans, risk, message,
                   hit.alternative, hold.seconds, suppressed, stmt.origin, hold.low, hit.message, cost)

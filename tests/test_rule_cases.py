"""Every rule's pass/fail cases, one YAML file per rule (tests/rules/<rule>.yml), run by one
parametrised test. The file format is described in tests/rules/README.md.

A case is linted exactly as ``migspec lint`` would (the library entry point, no mocks) with the
measurements of a preset from tests/rules/_presets.yml or an inline stats document; the test then
checks whether the case's rule fired, and optionally the risk of its findings, whether they were
suppressed inline, whether they claim a rewrite, and a fragment of their message.

The helpers here (case loading, stats presets, migrations from text) are shared with
tests/test_trace.py, which runs each file's ``trace:`` entries on a real server.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from migspec.errors import RefusedError
from migspec.lint import Finding, Report, lint
from migspec.names import QualifiedName
from migspec.parse.source import Migration, Statement, parse_text
from migspec.risk import Risk
from migspec.rules import all_rules, rule_names
from migspec.stats import Stats, parse_stats
from migspec.versions import GATES

CASES_DIR = Path(__file__).parent / "rules"
PRESETS_FILE = CASES_DIR / "_presets.yml"
DEFAULT_PG_VERSION = 16
DEFAULT_PRESET = "large"
MIN_CASES = 2  # of each kind (fail and pass) per rule

FILE_KEYS = {"rule", "cases", "trace"}
CASE_KEYS = {"name", "sql", "pg_version", "stats", "transaction_per_file", "expect", "risk", "suppressed",
             "rewrites", "message", "alternative"}
EXPECTATIONS = ("fail", "pass", "refused")
TRACE_KEYS = {"name", "setup", "sql", "blocker", "unclaimed", "conservative", "error", "gate"}


class CaseFileError(Exception):
    """A malformed case file: the message names the file and the key."""


@dataclass(frozen=True)
class Case:
    rule: str
    name: str
    sql: tuple[str, ...]  # one text per migration file
    expect: str
    stats: Any = DEFAULT_PRESET
    pg_version: int | None = None
    transaction_per_file: bool = False
    risk: Risk | None = None
    suppressed: bool | None = None
    rewrites: bool | None = None
    message: str | None = None
    alternative: str | None = None

    @property
    def id(self) -> str:
        return f"{self.rule}::{self.name}"


@dataclass(frozen=True)
class Trace:
    rule: str
    name: str
    setup: str
    sql: str
    blocker: str | None = None
    unclaimed: Mapping[str, str] = field(default_factory=dict)  # table -> why migspec cannot claim it
    conservative: Mapping[str, str] = field(default_factory=dict)  # "rewrite"|"scan"|"rebuild" -> why it over-claims
    error: str | None = None  # the server must refuse the statement with this text in the message
    gate: str | None = None  # a versions.py gate: on majors before it the server must refuse the sql

    @property
    def id(self) -> str:
        return f"{self.rule}::{self.name}"


@dataclass(frozen=True)
class CaseFile:
    path: Path
    rule: str
    cases: tuple[Case, ...]
    traces: tuple[Trace, ...]


def _sql_texts(value: Any, where: str) -> tuple[str, ...]:
    if isinstance(value, str) and value.strip():
        return (value,)
    if isinstance(value, list) and value and all(isinstance(v, str) and v.strip() for v in value):
        return tuple(value)
    raise CaseFileError(f"{where}: sql must be SQL text or a non-empty list of file texts")


def _case(rule: str, raw: Any, where: str) -> Case:
    if not isinstance(raw, dict):
        raise CaseFileError(f"{where}: a case must be a mapping")
    unknown = sorted(set(raw) - CASE_KEYS)
    if unknown:
        raise CaseFileError(f"{where}: unknown key {unknown[0]!r} (expected {', '.join(sorted(CASE_KEYS))})")
    for key in ("name", "sql", "expect"):
        if key not in raw:
            raise CaseFileError(f"{where}: missing key {key!r}")
    name = str(raw["name"])
    if "::" in name:
        raise CaseFileError(f"{where}: a case name may not contain '::'")
    if raw["expect"] not in EXPECTATIONS:
        raise CaseFileError(f"{where}: expect must be one of {', '.join(EXPECTATIONS)}")
    risk = raw.get("risk")
    if risk is not None:
        if raw["expect"] != "fail" or str(risk).upper() not in Risk.__members__:
            raise CaseFileError(f"{where}: risk is GREEN, YELLOW or RED, and only for expect: fail")
        risk = Risk[str(risk).upper()]
    for key in ("message", "alternative"):
        if key in raw and (raw["expect"] != "fail" or not isinstance(raw[key], str)):
            raise CaseFileError(f"{where}: {key} is a text fragment, and only for expect: fail")
    for key in ("suppressed", "rewrites"):
        if key in raw and (raw["expect"] != "fail" or not isinstance(raw[key], bool)):
            raise CaseFileError(f"{where}: {key} is true or false, and only for expect: fail")
    version = raw.get("pg_version")
    if version is not None and not isinstance(version, int):
        raise CaseFileError(f"{where}: pg_version is a major version number")
    return Case(rule, name, _sql_texts(raw["sql"], where), raw["expect"], raw.get("stats", DEFAULT_PRESET), version,
                bool(raw.get("transaction_per_file", False)), risk, raw.get("suppressed"), raw.get("rewrites"),
                raw.get("message"), raw.get("alternative"))


def _trace(rule: str, raw: Any, where: str, index: int) -> Trace:
    if not isinstance(raw, dict):
        raise CaseFileError(f"{where}: a trace entry must be a mapping")
    unknown = sorted(set(raw) - TRACE_KEYS)
    if unknown:
        raise CaseFileError(f"{where}: unknown key {unknown[0]!r} (expected {', '.join(sorted(TRACE_KEYS))})")
    if not isinstance(raw.get("setup"), str) or not isinstance(raw.get("sql"), str):
        raise CaseFileError(f"{where}: setup and sql are required SQL texts")
    for key in ("unclaimed", "conservative"):
        if not isinstance(raw.get(key, {}), dict):
            raise CaseFileError(f"{where}: {key} maps a name to the reason")
    if set(raw.get("conservative", {})) - {"rewrite", "scan", "rebuild"}:
        raise CaseFileError(f"{where}: conservative takes the keys rewrite, scan and rebuild")
    if raw.get("gate") is not None and raw["gate"] not in GATES:
        raise CaseFileError(f"{where}: gate must name a gate of migspec.versions ({', '.join(sorted(GATES))})")
    name = str(raw.get("name") or " ".join(raw["sql"].split())[:70])
    return Trace(rule, f"trace {index + 1}: {name}", raw["setup"], raw["sql"], raw.get("blocker"),
                 {str(QualifiedName.parse(k)): str(v) for k, v in (raw.get("unclaimed") or {}).items()},
                 dict(raw.get("conservative") or {}), raw.get("error"), raw.get("gate"))


def load_case_file(path: Path) -> CaseFile:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise CaseFileError(f"{path.name}: malformed YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise CaseFileError(f"{path.name}: must be a mapping with 'rule' and 'cases'")
    unknown = sorted(set(raw) - FILE_KEYS)
    if unknown:
        raise CaseFileError(f"{path.name}: unknown key {unknown[0]!r}")
    rule = raw.get("rule")
    if not isinstance(rule, str) or path.stem != rule:
        raise CaseFileError(f"{path.name}: 'rule' must name the rule the file is named after ({path.stem})")
    cases = tuple(_case(rule, c, f"{path.name}: cases[{i}]") for i, c in enumerate(raw.get("cases") or ()))
    names = [c.name for c in cases]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise CaseFileError(f"{path.name}: duplicate case name {dupes[0]!r}")
    traces = tuple(_trace(rule, t, f"{path.name}: trace[{i}]", i) for i, t in enumerate(raw.get("trace") or ()))
    return CaseFile(path, rule, cases, traces)


@cache
def case_files() -> tuple[CaseFile, ...]:
    return tuple(load_case_file(p) for p in sorted(CASES_DIR.glob("*.yml")) if not p.name.startswith("_"))


@cache
def presets() -> dict[str, Any]:
    return yaml.safe_load(PRESETS_FILE.read_text(encoding="utf-8"))["presets"]


def preset_document(name: str) -> dict[str, Any]:
    """A preset as a stats document: its measurements on each of its tables, with their columns."""
    if name not in presets():
        raise CaseFileError(f"unknown stats preset {name!r} (see {PRESETS_FILE.name}: {', '.join(presets())})")
    preset = presets()[name]
    tables = {}
    for table, columns in (preset.get("columns") or {}).items():
        tables[table] = {**copy.deepcopy(preset.get("measurements") or {}), "columns": dict(columns)}
    return {"source": "production", "tables": tables}


def stats_document(spec: Any) -> dict[str, Any]:
    """The stats document of a case: a preset's name, or an inline stats document that may start
    from a preset (``preset: NAME``) and override its tables key by key."""
    if isinstance(spec, str):
        return preset_document(spec)
    if not isinstance(spec, dict):
        raise CaseFileError(f"stats must be a preset name or a stats mapping, not {spec!r}")
    inline = copy.deepcopy(spec)
    base = preset_document(inline.pop("preset")) if "preset" in inline else {"source": "production", "tables": {}}
    tables = {str(QualifiedName.parse(k)): v for k, v in base["tables"].items()}
    for key, value in (inline.pop("tables", None) or {}).items():
        name = str(QualifiedName.parse(key))
        tables[name] = {**tables.get(name, {}), **(value or {})}
    return {**base, **inline, "tables": tables}


def build_stats(spec: Any, origin: str) -> Stats:
    return parse_stats(stats_document(spec), origin)


def build_migration(texts: tuple[str, ...] | list[str], name: str) -> Migration:
    """One migration of one or more files, parsed exactly as load_migration parses files."""
    statements: list[Statement] = []
    files = []
    for index, text in enumerate(texts):
        file = f"{name}/{index + 1:04d}.sql"
        files.append(file)
        statements.extend(parse_text(text, file, file_index=index, first_index=len(statements)))
    return Migration(name, tuple(files), tuple(statements))


def run_case(case: Case) -> Report:
    stats = build_stats(case.stats, f"{case.id} stats")
    # The stats' own pg_version (e.g. "14.2", minor included) is the target unless the case names one.
    version = case.pg_version or (None if stats.pg_version else DEFAULT_PG_VERSION)
    migration = build_migration(case.sql, case.rule)
    return lint(migration, stats, pg_version=version, transaction_per_file=case.transaction_per_file)


def _describe(findings: list[Finding]) -> str:
    if not findings:
        return "no findings at all"
    return "\n".join(f"  {f.rule} [{f.risk}{' suppressed' if f.suppressed else ''}] {f.location}: {f.message}"
                     for f in findings)


def _all_cases() -> list[Case]:
    return [case for cf in case_files() for case in cf.cases]


@pytest.mark.parametrize("case", _all_cases(), ids=lambda c: c.id)
def test_rule_case(case: Case) -> None:
    if case.expect == "refused":
        with pytest.raises(RefusedError):
            run_case(case)
        return
    report = run_case(case)
    mine = [f for f in report.findings if f.rule == case.rule]
    if case.expect == "pass":
        assert not mine, f"{case.rule} fired but the case expects it not to:\n{_describe(report.findings)}"
        return
    assert mine, f"{case.rule} did not fire; the report has:\n{_describe(report.findings)}"
    if case.risk is not None:
        worst = max(f.risk for f in mine)
        assert worst == case.risk, f"{case.rule} risk: expected {case.risk}, got {worst}:\n{_describe(mine)}"
    if case.suppressed is not None:
        assert all(bool(f.suppressed) == case.suppressed for f in mine), (
            f"expected every {case.rule} finding {'suppressed' if case.suppressed else 'not suppressed'}:\n"
            f"{_describe(mine)}")
    if case.rewrites is not None:
        assert all(f.rewrites_table == case.rewrites for f in mine), (
            f"expected rewrites_table={case.rewrites} on every finding:\n{_describe(mine)}")
    if case.message is not None:
        assert any(case.message in f.message for f in mine), (
            f"no {case.rule} finding mentions {case.message!r}:\n{_describe(mine)}")
    if case.alternative is not None:
        assert any(case.alternative in f.alternative for f in mine), (
            f"no {case.rule} finding suggests {case.alternative!r}: "
            + "; ".join(repr(f.alternative) for f in mine))


def test_every_rule_has_a_case_file_with_enough_cases() -> None:
    by_rule = {cf.rule: cf for cf in case_files()}
    problems = []
    for rule in sorted(rule_names()):
        cf = by_rule.get(rule)
        if cf is None:
            problems.append(f"{rule}: no tests/rules/{rule}.yml")
            continue
        for kind in ("fail", "pass"):
            count = sum(c.expect == kind for c in cf.cases)
            if count < MIN_CASES:
                problems.append(f"{rule}: {count} '{kind}' case(s), need at least {MIN_CASES}")
    assert not problems, "\n".join(problems)


def test_every_case_file_names_a_real_rule() -> None:
    known = rule_names()
    strays = [f"{cf.path.name}: rule {cf.rule!r}" for cf in case_files() if cf.rule not in known]
    assert not strays, "case files for rules that do not exist:\n" + "\n".join(strays)
    assert len(case_files()) == len(all_rules())


def test_presets_are_valid_stats_documents() -> None:
    for name in presets():
        stats = build_stats(name, f"preset {name}")
        if name != "none":
            assert stats.tables and all(not t.missing() for t in stats.tables.values()), name
    large = build_stats("large", "preset large").table(QualifiedName("public", "orders"))
    assert (large.rows, large.size_bytes, large.write_qps) == (20_000_000, 3_200_000_000, 400)


def test_rules_declared_in_transaction_only_find_nothing_outside_one() -> None:
    """A rule that declares ``in_transaction_only`` is not asked about statements that are their own
    transaction (RuleIndex skips them, issue 16): asked anyway, about every autocommit statement of
    every case file, it must find nothing there - the declaration loses no finding."""
    from migspec.analysis import analyze
    from migspec.risk import Thresholds
    from migspec.rules import RuleContext

    declared = [r for r in all_rules() if r.in_transaction_only]
    assert declared, "no rule declares in_transaction_only: this test checks nothing"
    asked = 0
    for case in _all_cases():
        if case.expect == "refused":
            continue
        stats = build_stats(case.stats, f"{case.id} stats")
        version = case.pg_version or stats.pg_version or DEFAULT_PG_VERSION
        rules = [cls() for cls in declared]  # fresh instances: a rule may keep state across statements
        ctx = RuleContext(version, None, schema=None,  # type: ignore[arg-type]
                          thresholds=Thresholds.from_mapping(stats.thresholds, case.id))
        for item, schema in analyze(build_migration(case.sql, case.rule), version=version, stats=stats,
                                    transaction_per_file=case.transaction_per_file):
            ctx.schema = schema
            if item.tx.tx_id is None:
                for rule in rules:
                    asked += 1
                    assert not list(rule.check(item, ctx)), f"{case.id}: {rule.name} fired outside a transaction"
            ctx.history.append(item)
    assert asked > 100, f"only {asked} questions asked: the case files hold too few autocommit statements"


def test_rule_index_asks_in_transaction_only_rules_inside_a_transaction_only() -> None:
    from migspec.analysis import analyze
    from migspec.rules import RuleIndex

    stats = build_stats(DEFAULT_PRESET, "index stats")
    migration = build_migration(["BEGIN;\nALTER TABLE orders ADD COLUMN a int;\nCOMMIT;\n"
                                 "ALTER TABLE orders ADD COLUMN b int;\n"], "index")
    index = RuleIndex([cls() for cls in all_rules()])
    asked = {item.op.stmt.sql: {r.name for r in index.rules_for(item)}
             for item, _ in analyze(migration, version=DEFAULT_PG_VERSION, stats=stats)}
    only = {r.name for r in all_rules() if r.in_transaction_only}
    assert only <= asked["ALTER TABLE orders ADD COLUMN a int"]
    assert not only & asked["ALTER TABLE orders ADD COLUMN b int"]
    assert asked["ALTER TABLE orders ADD COLUMN b int"] == asked["ALTER TABLE orders ADD COLUMN a int"] - only

"""``migspec upgrade sqlalchemy PROJECT --to 2.0``: measure, classify and plan SQLAlchemy 1.4 -> 2.0.

Measurements (upgrades.md 1(c)): the installed version (2.0 is reached from the latest 1.4.x);
``RemovedIn20Warning``/``MovedIn20Warning`` counts from the project's tests run with
``SQLALCHEMY_WARN_20=1`` (``--run-tests``); the share of ``create_engine``/``Session``/
``sessionmaker`` calls that pass ``future=True``; the Alembic version (Alembic 1.20 drops 1.4);
scanner findings - library-level autocommit is the silent one: ``conn.execute(insert)`` without
``begin()``/``commit()`` is rolled back in 2.0.  The tests under 2.0 need ``--target-python``.
"""

from __future__ import annotations

import ast

from pathlib import Path

from migspec import policy
from migspec.errors import InputError
from migspec.frozen import frozen
from migspec.planfile.model import Plan, Runbook
from migspec.upgrade import removals
from migspec.upgrade.plan import (Reason, UpgradeReport, common_reasons, fix_steps, installed_version, manual,
                                  phases, release)
from migspec.upgrade.probe import Environment, default_python, probe, run_tests
from migspec.upgrade.scanner import project_files, scan

TARGETS = ("2.0",)
_WARNING = r"\b(RemovedIn20Warning|MovedIn20Warning|SADeprecationWarning)\b"
#: Alembic's first release without SQLAlchemy 1.4 support (upgrades.md 1(c), alembic issue 1851).
ALEMBIC_DROPS_14 = (1, 20)
_FUTURE_CALLS = ("create_engine", "Session", "sessionmaker")


@frozen
class SQLAlchemyOptions:
    target: str = "2.0"
    python: str | None = None
    target_python: str | None = None
    current: str | None = None
    run_tests: bool = False
    test_command: tuple[str, ...] = ("-m", "unittest", "discover")
    contract_after_days: int = policy.CONTRACT_AFTER_DAYS


def future_flags(project: Path) -> tuple[int, int]:
    """(calls passing future=True, all calls) of create_engine/Session/sessionmaker."""
    total = future = 0
    for path in project_files(project, (".py",)):
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                f = node.func
                name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")
                if name in _FUTURE_CALLS:
                    total += 1
                    future += any(k.arg == "future" and isinstance(k.value, ast.Constant) and k.value.value is True
                                  for k in node.keywords)
    return future, total


def measure(project: Path, opts: SQLAlchemyOptions) -> UpgradeReport:
    if opts.target not in TARGETS:
        raise InputError(f"--to {opts.target}: migspec plans SQLAlchemy upgrades to {', '.join(TARGETS)}")
    env = probe(opts.python or default_python(), ("sqlalchemy", "alembic"), project)
    current = installed_version(env, "sqlalchemy", "SQLAlchemy", opts.current, opts.target)
    path = ("1.4", "2.0") if release(current) < (1, 4) else ("2.0",)
    findings = tuple(scan(project, removals.crossing("sqlalchemy", current, opts.target)))
    warn_env = {"SQLALCHEMY_WARN_20": "1"}
    warnings = run_tests(env.python_path, list(opts.test_command), project, _WARNING, warn_env) \
        if opts.run_tests else None
    target_env: Environment | None = None
    target_tests = None
    if opts.target_python:
        target_env = probe(opts.target_python, ("sqlalchemy", "alembic"), project)
        installed = target_env.versions.get("sqlalchemy", "")
        if not installed or release(installed) != release(opts.target):
            raise InputError(f"--target-python {opts.target_python}: has SQLAlchemy {installed or 'not installed'}, "
                             f"not {opts.target}")
        if opts.run_tests:
            target_tests = run_tests(target_env.python_path, list(opts.test_command), project, _WARNING)
    reasons: list[Reason] = common_reasons(findings, warnings, target_tests, target_env is not None)
    notes = []
    future, total = future_flags(project)
    notes.append(f"future=True on {future} of {total} create_engine/Session/sessionmaker call(s)")
    alembic = env.versions.get("alembic")
    if alembic:
        notes.append(f"Alembic {alembic} installed: keep it below {'.'.join(map(str, ALEMBIC_DROPS_14))} "
                     "while 1.4 is still deployed")
    if warnings is not None and not warnings.ok:
        notes.append(f"the tests fail on the current version already (exit {warnings.exit_code}): fix them first")
    return UpgradeReport("sqlalchemy", current, opts.target, path, env, target_env, findings, tuple(reasons),
                         warnings=warnings, target_tests=target_tests, notes=tuple(notes),
                         sources=removals.sources("sqlalchemy"))


def build_plan(report: UpgradeReport, contract_after_days: int = policy.CONTRACT_AFTER_DAYS) -> Plan:
    expand = [
        manual("pin the latest SQLAlchemy 1.4.x release; deploy", "re-pin the previous release"),
        manual("CI: SQLALCHEMY_WARN_20=1 python -W error::DeprecationWarning <tests>; fix warnings one category "
               "at a time with the guide's warning filters", "drop the flags"),
    ]
    expand += fix_steps(report.findings, "the migration guide (no mechanical fixer)")
    for m in report.silent():
        expand.append(manual(f"make the transaction explicit at {m.path}:{m.line} (with engine.begin() / "
                             f"conn.commit()) and cover the write with a test that reads it back on a new "
                             f"connection: {m.row.text}", "revert the commit"))
    expand.append(manual("create_engine(..., future=True) and Session(..., future=True) everywhere",
                         "remove the future=True flags"))
    expand.append(manual("CI matrix: the tests on SQLAlchemy 1.4 and 2.0; pin Alembic below 1.20",
                         "drop the 2.0 CI leg"))
    migrate = [manual("release that only changes the pin to SQLAlchemy 2.0; canary, then progressive rollout",
                      "re-pin 1.4 and redeploy the previous artifact (the code runs on both)")]
    contract = [
        manual("drop SQLAlchemy 1.4 from CI; adopt DeclarativeBase / Mapped[]; unpin Alembic",
               "restore the 1.4 CI leg and the pins; rollback now takes two steps", reversible=False),
    ]
    runbook = Runbook(
        pre_check=("tests green on 1.4 (SQLALCHEMY_WARN_20=1, warnings as errors) and on 2.0",
                   "baseline xact_commit rate (pg_stat_database) and business write counters recorded"),
        cutover=("deploy the pin-only release to a canary", "compare commits and write counters with the baseline",
                 "roll out progressively"),
        rollback_trigger=("xact_commit rate or write counters below the baseline (writes not committed)",
                          "new exception types; 5xx or p95 above the baseline x 1.5"),
        post_verify=("commit rate and write counters at the baseline", "no RemovedIn20Warning left"),
    )
    return Plan(migration=f"SQLAlchemy {report.current} -> {report.target}", risk=report.risk, pg_version=0,
                phases=phases(expand, migrate, contract, policy.contract_wait(contract_after_days)), runbook=runbook,
                confirmations=(), notes=tuple(r.text() for r in report.reasons) + report.notes)

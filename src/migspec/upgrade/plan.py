"""What an upgrade measurement found, the risk rules that classify it (as data), and the helpers
both frameworks' planners use to build a ``migspec.planfile.model.Plan`` - the same object, renderer
and JSON contract as schema plans.

The model (upgrades.md section 0): EXPAND runs old and new side by side (code that works on both
versions, dual-version CI), each step alone and cheap to revert; MIGRATE moves the pin (a release
that changes nothing else, canary first); CONTRACT removes the old path and is the point after
which a rollback takes two steps.  Missing required measurements refuse (exit 3), never RED.
"""

from __future__ import annotations

import re

from migspec.errors import InputError, RefusedError
from migspec.frozen import field, frozen
from migspec.planfile.model import Phase, PhaseName, Plan, Step
from migspec.risk import Risk
from migspec.upgrade.probe import Environment, TestRun
from migspec.upgrade.scanner import Match


@frozen
class RiskRule:
    key: str
    risk: Risk
    fact: str
    source: str


#: The risk rules of upgrades.md 1(b) and 1(c); a plan's reasons name these keys.
RULES: dict[str, RiskRule] = {r.key: r for r in (
    RiskRule("postgres_below_minimum", Risk.RED, "the PostgreSQL server is older than the target release supports: "
             "upgrade PostgreSQL first", "Django release notes, 'Dropped support for PostgreSQL N'"),
    RiskRule("python_unsupported", Risk.RED, "the project's Python is not supported by the target release: "
             "upgrade Python first", "Django release notes, 'Python compatibility'"),
    RiskRule("silent_findings", Risk.RED, "silent behaviour changes: nothing fails, results differ; RED unless "
             "tests cover them", "upgrades.md 1(b)/1(c): unresolved silent behaviour changes"),
    RiskRule("dependency_without_target", Risk.YELLOW, "an installed dependency does not declare support for the "
             "target release; RED if no release of it supports both versions (a big-bang upgrade)",
             "trove classifiers 'Framework :: Django :: X.Y' of the installed distribution"),
    RiskRule("loud_findings", Risk.YELLOW, "removed APIs that fail loudly (ImportError, AttributeError, TypeError) "
             "where tests run them", "the framework's deprecation timeline"),
    RiskRule("deprecation_warnings", Risk.YELLOW, "the test suite emits the framework's deprecation warnings",
             "Django 'How to upgrade'; SQLAlchemy migration_20 step two"),
    RiskRule("target_migrations", Risk.YELLOW, "the target release generates migrations for the project: plan them "
             "with migspec's schema planner", "makemigrations --check --dry-run under the target"),
    RiskRule("target_tests_fail", Risk.YELLOW, "the project's tests fail under the target release",
             "the project's test suite run under the target"),
    RiskRule("system_checks", Risk.YELLOW, "system checks that fire under the target release only",
             "manage.py check under both releases"),
    RiskRule("schema_plan", Risk.YELLOW, "the schema planner's verdict on the migrations the target brings "
             "(its own risk when RED: a rewrite of a large table)", "migspec plan on the target's migrations"),
    RiskRule("not_measured", Risk.YELLOW, "a measurement that would allow GREEN was not taken",
             "upgrades.md 1(b): GREEN needs zero warnings, CI green on both versions, no target migrations"),
)}


@frozen
class Reason:
    rule: str
    detail: str

    @property
    def risk(self) -> Risk:
        return RULES[self.rule].risk

    def text(self) -> str:
        return f"{self.risk}: {self.detail} ({RULES[self.rule].fact})"


@frozen
class Dependency:
    name: str
    version: str
    supported: tuple[str, ...]  # framework releases its classifiers name
    supports_current: bool
    supports_target: bool


@frozen
class UpgradeReport:
    """Every measurement behind an upgrade plan; the renderers print it beside the plan."""

    framework: str  # "django" | "sqlalchemy"
    current: str  # installed version, e.g. "4.2.30"
    target: str  # target feature release, e.g. "5.2"
    path: tuple[str, ...]  # feature releases to pass through, in order, ending with the target
    environment: Environment
    target_environment: Environment | None
    findings: tuple[Match, ...]
    reasons: tuple[Reason, ...]
    pg_version: int | None = None
    pg_minimum: int | None = None
    python_supported: tuple[str, ...] = ()
    dependencies: tuple[Dependency, ...] = ()
    warnings: TestRun | None = None
    target_tests: TestRun | None = None
    target_migrations: tuple[str, ...] | None = None  # makemigrations on the target; None: not measured
    notes: tuple[str, ...] = field(default=())
    sources: dict[str, str] = field(default_factory=dict)
    framework_migrations: tuple[str, ...] | None = None  # migrations the target's own apps add; None: not measured
    schema_plan: Plan | None = None  # the schema planner's plan of the target's migrations
    checks: dict[str, int] | None = None  # Django system check ids under the current release
    target_checks: dict[str, int] | None = None  # ... and under the target

    @property
    def risk(self) -> Risk:
        own = max((r.risk for r in self.reasons), default=Risk.GREEN)
        return max(own, self.schema_plan.risk) if self.schema_plan is not None else own

    @property
    def current_release(self) -> str:
        return ".".join(self.current.split(".")[:2])

    def loud(self) -> list[Match]:
        return [m for m in self.findings if m.row.severity == "loud" and m.row.change != "legacy"]

    def silent(self) -> list[Match]:
        return [m for m in self.findings if m.row.severity == "silent" and m.row.change != "legacy"]

    def legacy(self) -> list[Match]:
        return [m for m in self.findings if m.row.change == "legacy"]


def release(version: str) -> tuple[int, int]:
    """"4.2.30" -> (4, 2): the feature release a version belongs to."""
    major, minor = version.split(".")[:2]
    return int(major), int(minor)


def installed_version(env: Environment, dist: str, label: str, override: str | None, target: str) -> str:
    """The framework version the project runs today: ``--from``, else what its interpreter has.
    Unknown is a refusal (exit 3); at or past the target is bad input."""
    current = override or env.versions.get(dist)
    if not current:
        raise RefusedError(f"upgrade {dist}: the installed {label} version is unknown: {env.python_path} cannot "
                           "import it; pass --python (the project's interpreter) or --from X.Y")
    if not re.fullmatch(r"\d+\.\d+(\.\w+)*", current):
        raise InputError(f"--from {current}: not a version (X.Y or X.Y.Z)")
    if release(current) >= release(target):
        raise InputError(f"upgrade {dist}: {label} {current} is already at or past {target}")
    return current


def common_reasons(report_findings: tuple[Match, ...], warnings: TestRun | None, target_tests: TestRun | None,
                   measured_target: bool) -> list[Reason]:
    """The reasons both frameworks share: findings, warnings, the target's test run."""
    reasons: list[Reason] = []
    silent = [m for m in report_findings if m.row.severity == "silent" and m.row.change != "legacy"]
    loud = [m for m in report_findings if m.row.severity == "loud" and m.row.change != "legacy"]
    if silent:
        reasons.append(Reason("silent_findings", f"{len(silent)} silent change(s): " + ", ".join(
            sorted({m.row.label for m in silent}))))
    if loud:
        reasons.append(Reason("loud_findings", f"{len(loud)} removed-API use(s): " + ", ".join(
            sorted({m.row.label for m in loud}))))
    if warnings is None:
        reasons.append(Reason("not_measured", "deprecation warnings (pass --run-tests)"))
    elif warnings.warning_count:
        reasons.append(Reason("deprecation_warnings", f"{warnings.warning_count} warning(s): " + ", ".join(
            f"{k} x{v}" for k, v in warnings.warnings.items())))
    if not measured_target:
        reasons.append(Reason("not_measured", "the project under the target release (pass --target-python)"))
    elif target_tests is not None and not target_tests.ok:
        reasons.append(Reason("target_tests_fail", f"exit code {target_tests.exit_code}"))
    elif target_tests is None:
        reasons.append(Reason("not_measured", "tests under the target release (pass --run-tests)"))
    return reasons


def manual(description: str, down: str, reversible: bool = True) -> Step:
    """A human step (code change, deploy, CI change): no SQL; its DOWN is an action too."""
    return Step(description=description, up=(), down=(), manual=True, down_note=down, reversible=reversible)


def phases(expand: list[Step], migrate: list[Step], contract: list[Step], after: str) -> tuple[Phase, ...]:
    return (Phase(PhaseName.EXPAND, tuple(expand)), Phase(PhaseName.MIGRATE, tuple(migrate)),
            Phase(PhaseName.CONTRACT, tuple(contract), after=after))


def fix_steps(findings: tuple[Match, ...], autofix_command: str) -> list[Step]:
    """EXPAND steps for findings: one per mechanical fixer (pointing at the tool, not rewriting the
    code ourselves), then one per remaining removed API with the framework's replacement."""
    steps: list[Step] = []
    by_fixer: dict[str, list[Match]] = {}
    by_row: dict[str, list[Match]] = {}
    for m in findings:
        if m.row.change == "legacy":
            continue
        if m.row.autofix:
            by_fixer.setdefault(m.row.autofix, []).append(m)
        elif m.row.severity == "silent":
            continue  # no code to replace: the planner's own silent-change step settles it
        else:
            by_row.setdefault(m.row.source + m.row.symbol, []).append(m)
    if by_fixer:
        fixers = sorted(by_fixer)
        where = sorted({f"{m.path}:{m.line}" for ms in by_fixer.values() for m in ms})
        steps.append(manual(f"run {autofix_command} (fixers {', '.join(f.split(':', 1)[1] for f in fixers)}) "
                            f"for {', '.join(sorted({m.row.label for ms in by_fixer.values() for m in ms}))} at "
                            + ", ".join(where), "revert the commit: the old spelling still works on the current "
                            "version"))
    for matches in by_row.values():
        row = matches[0].row
        how = row.replacement or row.text
        where = ", ".join(f"{m.path}:{m.line}" for m in matches)
        steps.append(manual(f"replace {row.label} (removed in {row.removed_in}) at {where}: {how}",
                            "revert the commit: the old spelling still works on the current version"))
    return steps

"""``migspec upgrade django PROJECT --to X.Y``: measure, classify and plan a Django upgrade.

Measurements (upgrades.md 1(b)): the installed and target versions and the feature releases in
between (Django recommends one at a time, LTS to LTS included); the project's Python against the
target's supported Pythons; the PostgreSQL server version (a stats file or ``--pg-version``)
against the target's minimum - both read from Django's release notes by the generator;
``RemovedInDjangoXXWarning`` counts from the project's tests (``--run-tests``); installed
dependencies' supported Django releases (trove classifiers); and, under the target
(``--target-python``), ``makemigrations --check --dry-run`` and the tests again.  Without the
installed version or the PostgreSQL version the planner refuses (exit 3).
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from pathlib import Path

from migspec import policy
from migspec.errors import InputError, RefusedError
from migspec.frozen import frozen, replace
from migspec.stats import Stats
from migspec.planfile.model import Plan, Runbook
from migspec.risk import Risk
from migspec.upgrade import removals
from migspec.upgrade.plan import (Dependency, Reason, UpgradeReport, common_reasons, fix_steps, installed_version,
                                  manual, phases, release)
from migspec.upgrade.probe import Environment, default_python, probe, run_command, run_tests
from migspec.upgrade.scanner import SKIP_DIRS, scan

_WARNING = r"\b(RemovedInDjango\d+Warning)\b"
_CHECK_ID = re.compile(r"\(([a-z_]+\.[CEWI]\d{3})\)")
#: What the plan does about a system check the project trips (check id -> EXPAND step, DOWN).
#: models.W042: DEFAULT_AUTO_FIELD unset.  Letting a new default (startproject's, django-upgrade's
#: former default_auto_field fixer) switch it to BigAutoField generates an AlterField of every
#: primary key - a rewrite of every table (upgrades.md 1(b); django-upgrade 1.30.0 changelog).
CHECK_STEPS = {
    "models.W042": ("set DEFAULT_AUTO_FIELD = 'django.db.models.AutoField' explicitly (system check models.W042): "
                    "today's keys, no migration; a switch to BigAutoField rewrites every table - plan it separately "
                    "with 'migspec plan PROJECT'", "remove the setting (the implicit default is the same)"),
}
_CLASSIFIER = re.compile(r"^Framework :: Django :: (\d+\.\d+)$")


@frozen
class DjangoOptions:
    target: str
    python: str | None = None  # the project's interpreter (current Django); default: this one
    target_python: str | None = None  # an interpreter with the target Django installed
    current: str | None = None  # the installed version when no interpreter can tell
    pg_version: int | None = None
    stats: Stats | None = None  # production measurements: the tables the target's migrations touch
    run_tests: bool = False
    settings: str | None = None  # DJANGO_SETTINGS_MODULE, when manage.py does not set it
    contract_after_days: int = policy.CONTRACT_AFTER_DAYS


def releases() -> dict[str, dict[str, object]]:
    from migspec.upgrade.data import django as data

    return data.RELEASES


def release_path(current: str, target: str) -> tuple[str, ...]:
    """Feature releases after ``current`` up to ``target``, in order."""
    lo, hi = release(current), release(target)
    return tuple(v for v in sorted(releases(), key=release) if lo < release(v) <= hi)


def measure(project: Path, opts: DjangoOptions) -> UpgradeReport:
    if not (project / "manage.py").is_file():
        raise InputError(f"{project}: not a Django project (no manage.py)")
    if opts.target not in releases():
        known = ", ".join(v for v in releases() if release(v) >= (4, 0))
        raise InputError(f"--to {opts.target}: not a Django feature release the data knows ({known})")
    env = probe(opts.python or default_python(), ("django",), project)
    current = installed_version(env, "django", "Django", opts.current, opts.target)
    target_info = releases()[opts.target]
    pg_minimum = target_info.get("min_postgresql")
    if opts.pg_version is None:
        raise RefusedError(f"upgrade django: the PostgreSQL server version is unknown (Django {opts.target} needs "
                           f"{pg_minimum}+): pass --stats FILE (from 'migspec measure') or --pg-version N")
    findings = tuple(scan(project, removals.crossing("django", current, opts.target)))
    env_vars = {"DJANGO_SETTINGS_MODULE": opts.settings} if opts.settings else None
    warnings = run_tests(env.python_path, ["manage.py", "test"], project, _WARNING, env_vars) \
        if opts.run_tests else None
    target_env: Environment | None = None
    target_tests = None
    migrations: tuple[str, ...] | None = None
    added: tuple[str, ...] | None = None
    schema_plan: Plan | None = None
    checks = _system_checks(env.python_path, project, env_vars)
    target_checks: dict[str, int] | None = None
    notes: list[str] = []
    if opts.target_python:
        target_env = probe(opts.target_python, ("django",), project)
        installed = target_env.versions.get("django", "")
        if ".".join(installed.split(".")[:2]) != opts.target:
            raise InputError(f"--target-python {opts.target_python}: has Django {installed or 'not installed'}, "
                             f"not {opts.target}")
        migrations, failure = _makemigrations(target_env.python_path, project, env_vars)
        if failure:
            notes.append(f"makemigrations --check under Django {opts.target} could not load the project: {failure}")
        target_checks = _system_checks(target_env.python_path, project, env_vars)
        before = _disk_migrations(env.python_path, project, env_vars)
        after = _disk_migrations(target_env.python_path, project, env_vars)
        if before is not None and after is not None:
            added = tuple(sorted(after - before))
            schema_plan, why = _plan_target_migrations(project, target_env.python_path, before, opts)
            if why:
                notes.append(why)
        else:
            notes.append("the migrations Django's own apps add could not be listed (the project does not load "
                         "under one of the versions)")
        if opts.run_tests:
            target_tests = run_tests(target_env.python_path, ["manage.py", "test"], project, _WARNING, env_vars)
    deps = _dependencies(target_env or env, current, opts.target)
    reasons = _reasons(env, opts, current, pg_minimum, findings, deps, warnings, target_tests, migrations,
                       target_env is not None)
    if added:
        reasons.append(Reason("target_migrations", f"Django {opts.target}'s own apps add {', '.join(added)}"))
    new_checks = sorted(set(target_checks or ()) - set(checks or ()))
    if new_checks:
        reasons.append(Reason("system_checks", f"under Django {opts.target}: {', '.join(new_checks)}"))
    if (migrations or added) and schema_plan is None:
        reasons.append(Reason("not_measured", "the target's migrations planned against production (--stats "
                                              "with the tables they touch)"))
    if schema_plan is not None and schema_plan.risk > Risk.GREEN:
        reasons.append(Reason("schema_plan", f"the target's migrations plan {schema_plan.risk}: "
                                             f"{schema_plan.migration}"))
    if warnings is not None and not warnings.ok:
        notes.append(f"the tests fail on the current version already (exit {warnings.exit_code}): fix them first")
    supported = tuple(str(v) for v in target_info.get("python", ()))  # type: ignore[union-attr]
    return UpgradeReport("django", current, opts.target, release_path(current, opts.target), env, target_env,
                         findings, tuple(reasons), opts.pg_version, pg_minimum, supported,  # type: ignore[arg-type]
                         tuple(deps), warnings, target_tests, migrations, tuple(notes), removals.sources("django"),
                         framework_migrations=added, schema_plan=schema_plan, checks=checks,
                         target_checks=target_checks)


def _makemigrations(python: str, project: Path, env: dict[str, str] | None) -> tuple[tuple[str, ...] | None, str]:
    """Migrations the target would generate: ``makemigrations --check --dry-run`` (writes nothing).
    Exit 1 means "changes" only when it lists them; otherwise the project did not load (None, why)."""
    proc = run_command(python, ["manage.py", "makemigrations", "--check", "--dry-run"], project, extra_env=env)
    # "Migrations for 'shop':" then "  shop/migrations/0002_....py" and "    ~ Rename ..." lines
    created = tuple(line.strip() for line in proc.stdout.splitlines() if line.strip().endswith(".py"))
    if proc.returncode == 0 or (proc.returncode == 1 and "Migrations for" in proc.stdout):
        return created, ""
    lines = [line for line in proc.stderr.strip().splitlines() if line.strip()]
    return None, lines[-1] if lines else f"exit code {proc.returncode}"


def _system_checks(python: str, project: Path, env: dict[str, str] | None) -> dict[str, int] | None:
    """``manage.py check``: how often each check id fires (None: the project does not load)."""
    proc = run_command(python, ["manage.py", "check"], project, extra_env=env)
    output = proc.stdout + proc.stderr
    if proc.returncode != 0 and "System check identified" not in output:
        return None
    counts: dict[str, int] = {}
    for check in _CHECK_ID.findall(output):
        counts[check] = counts.get(check, 0) + 1
    return dict(sorted(counts.items()))


_LIST_MIGRATIONS = ("import json; from django.db.migrations.loader import MigrationLoader; "
                    "print(json.dumps(sorted('%s.%s' % k for k in "
                    "MigrationLoader(None, ignore_no_migrations=True).disk_migrations)))")


def _disk_migrations(python: str, project: Path, env: dict[str, str] | None) -> set[str] | None:
    """Every installed app's migration files under one Django version (no database needed):
    the target's minus the current's are the migrations Django's own apps add."""
    proc = run_command(python, ["manage.py", "shell", "-c", _LIST_MIGRATIONS], project, extra_env=env)
    listed = [line for line in proc.stdout.splitlines() if line.startswith("[")]
    return set(json.loads(listed[-1])) if proc.returncode == 0 and listed else None


def _plan_target_migrations(project: Path, python: str, applied: set[str],
                            opts: DjangoOptions) -> tuple[Plan | None, str]:
    """The migrations the target release brings - generated by its ``makemigrations`` in a copy of
    the project (the project itself is not touched) plus its own apps' new ones - read by the
    framework reader as pending (everything on disk today counts as applied) and planned by the
    schema planner against the production stats.  (None, why) when that cannot be done."""
    from migspec.frameworks import NothingPending, ProjectOptions, load_project, to_migration
    from migspec.plan.builder import PlanOptions, plan_migration

    with tempfile.TemporaryDirectory(prefix="migspec-upgrade-") as tmp:
        copy = Path(tmp) / project.name
        shutil.copytree(project, copy, ignore=shutil.ignore_patterns(*SKIP_DIRS))
        env = {"DJANGO_SETTINGS_MODULE": opts.settings} if opts.settings else None
        made = run_command(python, ["manage.py", "makemigrations", "--no-input"], copy, extra_env=env)
        if made.returncode != 0:
            return None, f"makemigrations under Django {opts.target} failed in a copy of the project"
        try:
            loaded = load_project(copy, ProjectOptions(django_settings=opts.settings, applied=tuple(sorted(applied)),
                                                      python=python, pg_version=opts.pg_version or 16))
        except NothingPending:
            return None, ""
        except InputError as exc:  # the framework reader could not load it under the target
            return None, f"the target's migrations are not planned: {exc}"
        if not loaded.migrations:
            return None, ""
        if opts.stats is None:
            return None, "the target's migrations are not planned: pass --stats (production measurements)"
        try:
            plan, _ = plan_migration(to_migration(loaded, runnable=True), opts.stats, pg_version=opts.pg_version,
                                     options=PlanOptions((), opts.contract_after_days))
        except RefusedError as exc:
            return None, f"the target's migrations are not planned: {exc}"
    return replace(plan, migration=", ".join(m.key for m in loaded.migrations)), ""


def _dependencies(env: Environment, current: str, target: str) -> list[Dependency]:
    deps = []
    cur = ".".join(current.split(".")[:2])
    for name, (version, tags) in sorted(env.classifiers.items()):
        if name == "django":
            continue
        supported = tuple(m.group(1) for t in tags if (m := _CLASSIFIER.match(t)))
        if not supported:
            continue  # "Framework :: Django" without versions says nothing about either
        deps.append(Dependency(name, version, supported, cur in supported, target in supported))
    return deps


def _reasons(env: Environment, opts: DjangoOptions, current: str, pg_minimum: object,
             findings: tuple, deps: list[Dependency], warnings, target_tests, migrations,  # type: ignore[no-untyped-def]
             measured_target: bool) -> list[Reason]:
    reasons: list[Reason] = []
    if isinstance(pg_minimum, int) and opts.pg_version is not None and opts.pg_version < pg_minimum:
        reasons.append(Reason("postgres_below_minimum", f"PostgreSQL {opts.pg_version} < {pg_minimum} "
                                                        f"(Django {opts.target})"))
    py = ".".join(env.python.split(".")[:2])
    supported = [str(v) for v in releases()[opts.target].get("python", ())]  # type: ignore[union-attr]
    if supported and py not in supported:
        reasons.append(Reason("python_unsupported", f"Python {py}; Django {opts.target} supports {', '.join(supported)}"))
    for d in deps:
        if not d.supports_target:
            reasons.append(Reason("dependency_without_target", f"{d.name} {d.version} declares Django "
                                                               f"{', '.join(d.supported)}"))
    reasons += common_reasons(findings, warnings, target_tests, measured_target)
    if measured_target and migrations is None:
        reasons.append(Reason("not_measured", "the migrations the target generates (makemigrations failed there)"))
    if migrations:
        reasons.append(Reason("target_migrations", f"{len(migrations)} migration(s): {', '.join(migrations)}"))
    return reasons


def build_plan(report: UpgradeReport, contract_after_days: int = policy.CONTRACT_AFTER_DAYS) -> Plan:
    cur, target = report.current_release, report.target
    expand = []
    if report.pg_minimum and report.pg_version and report.pg_version < report.pg_minimum:
        expand.append(manual(f"upgrade PostgreSQL {report.pg_version} -> {report.pg_minimum} or later first "
                             f"(Django {target} refuses older servers): 'migspec measure --upgrade-to "
                             f"{report.pg_minimum} -o stats.yaml', then 'migspec upgrade postgres stats.yaml --to "
                             f"{report.pg_minimum}'",
                             "per that plan's own DOWN steps"))
    expand.append(manual(f"pin the latest Django {cur}.x patch release; deploy", "re-pin the previous patch release"))
    expand.append(manual("make deprecation warnings errors in CI: python -W error::DeprecationWarning manage.py test",
                         "drop the flag"))
    expand += fix_steps(report.findings, f"django-upgrade --target-version {cur}")
    for m in report.silent():
        if m.row.kind == "setting" and not m.row.autofix:
            expand.append(manual(f"settle the silent change of {m.row.symbol} ({m.path}:{m.line}): set it explicitly "
                                 f"or move to the replacement, and cover it with a test: {m.row.replacement or m.row.text}",
                                 "revert the settings change"))
    for check in sorted(set(report.checks or ()) | set(report.target_checks or ())):
        if check in CHECK_STEPS:
            expand.append(manual(*CHECK_STEPS[check]))
    for d in report.dependencies:
        if not d.supports_target:
            expand.append(manual(f"upgrade {d.name} {d.version} to a release declaring Django {cur} and {target}",
                                 f"re-pin {d.name}=={d.version}"))
    expand.append(manual(f"CI matrix: run the tests on Django {cur} and on each of {', '.join(report.path)} "
                         "(dual boot)", "drop the new CI legs"))
    migrate = []
    for hop in report.path:
        migrate.append(manual(f"release that only changes the pin to Django {hop}; canary, then progressive "
                              "rollout; python manage.py migrate", "redeploy the previous artifact; "
                              "'manage.py migrate <app> <previous>' only where the migration is reversible; "
                              "flush caches (pickled objects)"))
    for name in report.framework_migrations or ():
        app, _, migration = name.partition(".")
        migrate.append(manual(f"Django's own migration {name} runs with the pin change: plan it first - "
                              f"'manage.py sqlmigrate {app} {migration} > m.sql; migspec plan m.sql --stats FILE'",
                              f"'manage.py migrate {app} <previous>' where the migration is reversible"))
    if report.schema_plan is not None:
        # the schema planner's rollout of the target's migrations, in its own phase order, run
        # with the last pin change instead of letting 'migrate' run them as written
        for phase in report.schema_plan.phases:
            for step in phase.steps:
                migrate.append(replace(step, description=f"{report.schema_plan.migration} "
                                                         f"[{phase.name.value}]: {step.description}"))
    else:
        for path in report.target_migrations or ():
            migrate.append(manual(f"plan the framework-generated migration {path} with the schema planner: "
                                  f"'migspec plan PROJECT --project-python <target python> --stats FILE'",
                                  "the DOWN steps of that plan"))
    contract = [
        manual(f"remove 'if django.VERSION' branches and transitional settings: django-upgrade --target-version "
               f"{target} (versioned_branches)", "re-add the compatibility code; rollback now takes two steps "
               "(restore the code, then re-pin)", reversible=False),
        manual(f"drop the Django {cur} CI leg", f"restore the Django {cur} CI leg", reversible=False),
    ]
    runbook = Runbook(
        pre_check=(f"tests green on Django {cur} and {target} in CI, warnings as errors",
                   "makemigrations --check --dry-run under the target: nothing, or each migration planned",
                   "baseline error rate, 5xx and p95 latency recorded"),
        cutover=("deploy the pin-only release to a canary", "watch error types, 5xx and p95 for the soak period",
                 "roll out progressively", "flush caches holding pickled Django objects"),
        rollback_trigger=("new exception types after the deploy", "5xx or p95 above the baseline x 1.5",
                          "a framework migration failing or locking longer than its plan says"),
        post_verify=(f"no RemovedInDjango warnings left for the release after {target}",
                     "error rate and latency back at the baseline"),
    )
    return Plan(migration=f"Django {report.current} -> {target}", risk=report.risk,
                pg_version=report.pg_version or 0, phases=phases(expand, migrate, contract,
                                                                 policy.contract_wait(contract_after_days)),
                runbook=runbook, confirmations=(), notes=tuple(r.text() for r in report.reasons) + report.notes)

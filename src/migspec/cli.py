"""The command line: parse arguments, call the library, print, return an exit code.

Exit codes: 0 clean, 1 findings at or above --fail-on, 2 bad input, 3 refused for missing facts.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import functools
import gc
import math
import re
import sys
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, NoReturn

from migspec import __version__, policy
from migspec.collector import collector_paused
from migspec.dsn import dsn_argument, forget, remember, scrub
from migspec.errors import (EXIT_BAD_INPUT, EXIT_FINDINGS, EXIT_INTERNAL, EXIT_OK, InputError, MigspecError,
                            RefusedError)
from migspec.frozen import replace
from migspec.versions import MAX_VERSION, MIN_VERSION

if TYPE_CHECKING:
    from migspec.names import QualifiedName

# The interpreter's last garbage collections at exit walk every object still alive (pglast's trees,
# the schema models) only to free memory the process gives back anyway: 0.1-0.2 s of `plan
# --target`'s whole time (bench/s_target.py). Frozen objects are skipped; nothing is closed by them.
atexit.register(gc.freeze)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, exit 2, no usage dump
        # main() already prefixes "migspec: "; name only the subcommand, if any.
        command = self.prog.removeprefix("migspec").strip()
        choice = re.match(r"argument (.*): invalid choice: '(.*)' \(choose from (.*)\)$", message)
        if choice:
            from migspec.suggest import did_you_mean

            what, word, choices = choice.groups()
            hint = did_you_mean(word, re.findall(r"'([^']*)'", choices))
            message = f"unknown command '{word}'{hint}" if what in ("command", "upgrade_kind") else \
                f"argument {what}: invalid choice: '{word}'{hint} (choose from {choices})"
        raise InputError(f"{command + ': ' if command else ''}{message} (see '{self.prog} --help')")

    def _get_formatter(self) -> argparse.HelpFormatter:
        # argparse's formatter asks shutil for the terminal's width when given none, and argparse
        # makes one per add_argument: the same width, without importing shutil (issue 16).
        from migspec.render.terminal import terminal_columns

        return self.formatter_class(prog=self.prog, width=terminal_columns() - 2)  # type: ignore[call-arg]


def _pg_version(text: str) -> int:
    if not text.isdigit() or not MIN_VERSION <= int(text) <= MAX_VERSION:
        raise argparse.ArgumentTypeError(f"must be a PostgreSQL major version {MIN_VERSION}-{MAX_VERSION}")
    return int(text)


def _table_value(text: str) -> tuple[QualifiedName, float]:
    from migspec.names import QualifiedName  # pglast's keywords: imported by the command, not at start

    name, eq, value = text.rpartition("=")
    try:
        number = float(value)
        if not eq or number < 0 or not math.isfinite(number):
            raise ValueError
        return QualifiedName.parse(name), number
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected TABLE=NUMBER (non-negative), got {text!r}") from None


def _add_measurement_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--stats", metavar="FILE", help="measurements (YAML or JSON), e.g. from 'migspec measure'")
    p.add_argument("--pg-version", type=_pg_version, metavar="N",
                   help=f"target major version {MIN_VERSION}-{MAX_VERSION} (default: the stats file's, else 16)")
    p.add_argument("--transaction-per-file", action="store_true",
                   help="the runner wraps each file in a transaction (Alembic, Django, Flyway)")
    p.add_argument("--calibration", metavar="FILE", help="throughput overrides (from 'migspec verify --calibration')")
    g = p.add_argument_group("measurements on the command line (override the stats file)")
    g.add_argument("--rows", action="append", type=_table_value, default=[], metavar="TABLE=N")
    g.add_argument("--size-bytes", action="append", type=_table_value, default=[], metavar="TABLE=N")
    g.add_argument("--write-qps", action="append", type=_table_value, default=[], metavar="TABLE=N")
    g.add_argument("--longest-transaction", action="append", type=_table_value, default=[], metavar="TABLE=SECONDS",
                   help="longest running transaction seen on the server, in seconds")
    g.add_argument("--lock-waits", action="append", type=_table_value, default=[], metavar="TABLE=PER_MINUTE",
                   help="lock waits per minute observed on the table")


def _add_project_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("framework projects (PATH is a Django or Alembic project directory)")
    g.add_argument("--django-settings", metavar="MODULE", help="the settings module (default: manage.py's)")
    g.add_argument("--alembic-config", metavar="FILE", help="the Alembic config (default: PATH/alembic.ini)")
    g.add_argument("--since", action="append", default=[], metavar="MIGRATION",
                   help="read the migrations after this one (Django app.name, repeatable; an Alembic revision) "
                        "instead of those the stats file records as applied")
    g.add_argument("--project-python", metavar="PYTHON", help="the project's interpreter (default: migspec's)")


def _add_target_args(p: argparse.ArgumentParser, *, required: bool) -> None:
    g = p.add_argument_group("target state (the schema you want instead of a migration)")
    g.add_argument("--target", required=required, metavar="DESIRED.sql",
                   help="the desired schema (DDL or pg_dump --schema-only), diffed against --schema or --dsn")
    g.add_argument("--dsn", type=dsn_argument, help="read the current schema from this database (read-only)")
    g.add_argument("--rename", action="append", default=[], metavar="OLD=NEW",
                   help="a table (users=accounts) or column (users.mail=users.email) renamed, not dropped and "
                        "added (repeatable; also '-- migspec:rename OLD=NEW' in the desired schema)")
    g.add_argument("--accept-drops", action="store_true",
                   help="go on when tables or columns the desired schema lacks are dropped (else exit 3)")


def _read_migration(args: argparse.Namespace, stats, *, runnable: bool = False):  # type: ignore[no-untyped-def]
    from migspec.frameworks import read_migration

    migration, notes, project = read_migration(args.paths, stats=stats, django_settings=args.django_settings,
                                      alembic_config=args.alembic_config, since=tuple(args.since),
                                      python=args.project_python, pg_version=args.pg_version,
                                      kind=args.project_kind, runnable=runnable)
    for note in notes:
        sys.stderr.write(f"migspec: note: {note}\n")
    return migration, project


class _Unbuilt:
    """Stands in for the parser of a command that is not being run: takes every call, builds nothing."""

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        return lambda *args, **kwargs: self


class _OnlyCommand:
    """The subcommands, with only ``command``'s parser built: the others are unreachable once the
    first word names a command, and argparse spent ~15 ms building them at every start (issue 16)."""

    def __init__(self, sub, command: str) -> None:  # type: ignore[no-untyped-def]
        self.sub, self.command, self.choices = sub, command, sub.choices

    def add_parser(self, name: str, **kwargs):  # type: ignore[no-untyped-def]
        return self.sub.add_parser(name, **kwargs) if name == self.command else _Unbuilt()


@functools.lru_cache(maxsize=None)  # parse_args leaves it unchanged, so one serves every main()
def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The command line's parser; with ``command``, only that subcommand's (what main() parses
    with when the first word is a command: the same parse, without building the other twelve)."""
    parser = _Parser(prog="migspec", description="A migration specialist for PostgreSQL.")
    parser.add_argument("--version", action="version", version=f"migspec {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    if command is not None:
        sub = _OnlyCommand(sub, command)

    lint = sub.add_parser("lint", help="what every statement locks, for how long, at this table's size and traffic")
    lint.add_argument("paths", nargs="*", metavar="PATH",
                      help="SQL files or directories (files in lexical order), - for standard input, or a "
                           "Django/Alembic project (default: [tool.migspec] project in pyproject.toml)")
    _add_measurement_args(lint)
    _add_project_args(lint)
    lint.add_argument("--schema", metavar="FILE",
                      help="a pg_dump --schema-only file: current column types, to judge type changes")
    lint.add_argument("--format", choices=("text", "json", "github", "sarif"), default="text")
    _add_color_arg(lint)
    lint.add_argument("--fail-on", choices=("green", "yellow", "red"),
                      help="exit 1 when a finding is at or above this risk (default: [tool.migspec] fail-on, "
                           "else yellow)")

    plan = sub.add_parser("plan", help="the safe rollout: expand -> migrate -> contract, with DOWN steps and a runbook")
    plan.add_argument("paths", nargs="*", metavar="PATH",
                      help="SQL files or directories (files in lexical order), - for standard input, or a "
                           "Django/Alembic project (default: [tool.migspec] project in pyproject.toml)")
    _add_measurement_args(plan)
    _add_project_args(plan)
    plan.add_argument("--format", choices=("text", "markdown", "json"), default="text")
    _add_color_arg(plan)
    plan.add_argument("--out", metavar="DIR", help="also write NN_<phase>.up.sql / .down.sql files for psql")
    plan.add_argument("--confirm", action="append", default=[], metavar="TARGET",
                      help="confirm a destructive step, e.g. --confirm users.legacy_flag (repeatable)")
    plan.add_argument("--schema", metavar="FILE", help="a pg_dump --schema-only file: facts the DOWN steps need "
                                                       "(with --target: the current schema, DDL or pg_dump)")
    plan.add_argument("--contract-after-days", type=int, default=policy.CONTRACT_AFTER_DAYS, metavar="N",
                      help=f"CONTRACT runs only after N days green (default {policy.CONTRACT_AFTER_DAYS})")
    plan.add_argument("--emit", choices=("django", "alembic"),
                      help="write the rollout back as the framework's migrations (replacing the pending one)")
    plan.add_argument("--into", metavar="DIR", help="where --emit writes (default: beside the migration it replaces)")
    _add_target_args(plan, required=False)

    diff = sub.add_parser("diff", help="the statements that take the current schema to the desired one (raw; "
                                       "'plan --target' makes them a rollout)")
    diff.add_argument("--schema", metavar="FILE", help="the current schema: DDL or a pg_dump --schema-only file")
    _add_target_args(diff, required=True)

    approve = sub.add_parser("approve", help="record who approved a JSON plan, when, and its hash")
    approve.add_argument("plan", metavar="PLAN.json")
    approve.add_argument("--by", required=True, metavar="NAME")
    approve.add_argument("--confirm", action="append", default=[], metavar="TARGET",
                         help="confirm a destructive step the plan lists (repeatable)")

    for name, helptext in (("apply", "run one phase of an approved plan"),
                           ("rollback", "run the DOWN of one phase of an approved plan")):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("plan", metavar="PLAN.json")
        p.add_argument("--dsn", type=dsn_argument, help="the target database (required unless --dry-run); the old "
                                                         "server of an upgrade plan")
        p.add_argument("--target-dsn", type=dsn_argument, metavar="DSN", help="an upgrade plan's new server")
        p.add_argument("--phase", required=True, choices=("expand", "migrate", "contract"))
        p.add_argument("--dry-run", action="store_true", help="print what would run, through the same code path")
        p.add_argument("--skip-pre-checks", action="store_true", help=argparse.SUPPRESS)
        if name == "apply":
            p.add_argument("--skip-wait", metavar="REASON",
                           help="run CONTRACT before its 'after' period has passed (recorded with who and why)")
            p.add_argument("--allow-drift", metavar="REASON",
                           help="run although the tables' live schema differs from the plan's (recorded)")
        p.add_argument("--max-replication-lag", type=float, default=policy.MAX_REPLICATION_LAG_S, metavar="SECONDS",
                       help=f"pause backfill batches while a replica lags more (default {policy.MAX_REPLICATION_LAG_S:g})")
        p.add_argument("--max-lock-waits", type=int, default=0, metavar="N",
                       help="pause backfill batches while more than N sessions wait for locks on the table")
        p.add_argument("--throttle-sql", metavar="SQL", help="pause backfill batches while this query returns false")

    measure = sub.add_parser("measure", help="read-only production measurements -> the stats file lint and plan read")
    measure.add_argument("--dsn", required=True, metavar="DSN", type=dsn_argument,
                         help="libpq connection string or URI of the production database; keep the password in "
                              "~/.pgpass or PGPASSWORD (a DSN on the command line shows in ps)")
    measure.add_argument("--migration", action="extend", nargs="+", default=[], metavar="PATH",
                         help="measure the pre-existing tables this migration touches (files or directories)")
    measure.add_argument("--tables", action="append", default=[], metavar="T1,T2",
                         help="tables to measure: schema.table or a bare name (public); repeatable")
    measure.add_argument("--sample-seconds", type=float, default=60.0, metavar="N",
                         help="how long to watch writes and locks (default 60)")
    measure.add_argument("--poll-interval", type=float, default=0.25, metavar="SECONDS", help=argparse.SUPPRESS)
    measure.add_argument("--exact-rows", action="store_true",
                         help="count(*) each table instead of the planner's estimate (a full scan; needs SELECT)")
    measure.add_argument("--statement-timeout", type=float, default=10.0, metavar="SECONDS",
                         help="bound on every query, count(*) included (default 10)")
    measure.add_argument("--source", default="production", help="what the figures describe (default: production)")
    measure.add_argument("--maintenance-window", metavar="TEXT", help="e.g. 'Sun 02:00-04:00 UTC' (default: none)")
    measure.add_argument("--probe", action="store_true",
                         help="also time a bounded sample scan of each table (read-only, needs SELECT): this "
                              "server's own speed for the estimates")
    measure.add_argument("--probe-pages", type=int, default=2048, metavar="N",
                         help="pages per probe scan (default 2048: 16 MB)")
    measure.add_argument("--calibrate", metavar="FILE",
                         help="on a throwaway copy of production (needs --source other than production): time a "
                              "batched update, an index build, a validation and a rewrite on a sample of each table "
                              "and write the rates as a calibration file")
    measure.add_argument("--calibrate-pages", type=int, default=12_800, metavar="N",
                         help="pages per table's sample for --calibrate (default 12800: 100 MB)")
    measure.add_argument("--calibrate-writes", type=float, default=0.0, metavar="QPS",
                         help="with --calibrate: time each kind again under this many writes/s (production's "
                              "write_qps): the load's effect, measured (default 0: not measured, assumed)")
    measure.add_argument("-o", "--output", metavar="FILE",
                         help="write the stats file here (.json for JSON, else YAML); default: standard output")
    measure.add_argument("--upgrade-to", type=_pg_version, metavar="N",
                         help="also measure what an upgrade to PostgreSQL N needs (the stats file's 'upgrade' section)")
    measure.add_argument("--target-dsn", metavar="DSN", type=dsn_argument, help="with --upgrade-to: a PostgreSQL N server whose "
                                                             "available extensions are compared")
    # An unquoted DSN splits into words ('--dsn host=x password=y'): catch them here, where the
    # message can leave them out, instead of argparse's 'unrecognized arguments: password=y'.
    measure.add_argument("stray", nargs="*", help=argparse.SUPPRESS)

    verify = sub.add_parser("verify", help="run a plan on a throwaway PostgreSQL under concurrent writes and check "
                                           "every lock, rewrite and DOWN it claims")
    verify.add_argument("paths", nargs="+", metavar="PATH",
                        help="a JSON plan ('migspec plan --format json'), or a migration to plan first")
    verify.add_argument("--dsn", type=dsn_argument, help="a scratch database to use instead of the embedded server (refused when it is "
                                      "production: system_identifier from the stats)")
    verify.add_argument("--stats", metavar="FILE", help="production measurements: row counts to extrapolate to, "
                                                        "system_identifier, schema facts; needed to plan a migration")
    verify.add_argument("--schema", metavar="FILE", help="a pg_dump --schema-only file: the pre-migration schema")
    verify.add_argument("--rows", type=int, default=20_000, metavar="N", help="synthetic rows per table (default 20000)")
    verify.add_argument("--writers", type=int, default=4, metavar="K", help="concurrent writer connections (default 4)")
    verify.add_argument("--max-stall-ms", type=float, metavar="MS",
                        help="worst writer latency allowed during a step (default: its lock_timeout + 250 ms)")
    verify.add_argument("--calibration", metavar="FILE", help="write the throughput measured here, for --calibration")
    verify.add_argument("--estimate-tolerance", type=float, default=2.0, metavar="FACTOR",
                        help="the plan's estimate may be off by this factor from the throughput measured here "
                             "(default 2)")
    verify.add_argument("--estimate-mismatch", choices=("warn", "fail", "off"), default="warn",
                        help="beyond the tolerance: a note (warn, the default) or a failed step (fail)")
    verify.add_argument("--format", choices=("text", "json"), default="text")
    _add_color_arg(verify)
    verify.add_argument("--pg-version", type=_pg_version, metavar="N",
                        help="run on a server of this major (and plan for it; default: the stats file's)")
    verify.add_argument("--transaction-per-file", action="store_true", help="as for 'plan', when planning")
    verify.add_argument("--confirm", action="append", default=[], metavar="TARGET", help="as for 'plan', when planning")
    _add_project_args(verify)

    _add_upgrade_parsers(sub)

    rules = sub.add_parser("rules", help="list the rules, or show one rule's documentation")
    rules.add_argument("name", nargs="?")
    _add_color_arg(rules)

    from migspec.shell import SHELLS, epilog

    completion = sub.add_parser("completion", help="print a shell completion script (bash, zsh or fish)")
    completion.add_argument("shell", choices=SHELLS)
    for name, p in sub.choices.items():
        p.epilog, p.formatter_class = epilog(name), argparse.RawDescriptionHelpFormatter
    return parser


def _add_color_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--color", choices=("auto", "always", "never"), default="auto",
                   help="colour the text format: auto (on a terminal, unless NO_COLOR is set), always or never")



def _add_upgrade_parsers(sub) -> None:  # type: ignore[no-untyped-def]
    """``migspec upgrade KIND ...``: one subparser per kind, each dispatching to its own function."""
    upgrade = sub.add_parser("upgrade", help="plan a major-version upgrade of a framework like a migration")
    kinds = upgrade.add_subparsers(dest="upgrade_kind", required=True, parser_class=_Parser)
    for kind, target_help in (("django", "target feature release, e.g. 5.2"), ("sqlalchemy", "target release: 2.0")):
        p = kinds.add_parser(kind, help=f"{kind}: measurements, removed-API findings, risk, expand/migrate/contract")
        p.add_argument("project", metavar="PROJECT", help="the project's root directory")
        p.add_argument("--to", required=True, dest="target", metavar="X.Y", help=target_help)
        p.add_argument("--python", "--project-python", dest="python", metavar="PATH",
                       help="the project's interpreter (default: the one running migspec)")
        p.add_argument("--target-python", metavar="PATH",
                       help="an interpreter with the target release installed: tests and checks run there too")
        p.add_argument("--from", dest="current", metavar="X.Y.Z", help="the installed version, when --python cannot tell")
        p.add_argument("--run-tests", action="store_true",
                       help="run the project's tests to count deprecation warnings (and under --target-python)")
        p.add_argument("--format", choices=("text", "json"), default="text")
        p.add_argument("--contract-after-days", type=int, default=policy.CONTRACT_AFTER_DAYS, metavar="N")
        p.set_defaults(upgrade_func=cmd_upgrade_django if kind == "django" else cmd_upgrade_sqlalchemy)
        if kind == "django":
            p.add_argument("--stats", metavar="FILE", help="a stats file from 'migspec measure': the server version")
            p.add_argument("--pg-version", type=int, metavar="N", help="the PostgreSQL server's major version")
            p.add_argument("--settings", metavar="MODULE", help="DJANGO_SETTINGS_MODULE, if manage.py does not set it")
        else:
            p.add_argument("--test-command", metavar="ARGS",
                           help="the test runner's arguments after python (default: '-m unittest discover')")
    pgup = kinds.add_parser("postgres", help="PostgreSQL major upgrade: logical blue/green or pg_upgrade")
    pgup.add_argument("stats", metavar="STATS", help="stats file from 'migspec measure --upgrade-to N'")
    pgup.add_argument("--to", type=_pg_version, required=True, metavar="N", help="target major version")
    pgup.add_argument("--method", choices=("auto", "logical", "pg_upgrade"), default="auto")
    pgup.add_argument("--downtime-budget", type=float, metavar="SECONDS", help="how long writes may pause")
    pgup.add_argument("--free-disk-bytes", type=float, metavar="N",
                      help="free disk on the source's WAL volume (slot retention; pg_upgrade copy mode)")
    pgup.add_argument("--calibration", metavar="FILE", help="rates from a rehearsal ('migspec verify' of an "
                                                            "upgrade plan --calibration)")
    pgup.add_argument("--format", choices=("text", "markdown", "json"), default="text")
    _add_color_arg(pgup)
    pgup.set_defaults(upgrade_func=cmd_upgrade_postgres)


def cmd_upgrade(args: argparse.Namespace) -> int:
    return int(args.upgrade_func(args))


def cmd_upgrade_django(args: argparse.Namespace) -> int:
    from migspec.upgrade.run import upgrade_django

    sys.stdout.write(upgrade_django(args.project, args.target, fmt=args.format, python=args.python,
                                    target_python=args.target_python, current=args.current, stats=args.stats,
                                    pg_version=args.pg_version, run_tests=args.run_tests, settings=args.settings,
                                    contract_after_days=args.contract_after_days))
    return EXIT_OK


def cmd_upgrade_sqlalchemy(args: argparse.Namespace) -> int:
    from migspec.upgrade.run import upgrade_sqlalchemy

    sys.stdout.write(upgrade_sqlalchemy(args.project, args.target, fmt=args.format, python=args.python,
                                        target_python=args.target_python, current=args.current,
                                        run_tests=args.run_tests, test_command=args.test_command,
                                        contract_after_days=args.contract_after_days))
    return EXIT_OK


def cmd_upgrade_postgres(args: argparse.Namespace) -> int:
    from migspec.stats import load_stats
    from migspec.upgrade.postgres.planner import plan_upgrade
    from migspec.upgrade.postgres.render import RENDERERS
    from migspec.upgrade.postgres.rules import Rates

    plan = plan_upgrade(load_stats(args.stats), to=args.to, method=args.method, budget=args.downtime_budget,
                        free_disk=args.free_disk_bytes, rates=Rates.load(args.calibration))
    if args.format == "text":
        from migspec.render.terminal import write
        from migspec.upgrade.postgres.render import text_blocks

        write(text_blocks(plan), sys.stdout, args.color)
    else:
        sys.stdout.write(RENDERERS[args.format](plan))
    return EXIT_OK


def load_inputs(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    """Stats (file + flags) and calibration, shared by the subcommands that read migrations."""
    from migspec.stats import LockContention, Stats, load_stats

    stats = load_stats(args.stats) if args.stats else Stats()
    overrides: dict[QualifiedName, dict[str, float]] = {}
    for key in ("rows", "size_bytes", "write_qps", "longest_transaction", "lock_waits"):
        for name, value in getattr(args, key):
            overrides.setdefault(name, {})[key] = value
    for name, values in overrides.items():
        for key in ("rows", "size_bytes"):
            if key in values and not float(values[key]).is_integer():
                raise InputError(f"--{key.replace('_', '-')} {name}: must be a whole number, not {values[key]:g}")
        ts = stats.table(name)
        lc = ts.lock_contention
        if "longest_transaction" in values or "lock_waits" in values:
            lc = LockContention(values.get("longest_transaction", lc.longest_transaction_seconds if lc else 0.0),
                                values.get("lock_waits", lc.lock_waits_per_minute if lc else 0.0))
        # replace() keeps what the flags do not speak of (columns, the schema section).
        stats = stats.with_table(replace(
            ts, name=name, rows=int(values["rows"]) if "rows" in values else ts.rows,
            write_qps=values.get("write_qps", ts.write_qps), lock_contention=lc,
            size_bytes=int(values["size_bytes"]) if "size_bytes" in values else ts.size_bytes))
        if stats.origin == "no stats file":
            stats = replace(stats, origin="command line")
    calibration = _load_calibration(args.calibration) if args.calibration else None
    return stats, calibration


def _load_calibration(path: str):  # type: ignore[no-untyped-def]
    """A calibration file: ``{rates: {<rate>: {rows_per_s: N, bytes_per_s: N}}}`` (or the rates alone)."""
    from migspec.documents import load_document
    from migspec.estimate.throughput import Calibration

    data = load_document(path, what="calibration file")
    rates = data.get("rates", data) if isinstance(data, dict) else data
    rates = {} if rates is None else rates  # an empty file: no overrides
    if not isinstance(rates, dict):
        raise InputError(f"{path}: rates: must map rate names to {{rows_per_s: N, bytes_per_s: N}}")
    try:
        return Calibration(rates, path)
    except (ValueError, TypeError) as exc:  # TypeError: a rate that is not a number (null, a list)
        message = str(exc)
        raise InputError(message if message.startswith(f"{path}:") else f"{path}: {message}") from None


def lint_report(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    """The lint report and its failing findings (shared with the GitHub Action's script)."""
    from migspec.config import apply_ignores, discover, merge_args
    from migspec.lint import lint
    from migspec.risk import Risk

    config = discover()
    merge_args(args, config)
    stats, calibration = load_inputs(args)
    migration, _ = _read_migration(args, stats)
    schema = None  # without --schema, lint() builds the stats file's model itself (no copy of one made here)
    if args.schema:
        from migspec.schema import load

        schema = load(stats, args.schema)
    report = apply_ignores(lint(migration, stats, pg_version=args.pg_version, schema=schema,
                                transaction_per_file=args.transaction_per_file, calibration=calibration), config)
    threshold = Risk[args.fail_on.upper()]
    return report, [f for f in report.findings if not f.suppressed and f.risk >= threshold]


def cmd_lint(args: argparse.Namespace) -> int:
    with collector_paused():  # from the first import on: most of a small file's objects are its modules'
        from migspec.render.lint import RENDERERS

        report, failing = lint_report(args)
        if args.format == "text":
            from migspec.render.lint import text_blocks
            from migspec.render.terminal import write

            write(text_blocks(report), sys.stdout, args.color)
            return EXIT_FINDINGS if failing else EXIT_OK
        text = RENDERERS[args.format](report)
    sys.stdout.write(text)
    return EXIT_FINDINGS if failing else EXIT_OK


def cmd_plan(args: argparse.Namespace) -> int:
    from migspec.config import discover, merge_args

    if (args.dsn or args.rename or args.accept_drops) and not args.target:
        raise InputError("plan: --dsn, --rename and --accept-drops go with --target DESIRED.sql")
    merge_args(args, discover())
    stats, calibration = load_inputs(args)
    if args.contract_after_days < 0:
        raise InputError("--contract-after-days must not be negative")
    if args.target:
        from migspec.diff.target import target_plan_inputs

        migration, schema_file = target_plan_inputs(args)  # schema_file: the current schema, kept until planned
        project, schema_path = None, schema_file.name
    else:
        migration, project = _read_migration(args, stats, runnable=True)
        schema_path = args.schema
    # Here, not first: with --target they are imported while the throwaway server works.
    from migspec.plan.builder import PlanOptions, plan_migration
    from migspec.render.plan import RENDERERS, check_emittable, write_files

    if args.emit:
        from migspec.frameworks.emit import check

        check(project, args.emit)
    plan, report = plan_migration(migration, stats, schema_path=schema_path, pg_version=args.pg_version,
                                  transaction_per_file=args.transaction_per_file, calibration=calibration,
                                  options=PlanOptions(tuple(args.confirm), args.contract_after_days))
    check_emittable(plan)
    if args.out:
        try:
            from pathlib import Path  # here, not at the top: lint's start-up (migspec.paths)

            write_files(plan, Path(args.out))
        except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the name
            raise InputError(f"{args.out[:200]}: cannot write plan files: {getattr(exc, 'strerror', None) or exc}") from None
    if args.emit:
        from pathlib import Path

        from migspec.frameworks.emit import emit

        sys.stderr.write(emit(plan, project, args.emit, Path(args.into) if args.into else None))
    if args.format == "text":
        from migspec.render.plan import text_blocks
        from migspec.render.terminal import write

        write(text_blocks(plan, report), sys.stdout, args.color)
    else:
        sys.stdout.write(RENDERERS[args.format](plan, report))
    return EXIT_OK


def cmd_diff(args: argparse.Namespace) -> int:
    from migspec.diff.target import diff_text

    sys.stdout.write(diff_text(args, lambda note: sys.stderr.write(f"migspec: note: {note}\n")))
    return EXIT_OK


def cmd_approve(args: argparse.Namespace) -> int:
    from migspec.execute.approval import approve
    from migspec.planfile import load as load_plan

    plan = load_plan(args.plan)
    path, what = approve(plan, by=args.by, confirm=tuple(args.confirm))
    sys.stdout.write(f"{args.plan} (sha256 {plan.sha256[:12]}) {what}: {path}\n")
    return EXIT_OK


def _log(message: str) -> None:
    import datetime as dt

    sys.stderr.write(f"{dt.datetime.now().strftime('%H:%M:%S')} {scrub(message)}\n")
    sys.stderr.flush()


def _run_phase(args: argparse.Namespace, rollback: bool) -> int:
    from migspec.execute.apply import ApplyOptions, apply_phase, rollback_phase
    from migspec.execute.backfill import Throttle
    from migspec.planfile import load as load_plan

    if not args.dry_run and not args.dsn:
        raise InputError(f"{args.command} needs --dsn (or --dry-run)")
    plan = load_plan(args.plan)
    if plan.doc.get("kind") == "postgres-upgrade":
        from migspec.upgrade.postgres.execute import run_phase

        run_phase(plan, source_dsn=args.dsn, target_dsn=args.target_dsn, phase=args.phase, rollback=rollback,
                  log=_log, dry_run=args.dry_run)
        return EXIT_OK
    throttle = Throttle(max_replication_lag_s=args.max_replication_lag, max_lock_waits=args.max_lock_waits,
                        check_sql=args.throttle_sql)
    opts = ApplyOptions(args.phase, dry_run=args.dry_run, throttle=throttle, skip_pre_checks=args.skip_pre_checks,
                        skip_wait=getattr(args, "skip_wait", None), allow_drift=getattr(args, "allow_drift", None),
                        on_progress=_progress_printer())
    (rollback_phase if rollback else apply_phase)(plan, args.dsn, opts, _log)
    return EXIT_OK


def _progress_printer():  # type: ignore[no-untyped-def]
    """Rows done, rows/s and ETA (pauses included) after each batch; rewritten in place on a TTY."""
    from migspec.estimate.model import format_duration

    def show(progress, total):  # type: ignore[no-untyped-def]
        eta = progress.eta(max(total - progress.rows_done, 0)) if total else None
        line = (f"{progress.rows_done:,}" + (f"/{total:,}" if total else "") + f" rows, {progress.rate:,.0f} rows/s"
                + (f", ETA {format_duration(eta)}" if eta is not None else ""))
        if sys.stderr.isatty():
            sys.stderr.write(f"\r{line}   ")
        elif progress.batches % 20 == 1:
            _log(line)
    return show


def cmd_apply(args: argparse.Namespace) -> int:
    return _run_phase(args, rollback=False)


def cmd_rollback(args: argparse.Namespace) -> int:
    return _run_phase(args, rollback=True)


def cmd_rules(args: argparse.Namespace) -> int:
    from migspec.rules import all_rules

    rules = {r.name: r for r in all_rules()}
    if args.name:
        if args.name not in rules:
            from migspec.suggest import did_you_mean

            raise InputError(f"unknown rule {args.name!r}{did_you_mean(args.name, rules)} (see 'migspec rules')")
        sys.stdout.write(f"{args.name}\n\n{rules[args.name].doc()}\n")
        return EXIT_OK
    from migspec.render.layout import para
    from migspec.render.terminal import write

    width = max(map(len, rules)) + 2
    write([para((f"{name:<{width}}", "heading"), rule.summary(), hang=width) for name, rule in rules.items()],
          sys.stdout, args.color)
    return EXIT_OK


def cmd_measure(args: argparse.Namespace) -> int:
    from migspec.measure import MeasureOptions, measure, parse_table_list, tables_of_migration
    from migspec.measure.snapshot import check, format_for, render, summary, to_document, write

    if args.stray:
        raise InputError(f"measure: {len(args.stray)} unexpected argument(s) (not shown: they may hold a password); "
                         "quote the whole --dsn value")
    names = parse_table_list(args.tables)
    if args.migration:
        names = list(dict.fromkeys([*names, *tables_of_migration(args.migration, dsn=args.dsn)]))
    if not args.tables and not args.migration and not args.upgrade_to:
        raise InputError("measure: name the tables: --migration PATH or --tables t1,t2")
    if args.calibrate and args.source.strip().lower() == "production":
        raise RefusedError("measure --calibrate writes (a sample of each table, then drops it): run it on a "
                           "throwaway copy of production and say so with --source (e.g. --source 'restored copy')")
    if not names and not args.upgrade_to:
        sys.stderr.write("migspec: the migration touches no pre-existing table; recording server facts only\n")
    options = MeasureOptions(dsn=args.dsn, tables=tuple(names), sample_seconds=args.sample_seconds,
                             poll_interval=args.poll_interval, exact_rows=args.exact_rows,
                             statement_timeout=args.statement_timeout, source=args.source,
                             maintenance_window=args.maintenance_window)
    window = None
    if args.upgrade_to:
        from migspec.upgrade.postgres.measure import UpgradeWindow

        window = UpgradeWindow(args.dsn, statement_timeout=args.statement_timeout)
    if sys.stderr.isatty():
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        with Progress(TextColumn("sampling {task.description}"), BarColumn(), TimeRemainingColumn(),
                      console=Console(stderr=True), transient=True) as progress:
            task = progress.add_task(f"{len(names)} table(s)", total=args.sample_seconds)
            result = measure(options, on_progress=lambda done, total: progress.update(task, completed=done))
    else:
        result = measure(options)
    doc = to_document(result)
    if window is not None:
        doc["upgrade"] = window.finish(to=args.upgrade_to, target_dsn=args.target_dsn, min_seconds=args.sample_seconds)
    warnings = list(result.warnings)
    if args.probe:
        from migspec.measure.probes import add_to_document, run_probe

        probed = run_probe(args.dsn, [t.name for t in result.tables], pages=args.probe_pages,
                           statement_timeout=args.statement_timeout)
        doc = add_to_document(doc, probed)
        warnings += probed.warnings
    check(doc, args.output or "<stdout>")
    text = render(doc, fmt=format_for(args.output))
    for warning in warnings:
        sys.stderr.write(f"migspec: warning: {warning}\n")
    if args.output and args.output != "-":
        write(text, args.output)
        sys.stdout.write(summary(result) + _upgrade_summary(doc) + f"wrote {args.output}\n")
    else:
        sys.stdout.write(text)
        sys.stderr.write(summary(result) + _upgrade_summary(doc))
    if args.calibrate:
        from migspec.estimate.throughput import calibration_text
        from migspec.measure.calibrate import calibrate

        rates, where = calibrate(args.dsn, [t.name for t in result.tables], pages=args.calibrate_pages,
                                 write_qps=args.calibrate_writes, log=_log)
        write(calibration_text(rates, [f"migspec measure --calibrate: measured on a sample of each table, {where}",
                                       f"source: {args.source}"]), args.calibrate)
        _log(f"wrote {args.calibrate}")
    return EXIT_OK


def _upgrade_summary(doc: dict) -> str:  # type: ignore[type-arg]
    if "upgrade" not in doc:
        return ""
    from migspec.upgrade.postgres.measure import summary

    return summary(doc["upgrade"])


def cmd_verify(args: argparse.Namespace) -> int:
    from migspec.verify import RENDERERS, VerifyOptions, calibration_yaml, prepare, verify

    if args.rows < 1 or args.writers < 0 or (args.max_stall_ms is not None and args.max_stall_ms <= 0):
        raise InputError("verify: --rows must be at least 1, --writers at least 0, --max-stall-ms positive")
    from migspec.upgrade.postgres.rehearse import is_upgrade_plan_file, verify_upgrade

    if len(args.paths) == 1 and is_upgrade_plan_file(args.paths[0]):
        return verify_upgrade(args.paths[0], rows=args.rows, writers=args.writers, fmt=args.format,
                              calibration=args.calibration, log=_log)
    inp = prepare(args.paths, stats_path=args.stats, schema_path=args.schema, pg_version=args.pg_version,
                  transaction_per_file=args.transaction_per_file, confirm=tuple(args.confirm),
                  project=dict(django_settings=args.django_settings, alembic_config=args.alembic_config,
                               since=tuple(args.since), python=args.project_python))
    if not args.estimate_tolerance >= 1:
        raise InputError("--estimate-tolerance must be at least 1")
    result = verify(inp, VerifyOptions(rows=args.rows, writers=args.writers, max_stall_ms=args.max_stall_ms,
                                       estimate_tolerance=args.estimate_tolerance,
                                       estimate_mismatch=args.estimate_mismatch),
                    dsn=args.dsn, log=_log)
    if args.format == "text":
        from migspec.render.terminal import write
        from migspec.verify.report import text_blocks

        write(text_blocks(result), sys.stdout, args.color)
    else:
        sys.stdout.write(RENDERERS[args.format](result))
    if args.calibration:
        try:
            from pathlib import Path

            Path(args.calibration).write_text(calibration_yaml(result), encoding="utf-8")
        except OSError as exc:
            raise InputError(f"{args.calibration}: cannot write calibration: {exc.strerror or exc}") from None
    return EXIT_OK if result.ok else EXIT_FINDINGS


def cmd_completion(args: argparse.Namespace) -> int:
    from migspec.shell import completion_script

    sys.stdout.write(completion_script(build_parser(), args.shell))
    return EXIT_OK


COMMANDS = {"completion": cmd_completion, "lint": cmd_lint, "measure": cmd_measure, "plan": cmd_plan, "diff": cmd_diff, "approve": cmd_approve, "apply": cmd_apply,
            "rollback": cmd_rollback, "rules": cmd_rules, "verify": cmd_verify, "upgrade": cmd_upgrade}


def _interrupted() -> type[Exception]:
    from migspec.execute.backfill import Interrupted

    return Interrupted


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    forget()
    for word in argv:  # a password anywhere on the command line (even a DSN split by the shell)
        remember(word)
    if not argv:  # no arguments: what migspec does and how to ask for more
        build_parser().print_help()
        return EXIT_OK
    previous = _sigterm_interrupts()
    try:
        try:
            args = build_parser(argv[0] if argv[0] in COMMANDS else None).parse_args(argv)
        except SystemExit as exc:  # --help and --version print, then stop
            return exc.code if isinstance(exc.code, int) else EXIT_OK
        with _threads_report_one_line():
            return COMMANDS[args.command](args)
    except MigspecError as exc:
        sys.stderr.write(f"migspec: {printable(scrub(str(exc)), lines=exc.exit_code != EXIT_BAD_INPUT)}\n")
        return exc.exit_code
    except _interrupted() as exc:
        sys.stderr.write(f"migspec: {scrub(str(exc))}\n")
        return 130
    except KeyboardInterrupt as exc:
        sys.stderr.write(f"migspec: {exc.args[0] if exc.args else 'interrupted'}\n")
        return 130
    except BrokenPipeError:
        return EXIT_OK
    except Exception as exc:  # a bug: still one line, and never a password
        return internal_error(exc)
    finally:
        if previous is not None:
            import _signal

            _signal.signal(_signal.SIGTERM, previous)


def _terminated(signum: int, frame: object) -> None:
    raise KeyboardInterrupt("terminated (SIGTERM)")


def _sigterm_interrupts() -> Any:
    """SIGTERM (systemd, Kubernetes, ``kill``) stops migspec as Ctrl-C does: ``finally`` blocks run,
    so a throwaway server is stopped and removed and a transaction rolled back (Python's default
    for SIGTERM ends the process on the spot). The backfill runner installs its own handler for
    the batch in flight. Returns the handler to restore (None: not the main thread, left alone)."""
    # _signal, not signal: the same function without signal's enum classes, ~3 M instructions at
    # every start (issue 16); the handler returned is an int or a function, as signal.signal takes.
    import _signal

    try:
        return _signal.signal(_signal.SIGTERM, _terminated)
    except ValueError:  # "signal only works in main thread"
        return None


@contextlib.contextmanager
def _threads_report_one_line() -> Iterator[None]:
    """An exception that ends a worker thread (verify's writers and lock sampler) is one line with
    passwords masked, like the main thread's, not Python's default traceback. Set when
    ``threading`` is imported (now, or when the command imports it): a command that starts no
    thread does not import it for this (lint's start-up, issue 16)."""
    from migspec.deferred import after_import

    def report(hook: Any) -> None:  # a threading.ExceptHookArgs
        message = scrub(" ".join(str(hook.exc_value).split())[:500])
        sys.stderr.write(f"migspec: a background thread ({hook.thread.name if hook.thread else '?'}) stopped: "
                         f"{hook.exc_type.__name__}: {printable(message, lines=False)}\n")

    installed: list[tuple[Any, Any]] = []  # (the threading module, its hook before)

    def install(threading: Any) -> None:
        installed.append((threading, threading.excepthook))
        threading.excepthook = report

    cancel = after_import("threading", install)
    try:
        yield
    finally:
        cancel()
        for threading, previous in installed:
            threading.excepthook = previous


def printable(text: str, *, lines: bool = True) -> str:
    """``text`` safe for a terminal: control characters (an escape sequence in a file name or a
    stats key) and line separators other than ``\\n`` are shown escaped; without ``lines``
    (exit 2: one line) ``\\n`` too."""
    import unicodedata

    return "".join(ch if (ch == "\n" and lines) or unicodedata.category(ch) not in ("Cc", "Zl", "Zp", "Cs")
                   else ascii(ch)[1:-1] for ch in text)


def internal_error(exc: BaseException) -> int:
    """Report an exception nothing expected: one line (the redacted traceback with
    MIGSPEC_TRACEBACK=1), every password masked; exit 70."""
    import os
    import traceback

    if os.environ.get("MIGSPEC_TRACEBACK"):
        sys.stderr.write(scrub("".join(traceback.format_exception(exc))))
    message = scrub(" ".join(str(exc).split())[:500])
    sys.stderr.write(f"migspec: internal error (a bug in migspec {__version__}; please report it): "
                     f"{type(exc).__name__}: {message}\n")
    return EXIT_INTERNAL


if __name__ == "__main__":
    raise SystemExit(main())

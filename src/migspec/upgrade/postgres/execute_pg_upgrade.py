"""Apply and roll back a pg_upgrade plan on this host.

pg_upgrade works on files, so this runs where both clusters live: the old one is found through
``--dsn`` (``data_directory``, its settings, the bootstrap superuser; a superuser connection), the
new one listens where ``--target-dsn`` says once it starts. Programs of both majors come from
:func:`migspec.upgrade.postgres.servers.bindir_for`. Server programs run as the ``postgres`` OS
user when this process is root (:func:`migspec.pgserver._run_pg`).

Facts it relies on (PostgreSQL docs, pgupgrade.html): ``--check`` may run against the live old
cluster; the new cluster must be initdb'ed with the same checksum setting (18 turns checksums on by
default), encoding and locale, by the same bootstrap superuser; in copy mode the old cluster stays
usable, in link mode it is unsafe once the new one has started (before that, renaming
``global/pg_control.old`` back restores it).

Idempotent like the logical executor: each action checks the files and servers first (a new data
directory that exists is not made again, a cluster that is stopped is not stopped again), and
progress goes to ``UPGRADE.json.state``.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from psycopg.conninfo import conninfo_to_dict

from migspec.errors import RefusedError
from migspec.execute.guard import Log, StepFailed
from migspec.planfile import LoadedPlan
from migspec.pgserver import _free_port, _run_pg
from migspec.upgrade.postgres import execute
from migspec.upgrade.postgres.servers import bindir_for

Hook = Callable[[str, str], None]


class _Ctx:
    def __init__(self, plan: LoadedPlan, source_dsn: str, target_dsn: str, log: Log, state: dict[str, Any]) -> None:
        self.plan, self.source_dsn, self.target_dsn, self.log, self.state = plan, source_dsn, target_dsn, log, state
        up = plan.doc["upgrade"]
        self.source_major, self.target_major = int(up["source_major"]), int(up["target_major"])
        self.mode = up["estimates"]["pg_upgrade_mode"]
        self.timings: dict[str, float] = {}

    @property
    def v(self) -> dict[str, Any]:
        return self.state["values"]

    def save(self) -> None:
        execute._save(self)  # type: ignore[arg-type]

    def bindir(self, major: int) -> Path:
        path = bindir_for(major)
        if path is None:
            from migspec.pginstall import install_hint

            raise RefusedError(f"no PostgreSQL {major} server programs on this host: {install_hint(major)}")
        return path

    def run(self, argv: list[str], cwd: Path, what: str) -> str:
        done = _run_pg(argv, cwd=cwd)
        if done.returncode != 0:
            tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-12:])
            raise StepFailed(f"{what} failed (exit {done.returncode}):\n{tail}")
        return done.stdout


def _learn_source(ctx: _Ctx) -> None:
    """What the new cluster must match, read from the running old one (once; kept in the state)."""
    if "old_datadir" in ctx.v:
        return
    secrets = execute.secrets_in(ctx.source_dsn)
    with execute._connect(ctx.source_dsn, secrets, "source (--dsn)") as conn:
        row = conn.execute(
            "SELECT current_setting('data_directory'), current_setting('data_checksums'), "
            "pg_encoding_to_char(d.encoding), d.datcollate, d.datctype, "
            "(SELECT rolname FROM pg_roles WHERE oid = 10), current_setting('unix_socket_directories'), "
            "current_setting('listen_addresses') FROM pg_database d WHERE d.datname = 'template1'").fetchone()
    assert row is not None
    datadir = Path(str(row[0]))
    ctx.v.update(old_datadir=str(datadir), checksums=row[1] == "on", encoding=row[2], collate=row[3], ctype=row[4],
                 superuser=row[5], sockets=row[6], listen=row[7],
                 new_datadir=str(datadir.parent / f"{datadir.name}.pg{ctx.target_major}"))
    ctx.save()


def _init_target(ctx: _Ctx, direction: str) -> None:
    _learn_source(ctx)
    new = Path(ctx.v["new_datadir"])
    if direction == "down":
        if new.exists():
            shutil.rmtree(new)
        return
    if (new / "PG_VERSION").exists():
        ctx.log("  the new data directory exists")
        return
    ctx.run([str(ctx.bindir(ctx.target_major) / "initdb"), "-D", str(new), "-U", ctx.v["superuser"], "-A", "trust",
             "-E", ctx.v["encoding"], f"--lc-collate={ctx.v['collate']}", f"--lc-ctype={ctx.v['ctype']}",
             "--data-checksums" if ctx.v["checksums"] else "--no-data-checksums"], new.parent, "initdb")
    port = conninfo_to_dict(ctx.target_dsn).get("port") or "5432"
    conf = new / "postgresql.conf"
    conf.write_text(conf.read_text() + f"\n# migspec: the old cluster's connection settings\nport = {port}\n"
                    f"listen_addresses = '{ctx.v['listen']}'\nunix_socket_directories = '{ctx.v['sockets']}'\n")
    ctx.log(f"  initdb of PostgreSQL {ctx.target_major} done (checksums {'on' if ctx.v['checksums'] else 'off'})")


def _pg_upgrade_argv(ctx: _Ctx, *extra: str) -> list[str]:
    from migspec.pgserver import ServerError, tool_path

    try:  # the npm packages of 13-17 have no pg_upgrade; it must be the target major's
        pg_upgrade = tool_path("pg_upgrade", ctx.target_major, prefer=ctx.bindir(ctx.target_major), exact=True)
    except ServerError as exc:
        raise RefusedError(str(exc)) from None
    return [str(pg_upgrade), "-b", str(ctx.bindir(ctx.source_major)),
            "-B", str(ctx.bindir(ctx.target_major)), "-d", ctx.v["old_datadir"], "-D", ctx.v["new_datadir"],
            "-U", ctx.v["superuser"], "-p", str(_free_port()), "-P", str(_free_port()),
            "--copy" if ctx.mode == "copy" else "--link", *extra]


def _check(ctx: _Ctx, direction: str) -> None:
    if direction == "down":
        return
    _learn_source(ctx)
    # --check against the live old cluster: it only reads (docs: "can be used even if the old server is running")
    ctx.run(_pg_upgrade_argv(ctx, "--check"), Path(ctx.v["new_datadir"]).parent, "pg_upgrade --check")
    ctx.log("  pg_upgrade --check passed")


def _pg_ctl(ctx: _Ctx, major: int, datadir: str, *args: str) -> None:
    log = Path(datadir).parent / f"{Path(datadir).name}.log"
    ctx.run([str(ctx.bindir(major) / "pg_ctl"), *args, "-D", datadir, "-l", str(log), "-w", "-t", "120"],
            Path(datadir).parent, f"pg_ctl {args[0]}")


def _running(datadir: str) -> bool:
    return (Path(datadir) / "postmaster.pid").exists()


def _stop_source(ctx: _Ctx, direction: str) -> None:
    _learn_source(ctx)
    old = ctx.v["old_datadir"]
    if direction == "down":
        pg_control_old = Path(old) / "global" / "pg_control.old"
        if pg_control_old.exists():  # link mode, new cluster never started: the documented way back
            pg_control_old.rename(Path(old) / "global" / "pg_control")
        if not _running(old):
            _pg_ctl(ctx, ctx.source_major, old, "start")
        ctx.log("  the old cluster runs again")
        return
    if _running(old):
        ctx.v["pause_started"] = time.time()
        ctx.save()
        _pg_ctl(ctx, ctx.source_major, old, "stop", "-m", "fast")
    ctx.log("  the old cluster is stopped: the write pause starts")


def _run_upgrade(ctx: _Ctx, direction: str) -> None:
    new = Path(ctx.v["new_datadir"])
    if direction == "down":
        return  # _stop_source's DOWN restores pg_control; copy mode never touched the old cluster
    if ctx.v.get("upgraded"):
        ctx.log("  pg_upgrade already ran")
        return
    t0 = time.monotonic()
    ctx.run(_pg_upgrade_argv(ctx), new.parent, "pg_upgrade")
    ctx.timings["pg_upgrade_seconds"] = time.monotonic() - t0
    ctx.v.update(upgraded=True, pg_upgrade_seconds=ctx.timings["pg_upgrade_seconds"])
    ctx.save()
    ctx.log(f"  pg_upgrade ({ctx.mode} mode) took {ctx.timings['pg_upgrade_seconds']:.1f} s")


def _start_target(ctx: _Ctx, direction: str) -> None:
    new = ctx.v["new_datadir"]
    if direction == "down":
        if _running(new):
            _pg_ctl(ctx, ctx.target_major, new, "stop", "-m", "fast")
        return
    if not _running(new):
        _pg_ctl(ctx, ctx.target_major, new, "start")
    started = ctx.v.get("pause_started")
    if started:
        ctx.timings["write_pause_seconds"] = time.time() - started
        ctx.log(f"  writes paused for {ctx.timings['write_pause_seconds']:.2f} s (stop to start)")
    # statistics: 18 keeps most through pg_upgrade (analyze only what is missing); before, all are lost
    secrets = execute.secrets_in(ctx.target_dsn)
    with execute._connect(ctx.target_dsn, secrets, "target (--target-dsn)") as conn:
        conn.execute("ANALYZE")


def _delete_old(ctx: _Ctx, direction: str) -> None:
    if direction == "down":
        ctx.log("  not reversible: the old cluster is gone")
        return
    old = Path(ctx.v["old_datadir"])
    if _running(str(old)):
        raise RefusedError("the old cluster is running: it is the way back; stop it before CONTRACT")
    if old.exists():
        shutil.rmtree(old)
    ctx.log("  old cluster deleted")


ACTIONS: dict[str, Callable[[_Ctx, str], None]] = {
    "init_target": _init_target, "pg_upgrade_check": _check, "stop_source": _stop_source,
    "run_pg_upgrade": _run_upgrade, "start_target": _start_target, "delete_old": _delete_old,
}


def run_phase(plan: LoadedPlan, *, source_dsn: str, target_dsn: str, phase: str, rollback: bool, log: Log,
              hook: Hook | None = None) -> dict[str, float]:
    state = execute.load_state(plan)
    ctx = _Ctx(plan, source_dsn, target_dsn, log, state)

    def run_one(i: int, step: dict[str, Any], direction: str) -> None:
        action = step.get("action", "manual")
        if action in ACTIONS:
            ACTIONS[action](ctx, direction)
        else:
            log(f"  manual: {step['description'] if direction == 'up' else step.get('down_note', '')}")

    ran = execute.walk(execute._steps(plan, phase), state["done"].setdefault(phase, []), phase=phase,
                       rollback=rollback, log=log, run=run_one, save=ctx.save, hook=hook,
                       secrets=execute.secrets_in(source_dsn))
    log(f"{phase}: {'rolled back' if rollback else 'done'} ({ran} step(s) run now)")
    return dict(ctx.timings)

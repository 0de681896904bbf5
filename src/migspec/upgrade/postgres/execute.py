"""Apply and roll back the phases of an approved PostgreSQL upgrade plan (logical blue/green).

``migspec apply|rollback UPGRADE.json --dsn OLD --target-dsn NEW --phase P`` lands here when the
plan's ``kind`` is ``postgres-upgrade``. Each step names an action and the server it runs on; an
action looks at the catalogs before it changes anything, so running it twice is running it once
(a publication that exists is not created again, a subscription that exists is not re-created, a
fence already up stays up). Progress is also written to ``UPGRADE.json.state`` beside the plan
(not in either database: ``FOR ALL TABLES`` would replicate a state table), so a re-run after a
crash continues at the first unfinished step and a finished phase does nothing.

The write fence is ``ALTER DATABASE ... CONNECTION LIMIT 0`` plus ``pg_terminate_backend`` of the
database's non-superuser client sessions: PostgreSQL does not enforce a database's connection
limit on superusers or background workers (docs, CREATE DATABASE), so the replication workers and
this executor keep working while the application is kept out. Superuser application sessions are
not fenced; the executor names them.

The DSNs are never printed or stored: the plan holds ``$SOURCE_CONNINFO``/``$TARGET_CONNINFO``
placeholders; the subscription's conninfo is substituted at run time (it lives in
``pg_subscription``, readable by superusers only); ``pg_dump``/``psql`` get the connection through
libpq environment variables, not their command line.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql as psql
from psycopg.conninfo import conninfo_to_dict

from migspec.dsn import connect
from migspec.errors import InputError, RefusedError
from migspec.execute.apply import plan_lock, release_plan_lock
from migspec.execute.guard import Log, StepFailed
from migspec.execute.approval import check_approval
from migspec.frozen import field, record
from migspec.planfile import PHASES, LoadedPlan
from migspec.measure.connection import redact, secrets_in
from migspec.names import quote_literal
from migspec.upgrade.postgres import rules
from migspec.upgrade.postgres.planner import SOURCE_CONNINFO, TARGET_CONNINFO

#: Seconds a wait (initial copy, drain) may take before the step fails (re-run to keep waiting).
DEFAULT_WAIT_SECONDS = 3600.0
#: Tables up to this many rows (pg_class.reltuples) are counted on both sides inside the pause.
COUNT_ROWS_UP_TO = 1_000_000
_POLL = 0.05

Hook = Callable[[str, str], None]  # (action, "up" | "down") after it ran: the rehearsal repoints writers here


@record
class Context:
    plan: LoadedPlan
    source_dsn: str = field(repr=False)
    target_dsn: str = field(repr=False)
    log: Log
    wait_seconds: float = DEFAULT_WAIT_SECONDS
    hook: Hook | None = None
    src: psycopg.Connection = field(init=False, repr=False)
    tgt: psycopg.Connection = field(init=False, repr=False)
    state: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def secrets(self) -> tuple[str, ...]:
        return secrets_in(self.source_dsn) + secrets_in(self.target_dsn)


# ------------------------------------------------------------------------------------------ state

def _state_path(plan: LoadedPlan) -> Path:
    return plan.path.with_name(plan.path.name + ".state")


def load_state(plan: LoadedPlan) -> dict[str, Any]:
    path = _state_path(plan)
    if not path.exists():
        return {"sha256": plan.sha256, "done": {}, "values": {}}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: unreadable state file ({exc})") from None
    if data.get("sha256") != plan.sha256:
        raise RefusedError(f"{path}: belongs to another version of the plan; move it away to start over")
    return data


def _save(ctx: Context) -> None:
    path = _state_path(ctx.plan)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(ctx.state, indent=2), encoding="utf-8")
    os.replace(tmp, path)


def _done(ctx: Context, phase: str) -> list[str]:
    return ctx.state["done"].setdefault(phase, [])


# ----------------------------------------------------------------------------------------- helpers

def _connect(dsn: str, secrets: tuple[str, ...], which: str) -> psycopg.Connection:
    # migspec.dsn: the one place a user's DSN is parsed and connected (a malformed one names no part of it).
    return connect(dsn, application_name="migspec upgrade", flag=f"the {which}'s DSN")


def _one(conn: psycopg.Connection, sql: str, params: tuple[Any, ...] = ()) -> Any:
    row = conn.execute(sql, params).fetchone()  # type: ignore[arg-type]
    return None if row is None else row[0]


def _conninfo(dsn: str) -> str:
    """The DSN as a libpq keyword string (a URI is converted), for CREATE SUBSCRIPTION."""
    return " ".join(f"{k}={quote_literal(str(v))}" for k, v in conninfo_to_dict(dsn).items())


def _substitute(ctx: Context, sql: str) -> str:
    return (sql.replace(f"'{SOURCE_CONNINFO}'", quote_literal(_conninfo(ctx.source_dsn)))
               .replace(f"'{TARGET_CONNINFO}'", quote_literal(_conninfo(ctx.target_dsn))))


def _exec(ctx: Context, conn: psycopg.Connection, sql: str) -> None:
    conn.execute(_substitute(ctx, sql))  # type: ignore[arg-type]


def _exists(conn: psycopg.Connection, catalog: str, name: str) -> bool:
    column = {"pg_publication": "pubname", "pg_subscription": "subname"}[catalog]
    return bool(_one(conn, f"SELECT count(*) FROM {catalog} WHERE {column} = %s", (name,)))


def _wait(ctx: Context, what: str, check: Callable[[], bool]) -> float:
    start = time.monotonic()
    last_log = start
    while not check():
        now = time.monotonic()
        if now - start > ctx.wait_seconds:
            raise StepFailed(f"gave up after {ctx.wait_seconds:g} s waiting for {what}; re-run to keep waiting")
        if now - last_log > 10:
            ctx.log(f"  still waiting for {what} ({now - start:.0f} s)")
            last_log = now
        time.sleep(_POLL)
    return time.monotonic() - start


def _user_tables(conn: psycopg.Connection) -> list[tuple[str, str, float]]:
    return conn.execute(
        "SELECT n.nspname, c.relname, greatest(c.reltuples, 0)::float8 FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'r' AND c.relpersistence = 'p' "
        "AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%' "
        "ORDER BY 1, 2").fetchall()


def _sequences(conn: psycopg.Connection) -> list[tuple[str, str]]:
    return conn.execute(
        "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.relkind = 'S' AND n.nspname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2").fetchall()


def sequence_values(conn: psycopg.Connection) -> dict[str, tuple[int, bool]]:
    out = {}
    for nsp, rel in _sequences(conn):
        row = conn.execute(psql.SQL("SELECT last_value, is_called FROM {}.{}").format(
            psql.Identifier(nsp), psql.Identifier(rel))).fetchone()
        assert row is not None
        out[f"{nsp}.{rel}"] = (int(row[0]), bool(row[1]))
    return out


def _copy_sequences(src: psycopg.Connection, dst: psycopg.Connection) -> int:
    values = sequence_values(src)
    for name, (value, called) in values.items():
        nsp, rel = name.split(".", 1)
        dst.execute("SELECT setval(%s::regclass, %s, %s)",
                    (psql.SQL("{}.{}").format(psql.Identifier(nsp), psql.Identifier(rel)).as_string(dst), value,
                     called))
    return len(values)


def _fence(ctx: Context, conn: psycopg.Connection, which: str) -> None:
    db = conn.info.dbname
    limit = _one(conn, "SELECT datconnlimit FROM pg_database WHERE datname = current_database()")
    values = ctx.state["values"]
    if limit != 0:
        values[f"{which}_connlimit"] = int(limit)
        _save(ctx)
        conn.execute(psql.SQL("ALTER DATABASE {} CONNECTION LIMIT 0").format(psql.Identifier(db)))
    ended = _one(conn, "SELECT count(pg_terminate_backend(a.pid)) FROM pg_stat_activity a "
                       "JOIN pg_roles r ON r.oid = a.usesysid WHERE a.datname = current_database() "
                       "AND a.pid <> pg_backend_pid() AND a.backend_type = 'client backend' AND NOT r.rolsuper")
    supers = _one(conn, "SELECT count(*) FROM pg_stat_activity a JOIN pg_roles r ON r.oid = a.usesysid "
                        "WHERE a.datname = current_database() AND a.pid <> pg_backend_pid() "
                        "AND a.backend_type = 'client backend' AND r.rolsuper AND a.application_name <> 'migspec upgrade'")
    ctx.log(f"  {which} fenced (connection limit 0), {ended} session(s) ended"
            + (f"; {supers} superuser session(s) are not fenced" if supers else ""))


def _unfence(ctx: Context, conn: psycopg.Connection, which: str) -> None:
    limit = int(ctx.state["values"].get(f"{which}_connlimit", -1))
    conn.execute(psql.SQL("ALTER DATABASE {} CONNECTION LIMIT {}").format(
        psql.Identifier(conn.info.dbname), psql.Literal(limit)))
    ctx.log(f"  {which} open (connection limit {limit})")


def _slot_drained(publisher: psycopg.Connection, slot: str, lsn: str) -> bool:
    return bool(_one(publisher, "SELECT coalesce(bool_and(confirmed_flush_lsn >= %s::pg_lsn), false) "
                                "FROM pg_replication_slots WHERE slot_name = %s", (lsn, slot)))


def _drain(ctx: Context, publisher: psycopg.Connection, slot: str, what: str) -> float:
    """Wait until the subscriber confirmed the publisher's current WAL position (writes fenced).

    The insert position, not ``pg_current_wal_lsn()``: that is the write position, and with
    ``synchronous_commit = off`` a commit already acknowledged to its client can lie beyond it
    (seen here: the drain returned at once and a row was missing on the subscriber)."""
    lsn = str(_one(publisher, "SELECT pg_current_wal_insert_lsn()"))
    if not _one(publisher, "SELECT count(*) FROM pg_replication_slots WHERE slot_name = %s", (slot,)):
        raise StepFailed(f"no replication slot {slot} on the {what}: the subscription is gone")
    return _wait(ctx, f"slot {slot} to confirm {lsn}", lambda: _slot_drained(publisher, slot, lsn))


def _count(conn: psycopg.Connection, nsp: str, rel: str) -> int:
    return int(conn.execute(psql.SQL("SELECT count(*) FROM {}.{}").format(
        psql.Identifier(nsp), psql.Identifier(rel))).fetchone()[0])  # type: ignore[index]


def _compare_counts(ctx: Context, a: psycopg.Connection, b: psycopg.Connection) -> None:
    checked = skipped = 0
    for nsp, rel, reltuples in _user_tables(a):
        if reltuples > COUNT_ROWS_UP_TO:
            skipped += 1
            continue
        na, nb = _count(a, nsp, rel), _count(b, nsp, rel)
        if na != nb:
            raise StepFailed(f"rows differ on {nsp}.{rel}: {na} on one side, {nb} on the other, after the drain; "
                             "nothing switched - investigate the subscription, then re-run or roll back")
        checked += 1
    ctx.log(f"  row counts equal on {checked} table(s)" + (f" ({skipped} larger table(s) not counted)"
                                                             if skipped else ""))


def _tool(ctx: Context, name: str, major: int) -> str:
    """A client program usable against a server of ``major`` (the same major, else a newer one)."""
    from migspec.pgserver import ServerError, tool_path

    try:
        return str(tool_path(name, major))
    except ServerError as exc:
        raise RefusedError(str(exc)) from None


def _libpq_env(dsn: str) -> dict[str, str]:
    """libpq environment variables for a DSN, so no password appears on a command line."""
    names = {"host": "PGHOST", "hostaddr": "PGHOSTADDR", "port": "PGPORT", "user": "PGUSER", "password": "PGPASSWORD",
             "dbname": "PGDATABASE", "sslmode": "PGSSLMODE", "passfile": "PGPASSFILE",
             "connect_timeout": "PGCONNECT_TIMEOUT"}
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    for key, value in conninfo_to_dict(dsn).items():
        if key in names:
            env[names[key]] = str(value)
    return env


def _run_tool(ctx: Context, argv: list[str], dsn: str, stdin: str | None = None) -> str:
    proc = subprocess.run(argv, input=stdin, capture_output=True, text=True, env=_libpq_env(dsn), check=False)
    if proc.returncode != 0:
        first = next((ln for ln in proc.stderr.splitlines() if "ERROR" in ln or "error" in ln),
                     proc.stderr.strip()[:300])
        raise StepFailed(f"{Path(argv[0]).name} failed (exit {proc.returncode}): {redact(first, ctx.secrets)}")
    return proc.stdout


# ----------------------------------------------------------------------------------------- actions

def _require_wal_level(ctx: Context, direction: str) -> None:
    if direction == "down":
        return
    for conn, which in ((ctx.src, "source"), (ctx.tgt, "target")):
        level = _one(conn, "SHOW wal_level")
        if level != "logical":
            raise RefusedError(f"wal_level is {level} on the {which}: ALTER SYSTEM SET wal_level = logical and "
                               "restart it (scheduled with its owner), then re-run")


def _check_logical(ctx: Context, direction: str) -> None:
    if direction == "down":
        return
    _require_wal_level(ctx, direction)
    for conn, which in ((ctx.src, "source"), (ctx.tgt, "target")):
        free = _one(conn, "SELECT current_setting('max_replication_slots')::int - "
                          "(SELECT count(*) FROM pg_replication_slots)")
        if free < 1:
            raise RefusedError(f"no free replication slot on the {which}: raise max_replication_slots (a restart)")
    if _one(ctx.src, "SELECT count(*) FROM pg_prepared_xacts"):
        raise RefusedError("prepared transactions on the source: COMMIT PREPARED or ROLLBACK PREPARED them first")
    bad = ctx.src.execute(
        "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.relkind = 'r' AND c.relpersistence = 'p' AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
        "AND NOT (c.relreplident = 'f' OR (c.relreplident = 'd' AND EXISTS (SELECT 1 FROM pg_index i "
        "WHERE i.indrelid = c.oid AND i.indisprimary)) OR (c.relreplident = 'i' AND EXISTS (SELECT 1 FROM pg_index i "
        "WHERE i.indrelid = c.oid AND i.indisreplident))) AND (SELECT coalesce(n_tup_upd + n_tup_del, 0) "
        "FROM pg_stat_all_tables s WHERE s.relid = c.oid) > 0").fetchall()
    if bad:
        raise RefusedError("tables updated or deleted from without a usable replica identity: "
                           + ", ".join(r[0] for r in bad) + ": add a primary key first (migspec plan), or "
                           "REPLICA IDENTITY FULL")
    if _one(ctx.src, "SELECT count(*) FROM pg_largeobject_metadata"):
        raise RefusedError("large objects on the source: logical replication does not carry them")
    ctx.log("  pre-checks ok: wal_level, free slots, no prepared transactions, identities, no large objects")


def _copy_schema(ctx: Context, direction: str) -> None:
    if direction == "down":
        for (nsp,) in ctx.tgt.execute(
                "SELECT nspname FROM pg_namespace WHERE nspname NOT IN ('pg_catalog', 'information_schema') "
                "AND nspname NOT LIKE 'pg\\_%'").fetchall():
            ctx.tgt.execute(psql.SQL("DROP SCHEMA {} CASCADE").format(psql.Identifier(nsp)))
        ctx.tgt.execute("CREATE SCHEMA IF NOT EXISTS public")
        if ctx.tgt.info.server_version >= 150000:
            ctx.tgt.execute("ALTER SCHEMA public OWNER TO pg_database_owner")
        ctx.tgt.execute("GRANT USAGE ON SCHEMA public TO PUBLIC")
        if ctx.tgt.info.server_version < 150000:
            ctx.tgt.execute("GRANT CREATE ON SCHEMA public TO PUBLIC")
        return
    src_tables = {(n, r) for n, r, _ in _user_tables(ctx.src)}
    tgt_tables = {(n, r) for n, r, _ in _user_tables(ctx.tgt)}
    if src_tables and src_tables <= tgt_tables:
        ctx.log("  the target already has every table of the source")
        return
    if tgt_tables:
        raise RefusedError("the target database already holds tables the source does not match: "
                           "start from an empty target database (or roll back the expand phase)")
    # Roles first (owners and grants in the schema dump name them); existing roles fail harmlessly.
    # pg_dump of the target's major (or newer) reads the older source; psql of it restores
    major = max(ctx.src.info.server_version, ctx.tgt.info.server_version) // 10000
    dumpall = [_tool(ctx, "pg_dumpall", major), "--roles-only", "-l", ctx.src.info.dbname]
    try:
        roles = _run_tool(ctx, dumpall, ctx.source_dsn)
    except StepFailed:  # not a superuser: pg_authid's password hashes are not readable
        roles = _run_tool(ctx, [*dumpall, "--no-role-passwords"], ctx.source_dsn)
    subprocess.run([_tool(ctx, "psql", major), "-q", "-X", "-o", os.devnull], input=roles, capture_output=True, text=True,
                   env=_libpq_env(ctx.target_dsn), check=False)
    dump = _run_tool(ctx, [_tool(ctx, "pg_dump", major), "--schema-only", "--no-publications", "--no-subscriptions"],
                     ctx.source_dsn)
    _run_tool(ctx, [_tool(ctx, "psql", major), "-q", "-X", "-v", "ON_ERROR_STOP=1", "-o", os.devnull], ctx.target_dsn,
              stdin=dump)
    ctx.log(f"  schema copied: {len(src_tables)} table(s)")


def _fence_target(ctx: Context, direction: str) -> None:
    if direction == "up":
        _fence(ctx, ctx.tgt, "target")
    else:
        _unfence(ctx, ctx.tgt, "target")


def _create_publication(ctx: Context, direction: str, step: dict[str, Any]) -> None:
    if direction == "up" and _exists(ctx.src, "pg_publication", rules.FORWARD_NAME):
        ctx.log("  publication exists")
        return
    for sql in step["up" if direction == "up" else "down"]:
        _exec(ctx, ctx.src, sql)


def _create_subscription(ctx: Context, direction: str, step: dict[str, Any]) -> None:
    if direction == "up" and _exists(ctx.tgt, "pg_subscription", rules.FORWARD_NAME):
        ctx.log("  subscription exists")
        return
    for sql in step["up" if direction == "up" else "down"]:
        _exec(ctx, ctx.tgt, sql)
    if direction == "up":
        ctx.state["values"]["copy_started"] = time.time()
        _save(ctx)


def _synced(ctx: Context) -> bool:
    pending = _one(ctx.tgt, "SELECT count(*) FROM pg_subscription_rel r JOIN pg_subscription s ON s.oid = r.srsubid "
                            "WHERE s.subname = %s AND r.srsubstate <> 'r'", (rules.FORWARD_NAME,))
    if pending:
        return False
    lag = _one(ctx.src, "SELECT pg_current_wal_lsn() - confirmed_flush_lsn FROM pg_replication_slots "
                        "WHERE slot_name = %s", (rules.FORWARD_NAME,))
    return lag is not None and lag < rules.CAUGHT_UP_BYTES


def _wait_synced(ctx: Context, direction: str) -> None:
    if direction == "down":
        return
    seconds = _wait(ctx, "the initial copy and catch-up", lambda: _synced(ctx))
    started = ctx.state["values"].get("copy_started")
    total = time.time() - started if started else seconds
    size = int(_one(ctx.src, "SELECT pg_database_size(current_database())"))
    ctx.timings.update(copy_and_catch_up_seconds=total, database_bytes=size)
    ctx.state["values"].update(copy_and_catch_up_seconds=total, database_bytes=size)
    _save(ctx)
    ctx.log(f"  initial copy and catch-up done in {total:.1f} s ({size / max(total, 1e-6) / 1e6:.1f} MB/s of "
            "database size)")


def _analyze_target(ctx: Context, direction: str) -> None:
    if direction == "down":
        return
    ctx.tgt.execute("ANALYZE")
    for (nsp, rel) in ctx.tgt.execute(
            "SELECT schemaname, matviewname FROM pg_matviews ORDER BY 1, 2").fetchall():
        ctx.tgt.execute(psql.SQL("REFRESH MATERIALIZED VIEW {}.{}").format(psql.Identifier(nsp),
                                                                           psql.Identifier(rel)))
    ctx.log("  target analyzed")


def _check_cutover(ctx: Context, direction: str) -> None:
    if direction == "down":
        return
    if _exists(ctx.src, "pg_subscription", rules.REVERSE_NAME):
        return  # past the cutover already
    if not _synced(ctx):
        raise RefusedError("the target is not caught up (a table still copying, or lag over "
                           f"{rules.CAUGHT_UP_BYTES // (1024 * 1024)} MB): wait, then re-run")
    ctx.log("  target caught up")


def _fence_source(ctx: Context, direction: str) -> None:
    if direction == "up":
        ctx.state["values"]["pause_started"] = time.time()
        _fence(ctx, ctx.src, "source")
    else:
        _unfence(ctx, ctx.src, "source")
        started = ctx.state["values"].get("rollback_pause_started")
        if started:
            ctx.timings["rollback_write_pause_seconds"] = time.time() - started


def _drain_forward(ctx: Context, direction: str) -> None:
    if direction == "down" or _exists(ctx.src, "pg_subscription", rules.REVERSE_NAME):
        return
    seconds = _drain(ctx, ctx.src, rules.FORWARD_NAME, "source")
    ctx.timings["drain_seconds"] = seconds
    _compare_counts(ctx, ctx.src, ctx.tgt)


def _sync_sequences(ctx: Context, direction: str) -> None:
    src, dst = (ctx.src, ctx.tgt) if direction == "up" else (ctx.tgt, ctx.src)
    n = _copy_sequences(src, dst)
    ctx.log(f"  {n} sequence(s) copied to the {'target' if direction == 'up' else 'source'}")


def _reverse_replication(ctx: Context, direction: str, step: dict[str, Any]) -> None:
    if direction == "up":
        if _exists(ctx.src, "pg_subscription", rules.REVERSE_NAME):
            ctx.log("  reverse subscription exists")
            return
        drop_fwd, create_pub, create_sub = step["up"]
        _exec(ctx, ctx.tgt, drop_fwd)
        if not _exists(ctx.tgt, "pg_publication", rules.REVERSE_NAME):
            _exec(ctx, ctx.tgt, create_pub)
        _exec(ctx, ctx.src, create_sub)
        ctx.log("  forward subscription dropped; the source now follows the target")
        return
    # DOWN: the target is fenced; the source must have every write the target took.
    if _exists(ctx.src, "pg_subscription", rules.REVERSE_NAME):
        ctx.timings["reverse_drain_seconds"] = _drain(ctx, ctx.tgt, rules.REVERSE_NAME, "target")
        _compare_counts(ctx, ctx.tgt, ctx.src)
    drop_sub, drop_pub, create_fwd = step["down"]
    _exec(ctx, ctx.src, drop_sub)
    _exec(ctx, ctx.tgt, drop_pub)
    if not _exists(ctx.tgt, "pg_subscription", rules.FORWARD_NAME):
        _exec(ctx, ctx.tgt, create_fwd)
    ctx.log("  reverse subscription dropped; the target follows the source again")


def _open_target(ctx: Context, direction: str) -> None:
    if direction == "up":
        _unfence(ctx, ctx.tgt, "target")
        started = ctx.state["values"].get("pause_started")
        if started:
            ctx.timings["write_pause_seconds"] = time.time() - started
            ctx.log(f"  writes paused for {ctx.timings['write_pause_seconds']:.2f} s (fence to open)")
    else:
        ctx.state["values"]["rollback_pause_started"] = time.time()
        _fence(ctx, ctx.tgt, "target")


def _manual(ctx: Context, direction: str, step: dict[str, Any]) -> None:
    text = step["description"] if direction == "up" else step.get("down_note") or step["description"]
    ctx.log(f"  manual: {text}")


def _drop_reverse(ctx: Context, direction: str, step: dict[str, Any]) -> None:
    if direction == "down":
        ctx.log("  not reversible: " + step.get("down_note", ""))
        return
    drop_sub, drop_rev_pub, drop_fwd_pub = step["up"]
    _exec(ctx, ctx.src, drop_sub)
    _exec(ctx, ctx.tgt, drop_rev_pub)
    _exec(ctx, ctx.src, drop_fwd_pub)


_ACTIONS: dict[str, Callable[..., None]] = {
    "require_wal_level": _require_wal_level, "check_logical": _check_logical, "copy_schema": _copy_schema,
    "fence_target": _fence_target, "create_publication": _create_publication,
    "create_subscription": _create_subscription, "wait_synced": _wait_synced, "analyze_target": _analyze_target,
    "ddl_freeze": _manual, "check_cutover": _check_cutover, "fence_source": _fence_source,
    "drain_forward": _drain_forward, "sync_sequences": _sync_sequences,
    "reverse_replication": _reverse_replication, "open_target": _open_target, "repoint": _manual,
    "drop_reverse": _drop_reverse,
}
_WITH_STEP = {"create_publication", "create_subscription", "reverse_replication", "ddl_freeze", "repoint",
              "drop_reverse"}


def _steps(plan: LoadedPlan, phase: str) -> list[dict[str, Any]]:
    for p in plan.doc["phases"]:
        if p["name"] == phase:
            return list(p["steps"])
    return []


def walk(steps: list[dict[str, Any]], done: list[str], *, phase: str, rollback: bool, log: Log,
         run: Callable[[int, dict[str, Any], str], None], save: Callable[[], None], hook: Hook | None,
         secrets: tuple[str, ...]) -> int:
    """Run each step not yet done (apply, in order) or each done step (rollback, last first),
    recording it in ``done`` and saving after each; both executors share it."""
    direction = "down" if rollback else "up"
    order = list(enumerate(steps, 1))
    if rollback:
        order.reverse()
    ran = 0
    for i, step in order:
        key = str(i)
        if rollback and key not in done:
            continue  # never run, or already rolled back
        if not rollback and key in done:
            log(f"{phase} step {i} already done: {step['description']}")
            continue
        log(f"{phase} step {i} {direction.upper()}: {step['description']}")
        try:
            run(i, step, direction)
        except psycopg.Error as exc:
            first = next((ln for ln in str(exc).splitlines() if ln.strip()), type(exc).__name__)
            raise StepFailed(f"{phase} step {i} ('{step['description']}') failed: {redact(first, secrets)}; "
                             "re-run to continue, or roll back") from None
        if rollback:
            done.remove(key)
        else:
            done.append(key)
        save()
        ran += 1
        if hook is not None:
            hook(step.get("action", "manual"), direction)
    return ran


def _check_order(plan: LoadedPlan, state: dict[str, Any], phase: str, rollback: bool) -> None:
    """Phases run in order: apply needs every earlier phase done and no later one started;
    rollback needs no later phase started."""
    later = [p for p in PHASES[PHASES.index(phase) + 1:] if state["done"].get(p)]
    if later:
        raise RefusedError(f"the {later[0]} phase has run: roll it back first")
    if not rollback:
        earlier = [p for p in PHASES[:PHASES.index(phase)] if len(state["done"].get(p, [])) < len(_steps(plan, p))]
        if earlier:
            raise RefusedError(f"the {earlier[0]} phase is not done: apply it first")


def is_upgrade_plan(plan: LoadedPlan) -> bool:
    return plan.doc.get("kind") == "postgres-upgrade"


def run_phase(plan: LoadedPlan, *, source_dsn: str | None, target_dsn: str | None, phase: str, rollback: bool,
              log: Log, dry_run: bool = False, hook: Hook | None = None,
              wait_seconds: float = DEFAULT_WAIT_SECONDS) -> dict[str, float]:
    """Apply (or roll back) one phase; returns the timings measured (pause, drain, copy)."""
    if phase not in PHASES:
        raise InputError(f"--phase must be one of {', '.join(PHASES)}")
    check_approval(plan)
    method = plan.doc.get("upgrade", {}).get("method")
    if method not in ("logical", "pg_upgrade"):
        raise InputError(f"{plan.path}: unknown upgrade method {method!r}")
    steps = _steps(plan, phase)
    direction = "down" if rollback else "up"
    order = list(enumerate(steps, 1))
    if rollback:
        order.reverse()
    if dry_run:
        for i, step in order:
            log(f"[dry-run] {phase} step {i} {direction.upper()} on {step.get('server')}: {step['description']}")
        return {}
    if not source_dsn or not target_dsn:
        raise InputError("an upgrade plan needs --dsn (the old server) and --target-dsn (the new one)")
    state = load_state(plan)
    _check_order(plan, state, phase, rollback)
    if method == "pg_upgrade":
        from migspec.upgrade.postgres import execute_pg_upgrade

        return execute_pg_upgrade.run_phase(plan, source_dsn=source_dsn, target_dsn=target_dsn, phase=phase,
                                            rollback=rollback, log=log, hook=hook)
    ctx = Context(plan, source_dsn, target_dsn, log, hook=hook, wait_seconds=wait_seconds,
                  state=state)
    ctx.src = _connect(source_dsn, ctx.secrets, "source (--dsn)")
    try:
        ctx.tgt = _connect(target_dsn, ctx.secrets, "target (--target-dsn)")
    except BaseException:
        ctx.src.close()
        raise
    locked = False
    try:
        if not plan_lock(ctx.src, plan):
            raise RefusedError("another 'migspec apply' of this plan is running (advisory lock held)")
        locked = True
        def run_one(i: int, step: dict[str, Any], direction: str) -> None:
            action = step.get("action", "manual")
            fn = _ACTIONS.get(action)
            if fn is None:
                raise InputError(f"{plan.path}: step {i} names an unknown action {action!r}")
            if action in _WITH_STEP:
                fn(ctx, direction, step)
            else:
                fn(ctx, direction)

        ran = walk(steps, _done(ctx, phase), phase=phase, rollback=rollback, log=log, run=run_one,
                   save=lambda: _save(ctx), hook=hook, secrets=ctx.secrets)
        log(f"{phase}: {'rolled back' if rollback else 'done'} ({ran} step(s) run now)")
        ctx.state["values"].setdefault("timings", {}).update(ctx.timings)
        _save(ctx)
        return dict(ctx.timings)
    finally:
        if locked:
            release_plan_lock(ctx.src, plan)
        ctx.src.close()
        ctx.tgt.close()

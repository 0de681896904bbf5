"""Plan a PostgreSQL major-version upgrade from ``measure --upgrade-to``'s section.

Data flows one way: the stats file's ``upgrade`` section -> :class:`Facts` (refused with exit 3
when a measurement is missing) -> findings (RED/YELLOW with their fix) and estimates -> the
method -> :class:`UpgradePlan`, whose phases are the schema planner's
:class:`~migspec.planfile.model.Phase`/:class:`~migspec.planfile.model.Step` with one more field per
step: the action the executor runs and on which server.

Method selection (upgrades.md 1(a)): pg_upgrade when the downtime budget is at least
:data:`~rules.PG_UPGRADE_BUDGET_FACTOR` x its estimated time and nothing blocks it; else logical
blue/green when nothing blocks that; else RED, naming the blockers of both.
"""

from __future__ import annotations

from typing import Any

from migspec.errors import InputError, RefusedError
from migspec.estimate.throughput import format_duration
from migspec.frozen import field, frozen
from migspec.names import quote_ident
from migspec.planfile.model import Phase, PhaseName, Plan, Runbook, Step
from migspec.risk import Risk
from migspec.stats import Stats
from migspec.upgrade.postgres import rules
from migspec.upgrade.postgres.measure import REG_TYPES_REFUSED_BY_PG_UPGRADE
from migspec.versions import MAX_VERSION

METHODS = ("auto", "logical", "pg_upgrade")
#: Extensions every cluster has, in every major: never a blocker.
_BUILTIN_EXTENSIONS = frozenset({"plpgsql"})

# Each required measurement, and the sentence that says how to get it.
_MEASURE = "migspec measure --dsn DSN --upgrade-to N"
REQUIRED: dict[str, str] = {
    "source_major": _MEASURE, "database_bytes": _MEASURE, "cluster_bytes": _MEASURE,
    "catalog_objects": _MEASURE, "row_changes_per_second": _MEASURE, "tables_without_identity": _MEASURE,
    "large_objects": _MEASURE, "sequences": _MEASURE, "extensions": _MEASURE, "prepared_transactions": _MEASURE,
    "data_checksums": _MEASURE, "wal_level": _MEASURE, "replication_slots": _MEASURE, "wal_senders": _MEASURE,
    "reg_columns": _MEASURE, "unlogged_tables": _MEASURE, "materialized_views": _MEASURE,
    "logical_slots": _MEASURE, "standbys": _MEASURE, "hosting": _MEASURE,
}


@frozen
class Finding:
    risk: Risk
    method: str  # "logical", "pg_upgrade" or "both"
    message: str
    fix: str = ""

    def applies_to(self, method: str) -> bool:
        return self.method in ("both", method)


@frozen
class Estimates:
    copy_seconds: float
    catch_up_seconds: float
    slot_retention_bytes: float
    logical_pause_seconds: float
    pg_upgrade_mode: str  # "copy" | "link"
    pg_upgrade_seconds: float
    basis: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"logical_copy_seconds": round(self.copy_seconds, 3),
                "logical_catch_up_seconds": None if self.catch_up_seconds == float("inf")
                else round(self.catch_up_seconds, 3),
                "slot_retention_bytes": None if self.slot_retention_bytes == float("inf")
                else int(self.slot_retention_bytes),
                "logical_write_pause_seconds": round(self.logical_pause_seconds, 3),
                "pg_upgrade_mode": self.pg_upgrade_mode,
                "pg_upgrade_seconds": round(self.pg_upgrade_seconds, 3), "basis": dict(self.basis)}


@frozen
class UpgradePlan:
    plan: Plan
    method: str
    why: str
    source_major: int
    target_major: int
    findings: tuple[Finding, ...]
    estimates: Estimates
    actions: dict[int, tuple[str, str]]  # id(step) -> (action, server)
    facts: dict[str, Any]
    rates: rules.Rates
    budget_seconds: float | None

    def action_of(self, step: Step) -> tuple[str, str]:
        return self.actions.get(id(step), ("manual", "operator"))


def upgrade_section(stats: Stats, to: int) -> dict[str, Any]:
    """The measured ``upgrade`` section for target ``to``, or a refusal naming what is missing."""
    up = stats.upgrade
    if up is None:
        raise RefusedError(f"{stats.origin}: no 'upgrade' section: measure it first: "
                           f"migspec measure --dsn DSN --upgrade-to {to} -o stats.yaml")
    missing = [k for k in REQUIRED if up.get(k) is None]
    if missing:
        raise RefusedError(f"{stats.origin}: missing measurement upgrade.{missing[0]}"
                           + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else "")
                           + f": run {REQUIRED[missing[0]].replace('N', str(to))}")
    if up.get("to") not in (None, to):
        raise RefusedError(f"{stats.origin}: measured for an upgrade to {up['to']}, not {to}: "
                           f"measure again with --upgrade-to {to}")
    source = int(up["source_major"])
    if not source < to <= MAX_VERSION:
        raise InputError(f"--to {to}: must be a major above the source's ({source}) and at most {MAX_VERSION}")
    return dict(up)


def estimates(up: dict[str, Any], rates: rules.Rates, free_disk: float | None) -> Estimates:
    """Copy from bytes / copy rate; catch-up = backlog / (apply - change rate); slot retention =
    WAL rate x (copy + catch-up); pg_upgrade = fixed + objects x per-object (+ bytes / copy rate)."""
    change = float(up["row_changes_per_second"])
    copy_s = float(up["database_bytes"]) / rates.logical_copy_bytes_per_s
    backlog = change * copy_s
    headroom = rates.logical_apply_rows_per_s - change
    catch_up = backlog / headroom if headroom > 0 else float("inf")
    wal = up.get("wal_bytes_per_second")
    retention = float("inf") if wal is None or catch_up == float("inf") else float(wal) * (copy_s + catch_up)
    pause = rates.logical_cutover_pause_s
    cluster = float(up["cluster_bytes"]) or float(up["database_bytes"])
    mode = "copy" if free_disk is not None and free_disk >= rules.COPY_MODE_DISK_FACTOR * cluster else "link"
    pgu = rates.pg_upgrade_fixed_s + int(up["catalog_objects"]) * rates.pg_upgrade_per_object_s
    if mode == "copy":
        pgu += cluster / rates.pg_upgrade_copy_bytes_per_s
    basis = {
        "logical_copy": f"{int(up['database_bytes']):,} B / {rates.logical_copy_bytes_per_s:,.0f} B/s",
        "logical_catch_up": f"backlog {backlog:,.0f} rows / ({rates.logical_apply_rows_per_s:,.0f} apply - "
                            f"{change:,.1f} change rows/s)",
        "slot_retention": "unknown (no WAL rate)" if wal is None else
        f"{float(wal):,.0f} WAL B/s x (copy + catch-up)",
        "write_pause": f"fence, drain, sequence sync, reverse subscription: {pause:g} s",
        "pg_upgrade": f"{rates.pg_upgrade_fixed_s:g} s + {int(up['catalog_objects']):,} objects x "
                      f"{rates.pg_upgrade_per_object_s:g} s" + (f" + {cluster:,.0f} B / "
                                                                f"{rates.pg_upgrade_copy_bytes_per_s:,.0f} B/s"
                                                                if mode == "copy" else " (link mode)"),
        "rates": rates.source,
    }
    return Estimates(copy_s, catch_up, retention, pause, mode, pgu, basis)


def findings(up: dict[str, Any], to: int, est: Estimates, rates: rules.Rates, free_disk: float | None,
             budget: float | None) -> list[Finding]:
    """Every RED and YELLOW of upgrades.md's risk rules that the measurements show."""
    out: list[Finding] = []
    source = int(up["source_major"])
    # --- both methods
    for ext in up["extensions"]:
        if ext["name"] in _BUILTIN_EXTENSIONS:
            continue
        if ext.get("available_on_target") is False:
            out.append(Finding(Risk.RED, "both", f"extension {ext['name']} {ext['version']} is not available on "
                                                 f"PostgreSQL {to}",
                               f"install the extension's package built for PostgreSQL {to} on the target"))
        elif ext.get("available_on_target") is None:
            out.append(Finding(Risk.YELLOW, "both", f"extension {ext['name']} not checked on PostgreSQL {to}",
                               "measure again with --target-dsn of a PostgreSQL "
                               f"{to} server that has the extension packages"))
    if up["hosting"] != "self-managed":
        out.append(Finding(Risk.YELLOW, "both", f"hosting is {up['hosting']}: the provider's blue/green switchover "
                                                "is irreversible in place (AWS guidance); migspec's steps need "
                                                "superuser-equivalent rights", "use the provider's tooling"))
    # --- pg_upgrade
    if int(up["prepared_transactions"]):
        out.append(Finding(Risk.RED, "pg_upgrade", f"{up['prepared_transactions']} prepared transaction(s): "
                                                   "pg_upgrade --check fails",
                           "COMMIT PREPARED or ROLLBACK PREPARED them before the upgrade"))
    refused = [c for c in up["reg_columns"] if c["type"] in REG_TYPES_REFUSED_BY_PG_UPGRADE]
    if refused:
        out.append(Finding(Risk.RED, "pg_upgrade", "reg* columns pg_upgrade refuses: "
                                                   + ", ".join(f"{c['column']} ({c['type']})" for c in refused),
                           "change them to text (their OIDs do not survive the upgrade) or use logical"))
    if est.pg_upgrade_mode == "link":
        out.append(Finding(Risk.YELLOW, "pg_upgrade", "link mode: once the new cluster starts, the old one is "
                                                      "unsafe to use; rollback after writes means a restore",
                           "keep an un-upgraded standby or a snapshot as the way back, or free "
                           f"{rules.COPY_MODE_DISK_FACTOR:g} x the cluster's size for copy mode"))
    if up["logical_slots"] and source < 17:
        out.append(Finding(Risk.YELLOW, "pg_upgrade", f"{len(up['logical_slots'])} logical slot(s) are not carried "
                                                      "over by pg_upgrade from a source below 17",
                           "re-create them on the new cluster and resynchronise their consumers"))
    if int(up["standbys"]):
        out.append(Finding(Risk.YELLOW, "pg_upgrade", f"{up['standbys']} standby(s) must be rebuilt "
                                                      "(rsync --hard-links --size-only in link mode): no HA until then"))
    # --- logical
    if int(up["large_objects"]):
        out.append(Finding(Risk.RED, "logical", f"{up['large_objects']} large object(s): logical replication does "
                                                "not replicate them",
                           "move them into bytea columns of ordinary tables first, or use pg_upgrade"))
    for t in up["tables_without_identity"]:
        traffic = float(t["updates_per_second"]) + float(t["deletes_per_second"])
        if t["replica_identity"] == "full":
            risk = Risk.YELLOW
            msg = f"table {t['name']} replicates with REPLICA IDENTITY FULL"
            fix = "" if t["has_unique_index"] else \
                "each UPDATE/DELETE is a sequential scan on the subscriber: add a primary key first"
        elif traffic > 0:
            risk = Risk.RED
            msg = (f"table {t['name']} has no usable replica identity and takes {traffic:g} UPDATE/DELETE per s: "
                   "the publisher refuses those writes once it is published")
            fix = ("add a primary key online through the schema planner first (migspec plan of CREATE UNIQUE "
                   "INDEX CONCURRENTLY, then ALTER TABLE ... ADD CONSTRAINT ... PRIMARY KEY USING INDEX), or "
                   "ALTER TABLE ... REPLICA IDENTITY FULL")
        else:
            risk = Risk.YELLOW
            msg = (f"table {t['name']} has no usable replica identity: an UPDATE or DELETE on it fails once it "
                   "is published (none seen in the window)")
            fix = "add a primary key first, or REPLICA IDENTITY FULL"
        out.append(Finding(risk, "logical", msg, fix))
    if up["unlogged_tables"]:
        out.append(Finding(Risk.YELLOW, "logical", "unlogged tables are not replicated: "
                                                   + ", ".join(up["unlogged_tables"]),
                           "their rows are not copied; reload them on the target or make them logged"))
    if up["materialized_views"]:
        out.append(Finding(Risk.YELLOW, "logical", "materialized views are not replicated: "
                                                   + ", ".join(up["materialized_views"]),
                           "the plan refreshes them on the target before cutover"))
    if up["sequences"]:
        out.append(Finding(Risk.YELLOW, "logical", f"{len(up['sequences'])} sequence(s) are not replicated: "
                                                   "the cutover copies their values (scripted sequence sync)"))
    if int(up["prepared_transactions"]):
        out.append(Finding(Risk.YELLOW, "logical", f"{up['prepared_transactions']} prepared transaction(s) hold "
                                                   "the slot's start back", "resolve them before EXPAND"))
    slots, senders = up["replication_slots"], up["wal_senders"]
    if int(slots["max"]) - int(slots["used"]) < 1 or int(senders["max"]) - int(senders["used"]) < 1:
        out.append(Finding(Risk.RED, "logical", f"no free replication slot or WAL sender (slots {slots['used']}/"
                                                f"{slots['max']}, senders {senders['used']}/{senders['max']})",
                           "raise max_replication_slots / max_wal_senders (a restart) on the source"))
    if up["wal_level"] != "logical":
        out.append(Finding(Risk.YELLOW, "logical", f"wal_level is {up['wal_level']}",
                           "set wal_level = logical on the source (and the target, for the reverse "
                           "subscription): a restart of each, scheduled with the owner"))
    change = float(up["row_changes_per_second"])
    if rates.logical_apply_rows_per_s < rules.APPLY_HEADROOM * change:
        out.append(Finding(Risk.RED, "logical", f"apply rate {rates.logical_apply_rows_per_s:,.0f} rows/s is below "
                                                f"{rules.APPLY_HEADROOM:g} x the change rate {change:,.1f} rows/s: "
                                                "the subscriber would not catch up",
                           "rehearse to measure the real apply rate, or upgrade in a quieter window"))
    if free_disk is not None and est.slot_retention_bytes > rules.SLOT_DISK_SHARE * free_disk:
        retained = "an unbounded amount" if est.slot_retention_bytes == float("inf") else \
            f"{est.slot_retention_bytes:,.0f} B"
        out.append(Finding(Risk.RED, "logical", f"the slot would retain {retained} of WAL during copy and "
                                                f"catch-up, over {rules.SLOT_DISK_SHARE:.0%} of the "
                                                f"{free_disk:,.0f} B free",
                           "free disk on the source's WAL volume, or seed the target physically first"))
    if budget is not None and est.logical_pause_seconds > budget:
        out.append(Finding(Risk.RED, "logical", f"the cutover pause ({format_duration(est.logical_pause_seconds)}) "
                                                f"exceeds the budget ({format_duration(budget)})"))
    return out


def _blockers(found: list[Finding], method: str) -> list[Finding]:
    return [f for f in found if f.risk is Risk.RED and f.applies_to(method)]


def choose(method: str, budget: float | None, est: Estimates, found: list[Finding],
           free_disk: float | None) -> tuple[str, str, list[Finding]]:
    """(method, why, extra findings) per upgrades.md's selection rules."""
    if method == "logical" and free_disk is None:
        raise RefusedError("missing measurement: free disk on the source's WAL volume (--free-disk-bytes): "
                           "the logical path's slot retains WAL until the target catches up")
    if method != "auto":
        return method, f"--method {method}", []
    if budget is None:
        raise RefusedError("missing measurement: the downtime budget (--downtime-budget SECONDS, how long writes "
                           "may pause): it decides between pg_upgrade and logical (or pass --method)")
    need = rules.PG_UPGRADE_BUDGET_FACTOR * est.pg_upgrade_seconds
    pgu_blocked = _blockers(found, "pg_upgrade")
    if budget >= need and not pgu_blocked:
        return "pg_upgrade", (f"the budget {format_duration(budget)} is at least {rules.PG_UPGRADE_BUDGET_FACTOR:g} x "
                              f"pg_upgrade's estimated {format_duration(est.pg_upgrade_seconds)} "
                              f"({est.pg_upgrade_mode} mode)"), []
    if free_disk is None:
        raise RefusedError("missing measurement: free disk on the source's WAL volume (--free-disk-bytes): "
                           "pg_upgrade does not fit the budget, and the logical path's slot retains WAL")
    logical_blocked = _blockers(found, "logical")
    reason = (f"the budget {format_duration(budget)} is below {rules.PG_UPGRADE_BUDGET_FACTOR:g} x pg_upgrade's "
              f"estimated {format_duration(est.pg_upgrade_seconds)}" if budget < need else
              "pg_upgrade is blocked: " + "; ".join(f.message for f in pgu_blocked))
    if not logical_blocked:
        return "logical", reason + "; logical blue/green pauses writes only at cutover", []
    extra = []
    if budget < est.pg_upgrade_seconds:
        extra.append(Finding(Risk.RED, "both", f"the budget {format_duration(budget)} is below pg_upgrade's "
                                               f"estimated {format_duration(est.pg_upgrade_seconds)} and the "
                                               "logical path is blocked: "
                                               + "; ".join(f.message for f in logical_blocked),
                             "fix the logical blockers (their fixes are listed), or agree a longer window"))
    return "logical", reason + "; logical blue/green is blocked too (RED)", extra


def _risk(method: str, found: list[Finding], est: Estimates, budget: float | None) -> Risk:
    risk = max((f.risk for f in found if f.applies_to(method)), default=Risk.GREEN)
    pause = est.logical_pause_seconds if method == "logical" else est.pg_upgrade_seconds
    if budget is not None and pause > rules.PAUSE_BUDGET_SHARE_GREEN * budget:
        risk = max(risk, Risk.YELLOW)
    return risk


# ----------------------------------------------------------------------------------------- steps

def _q(name: str) -> str:
    return quote_ident(name)


FWD, REV = _q(rules.FORWARD_NAME), _q(rules.REVERSE_NAME)
#: Placeholders the executor replaces with the --dsn / --target-dsn it is given (never stored).
SOURCE_CONNINFO = "$SOURCE_CONNINFO"
TARGET_CONNINFO = "$TARGET_CONNINFO"


class _Builder:
    def __init__(self) -> None:
        self.actions: dict[int, tuple[str, str]] = {}

    def step(self, action: str, server: str, description: str, up: tuple[str, ...] = (),
             down: tuple[str, ...] = (), **kw: Any) -> Step:
        st = Step(description, up, down, **kw)
        self.actions[id(st)] = (action, server)
        return st


def _logical_phases(b: _Builder, up: dict[str, Any], to: int, est: Estimates) -> tuple[Phase, ...]:
    expand: list[Step] = []
    if up["wal_level"] != "logical":
        expand.append(b.step("require_wal_level", "both", "wal_level = logical on the source and the target "
                             "(ALTER SYSTEM SET wal_level = logical, then a restart of each, scheduled with the owner)",
                             manual=True, down_note="leave wal_level as it is (lowering it needs another restart)"))
    expand += [
        b.step("check_logical", "both", "pre-checks: wal_level = logical on both, a free slot and WAL sender, "
               "no prepared transactions, every table has a usable replica identity",
               down_note="nothing to undo (read-only)"),
        b.step("copy_schema", "target", "copy the schema to the target (pg_dump --schema-only --no-publications "
               "--no-subscriptions from the source, restored on the target)",
               down_note="drop the copied schemas on the target", estimate_seconds=2.0,
               estimate_basis="schema dump and restore"),
        b.step("fence_target", "target", "keep the application off the target until cutover "
               "(ALTER DATABASE ... CONNECTION LIMIT 0)", down_note="restore the target's connection limit"),
        b.step("create_publication", "source", "publish every table on the source",
               (f"CREATE PUBLICATION {FWD} FOR ALL TABLES",), (f"DROP PUBLICATION IF EXISTS {FWD}",)),
        b.step("create_subscription", "target", "subscribe the target to the source (initial copy, then streaming)",
               (f"CREATE SUBSCRIPTION {FWD} CONNECTION '{SOURCE_CONNINFO}' PUBLICATION {FWD}",),
               (f"DROP SUBSCRIPTION IF EXISTS {FWD}",)),
        b.step("wait_synced", "target", "wait for the initial copy and catch-up (every table ready, lag under "
               f"{rules.CAUGHT_UP_BYTES // (1024 * 1024)} MB)", estimate_seconds=est.copy_seconds + (
                   est.catch_up_seconds if est.catch_up_seconds != float("inf") else 0.0),
               estimate_basis=est.basis["logical_copy"] + "; " + est.basis["logical_catch_up"],
               down_note="nothing to undo (waits only)"),
        b.step("analyze_target", "target", "ANALYZE on the target (the copied tables have no statistics yet); "
               "refresh materialized views there", down_note="nothing to undo (statistics only)"),
        b.step("ddl_freeze", "operator", "freeze DDL on the source until CONTRACT (deploys with migrations, "
               "partition jobs): logical replication does not carry DDL", manual=True,
               down_note="lift the DDL freeze"),
    ]
    migrate = [
        b.step("check_cutover", "both", "pre-check: lag under the threshold, row counts equal per table",
               down_note="nothing to undo (read-only)"),
        b.step("fence_source", "source", "pause writes on the source (CONNECTION LIMIT 0, end the application's "
               "sessions): the write pause starts", down_note="reopen the source (restore its connection limit)",
               estimate_seconds=est.logical_pause_seconds, estimate_basis=est.basis["write_pause"]),
        b.step("drain_forward", "both", "wait until the subscription confirmed the source's last WAL position",
               down_note="nothing to undo (waits only)"),
        b.step("sync_sequences", "both", "copy every sequence's value from the source to the target (setval)",
               down_note="copy every sequence's value back from the target to the source"),
        b.step("reverse_replication", "both", "switch replication around: drop the forward subscription, publish "
               "on the target, subscribe the source to it without copying (the way back keeps every write)",
               (f"DROP SUBSCRIPTION IF EXISTS {FWD}", f"CREATE PUBLICATION {REV} FOR ALL TABLES",
                f"CREATE SUBSCRIPTION {REV} CONNECTION '{TARGET_CONNINFO}' PUBLICATION {REV} "
                "WITH (copy_data = false)"),
               (f"DROP SUBSCRIPTION IF EXISTS {REV}", f"DROP PUBLICATION IF EXISTS {REV}",
                f"CREATE SUBSCRIPTION {FWD} CONNECTION '{SOURCE_CONNINFO}' PUBLICATION {FWD} "
                "WITH (copy_data = false)"),
               down_note="after the target is fenced and the reverse subscription drained"),
        b.step("open_target", "target", "open the target to the application (restore its connection limit): "
               "the write pause ends", down_note="fence the target and drain the reverse subscription"),
        b.step("repoint", "operator", "repoint the application (pooler, DNS or config) to the target",
               manual=True, down_note="repoint the application back to the source"),
    ]
    contract = [
        b.step("drop_reverse", "both", "drop the reverse subscription and both publications; decommission "
               "the source after the soak (IRREVERSIBLE: the way back is gone)",
               (f"DROP SUBSCRIPTION IF EXISTS {REV}", f"DROP PUBLICATION IF EXISTS {REV}",
                f"DROP PUBLICATION IF EXISTS {FWD}"), (), reversible=False,
               down_note="irreversible: the source no longer follows the target"),
    ]
    return (Phase(PhaseName.EXPAND, tuple(expand)), Phase(PhaseName.MIGRATE, tuple(migrate)),
            Phase(PhaseName.CONTRACT, tuple(contract), after="the soak period, green"))


def _pg_upgrade_phases(b: _Builder, up: dict[str, Any], to: int, est: Estimates) -> tuple[Phase, ...]:
    checksums = "--data-checksums" if up["data_checksums"] else "--no-data-checksums"
    mode = "--copy" if est.pg_upgrade_mode == "copy" else "--link"
    expand = (
        b.step("init_target", "target", f"initdb the PostgreSQL {to} cluster with the source's settings "
               f"({checksums}, same encoding and locale)", down_note="delete the new data directory"),
        b.step("pg_upgrade_check", "target", f"pg_upgrade --check {mode} (no change to either cluster)",
               down_note="nothing to undo (read-only)"),
    )
    migrate = (
        b.step("stop_source", "source", "stop writes and shut the source down cleanly: the write pause starts",
               down_note="start the source again", estimate_seconds=est.pg_upgrade_seconds,
               estimate_basis=est.basis["pg_upgrade"]),
        b.step("run_pg_upgrade", "target", f"pg_upgrade {mode}",
               down_note=("before the new cluster takes writes: start the old one (copy mode leaves it intact)"
                          if mode == "--copy" else "before the new cluster starts: rename global/pg_control.old "
                          "back in the old data directory and start it; after: restore the kept copy")),
        b.step("start_target", "target", "start the new cluster, ANALYZE (vacuumdb --analyze-in-stages; "
               "--missing-stats-only from 18): the write pause ends", down_note="stop the new cluster"),
        b.step("repoint", "operator", "repoint the application to the new cluster", manual=True,
               down_note="repoint the application back to the old cluster"),
    )
    contract = (
        b.step("delete_old", "source", "delete the old cluster (delete_old_cluster.sh) after the soak "
               "(IRREVERSIBLE)", reversible=False, down_note="irreversible"),
    )
    return (Phase(PhaseName.EXPAND, expand), Phase(PhaseName.MIGRATE, migrate),
            Phase(PhaseName.CONTRACT, contract, after="the soak period, green"))


def _runbook(method: str, up: dict[str, Any], to: int) -> Runbook:
    if method == "logical":
        return Runbook(
            pre_check=("who: the database owner runs migspec apply; the application owner repoints and watches",
                       "when: outside peak, with the DDL freeze announced",
                       "wal_level = logical on both servers; a free replication slot and WAL sender on each",
                       "no prepared transactions; every updated table has a primary key or replica identity"),
            cutover=("DDL freeze in force", "lag under the threshold; row counts equal per table",
                     "pause writes on the source; wait until the slot confirmed the source's last WAL position",
                     "setval every sequence on the target from the source",
                     "reverse subscription source <- target (copy_data = false); open the target; repoint"),
            rollback_trigger=("5xx or p95 latency above the baseline x 2 after repoint",
                              "a top query regressed on the target",
                              "the reverse subscription is broken (pg_stat_subscription shows no worker)",
                              "rollback: migspec rollback --phase migrate (fence target, drain reverse, "
                              "sequences back, forward subscription again, reopen the source)"),
            post_verify=("rows and checksums per table equal on both (migspec verify compares them)",
                         "every sequence on the target at or past the source's value",
                         "ANALYZE done on the target; compare pg_stat_statements with the baseline",
                         f"ALTER EXTENSION ... UPDATE for each extension ({', '.join(e['name'] for e in up['extensions'])})"))
    return Runbook(
        pre_check=("who: the database owner; when: inside the agreed window",
                   f"target binaries and extension libraries for PostgreSQL {to} installed",
                   "pg_upgrade --check passes; a backup or un-upgraded standby exists"),
        cutover=("stop the application's writes", "stop the source cleanly", "pg_upgrade",
                 "start the new cluster, first ANALYZE stage, repoint"),
        rollback_trigger=("pg_upgrade fails, or the new cluster does not start: start the old cluster",
                          "after the new cluster took writes: restore from the kept copy (writes since are lost)"),
        post_verify=("rows per table equal to the counts taken before", "vacuumdb --all --analyze-in-stages",
                     f"ALTER EXTENSION ... UPDATE for each extension ({', '.join(e['name'] for e in up['extensions'])})"))


def plan_upgrade(stats: Stats, *, to: int, method: str = "auto", budget: float | None = None,
                 free_disk: float | None = None, rates: rules.Rates | None = None) -> UpgradePlan:
    if method not in METHODS:
        raise InputError(f"--method must be one of {', '.join(METHODS)}")
    if budget is not None and budget < 0:
        raise InputError("--downtime-budget must not be negative")
    rates = rates or rules.Rates()
    up = upgrade_section(stats, to)
    est = estimates(up, rates, free_disk)
    found = findings(up, to, est, rates, free_disk, budget)
    chosen, why, extra = choose(method, budget, est, found, free_disk)
    found += extra
    b = _Builder()
    phases = (_logical_phases if chosen == "logical" else _pg_upgrade_phases)(b, up, to, est)
    relevant = tuple(f for f in found if f.applies_to(chosen))
    notes = tuple(f"{f.risk}: {f.message}" + (f" - fix: {f.fix}" if f.fix else "") for f in relevant)
    plan = Plan(migration=f"PostgreSQL {up['source_major']} -> {to} ({chosen})",
                risk=_risk(chosen, found, est, budget), pg_version=to, phases=phases,
                runbook=_runbook(chosen, up, to), confirmations=(), notes=notes, maintenance_window=stats.maintenance_window)
    return UpgradePlan(plan, chosen, why, int(up["source_major"]), to, relevant, est, b.actions, up, rates, budget)

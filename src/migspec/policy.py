"""The operational numbers migspec plans and executes with, each stated once with its source.

Planner, executor, rules and CLI defaults read these names; a number that appears as a literal
anywhere else is a second statement of it that can drift (issue 15: lock_timeout, replication lag,
batch target and contract wait were each written in 3-5 places). PostgreSQL facts (the identifier
length) live with the code that applies them (``migspec.names``); measurement-derived risk
thresholds that a user may override live in ``migspec.risk.Thresholds``, whose defaults come from
here.
"""

from __future__ import annotations

import re

#: The lock_timeout migspec recommends and plans with, and the longest stall that is still GREEN
#: (risk.Thresholds.green_stall_seconds): a lock attempt that times out stalls writers no longer
#: than GREEN allows (one value, not two that can disagree: issue 12, class 12).
LOCK_TIMEOUT_S = 2.0
#: Writes allowed to queue behind one lock attempt: lock_timeout = this / write_qps, within bounds.
QUEUED_WRITES_PER_ATTEMPT = 500
#: The shortest lock_timeout a busy table gets (a shorter one would never win the lock).
LOCK_TIMEOUT_FLOOR_S = 0.5
#: A guarded step's statement_timeout: this many times its pessimistic estimate, at least the floor:
#: generous for the work, still a bound.
STATEMENT_TIMEOUT_FACTOR = 3
STATEMENT_TIMEOUT_FLOOR_S = 5
#: statement_timeout of one backfill batch when the step does not say (a batch aims at
#: BATCH_TARGET_S; this only stops a batch that hangs).
BATCH_STATEMENT_TIMEOUT_S = 60.0

#: How long apply/rollback wait for the plan's advisory lock before refusing as "another apply is
#: running": a session releases it when its backend exits, a moment after the client closed (or
#: died) - measured on 13/15/18: 1-10 of 500 tries made right after the holder's close() still
#: found it held. A live apply holds it for the whole phase, so a short wait only delays that refusal.
PLAN_LOCK_WAIT_S = 2.0

#: Retry policy for guarded DDL on lock timeout (pgroll retries without a cap on attempts;
#: Reshape: 10 attempts); exponential backoff with full jitter.
RETRY_ATTEMPTS = 10
RETRY_BASE_S = 0.5
RETRY_CAP_S = 30.0

#: Backfills pause while a replica lags more than this (runbook pre-check and executor throttle);
#: the runbook's rollback trigger is twice it.
MAX_REPLICATION_LAG_S = 5.0
#: The runbook's pre-check: no transaction older than this (a DDL lock would queue behind it).
MAX_TRANSACTION_AGE_S = 60
#: The runbook's rollback trigger: a replica lagging more than this during a backfill.
ROLLBACK_REPLICATION_LAG_S = 60

#: Backfill batches aim at this duration, shorter on busy tables: an application write that meets
#: a row the batch locked waits for the whole batch. pt-online-schema-change defaults to 0.5 s;
#: measured here (BENCHMARKS.md, 1M rows, 4 pgbench writers) 0.5 s batches gave writers a p99 of
#: 222 ms, 50 ms batches a p99 of 7.5 ms at 0.95x the single UPDATE's throughput.
BATCH_TARGET_S = 0.05
BATCH_MIN_ROWS, BATCH_MAX_ROWS = 1_000, 50_000
#: The batch size and pause of a Backfill before the planner sizes it from measurements.
DEFAULT_BATCH_ROWS = 10_000
DEFAULT_PAUSE_S = 0.1
#: Pause between batches as a share of the batch's time (gh-ost's nice-ratio idea): room for
#: replicas and autovacuum to keep up; at 0.5 the pauses alone cost ~0.2x of throughput.
PAUSE_RATIO = 0.1
#: UPDATE/DELETE touching more rows than this in one statement should be batched
#: (risk.Thresholds.batch_rows; the planner runs smaller ones as written).
BATCH_ROWS = 10_000

#: CONTRACT (the destructive phase) runs only after the rollout has been green this many days.
CONTRACT_AFTER_DAYS = 7


def contract_wait(days: int) -> str:
    """The ``after`` of a CONTRACT phase, as plans state it and ``apply`` reads it back."""
    return f"{days} days green"


def contract_wait_days(after: str | None) -> int | None:
    """``contract_wait(7)`` -> 7; None when ``after`` states no period in days."""
    m = re.match(r"\s*(\d+)\s*day", after or "")
    return int(m[1]) if m else None

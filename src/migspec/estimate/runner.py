"""The backfill runner's batch policy, and the runner's duration predicted from it.

One definition, two users: :func:`migspec.execute.backfill.run_backfill` sizes its next batch with
:func:`next_batch_size`, and the estimator (:func:`runner_seconds`) replays the same policy over a
modelled batch time, so an estimate includes what the runner really does - batches shrunk (down
to a quarter of the planned size) when commits are slow, more of them, a planned pause after each.

A batch of ``n`` rows takes ``batch_s + n * row_s``: ``row_s`` the per-row work of the UPDATE,
``batch_s`` the per-batch cost that does not shrink with the batch (choosing the next keys, the
checkpoint row, the commit and its WAL flush, the round trips). BENCHMARKS.md section 4 (1M rows,
load 7-10 on 2 cores, 2026-11-30): the runner took 17-20 s where rows / the 10,000-row batch rate
promised 4.4-5.4 s - its batches had shrunk to a quarter and the per-batch cost dominated.
"""

from __future__ import annotations

from migspec.frozen import frozen


#: The runner never moves a batch below planned / SHRINK_LIMIT nor above planned * GROW_LIMIT rows.
SHRINK_LIMIT = 4
GROW_LIMIT = 4
#: Weight of the newest batch's wanted size (exponential smoothing of the batch size).
SMOOTHING = 0.2
#: Batches replayed one by one before the steady state is extrapolated (the size settles long
#: before: each step moves it a fifth of the way).
_REPLAY_MAX = 2_000


def next_batch_size(size: int, planned: int, target_s: float, elapsed_s: float) -> int:
    """The next batch's rows: toward the size that would have taken ``target_s``, smoothed,
    within [planned / SHRINK_LIMIT, planned * GROW_LIMIT]."""
    if elapsed_s <= 0:
        return size
    wanted = int(size * target_s / elapsed_s)
    smoothed = int((1 - SMOOTHING) * size + SMOOTHING * wanted)
    return max(planned // SHRINK_LIMIT, min(planned * GROW_LIMIT, smoothed)) or 1


@frozen
class RunnerPlan:
    """What the plan gives the runner: planned batch rows, the batch time it aims at, the pause."""

    batch_size: int
    target_s: float
    pause_s: float


def runner_seconds(rows: int, plan: RunnerPlan, row_s: float, batch_s: float) -> tuple[float, int]:
    """(seconds, batches) for the runner to walk ``rows`` rows, pauses included."""
    if rows <= 0:
        return 0.0, 0
    size, done, total, batches = max(plan.batch_size, 1), 0, 0.0, 0
    while done < rows:
        n = min(size, rows - done)
        took = batch_s + n * row_s
        total += took + plan.pause_s
        done += n
        batches += 1
        following = next_batch_size(size, plan.batch_size, plan.target_s, took)
        if following == size or batches >= _REPLAY_MAX:  # settled: the rest at this size
            left = rows - done
            if left > 0:
                full, part = divmod(left, size)
                total += full * (batch_s + size * row_s + plan.pause_s)
                batches += full
                if part:
                    total += batch_s + part * row_s + plan.pause_s
                    batches += 1
            break
        size = following
    return total, batches

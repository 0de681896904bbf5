"""Python's cycle collector, paused while a command builds what lives until it exits.

Reading, linting and rendering make parse trees, operations and findings that are acyclic
(reference counting frees them), and the modules and classes imported on the way live until the
process ends; yet the collector walked all of them again and again as they were built: a third of
lint's time on 10,000 statements, and a tenth of one small file's start-up, most of it while
pglast's node and enum classes were created (issue 16, BENCHMARKS.md section 1)."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """The cycle collector off for the block; restored afterwards, for in-process callers.

    Restoring it must not cost the collection it saved: every object allocated while it was off
    sits in the youngest generation, and the first allocation after ``gc.enable()`` walked all
    of them (~70 ms after a 10,000-statement lint, measured). ``gc.freeze()`` first moves them to
    the permanent generation and ``gc.unfreeze()`` then to the oldest one, two list splices:
    they are still collected, by the next full collection, as long-lived objects are."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.freeze()
            gc.enable()
            gc.unfreeze()

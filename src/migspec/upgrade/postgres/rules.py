"""Thresholds and default rates of the upgrade planner, as data (upgrades.md section 1(a)).

The copy rate, the cutover pause and pg_upgrade's cost were measured on the build machine (2
shared cores, Debian 12, PostgreSQL 15 -> 18 on one host, fsync on, pgbench scale 1 = 24 MB, 4
writers) by the rehearsal (``migspec verify`` of an upgrade plan): initial copy and catch-up 1.54 s
(15.7 MB/s), writers' longest gap at cutover 1.05 s (fence to open 0.98 s), pg_upgrade in copy
mode 8.6 s. The apply rate is an assumption, not a measurement (the rehearsal's writers never load
the subscriber near it). A plan names its rates' source; a rehearsal's ``--calibration`` file
replaces them with the figures of the real hardware. BENCHMARKS.md compares them at two sizes.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from migspec.errors import InputError
from migspec.frozen import fields, frozen

#: pg_upgrade is chosen when the budget is at least this multiple of its estimated time.
PG_UPGRADE_BUDGET_FACTOR = 1.5
#: Logical replication converges only if apply runs this much faster than the peak change rate.
APPLY_HEADROOM = 1.5
#: A replication slot may retain at most this share of the free disk during copy and catch-up.
SLOT_DISK_SHARE = 0.5
#: GREEN needs the estimated write pause within this share of the budget.
PAUSE_BUDGET_SHARE_GREEN = 0.5
#: pg_upgrade copy mode needs this multiple of the cluster's size free; otherwise link mode.
COPY_MODE_DISK_FACTOR = 2.0
#: Lag, in bytes, under which the subscriber counts as caught up for the cutover pre-check.
CAUGHT_UP_BYTES = 16 * 1024 * 1024
#: Publication and subscription names the plan creates (one upgrade at a time per database).
FORWARD_NAME = "migspec_upgrade"
REVERSE_NAME = "migspec_upgrade_reverse"


@frozen
class Rates:
    """Throughputs the estimates divide by; ``source`` says where they came from."""

    #: Logical initial copy (COPY through the table-sync workers), bytes of pg_database_size per second.
    logical_copy_bytes_per_s: float = 15.0e6
    #: Logical apply of streamed changes, rows per second (assumed, see above).
    logical_apply_rows_per_s: float = 3000.0
    #: The cutover's write pause, fence to open, with lag already near zero (seconds).
    logical_cutover_pause_s: float = 1.0
    #: pg_upgrade fixed cost: two server starts/stops, --check, schema dump/restore of an empty catalog.
    pg_upgrade_fixed_s: float = 6.5
    #: pg_upgrade schema restore per catalog object (pg_class rows).
    pg_upgrade_per_object_s: float = 0.004
    #: pg_upgrade copy mode file copy, bytes per second.
    pg_upgrade_copy_bytes_per_s: float = 2.0e8
    source: str = ("defaults measured on the migspec build machine (2 cores, local disk; apply rate assumed); "
                   "rehearse to calibrate")

    @classmethod
    def load(cls, path: str | None) -> Rates:
        if not path:
            return cls()
        import yaml

        try:
            data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"{path}: cannot read calibration: {getattr(exc, 'strerror', None) or exc}") from None
        except yaml.YAMLError as exc:
            raise InputError(f"{path}: malformed YAML: {getattr(exc, 'problem', None) or exc}") from None
        rates: Any = (data or {}).get("upgrade_rates", data) if isinstance(data, dict) else data
        if not isinstance(rates, dict):
            raise InputError(f"{path}: upgrade_rates: must map rate names to numbers")
        known = {f.name for f in fields(cls)} - {"source"}
        values: dict[str, float] = {}
        for key, value in rates.items():
            if key not in known:
                raise InputError(f"{path}: upgrade_rates.{key}: unknown rate (expected one of {', '.join(sorted(known))})")
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise InputError(f"{path}: upgrade_rates.{key}: must be a positive number, not {value!r}")
            values[key] = float(value)
        return cls(**values, source=f"rehearsal calibration {path}")

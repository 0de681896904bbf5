"""Observations written for docs/versions.md: when ``$MIGSPEC_OBSERVATIONS`` names a file, the
trace and gate tests append one JSON line per observation (tools/gen_versions_doc.py reads them)."""

from __future__ import annotations

import json
import os
from typing import Any

OBSERVATIONS_ENV = "MIGSPEC_OBSERVATIONS"


def record(kind: str, **data: Any) -> None:
    """Append ``{"kind": kind, **data}`` to the observations file, if one is asked for."""
    path = os.environ.get(OBSERVATIONS_ENV)
    if not path:
        return
    with open(path, "a", encoding="utf-8") as out:
        out.write(json.dumps({"kind": kind, **data}, sort_keys=True) + "\n")

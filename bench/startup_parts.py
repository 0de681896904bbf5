"""What one small ``migspec lint`` spends before and around its work: the dataclasses, enum classes
and regular expressions it creates at every start (counted and timed by wrapping the standard
library's own functions), run through ``migspec.cli.main`` in this fresh interpreter.

Run by bench/s_lint.py (the project's venv):
    python bench/startup_parts.py --stats STATS PATH...
prints one JSON object on stdout.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import io
import json
import re._compiler
import sys
import time

totals = {"dataclasses": 0, "dataclass_s": 0.0, "enums": 0, "enum_s": 0.0, "regexes": 0, "regex_s": 0.0}


def _timed(key: str, seconds: str, fn):  # type: ignore[no-untyped-def]
    def wrapper(*args, **kwargs):  # type: ignore[no-untyped-def]
        t0 = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            totals[key] += 1
            totals[seconds] += time.perf_counter() - t0
    return wrapper


def main() -> None:
    # dataclasses: one _process_class per @dataclass; its methods are compiled with exec() each time.
    dataclasses._process_class = _timed("dataclasses", "dataclass_s", dataclasses._process_class)  # type: ignore[attr-defined]
    # re: compile() only runs on a cache miss (the module caches patterns per process).
    re._compiler.compile = _timed("regexes", "regex_s", re._compiler.compile)  # type: ignore[attr-defined]
    # enum: EnumType.__new__ builds every Enum/IntEnum class (pglast's hundreds of members included).
    original = enum.EnumType.__new__
    enum.EnumType.__new__ = _timed("enums", "enum_s", original)  # type: ignore[method-assign]
    from migspec.cli import main as migspec_main

    t0 = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        rc = migspec_main(["lint", *sys.argv[1:]])
    totals["main_s"] = time.perf_counter() - t0
    enum.EnumType.__new__ = original  # type: ignore[method-assign]
    totals["rc"] = rc
    totals["modules"] = len(sys.modules)
    print(json.dumps(totals))


if __name__ == "__main__":
    main()

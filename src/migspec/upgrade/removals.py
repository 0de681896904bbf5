"""The removed-API rows as objects, read from the generated data modules (``upgrade/data/``).

The rows come from the frameworks' own documents (``tools/gen_upgrade_data.py``); this module only
gives them a type and answers "which rows does an upgrade from A to B cross".
"""

from __future__ import annotations

import re

from functools import cache

from migspec.frozen import frozen

FRAMEWORKS = ("django", "sqlalchemy")


@frozen
class Removal:
    framework: str
    symbol: str  # dotted import path, Class.method, keyword name, setting, Meta option, filter, code pattern
    kind: str  # import | attribute | method | keyword | setting | meta | template | pattern | behavior
    owners: tuple[str, ...]  # for keywords: the callables that took them
    change: str  # removed | moved | behavior | legacy
    deprecated_in: str
    removed_in: str
    replacement: str
    severity: str  # loud (ImportError, AttributeError, TypeError...) | silent (behaviour changes)
    autofix: str  # e.g. "django-upgrade:utils_timezone"
    text: str  # the framework's own sentence
    source: str  # file:line in the source distribution

    @property
    def label(self) -> str:
        if self.kind == "keyword":
            return f"{'/'.join(self.owners) or '?'}({self.symbol}=)"
        if self.kind == "pattern":  # the guide's example without its "stmt = " part
            return " ".join(self.symbol.split("=", 1)[1].split()) if re.match(r"^\w+ = ", self.symbol) else \
                " ".join(self.symbol.split())
        return self.symbol


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.split(".")) if text else ()


@cache
def rows(framework: str) -> tuple[Removal, ...]:
    if framework == "django":
        from migspec.upgrade.data import django as data
    elif framework == "sqlalchemy":
        from migspec.upgrade.data import sqlalchemy as data  # type: ignore[no-redef]
    else:
        raise ValueError(framework)
    return tuple(Removal(*row) for row in data.ROWS)


def crossing(framework: str, current: str, target: str) -> tuple[Removal, ...]:
    """Rows an upgrade from ``current`` to ``target`` (feature releases, "4.2") runs into: removed
    or changed after ``current`` and at or before ``target``; deprecations the target starts
    warning about are left to the runtime warnings."""
    lo, hi = _version(current)[:2], _version(target)[:2]
    return tuple(r for r in rows(framework) if lo < _version(r.removed_in)[:2] <= hi)


def sources(framework: str) -> dict[str, str]:
    if framework == "django":
        from migspec.upgrade.data import django as data
    else:
        from migspec.upgrade.data import sqlalchemy as data  # type: ignore[no-redef]
    return dict(data.SOURCES)

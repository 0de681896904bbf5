"""The modules of a package, found by listing its directories - what ``pkgutil.iter_modules``
finds for a package on disk, without ``pkgutil``: it imports ``inspect`` (and with it ``ast``,
``dis``, ``tokenize``) for one small function, 36 M instructions at the start of ``migspec lint``
(issue 16, callgrind). The rule catalogue and the planner's rewrites are found this way."""

from __future__ import annotations

import importlib.machinery
import os
from collections.abc import Iterable


def submodule_names(path: Iterable[str]) -> list[str]:
    """The names of the modules and packages in the directories ``path`` (a package's
    ``__path__``), sorted: each file with an import suffix, the longest suffix taken off (as
    ``inspect.getmodulename``), and each directory holding an ``__init__`` module."""
    suffixes = sorted(importlib.machinery.all_suffixes(), key=len, reverse=True)

    def module_name(entry: str) -> str | None:
        suffix = next((s for s in suffixes if entry.endswith(s)), None)
        return entry[:-len(suffix)] if suffix is not None else None

    names: set[str] = set()
    for directory in path:
        try:
            entries = os.listdir(directory)
        except OSError:  # an unreadable directory is skipped, as import does
            continue
        for entry in entries:
            name = module_name(entry)
            if name is None and "." not in entry and os.path.isdir(os.path.join(directory, entry)):
                try:
                    inside = os.listdir(os.path.join(directory, entry))
                except OSError:
                    continue
                name = entry if any(module_name(e) == "__init__" for e in inside) else None
            if name and name != "__init__" and "." not in name:
                names.add(name)
    return sorted(names)

"""The rule catalogue: every module in this package defines one rule, found by walking the
package (no central list to edit). Add a rule by adding a module and a tests/rules/<name>.yml."""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from migspec.rules.base import Hit, Rule, RuleContext

__all__ = ["Hit", "Rule", "RuleContext", "all_rules", "rule_names"]


@cache
def all_rules() -> tuple[type[Rule], ...]:
    found: list[type[Rule]] = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name == "base":
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        classes = [obj for obj in vars(module).values()
                   if isinstance(obj, type) and issubclass(obj, Rule) and obj is not Rule
                   and obj.__module__ == module.__name__]
        if len(classes) != 1 or not classes[0].name:
            raise RuntimeError(f"rule module {module.__name__} must define exactly one named Rule subclass")
        found.append(classes[0])
    names = [r.name for r in found]
    dupes = {n for n in names if names.count(n) > 1}
    if dupes:
        raise RuntimeError(f"duplicate rule names: {sorted(dupes)}")
    return tuple(sorted(found, key=lambda r: r.name))


def rule_names() -> frozenset[str]:
    return frozenset(r.name for r in all_rules())

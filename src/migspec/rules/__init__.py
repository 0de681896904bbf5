"""The rule catalogue: every module in this package defines one rule, found by walking the
package (no central list to edit). Add a rule by adding a module and a tests/rules/<name>.yml."""

from __future__ import annotations

import importlib
from functools import cache

from typing import TYPE_CHECKING

from migspec.rules.base import Hit, Rule, RuleContext
from migspec.submodules import submodule_names

if TYPE_CHECKING:
    from migspec.analysis import Analyzed

__all__ = ["Hit", "Rule", "RuleContext", "RuleIndex", "all_rules", "rule_names"]


@cache
def all_rules() -> tuple[type[Rule], ...]:
    found: list[type[Rule]] = []
    for name in submodule_names(__path__):
        if name == "base":
            continue
        module = importlib.import_module(f"{__name__}.{name}")
        classes = [obj for obj in vars(module).values()
                   if isinstance(obj, type) and issubclass(obj, Rule) and obj is not Rule
                   and obj.__module__ == module.__name__]
        if len(classes) != 1 or not classes[0].name:
            raise RuntimeError(f"rule module {module.__name__} must define exactly one named Rule subclass")
        if not all(isinstance(kind, str) for kind in classes[0].operations):
            raise RuntimeError(f"rule {classes[0].name}: operations names operation kinds (Operation.kind), "
                               "not classes")
        found.append(classes[0])
    names = [r.name for r in found]
    dupes = {n for n in names if names.count(n) > 1}
    if dupes:
        raise RuntimeError(f"duplicate rule names: {sorted(dupes)}")
    return tuple(sorted(found, key=lambda r: r.name))


def rule_names() -> frozenset[str]:
    return frozenset(r.name for r in all_rules())


class RuleIndex:
    """The rules that look at an operation, found once per (operation class, on a table created
    earlier in the migration, in a transaction block) from what each rule declares (``operations``,
    ``on_new_tables``, ``in_transaction_only``):
    each operation is then asked of only the rules that care (issue 16: every rule's ``applies``
    on every statement was a fifth of lint's rule time). A rule that overrides ``applies`` is
    still asked."""

    def __init__(self, rules: list[Rule]) -> None:
        self.rules = rules
        self._found: dict[tuple[type, bool, bool], tuple[list[Rule], list[Rule]]] = {}

    def rules_for(self, item: Analyzed) -> list[Rule]:
        key = (type(item.op), item.new_table, item.tx.tx_id is not None)
        found = self._found.get(key)
        if found is None:
            op_type, new_table, in_transaction = key
            cares = [r for r in self.rules if (not r.operations or op_type.kind in r.operations)
                     and (in_transaction or not r.in_transaction_only)]
            plain = [r for r in cares if type(r).applies is Rule.applies]
            found = self._found[key] = ([r for r in plain if r.on_new_tables or not new_table],
                                        [r for r in cares if type(r).applies is not Rule.applies])
        always, ask = found
        if not ask:
            return always
        chosen = set(always) | {r for r in ask if r.applies(item)}
        return [r for r in self.rules if r in chosen]  # in the catalogue's order, as before

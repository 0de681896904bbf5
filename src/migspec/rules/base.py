"""The rule contract. A rule is one module in migspec.rules whose docstring is its documentation,
in fixed sections (checked by tests/test_rule_docs.py), and one Rule subclass that registers
itself by existing. Rules look at operations' effects; they never re-derive locks from SQL.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, ClassVar

from migspec.frozen import field, frozen, record
from migspec.risk import Risk, Thresholds

if TYPE_CHECKING:
    from migspec.analysis import Analyzed
    from migspec.schema import Schema

DOC_SECTIONS = ("What it flags", "Why", "Example", "Use instead", "Version notes", "References")


@frozen
class Hit:
    """A rule's verdict on one operation. Risk comes from the measurements (migspec.risk) unless
    the rule knows better: ``floor`` raises it (a rename breaks running code even on an empty
    table), ``fixed`` replaces it (a statement that fails outright)."""

    message: str
    alternative: str
    floor: Risk = Risk.GREEN
    fixed: Risk | None = None
    #: Drop the hit when the table has at most this many rows (by a threshold's name or a number).
    min_rows: str | float | None = None
    #: Keep only when no other rule flagged the operation and the measurements make it risky.
    fallback: bool = False


@record
class RuleContext:
    """What a rule may read besides the operation: the version, the schema so far, the history."""

    version: int
    version_full: str | None
    schema: Schema
    thresholds: Thresholds
    history: list[Analyzed] = field(default_factory=list)  # operations before this one


class Rule:
    """Base class. Subclasses set ``name`` (stable kebab-case, named after the anti-pattern) and
    ``operations`` (the kinds - ``Operation.kind`` - of the operations they look at; empty means
    all), and implement ``check``. A fresh instance is made for every run, so a rule may keep state
    across statements. Kinds, not classes: a rule module imports no operation module, so a
    migration loads only the operation modules its statements need (issue 16)."""

    name: ClassVar[str] = ""
    operations: ClassVar[tuple[str, ...]] = ()
    #: Fire on tables created earlier in the migration too (default: no - they are empty).
    on_new_tables: ClassVar[bool] = False
    #: Look only at operations inside a transaction block (BEGIN, or the runner's per-file one):
    #: the rule is not asked about a statement that is its own transaction (issue 16).
    in_transaction_only: ClassVar[bool] = False

    def applies(self, item: Analyzed) -> bool:
        if self.operations and item.op.kind not in self.operations:
            return False
        if self.in_transaction_only and item.tx.tx_id is None:
            return False
        return self.on_new_tables or not item.new_table

    def check(self, item: Analyzed, ctx: RuleContext) -> Iterable[Hit]:
        raise NotImplementedError

    @classmethod
    def doc(cls) -> str:
        import sys

        return (sys.modules[cls.__module__].__doc__ or "").strip()

    @classmethod
    def summary(cls) -> str:
        return cls.doc().splitlines()[0] if cls.doc() else cls.name

    @classmethod
    def section(cls, title: str) -> str:
        """One section of the rule's documentation, dedented."""
        import textwrap

        lines = cls.doc().splitlines()
        out: list[str] = []
        inside = False
        for line in lines:
            if line.rstrip() == f"{title}:":
                inside = True
                continue
            if inside and line and not line.startswith(" ") and line.rstrip().endswith(":"):
                break
            if inside:
                out.append(line)
        return textwrap.dedent("\n".join(out)).strip()


#: ``ADD [CONSTRAINT name] FOREIGN KEY|CHECK ...`` to the end of an ALTER TABLE: the definition as written.
_ADDED = re.compile(r"\bADD\s+(?:CONSTRAINT\s+(?:\"(?:[^\"]|\"\")+\"|[^\s\"]+)\s+)?((?:FOREIGN\s+KEY|CHECK)\b.*)\Z",
                    re.I | re.S)


def not_valid_fix(item: Analyzed) -> str | None:
    """The fix the plan applies to an ADD CONSTRAINT ... CHECK / FOREIGN KEY, as its statements: the
    constraint added NOT VALID under the name the plan gives it, then VALIDATEd (the recipe of
    migspec.plan.recipes). The definition is taken from the statement's text, not printed from
    pglast's nodes (that cost a quarter of lint's time on a big corpus, issue 16); None when the
    ALTER TABLE has other sub-commands, whose text cannot be told apart without the nodes."""
    op = item.op
    tree = item.stmt.tree
    body = tree.get("AlterTableStmt") if isinstance(tree, dict) else None
    if not body or len(body.get("cmds") or ()) != 1:
        return None
    sql = item.stmt.sql.strip().rstrip(";").rstrip()
    m = _ADDED.search(sql)
    if m is None:
        return None
    definition = m.group(1)
    if not any(q in definition for q in "'\"$"):
        definition = " ".join(definition.split())
    from migspec.plan.recipes import constraint_name, not_valid_then_validate, up_sql

    name = op.name or constraint_name(op.table, op.columns, op.constraint)
    return up_sql(not_valid_then_validate(op.table, name, definition))

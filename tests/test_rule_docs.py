"""Every rule documents itself in its module docstring, in fixed sections, and is named after the
anti-pattern it flags. The Example section is SQL that PostgreSQL's own grammar (pglast) accepts."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from pglast import parse_sql

import migspec.rules
from migspec.rules import all_rules
from migspec.rules.base import DOC_SECTIONS, Rule

RULES = all_rules()
IDS = [r.name for r in RULES]

#: Names that prescribe instead of describing what is wrong (ruff's convention, style.md).
PRESCRIPTIVE = ("ban-", "use-", "require-", "disallow-", "prefer-", "avoid-", "no-", "forbid-", "enforce-")


def test_rules_exist() -> None:
    assert len(RULES) >= 30


def test_names_are_unique() -> None:
    assert len(set(IDS)) == len(IDS)


@pytest.mark.parametrize("rule", RULES, ids=IDS)
def test_name_is_kebab_case_and_names_the_anti_pattern(rule: type[Rule]) -> None:
    assert re.fullmatch(r"[a-z][a-z0-9]*(-[a-z0-9]+)+", rule.name), rule.name
    assert not rule.name.startswith(PRESCRIPTIVE)


@pytest.mark.parametrize("rule", RULES, ids=IDS)
def test_module_is_named_after_the_rule(rule: type[Rule]) -> None:
    assert rule.__module__.rsplit(".", 1)[1] == rule.name.replace("-", "_")


@pytest.mark.parametrize("rule", RULES, ids=IDS)
def test_docstring_has_every_section_in_order(rule: type[Rule]) -> None:
    doc = sys.modules[rule.__module__].__doc__ or ""
    lines = doc.strip().splitlines()
    assert lines and lines[0].strip(), "the first line is the one-line summary"
    headers = [line.rstrip()[:-1] for line in lines[1:] if line and not line[0].isspace() and line.rstrip().endswith(":")]
    assert headers == list(DOC_SECTIONS)
    for title in DOC_SECTIONS:
        assert rule.section(title).strip(), f"section {title!r} is empty"
    assert rule.summary() == lines[0]


def _strip_comment(line: str) -> str:
    quoted = False
    for i, ch in enumerate(line):
        if ch == "'":
            quoted = not quoted
        elif not quoted and line.startswith("--", i):
            return line[:i]
    return line


def _example_sql(rule: type[Rule]) -> str:
    """The Example section as SQL: ``--`` comments dropped, ``$last``-style placeholders filled
    (``$$`` dollar quotes are kept)."""
    text = "\n".join(_strip_comment(line) for line in rule.section("Example").splitlines())
    return re.sub(r"(?<!\$)\$(?!\$)[A-Za-z_]\w*", "placeholder", text)


@pytest.mark.parametrize("rule", RULES, ids=IDS)
def test_example_parses(rule: type[Rule]) -> None:
    statements = parse_sql(_example_sql(rule))
    assert statements, "the Example section holds at least one statement"


def test_example_placeholder_helper() -> None:
    class Fake(Rule):
        name = "fake-rule"

        @classmethod
        def section(cls, title: str) -> str:
            return "ALTER TABLE t ADD COLUMN x int; -- it's a comment\nSELECT '--', $last;\nDO $$ BEGIN END $$;"

    assert _example_sql(Fake) == "ALTER TABLE t ADD COLUMN x int; \nSELECT '--', placeholder;\nDO $$ BEGIN END $$;"
    assert len(parse_sql(_example_sql(Fake))) == 3


ROOT = Path(__file__).parent.parent
_URL = re.compile(r"https://[\w.-]+\.[a-z]{2,}(?:/[^\s()]*)?")
_PATH = re.compile(r"\b((?:src|tests|tools|docs|bench|examples)/[\w./-]+)")


@pytest.mark.parametrize("rule", RULES, ids=IDS)
def test_references_are_public_urls_or_files_in_the_repository(rule: type[Rule]) -> None:
    """Each reference is a line ``- <https URL or repository path> (what in it)``; every repository
    path named exists (a reference to a document that is not in the repository cannot be checked)."""
    lines = [line.strip() for line in rule.section("References").splitlines() if line.strip()]
    assert lines
    for line in lines:
        assert line.startswith("- "), f"not a '- ' item: {line!r}"
        target = line[2:].split(" ", 1)[0]
        assert _URL.fullmatch(target) or _PATH.fullmatch(target), f"neither a URL nor a repository path: {line!r}"
        for path in _PATH.findall(_URL.sub("", line)):
            assert (ROOT / path.rstrip(".")).exists(), f"{path} is not in the repository: {line!r}"
        assert ".md" not in _URL.sub("", line), f"names a document, not a URL or a path: {line!r}"


def test_the_kinds_file_is_current() -> None:
    """lint imports the rules of the operation kinds it meets, from migspec/rules/_kinds.py: it must
    say what the rule modules say (after changing a rule's ``operations``: python -m migspec.rules)."""
    from migspec.rules import kinds_source

    path = Path(migspec.rules.__file__).with_name("_kinds.py")
    assert path.read_text(encoding="utf-8") == kinds_source(), "out of date: run python -m migspec.rules"


def test_each_kind_gets_every_rule_that_looks_at_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """rules_for_kind(k) holds exactly the catalogue's rules that look at k, in its order; a rule
    module _kinds.py does not list (a rule just added) is included for every kind."""
    from migspec.rules import _kinds, all_rules, rules_for_kind

    kinds = {k for _, ops in _kinds.KINDS.values() for k in ops} | {"no_such_kind"}
    for kind in sorted(kinds):
        assert rules_for_kind(kind) == tuple(r for r in all_rules() if not r.operations or kind in r.operations)
    unlisted = dict(_kinds.KINDS)
    del unlisted["dropping_column"]
    monkeypatch.setattr(_kinds, "KINDS", unlisted)
    rules_for_kind.cache_clear()
    try:
        assert "dropping-column" in {r.name for r in rules_for_kind("create_index")}
    finally:
        monkeypatch.undo()
        rules_for_kind.cache_clear()

"""README.md stays true: it opens with the two commands, documents every subcommand with an
example, and every exit code the CLI uses; every console example's output is what the command
prints now (tools/readme_examples.py runs them and rewrites them)."""

from __future__ import annotations

import re
from pathlib import Path

import sys

import pytest

from migspec import errors
from migspec.cli import build_parser

sys.path.insert(0, str(Path(__file__).parent.parent / "tools"))
import readme_examples  # noqa: E402

README = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")


def test_opens_with_the_two_commands() -> None:
    first_block = README.split("```sh", 1)[1].split("```", 1)[0]
    assert "bash scripts/demo" in first_block and "bash scripts/test" in first_block
    ci = (Path(__file__).parent.parent / ".ci" / "run").read_text(encoding="utf-8")
    assert "scripts/test" in ci


def test_every_subcommand_has_a_section_and_an_example() -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    for name in sub.choices:
        assert re.search(rf"^### .*`migspec {name}\b", README, re.M), f"README has no section for {name}"
        assert re.search(rf"^migspec {name}\b", README, re.M), f"README has no example of {name}"


def test_exit_codes_are_documented() -> None:
    for code in (errors.EXIT_OK, errors.EXIT_FINDINGS, errors.EXIT_BAD_INPUT, errors.EXIT_REFUSED, 4, 130,
                 errors.EXIT_INTERNAL):
        assert f"**{code}**" in README, f"exit code {code} is not in README"


EXAMPLES = readme_examples.examples(README)


def test_there_are_console_examples() -> None:
    commands = [ex.command for ex in EXAMPLES]
    assert any(c.startswith("migspec lint ") for c in commands) and any("migspec plan " in c for c in commands)
    assert all(ex.shown.strip() for ex in EXAMPLES), "an example shows no output"


@pytest.mark.parametrize("example", EXAMPLES, ids=[ex.command[:60] for ex in EXAMPLES])
def test_console_example_prints_what_readme_shows(example: readme_examples.Example) -> None:
    actual = readme_examples.run(example.command)
    assert readme_examples.matches(example.shown, actual), \
        f"README.md shows another output for '$ {example.command}': run tools/readme_examples.py and review\n{actual}"


def test_markers_match_only_what_they_stand_for() -> None:
    assert readme_examples.matches("took <duration> at <time> in <path>\n", "took 12 ms at 10:00:01 in /tmp/x/y\n")
    assert readme_examples.matches("at <time>\n", "at 2026-11-20T10:00:00+00:00\n")
    assert not readme_examples.matches("took <duration>\n", "took RED\n")
    assert not readme_examples.matches("RISK: RED\n", "RISK: YELLOW\n")
    text = "x\n```console\n$ a b\nout 1\n$ c\nout 2\nmore\n```\ny\n"
    assert [(e.command, e.shown) for e in readme_examples.examples(text)] == [("a b", "out 1\n"), ("c", "out 2\nmore\n")]

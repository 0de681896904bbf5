"""README.md stays true: it opens with the two commands, documents every subcommand with an
example, and every exit code the CLI uses."""

from __future__ import annotations

import re
from pathlib import Path

from migspec import errors
from migspec.cli import build_parser

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

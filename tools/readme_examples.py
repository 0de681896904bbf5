"""README.md's console examples, run for real: every ```console block holds ``$ command`` lines,
each followed by the output it prints (stdout and stderr, as piped: plain text at 100 columns).

    .venv/bin/python tools/readme_examples.py          # rewrite every example's output from a real run
    .venv/bin/python tools/readme_examples.py --check  # exit 1 naming each example that drifted

tests/test_readme.py runs the same check. The only parts of an output allowed to differ from run to
run are written as markers: ``<time>`` (a clock time or an ISO timestamp), ``<duration>`` (e.g.
``12 ms``, ``3.4 s``) and ``<path>`` (a temporary path); the rewrite keeps a marker where the shown
output had one and the new run matches it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"

MARKERS = {
    "<time>": r"(?:\d{4}-\d\d-\d\dT)?\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)?",
    "<duration>": r"\d[\d,.]*\s?(?:ms|s|min|h)",
    "<path>": r"/\S+",
}
_BLOCK = re.compile(r"^```console\n(.*?)^```\n", re.M | re.S)


@dataclass(frozen=True)
class Example:
    command: str  # after "$ "
    shown: str  # the output lines under it, "\n"-terminated
    start: int  # offsets of the shown output in README.md
    end: int


def examples(text: str) -> list[Example]:
    out: list[Example] = []
    for block in _BLOCK.finditer(text):
        body, base = block.group(1), block.start(1)
        commands = list(re.finditer(r"^\$ (.*)\n", body, re.M))
        for k, m in enumerate(commands):
            end = commands[k + 1].start() if k + 1 < len(commands) else len(body)
            out.append(Example(m.group(1), body[m.end():end], base + m.end(), base + end))
    return out


def run(command: str) -> str:
    """The command's output as a user piping it would see it: from the repository's root, migspec
    from this interpreter's environment, no colour, stderr after stdout."""
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "FORCE_COLOR", "MIGSPEC_TRACEBACK")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["NO_COLOR"] = "1"
    done = subprocess.run(["bash", "-c", command], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    return done.stdout + done.stderr


def pattern(shown: str) -> re.Pattern[str]:
    pieces = re.split("(" + "|".join(map(re.escape, MARKERS)) + ")", shown)
    return re.compile("".join(MARKERS[p] if p in MARKERS else re.escape(p) for p in pieces))


def matches(shown: str, actual: str) -> bool:
    return pattern(shown).fullmatch(actual) is not None


def rewrite(text: str) -> str:
    """README text with every example's output replaced by a real run's (markers kept where they match)."""
    for ex in reversed(examples(text)):
        actual = run(ex.command)
        if not matches(ex.shown, actual):
            text = text[:ex.start] + actual + text[ex.end:]
    return text


def main(argv: list[str]) -> int:
    text = README.read_text(encoding="utf-8")
    if "--check" in argv:
        drifted = [ex.command for ex in examples(text) if not matches(ex.shown, run(ex.command))]
        for command in drifted:
            print(f"README.md: the output of '$ {command}' is not what it prints now", file=sys.stderr)
        return 1 if drifted else 0
    new = rewrite(text)
    if new != text:
        README.write_text(new, encoding="utf-8")
        print("README.md: examples rewritten from real runs (review the diff)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

"""Snapshots of the terminal rendering (issue 16): lint and plan output of fixed inputs at 80 and 120
columns, plain and coloured (rich, 16 colours), stored in tests/golden/render/ and compared byte for
byte; ``MIGSPEC_UPDATE_GOLDEN=1`` rewrites them (review the diff). No line is wider than the width
unless it holds SQL with no place to break; SQL laid out on several lines is the same statement
(PostgreSQL's scanner reads the same tokens, and a DO or function body's tokens too)."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from pglast.parser import scan

from migspec.lint import Report, lint
from migspec.parse.source import Migration, load_migration, parse_text
from migspec.plan.builder import PlanOptions, plan_migration
from migspec.planfile.model import Plan
from migspec.render import lint as render_lint
from migspec.render import plan as render_plan
from migspec.render.layout import Line, Sql, break_points, layout, plain
from migspec.render.terminal import render_to_string, wants_color, write
from migspec.stats import load_stats, parse_stats
from test_plan_roundtrip import CASES, CONFIRM, SETUP, STATS
from test_render import report as allowed_report

ROOT = Path(__file__).parent.parent
GOLDEN = Path(__file__).parent / "golden" / "render"
UPDATE = os.environ.get("MIGSPEC_UPDATE_GOLDEN") == "1"
WIDTHS = (80, 120)
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _demo() -> tuple[Plan, Report]:
    migration = load_migration(["examples/migrations"])
    stats = load_stats("examples/stats.yaml")
    return plan_migration(migration, stats, schema_path="examples/schema.sql")


def _case(case: str, tmp_path: Path) -> tuple[Plan, Report]:
    schema = tmp_path / "schema.sql"
    schema.write_text(SETUP, encoding="utf-8")
    migration = Migration(case, (f"{case}.sql",), tuple(parse_text(CASES[case], f"{case}.sql")))
    return plan_migration(migration, parse_stats(STATS, "stats.yaml"), schema_path=schema, pg_version=15,
                          options=PlanOptions(CONFIRM))


def _blocks(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list:  # type: ignore[type-arg]
    monkeypatch.chdir(ROOT)
    if name == "demo-lint":
        migration = load_migration(["examples/migrations"])
        return render_lint.text_blocks(lint(migration, load_stats("examples/stats.yaml")))
    if name == "demo-plan":
        return render_plan.text_blocks(*_demo())
    if name == "allowed-lint":
        return render_lint.text_blocks(allowed_report())
    return render_plan.text_blocks(*_case(name.removesuffix("-plan"), tmp_path))


SNAPSHOTS = ("demo-lint", "demo-plan", "allowed-lint", "update-plan", "rename-column-plan")


def _visible(line: Line) -> int:
    return sum(len(text) for text, _ in line)


def assert_fits(lines: list[Line], width: int) -> None:
    """A line wider than ``width`` holds SQL that had no break point within the width."""
    for line in lines:
        if _visible(line) <= width:
            continue
        col = 0
        for text, style in line:
            if style == "sql":
                room = width - col
                assert not [p for p in break_points(text) if 0 < p <= room], \
                    f"SQL could have been broken within {width} columns: {plain([line])!r}"
                break
            col += len(text)
        else:
            raise AssertionError(f"a line of prose is {_visible(line)} columns wide (> {width}): {plain([line])!r}")


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("color", [False, True], ids=["plain", "color"])
@pytest.mark.parametrize("name", SNAPSHOTS)
def test_snapshot(name: str, width: int, color: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = _blocks(name, tmp_path, monkeypatch)
    text = render_to_string(blocks, width=width, color=color)
    assert_fits(layout(blocks, width), width)
    if color:
        assert "\x1b[" in text
        assert ANSI.sub("", text) == render_to_string(blocks, width=width, color=False)  # colour adds only colour
    path = GOLDEN / f"{name}.{width}.{'ansi' if color else 'txt'}"
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"missing snapshot {path.name}: run with MIGSPEC_UPDATE_GOLDEN=1 and review it"
    assert text == path.read_text(encoding="utf-8"), f"{path.name} changed: rerun with MIGSPEC_UPDATE_GOLDEN=1 and review"


def test_risk_colours(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """RED bold red, YELLOW bold yellow, the lock bold magenta, the estimate bold cyan (16 colours)."""
    text = render_to_string(_blocks("demo-lint", tmp_path, monkeypatch), width=100, color=True)
    assert "\x1b[1;31mRED\x1b[0m" in text and "\x1b[1;33mYELLOW\x1b[0m" in text
    assert "\x1b[1;35mACCESS EXCLUSIVE\x1b[0m" in text and re.search(r"\x1b\[1;36m[\d.]+ s-[\d.]+ s\x1b\[0m", text)


def test_measurements_once_per_table_and_context_once_per_statement(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    text = render_to_string(_blocks("demo-lint", tmp_path, monkeypatch), width=100, color=False)
    assert text.count("TABLE SIZE: 20,000,000 - WRITE QPS: 400") == 1  # the table's figures, once
    assert "rows / 3,200 MB, 400 writes/s" not in text  # not again in every finding
    statements = re.findall(r"^    sql: (.*)$", text, re.M)
    assert len(statements) == len(set(statements)) == 4  # 8 findings on 4 statements: each shown once
    assert text.count("    lock: ") == 4 and text.count("(statement, lock and estimate: above)") == 4


def _tokens(sql: str) -> list[tuple[str, ...]]:
    """PostgreSQL's tokens of ``sql``; a DO or function body's own tokens in place of its text."""
    out: list[tuple[str, ...]] = []
    previous = ""
    for t in scan(sql):
        text = sql[t.start:t.end + 1]
        m = re.match(r"\$[^$]*\$", text)
        if t.name == "SCONST" and m and previous in ("DO", "AS"):
            tag = m.group(0)
            out.append(("BODY", tag, *map(repr, _tokens(text[len(tag):-len(tag)]))))
        else:
            out.append((t.name, text))
        previous = t.name
    return out


TRICKY = [
    "SELECT 'a  b   c d e f g h i j k l m n o p q r s t u v w x y z', \"a quoted  name with spaces\" FROM t",
    "SELECT E'it\\'s a   long escaped string with spaces in it and more and more', x FROM t WHERE y = 'z z'",
    "ALTER TABLE t ADD COLUMN c text DEFAULT $$a dollar   quoted value with spaces in it$$ NOT NULL",
    "DO $x$ BEGIN RAISE NOTICE 'spaces   kept here'; PERFORM 1; -- a comment   to the end\nEND $x$",
    "CREATE FUNCTION f() RETURNS text LANGUAGE sql AS $b$ SELECT 'x   y'::text /* block   comment */ $b$",
    "SELECT 'multi\n   line   literal with spaces' AS a, b FROM some_table WHERE c = 1 AND d = 2",
]


@pytest.mark.parametrize("width", (24, 40, 72))
def test_laid_out_sql_is_the_same_statement(width: int, tmp_path: Path) -> None:
    statements = list(TRICKY)
    for case in ("update", "rename-column", "retype-rewrite", "drop-index"):
        plan, _ = _case(case, tmp_path)
        statements += [s for p in plan.phases for st in p.steps for s in (*st.up, *st.down)]
    for sql in statements:
        lines = layout([Sql(sql, 6, (("UP: ", "label"),))], width)
        start = 6 + len("UP: ")
        rebuilt = "\n".join(plain([line]).rstrip("\n")[start:] for line in lines)
        assert _tokens(rebuilt) == _tokens(sql), f"{sql!r} became {rebuilt!r}"
        if "multi\n" not in sql:  # assert_fits reads each line alone: not one that starts inside a literal
            assert_fits(lines, width)


def test_break_points_skip_literals_names_and_comments() -> None:
    sql = "SELECT 'a b', \"c d\", $$e f$$, E'g\\' h' -- i j\nFROM t /* k l */"
    points = break_points(sql)
    pieces = [sql[a:b] for a, b in zip([0] + [p + 1 for p in points], points)]
    assert pieces == ["SELECT", "'a b',", '"c d",', "$$e f$$,", "E'g\\' h'", "-- i j", "FROM", "t"]


@pytest.mark.parametrize(("mode", "isatty", "environ", "expected"), [
    ("auto", True, {}, True),
    ("auto", False, {}, False),
    ("auto", True, {"NO_COLOR": "1"}, False),
    ("auto", True, {"NO_COLOR": ""}, True),  # no-color.org: set and not empty
    ("auto", True, {"TERM": "dumb"}, False),
    ("always", False, {"NO_COLOR": "1"}, True),
    ("never", True, {}, False),
])
def test_when_colour(mode: str, isatty: bool, environ: dict[str, str], expected: bool) -> None:
    class Stream(io.StringIO):
        def isatty(self) -> bool:
            return isatty

    assert wants_color(mode, Stream(), environ) is expected


def test_color_flag_on_the_command_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Piped: plain by default, ANSI with --color always; NO_COLOR=1 does not override --color always."""
    env = {**os.environ, "NO_COLOR": "1"}
    env.pop("COLUMNS", None)
    base = [sys.executable, "-m", "migspec", "lint", "examples/migrations", "--stats", "examples/stats.yaml"]
    plain_run = subprocess.run(base, cwd=ROOT, capture_output=True, text=True, env=env)
    always = subprocess.run([*base, "--color", "always"], cwd=ROOT, capture_output=True, text=True, env=env)
    assert plain_run.returncode == always.returncode == 1
    assert "\x1b[" not in plain_run.stdout and "\x1b[1;31mRED\x1b[0m" in always.stdout
    assert ANSI.sub("", always.stdout) == plain_run.stdout  # same layout at the plain width
    assert max(map(len, plain_run.stdout.splitlines())) <= 100


def test_piped_lint_does_not_import_rich() -> None:
    """rich costs ~40 ms of imports: plain and JSON output never load it."""
    code = ("import sys, io; from migspec.cli import main; sys.stdout = io.StringIO(); "
            "main(['lint', 'examples/migrations', '--stats', 'examples/stats.yaml']); "
            "main(['lint', 'examples/migrations', '--stats', 'examples/stats.yaml', '--format', 'json']); "
            "sys.stdout = sys.__stdout__; print(sorted(m for m in sys.modules if m.split('.')[0] == 'rich'))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_write_uses_the_terminal_width(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    blocks = _blocks("demo-plan", tmp_path, monkeypatch)
    monkeypatch.setenv("COLUMNS", "72")
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("TERM", raising=False)
    out = Tty()
    write(blocks, out, "never")
    assert out.getvalue() == render_to_string(blocks, width=72, color=False)
    out = Tty()
    write(blocks, out, "auto")
    assert "\x1b[" in out.getvalue() and ANSI.sub("", out.getvalue()) == render_to_string(blocks, width=72, color=False)

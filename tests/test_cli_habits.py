"""Command-line habits (issue 16): no arguments is help, mistyped commands and rule names get a
suggestion, ``-`` reads the migration from standard input, every command's ``--help`` ends with
examples that parse, and the shell completion scripts generated from the parser work in the shell."""

from __future__ import annotations

import io
import json
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from migspec.cli import build_parser, main
from migspec.shell import EXAMPLES, SHELLS, completion_script
from migspec.suggest import did_you_mean

STATS = {"pg_version": 16, "source": "production", "tables": {"public.orders": {
    "rows": 20_000_000, "size_bytes": 3_200_000_000, "write_qps": 400,
    "lock_contention": {"longest_transaction_seconds": 4, "lock_waits_per_minute": 0.5}}}}


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def test_no_arguments_is_help_and_exit_0(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err = cli(capsys)
    assert (rc, err) == (0, "")
    assert out.startswith("usage: migspec") and "lint" in out and "completion" in out


@pytest.mark.parametrize(("argv", "expected"), [
    (["lnt"], "(did you mean 'lint'?)"),
    (["verfy", "x"], "(did you mean 'verify'?)"),
    (["upgrade", "djngo"], "(did you mean 'django'?)"),
    (["plan", "m.sql", "--format", "jsn"], "(did you mean 'json'?)"),
    (["rules", "renaming-colum"], "unknown rule 'renaming-colum' (did you mean 'renaming-column'?)"),
    (["completion", "bsh"], "(did you mean 'bash'?)"),
])
def test_mistypes_get_a_suggestion(capsys: pytest.CaptureFixture[str], argv: list[str], expected: str) -> None:
    rc, out, err = cli(capsys, *argv)
    assert (rc, out) == (2, "")
    assert err.startswith("migspec: ") and err.count("\n") == 1 and expected in err, err


def test_mistyped_rule_in_a_directive_and_in_the_config(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "m.sql").write_text("-- migspec: allow renaming-colum reason: x\nALTER TABLE orders RENAME a TO b;\n")
    (tmp_path / "s.json").write_text(json.dumps(STATS))
    rc, _, err = cli(capsys, "lint", "m.sql", "--stats", "s.json")
    assert rc == 2 and "unknown rule 'renaming-colum' in 'migspec: allow' (did you mean 'renaming-column'?)" in err
    (tmp_path / "m.sql").write_text("ALTER TABLE orders RENAME a TO b;\n")
    (tmp_path / "pyproject.toml").write_text('[tool.migspec]\nignore = [{rule = "renamng-column", reason = "x"}]\n')
    rc, _, err = cli(capsys, "lint", "m.sql", "--stats", "s.json")
    assert rc == 2 and "unknown rule 'renamng-column' (did you mean 'renaming-column'?)" in err


def test_no_suggestion_for_nothing_close() -> None:
    assert did_you_mean("zzzz", ["lint", "plan"]) == ""
    assert did_you_mean("pln", ["lint", "plan"]) == " (did you mean 'plan'?)"


def _stdin(monkeypatch: pytest.MonkeyPatch, data: bytes) -> None:
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(data)))


def test_dash_reads_the_migration_from_stdin(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.json").write_text(json.dumps(STATS))
    sql = b"SELECT 1;\nCREATE INDEX orders_t_idx ON orders (t);\n"
    _stdin(monkeypatch, sql)
    rc, out, err = cli(capsys, "lint", "-", "--stats", "s.json", "--format", "json")
    doc = json.loads(out)
    assert (rc, doc["migration"]) == (1, "stdin")
    assert {f["location"] for f in doc["findings"]} == {"stdin:2:1"}
    _stdin(monkeypatch, sql)
    rc, out, err = cli(capsys, "plan", "-", "--stats", "s.json", "--format", "json")
    assert rc == 0 and json.loads(out)["phases"][0]["steps"], err
    _stdin(monkeypatch, b"SELEC 1;")
    rc, out, err = cli(capsys, "lint", "-", "--stats", "s.json")
    assert (rc, out) == (2, "") and err.startswith("migspec: stdin:1:1: syntax error")
    _stdin(monkeypatch, b"\xff\xfe")
    rc, out, err = cli(capsys, "lint", "-", "--stats", "s.json")
    assert (rc, out) == (2, "") and err.startswith("migspec: stdin:1:1: not UTF-8 text")
    rc, out, err = cli(capsys, "lint", "-", "-", "--stats", "s.json")
    assert rc == 2 and "only once" in err
    closed = io.TextIOWrapper(io.BytesIO())
    closed.close()
    monkeypatch.setattr("sys.stdin", closed)
    rc, out, err = cli(capsys, "lint", "-", "--stats", "s.json")
    assert (rc, out) == (2, "") and err.startswith("migspec: stdin: cannot read: ")


def _example_argv(line: str) -> list[str]:
    """The migspec arguments of an example line: after 'migspec', before a comment, pipe or redirect."""
    words = shlex.split(line.split("migspec ", 1)[1].replace('"$DSN"', "dbname=shop"), comments=True)
    for stop in ("|", ">", ">>"):
        if stop in words:
            words = words[:words.index(stop)]
    return words


@pytest.mark.parametrize("command", sorted(EXAMPLES))
def test_help_ends_with_examples_that_parse(capsys: pytest.CaptureFixture[str], command: str) -> None:
    rc, out, _ = cli(capsys, command, "--help")
    assert rc == 0
    tail = out.split("\nexamples:\n", 1)[1]
    assert [line.strip() for line in tail.strip().splitlines()] == list(EXAMPLES[command])
    for line in EXAMPLES[command]:
        argv = _example_argv(line)
        assert argv[0] == command, line
        build_parser().parse_args(argv)  # raises (exit 2) if an example no longer parses
        # main() builds only the command's own parser (start-up, issue 16): the same parse
        assert build_parser(command).parse_args(argv) == build_parser().parse_args(argv)
    sub = next(a for a in build_parser()._actions if a.__class__.__name__ == "_SubParsersAction")
    assert out == sub.choices[command].format_help()  # and the same help as the full parser's


def test_every_command_has_examples() -> None:
    sub = next(a for a in build_parser()._actions if a.__class__.__name__ == "_SubParsersAction")
    assert set(sub.choices) == set(EXAMPLES)


def _bash_complete(script: Path, *words: str) -> list[str]:
    """COMPREPLY for the command line ``words`` (the last one being completed), in a real bash."""
    line = " ".join(shlex.quote(w) for w in words)
    code = (f"source {shlex.quote(str(script))}; COMP_WORDS=({line}); COMP_CWORD={len(words) - 1}; _migspec; "
            'printf "%s\\n" "${COMPREPLY[@]}"')
    done = subprocess.run(["bash", "--norc", "-c", code], capture_output=True, text=True, check=True)
    return done.stdout.split()


def test_bash_completion(tmp_path: Path) -> None:
    script = tmp_path / "migspec.bash"
    script.write_text(completion_script(build_parser(), "bash"))
    assert _bash_complete(script, "migspec", "li") == ["lint"]
    assert set(_bash_complete(script, "migspec", "")) >= {"lint", "plan", "verify", "completion", "upgrade"}
    assert _bash_complete(script, "migspec", "lint", "--for") == ["--format"]
    assert _bash_complete(script, "migspec", "lint", "--format", "") == ["text", "json", "github", "sarif"]
    assert _bash_complete(script, "migspec", "apply", "p.json", "--phase", "m") == ["migrate"]
    assert _bash_complete(script, "migspec", "upgrade", "dj") == ["django"]
    assert _bash_complete(script, "migspec", "upgrade", "postgres", "--meth") == ["--method"]
    assert _bash_complete(script, "migspec", "completion", "f") == ["fish"]
    (tmp_path / "db").mkdir()
    (tmp_path / "db" / "mig.sql").touch()
    assert _bash_complete(script, "migspec", "lint", str(tmp_path / "db" / "mi")) == [str(tmp_path / "db" / "mig.sql")]


@pytest.mark.parametrize("shell", SHELLS)
def test_completion_command_prints_the_script(capsys: pytest.CaptureFixture[str], shell: str) -> None:
    rc, out, _ = cli(capsys, "completion", shell)
    assert rc == 0 and out == completion_script(build_parser(), shell)
    assert "lint" in out and "--format" in out or "-l format" in out


@pytest.mark.skipif(not shutil.which("zsh"), reason="zsh is not installed")
def test_zsh_completion_parses(tmp_path: Path) -> None:
    script = tmp_path / "_migspec"
    script.write_text(completion_script(build_parser(), "zsh"))
    subprocess.run(["zsh", "-n", str(script)], check=True)


def test_fish_completion_lines() -> None:
    """Every line is a ``complete`` command whose quotes balance (fish itself, when installed)."""
    text = completion_script(build_parser(), "fish")
    for line in text.splitlines()[1:]:
        assert line.startswith("complete -c migspec ")
        assert shlex.split(line.replace("\\'", "")), line
    assert "-n '__fish_seen_subcommand_from lint' -l format -xa 'text json github sarif'" in text
    if shutil.which("fish"):
        subprocess.run(["fish", "--no-execute", "-c", text], check=True)

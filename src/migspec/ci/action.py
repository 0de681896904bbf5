"""The GitHub Action's script: one lint, three outputs - SARIF for code scanning, workflow
annotations on the changed lines, and a job summary (markdown table) - and the exit code.

Run by ``action.yml`` as ``python -m migspec.ci.action``; inputs arrive as ``INPUT_*`` environment
variables (the way GitHub passes ``with:`` values), outputs go to ``$GITHUB_OUTPUT`` and
``$GITHUB_STEP_SUMMARY``. Settings not given as inputs come from ``[tool.migspec]``.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
from pathlib import Path

from migspec.errors import EXIT_FINDINGS, EXIT_OK, MigspecError

_ICON = {"RED": ":red_circle:", "YELLOW": ":yellow_circle:", "GREEN": ":green_circle:"}


def _input(name: str) -> str:
    return os.environ.get(f"INPUT_{name.upper().replace('-', '_')}", "").strip()


def _append(var: str, text: str) -> None:
    path = os.environ.get(var)
    if path:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(text)


def summary_markdown(report, *, failing: int, threshold: str) -> str:  # type: ignore[no-untyped-def]
    lines = [f"## migspec: {report.migration.name} is {_ICON.get(str(report.risk), '')} {report.risk}", ""]
    findings = [f for f in report.findings]
    if not findings:
        lines.append(f"No findings: {len(report.results)} operation(s), all GREEN.")
    else:
        lines += ["| risk | where | rule | operation | why |", "|---|---|---|---|---|"]
        for f in findings:
            why = f.message.split(" [")[0].replace("|", "\\|")
            origin = (f.origin or f.statement).replace("|", "\\|")[:100]
            tag = f"{f.risk}" + (" (allowed)" if f.suppressed else "")
            lines.append(f"| {tag} | `{f.location}` | `{f.rule}` | `{origin}` | {why} |")
    lines += ["", f"{failing} finding(s) at or above {threshold.upper()} (fail-on)."]
    return "\n".join(lines) + "\n"


def run(argv: list[str] | None = None) -> int:
    from migspec.cli import build_parser, lint_report
    from migspec.frameworks import NothingPending
    from migspec.render.lint import render_github, render_sarif

    args = ["lint", *([_input("path")] if _input("path") else [])]
    if _input("stats"):
        args += ["--stats", _input("stats")]
    if _input("fail-on"):
        args += ["--fail-on", _input("fail-on")]
    ns = build_parser().parse_args(args + shlex.split(_input("args")) + list(argv or []))
    try:
        report, failing = lint_report(ns)  # [tool.migspec] fills what the inputs leave unsaid
    except NothingPending as exc:
        _append("GITHUB_STEP_SUMMARY", f"## migspec\n\n{exc}\n")
        _append("GITHUB_OUTPUT", "risk=GREEN\nfindings=0\n")
        sys.stdout.write(f"migspec: {exc}\n")
        return EXIT_OK
    sarif = Path(_input("sarif-file") or "migspec.sarif")
    sarif.write_text(render_sarif(report), encoding="utf-8")
    sys.stdout.write(render_github(report))
    _append("GITHUB_STEP_SUMMARY", summary_markdown(report, failing=len(failing), threshold=ns.fail_on))
    _append("GITHUB_OUTPUT", f"risk={report.risk}\nfindings={len(failing)}\nsarif-file={sarif}\n")
    return EXIT_FINDINGS if failing else EXIT_OK


def main() -> int:
    try:
        return run()
    except MigspecError as exc:
        sys.stderr.write(f"migspec: {exc}\n")
        sys.stdout.write(f"::error::migspec: {json.dumps(str(exc))[1:-1]}\n")
        return exc.exit_code


if __name__ == "__main__":
    raise SystemExit(main())

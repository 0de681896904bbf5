"""Measurements taken by running the project's own interpreters: framework and Python versions,
installed distributions' trove classifiers, the project's tests (with deprecation warnings
counted), and commands such as ``manage.py makemigrations --check --dry-run``.

Nothing here writes to a database: the commands run are the project's read-only checks and its
test suite (which builds its own test database).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

from pathlib import Path

from migspec.errors import InputError
from migspec.frozen import frozen

#: How long one probe may run; a test suite gets ``TEST_TIMEOUT_S``.
PROBE_TIMEOUT_S = 60.0
TEST_TIMEOUT_S = 1800.0

_PROBE = r"""
import importlib.metadata as md, json, platform, sys
out = {"python": platform.python_version(), "versions": {}, "classifiers": {}}
for name in sys.argv[1:]:
    try:
        out["versions"][name] = md.version(name)
    except md.PackageNotFoundError:
        pass
seen = set()
for dist in md.distributions():
    dist_name = (dist.metadata["Name"] or "").lower()
    if not dist_name or dist_name in seen:
        continue
    seen.add(dist_name)
    tags = [c for c in (dist.metadata.get_all("Classifier") or []) if c.startswith("Framework :: ")]
    if tags:
        out["classifiers"][dist_name] = [dist.version, tags]
print(json.dumps(out))
"""


@frozen
class Environment:
    """One interpreter the project runs under (its current or its target framework version)."""

    python_path: str
    python: str  # e.g. "3.11.7"
    versions: dict[str, str]  # the framework's and its companions' installed versions
    classifiers: dict[str, tuple[str, tuple[str, ...]]]  # dist -> (version, Framework :: classifiers)


@frozen
class TestRun:
    ok: bool
    exit_code: int
    warnings: dict[str, int]  # warning class -> occurrences
    tail: str  # the last lines of output, for the report

    @property
    def warning_count(self) -> int:
        return sum(self.warnings.values())


def probe(python: str, names: tuple[str, ...], project: Path) -> Environment:
    """Run ``python`` once to read its version, the named distributions' versions and every
    distribution's ``Framework ::`` classifiers."""
    try:
        proc = subprocess.run([python, "-c", _PROBE, *names], cwd=project, capture_output=True, text=True,
                              timeout=PROBE_TIMEOUT_S, env=_env(project))
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise InputError(f"{python}: cannot run the project's interpreter: {exc}") from None
    if proc.returncode != 0:
        raise InputError(f"{python}: the interpreter failed: {_last_line(proc.stderr)}")
    data = json.loads(proc.stdout.strip().splitlines()[-1])
    return Environment(python, data["python"], data["versions"],
                       {k: (v[0], tuple(v[1])) for k, v in data["classifiers"].items()})


def run_command(python: str, args: list[str], project: Path, timeout: float = PROBE_TIMEOUT_S,
                extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run([python, *args], cwd=project, capture_output=True, text=True, timeout=timeout,
                              env=_env(project, extra_env))
    except subprocess.TimeoutExpired:
        raise InputError(f"{python} {' '.join(args)}: did not finish in {timeout:g} s") from None
    except OSError as exc:
        raise InputError(f"{python}: cannot run: {exc.strerror or exc}") from None


def run_tests(python: str, args: list[str], project: Path, warning_pattern: str,
              extra_env: dict[str, str] | None = None) -> TestRun:
    """The project's tests with every warning shown once per location (``-W always``), counting
    the framework's deprecation warning classes that ``warning_pattern`` matches."""
    proc = run_command(python, ["-W", "always", *args], project, TEST_TIMEOUT_S, extra_env)
    output = proc.stdout + proc.stderr
    counts: dict[str, int] = {}
    for name in re.findall(warning_pattern, output):
        counts[name] = counts.get(name, 0) + 1
    tail = "\n".join(output.strip().splitlines()[-12:])
    return TestRun(proc.returncode == 0, proc.returncode, dict(sorted(counts.items())), tail)


def _env(project: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    # the project's own modules import from its root, as under manage.py or pytest's rootdir
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(project), env.get("PYTHONPATH", "")) if p)
    env.pop("PYTHONWARNINGS", None)
    env.update(extra or {})
    return env


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


def default_python() -> str:
    return sys.executable

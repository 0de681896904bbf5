"""Real framework versions for the upgrade tests, installed once and cached across sessions.

``pip install --target <cache>/<name>==<version>`` puts one pinned release in its own directory; a
two-line wrapper script runs this interpreter with that directory on ``PYTHONPATH`` - the
"project's interpreter" the ``upgrade`` command is given.  The cache is ``$MIGSPEC_FRAMEWORK_CACHE``,
else ``~/.cache/migspec/frameworks``.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

DJANGO_CURRENT = "4.2.30"
DJANGO_TARGET = "5.2.19"
SQLALCHEMY_CURRENT = "1.4.54"
SQLALCHEMY_TARGET = "2.0.58"
DJANGO_UPGRADE = "1.33.0"

HERE = Path(__file__).resolve().parent
SAMPLES = HERE / "upgrade"


def cache_root() -> Path:
    env = os.environ.get("MIGSPEC_FRAMEWORK_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "migspec" / "frameworks"


def install(spec: str, deps: bool = True) -> Path:
    """The directory holding ``spec`` (e.g. ``django==4.2.30``) and, unless ``deps`` is false (a
    plugin that must not pull in another framework release), its dependencies."""
    target = cache_root() / (spec if deps else f"{spec}-nodeps")
    if (target / ".complete").exists():
        return target
    tmp = target.with_name(target.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check",
                           "--only-binary", ":all:", "--target", str(tmp), spec, *([] if deps else ["--no-deps"])],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        pytest.skip(f"cannot install {spec} from the package index: {proc.stderr.strip()[-300:]}")
    (tmp / ".complete").write_text(spec)
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    return target


def python_with(spec: str, *plugins: str) -> str:
    """An executable that runs this interpreter with ``spec`` (and ``plugins``, without their
    dependencies) importable."""
    sites = os.pathsep.join(str(p) for p in (install(spec), *(install(x, deps=False) for x in plugins)))
    wrapper = cache_root() / "bin" / ("python-" + "+".join((spec, *plugins)))
    text = (f"#!/bin/sh\nPYTHONPATH=\"${{PYTHONPATH:+$PYTHONPATH:}}{sites}\" exec {shlex.quote(sys.executable)} "
            '"$@"\n')
    if not wrapper.exists() or wrapper.read_text() != text:
        wrapper.parent.mkdir(parents=True, exist_ok=True)
        tmp = wrapper.with_name(wrapper.name + f".tmp{os.getpid()}")
        tmp.write_text(text)
        tmp.chmod(0o755)
        tmp.rename(wrapper)
    return str(wrapper)


def copy_sample(name: str, dest: Path) -> Path:
    project = dest / name
    shutil.copytree(SAMPLES / name, project, ignore=shutil.ignore_patterns("__pycache__", "*.sqlite3"))
    return project

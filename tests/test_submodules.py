"""migspec.submodules lists a package's modules as ``pkgutil.iter_modules`` does (the rule
catalogue and the planner's rewrites are found with it, without pkgutil's ``inspect`` import at
start-up, issue 16): compared with pkgutil itself on real packages and on a made-up directory
of every kind of entry."""

from __future__ import annotations

import importlib
import importlib.machinery
import pkgutil
import sys
from pathlib import Path

import pytest

from migspec.submodules import submodule_names


def _pkgutil(path: list[str]) -> list[str]:
    return sorted({m.name for m in pkgutil.iter_modules(path)})


@pytest.mark.parametrize("package", ["migspec.rules", "migspec.plan.rewrites", "migspec", "pglast", "email",
                                     "json", "encodings", "importlib"])
def test_a_package_s_modules_are_those_pkgutil_finds(package: str) -> None:
    path = list(importlib.import_module(package).__path__)
    assert submodule_names(path) == _pkgutil(path)
    assert submodule_names(path)  # every one of these packages has modules


def test_every_kind_of_entry_is_read_as_pkgutil_reads_it(tmp_path: Path) -> None:
    extension = next(s for s in importlib.machinery.EXTENSION_SUFFIXES if s.count(".") > 1)
    for name in ("plain.py", "__init__.py", "compiled.pyc", f"native{extension}", "notes.md", "two.dots.py",
                 f"compiled_tagged.cpython-{sys.version_info.major}{sys.version_info.minor}.pyc", "both.py"):
        (tmp_path / name).write_text("")
    for directory, inside in (("pkg", "__init__.py"), ("both", "__init__.py"), ("namespace", "mod.py"),
                              ("dotted.dir", "__init__.py"), ("__pycache__", "plain.cpython-311.pyc"),
                              ("compiled_pkg", "__init__.pyc")):
        (tmp_path / directory).mkdir()
        (tmp_path / directory / inside).write_text("")
    other = tmp_path / "second"
    other.mkdir()
    (other / "from_second.py").write_text("")
    path = [str(tmp_path), str(other), str(tmp_path / "missing")]
    # Not: __init__, notes.md, two.dots, the tagged .pyc (a dot left in its name), the directory
    # without __init__ (a namespace package: pkgutil skips it), the dotted directory, __pycache__.
    assert submodule_names(path) == _pkgutil(path) == ["both", "compiled", "compiled_pkg", "from_second",
                                                       "native", "pkg", "plain"]

"""pglast's node and enum classes, created when first used instead of when pglast is imported.

Importing pglast runs ``pglast.enums`` and ``pglast.ast``: about 80 enum classes and 270 node
classes, built at every start - ``import pglast.parser`` took 43-71 ms of which these were all but
13-15 ms (measured on the benchmark machine, 2026-12-01, fresh interpreters). ``migspec lint``
never uses them: it parses with libpg_query's JSON tree (``pglast.parser.parse_sql_json``, issue
16) and reads keywords from ``pglast.keywords``. The plan and the schema model use them, through
ordinary ``from pglast import ast`` imports, which still work: each of the two modules is put in
``sys.modules`` as an empty module that runs its own code the first time one of its attributes is
asked for, before pglast's package ``__init__`` imports them.

``importlib.util.LazyLoader`` cannot do this: the import system itself reads the module's
``__spec__`` when pglast's package imports it, and any attribute read makes a LazyLoader module
load. Here the module's spec and file are ordinary attributes, set at once; only a missing
attribute (a class or enum name) runs the module.
"""

from __future__ import annotations

import importlib.machinery  # not importlib.util: it imports more (~1.5 ms at every start)
import sys
import _thread  # not threading: ~1 ms more at every start, for one lock
import types
from collections.abc import Callable
from typing import Any

#: The submodules of pglast deferred; each is imported by pglast's package and parser at import.
DEFERRED = ("pglast.ast", "pglast.enums")

_loading = _thread.RLock()


class _DeferredModule(types.ModuleType):
    """A module whose code runs at the first read of an attribute it does not have yet."""

    def __getattr__(self, name: str) -> Any:  # only called for names not (yet) in the module
        with _loading:  # another thread asking meanwhile waits for the code to have run
            if not self.__dict__.get("_migspec_ran"):  # set first: a read from its own code must not rerun it
                self.__dict__["_migspec_ran"] = True
                try:
                    self.__spec__.loader.exec_module(self)  # type: ignore[union-attr]
                except BaseException:
                    self.__dict__["_migspec_ran"] = False  # its error again at the next read, not a bare AttributeError
                    raise
        try:
            return self.__dict__[name]
        except KeyError:
            raise AttributeError(f"module {self.__name__!r} has no attribute {name!r}") from None


def defer_pglast_classes() -> None:
    """Put pglast's ``ast`` and ``enums`` in ``sys.modules`` as deferred modules - unless pglast
    was imported already (by whoever imported migspec), or cannot be found (its import will say so)."""
    if "pglast" in sys.modules:
        return
    package = importlib.machinery.PathFinder.find_spec("pglast")  # finds it without running it
    if package is None or package.submodule_search_locations is None:
        return
    deferred = {}
    for name in DEFERRED:
        spec = importlib.machinery.PathFinder.find_spec(name, list(package.submodule_search_locations))
        if spec is None or spec.loader is None:
            continue
        module = _DeferredModule(name)
        module.__spec__, module.__loader__, module.__file__ = spec, spec.loader, spec.origin
        module.__package__ = spec.parent
        if spec.submodule_search_locations is not None:  # pglast.enums is a package
            module.__path__ = list(spec.submodule_search_locations)
        sys.modules[name] = deferred[name.rsplit(".", 1)[1]] = module
    # The import system names a submodule on its package only when it loads the submodule itself:
    # without this, ``import pglast.ast; pglast.ast.X`` failed. Named once pglast's package has run,
    # when the command imports it (not here: a command runs with the cycle collector paused from
    # its first import, see migspec.collector).
    run_package = package.loader.exec_module  # type: ignore[union-attr]

    def exec_package(module: types.ModuleType) -> None:
        run_package(module)
        for attr, submodule in deferred.items():
            if getattr(module, attr, None) is not submodule:
                setattr(module, attr, submodule)

    package.loader.exec_module = exec_package  # type: ignore[union-attr, method-assign]
    sys.meta_path.insert(0, _Found(package))


class _Found:
    """A finder that gives pglast's spec, found (and its loader wrapped) by defer_pglast_classes,
    once - then leaves the path to the ordinary finders."""

    def __init__(self, spec: importlib.machinery.ModuleSpec) -> None:
        self.spec = spec

    def find_spec(self, name: str, path: object = None, target: object = None) -> importlib.machinery.ModuleSpec | None:
        if name != self.spec.name:
            return None
        if self in sys.meta_path:
            sys.meta_path.remove(self)
        return self.spec


def is_deferred(name: str) -> bool:
    """Whether ``name`` is still a deferred module whose code has not run."""
    module = sys.modules.get(name)
    return isinstance(module, _DeferredModule) and not module.__dict__.get("_migspec_ran")


def after_import(name: str, callback: Callable[[types.ModuleType], None]) -> Callable[[], None]:
    """Run ``callback(module)`` once the module ``name`` is imported: now when it already is, else
    right after its code has run (a finder, first on ``sys.meta_path``, wraps the loader the other
    finders give, as defer_pglast_classes does for pglast's package). The CLI sets its one-line
    report of a failed thread this way: a command that starts no thread (lint) never imports
    ``threading`` for it (issue 16: start-up). Returns what cancels a callback still waiting."""
    module = sys.modules.get(name)
    if module is not None:
        callback(module)
        return lambda: None
    finder = _AfterImport(name, callback)
    sys.meta_path.insert(0, finder)

    def cancel() -> None:
        if finder in sys.meta_path:
            sys.meta_path.remove(finder)

    return cancel


class _AfterImport:
    """The finder of :func:`after_import`: finds nothing itself; for its module, asks the finders
    after it, and wraps the loader's ``exec_module`` so that the callback runs after the module's
    code. Removes itself at the first find (once)."""

    def __init__(self, name: str, callback: Callable[[types.ModuleType], None]) -> None:
        self.name, self.callback = name, callback

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if name != self.name or self not in sys.meta_path:
            return None
        sys.meta_path.remove(self)
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            spec = find(name, path, target) if find else None
            if spec is not None:
                break
        else:
            return None  # the import system says it is not found, as without this finder
        loader, callback = spec.loader, self.callback
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        run = loader.exec_module

        def exec_then(module: types.ModuleType) -> None:
            run(module)
            callback(module)

        loader.exec_module = exec_then  # type: ignore[method-assign]
        return spec

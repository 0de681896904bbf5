"""``@frozen``: a frozen dataclass whose ``__init__`` is cheap.

A frozen dataclass's generated ``__init__`` sets each field through ``object.__setattr__`` (the
class's own ``__setattr__`` refuses every assignment): 3.0 us for a 19-field class where a plain
one takes 0.36 us (CPython 3.11, measured on the benchmark machine). Lint builds about 130,000
frozen values on 10,000 statements (statements, operations, effects, assessments, findings), so
that was a tenth of its time (issue 16, BENCHMARKS.md section 1).

``@frozen`` is ``@dataclass(frozen=True, ...)`` - same fields, equality, ordering, hash, repr,
``replace()``, still refusing assignment after construction - with an ``__init__`` of the same
signature that fills the new instance's ``__dict__`` directly (0.8 us for those 19 fields).
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable
from typing import Any, TypeVar, dataclass_transform

T = TypeVar("T")


@dataclass_transform(frozen_default=True)
def frozen(cls: type[T] | None = None, /, **options: Any) -> Any:
    """``@frozen`` or ``@frozen(kw_only=True, order=True, ...)``: the options are dataclass()'s."""
    def wrap(c: type[T]) -> type[T]:
        documented = bool(c.__dict__.get("__doc__"))
        if not documented:
            c.__doc__ = "-"  # dataclass() would describe an inherited __init__'s signature
        # init=False: dataclass() would compile an __init__ only to have it replaced (start-up time)
        c = dataclasses.dataclass(frozen=True, init=False, **options)(c)
        c.__init__ = _init(c)  # type: ignore[misc]
        if not documented:  # the __doc__ dataclass() gives an undocumented class, from this __init__
            c.__doc__ = c.__name__ + str(inspect.signature(c)).replace(" -> None", "")
        return c

    return wrap if cls is None else wrap(cls)


def _init(cls: type) -> Callable[..., None]:
    """The ``__init__`` dataclass() would write - the same parameters in the same order (positional
    fields, then keyword-only ones), defaults and default factories - storing into ``__dict__``."""
    if hasattr(cls, "__post_init__") or "__slots__" in cls.__dict__ or "__init__" in cls.__dict__:
        raise TypeError(f"@frozen does not handle {cls.__name__}'s own __init__, __post_init__ or __slots__")
    env: dict[str, Any] = {"_FACTORY": _FACTORY}
    positional: list[str] = []
    keyword: list[str] = []
    body = ["_values = self.__dict__"]
    for f in dataclasses.fields(cls):
        if f.default_factory is not dataclasses.MISSING:
            env[f"_factory_{f.name}"] = f.default_factory
            default, value = "_FACTORY", f"_factory_{f.name}()"
            if f.init:
                value = f"{value} if {f.name} is _FACTORY else {f.name}"
        elif not f.init:
            continue  # dataclass() leaves it to the class attribute (its default), or unset
        elif f.default is not dataclasses.MISSING:
            env[f"_default_{f.name}"] = f.default
            default, value = f"_default_{f.name}", f.name
        else:
            default, value = "", f.name
        body.append(f"_values[{f.name!r}] = {value}")
        if f.init:
            params = keyword if f.kw_only else positional
            if not default and params and "=" in params[-1] and params is positional:
                raise TypeError(f"{cls.__name__}: non-default argument {f.name!r} follows default argument")
            params.append(f"{f.name}={default}" if default else f.name)
    signature = ", ".join(["self", *positional, *(["*", *keyword] if keyword else [])])
    source = f"def __init__({signature}):\n    " + "\n    ".join(body) + "\n"
    exec(source, env)  # noqa: S102 - our own text, built from the class's fields
    init = env["__init__"]
    init.__annotations__ = {**{f.name: f.type for f in dataclasses.fields(cls) if f.init}, "return": None}
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__module__ = cls.__module__
    return init  # type: ignore[no-any-return]


class _Factory:
    """The default of a parameter whose field has a default_factory: the factory is called then."""

    def __repr__(self) -> str:
        return "<factory>"


_FACTORY = _Factory()

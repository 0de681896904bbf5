"""``@frozen`` and ``@record``: dataclasses that are cheap to create and to construct.

``@frozen`` is ``@dataclass(frozen=True, ...)`` and ``@record`` is ``@dataclass(...)`` - the same
fields (``dataclasses.fields``, ``replace``, ``asdict`` work on them), ``__init__`` signature,
defaults and factories, equality, hash, order and repr, and ``@frozen`` still refuses assignment -
built differently, for two costs measured on the benchmark machine (CPython 3.11):

* **Creating the class**, at every start: dataclass() compiles each generated method from source
  with exec(), about 1 ms per frozen class (1.06 ms with ``init=False``; 0.06 ms for the fields
  alone). ``migspec lint`` of one small file creates ~73 of them, a third of its start-up (issue
  16: one file in under 100 ms). Here dataclass() only collects the fields; equality, hash,
  order, repr and the refusal of assignment are shared functions written once below, which read a
  class's fields through an ``operator.attrgetter`` made for it; only ``__init__`` is compiled,
  one exec() per class, as its signature must be the class's own.
* **Constructing an instance**: a frozen dataclass's ``__init__`` sets each field through
  ``object.__setattr__`` (the class's ``__setattr__`` refuses): 3.0 us for a 19-field class where
  a plain one takes 0.36 us. Lint builds ~130,000 frozen values on 10,000 statements. This
  ``__init__`` fills the new instance's ``__dict__`` directly (0.8 us for those 19 fields).

A class with its own ``__init__``, ``__post_init__`` or ``__slots__`` is refused (TypeError): use
``dataclasses.dataclass`` for it. ``__dataclass_params__`` says ``frozen=False``, ``eq=False``:
dataclass() wrote none of those methods; mix these classes with ``@dataclass`` ones in one
hierarchy only as bases of other ``@frozen`` / ``@record`` classes.
"""

from __future__ import annotations

import dataclasses
import reprlib
from collections.abc import Callable
from operator import attrgetter
from typing import Any, TypeVar, dataclass_transform

T = TypeVar("T")


@dataclass_transform(frozen_default=True)
def frozen(cls: type[T] | None = None, /, **options: Any) -> Any:
    """``@frozen`` or ``@frozen(kw_only=True, order=True, eq=False, ...)``: dataclass()'s options."""
    def wrap(c: type[T]) -> type[T]:
        return _build(c, frozen=True, **options)

    return wrap if cls is None else wrap(cls)


@dataclass_transform()
def record(cls: type[T] | None = None, /, **options: Any) -> Any:
    """``@record`` or ``@record(kw_only=True, ...)``: a mutable dataclass, as ``@dataclass``."""
    def wrap(c: type[T]) -> type[T]:
        return _build(c, frozen=False, **options)

    return wrap if cls is None else wrap(cls)


def _build(cls: type[T], *, frozen: bool, eq: bool = True, order: bool = False, repr: bool = True,
           **options: Any) -> type[T]:
    if order and not eq:
        raise ValueError("eq must be true if order is true")
    documented = bool(cls.__dict__.get("__doc__"))
    if not documented:
        cls.__doc__ = "-"  # dataclass() would describe an inherited __init__'s signature
    # A class that defines __eq__ gets __hash__ = None from Python itself: not a hash of its own.
    own_hash = cls.__dict__.get("__hash__", dataclasses.MISSING)
    explicit_hash = not (own_hash is dataclasses.MISSING or (own_hash is None and "__eq__" in cls.__dict__))
    # The fields only: no method compiled (init, repr, eq off; frozen is enforced below).
    cls = dataclasses.dataclass(init=False, repr=False, eq=False, **options)(cls)
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    cls.__init__ = _init(cls)  # type: ignore[misc]
    compared = _key([f.name for f in fields if f.compare])
    if repr:
        cls.__repr_fields__ = tuple(f.name for f in fields if f.repr)  # type: ignore[attr-defined]
        _set(cls, "__repr__", _repr)
    if eq:
        cls.__compare_key__ = compared  # type: ignore[attr-defined]
        _set(cls, "__eq__", _eq)
    if order:
        for name, method in (("__lt__", _lt), ("__le__", _le), ("__gt__", _gt), ("__ge__", _ge)):
            if name in cls.__dict__:
                raise TypeError(f"Cannot overwrite attribute {name} in class {cls.__name__}. "
                                "Consider using functools.total_ordering")
            setattr(cls, name, method)
    if frozen:
        for name, method in (("__setattr__", _refuse_set), ("__delattr__", _refuse_del)):
            if name in cls.__dict__:
                raise TypeError(f"Cannot overwrite attribute {name} in class {cls.__name__}")
            setattr(cls, name, method)
    # dataclass()'s hash rule: frozen and compared -> a hash of the hashed fields; compared and
    # mutable -> unhashable; a class's own __hash__ is kept either way.
    if eq and not explicit_hash:
        if frozen:
            cls.__hash_key__ = _key([f.name for f in fields if (f.compare if f.hash is None else f.hash)])  # type: ignore[attr-defined]
            cls.__hash__ = _hash  # type: ignore[assignment]
        else:
            cls.__hash__ = None  # type: ignore[assignment]
    if not documented:  # the __doc__ dataclass() gives an undocumented class, from its __init__
        import inspect  # only for such a class: migspec's classes are documented

        cls.__doc__ = cls.__name__ + str(inspect.signature(cls)).replace(" -> None", "")
    return cls


def _set(cls: type, name: str, method: Callable[..., Any]) -> None:
    if name not in cls.__dict__:  # a class's own method wins, as with dataclass()
        setattr(cls, name, method)


def _key(names: list[str]) -> staticmethod[[Any], tuple[Any, ...]]:
    """The fields ``names`` of an instance as a tuple (attrgetter gives a bare value for one name),
    as a class attribute: a staticmethod, so ``self.__compare_key__(self)`` passes ``self`` once."""
    if not names:
        return staticmethod(lambda _self: ())
    if len(names) == 1:
        one = attrgetter(names[0])
        return staticmethod(lambda self: (one(self),))
    return staticmethod(attrgetter(*names))


@reprlib.recursive_repr()
def _repr(self: Any) -> str:
    return (f"{self.__class__.__qualname__}("
            + ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__repr_fields__) + ")")


def _eq(self: Any, other: Any) -> Any:
    if other.__class__ is self.__class__:
        return self is other or self.__compare_key__(self) == other.__compare_key__(other)
    return NotImplemented


def _hash(self: Any) -> int:
    return hash(self.__hash_key__(self))


def _lt(self: Any, other: Any) -> Any:
    if other.__class__ is self.__class__:
        return self.__compare_key__(self) < other.__compare_key__(other)
    return NotImplemented


def _le(self: Any, other: Any) -> Any:
    if other.__class__ is self.__class__:
        return self.__compare_key__(self) <= other.__compare_key__(other)
    return NotImplemented


def _gt(self: Any, other: Any) -> Any:
    if other.__class__ is self.__class__:
        return self.__compare_key__(self) > other.__compare_key__(other)
    return NotImplemented


def _ge(self: Any, other: Any) -> Any:
    if other.__class__ is self.__class__:
        return self.__compare_key__(self) >= other.__compare_key__(other)
    return NotImplemented


def _refuse_set(self: Any, name: str, value: Any) -> None:
    raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")


def _refuse_del(self: Any, name: str) -> None:
    raise dataclasses.FrozenInstanceError(f"cannot delete field {name!r}")


def _init(cls: type) -> Callable[..., None]:
    """The ``__init__`` dataclass() would write - the same parameters in the same order (positional
    fields, then keyword-only ones), defaults and default factories - storing into ``__dict__``."""
    if hasattr(cls, "__post_init__") or "__slots__" in cls.__dict__ or "__init__" in cls.__dict__:
        raise TypeError(f"@frozen / @record do not handle {cls.__name__}'s own __init__, __post_init__ or __slots__")
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

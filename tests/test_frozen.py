"""migspec.frozen: ``@frozen`` behaves as ``@dataclass(frozen=True)`` - same signature, defaults,
default factories, equality, hash, order, repr, replace(), pickling, refusal of assignment - with
a cheaper __init__ (issue 16). Each case is declared twice, once per decorator, and compared."""

from __future__ import annotations

import dataclasses
import copy
import inspect
from dataclasses import KW_ONLY, dataclass, field
from typing import Any, ClassVar

import pytest

from migspec.frozen import frozen, record


def _pair(options: dict[str, Any], body: dict[str, Any], base: tuple[type, type] | None = None) -> tuple[type, type]:
    """The same class body decorated by dataclass(frozen=True) and by frozen (optionally on bases)."""
    made = []
    for i, decorate in enumerate((lambda c: dataclass(frozen=True, **options)(c), lambda c: frozen(**options)(c))):
        bases = (base[i],) if base else ()
        made.append(decorate(type("C", bases, dict(body))))
    return made[0], made[1]


def _hash(value: object) -> object:
    """The hash, or the exception class hashing raised (a list field: unhashable either way)."""
    try:
        return hash(value)
    except TypeError:
        return TypeError


CASES: list[tuple[dict[str, Any], dict[str, Any], list[tuple[tuple[Any, ...], dict[str, Any]]]]] = [
    ({}, {"__annotations__": {"a": "int", "b": "str"}, "b": "x"}, [((1,), {}), ((1, "y"), {}), ((), {"a": 2, "b": "z"})]),
    ({"order": True}, {"__annotations__": {"schema": "str", "name": "str"}}, [(("s", "n"), {})]),
    ({"kw_only": True}, {"__annotations__": {"a": "int", "items": "list", "k": "ClassVar[int]"},
                         "items": field(default_factory=list), "k": 3}, [((), {"a": 1}), ((), {"a": 1, "items": [2]})]),
    ({}, {"__annotations__": {"a": "int", "_": "KW_ONLY", "b": "int", "c": "int"}, "_": None, "b": 5,
          "c": field(default=6, compare=False, repr=False)}, [((1,), {}), ((1,), {"b": 2, "c": 3})]),
    ({}, {"__annotations__": {"a": "int", "hidden": "int", "made": "list"},
          "hidden": field(default=7, init=False), "made": field(default_factory=list, init=False)}, [((1,), {})]),
]


@pytest.mark.parametrize("options, body, calls", CASES)
def test_frozen_is_the_frozen_dataclass(options: dict[str, Any], body: dict[str, Any],
                                        calls: list[tuple[tuple[Any, ...], dict[str, Any]]]) -> None:
    body = {**body, "__annotations__": {k: {"KW_ONLY": KW_ONLY, "ClassVar[int]": ClassVar[int]}.get(v, v)
                                        for k, v in body["__annotations__"].items()}}
    if "_" in body:
        body.pop("_")
    plain, fast = _pair(options, body)
    assert str(inspect.signature(plain.__init__)) == str(inspect.signature(fast.__init__))
    assert [f.name for f in dataclasses.fields(plain)] == [f.name for f in dataclasses.fields(fast)]
    for args, kwargs in calls:
        p, f = plain(*args, **kwargs), fast(*args, **kwargs)
        assert repr(p) == repr(f) and vars(p) == vars(f)
        assert f == fast(*args, **kwargs) and _hash(p) == _hash(f)
        assert copy.deepcopy(f) == f and dataclasses.replace(f) == f
        with pytest.raises(dataclasses.FrozenInstanceError):
            f.a = 9  # type: ignore[attr-defined]
    for bad_args, bad_kwargs in (((), {}), ((1, 2, 3, 4), {}), ((1,), {"nope": 1})):
        errors = []
        for cls in (plain, fast):
            try:
                cls(*bad_args, **bad_kwargs)
                errors.append(None)
            except TypeError:
                errors.append(TypeError)
        assert errors[0] == errors[1], (bad_args, bad_kwargs)


def test_factories_give_each_instance_its_own_value() -> None:
    @frozen
    class C:
        items: list[int] = field(default_factory=list)

    assert C().items == [] and C().items is not C().items and C([1]).items == [1]


def test_subclass_fields_follow_the_bases_like_dataclass() -> None:
    @frozen(kw_only=True)
    class Base:
        stmt: str = field(compare=False, repr=False)
        table: str | None = None

    @frozen(kw_only=True)
    class Child(Base):
        column: str = ""

    @dataclass(frozen=True, kw_only=True)
    class PlainBase:
        stmt: str = field(compare=False, repr=False)
        table: str | None = None

    @dataclass(frozen=True, kw_only=True)
    class PlainChild(PlainBase):
        column: str = ""

    assert str(inspect.signature(Child.__init__)) == str(inspect.signature(PlainChild.__init__))
    assert Child(stmt="a", column="c") == Child(stmt="b", column="c")  # stmt is not compared
    assert Child.__doc__ == PlainChild.__doc__.replace("PlainChild", "Child")


def test_a_default_before_a_required_field_is_refused_like_dataclass() -> None:
    with pytest.raises(TypeError, match="non-default argument"):
        @frozen
        class Bad:
            a: int = 1
            b: int  # type: ignore[misc]


def test_a_class_with_its_own_init_is_refused() -> None:
    """@frozen writes __init__: a class's own would be silently replaced."""
    with pytest.raises(TypeError, match="own __init__"):
        @frozen
        class Own:
            a: int

            def __init__(self) -> None:
                object.__setattr__(self, "a", 1)


RECORD_CASES = [
    ({}, {"__annotations__": {"a": "int", "b": "list"}, "b": field(default_factory=list)}, [((1,), {}), ((1, [2]), {})]),
    ({"kw_only": True}, {"__annotations__": {"a": "int", "c": "int"}, "c": field(default=6, compare=False, repr=False)},
     [((), {"a": 1}), ((), {"a": 1, "c": 3})]),
]


@pytest.mark.parametrize("options, body, calls", RECORD_CASES)
def test_record_is_the_dataclass(options: dict[str, Any], body: dict[str, Any],
                                 calls: list[tuple[tuple[Any, ...], dict[str, Any]]]) -> None:
    """``@record``: the mutable dataclass - assignable, compared by its fields, unhashable."""
    plain, fast = dataclass(**options)(type("C", (), dict(body))), record(**options)(type("C", (), dict(body)))
    assert str(inspect.signature(plain.__init__)) == str(inspect.signature(fast.__init__))
    for args, kwargs in calls:
        p, f = plain(*args, **kwargs), fast(*args, **kwargs)
        assert repr(p) == repr(f) and vars(p) == vars(f) and f == fast(*args, **kwargs)
        assert _hash(p) == _hash(f) == TypeError  # eq without frozen: unhashable, as dataclass makes it
        f.a = 9
        assert f.a == 9 and f != fast(*args, **kwargs) and dataclasses.replace(f, a=1) == fast(*args, **kwargs)
        assert copy.deepcopy(f) == f


def test_own_methods_win_and_the_hash_follows_dataclass_rule() -> None:
    for decorate in (dataclass(frozen=True), frozen):
        @decorate
        class Own:
            a: int

            def __repr__(self) -> str:
                return "mine"

            def __eq__(self, other: object) -> bool:
                return True

        assert repr(Own(1)) == "mine" and Own(1) == Own(2)
        # Defining __eq__ made Python set __hash__ = None; dataclass() does not count that as the
        # class's own hash and hashes the fields (frozen, compared).
        assert _hash(Own(1)) == hash((1,))

        @decorate
        class Hashed:
            a: int

            def __hash__(self) -> int:
                return 42

        assert hash(Hashed(1)) == 42


def test_order_compares_fields_in_order_and_refuses_other_classes() -> None:
    @frozen(order=True)
    class Name:
        schema: str
        name: str

    names = [Name("b", "a"), Name("a", "z"), Name("a", "b")]
    assert sorted(names) == [Name("a", "b"), Name("a", "z"), Name("b", "a")]
    assert Name("a", "b") <= Name("a", "b") and Name("b", "a") > Name("a", "z") >= Name("a", "z")
    with pytest.raises(TypeError):
        Name("a", "b") < ("a", "b")  # type: ignore[operator]  # noqa: B015
    assert Name("a", "b") != ("a", "b")

"""migspec.frozen: ``@frozen`` behaves as ``@dataclass(frozen=True)`` - same signature, defaults,
default factories, equality, hash, order, repr, replace(), pickling, refusal of assignment - with
a cheaper __init__ (issue 16). Each case is declared twice, once per decorator, and compared."""

from __future__ import annotations

import copy
import dataclasses
import inspect
import operator
import pickle
import re
import subprocess
import sys
import types
import typing
from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass, field
from typing import Any, ClassVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import migspec.frozen as mf
from migspec.frozen import FrozenInstanceError, frozen, record


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
        with pytest.raises(FrozenInstanceError):
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


# --- The same class definitions under dataclass() and under @frozen / @record: everything a
# caller can observe agrees - the class (signature, dataclasses.fields, migspec.frozen.fields,
# __match_args__, __doc__, hashability, class attributes) and its instances (eq, hash, order, repr,
# replace both ways, asdict, copy, pickle, assignment). migspec.frozen collects the fields itself
# (no dataclasses import, issue 16), so these compare its collection with dataclasses' own.

#: name -> (options, base case or None, body made with a ``field`` function, constructor calls).
#: Annotations are strings, as in migspec's modules (``from __future__ import annotations``).
DEFINITIONS: dict[str, tuple[dict[str, Any], str | None, Callable[[Callable[..., Any]], dict[str, Any]],
                             list[tuple[tuple[Any, ...], dict[str, Any]]]]] = {
    "plain": ({}, None, lambda field: {"__annotations__": {"a": "int", "b": "str"}},
              [((1, "x"), {}), ((2, "x"), {}), ((), {"a": 1, "b": "x"})]),
    "defaults": ({}, None, lambda field: {"__annotations__": {"a": "int", "b": "str", "c": "tuple[int, ...]"},
                                          "b": "x", "c": (1, 2)},
                 [((1,), {}), ((1, "y"), {}), ((0, "x", ()), {})]),
    "factory": ({}, None, lambda field: {"__annotations__": {"a": "int", "items": "list[int]", "seen": "dict[str, int]"},
                                         "items": field(default_factory=list), "seen": field(default_factory=dict)},
                [((1,), {}), ((1, [2]), {}), ((1,), {"seen": {"k": 1}})]),
    "kw_only option": ({"kw_only": True}, None,
                       lambda field: {"__annotations__": {"a": "int", "b": "int", "c": "int"}, "b": 2},
                       [((), {"a": 1, "c": 3}), ((), {"c": 3, "a": 1, "b": 0})]),
    "field kw_only": ({}, None, lambda field: {"__annotations__": {"a": "int", "k": "int", "b": "int"},
                                               "k": field(kw_only=True), "b": 5},
                      [((1,), {"k": 2}), ((1, 6), {"k": 2})]),
    "KW_ONLY": ({}, None, lambda field: {"__annotations__": {"a": "int", "_": "KW_ONLY", "b": "int"}},
                [((1,), {"b": 2})]),
    "init false": ({}, None, lambda field: {"__annotations__": {"a": "int", "hidden": "int", "made": "list[int]"},
                                            "hidden": field(default=7, init=False),
                                            "made": field(default_factory=list, init=False)},
                   [((1,), {}), ((2,), {})]),
    "flags": ({}, None, lambda field: {"__annotations__": {"a": "int", "note": "str", "secret": "str", "h": "int"},
                                       "note": field(default="", compare=False),
                                       "secret": field(default="s", repr=False, metadata={"why": "test"}),
                                       "h": field(default=0, hash=False)},
              [((1,), {}), ((1, "other"), {}), ((1, "", "t", 5), {}), ((2,), {})]),
    "hash true": ({}, None, lambda field: {"__annotations__": {"a": "int", "b": "int"},
                                           "b": field(default=0, compare=False, hash=True)},
                  [((1,), {}), ((1, 2), {})]),
    "ClassVar": ({}, None, lambda field: {"__annotations__": {"kind": "ClassVar[str]", "a": "int",
                                                              "other": "typing.ClassVar[int]", "plain": "ClassVar",
                                                              "aliased": "CV[int]", "lookalike": "lookalike.ClassVar[int]"},
                                          "kind": "k", "other": 3, "plain": [1], "aliased": 2, "lookalike": 0},
                 [((1,), {}), ((1, 5), {})]),
    "base": ({"kw_only": True}, None, lambda field: {"__annotations__": {"stmt": "str", "table": "str | None"},
                                                     "stmt": field(compare=False, repr=False), "table": None},
             [((), {"stmt": "s"}), ((), {"stmt": "t", "table": "x"})]),
    "middle": ({"kw_only": True}, "base", lambda field: {"__annotations__": {"column": "str", "kind": "ClassVar[str]"},
                                                         "column": "", "kind": "m"},
               [((), {"stmt": "s", "column": "c"}), ((), {"stmt": "s"})]),
    "leaf": ({"kw_only": True}, "middle", lambda field: {"__annotations__": {"table": "str", "extra": "int"},
                                                         "table": "t", "extra": field(default=0, repr=False)},
             [((), {"stmt": "s"}), ((), {"stmt": "s", "table": "u", "column": "c", "extra": 1})]),
    "positional base": ({}, None, lambda field: {"__annotations__": {"x": "int", "y": "int"}, "y": 0},
                        [((1,), {}), ((1, 2), {})]),
    "positional child": ({}, "positional base", lambda field: {"__annotations__": {"z": "int", "x": "int"},
                                                               "z": 5, "x": 9},
                         [((), {}), ((1, 2, 3), {})]),
    "order": ({"order": True}, None, lambda field: {"__annotations__": {"schema": "str", "name": "str", "n": "int"},
                                                    "n": field(default=0, compare=False)},
              [(("a", "b"), {}), (("a", "a"), {}), (("b", "a"), {}), (("a", "b", 3), {})]),
    "eq false": ({"eq": False}, None, lambda field: {"__annotations__": {"a": "int"}}, [((1,), {}), ((1,), {})]),
    "unsafe hash": ({"unsafe_hash": True}, None, lambda field: {"__annotations__": {"a": "int"}}, [((1,), {}), ((2,), {})]),
    "no match args": ({"match_args": False}, None, lambda field: {"__annotations__": {"a": "int"}}, [((1,), {})]),
    "own eq and hash": ({}, None, lambda field: {
        "__annotations__": {"a": "int", "b": "int"},
        "__eq__": lambda self, other: isinstance(other, type(self)) and self.a == other.a,
        "__hash__": lambda self: hash(self.a) + 1,
        "__repr__": lambda self: f"mine({self.a})"}, [((1, 2), {}), ((1, 3), {}), ((2, 2), {})]),
    "own eq only": ({}, None, lambda field: {"__annotations__": {"a": "int"},
                                             "__eq__": lambda self, other: True}, [((1,), {}), ((2,), {})]),
    "documented": ({}, None, lambda field: {"__doc__": "Mine.", "__annotations__": {"a": "int"}}, [((1,), {})]),
    "no fields": ({}, None, lambda field: {}, [((), {})]),
}

#: Names the ClassVar case's annotations use: typing's ClassVar under another name (a ClassVar
#: still), and a module-like object that is not typing with a ClassVar attribute (a field then).
CV = ClassVar
lookalike = types.SimpleNamespace(ClassVar=ClassVar)

_made: dict[tuple[str, str, bool], type] = {}


def _make(flavour: str, case: str, is_frozen: bool) -> type:
    """Case ``case`` as a class: ``flavour`` "dataclass" (dataclasses.dataclass and field), "ours"
    (@frozen / @record with migspec.frozen.field) or "ours+dc" (@frozen / @record with
    dataclasses.field). Each is a module attribute under its qualname, so pickle finds it."""
    key = (flavour, case, is_frozen)
    if key not in _made:
        options, base, body, _ = DEFINITIONS[case]
        namespace = body(dataclasses.field if flavour != "ours" else mf.field)
        namespace.setdefault("__doc__", None)
        name = f"Case_{flavour.replace('+', '_')}_{case.replace(' ', '_')}_{'frozen' if is_frozen else 'record'}"
        cls = type(name, (_make(flavour, base, is_frozen),) if base else (), namespace)
        cls.__module__ = __name__
        if flavour == "dataclass":
            made = dataclass(frozen=is_frozen, **options)(cls)
        else:
            made = (frozen if is_frozen else record)(**options)(cls)
        globals()[name] = _made[key] = made
    return _made[key]


def _facts(f: Any) -> tuple[Any, ...]:
    """A field as both libraries describe it (their MISSING sentinels counted as one)."""
    def value(v: Any) -> Any:
        return "MISSING" if v is dataclasses.MISSING or v is mf.MISSING else v

    return (f.name, f.type, value(f.default), value(f.default_factory), f.init, f.repr, f.hash, f.compare,
            value(f.kw_only), dict(f.metadata))


def _described(cls: type) -> dict[str, Any]:
    """What a caller sees of the class itself (its name replaced by C)."""
    def named(text: str | None) -> str | None:
        return text.replace(cls.__name__, "C") if text else text

    params = cls.__dataclass_params__  # type: ignore[attr-defined]
    all_fields = cls.__dataclass_fields__  # type: ignore[attr-defined]
    return {"signature": str(inspect.signature(cls.__init__)), "fields": [_facts(f) for f in dataclasses.fields(cls)],
            "every field": {name: (_facts(f), f._field_type.name) for name, f in all_fields.items()},
            "match_args": getattr(cls, "__match_args__", None), "doc": named(cls.__doc__),
            "hash": "object" if cls.__hash__ is object.__hash__ else cls.__hash__ is None,
            "params": (params.init, params.repr, params.eq, params.order, params.unsafe_hash, params.frozen),
            "attributes": {name: (lambda v: "absent" if v is None else repr(v))(getattr(cls, name, None))
                           for name in all_fields},
            "is_dataclass": dataclasses.is_dataclass(cls)}


def _outcome(action: Callable[[], Any]) -> Any:
    """The value ``action`` returns, or the class of the exception it raised."""
    try:
        return action()
    except Exception as exc:  # noqa: BLE001 - the comparison is the point
        return type(exc)


def _hashed(value: Any) -> Any:
    """The hash, or the exception hashing raised; 'identity' for object's own hash (differs per
    instance whatever the class)."""
    if type(value).__hash__ is object.__hash__:
        return "identity"
    return _outcome(lambda: hash(value))


def _shown(value: Any) -> str:
    """repr() with the class's name as C and no address (object's own repr)."""
    return re.sub(r"0x[0-9a-f]+", "0x", repr(value).replace(type(value).__qualname__, "C"))


#: The refusal of assignment: dataclasses' exception or ours (both AttributeError).
REFUSED_ASSIGNMENT = (dataclasses.FrozenInstanceError, FrozenInstanceError)


def _behaviour(cls: type, calls: list[tuple[tuple[Any, ...], dict[str, Any]]]) -> list[Any]:
    """What a caller sees of instances: one entry per observation, comparable across classes (a
    value, or the class of the exception raised - an init=False field without default is unset)."""
    seen: list[Any] = []

    def observe(label: Any, action: Callable[[], Any]) -> None:
        outcome = _outcome(action)
        seen.append((label, "refused" if outcome in REFUSED_ASSIGNMENT else outcome))

    made = [cls(*args, **kwargs) for args, kwargs in calls]
    again = [cls(*args, **kwargs) for args, kwargs in calls]
    fs = dataclasses.fields(cls)
    init = [f for f in fs if f.init]
    for i, x in enumerate(made):
        observe("vars", lambda: vars(x))  # noqa: B023 - called at once
        observe("repr", lambda: _shown(x))  # noqa: B023
        observe("hash", lambda: _hashed(x))  # noqa: B023
        observe("hash of a twin", lambda: _hashed(x) == _hashed(again[i]))  # noqa: B023
        # Not x with itself: ours answers ``x == x`` without reading the fields (True even with an
        # unset init=False field, where dataclass() raises AttributeError); with set fields both
        # say True, as a tuple compares identical items as equal.
        for j, y in enumerate(made + again[i:i + 1]):
            if y is x:
                continue
            for op in (operator.eq, operator.ne, operator.lt, operator.le, operator.gt, operator.ge):
                observe(("compare", i, j, op.__name__), lambda op=op, y=y: op(x, y))  # noqa: B023
        observe("compared with a tuple", lambda: (x == (), x != ()))  # noqa: B023
        observe("ordered with a tuple", lambda: x < ())  # type: ignore[operator]  # noqa: B023
        observe("asdict", lambda: (dataclasses.asdict(x), dataclasses.astuple(x)))  # noqa: B023
        for name, copier in (("copy", copy.copy), ("deepcopy", copy.deepcopy),
                             ("pickle", lambda v: pickle.loads(pickle.dumps(v)))):
            observe(name, lambda c=copier: (lambda v: (type(v) is cls, vars(v), _outcome(lambda: v == x)))(c(x)))  # noqa: B023
        for replace in (dataclasses.replace, mf.replace):
            label = replace.__module__
            observe((label, "nothing"), lambda r=replace: (lambda v: (type(v) is cls, vars(v)))(r(x)))  # noqa: B023
            if init:
                observe((label, "one"), lambda r=replace: vars(r(x, **{init[0].name: ("changed", i)})))  # noqa: B023
            observe((label, "unknown"), lambda r=replace: r(x, no_such_field=1))  # noqa: B023
            for f in fs:
                observe((label, f.name), lambda r=replace, n=f.name: vars(r(x, **{n: 1})))  # noqa: B023
        args, kwargs = calls[i]
        for f in fs:  # each on a new instance: a record's assignment and deletion succeed
            victim = cls(*args, **kwargs)
            observe(("assign", f.name), lambda v=victim, n=f.name: setattr(v, n, ("assigned",)))
            observe(("after assigning", f.name), lambda v=victim: _shown(v))
            observe(("delete", f.name), lambda v=victim, n=f.name: delattr(v, n))
        observe("assign a new attribute", lambda: setattr(cls(*args, **kwargs), "not_a_field", 1))  # noqa: B023
    return seen


@pytest.mark.parametrize("is_frozen", [True, False], ids=["frozen", "record"])
@pytest.mark.parametrize("case", list(DEFINITIONS))
def test_frozen_and_record_agree_with_dataclass(case: str, is_frozen: bool) -> None:
    plain = _make("dataclass", case, is_frozen)
    calls = DEFINITIONS[case][3]
    expected = _described(plain)
    for flavour in ("ours", "ours+dc"):
        fast = _make(flavour, case, is_frozen)
        assert _described(fast) == expected, flavour
        assert [_facts(f) for f in mf.fields(fast)] == expected["fields"]
        assert [_facts(f) for f in mf.fields(fast(*calls[0][0], **calls[0][1]))] == expected["fields"]
        assert _behaviour(fast, calls) == _behaviour(plain, calls), flavour
    fast = _make("ours", case, is_frozen)
    if is_frozen:
        with pytest.raises(FrozenInstanceError, match="cannot assign to field"):
            fast(*calls[0][0], **calls[0][1]).a = 1
        assert issubclass(FrozenInstanceError, AttributeError)


def test_each_class_gets_its_own_dataclass_fields_made_on_demand() -> None:
    """``__dataclass_fields__`` is made at its first read, per class, and stored on that class; a
    field a subclass inherits is the same ``dataclasses.Field`` object in both, as dataclass() does."""
    base, middle, leaf = (_make("ours", case, True) for case in ("base", "middle", "leaf"))
    plain_base, plain_middle, plain_leaf = (_make("dataclass", case, True) for case in ("base", "middle", "leaf"))
    for cls in (base, middle, leaf):
        assert isinstance(cls.__dataclass_fields__, dict) and isinstance(cls.__dict__["__dataclass_fields__"], dict)
    for ours, theirs in (((base, middle), (plain_base, plain_middle)), ((middle, leaf), (plain_middle, plain_leaf))):
        shared = {n for n in ours[0].__dataclass_fields__ if ours[1].__dataclass_fields__[n] is ours[0].__dataclass_fields__[n]}
        assert shared == {n for n in theirs[0].__dataclass_fields__
                          if theirs[1].__dataclass_fields__[n] is theirs[0].__dataclass_fields__[n]}
    assert middle.__dataclass_fields__ is not leaf.__dataclass_fields__
    assert [f.name for f in dataclasses.fields(leaf)] == ["stmt", "table", "column", "extra"]

    class Undecorated(leaf):  # type: ignore[valid-type, misc]
        pass

    assert dataclasses.fields(Undecorated) == dataclasses.fields(leaf) and mf.fields(Undecorated) == mf.fields(leaf)


def test_fields_and_replace_hand_real_dataclasses_to_dataclasses() -> None:
    plain = _make("dataclass", "init false", True)
    assert mf.fields(plain) == dataclasses.fields(plain)
    assert mf.replace(plain(1), a=2) == plain(2)
    with pytest.raises(TypeError):
        mf.fields(object())
    with pytest.raises(TypeError):
        mf.replace(object())


#: Definitions both refuse, by name: (options, annotations, namespace made with a ``field``
#: function, base case). The same exception class and message are expected.
REFUSED: dict[str, tuple[dict[str, Any], Callable[[Callable[..., Any]], dict[str, Any]], str | None]] = {
    "required after default": ({}, lambda field: {"__annotations__": {"a": "int", "b": "int"}, "a": 1}, None),
    "required after an inherited default": ({}, lambda field: {"__annotations__": {"z": "int"}}, "positional base"),
    "list default": ({}, lambda field: {"__annotations__": {"a": "list[int]"}, "a": []}, None),
    "dict default in field()": ({}, lambda field: {"__annotations__": {"a": "dict"}, "a": field(default={})}, None),
    "set default": ({}, lambda field: {"__annotations__": {"a": "set"}, "a": set()}, None),
    "field without annotation": ({}, lambda field: {"__annotations__": {"a": "int"}, "b": field(default=1)}, None),
    "ClassVar with a factory": ({}, lambda field: {"__annotations__": {"a": "ClassVar[list]"},
                                                   "a": field(default_factory=list)}, None),
    "ClassVar kw_only": ({}, lambda field: {"__annotations__": {"a": "ClassVar[int]"}, "a": field(default=1, kw_only=True)}, None),
    "two KW_ONLY": ({}, lambda field: {"__annotations__": {"_": "KW_ONLY", "a": "int", "__": "KW_ONLY"}}, None),
    "order without eq": ({"order": True, "eq": False}, lambda field: {"__annotations__": {"a": "int"}}, None),
    "order with own __lt__": ({"order": True}, lambda field: {"__annotations__": {"a": "int"},
                                                              "__lt__": lambda self, other: True}, None),
    "unsafe_hash with own __hash__": ({"unsafe_hash": True}, lambda field: {"__annotations__": {"a": "int"},
                                                                            "__hash__": lambda self: 1}, None),
}


@pytest.mark.parametrize("case", list(REFUSED))
@pytest.mark.parametrize("is_frozen", [True, False], ids=["frozen", "record"])
def test_refused_definitions_are_refused_alike(case: str, is_frozen: bool) -> None:
    options, body, base = REFUSED[case]
    errors = []
    for flavour, field_fn in (("dataclass", dataclasses.field), ("ours", mf.field), ("ours+dc", dataclasses.field)):
        bases = (_make(flavour, base, is_frozen),) if base else ()
        decorate = (dataclass(frozen=is_frozen, **options) if flavour == "dataclass"
                    else (frozen if is_frozen else record)(**options))
        try:
            decorate(type("C", bases, body(field_fn)))
            errors.append(None)
        except (TypeError, ValueError) as exc:
            errors.append((type(exc), str(exc).replace("dataclasses.", "").replace("migspec.frozen.", "")))
    assert errors[0] is not None and errors[1] == errors[0] and errors[2] == errors[0], errors


def test_frozen_and_mutable_are_not_mixed_in_one_hierarchy_like_dataclass() -> None:
    for base_frozen in (True, False):
        errors = []
        for flavour in ("dataclass", "ours"):
            base = _make(flavour, "plain", base_frozen)
            decorate = (dataclass(frozen=not base_frozen) if flavour == "dataclass"
                        else (record if base_frozen else frozen))
            with pytest.raises(TypeError) as raised:
                decorate(type("C", (base,), {"__annotations__": {"z": "int"}, "z": 0}))
            errors.append(str(raised.value))
        assert errors[0] == errors[1]


def test_both_field_functions_refuse_a_default_and_a_factory() -> None:
    for field_fn in (dataclasses.field, mf.field):
        with pytest.raises(ValueError, match="cannot specify both default and default_factory"):
            field_fn(default=1, default_factory=list)


def test_a_dataclass_base_and_init_var_are_refused() -> None:
    """Fields are collected from @frozen / @record bases only; an InitVar needs __post_init__."""
    with pytest.raises(TypeError, match="dataclasses.dataclass"):
        frozen(type("C", (_make("dataclass", "plain", True),), {"__annotations__": {"z": "int"}, "z": 0}))
    with pytest.raises(TypeError, match="InitVar"):
        frozen(type("C", (), {"__annotations__": {"a": dataclasses.InitVar[int]}}))


def test_a_dataclass_may_derive_from_ours() -> None:
    """dataclass() reads ``__dataclass_fields__`` and ``__dataclass_params__`` of its bases: made on
    demand from ours, they give the subclass the fields and the frozen rule of a dataclass base."""
    for is_frozen in (True, False):
        child = dataclass(frozen=is_frozen)(type("C", (_make("ours", "positional base", is_frozen),),
                                                 {"__annotations__": {"z": "int"}, "z": 3}))
        plain = dataclass(frozen=is_frozen)(type("C", (_make("dataclass", "positional base", is_frozen),),
                                                 {"__annotations__": {"z": "int"}, "z": 3}))
        assert str(inspect.signature(child)) == str(inspect.signature(plain)) and vars(child(1)) == vars(plain(1))


def test_class_creation_imports_neither_dataclasses_nor_inspect() -> None:
    """A fresh interpreter: @frozen / @record classes made, built, compared, replaced, copied; only
    a caller that asks for dataclasses' view imports the module."""
    code = ("import sys\n"
            "from typing import ClassVar\n"
            "from migspec.frozen import field, fields, frozen, record, replace\n"
            "@frozen(order=True)\n"
            "class A:\n"
            "    '''Documented.'''\n"
            "    kind: ClassVar[str] = 'a'\n"
            "    x: int\n"
            "    items: tuple = field(default_factory=tuple)\n"
            "@record(kw_only=True)\n"
            "class B:\n"
            "    '''Documented.'''\n"
            "    y: int = 0\n"
            "a = replace(A(1), x=2)\n"
            "assert a == A(2) and A(1) < a and hash(a) == hash(A(2)) and repr(B()) == 'B(y=0)'\n"
            "assert [f.name for f in fields(a)] == ['x', 'items'] and A.__match_args__ == ('x', 'items')\n"
            "import copy; copy.deepcopy(a)\n"
            "import contextlib\n"
            "from migspec.frozen import FrozenInstanceError\n"
            "with contextlib.suppress(FrozenInstanceError):\n"
            "    a.x = 3\n"
            "loaded = sorted(m for m in ('dataclasses', 'inspect', 'ast') if m in sys.modules)\n"
            "import dataclasses\n"
            "print(repr([loaded, a.x, dataclasses.is_dataclass(a), dataclasses.asdict(a)]))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout == "[[], 2, True, {'x': 2, 'items': ()}]\n"


# --- The same, over generated definitions: fields of every kind in any order, with every option.

_FIELD_NAMES = ("alpha", "beta", "gamma", "delta", "epsilon", "zeta")


@st.composite
def _definitions(draw: st.DrawFn) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    options = draw(st.fixed_dictionaries({}, optional={
        "kw_only": st.booleans(), "order": st.booleans(), "eq": st.booleans(), "unsafe_hash": st.booleans(),
        "match_args": st.booleans(), "repr": st.booleans()}))
    names = draw(st.lists(st.sampled_from(_FIELD_NAMES), unique=True, max_size=5))
    specs = []
    for name in names:
        specs.append({
            "name": name,
            "type": draw(st.sampled_from(["int", "ClassVar[int]", "typing.ClassVar[int]", "KW_ONLY", "list[int]"])),
            "default": draw(st.sampled_from(["none", "value", "factory", "field value", "mutable"])),
            "flags": draw(st.fixed_dictionaries({}, optional={
                "init": st.booleans(), "repr": st.booleans(), "compare": st.booleans(),
                "hash": st.sampled_from([None, True, False]), "kw_only": st.booleans()})),
        })
    return options, specs


def _namespace(specs: list[dict[str, Any]], field_fn: Callable[..., Any]) -> dict[str, Any]:
    namespace: dict[str, Any] = {"__annotations__": {}, "__doc__": None}
    for spec in specs:
        namespace["__annotations__"][spec["name"]] = spec["type"]
        flags = spec["flags"]
        if spec["type"] == "KW_ONLY":
            continue
        if spec["default"] == "value":
            namespace[spec["name"]] = 7
        elif spec["default"] == "mutable":
            namespace[spec["name"]] = [7]
        elif spec["default"] == "factory" or flags:
            extra = ({"default_factory": list} if spec["default"] == "factory"
                     else {"default": 7} if spec["default"] in ("field value", "value") else {})
            namespace[spec["name"]] = field_fn(**flags, **extra)
    return namespace


@settings(max_examples=300, deadline=None)
@given(_definitions(), st.booleans())
def test_generated_definitions_agree_with_dataclass(definition: tuple[dict[str, Any], list[dict[str, Any]]],
                                                    is_frozen: bool) -> None:
    options, specs = definition
    made: list[Any] = []
    for flavour, field_fn in (("dataclass", dataclasses.field), ("ours", mf.field)):
        cls = type("Generated", (), _namespace(specs, field_fn))
        cls.__module__ = __name__
        decorate = (dataclass(frozen=is_frozen, **options) if flavour == "dataclass"
                    else (frozen if is_frozen else record)(**options))
        try:
            made.append(decorate(cls))
        except (TypeError, ValueError) as exc:
            made.append((type(exc), str(exc)))
    plain, fast = made
    if isinstance(plain, tuple) or isinstance(fast, tuple):
        assert plain == fast
        return
    assert _described(fast) == _described(plain)
    assert [_facts(f) for f in mf.fields(fast)] == [_facts(f) for f in dataclasses.fields(plain)]
    required = {f.name: i for i, f in enumerate(dataclasses.fields(plain))
                if f.init and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING}
    calls = [((), required), ((), {**required, **{f.name: 1 for f in dataclasses.fields(plain) if f.init}})]
    plain_seen, fast_seen = _behaviour_without_pickle(plain, calls), _behaviour_without_pickle(fast, calls)
    assert fast_seen == plain_seen


def _behaviour_without_pickle(cls: type, calls: list[tuple[tuple[Any, ...], dict[str, Any]]]) -> list[Any]:
    """_behaviour for a class pickle cannot find by name: pickled and unpickled through a stand-in
    module attribute for the time of the call."""
    globals()["Generated"] = cls
    try:
        return _behaviour(cls, calls)
    finally:
        del globals()["Generated"]


def test_init_is_a_shared_template_with_the_class_s_own_names() -> None:
    """__init__ is not compiled per class (migspec.frozen._template): two classes of the same shape
    share one template's bytecode, each with its own parameter names, keys and defaults."""
    from migspec.frozen import _TEMPLATES, frozen

    @frozen
    class A:
        """-"""
        x: int
        y: str = "a"

    @frozen
    class B:
        """-"""
        p: int
        q: str = "b"

    assert A.__init__.__code__.co_code == B.__init__.__code__.co_code
    assert A.__init__.__code__.co_varnames[:3] == ("self", "x", "y")
    assert vars(A(1)) == {"x": 1, "y": "a"} and vars(B(2)) == {"p": 2, "q": "b"}
    assert (2, False, False) in _TEMPLATES
    with pytest.raises(TypeError, match="may not be called '_frozen_values_'"):
        @frozen
        class C:
            """-"""
            _frozen_values_: int

"""``@frozen`` and ``@record``: dataclasses that are cheap to create and to construct.

``@frozen`` is ``@dataclass(frozen=True, ...)`` and ``@record`` is ``@dataclass(...)`` - the same
fields, ``__init__`` signature, defaults and factories, ``__match_args__``, equality, hash, order
and repr, and ``@frozen`` still refuses assignment - built differently, for three costs measured
(CPython 3.11):

* **Importing ``dataclasses``**: it imports ``inspect`` (and with it ``ast``, ``dis``,
  ``tokenize``, ``linecache``): 42 M instructions of the ~450 M of ``migspec lint`` on one small
  file, callgrind (issue 16: one file in under 100 ms). The fields are collected here, by
  dataclass()'s rules (own annotations in order after the bases' fields, ``ClassVar`` skipped,
  ``KW_ONLY``, ``field()``, mutable defaults refused, frozen and non-frozen never mixed), and
  ``dataclasses`` is imported only by code that asks for it: ``dataclasses.fields``,
  ``replace``, ``asdict``, ``is_dataclass`` read ``__dataclass_fields__``, built from our field
  records on first read (:class:`_Lazy`). migspec's own modules use :func:`field`,
  :func:`fields` and :func:`replace` from here.
* **Creating the class**, at every start: dataclass() compiles each generated method from source
  with exec(), about 1 ms per frozen class; ``migspec lint`` of one small file creates ~73 of
  them. Equality, hash, order, repr and the refusal of assignment are shared functions written
  once below, which read a class's fields through an ``operator.attrgetter`` made for it.
  ``__init__``, whose signature must be the class's own, is not compiled per class either (73
  sources were ~24 M instructions of Python's parser and compiler): it is a template's code for
  as many parameters, compiled once per shape (17 for those 73 classes), with the class's field
  names put in as its parameter names and keys (``CodeType.replace``, :func:`_init`).
* **Constructing an instance**: a frozen dataclass's ``__init__`` sets each field through
  ``object.__setattr__`` (the class's ``__setattr__`` refuses): 3.0 us for a 19-field class where
  a plain one takes 0.36 us. Lint builds ~130,000 frozen values on 10,000 statements. This
  ``__init__`` fills the new instance's ``__dict__`` directly (0.8 us for those 19 fields).

A class with its own ``__init__``, ``__post_init__`` or ``__slots__``, an ``InitVar``, or a base
made by ``dataclasses.dataclass`` is refused (TypeError): use ``dataclasses.dataclass`` for it.
Assigning to a ``@frozen`` instance raises :class:`FrozenInstanceError`, an ``AttributeError``
like ``dataclasses.FrozenInstanceError`` but not that class (raising it would import
``dataclasses``).
"""

from __future__ import annotations

import abc
import re
import reprlib
import sys
import types
from collections.abc import Callable, Mapping
from operator import attrgetter
from typing import Any, ClassVar, TypeVar, dataclass_transform

T = TypeVar("T")


class _Missing:
    """No default, no factory (``dataclasses.MISSING``'s counterpart)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()
_NO_METADATA: Mapping[Any, Any] = types.MappingProxyType({})


class FrozenInstanceError(AttributeError):
    """Assignment to (or deletion of) an attribute of a ``@frozen`` instance."""


class Field:
    """One field, as ``dataclasses.Field`` describes it: the same attributes (``name``, ``type``,
    ``default``, ``default_factory``, ``init``, ``repr``, ``hash``, ``compare``, ``metadata``,
    ``kw_only``). Made by :func:`field` or from a plain default; read with :func:`fields`."""

    __slots__ = ("name", "type", "default", "default_factory", "init", "repr", "hash", "compare",
                 "metadata", "kw_only", "classvar", "_dataclasses_field")

    def __init__(self, default: Any, default_factory: Any, init: bool, repr: bool, hash: bool | None,
                 compare: bool, metadata: Mapping[Any, Any] | None, kw_only: Any) -> None:
        self.name: str = ""
        self.type: Any = None
        self.default = default
        self.default_factory = default_factory
        self.init = init
        self.repr = repr
        self.hash = hash
        self.compare = compare
        self.metadata = _NO_METADATA if metadata is None else types.MappingProxyType(metadata)  # type: ignore[arg-type]
        self.kw_only = kw_only
        self.classvar = False  # a ClassVar pseudo-field: in __dataclass_fields__, not in fields()
        self._dataclasses_field: Any = None  # its dataclasses.Field twin, made on demand

    @reprlib.recursive_repr()
    def __repr__(self) -> str:
        return ("Field(" + ",".join(f"{name}={getattr(self, name)!r}" for name in (
            "name", "type", "default", "default_factory", "init", "repr", "hash", "compare", "metadata",
            "kw_only", "classvar")) + ")")

    def __set_name__(self, owner: type, name: str) -> None:
        # As dataclasses.Field: a default that is a descriptor learns its name.
        func = getattr(type(self.default), "__set_name__", None)
        if func:
            func(self.default, owner, name)


def field(*, default: Any = MISSING, default_factory: Any = MISSING, init: bool = True, repr: bool = True,
          hash: bool | None = None, compare: bool = True, metadata: Mapping[Any, Any] | None = None,
          kw_only: Any = MISSING) -> Any:
    """``dataclasses.field``: a field's default or default factory and its flags."""
    if default is not MISSING and default_factory is not MISSING:
        raise ValueError("cannot specify both default and default_factory")
    return Field(default, default_factory, init, repr, hash, compare, metadata, kw_only)


def fields(class_or_instance: Any) -> tuple[Field, ...]:
    """``dataclasses.fields``: the fields (no ClassVar) of a class or instance, in order - our
    :class:`Field` records; a ``dataclasses.dataclass`` gets dataclasses' own answer."""
    try:
        return class_or_instance.__frozen_fields__  # type: ignore[no-any-return]
    except AttributeError:
        import dataclasses  # not one of ours: dataclasses' class, or dataclasses' TypeError

        return dataclasses.fields(class_or_instance)  # type: ignore[return-value]


def replace(obj: T, /, **changes: Any) -> T:
    """``dataclasses.replace``: a new instance with ``changes``, the other init fields copied.
    An init=False field in ``changes`` -> ValueError, an unknown name -> TypeError (from
    ``__init__``), as dataclasses does."""
    try:
        names, values, refused = obj.__class__.__frozen_replace__  # type: ignore[attr-defined]
    except AttributeError:
        import dataclasses  # not one of ours

        return dataclasses.replace(obj, **changes)  # type: ignore[type-var]
    if changes and refused and not refused.isdisjoint(changes):
        name = next(n for n in refused if n in changes)
        raise ValueError(f"field {name} is declared with init=False, it cannot be specified with replace()")
    return obj.__class__(**{**dict(zip(names, values(obj))), **changes})  # type: ignore[no-any-return]


@dataclass_transform(frozen_default=True, field_specifiers=(field, Field))
def frozen(cls: type[T] | None = None, /, **options: Any) -> Any:
    """``@frozen`` or ``@frozen(kw_only=True, order=True, eq=False, ...)``: dataclass()'s options
    (repr, eq, order, unsafe_hash, match_args, kw_only)."""
    def wrap(c: type[T]) -> type[T]:
        return _build(c, frozen=True, **options)

    return wrap if cls is None else wrap(cls)


@dataclass_transform(field_specifiers=(field, Field))
def record(cls: type[T] | None = None, /, **options: Any) -> Any:
    """``@record`` or ``@record(kw_only=True, ...)``: a mutable dataclass, as ``@dataclass``."""
    def wrap(c: type[T]) -> type[T]:
        return _build(c, frozen=False, **options)

    return wrap if cls is None else wrap(cls)


def _build(cls: type[T], *, frozen: bool, repr: bool = True, eq: bool = True, order: bool = False,
           unsafe_hash: bool = False, match_args: bool = True, kw_only: bool = False) -> type[T]:
    params = {"init": True, "repr": repr, "eq": eq, "order": order, "unsafe_hash": unsafe_hash,
              "frozen": frozen, "match_args": match_args, "kw_only": kw_only, "slots": False,
              "weakref_slot": False}
    every = _collect(cls, frozen, kw_only)
    flds = tuple(f for f in every.values() if not f.classvar)
    cls.__frozen_params__ = params  # type: ignore[attr-defined]
    cls.__frozen_all__ = every  # type: ignore[attr-defined]
    cls.__frozen_fields__ = flds  # type: ignore[attr-defined]
    init_names = [f.name for f in flds if f.init]
    cls.__frozen_replace__ = (init_names, _key(init_names).__func__,  # type: ignore[attr-defined]
                              frozenset(f.name for f in flds if not f.init))
    cls.__dataclass_fields__ = _Lazy(cls, "__dataclass_fields__")  # type: ignore[attr-defined]
    cls.__dataclass_params__ = _Lazy(cls, "__dataclass_params__")  # type: ignore[attr-defined]
    # A class that defines __eq__ gets __hash__ = None from Python itself: not a hash of its own.
    own_hash = cls.__dict__.get("__hash__", MISSING)
    explicit_hash = not (own_hash is MISSING or (own_hash is None and "__eq__" in cls.__dict__))
    if order and not eq:
        raise ValueError("eq must be true if order is true")
    cls.__init__ = _init(cls, flds)  # type: ignore[misc]
    compared = _key([f.name for f in flds if f.compare])
    if repr:
        cls.__repr_fields__ = tuple(f.name for f in flds if f.repr)  # type: ignore[attr-defined]
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
    # dataclass()'s hash rule (its _hash_action table): unsafe_hash, or frozen and compared -> a
    # hash of the hashed fields; compared and mutable -> unhashable; a class's own __hash__ is
    # kept, and unsafe_hash with one is refused.
    if unsafe_hash and explicit_hash:
        raise TypeError(f"Cannot overwrite attribute __hash__ in class {cls.__name__}")
    if unsafe_hash or (eq and frozen and not explicit_hash):
        cls.__hash_key__ = _key([f.name for f in flds if (f.compare if f.hash is None else f.hash)])  # type: ignore[attr-defined]
        cls.__hash__ = _hash  # type: ignore[assignment]
    elif eq and not explicit_hash:
        cls.__hash__ = None  # type: ignore[assignment]
    _set(cls, "__replace__", replace)  # copy.replace (Python 3.13), as dataclass() there
    if not cls.__dict__.get("__doc__"):  # the __doc__ dataclass() gives an undocumented class
        cls.__doc__ = cls.__name__ + _signature_text(cls, flds)
    if match_args:
        _set(cls, "__match_args__", tuple(f.name for f in flds if f.init and not f.kw_only))
    abc.update_abstractmethods(cls)
    return cls


#: The module (optional) and the name an annotation written as a string starts with: the rule
#: dataclasses applies (its _MODULE_IDENTIFIER_RE) to recognise ``ClassVar[...]``,
#: ``typing.ClassVar[...]``, ``KW_ONLY`` through the names the class's module binds.
_HEAD = re.compile(r"^(?:\s*(\w+)\s*\.)?\s*(\w+)")


def _named(annotation: Any, cls: type) -> Any:
    """What an annotation stands for, enough to tell ClassVar, KW_ONLY and InitVar: a string's
    first name looked up in the class's module (a dotted one only through ``typing`` or
    ``dataclasses``), an object as it is."""
    if not isinstance(annotation, str):
        return annotation
    match = _HEAD.match(annotation)
    if match is None:
        return None
    module = sys.modules.get(cls.__module__)
    namespace = vars(module) if module else {}
    if match.group(1):
        owner = namespace.get(match.group(1))
        if owner is None or owner not in (sys.modules.get("typing"), sys.modules.get("dataclasses")):
            return None
        namespace = vars(owner)
    return namespace.get(match.group(2))


def _collect(cls: type, frozen: bool, kw_only: bool) -> dict[str, Field]:
    """The class's fields (and ClassVar pseudo-fields) by name, in dataclass()'s order: the bases'
    in reverse MRO order (a redefinition keeps its first position), then the class's own
    annotations; the class attributes that held a ``field()`` become its default or go."""
    every: dict[str, Field] = {}
    any_frozen_base = has_bases = False
    for base in cls.__mro__[-1:0:-1]:
        if "__dataclass_params__" in base.__dict__ and "__frozen_params__" not in base.__dict__:
            raise TypeError(f"@frozen / @record class {cls.__name__} cannot inherit from "
                            f"{base.__name__}, a dataclasses.dataclass: make it a @frozen / @record class")
        inherited = getattr(base, "__frozen_all__", None)
        if inherited is not None:
            has_bases = True
            every.update(inherited)
            any_frozen_base = any_frozen_base or base.__frozen_params__["frozen"]  # type: ignore[attr-defined]
    if has_bases and any_frozen_base != frozen:  # dataclass()'s rule, same message
        raise TypeError("cannot inherit non-frozen dataclass from a frozen one" if any_frozen_base
                        else "cannot inherit frozen dataclass from a non-frozen one")
    annotations = cls.__dict__.get("__annotations__", {})
    dataclasses = sys.modules.get("dataclasses")  # its Field / KW_ONLY / InitVar, if anyone made one
    kw_only_seen = False
    own: list[Field] = []
    for name, annotation in annotations.items():
        named = _named(annotation, cls)
        if dataclasses is not None:
            if named is dataclasses.KW_ONLY:
                if kw_only_seen:
                    raise TypeError(f"{name!r} is KW_ONLY, but KW_ONLY has already been specified")
                kw_only_seen = kw_only = True
                continue
            if named is dataclasses.InitVar or type(named) is dataclasses.InitVar:
                raise TypeError(f"@frozen / @record do not handle InitVar ({cls.__name__}.{name})")
        default = getattr(cls, name, MISSING)
        if isinstance(default, Field):
            f = default
        elif dataclasses is not None and isinstance(default, dataclasses.Field):
            f = _from_dataclasses(default)
        else:
            if isinstance(default, types.MemberDescriptorType):  # a slot, as dataclass() reads it
                default = MISSING
            f = Field(default, MISSING, True, True, None, True, None, MISSING)
        f.name, f.type = name, annotation
        f.classvar = named is ClassVar or getattr(named, "__origin__", None) is ClassVar
        if f.classvar:
            if f.default_factory is not MISSING:
                raise TypeError(f"field {name} cannot have a default factory")
            if f.kw_only is not MISSING:
                raise TypeError(f"field {name} is a ClassVar but specifies kw_only")
        else:
            if f.kw_only is MISSING:
                f.kw_only = kw_only
            if f.default.__class__.__hash__ is None:
                raise ValueError(f"mutable default {type(f.default)} for field {name} is not allowed: "
                                 "use default_factory")
        own.append(f)
    for f in own:
        every[f.name] = f
        if isinstance(cls.__dict__.get(f.name), Field) or (
                dataclasses is not None and isinstance(cls.__dict__.get(f.name), dataclasses.Field)):
            if f.default is MISSING:
                delattr(cls, f.name)
            else:
                setattr(cls, f.name, f.default)
    for name, value in cls.__dict__.items():
        if (isinstance(value, Field) or (dataclasses is not None and isinstance(value, dataclasses.Field))) \
                and name not in annotations:
            raise TypeError(f"{name!r} is a field but has no type annotation")
    return every


def _from_dataclasses(f: Any) -> Field:
    """Our record of a ``dataclasses.field(...)`` written in a @frozen / @record class."""
    import dataclasses

    def mine(value: Any) -> Any:
        return MISSING if value is dataclasses.MISSING else value

    return Field(mine(f.default), mine(f.default_factory), f.init, f.repr, f.hash, f.compare,
                 f.metadata or None, mine(f.kw_only))


class _Lazy:
    """``__dataclass_fields__`` or ``__dataclass_params__`` of one class, made with the
    dataclasses module when first read (``dataclasses.fields``, ``replace``, ``asdict``,
    ``is_dataclass``, a ``@dataclass`` subclass), then stored on that class in its place."""

    def __init__(self, cls: type, name: str) -> None:
        self.cls, self.name = cls, name

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        import dataclasses

        cls = self.cls
        if self.name == "__dataclass_params__":
            params = cls.__frozen_params__  # type: ignore[attr-defined]
            try:
                value: Any = dataclasses._DataclassParams(**params)  # type: ignore[attr-defined]
            except TypeError:  # Python 3.11: the first six only
                value = dataclasses._DataclassParams(*list(params.values())[:6])  # type: ignore[attr-defined]
        else:
            value = {name: _dataclasses_field(f) for name, f in cls.__frozen_all__.items()}  # type: ignore[attr-defined]
        type.__setattr__(cls, self.name, value)
        return value


def _dataclasses_field(f: Field) -> Any:
    """The ``dataclasses.Field`` twin of one of our records (one per record, so a base's field
    is the same object in its subclasses' ``__dataclass_fields__``, as with dataclass())."""
    if f._dataclasses_field is None:
        import dataclasses

        def theirs(value: Any) -> Any:
            return dataclasses.MISSING if value is MISSING else value

        made = dataclasses.field(default=theirs(f.default), default_factory=theirs(f.default_factory),
                                 init=f.init, repr=f.repr, hash=f.hash, compare=f.compare,
                                 kw_only=theirs(f.kw_only))
        made.metadata = f.metadata
        made.name, made.type = f.name, f.type
        made._field_type = dataclasses._FIELD_CLASSVAR if f.classvar else dataclasses._FIELD  # type: ignore[attr-defined]
        f._dataclasses_field = made
    return f._dataclasses_field


def _signature_text(cls: type, flds: tuple[Field, ...]) -> str:
    """``str(inspect.signature(cls))`` without its ``-> None``, as dataclass() writes it in an
    undocumented class's ``__doc__``: written here when every parameter's annotation is a string
    (``from __future__ import annotations``, as in every migspec module) and the class is made by
    its own ``__init__``, as ``inspect`` formats it (``name: 'type' = repr(default)``, a factory
    as ``<factory>``, ``*`` before keyword-only ones); else by ``inspect``, which costs 36 M
    instructions to import (issue 16)."""
    params: list[str] = []
    keyword: list[str] = []
    simple = type(cls) is type and cls.__new__ is object.__new__  # type: ignore[comparison-overlap]
    for f in flds:
        if not f.init:
            continue
        if not simple or not isinstance(f.type, str):
            import inspect  # an annotation that is an object: inspect's formatting of it

            try:
                return str(inspect.signature(cls)).replace(" -> None", "")
            except (TypeError, ValueError):
                return ""
        text = f"{f.name}: {f.type!r}"
        if f.default_factory is not MISSING:
            text += f" = {_FACTORY!r}"
        elif f.default is not MISSING:
            text += f" = {f.default!r}"
        (keyword if f.kw_only else params).append(text)
    return "(" + ", ".join([*params, *(["*", *keyword] if keyword else [])]) + ")"


def _set(cls: type, name: str, method: Any) -> None:
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
    raise FrozenInstanceError(f"cannot assign to field {name!r}")


def _refuse_del(self: Any, name: str) -> None:
    raise FrozenInstanceError(f"cannot delete field {name!r}")


def _init(cls: type, flds: tuple[Field, ...]) -> Callable[..., None]:
    """The ``__init__`` dataclass() would write - the same parameters in the same order (positional
    fields, then keyword-only ones), defaults and default factories - storing into ``__dict__``.

    Not compiled per class (issue 16: 73 classes' sources were ~30 M instructions of Python's
    parser and compiler at every start of ``migspec lint``): the function is a template's code for
    as many parameters (compiled once per count, :func:`_template`) with the class's field names
    put in as its parameter names and the keys it stores under."""
    if hasattr(cls, "__post_init__") or "__slots__" in cls.__dict__ or "__init__" in cls.__dict__:
        raise TypeError(f"@frozen / @record do not handle {cls.__name__}'s own __init__, __post_init__ or __slots__")
    positional: list[Field] = []
    keyword: list[Field] = []
    factories: list[tuple[str, Callable[[], Any]]] = []  # init fields with a factory: called when not given
    always: list[tuple[str, Callable[[], Any]]] = []  # init=False fields with a factory: called each time
    for f in flds:
        if f.name in _RESERVED:
            raise TypeError(f"{cls.__name__}: a field may not be called {f.name!r} (migspec.frozen's own name)")
        if not f.init:
            if f.default_factory is not MISSING:
                always.append((f.name, f.default_factory))
            continue  # else dataclass() leaves it to the class attribute (its default), or unset
        if f.default_factory is not MISSING:
            factories.append((f.name, f.default_factory))
        if f.kw_only:
            keyword.append(f)
        else:
            if f.default is MISSING and f.default_factory is MISSING and positional and \
                    (positional[-1].default is not MISSING or positional[-1].default_factory is not MISSING):
                raise TypeError(f"non-default argument {f.name!r} follows default argument")
            positional.append(f)
    params = positional + keyword
    code = _template(len(params), bool(factories), bool(always))
    names = {f"\x00{i}": f.name for i, f in enumerate(params)}
    names["\x00factories"] = tuple(factories)  # type: ignore[assignment]
    names["\x00always"] = tuple(always)  # type: ignore[assignment]
    varnames = {f"_frozen_p{i}_": f.name for i, f in enumerate(params)}
    code = code.replace(
        co_argcount=1 + len(positional), co_kwonlyargcount=len(keyword),
        co_varnames=tuple(varnames.get(v, v) for v in code.co_varnames),
        co_consts=tuple(names.get(c, c) if isinstance(c, str) else c for c in code.co_consts),
        co_qualname=f"{cls.__qualname__}.__init__")
    defaults = tuple(_FACTORY if f.default_factory is not MISSING else f.default
                     for f in positional if f.default is not MISSING or f.default_factory is not MISSING)
    init = types.FunctionType(code, _GLOBALS, "__init__", defaults or None)
    kwdefaults = {f.name: _FACTORY if f.default_factory is not MISSING else f.default
                  for f in keyword if f.default is not MISSING or f.default_factory is not MISSING}
    if kwdefaults:
        init.__kwdefaults__ = kwdefaults
    init.__annotations__ = {**{f.name: f.type for f in flds if f.init}, "return": None}
    init.__module__ = cls.__module__
    return init


#: The names a template's code uses for itself (a field cannot have one of them).
_RESERVED = frozenset({"self", "_frozen_values_", "_frozen_n_", "_frozen_f_", "_FACTORY"})
_TEMPLATES: dict[tuple[int, bool, bool], types.CodeType] = {}


def _template(count: int, factories: bool, always: bool) -> types.CodeType:
    """An ``__init__`` storing ``count`` parameters in ``self.__dict__``; its placeholders (the
    parameters ``_frozen_p<i>_``, the keys ``"\\x00<i>"``, the factory tuples) are replaced by
    :func:`_init` for each class. One exec() per shape, not per class."""
    key = (count, factories, always)
    code = _TEMPLATES.get(key)
    if code is None:
        body = ["_frozen_values_ = self.__dict__"]
        body += [f"_frozen_values_['\\x00{i}'] = _frozen_p{i}_" for i in range(count)]
        if factories:
            body.append("for _frozen_n_, _frozen_f_ in '\\x00factories':\n"
                        "        if _frozen_values_[_frozen_n_] is _FACTORY:\n"
                        "            _frozen_values_[_frozen_n_] = _frozen_f_()")
        if always:
            body.append("for _frozen_n_, _frozen_f_ in '\\x00always':\n"
                        "        _frozen_values_[_frozen_n_] = _frozen_f_()")
        params = "".join(f", _frozen_p{i}_" for i in range(count))
        env: dict[str, Any] = {}
        exec(f"def __init__(self{params}):\n    " + "\n    ".join(body) + "\n", env)  # noqa: S102 - our own text
        code = _TEMPLATES[key] = env["__init__"].__code__
    return code


class _Factory:
    """The default of a parameter whose field has a default_factory: the factory is called then."""

    def __repr__(self) -> str:
        return "<factory>"


_FACTORY = _Factory()
_GLOBALS = globals()  # what a template's __init__ reads: _FACTORY

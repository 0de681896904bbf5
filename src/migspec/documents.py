"""Reading input files within the bounds of :mod:`migspec.limits`: SQL text, and the JSON or YAML
documents (stats, plans, approval records, calibration files).

Reads stop one byte past the limit, so ``/dev/zero``, a FIFO or a huge file costs no more than the
limit. Documents are decoded strictly: a key given twice is an error (JSON and YAML keep the last
one silently - a stats file's ``rows: 20000000`` became ``rows: 1``), YAML anchors and aliases are
refused (a few lines of aliases expand to billions of nodes for the code that walks them), a number
longer than any measurement is refused before Python converts it, and nesting is bounded. JSON is
read with ``json`` whatever the file is called when it looks like JSON (YAML 1.1 reads ``1e3`` as a
string, and PyYAML is ~200x slower). YAML goes first to :mod:`migspec.plainyaml`, which reads the
YAML stats files hold without importing PyYAML, and declines the rest: PyYAML reads that here.
"""

from __future__ import annotations

import functools
import json
import os
from typing import Any

from migspec.errors import InputError
from migspec.limits import MAX_DOCUMENT_DEPTH, MAX_JSON_BYTES, MAX_NUMBER_DIGITS, MAX_YAML_BYTES, size

_CHUNK = 1 << 20


def read_capped(path: str | os.PathLike[str], limit: int, what: str) -> bytes:
    """The file's bytes, or an InputError when it cannot be read or holds more than ``limit``
    (``what``: "stats file", ...; empty for a migration's SQL files)."""
    chunks: list[bytes] = []
    got = 0
    try:
        with open(path, "rb") as fh:  # noqa: PTH123 - not pathlib: lint's start-up (migspec.paths)
            while got <= limit:
                chunk = fh.read(min(_CHUNK, limit + 1 - got))
                if not chunk:
                    break
                chunks.append(chunk)
                got += len(chunk)
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the name
        raise InputError(f"{str(path)[:200]}: cannot read{' ' + what if what else ''}: "
                         f"{getattr(exc, 'strerror', None) or exc}") from None
    if got > limit:
        raise InputError(f"{path}: {what or 'file'} is larger than {size(limit)}, the limit for it (migspec.limits)")
    return b"".join(chunks)


class _DocumentError(ValueError):
    """A problem found while decoding: becomes an InputError naming the file."""


def _json_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DocumentError(f"duplicate key {key!r} (which value holds? give each key once)")
        out[key] = value
    return out


def _number_text(text: str) -> str:
    digits = sum(ch.isdigit() for ch in text)
    if digits > MAX_NUMBER_DIGITS:
        raise _DocumentError(f"a number with {digits:,} digits (more than {MAX_NUMBER_DIGITS}): "
                             f"{text[:20]}...")
    return text


def _json_constant(name: str) -> float:
    raise _DocumentError(f"{name} is not a number JSON allows")


@functools.cache
def _scalars_loader() -> Any:
    """PyYAML's safe resolver and constructors, for scalars only; digits bounded. PyYAML is imported
    here, for the first YAML document: JSON documents, and runs without any, never load it (its
    pure-Python reader, scanner and resolver: ~12 ms at every start, issue 16)."""
    import yaml

    class _Scalars(yaml.SafeLoader):
        def construct_yaml_int(self, node: Any) -> int:
            try:
                _number_text(str(node.value))
            except _DocumentError as exc:
                raise yaml.constructor.ConstructorError(None, None, str(exc), node.start_mark) from None
            return super().construct_yaml_int(node)

    _Scalars.add_constructor("tag:yaml.org,2002:int", _Scalars.construct_yaml_int)
    return _Scalars

_SEQ, _MAP = "tag:yaml.org,2002:seq", "tag:yaml.org,2002:map"
_NO_KEY = object()


def _yaml(text: str) -> Any:
    """One YAML document, built from libyaml's events (C speed, and no recursion anywhere: a deep
    document cannot overflow a stack) with PyYAML's safe scalar rules. Refused: a key given twice,
    anchors and aliases, merge keys, tags other than the standard ones, nesting deeper than
    MAX_DOCUMENT_DEPTH, more than one document."""
    import yaml

    error = yaml.constructor.ConstructorError
    scalars = _scalars_loader()("")
    loader_class = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    stack: list[list[Any]] = []  # [container, pending key]
    root: Any = None
    documents = 0
    seen: dict[tuple[str | None, str, tuple[bool, bool]], Any] = {}  # scalar -> its value

    def add(value: Any, mark: Any, hashable: bool) -> None:
        nonlocal root
        if not stack:
            root = value
            return
        top = stack[-1]
        if isinstance(top[0], list):
            top[0].append(value)
        elif top[1] is _NO_KEY:
            if not hashable:
                raise error(None, None, "a mapping key must be a plain value, not a list or mapping", mark)
            if value in top[0]:
                raise error(None, None, f"duplicate key {value!r} (which value holds? give each key once)", mark)
            top[1] = value
        else:
            top[0][top[1]] = value
            top[1] = _NO_KEY

    for event in yaml.parse(text, Loader=loader_class):
        if isinstance(event, yaml.DocumentStartEvent):
            documents += 1
            if documents > 1:
                raise error(None, None, "expected a single document", event.start_mark)
        elif isinstance(event, yaml.AliasEvent):
            raise error(None, None, "anchors and aliases are not supported", event.start_mark)
        elif isinstance(event, yaml.ScalarEvent):
            # A scalar's value depends on its tag, text and implicitness only: a stats file repeats
            # the same keys and values for every table, each resolved and constructed once here.
            key = (event.tag, event.value, event.implicit)
            value = seen.get(key, _NO_KEY)
            if value is _NO_KEY:
                tag = event.tag
                if tag is None or tag == "!":
                    tag = scalars.resolve(yaml.ScalarNode, event.value, event.implicit)
                if tag == "tag:yaml.org,2002:merge":
                    raise error(None, None, "merge keys (<<) are not supported", event.start_mark)
                node = yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark, event.style)
                value = scalars.construct_object(node, deep=True)
                if not isinstance(value, (list, dict)):  # immutable: str, int, float, bool, None, dates
                    seen[key] = value
            add(value, event.start_mark, not isinstance(value, (list, dict)))
        elif isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
            mapping = isinstance(event, yaml.MappingStartEvent)
            if event.tag not in (None, "!", _MAP if mapping else _SEQ):
                raise error(None, None, f"unsupported tag {event.tag!r}", event.start_mark)
            if len(stack) >= MAX_DOCUMENT_DEPTH:
                raise error(None, None, f"nested too deeply (more than {MAX_DOCUMENT_DEPTH} levels)",
                            event.start_mark)
            container: Any = {} if mapping else []
            add(container, event.start_mark, False)
            stack.append([container, _NO_KEY])
        elif isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
            stack.pop()
    return root


def _depth(doc: Any) -> int:
    """How deeply lists and mappings nest, level by level (no recursion: a deep document must not
    recurse here), stopping past MAX_DOCUMENT_DEPTH."""
    level = [doc] if isinstance(doc, (dict, list)) else []
    depth = 0
    while level and depth <= MAX_DOCUMENT_DEPTH:
        depth += 1
        level = [c for node in level for c in (node.values() if isinstance(node, dict) else node)
                 if isinstance(c, (dict, list))]
    return depth


def load_document(path: str | os.PathLike[str], *, what: str, json_only: bool = False) -> Any:
    """Read and decode a JSON or YAML document within the limits (see decode_document)."""
    from migspec.paths import display

    p = display(path)  # as str(Path(path)) names it, without importing pathlib
    return decode_document(read_capped(p, MAX_JSON_BYTES, what), p, what=what, json_only=json_only)


def decode_document(data: bytes, p: str | os.PathLike[str], *, what: str, json_only: bool = False) -> Any:
    """Decode a JSON or YAML document (JSON when the name ends in .json, when ``json_only``, or when
    the text looks like JSON), within the limits; every problem is an InputError naming the file
    (and line:column where the decoder knows it)."""
    from migspec.paths import suffix

    is_json = json_only or suffix(p).lower() == ".json"
    if len(data) > MAX_JSON_BYTES:
        raise InputError(f"{p}: {what} is larger than {size(MAX_JSON_BYTES)}, the limit for it (migspec.limits)")
    try:
        text = data.decode("utf-8-sig")  # a byte order mark is not part of the document
    except UnicodeDecodeError as exc:
        raise InputError(f"{p}: cannot read {what}: not UTF-8 text ({exc.reason})") from None
    looks_json = is_json or text.lstrip()[:1] in ("{", "[")
    doc: Any = None
    try:
        if looks_json:
            try:
                doc = json.loads(text, object_pairs_hook=_json_object, parse_int=lambda s: int(_number_text(s)),
                                 parse_float=lambda s: float(_number_text(s)), parse_constant=_json_constant)
            except json.JSONDecodeError as exc:
                if is_json:
                    raise InputError(f"{p}:{exc.lineno}:{exc.colno}: malformed JSON: {exc.msg}") from None
                looks_json = False  # YAML that starts like a flow collection
        if not looks_json:
            if len(data) > MAX_YAML_BYTES:
                raise InputError(f"{p}: {what} is larger than {size(MAX_YAML_BYTES)}, the limit for YAML "
                                 "(migspec.limits); write it as JSON (a .json file) instead")
            from migspec import plainyaml

            try:
                return plainyaml.read(text)  # the same document, without importing PyYAML (issue 16)
            except plainyaml.Unsupported:
                pass  # PyYAML reads it, and states any error
            import yaml

            try:
                doc = _yaml(text)
            except yaml.YAMLError as exc:
                mark = getattr(exc, "problem_mark", None)
                where = f"{p}:{mark.line + 1}:{mark.column + 1}" if mark else str(p)
                problem = getattr(exc, "problem", None) or "malformed YAML"
                if "nesting depth" in problem:  # libyaml's own bound (1,000 levels), met before ours
                    raise RecursionError from None
                raise InputError(f"{where}: malformed YAML: {problem}") from None
    except _DocumentError as exc:
        raise InputError(f"{p}: malformed {what}: {exc}") from None
    except RecursionError:  # both decoders recurse per nesting level
        raise InputError(f"{p}: malformed {what}: nested too deeply (more than {MAX_DOCUMENT_DEPTH} levels)") from None
    except ValueError as exc:  # Python's own integer-conversion limit, and the like
        raise InputError(f"{p}: malformed {what}: {exc}") from None
    if looks_json and _depth(doc) > MAX_DOCUMENT_DEPTH:
        raise InputError(f"{p}: malformed {what}: nested too deeply (more than {MAX_DOCUMENT_DEPTH} levels)")
    return doc

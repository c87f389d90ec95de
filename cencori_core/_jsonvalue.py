"""Text and JSON values: the checks every argument check in :mod:`._validate` builds on.

A string must be UTF-8 encodable (no lone surrogates); a JSON value (tools, response_format,
metadata, provider_options, tool-call arguments) plain JSON types within bounds that keep every
later stage (our converters, the SDKs' recursive serializers) away from RecursionError and
OverflowError. Each failure is an :class:`InvalidRequestError` naming the parameter and the path.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from .errors import InvalidRequestError

__all__ = ["MAX_DEPTH", "MAX_INT", "MAX_NODES", "text", "short", "json_value", "json_text"]


# Bounds that keep every later stage (our converters, the SDKs' recursive serializers, pricing
# arithmetic, sleeps) away from RecursionError, OverflowError and huge-int ValueError. Real
# requests stay far below them: OpenAI's structured outputs allow 10 levels of nesting.
MAX_DEPTH = 64
"""Deepest nesting of lists and dicts accepted anywhere in a request."""
MAX_INT = 2**63 - 1
"""Largest integer magnitude accepted in a JSON value (a signed 64-bit integer)."""


def _bad(msg: str, param: str) -> InvalidRequestError:
    return InvalidRequestError(msg, param=param)


# ---------------------------------------------------------------------------- strings and JSON


def _utf8(value: str) -> bool:
    """False for text holding lone surrogates (``"\\ud800"``): it cannot be UTF-8 encoded, so
    every SDK would fail while sending it."""
    if value.isascii():
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def text(value: Any, param: str) -> str:
    """``value`` if it is a string that can be sent (UTF-8 encodable)."""
    if not isinstance(value, str):
        raise _bad(f"{param} must be a string, got {type(value).__name__}", param)
    if not _utf8(value):
        raise _bad(f"{param} contains a lone surrogate (e.g. '\\ud800'), which cannot be "
                   "encoded as UTF-8: decode your text with errors='replace' first", param)
    return value


MAX_NODES = 100_000
"""Most values (dict entries and list items) in one JSON value: shared references make a small
object graph expand to an exponential tree, and a cycle would never end."""


def _where(param: str, path: Any) -> str:
    keys: list[Any] = []
    while path is not None:
        path, key = path
        keys.append(key)
    return param + "".join(f"[{k!r}]" for k in reversed(keys))


def _leaf_ok(value: Any) -> bool:
    """True for a JSON scalar that can be sent (the common case, checked inline)."""
    t = type(value)
    if t is str:
        return value.isascii() or _utf8(value)
    if t is int:
        return bool(-MAX_INT <= value <= MAX_INT)
    if t is float:
        return math.isfinite(value)
    return value is None or t is bool


def _plain(item: Any, depth: int, budget: list[int]) -> bool:
    """The fast path of :func:`json_value`: True when ``item`` is made of plain dicts, lists and
    sendable scalars only, within the bounds. Recursive (the depth is bounded), no messages;
    anything else (tuples, Mapping types, models, a bad value) is False and gets the full check.
    About twice as fast as ``json.dumps`` on a tool schema."""
    if depth >= MAX_DEPTH:
        return False
    budget[0] -= len(item)
    if budget[0] < 0:
        return False
    values = item.values() if type(item) is dict else item
    if type(item) is dict:
        for k in item:
            if type(k) is not str or not (k.isascii() or _utf8(k)):
                return False
    for val in values:
        t = type(val)
        if t is str:
            if not (val.isascii() or _utf8(val)):
                return False
        elif t is dict or t is list:
            if not _plain(val, depth + 1, budget):
                return False
        elif not (val is None or t is bool or (t is int and -MAX_INT <= val <= MAX_INT)
                  or (t is float and math.isfinite(val))):
            return False
    return True


def json_value(value: Any, param: str, *, opaque_models: bool = False) -> None:
    """Check that ``value`` is plain JSON: dicts with string keys, lists, strings (UTF-8
    encodable), finite floats, 64-bit integers, booleans and None, nested at most
    :data:`MAX_DEPTH` deep and :data:`MAX_NODES` values in all. Iterative, so a 5,000-deep value
    is an error and not a RecursionError. With ``opaque_models`` pydantic models (an SDK's own
    option types, e.g. ``google.genai.types.ThinkingConfig``) are accepted as they are.

    This runs on every request's tools, response_format, metadata and provider_options: scalars
    are checked inline and paths for messages are built only on error."""
    if (type(value) is dict or type(value) is list) and _plain(value, 0, [MAX_NODES]):
        return
    budget = MAX_NODES
    stack: list[tuple[Any, int, Any]] = [(value, 0, None)]
    while stack:
        item, depth, path = stack.pop()
        t = type(item)
        if t is dict or t is list or t is tuple or isinstance(item, (Mapping, list, tuple)):
            if depth >= MAX_DEPTH:
                raise _bad(f"{param} is nested more than {MAX_DEPTH} levels deep (or refers to "
                           "itself); flatten it", _where(param, path))
            budget -= len(item)
            if budget < 0:
                raise _bad(f"{param} holds more than {MAX_NODES} values (or refers to itself)",
                           param)
            if t is dict or (t is not list and t is not tuple and isinstance(item, Mapping)):
                for k, val in item.items():
                    if type(k) is not str:
                        if not isinstance(k, str):
                            where = _where(param, path)
                            raise _bad(f"{where} has a key {short(k)} of type "
                                       f"{type(k).__name__}; JSON object keys must be strings",
                                       where)
                    if not k.isascii() and not _utf8(k):
                        text(k, f"a key of {_where(param, path)}")
                    # plain ASCII strings inline: most leaves of a schema or options dict
                    if type(val) is str and val.isascii() or _leaf_ok(val):
                        continue
                    stack.append((val, depth + 1, (path, k)))
            else:
                for i, val in enumerate(item):
                    if type(val) is str and val.isascii() or _leaf_ok(val):
                        continue
                    stack.append((val, depth + 1, (path, i)))
            continue
        if item is None or isinstance(item, bool):
            continue
        if isinstance(item, str):
            text(item, _where(param, path))
            continue
        if isinstance(item, int):
            if not -MAX_INT <= item <= MAX_INT:
                where = _where(param, path)
                raise _bad(f"{where} is an integer beyond 64 bits; JSON APIs cannot take it",
                           where)
            continue
        if isinstance(item, float):
            if not math.isfinite(item):
                where = _where(param, path)
                raise _bad(f"{where} is {item!r}, which is not valid JSON: use a finite number",
                           where)
            continue
        if opaque_models and callable(getattr(item, "model_dump", None)):
            continue
        where = _where(param, path)
        raise _bad(f"{where} is a {type(item).__name__}, which is not a JSON value (use dicts, "
                   "lists, strings, numbers, booleans and None)", where)


def json_text(value: str, param: str) -> None:
    """Bound the nesting of a JSON text (tool-call arguments) without parsing it: the stdlib
    parser recurses, so 5,000 nested brackets would be a RecursionError there."""
    if value.count("[") + value.count("{") <= MAX_DEPTH:
        return
    depth = 0
    in_str = escaped = False
    for ch in value:
        if in_str:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                raise _bad(f"{param} is nested more than {MAX_DEPTH} levels deep", param)
        elif ch in "]}":
            depth -= 1


def short(value: Any) -> str:
    """repr for a message, bounded (a 5,000-digit int has no useful repr, and would raise)."""
    if type(value) is int and abs(value) > MAX_INT:
        return "an integer beyond 64 bits"
    # exact types only: a subclass's own __repr__ may raise anything (it is named by its type)
    r = repr(value) if type(value) in (int, float, str, bool) or value is None \
        else type(value).__name__
    return r if len(r) <= 80 else r[:77] + "..."

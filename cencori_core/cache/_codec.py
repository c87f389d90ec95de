"""Cached answers as bytes: a response's answer fields as JSON, read back into the same type.

What is kept: the answer (content, tool calls, finish reason, reasoning, refusal, vectors,
moderation results, ...), its usage and cost (the cost is what a hit saves), the model and
provider that produced it and its id. What is not: ``raw`` (the SDK object), ``attempts``,
``latency_ms``, ``deployment`` and ``policy_decisions`` (those belong to the call that serves the
hit), and any field the codec does not know (a type's new field falls back to its default, so
an old entry still reads). JSON, not pickle: reading an entry from a shared Redis never runs code.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import MISSING, fields
from decimal import Decimal
from typing import Any

from ..types import (
    ChatResponse,
    Cost,
    EmbeddingResponse,
    ModerationResponse,
    ModerationResult,
    ToolCall,
    Usage,
)

__all__ = ["CACHED_OPERATIONS", "encode", "decode"]

_TYPES: dict[str, type] = {"chat": ChatResponse, "embed": EmbeddingResponse,
                           "moderate": ModerationResponse}
CACHED_OPERATIONS = frozenset(_TYPES)
"""The operations whose answers are cached (chat and chat streams, embeddings, moderation)."""

_SKIP = frozenset({"raw", "attempts", "latency_ms", "deployment", "policy_decisions",
                   "cache_hit"})


def _usage(d: Any) -> Usage:
    return Usage(**{k: v for k, v in d.items() if k in _USAGE_FIELDS})


def _cost(d: Any) -> Cost | None:
    if d is None:
        return None
    return Cost(**{k: Decimal(v) for k, v in d.items() if k in _COST_FIELDS})


def _tool_calls(items: Any) -> list[ToolCall]:
    return [ToolCall(**{k: v for k, v in tc.items() if k in _TOOL_FIELDS}) for tc in items]


def _results(items: Any) -> list[ModerationResult]:
    return [ModerationResult(**{k: v for k, v in r.items() if k in _MOD_FIELDS})
            for r in items]


_USAGE_FIELDS = frozenset(f.name for f in fields(Usage))
_COST_FIELDS = frozenset(f.name for f in fields(Cost))
_TOOL_FIELDS = frozenset(f.name for f in fields(ToolCall))
_MOD_FIELDS = frozenset(f.name for f in fields(ModerationResult))
_READERS: dict[str, Callable[[Any], Any]] = {"usage": _usage, "cost": _cost,
                                             "tool_calls": _tool_calls, "results": _results}


def _fields(cls: type) -> dict[str, Any]:
    return {f.name: f for f in fields(cls) if f.name not in _SKIP}


_FIELDS = {op: _fields(cls) for op, cls in _TYPES.items()}


def encode(operation: str, response: Any) -> bytes:
    """The answer of ``response`` as JSON bytes (``to_dict`` values: Decimals as strings)."""
    out: dict[str, Any] = {}
    for name in _FIELDS[operation]:
        value = getattr(response, name, None)
        if name in _READERS:
            if value is None:
                out[name] = None
            elif isinstance(value, list):
                out[name] = [v.to_dict() for v in value]
            else:
                out[name] = value.to_dict()
        elif name == "vectors" or _jsonable(value):  # vectors: lists of floats, always
            out[name] = value
    return json.dumps({"op": operation, "r": out}, separators=(",", ":"),
                      ensure_ascii=False).encode("utf-8", "surrogatepass")


def _jsonable(value: Any) -> bool:
    """Plain JSON data (a new field holding objects is left out rather than mangled)."""
    if isinstance(value, (str, int, float, bool)) or value is None:
        return True
    if isinstance(value, list):
        return all(_jsonable(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _jsonable(v) for k, v in value.items())
    return False


def decode(operation: str, data: bytes) -> Any:
    """The response ``data`` holds, as a new object of the operation's response type; raises
    ``ValueError`` (or ``KeyError`` / ``TypeError``) for an entry it cannot read."""
    doc = json.loads(data)
    if doc.get("op") != operation:
        raise ValueError(f"cached entry is a {doc.get('op')!r} answer, not {operation!r}")
    known = _FIELDS[operation]
    kw: dict[str, Any] = {}
    for name, value in doc["r"].items():
        if name not in known:
            continue
        reader = _READERS.get(name)
        kw[name] = reader(value) if reader is not None and value is not None else value
    for name, f in known.items():  # required fields an old entry lacks: not readable
        if name not in kw and f.default is MISSING and f.default_factory is MISSING:
            raise ValueError(f"cached entry lacks {name!r}")
    return _TYPES[operation](**kw)

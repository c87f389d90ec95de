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
    Choice,
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

# The fields kept, per type: the answer and who produced it (see the module docstring). A field
# another type adds later is not kept until it is listed here: a hit then has its default.
_PLAIN = ("content", "finish_reason", "reasoning", "created", "provider_data", "refusal",
          "vectors", "flagged", "model", "provider", "id", "logprobs")


def _usage(d: Any) -> Usage:
    return Usage(**{k: v for k, v in d.items() if k in _USAGE_FIELDS})


def _cost(d: Any) -> Cost | None:
    if d is None:
        return None
    return Cost(**{k: Decimal(v) for k, v in d.items() if k in _COST_FIELDS})


def _tool_calls(items: Any) -> list[ToolCall]:
    return [ToolCall(**{k: v for k, v in tc.items() if k in _TOOL_FIELDS}) for tc in items]


def _choices(items: Any) -> tuple[Choice, ...]:
    # n > 1 answers (issue 17): every choice comes back, with its tool calls
    out = []
    for c in items:
        kw: dict[str, Any] = {k: v for k, v in c.items() if k in _CHOICE_FIELDS}
        kw["tool_calls"] = _tool_calls(kw.get("tool_calls") or [])
        out.append(Choice(**kw))
    return tuple(out)


def _results(items: Any) -> list[ModerationResult]:
    return [ModerationResult(**{k: v for k, v in r.items() if k in _MOD_FIELDS})
            for r in items]


_USAGE_FIELDS = frozenset(f.name for f in fields(Usage))
_COST_FIELDS = frozenset(f.name for f in fields(Cost))
_TOOL_FIELDS = frozenset(f.name for f in fields(ToolCall))
_MOD_FIELDS = frozenset(f.name for f in fields(ModerationResult))
_CHOICE_FIELDS = frozenset(f.name for f in fields(Choice))
_READERS: dict[str, Callable[[Any], Any]] = {"usage": _usage, "cost": _cost,
                                             "tool_calls": _tool_calls, "results": _results,
                                             "choices": _choices}


def _fields(cls: type) -> dict[str, Any]:
    kept = set(_PLAIN) | set(_READERS)
    return {f.name: f for f in fields(cls) if f.name in kept}


_FIELDS = {op: _fields(cls) for op, cls in _TYPES.items()}
_REQUIRED = {op: {n for n, f in fs.items() if f.default is MISSING
                  and f.default_factory is MISSING} for op, fs in _FIELDS.items()}
_USAGE_NAMES = tuple(sorted(_USAGE_FIELDS))
_COST_NAMES = tuple(sorted(_COST_FIELDS))


def encode(operation: str, response: Any) -> bytes:
    """The answer of ``response`` as JSON bytes (Decimals as strings); unset fields left out."""
    out: dict[str, Any] = {}
    required = _REQUIRED[operation]
    for name in _FIELDS[operation]:
        value = getattr(response, name, None)
        if value is None:
            if name in required:  # content=None (a tool-call answer) is still said
                out[name] = None
            continue
        if name in ("tool_calls", "choices") and not value:
            continue
        if name == "usage":
            value = {k: v for k in _USAGE_NAMES if (v := getattr(value, k)) is not None}
        elif name == "cost":
            value = {k: str(getattr(value, k)) for k in _COST_NAMES}
        elif name in _READERS:  # tool_calls, results, choices
            value = [v.to_dict() for v in value]
        out[name] = value
    # default=str: a provider_data value JSON cannot hold is kept as its text, never an error
    return json.dumps({"op": operation, "r": out}, separators=(",", ":"), ensure_ascii=False,
                      default=str).encode("utf-8", "surrogatepass")


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

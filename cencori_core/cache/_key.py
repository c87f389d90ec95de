"""The cache key of a call: a stable hash of the normalized request (see docs/cache.md).

What goes in: the operation, the project (so one project never sees another's answers), the
resolved provider and model, and every request field that can change the answer (messages,
tools, tool_choice, response_format, temperature, max_tokens, stop, seed, provider_options,
embedding input, ...). Request fields are taken by exclusion: a field added to a request type
later is in the key unless listed in :data:`IGNORED`, so a new answer-changing parameter can
never make two different requests share an answer.

What stays out: ``user``, ``metadata``, ``timeout``, the idempotency key, ``stream`` (a chat
answer can serve a stream and back), the caller's ``api_key`` (only the project it maps to
counts), and option values under credential names (``api_key``, ``Authorization``, ...) inside
``provider_options``. The key is ``sha256`` of a canonical JSON (sorted keys, no spaces,
integral floats as ints), so nothing readable and no secret is ever in it.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import fields, is_dataclass
from typing import Any

from ..config import Secret, is_secret_name

__all__ = ["IGNORED", "cache_key", "canonical"]

IGNORED = frozenset({"model", "timeout", "idempotency_key", "user", "metadata", "stream"})
"""Request fields that never change the answer (``model`` is replaced by the resolved route)."""

_VERSION = 1  # bump when the key or the stored value changes shape


def canonical(value: Any, *, options: bool = False) -> Any:
    """``value`` as plain JSON data with one spelling per meaning. ``options``: inside
    ``provider_options``, where credential-named entries are dropped."""
    if value is None or isinstance(value, (bool, str, int)):
        return value
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return repr(value)
        return int(value) if value.is_integer() else value
    if isinstance(value, Secret):
        return None
    if isinstance(value, dict):
        return {str(k): canonical(v, options=options) for k, v in value.items()
                if not (options and is_secret_name(k))}
    if isinstance(value, (list, tuple)):
        return [canonical(v, options=options) for v in value]
    if isinstance(value, (bytes, bytearray)):
        return "sha256:" + hashlib.sha256(value).hexdigest()
    if is_dataclass(value) and not isinstance(value, type):
        return {name: canonical(getattr(value, name), options=options)
                for name in _names(type(value))}
    schema = getattr(value, "model_json_schema", None)  # a pydantic model class (structured)
    if callable(schema):
        try:
            return {"schema": canonical(schema())}
        except Exception:  # noqa: BLE001 - fall back to its name
            pass
    name = getattr(value, "__qualname__", None)
    if name is not None:
        return f"{getattr(value, '__module__', '')}.{name}"
    return f"{type(value).__module__}.{type(value).__qualname__}:{value!s}"


_NAMES: dict[type, tuple[str, ...]] = {}


def _names(cls: type) -> tuple[str, ...]:
    """A dataclass's field names but ``raw`` (looked up once per class: this runs per call)."""
    names = _NAMES.get(cls)
    if names is None:
        names = _NAMES[cls] = tuple(f.name for f in fields(cls) if f.name != "raw")
    return names


def cache_key(operation: str, project: str | None, provider: str, model: str,
              request: Any, prefix: str = "") -> str:
    """The key of one request: ``prefix`` + the sha256 of its canonical JSON."""
    body = {}
    for name in _names(type(request)):
        if name in IGNORED:
            continue
        value = getattr(request, name)
        if value is None:  # an unset option and an absent one are the same request
            continue
        body[name] = canonical(value, options=name == "provider_options")
    payload = {"v": _VERSION, "op": operation, "project": project, "provider": provider,
               "model": model, "request": body}
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return prefix + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()

"""Validation of tool-call arguments against the JSON Schema a tool declares.

Covers the vocabulary function-calling APIs accept (OpenAI's strict mode and the common
subset of Anthropic, Gemini and Mistral): ``type`` (one or a list), ``properties``,
``required``, ``additionalProperties``, ``items``, ``enum``, ``const``, ``anyOf``, ``oneOf``,
``allOf``, ``not``, numeric and length bounds, ``pattern``, and local ``$ref`` to ``#/$defs``
or ``#/definitions``. Unknown keywords are ignored, as JSON Schema prescribes. cencori-core has
no dependency on a full validator; this is the part tool schemas use.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["errors"]

_TYPES: dict[str, Any] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "integer": lambda v: (isinstance(v, int) and not isinstance(v, bool))
    or (isinstance(v, float) and v.is_integer()),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
}


def errors(value: Any, schema: Any, root: Any = None, path: str = "$") -> list[str]:
    """Where and how ``value`` breaks ``schema`` (empty when it conforms). Messages name the
    path and the keyword, never the offending value."""
    if schema is True or schema is None or schema == {}:
        return []
    if schema is False:
        return [f"{path}: no value is allowed here"]
    if not isinstance(schema, dict):
        return []
    root = schema if root is None else root
    ref = schema.get("$ref")
    if isinstance(ref, str):
        target = _resolve(ref, root)
        if target is None:
            return [f"{path}: unresolvable $ref {ref!r}"]
        return errors(value, target, root, path)

    out: list[str] = []
    kind = schema.get("type")
    if kind is not None:
        kinds = kind if isinstance(kind, list) else [kind]
        if not any(_TYPES.get(k, lambda v: True)(value) for k in kinds):
            return [f"{path}: expected {' or '.join(map(str, kinds))}, got {_name(value)}"]
    if "enum" in schema and value not in schema["enum"]:
        out.append(f"{path}: not one of the allowed values (enum)")
    if "const" in schema and value != schema["const"]:
        out.append(f"{path}: not the required constant")

    if isinstance(value, dict):
        props = schema.get("properties") or {}
        for key in schema.get("required") or ():
            if key not in value:
                out.append(f"{path}: missing required property {key!r}")
        extra = schema.get("additionalProperties", True)
        for key, item in value.items():
            if key in props:
                out.extend(errors(item, props[key], root, f"{path}.{key}"))
            elif extra is False:
                out.append(f"{path}: unexpected property {key!r}")
            elif isinstance(extra, dict):
                out.extend(errors(item, extra, root, f"{path}.{key}"))
    elif isinstance(value, list):
        items = schema.get("items")
        if isinstance(items, dict):
            for i, item in enumerate(value):
                out.extend(errors(item, items, root, f"{path}[{i}]"))
        out.extend(_bounds(len(value), schema, "minItems", "maxItems", path, "items"))
    elif isinstance(value, str):
        out.extend(_bounds(len(value), schema, "minLength", "maxLength", path, "characters"))
        pattern = schema.get("pattern")
        if isinstance(pattern, str) and not re.search(pattern, value):
            out.append(f"{path}: does not match the pattern")
    elif _TYPES["number"](value):
        out.extend(_numbers(value, schema, path))

    for sub in schema.get("allOf") or ():
        out.extend(errors(value, sub, root, path))
    any_of = schema.get("anyOf")
    if any_of and all(errors(value, sub, root, path) for sub in any_of):
        out.append(f"{path}: matches none of anyOf")
    one_of = schema.get("oneOf")
    if one_of and sum(not errors(value, sub, root, path) for sub in one_of) != 1:
        out.append(f"{path}: does not match exactly one of oneOf")
    if "not" in schema and not errors(value, schema["not"], root, path):
        out.append(f"{path}: matches a schema it must not (not)")
    return out


def _resolve(ref: str, root: dict[str, Any]) -> Any:
    if not ref.startswith("#"):
        return None
    node: Any = root
    for part in ref[1:].split("/"):
        if not part:
            continue
        part = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _bounds(n: int, schema: dict[str, Any], low: str, high: str, path: str,
            unit: str) -> list[str]:
    out = []
    if isinstance(schema.get(low), int) and n < schema[low]:
        out.append(f"{path}: fewer than {schema[low]} {unit} ({low})")
    if isinstance(schema.get(high), int) and n > schema[high]:
        out.append(f"{path}: more than {schema[high]} {unit} ({high})")
    return out


def _numbers(value: float, schema: dict[str, Any], path: str) -> list[str]:
    out = []
    checks = (("minimum", lambda v, b: v < b), ("maximum", lambda v, b: v > b),
              ("exclusiveMinimum", lambda v, b: v <= b), ("exclusiveMaximum", lambda v, b: v >= b))
    for key, broken in checks:
        bound = schema.get(key)
        if _TYPES["number"](bound) and broken(value, bound):  # type: ignore[no-untyped-call]
            out.append(f"{path}: out of range ({key} {bound})")
    step = schema.get("multipleOf")
    if _TYPES["number"](step) and step and (value / step) % 1:
        out.append(f"{path}: not a multiple of {step}")
    return out


def _name(value: Any) -> str:
    for kind in ("null", "boolean", "integer", "number", "string", "array", "object"):
        if _TYPES[kind](value):
            return kind
    return type(value).__name__

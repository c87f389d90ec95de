"""Input validation with precise messages, before any provider is touched."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from .errors import InvalidRequestError
from .types import Message, ToolCall

ROLES = ("system", "developer", "user", "assistant", "tool")
PART_TYPES = ("text", "image_url", "input_audio", "file")
MESSAGE_KEYS = frozenset({"role", "content", "name", "tool_calls", "tool_call_id", "reasoning",
                          "reasoning_content", "provider_data", "refusal", "function_call",
                          "audio"})


def _bad(msg: str, param: str) -> InvalidRequestError:
    return InvalidRequestError(msg, param=param)


def messages(value: Any) -> list[Message]:
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
        raise _bad(
            "messages must be a list of messages such as [{'role': 'user', 'content': 'Hello'}], "
            f"got {type(value).__name__}", "messages")
    if not value:
        raise _bad("messages must not be empty: give at least one {'role': 'user', 'content': ...}",
                   "messages")
    return [message(m, i) for i, m in enumerate(value)]


_PLAIN_ROLES = frozenset({"system", "developer", "user", "assistant"})


def message(m: Any, i: int) -> Message:
    # Fast path for the common shape {"role": ..., "content": "text"}: nothing else to check.
    if type(m) is dict and len(m) == 2:
        role = m.get("role")
        content = m.get("content")
        if type(content) is str and role in _PLAIN_ROLES:
            return Message(role=role, content=content)
    where = f"messages[{i}]"
    if isinstance(m, Message):
        if m.role not in ROLES:
            raise _bad(f"{where}.role {m.role!r} is not one of {', '.join(ROLES)}", where)
        return m
    if not isinstance(m, Mapping):
        raise _bad(f"{where} must be a dict with 'role' and 'content' or a Message, "
                   f"got {type(m).__name__}", where)
    role = m.get("role")
    if role not in ROLES:
        raise _bad(f"{where}.role {role!r} is not one of {', '.join(ROLES)}", where + ".role")
    unknown = set(m) - MESSAGE_KEYS
    if unknown:
        raise _bad(f"{where} has unknown key(s) {sorted(unknown)}; allowed: {sorted(MESSAGE_KEYS)}",
                   where)
    content = m.get("content")
    tool_calls: list[ToolCall] = []
    raw_calls = m.get("tool_calls")
    if raw_calls:
        if role != "assistant":
            raise _bad(f"{where}: only assistant messages carry tool_calls", where + ".tool_calls")
        tool_calls = _tool_calls(raw_calls, where)
    if role == "tool":
        tcid = m.get("tool_call_id")
        if not tcid or not isinstance(tcid, str):
            raise _bad(f"{where}: a tool message needs 'tool_call_id' (the id of the assistant's "
                       "tool call it answers)", where + ".tool_call_id")
    if content is None:
        if role in ("user", "system", "developer", "tool"):
            raise _bad(f"{where}.content is missing: a {role} message needs text or content parts",
                       where + ".content")
        if not tool_calls:
            raise _bad(f"{where}: an assistant message needs content or tool_calls",
                       where + ".content")
    elif isinstance(content, str):
        pass
    elif isinstance(content, (list, tuple)):
        if role in ("system", "developer") or role == "assistant":
            for j, part in enumerate(content):
                if not (isinstance(part, Mapping) and part.get("type") == "text"):
                    raise _bad(f"{where}.content[{j}]: {role} messages take text parts only",
                               f"{where}.content[{j}]")
        content = [_part(p, f"{where}.content[{j}]") for j, p in enumerate(content)]
    else:
        raise _bad(f"{where}.content must be a string or a list of content parts, "
                   f"got {type(content).__name__}", where + ".content")
    name = m.get("name")
    if name is not None and not isinstance(name, str):
        raise _bad(f"{where}.name must be a string", where + ".name")
    reasoning = m.get("reasoning") or m.get("reasoning_content")
    return Message(role=role, content=content, name=name, tool_calls=tool_calls,
                   tool_call_id=m.get("tool_call_id"), reasoning=reasoning,
                   provider_data=m.get("provider_data"))


def _part(p: Any, where: str) -> dict[str, Any]:
    if not isinstance(p, Mapping):
        raise _bad(f"{where} must be a dict such as {{'type': 'text', 'text': '...'}}", where)
    kind = p.get("type")
    if kind == "text":
        if not isinstance(p.get("text"), str):
            raise _bad(f"{where}: a text part needs a string 'text'", where)
    elif kind == "image_url":
        iu = p.get("image_url")
        url = iu.get("url") if isinstance(iu, Mapping) else iu
        if not isinstance(url, str) or not url:
            raise _bad(f"{where}: an image_url part needs {{'image_url': {{'url': 'https://...' or "
                       "'data:image/png;base64,...'}}}}", where)
        if not isinstance(iu, Mapping):
            p = {"type": "image_url", "image_url": {"url": url}}
    elif kind == "input_audio":
        ia = p.get("input_audio")
        if not (isinstance(ia, Mapping) and isinstance(ia.get("data"), str)
                and isinstance(ia.get("format"), str)):
            raise _bad(f"{where}: an input_audio part needs {{'input_audio': {{'data': <base64>, "
                       "'format': 'wav'}}}}", where)
    elif kind == "file":
        if not isinstance(p.get("file"), Mapping):
            raise _bad(f"{where}: a file part needs {{'file': {{...}}}}", where)
    else:
        raise _bad(f"{where}.type {kind!r} is not one of {', '.join(PART_TYPES)}", where)
    return dict(p)


def _tool_calls(raw: Any, where: str) -> list[ToolCall]:
    if not isinstance(raw, (list, tuple)):
        raise _bad(f"{where}.tool_calls must be a list", where + ".tool_calls")
    out = []
    for k, tc in enumerate(raw):
        w = f"{where}.tool_calls[{k}]"
        if isinstance(tc, ToolCall):
            out.append(tc)
            continue
        if not isinstance(tc, Mapping):
            raise _bad(f"{w} must be a dict with 'id' and 'function'", w)
        fn = tc.get("function")
        if not isinstance(fn, Mapping) or not isinstance(fn.get("name"), str):
            raise _bad(f"{w} needs {{'id': ..., 'type': 'function', 'function': {{'name': ..., "
                       "'arguments': '<json>'}}}}", w)
        if not isinstance(tc.get("id"), str):
            raise _bad(f"{w}.id must be a string", w)
        args = fn.get("arguments", "")
        if isinstance(args, Mapping):
            import json

            args = json.dumps(args)
        if not isinstance(args, str):
            raise _bad(f"{w}.function.arguments must be a JSON string", w)
        out.append(ToolCall.from_raw(id=tc["id"], name=fn["name"], arguments_raw=args,
                                     provider_data=tc.get("provider_data")))
    return out


def tools(value: Any) -> list[dict[str, Any]] | None:
    if value is None:
        return None
    if not isinstance(value, (list, tuple)):
        raise _bad("tools must be a list of function definitions", "tools")
    out = []
    for i, t in enumerate(value):
        w = f"tools[{i}]"
        if not isinstance(t, Mapping) or t.get("type") != "function":
            raise _bad(f"{w} must be a function definition: {{'type': 'function', 'function': "
                       "{'name': ..., 'description': ..., 'parameters': {...JSON schema}}}", w)
        fn = t.get("function")
        if not isinstance(fn, Mapping) or not isinstance(fn.get("name"), str) or not fn["name"]:
            raise _bad(f"{w}.function needs a non-empty 'name'", w)
        params = fn.get("parameters")
        if params is not None and not isinstance(params, Mapping):
            raise _bad(f"{w}.function.parameters must be a JSON schema object", w)
        out.append(dict(t))
    return out or None


def tool_choice(value: Any, have_tools: bool) -> Any:
    if value is None:
        return None
    if isinstance(value, str):
        if value not in ("auto", "none", "required"):
            raise _bad(f"tool_choice {value!r} is not one of 'auto', 'none', 'required' or "
                       "{'type': 'function', 'function': {'name': ...}}", "tool_choice")
    elif isinstance(value, Mapping):
        fn = value.get("function")
        if value.get("type") != "function" or not isinstance(fn, Mapping) or not fn.get("name"):
            raise _bad("tool_choice must name a function: {'type': 'function', 'function': "
                       "{'name': ...}}", "tool_choice")
        value = dict(value)
    else:
        raise _bad("tool_choice must be a string or a dict", "tool_choice")
    if not have_tools and value != "none":
        raise _bad("tool_choice is set but no tools are given", "tool_choice")
    return value


def temperature(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value) \
            or not 0 <= value <= 2:
        raise _bad(f"temperature must be a number from 0 to 2, got {value!r}", "temperature")
    return float(value)


def top_p(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value) \
            or not 0 <= value <= 1:
        raise _bad(f"top_p must be a number from 0 to 1, got {value!r}", "top_p")
    return float(value)


def positive_int(value: Any, param: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise _bad(f"{param} must be a positive integer, got {value!r}", param)
    return value


def optional_int(value: Any, param: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _bad(f"{param} must be an integer, got {value!r}", param)
    return value


def stop(value: Any) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple)) and all(isinstance(s, str) for s in value):
        return list(value) or None
    raise _bad("stop must be a string or a list of strings", "stop")


def response_format(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping) or value.get("type") not in ("text", "json_object",
                                                                    "json_schema"):
        raise _bad("response_format must be {'type': 'text' | 'json_object' | 'json_schema', ...}",
                   "response_format")
    if value["type"] == "json_schema":
        js = value.get("json_schema")
        if not isinstance(js, Mapping) or not isinstance(js.get("schema"), Mapping):
            raise _bad("response_format json_schema needs {'json_schema': {'name': ..., "
                       "'schema': {...}}}", "response_format")
    return dict(value)


def optional_str(value: Any, param: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise _bad(f"{param} must be a string, got {type(value).__name__}", param)
    return value


def optional_dict(value: Any, param: str) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise _bad(f"{param} must be a dict, got {type(value).__name__}", param)
    return dict(value)


def timeout(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value) \
            or value <= 0:
        raise _bad(f"timeout must be a positive number of seconds, got {value!r}", "timeout")
    return float(value)


def texts(value: Any, param: str = "input") -> list[str]:
    if isinstance(value, str):
        if not value:
            raise _bad(f"{param} must not be empty", param)
        return [value]
    if isinstance(value, (list, tuple)) and value and all(isinstance(s, str) for s in value):
        return list(value)
    raise _bad(f"{param} must be a non-empty string or a non-empty list of strings", param)


def unknown_kwargs(operation: str, unknown: Mapping[str, Any], allowed: list[str]) -> None:
    names = ", ".join(sorted(unknown))
    raise InvalidRequestError(
        f"{operation}() got unexpected keyword argument(s) {names}; allowed: "
        f"{', '.join(allowed)}. Pass provider-specific options as provider_options={{...}}",
        param=next(iter(unknown)),
    )

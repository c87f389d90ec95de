"""Input validation with precise messages, before any provider is touched.

Model names, messages and their parts, tools, and the scalar arguments; strings and JSON values
are checked by :mod:`._jsonvalue` (its ``text``, ``short``, ``json_value`` and ``_bad`` are
importable from here too).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ._jsonvalue import MAX_INT, _utf8, json_text
from ._jsonvalue import _bad as _bad
from ._jsonvalue import json_value as json_value
from ._jsonvalue import short as short
from ._jsonvalue import text as text
from .errors import InvalidRequestError
from .types import Message, ToolCall

ROLES = ("system", "developer", "user", "assistant", "tool")
PART_TYPES = ("text", "image_url", "input_audio", "file")
MESSAGE_KEYS = frozenset({"role", "content", "name", "tool_calls", "tool_call_id", "reasoning",
                          "reasoning_content", "provider_data", "refusal", "function_call",
                          "audio"})

# Bounds of numbers (see _jsonvalue.py for nesting and integer bounds).
MAX_COUNT = 2**31 - 1
"""Largest max_tokens, n or dimensions."""
MAX_SECONDS = 86_400.0
"""Longest timeout or retry delay/deadline: one day."""
MAX_MODEL_LEN = 256


# ---------------------------------------------------------------------------- model names

# A model name reaches URL paths (Gemini: /v1beta/models/{model}:generateContent; Azure
# deployments) and log lines: no control, format or space characters (CR/LF, NUL, zero-width),
# no percent-encoding, query or fragment, no backslash, and "/" only between non-empty segments
# that are not "." or ".." (provider prefixes like "openai/gpt-4o" and "models/gemini-2.0-flash"
# stay valid).
_MODEL_BAD_CHARS = re.compile(r"[\x00-\x20\x7f-\xa0%?#\\\u1680\u180e\u2000-\u200f"
                              r"\u2028-\u202f\u205f-\u206f\u3000\ufeff\ufff0-\uffff]")


def model_name(value: Any, param: str = "model") -> str:
    """A model name that is safe to route, log and put in a URL path."""
    if not isinstance(value, str) or not value:
        raise _bad(f"{param} must be a non-empty string such as 'gpt-4o'", param)
    if value in _good_models:
        return value
    _check_model(value, param)
    if len(_good_models) < 4096:  # a handful of names in practice; bounded all the same
        _good_models.add(value)
    return value


_good_models: set[str] = set()


def _check_model(value: str, param: str) -> None:
    if len(value) > MAX_MODEL_LEN:
        raise _bad(f"{param} is {len(value)} characters long; model names have at most "
                   f"{MAX_MODEL_LEN}", param)
    text(value, param)
    bad = _MODEL_BAD_CHARS.search(value)
    if bad is not None:
        raise _bad(f"{param} {value!r} contains {bad.group()!r}: model names take no spaces, "
                   "control characters, '%', '?', '#' or '\\'", param)
    if "/" in value or "." in value:
        for seg in value.split("/"):
            if seg in ("", ".", ".."):
                raise _bad(f"{param} {value!r} has an empty, '.' or '..' path segment; write it "
                           "as 'provider/model' or 'model'", param)


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
        if type(content) is str and type(role) is str and role in _PLAIN_ROLES \
                and (content.isascii() or _utf8(content)):
            return Message(role=role, content=content)
    where = f"messages[{i}]"
    if isinstance(m, Message):
        # Checked like a dict: a Message built by hand can hold anything (types are not
        # enforced at runtime), and one taken from a response is cheap to re-check.
        m = {"role": m.role, "content": m.content, "name": m.name,
             "tool_calls": m.tool_calls, "tool_call_id": m.tool_call_id,
             "reasoning": m.reasoning, "provider_data": m.provider_data}
    elif not isinstance(m, Mapping):
        raise _bad(f"{where} must be a dict with 'role' and 'content' or a Message, "
                   f"got {type(m).__name__}", where)
    role = m.get("role")
    if isinstance(role, str) and type(role) is not str:
        role = str.__str__(role)  # a plain copy: a str subclass's own __eq__/__format__ never run
    if not isinstance(role, str) or role not in ROLES:
        raise _bad(f"{where}.role {short(role)} is not one of {', '.join(ROLES)}", where + ".role")
    if not all(isinstance(k, str) for k in m):
        raise _bad(f"{where} has non-string keys; allowed: {sorted(MESSAGE_KEYS)}", where)
    unknown = set(m) - MESSAGE_KEYS
    if unknown:
        raise _bad(f"{where} has unknown key(s) {sorted(unknown)}; allowed: {sorted(MESSAGE_KEYS)}",
                   where)
    content = m.get("content")
    tool_calls: list[ToolCall] = []
    raw_calls = m.get("tool_calls")
    if raw_calls is not None and not isinstance(raw_calls, (list, tuple)):
        # before its truth is asked: a foreign object's __len__/__bool__ may raise anything
        raise _bad(f"{where}.tool_calls must be a list", where + ".tool_calls")
    if raw_calls:
        if role != "assistant":
            raise _bad(f"{where}: only assistant messages carry tool_calls", where + ".tool_calls")
        tool_calls = _tool_calls(raw_calls, where)
    tcid = m.get("tool_call_id")
    if role == "tool":
        if not tcid or not isinstance(tcid, str):
            raise _bad(f"{where}: a tool message needs 'tool_call_id' (the id of the assistant's "
                       "tool call it answers)", where + ".tool_call_id")
    if tcid is not None:
        text(tcid, where + ".tool_call_id")
    if content is None:
        if role in ("user", "system", "developer", "tool"):
            raise _bad(f"{where}.content is missing: a {role} message needs text or content parts",
                       where + ".content")
        if not tool_calls:
            raise _bad(f"{where}: an assistant message needs content or tool_calls",
                       where + ".content")
    elif isinstance(content, str):
        text(content, where + ".content")
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
    if name is not None:
        text(name, where + ".name")
    reasoning = m.get("reasoning") or m.get("reasoning_content")
    if reasoning is not None:
        text(reasoning, where + ".reasoning")
    data = m.get("provider_data")
    if data is not None:
        provider_data(data, where + ".provider_data")
    return Message(role=role, content=content, name=name, tool_calls=tool_calls,
                   tool_call_id=tcid, reasoning=reasoning, provider_data=data)


def provider_data(value: Any, where: str) -> None:
    """Opaque provider state carried from one turn to the next: a JSON object."""
    if not isinstance(value, Mapping):
        raise _bad(f"{where} must be a dict (the provider_data of a previous response), got "
                   f"{type(value).__name__}", where)
    json_value(value, where)


def _part(p: Any, where: str) -> dict[str, Any]:
    if not isinstance(p, Mapping):
        raise _bad(f"{where} must be a dict such as {{'type': 'text', 'text': '...'}}", where)
    kind = p.get("type")
    if kind == "text":
        if not isinstance(p.get("text"), str):
            raise _bad(f"{where}: a text part needs a string 'text'", where)
        if len(p) == 2:
            text(p["text"], where + ".text")
            return dict(p)
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
        raise _bad(f"{where}.type {short(kind)} is not one of {', '.join(PART_TYPES)}", where)
    part: dict[str, Any] = dict(p)
    json_value(part, where)
    return part


def _tool_calls(raw: Any, where: str) -> list[ToolCall]:
    if not isinstance(raw, (list, tuple)):
        raise _bad(f"{where}.tool_calls must be a list", where + ".tool_calls")
    out = []
    for k, tc in enumerate(raw):
        w = f"{where}.tool_calls[{k}]"
        if isinstance(tc, ToolCall):
            # Built by hand or taken from a response: the same checks as the dict form.
            text(tc.id, w + ".id")
            text(tc.name, w + ".function.name")
            if tc.arguments_raw is not None:
                text(tc.arguments_raw, w + ".function.arguments")
                json_text(tc.arguments_raw, w + ".function.arguments")
            if tc.arguments is not None:
                json_value(tc.arguments, w + ".function.arguments")
            if tc.provider_data is not None:
                provider_data(tc.provider_data, w + ".provider_data")
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
        text(tc["id"], w + ".id")
        text(fn["name"], w + ".function.name")
        args = fn.get("arguments", "")
        if isinstance(args, Mapping):
            import json

            json_value(args, w + ".function.arguments")
            args = json.dumps(args)
        if not isinstance(args, str):
            raise _bad(f"{w}.function.arguments must be a JSON string", w)
        text(args, w + ".function.arguments")
        json_text(args, w + ".function.arguments")
        data = tc.get("provider_data")
        if data is not None:
            provider_data(data, w + ".provider_data")
        out.append(ToolCall.from_raw(id=tc["id"], name=fn["name"], arguments_raw=args,
                                     provider_data=data))
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
        t = dict(t)
        json_value(t, w)
        out.append(t)
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
        json_value(value, "tool_choice")
    else:
        raise _bad("tool_choice must be a string or a dict", "tool_choice")
    if not have_tools and value != "none":
        raise _bad("tool_choice is set but no tools are given", "tool_choice")
    return value


def temperature(value: Any) -> float | None:
    if value is None:
        return None
    # NaN fails the comparison; no float() or isnan() of a huge int (OverflowError)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 2:
        raise _bad(f"temperature must be a number from 0 to 2, got {short(value)}",
                   "temperature")
    return float(value)


def top_p(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise _bad(f"top_p must be a number from 0 to 1, got {short(value)}", "top_p")
    return float(value)


def positive_int(value: Any, param: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_COUNT:
        raise _bad(f"{param} must be a positive integer up to {MAX_COUNT}, "
                   f"got {short(value)}", param)
    return value


def optional_int(value: Any, param: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not -MAX_INT <= value <= MAX_INT:
        raise _bad(f"{param} must be an integer (64-bit), got {short(value)}", param)
    return value


def stop(value: Any) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return [text(value, "stop")]
    if isinstance(value, (list, tuple)) and all(isinstance(s, str) for s in value):
        for s in value:
            text(s, "stop")
        return list(value) or None
    raise _bad("stop must be a string or a list of strings", "stop")


def response_format(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping) or value.get("type") not in ("text", "json_object",
                                                                    "json_schema"):
        raise _bad("response_format must be a type (a pydantic model class, a dataclass, a "
                   "TypedDict, list[X], ...) or {'type': 'text' | 'json_object' | "
                   "'json_schema', ...}", "response_format")
    if value["type"] == "json_schema":
        js = value.get("json_schema")
        if not isinstance(js, Mapping) or not isinstance(js.get("schema"), Mapping):
            raise _bad("response_format json_schema needs {'json_schema': {'name': ..., "
                       "'schema': {...}}}", "response_format")
    checked: dict[str, Any] = dict(value)
    json_value(checked, "response_format")
    return checked


def optional_str(value: Any, param: str) -> str | None:
    if value is None:
        return None
    return text(value, param)


def optional_dict(value: Any, param: str) -> dict[str, Any] | None:
    """A dict of JSON values (metadata is stored in usage records and spans)."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise _bad(f"{param} must be a dict, got {type(value).__name__}", param)
    out = dict(value)
    json_value(out, param)
    return out


def seconds(value: Any, param: str, *, zero: bool = False) -> float:
    """A finite number of seconds, above 0 (or at least 0 with ``zero``), at most a day: an
    infinite or huge one overflows the SDKs' and threading's timeouts."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not (0 <= value if zero else 0 < value) or not value <= MAX_SECONDS:
        # NaN and inf fail the comparisons
        kind = "a number of seconds >= 0" if zero else "a positive number of seconds"
        raise _bad(f"{param} must be {kind}, at most {MAX_SECONDS:.0f} (one day), "
                   f"got {short(value)}", param)
    return float(value)


def timeout(value: Any) -> float | None:
    if value is None:
        return None
    return seconds(value, "timeout")


def texts(value: Any, param: str = "input") -> list[str]:
    if isinstance(value, str):
        if not value:
            raise _bad(f"{param} must not be empty", param)
        return [text(value, param)]
    if isinstance(value, (list, tuple)) and value and all(isinstance(s, str) for s in value):
        for i, s in enumerate(value):
            text(s, f"{param}[{i}]")
        return list(value)
    raise _bad(f"{param} must be a non-empty string or a non-empty list of strings", param)


def documents(value: Any) -> list[str]:
    """Rerank documents: a non-empty list of strings, or of dicts with a ``"text"`` string
    (the text is what is ranked and sent)."""
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)) or not value:
        got = "an empty list" if isinstance(value, (list, tuple)) else short(value)
        raise _bad("documents must be a non-empty list of strings (or of dicts with a 'text' "
                   f"string), got {got}", "documents")
    out: list[str] = []
    for i, d in enumerate(value):
        if isinstance(d, Mapping):
            d = d.get("text")
        if not isinstance(d, str):
            raise _bad(f"documents[{i}] must be a string or a dict with a 'text' string, got "
                       f"{short(value[i])}", "documents")
        out.append(text(d, f"documents[{i}]"))
    return out


def unknown_kwargs(operation: str, unknown: Mapping[str, Any], allowed: list[str]) -> None:
    names = ", ".join(sorted(unknown))
    raise InvalidRequestError(
        f"{operation}() got unexpected keyword argument(s) {names}; allowed: "
        f"{', '.join(allowed)}. Pass provider-specific options as provider_options={{...}}",
        param=next(iter(unknown)),
    )

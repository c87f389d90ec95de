"""Input validation with precise messages, before any provider is touched."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from .errors import InvalidRequestError
from .types import Message, ToolCall

ROLES = ("system", "developer", "user", "assistant", "tool")
PART_TYPES = ("text", "image_url", "input_audio", "file")
MESSAGE_KEYS = frozenset({"role", "content", "name", "tool_calls", "tool_call_id", "reasoning",
                          "reasoning_content", "provider_data", "refusal", "function_call",
                          "audio"})


# Bounds that keep every later stage (our converters, the SDKs' recursive serializers, pricing
# arithmetic, sleeps) away from RecursionError, OverflowError and huge-int ValueError. Real
# requests stay far below them: OpenAI's structured outputs allow 10 levels of nesting.
MAX_DEPTH = 64
"""Deepest nesting of lists and dicts accepted anywhere in a request."""
MAX_INT = 2**63 - 1
"""Largest integer magnitude accepted in a JSON value (a signed 64-bit integer)."""
MAX_COUNT = 2**31 - 1
"""Largest max_tokens, n or dimensions."""
MAX_SECONDS = 86_400.0
"""Longest timeout or retry delay/deadline: one day."""
MAX_MODEL_LEN = 256


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


def short(value: Any) -> str:
    """repr for a message, bounded (a 5,000-digit int has no useful repr, and would raise)."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INT:
        return "an integer beyond 64 bits"
    r = repr(value) if isinstance(value, (int, float, str, bool)) or value is None \
        else type(value).__name__
    return r if len(r) <= 80 else r[:77] + "..."


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

"""``provider_options`` checks: the keys the router owns (every operation's first-class keywords,
in every spelling the provider SDKs accept) are refused there, and values must be JSON."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._validate import _bad, json_value

# ---------------------------------------------------------------------------- provider_options

# Keys the router owns, by operation. provider_options is merged last by every plugin (openai
# split_options, anthropic's options loop, mistral kw.update, cohere additional_body_parameters,
# google config.update), so any of these would replace what validation, policies and the budget's
# worst case saw. Keys are compared normalized (lower case, "_" and "-" removed): that one form
# covers the snake_case and camelCase spellings the SDKs accept (Gemini takes both
# max_output_tokens and maxOutputTokens). Value: the first-class way to say it.
_USE = "use {}=... instead"
_RESERVED_ALL: dict[str, str] = {
    "model": _USE.format("model"),
    "stream": "use chat_stream() / achat_stream() to stream",
    "streaming": "use chat_stream() / achat_stream() to stream",
    "timeout": _USE.format("timeout"),
    "timeoutms": _USE.format("timeout"),
    "requesttimeout": _USE.format("timeout"),
    "maxretries": "use retry=RetryPolicy(...) instead",
    "retries": "use retry=RetryPolicy(...) instead",
    "retryconfig": "use retry=RetryPolicy(...) instead",
    "apikey": _USE.format("api_key") + " (or the provider's configured key)",
    "user": _USE.format("user"),
    "config": "put the config's fields in provider_options themselves",
}
_MAX_TOKENS = _USE.format("max_tokens") + " (the budget's worst case is priced from it)"
_MESSAGES = "use messages=... instead (system text as a {'role': 'system'} message)"
_RESPONSE_FORMAT = _USE.format("response_format")
_RESERVED_CHAT: dict[str, str] = {
    **_RESERVED_ALL,
    **dict.fromkeys(("messages", "contents", "system", "systeminstruction", "instructions",
                     "preamble", "message", "chathistory", "prompt"), _MESSAGES),
    "tools": _USE.format("tools"),
    **dict.fromkeys(("toolchoice", "toolconfig", "functioncall"), _USE.format("tool_choice")),
    "functions": _USE.format("tools"),
    **dict.fromkeys(("maxtokens", "maxcompletiontokens", "maxoutputtokens", "maxnewtokens",
                     "maxtokenstosample"), _MAX_TOKENS),
    "streamoptions": "the router asks for streamed usage itself",
    **dict.fromkeys(("responseformat", "responsemimetype", "responseschema",
                     "responsejsonschema", "outputformat", "format"), _RESPONSE_FORMAT),
    **dict.fromkeys(("n", "candidatecount", "numgenerations"),
                    "the router asks for one answer per call: call again for more"),
    "temperature": _USE.format("temperature"),
    **dict.fromkeys(("topp", "p"), _USE.format("top_p")),
    **dict.fromkeys(("stop", "stopsequences"), _USE.format("stop")),
    **dict.fromkeys(("seed", "randomseed"), _USE.format("seed")),
}
_RESERVED: dict[str, dict[str, str]] = {
    "chat": _RESERVED_CHAT,
    "embed": {
        **_RESERVED_ALL,
        **dict.fromkeys(("input", "inputs", "texts", "contents"), _USE.format("input")),
        **dict.fromkeys(("dimensions", "outputdimensionality", "outputdimension"),
                        _USE.format("dimensions")),
        **dict.fromkeys(("inputtype", "tasktype"), _USE.format("input_type")),
    },
    "generate_image": {
        **_RESERVED_ALL,
        **dict.fromkeys(("prompt", "contents"), _USE.format("prompt")),
        **dict.fromkeys(("size", "aspectratio"), _USE.format("size")),
        **dict.fromkeys(("n", "numberofimages", "candidatecount"), _USE.format("n")),
        "quality": _USE.format("quality"),
        "responseformat": "the router reads images as base64",
    },
    "transcribe": {
        **_RESERVED_ALL,
        "file": _USE.format("file"),
        "language": _USE.format("language"),
        "prompt": _USE.format("prompt"),
    },
    "speech": {
        **_RESERVED_ALL,
        **dict.fromkeys(("input", "text"), _USE.format("input")),
        "voice": _USE.format("voice"),
        **dict.fromkeys(("format", "responseformat"), _USE.format("format")),
        "speed": _USE.format("speed"),
    },
    "moderate": {
        **_RESERVED_ALL,
        **dict.fromkeys(("input", "inputs"), _USE.format("input")),
    },
    "rerank": {
        **_RESERVED_ALL,
        "query": _USE.format("query"),
        "documents": _USE.format("documents"),
        **dict.fromkeys(("topn", "topk"), _USE.format("top_n")),
        "returndocuments": "the router reads the documents from the request",
    },
}
# Options that are themselves merged into the request body, query or config by an SDK, so a
# reserved key inside them is smuggled past the check above.
_CONTAINERS = frozenset({"extrabody", "extraquery", "extraheaders", "additionalbodyparameters",
                         "additionalqueryparameters", "additionalheaders", "httpheaders",
                         "requestoptions",
                         "httpoptions", "outputconfig", "generationconfig"})
_FUNCTION_TOOL_KEYS = frozenset({"function", "functiondeclarations", "inputschema",
                                 "parameters", "custom"})


def _norm(key: str) -> str:
    return key.lower().replace("_", "").replace("-", "")


def provider_options(value: Any, operation: str) -> dict[str, Any] | None:
    """``provider_options`` as a dict, refusing what the router owns (see ``_RESERVED``) and
    anything that is not a JSON value (SDK option models are accepted as they are)."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise _bad(f"provider_options must be a dict, got {type(value).__name__}",
                   "provider_options")
    out = dict(value)
    json_value(out, "provider_options", opaque_models=True)
    _reserved(out, _RESERVED[operation], "provider_options")
    return out


def _reserved(opts: Mapping[str, Any], reserved: dict[str, str], where: str) -> None:
    for key, val in opts.items():
        norm = _norm(key)
        hint = reserved.get(norm)
        if norm == "tools" and hint is not None and _builtin_tools(val):
            # Server-side tools (Gemini google_search / code_execution, Anthropic web_search)
            # have no first-class keyword; function tools must go through tools=.
            continue
        if hint is not None:
            raise _bad(f"{where}[{key!r}] would replace what the router checked, priced and "
                       f"sent: {hint}", "provider_options")
        if norm in _CONTAINERS and isinstance(val, Mapping):
            _reserved(val, reserved, f"{where}[{key!r}]")


def _builtin_tools(value: Any) -> bool:
    """True for a list of provider built-in tools only (no function or custom tools)."""
    if not isinstance(value, (list, tuple)):
        return False
    for tool in value:
        if not isinstance(tool, Mapping):
            dump = getattr(tool, "model_dump", None)
            if not callable(dump):
                return False
            tool = dump(exclude_none=True)
            if not isinstance(tool, Mapping):
                return False
        if tool.get("type") in ("function", "custom"):
            return False
        if any(isinstance(k, str) and _norm(k) in _FUNCTION_TOOL_KEYS for k in tool):
            return False
    return True

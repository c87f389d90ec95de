"""Usage normalization: the provider's usage made consistent, or an estimate when it has none.

Conventions (the same for every operation and provider): ``prompt_tokens`` includes cache reads
(``cached_tokens``) and cache writes (``cache_write_tokens``); ``completion_tokens`` includes
``reasoning_tokens``; ``total_tokens`` is their sum unless the provider reported another total.
Transcriptions carry ``audio_seconds``, speech ``characters``, images ``images``.
"""

from __future__ import annotations

import logging
import math
from dataclasses import replace
from typing import Any

from ..types import Usage

__all__ = ["estimate_tokens", "estimate_usage", "finalize_usage", "request_tokens",
           "max_request_tokens"]


def estimate_tokens(text: str) -> int:
    """A rough token count (about four characters a token, at least one for non-empty text)."""
    if not text:
        return 0
    return max(1, (len(text) + 3) // 4)


def _request_text(request: Any) -> str:
    parts: list[str] = []
    for m in getattr(request, "messages", None) or ():
        parts.append(m.text)
        for tc in m.tool_calls:
            parts.append(tc.arguments_raw)
    inp = getattr(request, "input", None)
    if isinstance(inp, list):
        parts.extend(inp)
    elif isinstance(inp, str):
        parts.append(inp)
    prompt = getattr(request, "prompt", None)
    if isinstance(prompt, str):
        parts.append(prompt)
    documents = getattr(request, "documents", None)
    if documents is not None:  # rerank: the query and every document are read
        parts.append(request.query)
        parts.extend(documents)
    return "\n".join(parts)


def request_tokens(request: Any) -> int:
    """Estimated input tokens of a request (rate limits take them before the call)."""
    return estimate_tokens(_request_text(request))


# Per message: role and separators (OpenAI counts 3-4); per image or audio part: above the
# largest per-image counts of the providers we serve (about 1,600 for Anthropic); with tools:
# the system prompt some providers add for tool use (Anthropic: a few hundred tokens).
_MESSAGE_OVERHEAD = 8
_MEDIA_PART = 2_000
_TOOLS_OVERHEAD = 1_000


def max_request_tokens(request: Any) -> int:
    """An upper bound of a request's input tokens, for budget reservations.

    Every token of the providers' tokenizers stands for at least one byte of text, so the UTF-8
    size of the text bounds its token count whatever the language (the four-characters-a-token
    estimate can be several times too low for CJK text). Messages, tool definitions and media
    parts add their own allowance.
    """
    text = _request_text(request)
    total = len(text.encode("utf-8", "surrogatepass"))
    messages = getattr(request, "messages", None) or ()
    total += _MESSAGE_OVERHEAD * (len(messages) + 1)
    for m in messages:
        if isinstance(m.content, list):
            total += _MEDIA_PART * sum(1 for p in m.content if p.get("type") != "text")
    tools = getattr(request, "tools", None)
    if tools:
        import json

        total += len(json.dumps(tools).encode()) + _TOOLS_OVERHEAD
    return total


def _media(operation: str, request: Any, response: Any) -> dict[str, Any]:
    """Non-token usage read from the request and response when the provider did not report it."""
    if operation == "speech":
        return {"characters": len(request.input)}
    if operation == "transcribe":
        duration = getattr(response, "duration", None)
        return {"audio_seconds": float(duration)} if duration is not None else {}
    if operation == "generate_image" and response is not None:
        return {"images": len(response.images)}
    return {}


def estimate_usage(operation: str, request: Any, response: Any) -> Usage:
    """Estimated usage (``source="estimated"``) from the request and response text."""
    prompt = estimate_tokens(_request_text(request))
    completion = 0
    if operation == "chat" and response is not None:
        text = response.content or ""
        for tc in response.tool_calls:
            text += tc.name + tc.arguments_raw
        completion = estimate_tokens(text) + estimate_tokens(response.reasoning or "")
    return Usage(prompt_tokens=prompt, completion_tokens=completion,
                 total_tokens=prompt + completion, source="estimated",
                 **_media(operation, request, response))


def finalize_usage(operation: str, request: Any, response: Any) -> Usage:
    """The call's usage: the provider's, made consistent, else an estimate.

    A provider usage with no counts at all (zeros, nothing else) is treated as missing. A total
    of 0 next to real counts is filled in; media counts the provider left out are read from the
    request and the response.
    """
    usage = getattr(response, "usage", None)
    if usage is not None:
        usage = _clamped(usage, response)
    if usage is None or _empty(usage):
        return estimate_usage(operation, request, response)
    fix: dict[str, Any] = {}
    if usage.total_tokens == 0 and (usage.prompt_tokens or usage.completion_tokens):
        fix["total_tokens"] = usage.prompt_tokens + usage.completion_tokens
    for name, value in _media(operation, request, response).items():
        if getattr(usage, name) is None:
            fix[name] = value
    return replace(usage, **fix) if fix else usage


_COUNTS = ("prompt_tokens", "completion_tokens", "total_tokens", "cached_tokens",
           "cache_write_tokens", "reasoning_tokens", "audio_seconds", "characters", "images",
           "search_units")


def _clamped(usage: Usage, response: Any) -> Usage:
    """The usage with negative (or NaN) counts set to 0, logged as a warning: a provider bug
    must not turn into negative tokens, negative cost or a budget credit."""
    u = usage
    try:  # the common case in one expression (NaN fails every comparison: the slow path)
        if (u.prompt_tokens >= 0 and u.completion_tokens >= 0 and u.total_tokens >= 0
                and u.cached_tokens >= 0 and u.cache_write_tokens >= 0
                and u.reasoning_tokens >= 0
                and (u.audio_seconds is None or u.audio_seconds >= 0)
                and (u.characters is None or u.characters >= 0)
                and (u.images is None or u.images >= 0)):
            return usage
    except TypeError:
        pass
    bad = {}
    for name in _COUNTS:
        value = getattr(usage, name)
        if value is not None and (value < 0 or (isinstance(value, float) and math.isnan(value))):
            bad[name] = value
    if not bad:
        return usage
    logging.getLogger("cencori_core").warning(
        "%s/%s reported impossible usage (%s); counted as 0",
        getattr(response, "provider", None) or "?", getattr(response, "model", None) or "?",
        ", ".join(f"{k}={v}" for k, v in bad.items()))
    zeros: dict[str, Any] = {k: 0.0 if k == "audio_seconds" else 0 for k in bad}
    fixed = replace(usage, **zeros)
    # the provider's total cannot be trusted either: the sum of what is left
    return replace(fixed, total_tokens=fixed.prompt_tokens + fixed.completion_tokens)


def _empty(u: Usage) -> bool:
    return not (u.prompt_tokens or u.completion_tokens or u.total_tokens or u.cached_tokens
                or u.cache_write_tokens or u.reasoning_tokens) and u.audio_seconds is None \
        and u.characters is None and u.images is None and u.search_units is None

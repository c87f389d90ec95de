"""The normalized chat types in OpenAI's shapes (``to_openai()`` of :mod:`cencori_core.types`):
the ``ChatCompletion``, its choices, the ``ChatCompletionChunk`` and ``usage``."""

from __future__ import annotations

from typing import Any

__all__ = ["choice_to_openai", "chunk_to_openai", "response_to_openai", "usage_to_openai"]


def usage_to_openai(u: Any) -> dict[str, Any]:
    """Usage in OpenAI's ``usage`` shape (responses and the include_usage stream chunk)."""
    return {"prompt_tokens": u.prompt_tokens, "completion_tokens": u.completion_tokens,
            "total_tokens": u.total_tokens,
            "prompt_tokens_details": {"cached_tokens": u.cached_tokens},
            "completion_tokens_details": {"reasoning_tokens": u.reasoning_tokens}}


def chunk_to_openai(c: Any) -> dict[str, Any]:
    """A :class:`ChatChunk` as a ``ChatCompletionChunk``."""
    out: dict[str, Any] = {"id": c.id or "", "object": "chat.completion.chunk",
                           "created": 0, "model": c.model or ""}
    if c.usage is not None:
        out["usage"] = usage_to_openai(c.usage)
        if c.is_empty:
            out["choices"] = []
            return out
    delta: dict[str, Any] = {}
    if c.delta:
        delta["content"] = c.delta
    if c.reasoning:
        delta["reasoning_content"] = c.reasoning
    if c.refusal:
        delta["refusal"] = c.refusal
    if c.tool_calls:
        calls = []
        for tc in c.tool_calls:
            call: dict[str, Any] = {"index": tc.index, "function": {"arguments": tc.arguments}}
            if tc.id is not None:
                call["id"] = tc.id
                call["type"] = "function"
            if tc.name is not None:
                call["function"]["name"] = tc.name
            calls.append(call)
        delta["tool_calls"] = calls
    out["choices"] = [{"index": c.index, "delta": delta,
                       "finish_reason": c.finish_reason,
                       "logprobs": None if c.logprobs is None
                       else {"content": c.logprobs, "refusal": None}}]
    return out


def choice_to_openai(c: Any) -> dict[str, Any]:
    """A :class:`Choice` as OpenAI's ``choices[i]``."""
    msg: dict[str, Any] = {"role": "assistant", "content": c.content}
    if c.tool_calls:
        msg["tool_calls"] = [tc.to_openai() for tc in c.tool_calls]
    if c.refusal is not None:
        msg["refusal"] = c.refusal
    return {"index": c.index, "message": msg, "finish_reason": c.finish_reason,
            "logprobs": None if c.logprobs is None else {"content": c.logprobs}}


def response_to_openai(r: Any) -> dict[str, Any]:
    """A :class:`ChatResponse` as a ``ChatCompletion``."""
    msg: dict[str, Any] = {"role": "assistant", "content": r.content}
    if r.tool_calls:
        msg["tool_calls"] = [tc.to_openai() for tc in r.tool_calls]
    if r.reasoning:
        msg["reasoning_content"] = r.reasoning
    if r.refusal is not None:
        msg["refusal"] = r.refusal
    usage = usage_to_openai(r.usage)
    choices = [{"index": 0, "message": msg, "finish_reason": r.finish_reason,
                "logprobs": None if r.logprobs is None else {"content": r.logprobs}}]
    choices += [c.to_openai() for c in r.choices[1:]]
    return {
        "id": r.id,
        "object": "chat.completion",
        "created": r.created,
        "model": r.model,
        "choices": choices,
        "usage": usage,
    }

"""Usage estimation for providers (and stream ends) that report none."""

from __future__ import annotations

from typing import Any

from ..types import Usage


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
    return "\n".join(parts)


def estimate_usage(operation: str, request: Any, response: Any) -> Usage:
    """Estimated usage (``source="estimated"``) from the request and response text."""
    prompt = estimate_tokens(_request_text(request))
    completion = 0
    if operation == "chat" and response is not None:
        text = response.content or ""
        for tc in response.tool_calls:
            text += tc.name + tc.arguments_raw
        completion = estimate_tokens(text) + estimate_tokens(response.reasoning or "")
    chars = len(request.input) if operation == "speech" else None
    return Usage(prompt_tokens=prompt, completion_tokens=completion,
                 total_tokens=prompt + completion, characters=chars, source="estimated")

"""Canned OpenAI answers and the in-memory transport every OpenAI-shaped benchmark uses.

Stdlib only (plus the ``httpx`` the caller already has), so the peers' benchmark can use it from
its own virtualenv: every side of every comparison gets the same bytes from the same handler.
"""

from __future__ import annotations

import json
from typing import Any

MODEL = "gpt-4o-mini"
MESSAGES = [{"role": "user", "content": "Hello, how are you today?"}]
KEY = "sk-bench-0000000000000000"
BASE = "http://bench.invalid/v1"
STREAM_CHUNKS = 200

COMPLETION = json.dumps({
    "id": "chatcmpl-bench", "object": "chat.completion", "created": 1_700_000_000,
    "model": MODEL, "system_fingerprint": "fp_bench",
    "choices": [{"index": 0, "logprobs": None, "finish_reason": "stop",
                 "message": {"role": "assistant", "content": "I am fine, thank you!",
                             "refusal": None, "annotations": []}}],
    "usage": {"prompt_tokens": 14, "completion_tokens": 7, "total_tokens": 21,
              "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
              "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                                            "accepted_prediction_tokens": 0,
                                            "rejected_prediction_tokens": 0}},
}).encode()


def _sse() -> bytes:
    """A 200-chunk stream as OpenAI sends it: a role chunk, text deltas, the finish chunk, the
    usage chunk (``stream_options.include_usage``) and ``[DONE]``."""
    base = {"id": "chatcmpl-bench", "object": "chat.completion.chunk",
            "created": 1_700_000_000, "model": MODEL, "system_fingerprint": "fp_bench",
            "usage": None}

    def ev(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {**base, "choices": [{"index": 0, "delta": delta, "logprobs": None,
                                     "finish_reason": finish}]}

    events = [ev({"role": "assistant", "content": ""})]
    events += [ev({"content": f"tok{i} "}) for i in range(STREAM_CHUNKS - 1)]
    events.append(ev({}, "stop"))
    events.append({**base, "choices": [], "usage": {"prompt_tokens": 14,
                                                    "completion_tokens": STREAM_CHUNKS,
                                                    "total_tokens": 14 + STREAM_CHUNKS}})
    out = b"".join(f"data: {json.dumps(e)}\n\n".encode() for e in events)
    return out + b"data: [DONE]\n\n"


STREAM = _sse()
JSON_HEADERS = {"content-type": "application/json", "x-request-id": "req_bench"}
SSE_HEADERS = {"content-type": "text/event-stream", "x-request-id": "req_bench"}


def transport(httpx: Any) -> Any:
    """An ``httpx.MockTransport`` (of the given httpx module) answering chat completions."""

    def handler(request: Any) -> Any:
        # Every client sends "stream": true for streams; a cheap byte check suffices.
        body = request.content
        if b'"stream":true' in body or b'"stream": true' in body:
            return httpx.Response(200, content=STREAM, headers=SSE_HEADERS)
        return httpx.Response(200, content=COMPLETION, headers=JSON_HEADERS)

    return httpx.MockTransport(handler)

"""Anthropic's Messages API wire format on the loopback server, for end-to-end tests of the
anthropic plugin with the real ``anthropic`` SDK.

:class:`AnthropicServer` answers ``POST /v1/messages`` with a JSON ``message`` or, when the
request says ``"stream": true``, with named SSE events. Each answer follows a scripted
:class:`Turn`; faults (status, Anthropic error body, ``request-id`` / ``retry-after`` headers) are
queued with :meth:`AnthropicServer.error`. Shapes follow the Messages API reference and the SDK's
types (``Message``, ``RawMessageStreamEvent``, ``ErrorResponse``)::

    message  {"id": "msg_...", "type": "message", "role": "assistant", "model",
              "content": [{"type": "thinking", "thinking", "signature"},
                          {"type": "redacted_thinking", "data"},
                          {"type": "text", "text"},
                          {"type": "tool_use", "id": "toolu_...", "name", "input": {...}}],
              "stop_reason": "end_turn" | "max_tokens" | "tool_use" | "refusal" | ...,
              "stop_sequence": null,
              "usage": {"input_tokens", "output_tokens", "cache_read_input_tokens",
                        "cache_creation_input_tokens", "output_tokens_details"?}}
    stream   "event: <type>\\ndata: {...}" per event, no [DONE]:
             message_start {"message": {... "content": [], "stop_reason": null, "usage"}},
             ping, then per block content_block_start {"index", "content_block"} /
             content_block_delta {"index", "delta": text_delta | input_json_delta |
             thinking_delta | signature_delta} / content_block_stop {"index"},
             message_delta {"delta": {"stop_reason", "stop_sequence"}, "usage": {"output_tokens",
             ...cumulative}}, message_stop; an in-band failure is
             "event: error" {"type": "error", "error": {"type": "overloaded_error", "message"}}
    error    {"type": "error", "error": {"type", "message", "details"?: {"error_code"}},
              "request_id"} with the HTTP status and a ``request-id`` header
"""

from __future__ import annotations

import json
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from loopback import LoopbackServer, Recorded, Reply

__all__ = ["AnthropicServer", "Turn", "message_json", "stream_events", "error_body", "pieces"]


@dataclass
class Turn:
    """One scripted assistant turn, served as JSON or as a stream depending on the request."""

    text: str | None = "Hello from Claude!"
    thinking: list[tuple[str, str]] = field(default_factory=list)
    """Thinking blocks: (thinking text, signature), sent before everything else."""
    redacted: list[str] = field(default_factory=list)
    """Redacted thinking blocks (their opaque ``data``), after the thinking blocks."""
    tool_uses: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    """(id, name, input)."""
    stop_reason: str | None = None
    """Defaults to tool_use when there are tool uses, else end_turn."""
    input_tokens: int = 12
    output_tokens: int = 7
    cache_read: int | None = None
    cache_write: int | None = None
    thinking_tokens: int | None = None
    model: str | None = None
    """The model named in the answer; defaults to the requested one."""
    error_after: int | None = None
    """Stream: send an in-band ``error`` event after this many events instead of the rest."""
    error_type: str = "overloaded_error"
    cut_after: int | None = None
    """Stream: drop the connection after this many events."""
    end_after: int | None = None
    """Stream: end the response cleanly after this many events, without the rest (a stream
    that never sends its closing ``message_stop``)."""
    chunk: int = 0
    """Stream: characters per text / JSON fragment (0 = words for text, 7 for JSON)."""
    id: str = field(default_factory=lambda: "msg_" + uuid.uuid4().hex[:24])

    @property
    def stop(self) -> str:
        return self.stop_reason or ("tool_use" if self.tool_uses else "end_turn")


def pieces(text: str, size: int = 0) -> list[str]:
    """``text`` cut as the model streams it: words with their leading space, or ``size`` chars."""
    if size:
        return [text[i:i + size] for i in range(0, len(text), size)]
    words = text.split(" ")
    return [w if i == 0 else " " + w for i, w in enumerate(words)]


def _usage(t: Turn, *, output: int) -> dict[str, Any]:
    u: dict[str, Any] = {"input_tokens": t.input_tokens, "output_tokens": output,
                         "cache_read_input_tokens": t.cache_read,
                         "cache_creation_input_tokens": t.cache_write}
    if t.cache_write is not None:
        u["cache_creation"] = {"ephemeral_5m_input_tokens": t.cache_write,
                               "ephemeral_1h_input_tokens": 0}
    if t.thinking_tokens is not None:
        u["output_tokens_details"] = {"thinking_tokens": t.thinking_tokens}
    return u


def _blocks(t: Turn) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = [
        {"type": "thinking", "thinking": th, "signature": sig} for th, sig in t.thinking]
    blocks += [{"type": "redacted_thinking", "data": d} for d in t.redacted]
    if t.text is not None:
        blocks.append({"type": "text", "text": t.text})
    blocks += [{"type": "tool_use", "id": i, "name": n, "input": a} for i, n, a in t.tool_uses]
    return blocks


def message_json(t: Turn, model: str) -> dict[str, Any]:
    """The non-streaming answer for ``t``."""
    return {"id": t.id, "type": "message", "role": "assistant", "model": t.model or model,
            "content": _blocks(t), "stop_reason": t.stop, "stop_sequence": None,
            "usage": _usage(t, output=t.output_tokens)}


def stream_events(t: Turn, model: str) -> list[tuple[str, dict[str, Any]]]:
    """The SSE events for ``t``, as the API sends them (empty blocks, then deltas)."""
    start = {"id": t.id, "type": "message", "role": "assistant", "model": t.model or model,
             "content": [], "stop_reason": None, "stop_sequence": None,
             "usage": _usage(t, output=1)}
    events: list[tuple[str, dict[str, Any]]] = [
        ("message_start", {"type": "message_start", "message": start}),
        ("ping", {"type": "ping"})]
    for index, block in enumerate(_blocks(t)):
        kind = block["type"]
        deltas: list[dict[str, Any]] = []
        if kind == "thinking":
            empty = {"type": "thinking", "thinking": "", "signature": ""}
            deltas = [{"type": "thinking_delta", "thinking": p}
                      for p in pieces(block["thinking"], t.chunk)]
            deltas.append({"type": "signature_delta", "signature": block["signature"]})
        elif kind == "redacted_thinking":
            empty = block
        elif kind == "text":
            empty = {"type": "text", "text": ""}
            deltas = [{"type": "text_delta", "text": p} for p in pieces(block["text"], t.chunk)]
        else:
            empty = {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}
            raw = json.dumps(block["input"])
            # The API opens every tool input with an empty fragment.
            deltas = [{"type": "input_json_delta", "partial_json": p}
                      for p in ["", *pieces(raw, t.chunk or 7)]]
        events.append(("content_block_start", {"type": "content_block_start", "index": index,
                                               "content_block": empty}))
        events += [("content_block_delta", {"type": "content_block_delta", "index": index,
                                            "delta": d}) for d in deltas]
        events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
    # message_delta usage is cumulative: the output so far, and the input counts again.
    delta_usage = {k: v for k, v in _usage(t, output=t.output_tokens).items() if v is not None}
    events.append(("message_delta", {"type": "message_delta",
                                     "delta": {"stop_reason": t.stop, "stop_sequence": None},
                                     "usage": delta_usage}))
    events.append(("message_stop", {"type": "message_stop"}))
    if t.error_after is not None:
        events = events[:t.error_after] + [("error", error_body(t.error_type, "Overloaded"))]
    if t.end_after is not None:
        events = events[:t.end_after]
    return events


def error_body(kind: str, message: str, *, error_code: str | None = None,
               request_id: str | None = None) -> dict[str, Any]:
    """Anthropic's error body: ``{"type": "error", "error": {"type", "message"}, ...}``."""
    err: dict[str, Any] = {"type": kind, "message": message}
    if error_code:
        err["details"] = {"error_code": error_code}
    body: dict[str, Any] = {"type": "error", "error": err}
    if request_id:
        body["request_id"] = request_id
    return body


class AnthropicServer(LoopbackServer):
    """``POST /v1/messages`` on 127.0.0.1, answering scripted turns (a default one otherwise).

    Requests without ``Authorization: Bearer <key>`` or ``x-api-key`` get a 401 like the API.
    """

    def __init__(self) -> None:
        super().__init__()
        self.turns: deque[Turn] = deque()
        self.route("POST", "/v1/messages", self._messages)

    def script(self, *turns: Turn) -> None:
        self.turns.extend(turns)

    def error(self, status: int, kind: str, message: str = "error", *,
              error_code: str | None = None, headers: dict[str, str] | None = None,
              times: int = 1) -> None:
        """Answer the next ``times`` requests with an Anthropic error body and ``status``."""
        for _ in range(times):
            rid = "req_" + uuid.uuid4().hex[:20]
            self.queue(Reply.json(error_body(kind, message, error_code=error_code,
                                             request_id=rid), status,
                                  headers={"request-id": rid, **(headers or {})}))

    @property
    def bodies(self) -> list[Any]:
        """The JSON bodies received, in order."""
        return [r.json for r in self.requests]

    def _messages(self, rec: Recorded) -> Reply:
        auth = rec.headers.get("authorization", "")
        if not (auth.startswith("Bearer ") and auth[7:]) and not rec.headers.get("x-api-key"):
            return Reply.json(error_body("authentication_error", "invalid x-api-key"), 401)
        body = rec.json
        turn = self.turns.popleft() if self.turns else Turn()
        rid = {"request-id": "req_" + uuid.uuid4().hex[:20]}
        if body.get("stream"):
            return Reply.sse(stream_events(turn, body["model"]), named=True, done=False,
                             cut_after=turn.cut_after, headers=rid)
        return Reply.json(message_json(turn, body["model"]), headers=rid)

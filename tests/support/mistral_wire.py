"""A loopback server speaking Mistral's HTTP API (on :mod:`tests.loopback`), for driving the real
``mistralai`` SDK through the router.

Endpoints: ``POST /v1/chat/completions`` (JSON, or SSE when the body says ``"stream": true``),
``/v1/embeddings``, ``/v1/moderations`` and ``/v1/chat/moderations``. Shapes follow Mistral's API
reference and the SDK's models: completion ids ``cmpl-...``, 9-character tool-call ids,
``finish_reason`` on the last stream event together with ``usage``, then ``data: [DONE]``;
reasoning models answer ``content`` as chunks (``thinking`` then ``text``). Error bodies are
Mistral's ``{"object": "error", "message", "type", "param", "code"}`` (or the gateway's
``{"message", "request_id"}`` for a refused key); see :func:`error_body`.

Chat answers are scripted with :meth:`MistralWire.reply` (served in order, to JSON and streaming
calls alike); without a script the server answers ``"Hello from Mistral"``.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import pytest
from loopback import LoopbackServer, Recorded, Reply

CATEGORIES = ("sexual", "hate_and_discrimination", "violence_and_threats",
              "dangerous_and_criminal_content", "selfharm", "health", "financial", "law", "pii")


def error_body(message: Any, type: str = "invalid_request_error", code: str | None = None,
               **extra: Any) -> dict[str, Any]:
    """Mistral's error object."""
    return {"object": "error", "message": message, "type": type, "param": None, "code": code,
            **extra}


def usage(prompt: int = 12, completion: int = 5, **extra: Any) -> dict[str, Any]:
    return {"prompt_tokens": prompt, "completion_tokens": completion,
            "total_tokens": prompt + completion, **extra}


@dataclass
class Turn:
    """One scripted assistant answer."""

    text: str = "Hello from Mistral"
    thinking: str | None = None
    """Reasoning (Magistral): sent as a ``thinking`` chunk before the text."""
    signature: str | None = None
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    """``{"id": "abcDEF123", "name": ..., "arguments": "<json>" or {...}}``."""
    finish_reason: str | None = None
    usage: dict[str, Any] | None = field(default_factory=usage)
    model: str | None = None
    pieces: int = 3
    """How many stream events the text is split into."""
    cut_after: int | None = None
    """Drop the connection after this many stream events."""
    end_after: int | None = None
    """End the stream cleanly after this many events: no finish_reason, no ``[DONE]``."""
    delay: float = 0.0
    """Seconds before answering."""
    headers: dict[str, str] = field(default_factory=dict)


class MistralWire:
    """The server; ``base_url`` is what ``MISTRAL_BASE_URL`` / ``base_url`` would hold."""

    def __init__(self) -> None:
        self.server = LoopbackServer()
        self._turns: deque[Turn] = deque()
        self._n = 0
        s = self.server
        s.route("POST", "/v1/chat/completions", self._chat)
        s.route("POST", "/v1/embeddings", self._embeddings)
        s.route("POST", "/v1/moderations", self._moderations)
        s.route("POST", "/v1/chat/moderations", self._chat_moderations)

    # --- set-up
    @property
    def base_url(self) -> str:
        return self.server.base_url

    @property
    def requests(self) -> list[Recorded]:
        return self.server.requests

    @property
    def last(self) -> Recorded:
        return self.server.requests[-1]

    def reply(self, **kw: Any) -> Turn:
        """Script the next chat answer (fields of :class:`Turn`)."""
        turn = Turn(**kw)
        self._turns.append(turn)
        return turn

    def fail(self, status: int, body: Any = None, *, headers: dict[str, str] | None = None,
             times: int = 1, delay: float = 0.0) -> None:
        self.server.fail(status, body, headers=headers, times=times, delay=delay)

    def queue(self, reply: Reply, times: int = 1) -> None:
        self.server.queue(reply, times)

    def start(self) -> MistralWire:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    # --- chat
    def _next_id(self, prefix: str) -> str:
        self._n += 1
        return f"{prefix}-{self._n:08x}"

    def _chat(self, rec: Recorded) -> Reply:
        body = rec.json
        turn = self._turns.popleft() if self._turns else Turn()
        model = turn.model or _served_model(body["model"])
        cid = self._next_id("cmpl")
        created = int(time.time())
        if body.get("stream"):
            events = self._events(turn, cid, model, created)
            if turn.end_after is not None:
                return Reply.sse(events[:turn.end_after], done=False, delay=turn.delay)
            return Reply.sse(events, cut_after=turn.cut_after, delay=turn.delay,
                             headers={"mistral-correlation-id": cid, **turn.headers})
        calls = [_call(tc, i) for i, tc in enumerate(turn.tool_calls)]
        content: Any = turn.text
        if turn.thinking is not None:
            content = [_thinking(turn.thinking, turn.signature)]
            if turn.text:
                content.append({"type": "text", "text": turn.text})
        message = {"role": "assistant", "content": content, "tool_calls": calls or None,
                   "prefix": False}
        out: dict[str, Any] = {
            "id": cid, "object": "chat.completion", "model": model, "created": created,
            "choices": [{"index": 0, "message": message,
                         "finish_reason": turn.finish_reason or
                         ("tool_calls" if calls else "stop")}],
        }
        if turn.usage is not None:
            out["usage"] = turn.usage
        return Reply.json(out, headers={"mistral-correlation-id": cid, **turn.headers},
                          delay=turn.delay)

    def _events(self, turn: Turn, cid: str, model: str, created: int) -> list[dict[str, Any]]:
        def event(delta: dict[str, Any], finish: str | None = None,
                  use: dict[str, Any] | None = None) -> dict[str, Any]:
            ev: dict[str, Any] = {"id": cid, "object": "chat.completion.chunk",
                                  "created": created, "model": model,
                                  "choices": [{"index": 0, "delta": delta,
                                               "finish_reason": finish, "logprobs": None}]}
            if use is not None:
                ev["usage"] = use
            return ev

        events = [event({"role": "assistant", "content": ""})]
        if turn.thinking is not None:
            half = len(turn.thinking) // 2
            events.append(event({"content": [_thinking(turn.thinking[:half], None)]}))
            events.append(event({"content": [_thinking(turn.thinking[half:], turn.signature)]}))
        text = turn.text or ""
        if text:
            step = max(1, math.ceil(len(text) / max(1, turn.pieces)))
            for i in range(0, len(text), step):
                events.append(event({"content": text[i:i + step]}))
        finish = turn.finish_reason or ("tool_calls" if turn.tool_calls else "stop")
        calls = [_call(tc, i) for i, tc in enumerate(turn.tool_calls)]
        if calls:
            # Mistral sends each call whole, with its index, in the last content event.
            events.append(event({"content": "", "tool_calls": calls}, finish, turn.usage))
        else:
            events.append(event({"content": ""}, finish, turn.usage))
        return events

    # --- embeddings
    def _embeddings(self, rec: Recorded) -> Reply:
        body = rec.json
        inputs = body["input"]
        if isinstance(inputs, str):
            inputs = [inputs]
        model = body["model"]
        dims = body.get("output_dimension") or (1536 if model.startswith("codestral") else 1024)
        data = [{"object": "embedding", "embedding": vector(text, dims), "index": i}
                for i, text in enumerate(inputs)]
        tokens = sum(len(t.split()) for t in inputs)
        return Reply.json({"id": self._next_id("embd"), "object": "list", "data": data,
                           "model": model,
                           "usage": {"prompt_tokens": tokens, "total_tokens": tokens,
                                     "completion_tokens": 0}})

    # --- moderation
    def _moderations(self, rec: Recorded) -> Reply:
        body = rec.json
        inputs = body["input"]
        if isinstance(inputs, str):
            inputs = [inputs]
        return Reply.json({"id": self._next_id("mod"), "model": _served_model(body["model"]),
                           "results": [moderation(t) for t in inputs]})

    def _chat_moderations(self, rec: Recorded) -> Reply:
        body = rec.json
        inputs = body["input"]
        conversations = inputs if inputs and isinstance(inputs[0], list) else [inputs]
        # The last message is judged in the context of the conversation.
        results = [moderation(conv[-1]["content"]) for conv in conversations]
        return Reply.json({"id": self._next_id("mod"), "model": _served_model(body["model"]),
                           "results": results})


def _served_model(name: str) -> str:
    """Mistral answers with the dated model behind a ``-latest`` alias."""
    return {"mistral-large-latest": "mistral-large-2512",
            "mistral-small-latest": "mistral-small-2506",
            "mistral-moderation-latest": "mistral-moderation-2411"}.get(name, name)


def _thinking(text: str, signature: str | None) -> dict[str, Any]:
    chunk: dict[str, Any] = {"type": "thinking", "thinking": [{"type": "text", "text": text}]}
    if signature is not None:
        chunk["signature"] = signature
    return chunk


def _call(tc: dict[str, Any], index: int) -> dict[str, Any]:
    out: dict[str, Any] = {"function": {"name": tc["name"], "arguments": tc["arguments"]}}
    if "id" in tc:
        out["id"] = tc["id"]
    out["index"] = tc.get("index", index)
    if out["index"] is None:
        del out["index"]
    return out


def vector(text: str, dims: int) -> list[float]:
    """A deterministic unit vector for ``text``."""
    raw = b""
    n = 0
    while len(raw) < dims:
        raw += hashlib.sha256(f"{n}:{text}".encode()).digest()
        n += 1
    vec = [b / 127.5 - 1.0 for b in raw[:dims]]
    norm = math.sqrt(sum(x * x for x in vec)) or 1.0
    return [x / norm for x in vec]


def moderation(text: str) -> dict[str, Any]:
    """Scores for ``text``: the word "kill" is a threat, "bomb" dangerous content."""
    lowered = text.lower()
    scores = {c: 0.001 for c in CATEGORIES}
    if "kill" in lowered:
        scores["violence_and_threats"] = 0.97
    if "bomb" in lowered:
        scores["dangerous_and_criminal_content"] = 0.91
    return {"categories": {c: s > 0.5 for c, s in scores.items()}, "category_scores": scores}


class MistralConformanceWire:
    """:class:`MistralWire` scripted through the conformance kit's ``ConformanceWire`` calls
    (``cencori_core.testing.conformance``)."""

    def __init__(self, wire: MistralWire) -> None:
        self.wire = wire
        self.base_url = wire.base_url

    @property
    def hits(self) -> int:
        return self.wire.server.hits

    def reply(self, text: str, *, usage: tuple[int, int] = (3, 2)) -> None:
        prompt, completion = usage
        self.wire.reply(text=text, pieces=4, usage={"prompt_tokens": prompt,
                                                    "completion_tokens": completion,
                                                    "total_tokens": prompt + completion})

    def reply_tool_call(self, name: str, arguments: str) -> None:
        self.wire.reply(text="", tool_calls=[{"id": "cnfTool01", "name": name,
                                              "arguments": arguments}])

    def fail(self, status: int, *, message: str = "error", retry_after: float | None = None,
             request_id: str | None = None) -> None:
        headers = {"mistral-correlation-id": request_id or "corr-conformance"}
        if request_id:
            headers["x-request-id"] = request_id
        if retry_after is not None:
            headers["retry-after"] = str(retry_after)
        self.wire.fail(status, error_body(message, type="conformance"), headers=headers)

    def cut_stream(self, text: str, *, after: int) -> None:
        self.wire.reply(text=text, pieces=8, cut_after=after)

    def end_stream_early(self, text: str, *, after: int) -> None:
        self.wire.reply(text=text, pieces=8, end_after=after)

    def slow(self, seconds: float) -> None:
        self.wire.reply(text="late", delay=seconds)

    def drop(self) -> None:
        self.wire.queue(Reply(lines=iter([b"{}"]), cut_after=0))


@pytest.fixture(params=["fast", "public"])
def stream_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both stream paths of the mistral plugin: the fast one (events read as JSON,
    ``cencori_mistral._fast``) and the SDK's public one (its ``EventStream`` and models), as if
    an SDK release had removed the names the fast path uses. Import it into a test module and
    use it autouse (``pytestmark = pytest.mark.usefixtures("stream_path")``)."""
    from cencori_mistral import _fast

    if request.param == "public":
        monkeypatch.setattr(_fast, "RAW_EVENTS", False)
    else:
        assert _fast.RAW_EVENTS, "the installed mistralai lacks the fast path's names"
    return str(request.param)

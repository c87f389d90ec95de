"""Cohere's v2 API wire format on the loopback server, for end-to-end tests of the cohere plugin.

:class:`CohereServer` answers ``POST /v2/chat`` (a JSON body, or an SSE stream when the request
says ``"stream": true``), ``POST /v2/embed`` and ``POST /v2/rerank``; faults (status, Cohere
error body, headers) are queued with :meth:`CohereServer.error`. The shapes follow Cohere's v2
API reference and the cohere SDK's types (``V2ChatResponse``, the ``V2ChatStreamResponse`` events,
``EmbedByTypeResponse``)::

    chat     {"id", "finish_reason": "COMPLETE" | "TOOL_CALL" | "MAX_TOKENS" | ...,
              "message": {"role": "assistant",
                          "content": [{"type": "thinking", "thinking"}, {"type": "text", "text"}],
                          "tool_plan": "...",
                          "tool_calls": [{"id", "type": "function",
                                          "function": {"name", "arguments": "<json text>"}}]},
              "usage": {"billed_units": {"input_tokens", "output_tokens"},
                        "tokens": {"input_tokens", "output_tokens"}, "cached_tokens"}}
    stream   "event: <type>" + "data: {"type": <type>, ...}" per event: message-start,
             content-start / content-delta / content-end (per content block, thinking before
             text), tool-plan-delta, tool-call-start / tool-call-delta / tool-call-end (per call),
             message-end {"delta": {"finish_reason", "usage", "error"?}}; no [DONE] line
    embed    {"id", "response_type": "embeddings_by_type", "embeddings": {"float": [[...]]},
              "texts": [...], "meta": {"api_version": {"version": "2"},
                                       "billed_units": {"input_tokens"}}}
    rerank   {"id", "results": [{"index", "relevance_score"}, ...] (best first, top_n of them),
              "meta": {"api_version": {"version": "2"}, "billed_units": {"search_units": 1}}}
    error    {"id": "...", "message": "..."} with the HTTP status
"""

from __future__ import annotations

import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from loopback import LoopbackServer, Recorded, Reply

from cencori_core import RetryPolicy, Router

__all__ = ["ChatScript", "CohereServer", "CohereConformanceWire", "chat_json", "chat_events",
           "embed_json", "rerank_json", "rerank_scores", "error_body", "pieces", "vector", "KEY",
           "router_for"]


@dataclass
class ChatScript:
    """One scripted assistant turn, served as JSON or as a stream depending on the request."""

    text: str | None = "Hello from Cohere!"
    thinking: str | None = None
    tool_plan: str | None = None
    tool_calls: list[tuple[str, str, str]] = field(default_factory=list)
    """(id, name, arguments as JSON text)."""
    finish_reason: str | None = None
    """Defaults to TOOL_CALL when there are tool calls, else COMPLETE."""
    billed: tuple[int, int] | None = (11, 7)
    """billed_units (input, output); None leaves billed_units out."""
    tokens: tuple[int, int] | None = (190, 7)
    """tokens (input, output), prompt template included; None leaves tokens out."""
    cached_tokens: int | None = None
    usage: bool = True
    """False sends no usage at all."""
    stream_error: str | None = None
    """An ``error`` on the stream's message-end event."""
    cut_after: int | None = None
    """Drop the stream's connection after this many events."""
    end_after: int | None = None
    """End the stream cleanly after this many events, without message-end."""
    delay: float = 0.0
    """Seconds before answering."""
    id: str = field(default_factory=lambda: str(uuid.uuid4()))

    @property
    def finish(self) -> str:
        return self.finish_reason or ("TOOL_CALL" if self.tool_calls else "COMPLETE")


def pieces(text: str, size: int = 0) -> list[str]:
    """``text`` cut as a model streams it: words with their leading space, or ``size`` chars."""
    if size:
        return [text[i:i + size] for i in range(0, len(text), size)]
    words = text.split(" ")
    return [w if i == 0 else " " + w for i, w in enumerate(words)]


def _usage(s: ChatScript) -> dict[str, Any] | None:
    if not s.usage:
        return None
    out: dict[str, Any] = {}
    if s.billed is not None:
        out["billed_units"] = {"input_tokens": s.billed[0], "output_tokens": s.billed[1]}
    if s.tokens is not None:
        out["tokens"] = {"input_tokens": s.tokens[0], "output_tokens": s.tokens[1]}
    if s.cached_tokens is not None:
        out["cached_tokens"] = s.cached_tokens
    return out


def chat_json(s: ChatScript) -> dict[str, Any]:
    """The non-streamed ``/v2/chat`` answer."""
    message: dict[str, Any] = {"role": "assistant"}
    content = []
    if s.thinking is not None:
        content.append({"type": "thinking", "thinking": s.thinking})
    if s.text is not None:
        content.append({"type": "text", "text": s.text})
    if content:
        message["content"] = content
    if s.tool_plan is not None:
        message["tool_plan"] = s.tool_plan
    if s.tool_calls:
        message["tool_calls"] = [
            {"id": cid, "type": "function", "function": {"name": name, "arguments": args}}
            for cid, name, args in s.tool_calls]
    body: dict[str, Any] = {"id": s.id, "finish_reason": s.finish, "message": message}
    usage = _usage(s)
    if usage is not None:
        body["usage"] = usage
    return body


def chat_events(s: ChatScript) -> list[tuple[str, dict[str, Any]]]:
    """The streamed ``/v2/chat`` answer as (event name, data) pairs."""
    events: list[tuple[str, dict[str, Any]]] = [("message-start", {
        "id": s.id, "type": "message-start",
        "delta": {"message": {"role": "assistant", "content": [], "tool_plan": "",
                              "tool_calls": [], "citations": []}}})]

    def ev(kind: str, **data: Any) -> None:
        events.append((kind, {"type": kind, **data}))

    block = 0
    for kind, text in (("thinking", s.thinking), ("text", s.text)):
        if text is None:
            continue
        ev("content-start", index=block,
           delta={"message": {"content": {"type": kind, kind: ""}}})
        for piece in pieces(text):
            ev("content-delta", index=block, delta={"message": {"content": {kind: piece}}})
        ev("content-end", index=block)
        block += 1
    if s.tool_plan is not None:
        for piece in pieces(s.tool_plan):
            ev("tool-plan-delta", delta={"message": {"tool_plan": piece}})
    for i, (cid, name, args) in enumerate(s.tool_calls):
        ev("tool-call-start", index=i, delta={"message": {"tool_calls": {
            "id": cid, "type": "function", "function": {"name": name, "arguments": ""}}}})
        for piece in pieces(args, 5):
            ev("tool-call-delta", index=i,
               delta={"message": {"tool_calls": {"function": {"arguments": piece}}}})
        ev("tool-call-end", index=i)
    end: dict[str, Any] = {"finish_reason": "ERROR" if s.stream_error else s.finish}
    usage = _usage(s)
    if usage is not None:
        end["usage"] = usage
    if s.stream_error:
        end["error"] = s.stream_error
    ev("message-end", delta=end)
    return events


def embed_json(texts: list[str], vectors: list[list[float]], *,
               billed_input: int | None = None) -> dict[str, Any]:
    """The ``/v2/embed`` answer for float embeddings."""
    meta: dict[str, Any] = {"api_version": {"version": "2"}}
    if billed_input is not None:
        meta["billed_units"] = {"input_tokens": billed_input}
    return {"id": str(uuid.uuid4()), "response_type": "embeddings_by_type",
            "embeddings": {"float": vectors}, "texts": texts, "meta": meta}


def rerank_scores(query: str, documents: list[str]) -> list[tuple[int, float]]:
    """Deterministic (index, score) pairs, best first: the share of the query's words in each
    document, ties by index."""
    words = set(query.lower().split())
    scored = [(i, round(len(words & set(d.lower().split())) / (len(words) or 1), 6))
              for i, d in enumerate(documents)]
    return sorted(scored, key=lambda x: (-x[1], x[0]))


def rerank_json(query: str, documents: list[str], top_n: int | None = None, *,
                search_units: int | None = 1) -> dict[str, Any]:
    """The ``/v2/rerank`` answer (``V2RerankResponse``), as Cohere's API reference shows it."""
    meta: dict[str, Any] = {"api_version": {"version": "2", "is_experimental": False}}
    if search_units is not None:
        meta["billed_units"] = {"search_units": search_units}
    scored = rerank_scores(query, documents)[:top_n]
    return {"id": str(uuid.uuid4()),
            "results": [{"index": i, "relevance_score": s} for i, s in scored], "meta": meta}


def error_body(message: str, id: str = "err-7d4c") -> dict[str, Any]:
    """Cohere's error object."""
    return {"id": id, "message": message}


def vector(text: str, dims: int) -> list[float]:
    """A deterministic vector for ``text``: its length, then a ramp."""
    return [float(len(text))] + [round(0.1 * i, 3) for i in range(1, dims)]


class CohereServer(LoopbackServer):
    """A loopback server speaking Cohere's v2 chat and embed API with scripted answers."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: deque[ChatScript] = deque()
        self.route("POST", "/v2/chat", self._chat)
        self.route("POST", "/v2/embed", self._embed)
        self.route("POST", "/v2/rerank", self._rerank)

    def script(self, *scripts: ChatScript) -> CohereServer:
        """Queue chat answers (FIFO); with none queued the default ChatScript answers."""
        self.scripts.extend(scripts)
        return self

    def reset(self) -> None:
        """Forget requests, faults and scripts (a server shared by a module's tests)."""
        super().reset()
        self.scripts.clear()

    def error(self, status: int, message: str = "scripted error", *,
              headers: dict[str, str] | None = None, times: int = 1) -> None:
        """Answer the next ``times`` requests with Cohere's error body and this status."""
        self.fail(status, error_body(message), headers=headers, times=times)

    def bodies(self, path: str) -> list[Any]:
        """The JSON bodies received on ``path``, in order."""
        return [r.json for r in self.requests if r.path == path]

    def _chat(self, rec: Recorded) -> Reply:
        s = self.scripts.popleft() if self.scripts else ChatScript()
        if (rec.json or {}).get("stream"):
            events = chat_events(s)
            if s.end_after is not None:
                events = events[:s.end_after]
            return Reply.sse(events, named=True, done=False, cut_after=s.cut_after,
                             delay=s.delay)
        return Reply.json(chat_json(s), delay=s.delay)

    def _embed(self, rec: Recorded) -> Reply:
        body = rec.json
        texts = list(body["texts"])
        dims = body.get("output_dimension") or 4
        return Reply.json(embed_json(texts, [vector(t, dims) for t in texts],
                                     billed_input=sum(len(t.split()) for t in texts)))


    def _rerank(self, rec: Recorded) -> Reply:
        body = rec.json
        docs = list(body["documents"])
        return Reply.json(rerank_json(body["query"], docs, body.get("top_n"),
                                      search_units=-(-len(docs) // 100)))


class CohereConformanceWire:
    """:class:`CohereServer` scripted through the conformance kit's ``ConformanceWire`` calls
    (``cencori_core.testing.conformance``)."""

    def __init__(self, server: CohereServer) -> None:
        self.server = server
        self.base_url = server.base_url

    @property
    def hits(self) -> int:
        return self.server.hits

    def reply(self, text: str, *, usage: tuple[int, int] = (3, 2)) -> None:
        self.server.script(ChatScript(text=text, billed=usage, tokens=usage))

    def reply_tool_call(self, name: str, arguments: str) -> None:
        self.server.script(ChatScript(text=None, tool_calls=[("call_cnf_1", name, arguments)]))

    def fail(self, status: int, *, message: str = "error", retry_after: float | None = None,
             request_id: str | None = None) -> None:
        headers = {"x-request-id": request_id} if request_id else {}
        if retry_after is not None:
            headers["retry-after"] = str(retry_after)
        self.server.fail(status, error_body(message, id=request_id or "err-cnf"),
                         headers=headers)

    def cut_stream(self, text: str, *, after: int) -> None:
        self.server.script(ChatScript(text=text, cut_after=after))

    def end_stream_early(self, text: str, *, after: int) -> None:
        self.server.script(ChatScript(text=text, end_after=after))

    def slow(self, seconds: float) -> None:
        self.server.script(ChatScript(text="late", delay=seconds))

    def reply_rerank(self, ranking: list[tuple[int, float]], *, tokens: int | None = None,
                     ) -> None:
        meta: dict[str, Any] = {"api_version": {"version": "2"},
                                "billed_units": {"search_units": 1}}
        if tokens is not None:
            meta["billed_units"]["input_tokens"] = tokens
        self.server.queue(Reply.json({"id": str(uuid.uuid4()), "meta": meta, "results": [
            {"index": i, "relevance_score": s} for i, s in ranking]}))

    def drop(self) -> None:
        self.server.queue(Reply(lines=iter([b"{}"]), cut_after=0))


KEY = "co-test-7f3a9c1e5b2d4a60"
"""The API key every test router uses; it must never show up in errors or logs."""


def router_for(server: CohereServer, *, attempts: int = 1, provider: dict[str, Any] | None = None,
               **router_kw: Any) -> Router:
    """A router with only the cohere plugin, pointed at ``server``; ``attempts`` tries per call
    (one by default, so an error surfaces as itself), no backoff delay."""
    cfg = {"api_key": KEY, "base_url": server.base_url, **(provider or {})}
    return Router(providers={"cohere": cfg}, plugins=["cohere", *router_kw.pop("plugins", ())],
                  retry=RetryPolicy(max_attempts=attempts, initial_delay=0, jitter=0),
                  **router_kw)

"""An OpenAI wire-format server on 127.0.0.1 for tests, built on :mod:`loopback`.

It speaks the real OpenAI HTTP API closely enough for the official ``openai`` SDK: chat
completions (JSON, or SSE when the request says ``stream``, with the ``include_usage`` final chunk
when asked), embeddings (float or base64), image generation, transcriptions (multipart), speech
(binary) and moderations, with OpenAI's error bodies and headers (``x-request-id``,
``retry-after``, ``retry-after-ms``, ``x-should-retry``)::

    with OpenAIWire() as wire:                       # or the ``openai_wire`` fixture
        wire.chat_reply("Hello!", usage={"prompt_tokens": 3, "completion_tokens": 1})
        wire.fail(429, code="rate_limit_exceeded", retry_after=0.01)   # the next request fails
        router = Router(providers={"openai": {"api_key": "sk-test-...",
                                              "base_url": wire.base_url}})
        ...
        body = wire.last("/chat/completions").json   # what the SDK sent
        wire.hits_to("/chat/completions")

Scripted chat replies are served in order; with none queued the server echoes the last user
message (``"echo: <text>"``). Faults (:meth:`OpenAIWire.fail`) are served before anything else,
whatever the path. Every request is recorded (:attr:`OpenAIWire.requests`).
"""

from __future__ import annotations

import base64
import itertools
import json
import struct
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

import pytest
from loopback import LoopbackServer, Recorded, Reply

__all__ = ["OpenAIWire", "ChatReply", "ToolCallSpec", "openai_wire", "error_body", "form_fields",
           "PNG_B64"]

# A 1x1 PNG, for image answers.
PNG_B64 = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4//8/AAX+Av4N70a4"
           "AAAAAElFTkSuQmCC")
MP3_BYTES = b"ID3\x04\x00\x00\x00\x00\x00\x00" + bytes(range(64))

_ids = itertools.count(1)


@dataclass
class ToolCallSpec:
    """A tool call the model makes; ``arguments`` is sent verbatim (it may be malformed JSON)."""

    name: str
    arguments: str = "{}"
    id: str = ""
    fragments: int = 3
    """How many SSE deltas the arguments are split into when streamed."""


@dataclass
class ChatReply:
    """One scripted chat completion, served as JSON or as an SSE stream (as the request asks)."""

    content: str | None = "Hello!"
    tool_calls: list[ToolCallSpec] = field(default_factory=list)
    reasoning: str | None = None
    reasoning_field: str = "reasoning_content"
    """DeepSeek's name; OpenRouter and Ollama use ``reasoning``."""
    finish_reason: str | None = None
    """Default: ``tool_calls`` when there are tool calls, else ``stop``."""
    usage: dict[str, Any] | None = None
    """The usage object as sent; default: word counts. ``{}`` sends no usage at all."""
    model: str | None = None
    """Default: the model the request named."""
    id: str | None = None
    pieces: list[str] | None = None
    """The content deltas of a stream; default: ``chunk_size`` characters each."""
    chunk_size: int = 8
    cut_after: int | None = None
    """Drop the connection after this many SSE events (a stream cut mid-way)."""
    end_after: int | None = None
    """End the stream cleanly after this many SSE events, without the finish_reason chunk, the
    usage chunk or ``[DONE]`` (a server that gave up mid-answer)."""
    refusal: str | None = None
    """The model refuses: ``message.refusal`` (``delta.refusal`` pieces when streamed), with
    ``content`` null."""
    error_after: int | None = None
    """Send an SSE ``{"error": ...}`` event after this many events (a server failure mid-stream)."""
    error: dict[str, Any] = field(default_factory=lambda: {
        "message": "The server had an error while processing your request.",
        "type": "server_error", "code": None})
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


def error_body(message: str = "error", *, type: str = "invalid_request_error",
               code: str | None = None, param: str | None = None) -> dict[str, Any]:
    """An OpenAI error body."""
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


def form_fields(rec: Recorded) -> dict[str, Any]:
    """The fields of a multipart/form-data request: text as str, files as (filename, bytes)."""
    ctype = rec.headers.get("content-type", "")
    msg = BytesParser(policy=HTTP).parsebytes(
        f"content-type: {ctype}\r\n\r\n".encode() + rec.body)
    out: dict[str, Any] = {}
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        filename = part.get_filename()
        payload = part.get_payload(decode=True) or b""
        out[name] = (filename, payload) if filename else payload.decode()
    return out


def _words(text: str | None) -> int:
    return len((text or "").split())


def _last_user_text(body: dict[str, Any]) -> str:
    for m in reversed(body.get("messages") or []):
        if m.get("role") == "user":
            c = m.get("content")
            if isinstance(c, str):
                return c
            return "".join(p.get("text", "") for p in c or [] if p.get("type") == "text")
    return ""


def _usage(reply: ChatReply, body: dict[str, Any]) -> dict[str, Any] | None:
    if reply.usage == {}:
        return None
    if reply.usage is not None:
        u = dict(reply.usage)
        u.setdefault("total_tokens", u.get("prompt_tokens", 0) + u.get("completion_tokens", 0))
        return u
    prompt = sum(_words(m.get("content") if isinstance(m.get("content"), str) else "")
                 for m in body.get("messages") or []) or 1
    completion = _words(reply.content) + sum(_words(t.arguments) for t in reply.tool_calls)
    return {"prompt_tokens": prompt, "completion_tokens": completion,
            "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                                          "accepted_prediction_tokens": 0,
                                          "rejected_prediction_tokens": 0}}


def _finish(reply: ChatReply) -> str:
    return reply.finish_reason or ("tool_calls" if reply.tool_calls else "stop")


def _tool_ids(reply: ChatReply) -> list[str]:
    return [t.id or f"call_{i}_{t.name}" for i, t in enumerate(reply.tool_calls)]


def chat_completion_body(reply: ChatReply, body: dict[str, Any]) -> dict[str, Any]:
    """The JSON ``chat.completion`` object for ``reply`` to the request ``body``."""
    msg: dict[str, Any] = {"role": "assistant", "content": reply.content,
                           "refusal": reply.refusal, "annotations": []}
    if reply.reasoning is not None:
        msg[reply.reasoning_field] = reply.reasoning
    if reply.tool_calls:
        msg["tool_calls"] = [
            {"id": tid, "type": "function",
             "function": {"name": t.name, "arguments": t.arguments}}
            for tid, t in zip(_tool_ids(reply), reply.tool_calls, strict=True)]
    out: dict[str, Any] = {
        "id": reply.id or f"chatcmpl-{next(_ids)}", "object": "chat.completion",
        "created": 1_700_000_000, "model": reply.model or body.get("model", ""),
        "system_fingerprint": "fp_test",
        "choices": [{"index": 0, "message": msg, "logprobs": None,
                     "finish_reason": _finish(reply)}],
    }
    _choices_asked(out, body)
    usage = _usage(reply, body)
    if usage is not None:
        out["usage"] = usage
    return out


def _choices_asked(out: dict[str, Any], body: dict[str, Any]) -> None:
    """Honour ``n`` (that many choices, the content suffixed `` #i`` after the first) and
    ``logprobs`` / ``top_logprobs`` (each word of the content, log probability -0.25 per
    word, alternatives at -1.5), as OpenAI shapes them."""
    first = out["choices"][0]
    for i in range(1, body.get("n") or 1):
        msg = dict(first["message"])
        if isinstance(msg.get("content"), str):
            msg["content"] = f"{msg['content']} #{i}"
        out["choices"].append({**first, "index": i, "message": msg})
    if body.get("logprobs"):
        top = body.get("top_logprobs") or 0
        for c in out["choices"]:
            words = (c["message"].get("content") or "").split(" ")
            c["logprobs"] = {"content": [
                {"token": w, "logprob": -0.25, "bytes": list(w.encode()),
                 "top_logprobs": [{"token": w, "logprob": -0.25, "bytes": list(w.encode())},
                                  {"token": w.upper(), "logprob": -1.5, "bytes": None}][:top]}
                for w in words], "refusal": None}


def _split(text: str, size: int) -> list[str]:
    return [text[i:i + size] for i in range(0, len(text), size)] or [""]


def _fragments(text: str, n: int) -> list[str]:
    if n <= 1 or len(text) <= 1:
        return [text]
    step = max(1, -(-len(text) // n))
    return [text[i:i + step] for i in range(0, len(text), step)]


def chat_sse_events(reply: ChatReply, body: dict[str, Any]) -> list[Any]:
    """The ``chat.completion.chunk`` events (JSON-able) of ``reply`` streamed, in order.

    With ``n``, as OpenAI streams several choices: each event carries one choice, the choices'
    events interleave (each opens with its own role chunk; choice ``i`` > 0 says the content
    suffixed `` #i``, as :func:`chat_completion_body`), their finish_reason events come last in
    index order, then the usage event. With ``logprobs``, each content event is one token (a
    word, with its leading space) and carries ``{"content": [its token], "refusal": null}``; the
    role event ``{"content": [], "refusal": null}`` (recorded OpenAI streams, openai-python's
    test snapshots)."""
    include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
    base: dict[str, Any] = {"id": reply.id or f"chatcmpl-{next(_ids)}",
                            "object": "chat.completion.chunk", "created": 1_700_000_000,
                            "model": reply.model or body.get("model", ""),
                            "system_fingerprint": "fp_test"}
    if include_usage:
        base["usage"] = None  # OpenAI sends usage: null on every chunk but the last
    logprobs = bool(body.get("logprobs"))
    top = body.get("top_logprobs") or 0

    def ev(delta: dict[str, Any], finish: str | None = None, index: int = 0,
           lp: Any = None) -> dict[str, Any]:
        return {**base, "choices": [{"index": index, "delta": delta, "logprobs": lp,
                                     "finish_reason": finish}]}

    def token(piece: str) -> dict[str, Any]:
        return {"content": [
            {"token": piece, "logprob": -0.25, "bytes": list(piece.encode()),
             "top_logprobs": [{"token": piece, "logprob": -0.25, "bytes": list(piece.encode())},
                              {"token": piece.upper(), "logprob": -1.5, "bytes": None}][:top]}],
            "refusal": None}

    def choice_events(i: int) -> list[Any]:
        opening = {"content": [], "refusal": None} if logprobs else None
        out: list[Any] = [ev({"role": "assistant", "content": "", "refusal": None}, index=i,
                             lp=opening)]
        if reply.reasoning:
            out += [ev({reply.reasoning_field: p}, index=i)
                    for p in _split(reply.reasoning, reply.chunk_size)]
        if reply.refusal:
            out += [ev({"refusal": p}, index=i) for p in _split(reply.refusal, reply.chunk_size)]
        content = reply.content
        if content:
            if i:
                content = f"{content} #{i}"
            if logprobs:
                words = content.split(" ")
                pieces = [words[0], *(" " + w for w in words[1:])]
                out += [ev({"content": p}, index=i, lp=token(p)) for p in pieces]
            else:
                pieces = reply.pieces if reply.pieces is not None and not i else _split(
                    content, reply.chunk_size)
                out += [ev({"content": p}, index=i) for p in pieces]
        for k, (tid, t) in enumerate(zip(_tool_ids(reply), reply.tool_calls, strict=True)):
            out.append(ev({"tool_calls": [{"index": k, "id": tid, "type": "function",
                                           "function": {"name": t.name, "arguments": ""}}]},
                          index=i))
            out += [ev({"tool_calls": [{"index": k, "function": {"arguments": frag}}]},
                       index=i) for frag in _fragments(t.arguments, t.fragments)]
        return out

    per_choice = [choice_events(i) for i in range(body.get("n") or 1)]
    # round robin: the choices' events interleave as the model writes them side by side
    events: list[Any] = [e for group in itertools.zip_longest(*per_choice) for e in group
                         if e is not None]
    if reply.error_after is not None:
        events.insert(reply.error_after, {"error": reply.error})
    events += [ev({}, _finish(reply), index=i) for i in range(len(per_choice))]
    usage = _usage(reply, body)
    if include_usage and usage is not None:
        events.append({**base, "choices": [], "usage": usage})
    if reply.end_after is not None:
        events = events[:reply.end_after]
    return events


class OpenAIWire:
    """The server. ``base_url`` ends in ``/v1`` (give it to the SDK or the router as is)."""

    def __init__(self) -> None:
        self.server = LoopbackServer()
        self.base_url = self.server.base_url + "/v1"
        self._chat: deque[ChatReply] = deque()
        self._scripted: dict[str, deque[Reply | Callable[[Recorded], Reply]]] = {}
        self._lock = threading.Lock()
        self.moderation_flag_word = "attack"
        """Inputs containing this word are flagged by the moderation endpoint."""
        self.transcript = "hello from the loopback"
        route = self.server.route
        route("POST", "/v1/chat/completions", self._on_chat)
        route("POST", "/v1/embeddings", self._on_embeddings)
        route("POST", "/v1/images/generations", self._on_images)
        route("POST", "/v1/audio/transcriptions", self._on_transcription)
        route("POST", "/v1/audio/speech", self._on_speech)
        route("POST", "/v1/moderations", self._on_moderation)
        route("POST", "/v1/rerank", self._on_rerank)  # vLLM's, for openai_compatible configs

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> OpenAIWire:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    def __enter__(self) -> OpenAIWire:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def reset(self) -> None:
        """Forget recorded requests, queued faults and scripted replies."""
        self.server.reset()
        with self._lock:
            self._chat.clear()
            self._scripted.clear()

    # ------------------------------------------------------------------ scripting

    def chat_reply(self, content: str | None = "Hello!", *, times: int = 1,
                   **kw: Any) -> ChatReply:
        """Queue a chat answer (see :class:`ChatReply` for the keywords); returns it."""
        tool_calls = [t if isinstance(t, ToolCallSpec) else ToolCallSpec(**t)
                      for t in kw.pop("tool_calls", [])]
        reply = ChatReply(content=content, tool_calls=tool_calls, **kw)
        with self._lock:
            self._chat.extend([reply] * times)
        return reply

    def script(self, path: str, reply: Reply | Callable[[Recorded], Reply],
               times: int = 1) -> None:
        """Answer the next ``times`` requests to ``path`` (e.g. ``"/embeddings"``) with ``reply``
        (a :class:`loopback.Reply` or a function of the recorded request)."""
        with self._lock:
            self._scripted.setdefault("/v1" + path, deque()).extend([reply] * times)

    def fail(self, status: int, message: str = "error", *, type: str | None = None,
             code: str | None = None, retry_after: float | str | None = None,
             retry_after_ms: float | None = None, should_retry: bool | None = None,
             headers: dict[str, str] | None = None, body: Any = None, times: int = 1,
             request_id: str = "req_wire_fault", delay: float = 0.0) -> None:
        """Answer the next ``times`` requests (any path) with an OpenAI error."""
        h = {"x-request-id": request_id}
        if retry_after is not None:
            h["retry-after"] = str(retry_after)
        if retry_after_ms is not None:
            h["retry-after-ms"] = str(retry_after_ms)
        if should_retry is not None:
            h["x-should-retry"] = "true" if should_retry else "false"
        h.update(headers or {})
        if type is None:
            type = {401: "invalid_request_error", 429: "requests"}.get(
                status, "server_error" if status >= 500 else "invalid_request_error")
        if body is None:
            body = error_body(message, type=type, code=code)
        self.server.fail(status, body, headers=h, times=times, delay=delay)

    def queue(self, reply: Reply, times: int = 1) -> None:
        """Answer the next ``times`` requests (any path) with a raw reply."""
        self.server.queue(reply, times)

    # ------------------------------------------------------------------ inspection

    @property
    def requests(self) -> list[Recorded]:
        return self.server.requests

    @property
    def hits(self) -> int:
        return self.server.hits

    def requests_to(self, path: str) -> list[Recorded]:
        """Recorded requests whose path ends with ``path`` (``"/chat/completions"``)."""
        return [r for r in self.server.requests if r.path.endswith(path)]

    def hits_to(self, path: str) -> int:
        return len(self.requests_to(path))

    def last(self, path: str = "") -> Recorded:
        """The last recorded request (to ``path`` when given)."""
        found = self.requests_to(path) if path else self.server.requests
        if not found:
            raise AssertionError(f"no request to {path or 'the server'} was recorded")
        return found[-1]

    # ------------------------------------------------------------------ handlers

    def _take(self, rec: Recorded) -> Reply | None:
        with self._lock:
            q = self._scripted.get(rec.path)
            item = q.popleft() if q else None
        if item is None:
            return None
        return item(rec) if callable(item) else item

    def _on_rerank(self, rec: Recorded) -> Reply:
        from rerank_wire import rerank_answer

        return self._take(rec) or Reply.json(rerank_answer(rec.json))

    def _on_chat(self, rec: Recorded) -> Reply:
        scripted = self._take(rec)
        if scripted is not None:
            return scripted
        body = rec.json or {}
        with self._lock:
            reply = self._chat.popleft() if self._chat else None
        if reply is None:
            reply = ChatReply(content=f"echo: {_last_user_text(body)}")
        headers = {"x-request-id": f"req_{next(_ids)}", **reply.headers}
        if body.get("stream"):
            return Reply.sse(chat_sse_events(reply, body), headers=headers,
                             cut_after=reply.cut_after, delay=reply.delay,
                             done=reply.end_after is None)
        return Reply.json(chat_completion_body(reply, body), headers=headers, delay=reply.delay)

    def _on_embeddings(self, rec: Recorded) -> Reply:
        scripted = self._take(rec)
        if scripted is not None:
            return scripted
        body = rec.json or {}
        inputs = body.get("input")
        inputs = [inputs] if isinstance(inputs, str) else list(inputs or [])
        dims = body.get("dimensions") or 3
        data = []
        for i, text in enumerate(inputs):
            vec = [float(len(text) + i + k) / 10 for k in range(dims)]
            if body.get("encoding_format") == "base64":
                emb: Any = base64.b64encode(struct.pack(f"<{dims}f", *vec)).decode()
            else:
                emb = vec
            data.append({"object": "embedding", "index": i, "embedding": emb})
        tokens = sum(_words(t) for t in inputs)
        return Reply.json({"object": "list", "data": data, "model": body.get("model"),
                           "usage": {"prompt_tokens": tokens, "total_tokens": tokens}},
                          headers={"x-request-id": f"req_{next(_ids)}"})

    def _on_images(self, rec: Recorded) -> Reply:
        scripted = self._take(rec)
        if scripted is not None:
            return scripted
        body = rec.json or {}
        n = body.get("n") or 1
        gpt_image = str(body.get("model", "")).startswith("gpt-image")
        as_url = body.get("response_format") == "url" or (
            not gpt_image and body.get("response_format") is None)
        data = []
        for i in range(n):
            item: dict[str, Any] = ({"url": f"https://images.example/{i}.png"} if as_url
                                    else {"b64_json": PNG_B64})
            if not gpt_image:
                item["revised_prompt"] = f"revised: {body.get('prompt')}"
            data.append(item)
        out: dict[str, Any] = {"created": 1_700_000_000, "data": data}
        if gpt_image:
            out.update(output_format="png", size=body.get("size") or "1024x1024",
                       quality=body.get("quality") or "auto",
                       usage={"input_tokens": 10, "output_tokens": 272 * n,
                              "total_tokens": 10 + 272 * n,
                              "input_tokens_details": {"text_tokens": 10, "image_tokens": 0}})
        return Reply.json(out)

    def _on_transcription(self, rec: Recorded) -> Reply:
        scripted = self._take(rec)
        if scripted is not None:
            return scripted
        fields = form_fields(rec)
        fmt = fields.get("response_format", "json")
        if fmt == "text":
            return Reply(body=self.transcript + "\n", content_type="text/plain")
        if fmt == "verbose_json":
            return Reply.json({"task": "transcribe", "language": "english", "duration": 1.5,
                               "text": self.transcript, "segments": [],
                               "usage": {"type": "duration", "seconds": 2}})
        return Reply.json({"text": self.transcript,
                           "usage": {"type": "tokens", "input_tokens": 14, "output_tokens": 5,
                                     "total_tokens": 19,
                                     "input_token_details": {"text_tokens": 0,
                                                             "audio_tokens": 14}}})

    def _on_speech(self, rec: Recorded) -> Reply:
        scripted = self._take(rec)
        if scripted is not None:
            return scripted
        fmt = (rec.json or {}).get("response_format", "mp3")
        ctype = {"mp3": "audio/mpeg", "wav": "audio/wav", "opus": "audio/ogg",
                 "flac": "audio/flac", "aac": "audio/aac", "pcm": "audio/pcm"}.get(fmt)
        return Reply(body=MP3_BYTES, content_type=ctype or "application/octet-stream")

    def _on_moderation(self, rec: Recorded) -> Reply:
        scripted = self._take(rec)
        if scripted is not None:
            return scripted
        body = rec.json or {}
        inputs = body.get("input")
        inputs = [inputs] if isinstance(inputs, str) else list(inputs or [])
        names = ["harassment", "harassment/threatening", "hate", "hate/threatening", "illicit",
                 "illicit/violent", "self-harm", "self-harm/intent", "self-harm/instructions",
                 "sexual", "sexual/minors", "violence", "violence/graphic"]
        results = []
        for text in inputs:
            hit = self.moderation_flag_word in text
            cats = {n: (hit and n == "violence") for n in names}
            scores = {n: (0.91 if hit and n == "violence" else 0.001) for n in names}
            results.append({"flagged": hit, "categories": cats, "category_scores": scores,
                            "category_applied_input_types": {n: ["text"] for n in names}})
        return Reply.json({"id": f"modr-{next(_ids)}",
                           "model": body.get("model") or "omni-moderation-latest",
                           "results": results})


def sse_lines(events: Iterable[Any]) -> Iterator[bytes]:
    """Raw SSE bytes of ``events`` followed by ``[DONE]`` (for in-memory transports)."""
    for ev in events:
        yield f"data: {json.dumps(ev)}\n\n".encode()
    yield b"data: [DONE]\n\n"


@pytest.fixture
def openai_wire() -> Iterator[OpenAIWire]:
    """A started :class:`OpenAIWire`, stopped after the test."""
    with OpenAIWire() as wire:
        yield wire

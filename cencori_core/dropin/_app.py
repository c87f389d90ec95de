"""The OpenAI HTTP API served by a Router, without sockets: one request in, one OpenAI wire
answer out (JSON, SSE, binary audio, or a status code with an OpenAI error body).

Each endpoint is planned once in plain code (:meth:`App.plan`: parse the body, pick the router
operation and its keyword arguments, say how to render the result); :meth:`App.handle` and
:meth:`App.ahandle` only differ in how they call the router, and the two SSE generators in how
they pull chunks. Everything goes through the router's public operations, so every call gets
the whole pipeline: policies, retries, fallbacks, budgets, records and spans.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from ..errors import CencoriError, InvalidRequestError, UnknownModelError
from ..types import ChatChunk, ChatResponse, Speech
from . import _wire as w

if TYPE_CHECKING:
    from .._streams import AsyncChatStream, ChatStream
    from ..router import Router

__all__ = ["App", "Answer"]

_JSON = {"content-type": "application/json"}
_SSE = {"content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache"}
_DONE = b"data: [DONE]\n\n"


@dataclass(slots=True)
class Answer:
    """One HTTP answer: ``body`` bytes, or ``stream`` (SSE bytes, sync or async iterator)."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    stream: Iterator[bytes] | AsyncIterator[bytes] | None = None
    error: BaseException | None = None
    """The error behind a 4xx/5xx answer (the drop-in raises the SDK's exception from it)."""


@dataclass(slots=True)
class _Plan:
    op: str
    """The router operation (``chat``, ``chat_stream``, ``embed``, ...); ``a`` + op is async."""
    kw: dict[str, Any]
    render: Callable[[Any], Answer]
    include_usage: bool = False


def _json(body: Any, headers: Mapping[str, str] | None = None) -> Answer:
    return Answer(200, {**_JSON, **(headers or {})}, json.dumps(body).encode())


def error(exc: BaseException) -> Answer:
    status, headers, body = w.error_answer(exc)
    return Answer(status, {**_JSON, **headers}, json.dumps(body).encode(), error=exc)


class App:
    """Answers OpenAI API requests (paths relative to ``/v1``) with one router."""

    def __init__(self, router: Router, *, api_key: str | None = None,
                 project: str | None = None) -> None:
        self.router = router
        # the credentials the client was built with: a per-call header that blanks or omits
        # them cannot take the call out of their project (only another valid key changes it)
        self.api_key = api_key if isinstance(api_key, str) and api_key.startswith("csk_") \
            else None
        self.project = project if isinstance(project, str) and project else None

    # ------------------------------------------------------------------ planning (shared)

    def plan(self, method: str, path: str, headers: Mapping[str, str],
             raw: bytes) -> _Plan | Answer:
        """What a request asks of the router, or the answer itself (models, unknown paths)."""
        path = path.split("?", 1)[0]
        if path.startswith("/v1/"):
            path = path[3:]
        r = self.router
        if method == "POST":
            if path == "/chat/completions":
                return self._chat(w.json_body(raw), headers)
            if path == "/embeddings":
                return self._embed(w.json_body(raw), headers)
            if path == "/images/generations":
                body = w.json_body(raw)
                as_url = body.get("response_format") == "url"
                kw = self._kw("images.generate", body, r.generate_image, headers,
                              frozenset({"response_format"}))
                return _Plan("generate_image", kw, lambda res: _json(w.image_body(res, as_url)))
            if path == "/audio/transcriptions":
                return self._transcribe(headers, raw)
            if path == "/audio/speech":
                body = w.json_body(raw)
                kw = self._kw("audio.speech", body, r.speech, headers,
                              frozenset({"response_format"}))
                kw["format"] = body.get("response_format") or "mp3"
                return _Plan("speech", kw, _speech)
            if path == "/moderations":
                body = w.json_body(raw)
                body.setdefault("model", "omni-moderation-latest")
                kw = self._kw("moderations", body, r.moderate, headers)
                model = str(body["model"])
                return _Plan("moderate", kw, lambda res: _json(w.moderation_body(res, model)))
        elif method == "GET":
            if path == "/models":
                return _json(self.models())
            if path.startswith("/models/"):
                return _json(self.model(unquote(path[len("/models/"):])))
        return Answer(404, dict(_JSON), json.dumps({"error": {
            "message": f"the drop-in serves no {method} {path}", "type": "invalid_request_error",
            "param": None, "code": "unknown_url"}}).encode())

    def _kw(self, op: str, body: Mapping[str, Any], method: Callable[..., Any],
            headers: Mapping[str, str], own: frozenset[str] = frozenset()) -> dict[str, Any]:
        kw = w.kwargs_for(op, body, w.accepted(method), own)
        # the client's credentials: a project key (csk_...) and the OpenAI-Project header
        # select the router's tenant; any other bearer token is the SDK's placeholder
        auth = headers.get("authorization", "")
        key = auth[len("Bearer "):] if auth.startswith("Bearer csk_") else self.api_key
        if key is not None and "api_key" not in kw:
            kw["api_key"] = key
        project = headers.get("openai-project") or self.project
        if project and "project" not in kw:
            kw["project"] = project
        return kw

    def _chat(self, body: dict[str, Any], headers: Mapping[str, str]) -> _Plan:
        names = w.accepted(self.router.chat)
        stream = body.get("stream") is True
        opts = body.get("stream_options")
        include_usage = isinstance(opts, dict) and opts.get("include_usage") is True
        own = frozenset({"stream"} if "stream_options" in names else {"stream", "stream_options"})
        kw = self._kw("chat.completions", body, self.router.chat, headers, own)
        model = str(body.get("model", ""))
        if stream:
            return _Plan("chat_stream", kw, lambda s: s, include_usage)
        return _Plan("chat", kw, lambda res: _json(w.chat_body(res, model),
                                                   {"x-request-id": res.id or ""}))

    def _embed(self, body: dict[str, Any], headers: Mapping[str, str]) -> _Plan:
        encoding = body.get("encoding_format") or "float"
        if encoding not in ("float", "base64"):
            raise InvalidRequestError(f"encoding_format must be 'float' or 'base64', got "
                                      f"{encoding!r}", param="encoding_format")
        kw = self._kw("embeddings", body, self.router.embed, headers,
                      frozenset({"encoding_format"}))
        model = str(body.get("model", ""))
        return _Plan("embed", kw, lambda res: _json(w.embedding_body(res, model, encoding)))

    def _transcribe(self, headers: Mapping[str, str], raw: bytes) -> _Plan:
        fields = w.form_fields(headers.get("content-type", ""), raw)
        fmt = fields.pop("response_format", "json")
        if fmt not in ("json", "text", "verbose_json"):
            raise InvalidRequestError(f"response_format {fmt!r} is not served by the drop-in "
                                      "(json, text, verbose_json)", param="response_format")
        upload = fields.get("file")
        if isinstance(upload, tuple):
            f = io.BytesIO(upload[1])
            f.name = upload[0] or "audio.wav"
            fields["file"] = f
        kw = self._kw("audio.transcriptions", fields, self.router.transcribe, headers)

        def render(res: Any) -> Answer:
            ctype, data = w.transcription_body(res, fmt)
            return Answer(200, {"content-type": ctype}, data)

        return _Plan("transcribe", kw, render)

    # ------------------------------------------------------------------ models

    def models(self) -> dict[str, Any]:
        """The catalog's models of every provider that can be used now."""
        usable = {p for p, ok in self.router.configured_providers().items() if ok}
        data = [{"id": name, "object": "model", "created": 0, "owned_by": info.provider}
                for name, info in sorted(self.router.catalog.models.items())
                if info.provider in usable]
        return {"object": "list", "data": data}

    def model(self, name: str) -> dict[str, Any]:
        route = self.router.resolve(name)
        if not self.router.configured_providers().get(route.provider):
            raise UnknownModelError(f"model {name!r} has no configured provider", model=name)
        return {"id": name, "object": "model", "created": 0, "owned_by": route.provider}

    # ------------------------------------------------------------------ the two drivers

    def handle(self, method: str, path: str, headers: Mapping[str, str], raw: bytes) -> Answer:
        try:
            plan = self.plan(method, path, headers, raw)
            if isinstance(plan, Answer):
                return plan
            if plan.op == "chat_stream":
                stream = self.router.chat_stream(**plan.kw)
                it = iter(stream)
                try:  # the first chunk, so an error before any output is a status code
                    first: ChatChunk | None = next(it)
                except StopIteration:
                    first = None
                return Answer(200, dict(_SSE), stream=_sse(stream, first, plan))
            return plan.render(getattr(self.router, plan.op)(**plan.kw))
        except CencoriError as exc:
            return error(exc)

    async def ahandle(self, method: str, path: str, headers: Mapping[str, str],
                      raw: bytes) -> Answer:
        try:
            plan = self.plan(method, path, headers, raw)
            if isinstance(plan, Answer):
                return plan
            if plan.op == "chat_stream":
                stream = self.router.achat_stream(**plan.kw)
                try:
                    first: ChatChunk | None = await stream.__anext__()
                except StopAsyncIteration:
                    first = None
                return Answer(200, dict(_SSE), stream=_asse(stream, first, plan))
            return plan.render(await getattr(self.router, "a" + plan.op)(**plan.kw))
        except CencoriError as exc:
            return error(exc)


def _speech(res: Speech) -> Answer:
    return Answer(200, {"content-type": w.SPEECH_TYPES.get(res.format,
                                                            "application/octet-stream")},
                  res.audio)


# ---------------------------------------------------------------------------- SSE


# json.dumps(str) without dumps()' and the encoder's Python frames: the same C function makes
# the same bytes (ensure_ascii), once per streamed chunk
_quote = json.encoder.encode_basestring_ascii

class _Frames:
    """The SSE frames of one stream. Text deltas, nearly every chunk, are spliced into bytes
    prepared once per stream instead of building and encoding a dict each time."""

    __slots__ = ("cid", "created", "model", "head", "tail", "opened")

    def __init__(self, model: str) -> None:
        self.cid = w.new_id("chatcmpl-")
        self.created = int(time.time())
        self.model = model
        env = json.dumps({"id": self.cid, "object": "chat.completion.chunk",
                          "created": self.created, "model": model})[:-1]
        self.head = f'data: {env}, "choices": [{{"index": 0, "delta": {{"content": '.encode()
        # "logprobs": null left out (the SDK's default): each field costs the SDK a model
        # field to build, on every chunk
        self.tail = b'}, "finish_reason": null}]}\n\n'
        self.opened = {0}  # the choices whose role chunk was sent (n: each opens on its own)

    def frame(self, body: dict[str, Any]) -> bytes:
        return b"data: " + json.dumps(body).encode() + b"\n\n"

    def role(self, index: int = 0) -> bytes:
        return self.frame(w.chunk_body(ChatChunk(), self.cid, self.created, self.model)
                          | {"choices": [{"index": index, "delta": {"role": "assistant",
                                                                     "content": ""},
                                          "finish_reason": None, "logprobs": None}]})

    def chunk(self, c: ChatChunk) -> bytes | None:
        if c.index or c.logprobs is not None:  # n or logprobs asked: not the plain text frame
            return self._choice_chunk(c)
        if c.delta and not (c.tool_calls or c.reasoning or c.refusal):
            return self.head + _quote(c.delta).encode() + self.tail
        if not (c.delta or c.tool_calls or c.reasoning or c.refusal):
            return None  # usage and finish events: sent once, at the end, from the response
        return self.frame(w.chunk_body(ChatChunk(delta=c.delta, tool_calls=c.tool_calls,
                                                 reasoning=c.reasoning, refusal=c.refusal),
                                       self.cid, self.created, self.model))

    def _choice_chunk(self, c: ChatChunk) -> bytes | None:
        """A chunk of choice ``c.index`` (its role chunk first when it is the choice's
        first), with its log probabilities."""
        if not (c.delta or c.tool_calls or c.reasoning or c.refusal or c.logprobs):
            return None
        out = b""
        if c.index not in self.opened:
            self.opened.add(c.index)
            out = self.role(c.index)
        return out + self.frame(w.chunk_body(
            ChatChunk(delta=c.delta, tool_calls=c.tool_calls, reasoning=c.reasoning,
                      refusal=c.refusal, index=c.index, logprobs=c.logprobs),
            self.cid, self.created, self.model))

    def end(self, resp: ChatResponse, include_usage: bool) -> bytes:
        out = self.frame(w.chunk_body(ChatChunk(finish_reason=resp.finish_reason), self.cid,
                                      self.created, self.model))
        for c in resp.choices[1:]:  # n: each choice's finish reason, in index order
            out += self.frame(w.chunk_body(ChatChunk(finish_reason=c.finish_reason,
                                                     index=c.index),
                                           self.cid, self.created, self.model))
        if include_usage:
            out += self.frame(w.usage_chunk_body(resp.usage, self.cid, self.created,
                                                 self.model))
        return out + _DONE


def _stream_model(stream: ChatStream | AsyncChatStream, first: ChatChunk | None,
                  plan: _Plan) -> str:
    """The model the frames name, as the non-stream answer does: the provider's own (the
    first chunk's), else the route's, else the name asked for."""
    if first is not None and first.model:
        return first.model
    route = stream.context.route
    return route.model if route is not None else str(plan.kw.get("model", ""))


def _sse(stream: ChatStream, first: ChatChunk | None, plan: _Plan) -> Iterator[bytes]:
    f = _Frames(_stream_model(stream, first, plan))
    try:
        yield f.role()
        if first is not None:
            b = f.chunk(first)
            if b is not None:
                yield b
            for c in stream:
                b = f.chunk(c)
                if b is not None:
                    yield b
        yield f.end(stream.final_response(), plan.include_usage)
    finally:
        stream.close()  # a no-op after the end; cancels (and records) a stream left early


async def _asse(stream: AsyncChatStream, first: ChatChunk | None,
                plan: _Plan) -> AsyncIterator[bytes]:
    f = _Frames(_stream_model(stream, first, plan))
    try:
        yield f.role()
        if first is not None:
            b = f.chunk(first)
            if b is not None:
                yield b
            async for c in stream:
                b = f.chunk(c)
                if b is not None:
                    yield b
        yield f.end(stream.final_response(), plan.include_usage)
    finally:
        await stream.aclose()

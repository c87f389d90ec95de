"""Fakes for tests (ours and our users'): ``FakeProvider``, ``FunctionProvider``, ``no_network()``.

::

    fake = FakeProvider(models=["gpt-4o"])
    fake.script("Hi there", ProviderRateLimitError("slow down", retry_after=0.01), "Second")
    router = Router(providers={"fake": fake}, load_entrypoints=False)

The pytest plugin (``cencori_core.testing.pytest_plugin``, loaded through ``pytest11``) offers the
``cencori_router``, ``cencori_fake_provider`` and ``cencori_register`` fixtures.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from typing import Any

from .._echo import EchoProvider
from .._network import NO_NETWORK, network_allowed, no_network
from ..catalog import CAPABILITIES, ModelInfo
from ..config import ProviderConfig
from ..errors import error_for_status
from ..hookspecs import hookimpl
from ..provider import Provider
from ..types import (
    ChatChunk,
    ChatRequest,
    ChatResponse,
    EmbeddingResponse,
    ImageResponse,
    ModerationResponse,
    RerankResponse,
    Speech,
    ToolCall,
    ToolCallDelta,
    Transcription,
    Usage,
    UsageRecord,
)

__all__ = ["FakeProvider", "FunctionProvider", "no_network", "network_allowed", "NO_NETWORK",
           "reply", "tool_call", "http_error", "UsageRecorder"]


def tool_call(name: str, arguments: dict[str, Any] | str | None = None,
              id: str | None = None) -> ToolCall:
    """A scripted tool call (arguments as a dict or raw JSON text)."""
    import json

    raw = arguments if isinstance(arguments, str) else json.dumps(arguments or {})
    return ToolCall.from_raw(id=id or f"call_{name}", name=name, arguments_raw=raw)


def reply(content: str | None = None, *, tool_calls: Iterable[ToolCall] = (),
          usage: Usage | None = None, finish_reason: str | None = None,
          reasoning: str | None = None) -> ChatResponse:
    """A scripted chat reply."""
    calls = list(tool_calls)
    return ChatResponse(
        content=content, tool_calls=calls,
        finish_reason=finish_reason or ("tool_calls" if calls else "stop"),
        usage=usage or Usage(source="estimated"), reasoning=reasoning)


def http_error(status: int, message: str = "scripted error", *, retry_after: float | None = None,
               code: str | None = None) -> Exception:
    """A provider error as the plugin would raise it for an HTTP status (429, 500, ...)."""
    cls = error_for_status(status)
    return cls(message, status_code=status, retry_after=retry_after, code=code)


class FakeProvider(Provider):
    """A provider for tests: scripted replies, chunks, tool calls, usage, errors and latency.

    Each call takes the next scripted item (FIFO): a ``str`` (reply text), a ``ChatResponse``
    (see :func:`reply`), any response object for other operations, an exception (raised), or a
    callable ``f(request)`` returning one of those. With nothing scripted it echoes like the
    ``echo`` provider. Every request is kept in ``calls`` as ``(operation, request)``.
    """

    __test__ = False
    offline = True

    def __init__(self, name: str = "fake", *, models: Iterable[str | ModelInfo] = (),
                 prefixes: Iterable[str] = (), latency: float = 0.0,
                 chunk_size: int | None = None) -> None:
        super().__init__(ProviderConfig(name=name))
        self.models = tuple(m if isinstance(m, ModelInfo) else
                            ModelInfo(name=m, capabilities=CAPABILITIES) for m in models)
        self.prefixes = tuple(prefixes)
        self.latency = latency
        self.chunk_size = chunk_size
        self.calls: list[tuple[str, Any]] = []
        self._script: deque[Any] = deque()
        self._echo = EchoProvider(ProviderConfig(name=name))
        self._echo.limits = False  # a fake answers whatever the router let through
        self.closed = False

    # --- scripting
    def script(self, *items: Any) -> FakeProvider:
        """Queue replies (text, responses, exceptions or callables), one per call."""
        self._script.extend(items)
        return self

    def clear(self) -> FakeProvider:
        """Drop the replies and errors scripted but not used yet (recorded calls stay)."""
        self._script.clear()
        return self

    def fail(self, status: int, message: str = "scripted error", *,
             retry_after: float | None = None, times: int = 1) -> FakeProvider:
        """Queue ``times`` provider errors for an HTTP status (e.g. 429 with Retry-After)."""
        for _ in range(times):
            self._script.append(http_error(status, message, retry_after=retry_after))
        return self

    @property
    def requests(self) -> list[Any]:
        return [r for _, r in self.calls]

    @property
    def last_request(self) -> Any:
        return self.calls[-1][1] if self.calls else None

    def _next(self, op: str, request: Any) -> Any:
        self.calls.append((op, request))
        if not self._script:
            return None
        item = self._script.popleft()
        if callable(item) and not isinstance(item, (BaseException, type)):
            item = item(request)
        if isinstance(item, BaseException):
            raise item
        return item

    def _chat(self, request: ChatRequest, item: Any) -> ChatResponse:
        if item is None:
            resp = self._echo.chat(request)
            object.__setattr__(resp, "provider", self.name)
            return resp
        if isinstance(item, str):
            item = reply(item)
        if not isinstance(item, ChatResponse):
            raise TypeError(f"FakeProvider: scripted {type(item).__name__} for a chat call")
        return item

    # --- chat
    def chat(self, request: ChatRequest) -> ChatResponse:
        item = self._next("chat", request)
        if self.latency:
            time.sleep(self.latency)
        return self._chat(request, item)

    async def achat(self, request: ChatRequest) -> ChatResponse:
        item = self._next("chat", request)
        if self.latency:
            await asyncio.sleep(self.latency)
        return self._chat(request, item)

    def _chunks(self, request: ChatRequest, item: Any) -> list[ChatChunk]:
        if isinstance(item, (list, tuple)):  # explicit chunks (str or ChatChunk, may hold errors)
            return [ChatChunk(delta=c) if isinstance(c, str) else c for c in item]
        resp = self._chat(request, item)
        text = resp.content or ""
        out: list[ChatChunk] = []
        if self.chunk_size:
            pieces = [text[i:i + self.chunk_size] for i in range(0, len(text), self.chunk_size)]
        else:
            words = text.split(" ")
            pieces = [w if i == 0 else " " + w for i, w in enumerate(words)] if text else []
        if resp.reasoning:
            out.append(ChatChunk(reasoning=resp.reasoning))
        out.extend(ChatChunk(delta=p) for p in pieces)
        for i, tc in enumerate(resp.tool_calls):
            half = len(tc.arguments_raw) // 2
            out.append(ChatChunk(tool_calls=[ToolCallDelta(index=i, id=tc.id, name=tc.name,
                                                           arguments=tc.arguments_raw[:half])]))
            out.append(ChatChunk(tool_calls=[ToolCallDelta(index=i,
                                                           arguments=tc.arguments_raw[half:])]))
        out.append(ChatChunk(finish_reason=resp.finish_reason))
        if resp.usage.source == "provider":
            out.append(ChatChunk(usage=resp.usage))
        return out

    def chat_stream(self, request: ChatRequest) -> Iterator[ChatChunk]:
        item = self._next("chat_stream", request)
        for c in self._chunks(request, item):
            if isinstance(c, BaseException):
                raise c
            if self.latency:
                time.sleep(self.latency)
            yield c

    async def achat_stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        item = self._next("chat_stream", request)
        for c in self._chunks(request, item):
            if isinstance(c, BaseException):
                raise c
            if self.latency:
                await asyncio.sleep(self.latency)
            yield c

    # --- other operations: scripted response objects, else echo
    def _other(self, op: str, request: Any, expected: type) -> Any:
        item = self._next(op, request)
        if item is None:
            resp = getattr(self._echo, op)(request)
            object.__setattr__(resp, "provider", self.name)
            return resp
        if not isinstance(item, expected):
            raise TypeError(f"FakeProvider: scripted {type(item).__name__} for {op}")
        return item

    def embed(self, request: Any) -> EmbeddingResponse:
        return self._other("embed", request, EmbeddingResponse)  # type: ignore[no-any-return]

    async def aembed(self, request: Any) -> EmbeddingResponse:
        return self.embed(request)

    def generate_image(self, request: Any) -> ImageResponse:
        return self._other("generate_image", request, ImageResponse)  # type: ignore[no-any-return]

    async def agenerate_image(self, request: Any) -> ImageResponse:
        return self.generate_image(request)

    def transcribe(self, request: Any) -> Transcription:
        return self._other("transcribe", request, Transcription)  # type: ignore[no-any-return]

    async def atranscribe(self, request: Any) -> Transcription:
        return self.transcribe(request)

    def speech(self, request: Any) -> Speech:
        return self._other("speech", request, Speech)  # type: ignore[no-any-return]

    async def aspeech(self, request: Any) -> Speech:
        return self.speech(request)

    def moderate(self, request: Any) -> ModerationResponse:
        return self._other("moderate", request, ModerationResponse)  # type: ignore[no-any-return]

    async def amoderate(self, request: Any) -> ModerationResponse:
        return self.moderate(request)

    def rerank(self, request: Any) -> RerankResponse:
        return self._other("rerank", request, RerankResponse)  # type: ignore[no-any-return]

    async def arerank(self, request: Any) -> RerankResponse:
        return self.rerank(request)

    def close(self) -> None:
        self.closed = True

    async def aclose(self) -> None:
        self.closed = True


class UsageRecorder:
    """A hook plugin that keeps every usage record a router delivers, in order.

    ::

        rec = UsageRecorder()
        router = Router(providers={"fake": fake}, plugins=[rec], load_entrypoints=False)
        router.chat(model="m", messages=msgs)
        assert rec.last.status == "ok" and len(rec.records) == 1
    """

    def __init__(self) -> None:
        self.records: list[UsageRecord] = []

    @hookimpl
    def cencori_record_usage(self, record: UsageRecord) -> None:
        self.records.append(record)

    @property
    def last(self) -> UsageRecord | None:
        """The newest record, or None before the first."""
        return self.records[-1] if self.records else None

    @property
    def statuses(self) -> list[str]:
        """Each record's status in order (``ok``, ``error``, ``blocked``, ...)."""
        return [r.status for r in self.records]

    def clear(self) -> None:
        self.records.clear()


class FunctionProvider(Provider):
    """A provider whose chat answers come from ``handler(request)`` (sync or async).

    The handler returns a ``str``, a ``ChatResponse``, or (for streams) an iterable of ``str`` /
    ``ChatChunk``; a plain answer is streamed word by word.
    """

    __test__ = False
    offline = True

    def __init__(self, handler: Callable[[ChatRequest], Any], name: str = "function", *,
                 models: Iterable[str | ModelInfo] = (), prefixes: Iterable[str] = ()) -> None:
        super().__init__(ProviderConfig(name=name))
        self.handler = handler
        self.models = tuple(m if isinstance(m, ModelInfo) else
                            ModelInfo(name=m, capabilities=CAPABILITIES) for m in models)
        self.prefixes = tuple(prefixes)
        self.calls: list[ChatRequest] = []
        self._fake = FakeProvider(name)

    def _as_response(self, out: Any, request: ChatRequest) -> ChatResponse:
        return self._fake._chat(request, out if out is not None else "")

    def chat(self, request: ChatRequest) -> ChatResponse:
        self.calls.append(request)
        out = self.handler(request)
        if inspect.isawaitable(out):
            out = _run_sync(out)
        return self._as_response(out, request)

    async def achat(self, request: ChatRequest) -> ChatResponse:
        self.calls.append(request)
        out = self.handler(request)
        if inspect.isawaitable(out):
            out = await out
        return self._as_response(out, request)

    def _stream_items(self, out: Any, request: ChatRequest) -> list[ChatChunk]:
        if isinstance(out, (str, ChatResponse)) or out is None:
            return self._fake._chunks(request, out if out is not None else "")
        return [ChatChunk(delta=c) if isinstance(c, str) else c for c in out]

    def chat_stream(self, request: ChatRequest) -> Iterator[ChatChunk]:
        self.calls.append(request)
        out = self.handler(request)
        if inspect.isawaitable(out):
            out = _run_sync(out)
        yield from self._stream_items(out, request)

    async def achat_stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        self.calls.append(request)
        out = self.handler(request)
        if inspect.isawaitable(out):
            out = await out
        if hasattr(out, "__aiter__"):
            async for c in out:
                yield ChatChunk(delta=c) if isinstance(c, str) else c
            return
        for c in self._stream_items(out, request):
            yield c


def _run_sync(awaitable: Any) -> Any:
    with contextlib.closing(asyncio.new_event_loop()) as loop:
        return loop.run_until_complete(awaitable)

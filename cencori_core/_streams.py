"""Chat streams: one pure stream state and two thin shells that differ only where they wait.

:class:`StreamState` holds everything a stream knows and does without I/O: the chunk hooks, the
accumulated response, what is pending for the caller, how an end, an error or a cancel is
recorded. :class:`ChatStream` and :class:`AsyncChatStream` open the provider stream through the
pipeline's attempt flow (retry and fallback happen only there, before anything reached the
caller), pull chunks, and settle the call's reservation: ``next`` vs ``await anext``, ``settle``
vs ``asettle``, ``close`` vs ``aclose``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

from ._flow import run_async, run_sync
from ._pipeline import fill, is_cancel
from ._stream import StreamAccumulator
from ._structured import is_forced, unforce_chunk
from .context import CallContext
from .errors import (
    InvalidRequestError,
    OutputValidationError,
    PolicyViolationError,
    StreamInterruptedError,
)
from .provider import Provider
from .types import ChatChunk, ChatRequest, ChatResponse, Choice, ToolCallDelta

if TYPE_CHECKING:
    from ._pipeline import Pipeline
    from .resilience import Target

__all__ = ["ChatStream", "AsyncChatStream", "StreamState"]


class StreamState:
    """What a stream is, without its I/O: open, chunk, end, error, cancel."""

    def __init__(self, pipe: Pipeline, ctx: CallContext) -> None:
        self._pipe = pipe
        self._ctx = ctx
        self._acc = StreamAccumulator()
        self._pending: list[ChatChunk] = []
        self._done = False
        self._delivered = 0
        self._target: Target | None = None
        # the provider's chunks before the stream hooks, when a miss is to be cached: the cache
        # keeps what the provider said, and a hit goes through the hooks again
        self._raw: StreamAccumulator | None = None
        self._forced = False
        """The route carries structured output as a forced tool call: its chunks become text."""
        self.response: ChatResponse | None = None
        """The final response, set when the stream has ended (see :meth:`final_response`)."""

    @property
    def context(self) -> CallContext:
        return self._ctx

    def final_response(self) -> ChatResponse:
        """The final :class:`ChatResponse` of a stream that has ended (iterate it to the end
        first, or use ``text()``)."""
        if self.response is None:
            raise InvalidRequestError("the stream has not ended: iterate it to the end (or call "
                                      "text()) before asking for its final response")
        return self.response

    @property
    def parsed(self) -> Any:
        """The validated structured output (``response_format=<a type>``) of a stream that has
        ended: ``final_response().parsed``."""
        return self.final_response().parsed

    # ------------------------------------------------------------------ chunks

    def _take(self) -> ChatChunk:
        self._delivered += 1
        return self._pending.pop(0)

    def _on_chunk(self, chunk: ChatChunk) -> ChatChunk | None:
        """A provider chunk: the one chunk for the caller, or None (then see ``_pending``)."""
        if self._forced:
            chunk = unforce_chunk(chunk)
        elif not self._pipe.hooks.has_chunk:
            # the bulk of every stream without stream hooks: the chunk itself, or nothing
            if self._acc.add(chunk):
                self._delivered += 1
                return chunk
            return None
        ready = self._process(chunk)
        if len(ready) == 1:  # the common case: straight to the caller
            self._delivered += 1
            return ready[0]
        self._pending = ready
        return None

    def _process(self, chunk: ChatChunk) -> list[ChatChunk]:
        """Provider chunk → chunks for the caller (after the stream hooks)."""
        hooks = self._pipe.hooks
        if not hooks.has_chunk:
            return [chunk] if self._acc.add(chunk) else []
        if self._raw is not None:
            self._raw.add(chunk)
        self._acc.meta(chunk)
        ready = []
        for c in hooks.stream_chunk(self._ctx, chunk):
            if c.is_empty:
                continue
            self._acc.content(c)
            ready.append(c)
        return ready

    def _on_end(self) -> None:
        """The provider stream ended: flush the hooks (a last ``final`` chunk), complete."""
        self._pending = self._process(ChatChunk(final=True))
        route = self._target.route if self._target else self._ctx.route
        assert route is not None
        base = self._ctx.response
        if base is not None and self._target is None:
            # a short-circuit replayed: keep its usage and id
            resp = self._acc.response(provider=base.provider or route.provider,
                                      model=base.model or route.model)
            fill(resp, usage=base.usage, id=base.id)
        else:
            resp = self._acc.response(provider=route.provider, model=route.model)
        self._done = True
        self.response = final = self._pipe.complete(self._ctx, resp, self._target)
        look = self._ctx._call.cache
        if self._raw is not None and look is not None and look.value is not None:
            raw = self._raw.response(provider=final.provider, model=final.model)
            fill(raw, usage=final.usage, cost=final.cost, id=final.id)
            self._pipe.cache.keep(look, raw)  # type: ignore[union-attr]

    # ------------------------------------------------------------------ errors and cancel

    def _on_error(self, exc: BaseException) -> BaseException:
        """Record the failure; the error for the caller. After chunks reached the caller a
        failure is a StreamInterruptedError carrying the partial response (policy blocks and
        cancellation keep their own type)."""
        if self._delivered and not is_cancel(exc) and not isinstance(
                exc, (PolicyViolationError, StreamInterruptedError, OutputValidationError)):
            err = self._interrupted(exc)
            self._pipe.fail(self._ctx, err)
            return err
        self._pipe.fail(self._ctx, exc)
        return exc

    def _interrupted(self, exc: BaseException) -> StreamInterruptedError:
        kw: dict[str, Any] = {}
        if hasattr(exc, "provider"):
            kw = {"provider": exc.provider, "model": getattr(exc, "model", None),
                  "status_code": getattr(exc, "status_code", None),
                  "request_id": getattr(exc, "request_id", None)}
        err = StreamInterruptedError(
            f"the stream failed after {self._delivered} chunk(s) reached the caller: "
            f"{type(exc).__name__}: {exc}", partial=self._partial(), **kw)
        err.__cause__ = exc
        return err

    def _partial(self) -> ChatResponse:
        route = self._target.route if self._target else self._ctx.route
        assert route is not None
        resp = self._acc.response(provider=route.provider, model=route.model)
        usage = resp.usage
        if usage.source == "estimated" and usage.total_tokens == 0:
            usage = self._pipe.estimate_usage(self._ctx, resp)
        fill(resp, usage=usage, attempts=list(self._ctx.attempts),
             latency_ms=self._ctx.elapsed_ms)
        return resp

    def _on_cancel(self) -> None:
        """Stopped early (closed or dropped): recorded as ``cancelled`` with what it used."""
        ctx = self._ctx
        if ctx._call.record_sent or ctx.route is None:
            return
        partial = self._partial()
        ctx._call.error = None
        self._pipe.record(ctx, "cancelled", partial)

    def _watch_raw(self) -> None:
        """A miss that will be cached while stream hooks may change chunks: keep the
        provider's own chunks too."""
        look = self._ctx._call.cache
        if look is not None and not look.hit and self._pipe.hooks.has_chunk:
            self._raw = StreamAccumulator()

    def _reservation(self) -> Any:
        """The call's reservation, handed out once (so it is settled once)."""
        call = self._ctx._call
        res, call.reservation = call.reservation, None
        return res

    def _replay(self) -> Iterator[ChatChunk]:
        """A short-circuit response replayed as a stream (every choice, with its log
        probabilities on its first chunk)."""
        resp = self._ctx.response
        if resp.reasoning:
            yield ChatChunk(reasoning=resp.reasoning)
        step = 64
        first = Choice(index=0, content=resp.content, tool_calls=resp.tool_calls,
                       logprobs=resp.logprobs, refusal=resp.refusal)
        for c in (first, *resp.choices[1:]):
            i = c.index
            text = c.content or ""
            logprobs = c.logprobs
            if logprobs is not None and not text:
                yield ChatChunk(index=i, logprobs=logprobs)
            for k in range(0, len(text), step):
                yield ChatChunk(delta=text[k:k + step], index=i,
                                logprobs=logprobs if k == 0 else None)
            if c.refusal:
                yield ChatChunk(refusal=c.refusal, index=i)
            for k, tc in enumerate(c.tool_calls):
                yield ChatChunk(index=i, tool_calls=[ToolCallDelta(
                    index=k, id=tc.id, name=tc.name, arguments=tc.arguments_raw)])
            if i:
                yield ChatChunk(finish_reason=c.finish_reason, index=i)
        yield ChatChunk(finish_reason=resp.finish_reason, usage=resp.usage)


class ChatStream(StreamState):
    """A sync chat stream: a context manager and an iterator of :class:`ChatChunk`."""

    def __init__(self, pipe: Pipeline, ctx: CallContext) -> None:
        super().__init__(pipe, ctx)
        self._gen: Iterator[ChatChunk] | None = None

    def __enter__(self) -> ChatStream:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __iter__(self) -> Iterator[ChatChunk]:
        return self

    def _open(self) -> Iterator[ChatChunk]:
        ctx = self._ctx
        if ctx._call.cache is not None:
            self._pipe.cache_get(ctx)  # a hit is replayed like a short circuit
        if ctx.response is not None:
            return self._replay()
        self._watch_raw()
        ctx._call.reservation = self._pipe.limiter.reserve(ctx, self._pipe.attempt_routes(ctx))
        (first, gen), self._target = run_sync(self._pipe.attempts(ctx, _open_stream))
        self._forced = bool(ctx._call.forced) and is_forced(ctx, self._target)
        return _prepend(first, gen)

    def __next__(self) -> ChatChunk:
        while True:
            if self._pending:
                return self._take()
            if self._done:
                raise StopIteration
            try:
                if self._gen is None:
                    self._gen = self._open()
                try:
                    chunk = next(self._gen)
                except StopIteration:
                    self._on_end()
                    self._settle()
                    self._pipe.cache_put(self._ctx)  # only a stream that completed
                    continue
                out = self._on_chunk(chunk)
                if out is not None:
                    return out
            except BaseException as exc:
                err = self._fail(exc)
                if err is exc:
                    raise
                raise err from exc

    def _fail(self, exc: BaseException) -> BaseException:
        if self._done and self.response is not None:
            return exc
        self._done = True
        self._close_gen()
        try:
            return self._on_error(exc)
        finally:
            self._settle()

    def _settle(self) -> None:
        res = self._reservation()
        if res is not None:
            self._pipe.limiter.settle(res)

    def _close_gen(self) -> None:
        gen, self._gen = self._gen, None
        if gen is not None and hasattr(gen, "close"):
            try:
                gen.close()
            except Exception:  # noqa: BLE001
                pass

    def close(self) -> None:
        """Stop early: closes the HTTP response; the usage record says ``cancelled``."""
        if self._done:
            return
        self._done = True
        self._close_gen()
        self._on_cancel()
        self._settle()

    def __del__(self) -> None:
        # A stream dropped without finishing or closing still gets its record (and span end).
        if not self._done:
            try:
                self.close()
            except Exception:  # noqa: BLE001 - never raise from a finalizer
                pass

    def text(self) -> str:
        """Consume the stream and return the whole text."""
        for _ in self:
            pass
        return self.final_response().content or ""


class AsyncChatStream(StreamState):
    """An async chat stream: ``async with`` and ``async for``."""

    def __init__(self, pipe: Pipeline, ctx: CallContext) -> None:
        super().__init__(pipe, ctx)
        self._agen: Any = None

    async def __aenter__(self) -> AsyncChatStream:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()

    def __aiter__(self) -> AsyncIterator[ChatChunk]:
        return self

    async def _open(self) -> AsyncIterator[ChatChunk]:
        ctx = self._ctx
        if ctx._call.cache is not None:
            await self._pipe.acache_get(ctx)
        if ctx.response is not None:
            return _aiter_sync(self._replay())
        self._watch_raw()
        ctx._call.reservation = await self._pipe.limiter.areserve(
            ctx, self._pipe.attempt_routes(ctx))
        (first, agen), self._target = await run_async(self._pipe.attempts(ctx, _aopen_stream))
        self._forced = bool(ctx._call.forced) and is_forced(ctx, self._target)
        return _aprepend(first, agen)

    async def __anext__(self) -> ChatChunk:
        while True:
            if self._pending:
                return self._take()
            if self._done:
                raise StopAsyncIteration
            try:
                if self._agen is None:
                    self._agen = await self._open()
                try:
                    chunk = await self._agen.__anext__()
                except StopAsyncIteration:
                    self._on_end()
                    await self._settle()
                    await self._pipe.acache_put(self._ctx)  # only a stream that completed
                    continue
                out = self._on_chunk(chunk)
                if out is not None:
                    return out
            except BaseException as exc:
                err = await self._fail(exc)
                if err is exc:
                    raise
                raise err from exc

    async def _fail(self, exc: BaseException) -> BaseException:
        if self._done and self.response is not None:
            return exc
        self._done = True
        await self._aclose_gen()
        try:
            return self._on_error(exc)
        finally:
            await self._settle()

    async def _settle(self) -> None:
        res = self._reservation()
        if res is not None:
            await self._pipe.limiter.asettle(res)

    async def _aclose_gen(self) -> None:
        agen, self._agen = self._agen, None
        if agen is not None and hasattr(agen, "aclose"):
            try:
                await agen.aclose()
            except Exception:  # noqa: BLE001
                pass

    async def aclose(self) -> None:
        """Stop early: closes the HTTP response; the usage record says ``cancelled``."""
        if self._done:
            return
        self._done = True
        await self._aclose_gen()
        self._on_cancel()
        await self._settle()

    def __del__(self) -> None:
        # Dropped without finishing or closing: record it as cancelled; the event loop's
        # async-generator finalizer closes the provider stream itself.
        if not self._done:
            self._done = True
            try:
                self._on_cancel()
                res = self._reservation()
                if res is not None:
                    self._pipe.limiter.settle_dropped(res)
            except Exception:  # noqa: BLE001 - never raise from a finalizer
                pass

    async def text(self) -> str:
        async for _ in self:
            pass
        return self.final_response().content or ""


# ---------------------------------------------------------------------------- opening


def _open_stream(provider: Provider, request: ChatRequest) -> tuple[ChatChunk | None, Any]:
    """Open the provider's stream and pull its first chunk: an attempt succeeds only once the
    stream has produced something (retry and fallback happen before anything reaches the
    caller)."""
    gen = provider.chat_stream(request)
    try:
        first = next(gen)
    except StopIteration:
        first = None
    except Exception:
        if hasattr(gen, "close"):
            gen.close()
        raise
    return first, gen


async def _aopen_stream(provider: Provider,
                        request: ChatRequest) -> tuple[ChatChunk | None, Any]:
    """:func:`_open_stream` on the event loop."""
    agen = provider.achat_stream(request)
    try:
        first = await agen.__anext__()
    except StopAsyncIteration:
        first = None
    except Exception:
        if hasattr(agen, "aclose"):
            await agen.aclose()
        raise
    return first, agen


def _prepend(first: ChatChunk | None, gen: Iterator[ChatChunk]) -> Iterator[ChatChunk]:
    try:
        if first is not None:
            yield first
        yield from gen
    finally:
        close = getattr(gen, "close", None)
        if close is not None:
            close()


async def _aprepend(first: ChatChunk | None, agen: Any) -> AsyncIterator[ChatChunk]:
    try:
        if first is not None:
            yield first
        async for c in agen:
            yield c
    finally:
        if hasattr(agen, "aclose"):
            await agen.aclose()


async def _aiter_sync(it: Iterator[ChatChunk]) -> AsyncIterator[ChatChunk]:
    for c in it:
        yield c

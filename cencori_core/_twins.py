"""The provider toolkit's operation twins (see :mod:`cencori_core.provider`): one line per
operation makes its sync and async methods, stream twins included."""

from __future__ import annotations

from collections.abc import (
    AsyncIterator,
    Callable,
    Coroutine,
    Iterable,
    Iterator,
)
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, cast

from ._boundary import _Guard
from ._clients import _close_async_default
from .types import ChatChunk

if TYPE_CHECKING:
    from .provider import SDKProvider, StreamState

R = TypeVar("R")

# ---------------------------------------------------------------------------- operation twins

_Call = Callable[[Any, Any, Any], Any]
Q = TypeVar("Q")
Q_in = TypeVar("Q_in", contravariant=True)
R_out = TypeVar("R_out", covariant=True)


class Operation(Protocol[Q_in, R_out]):
    """How a method made by :func:`twins` / :func:`stream_twins` is typed (the class attribute
    stands for the bound method, so type checkers accept it where the base class has a
    method)."""

    def __call__(self, request: Q_in) -> R_out: ...


def twins(call: Callable[[Any, Any, Q], Any], read: Callable[[Any, Q, Any], R], *,
          what: str = "answer", request: type[Q] | None = None) -> tuple[Operation[Q, R],
                                         Operation[Q, Coroutine[Any, Any, R]]]:
    """The sync and async methods of one operation of an :class:`SDKProvider`.

    ``call(provider, client, request)`` sends (its result is awaited with the async client);
    ``read(provider, request, answer)`` converts. ``what`` names the answer in
    malformed-answer errors. ``request`` (the request class) only informs type checkers, so
    that they type lambdas given as ``call`` and ``read``.
    """

    def sync(self: SDKProvider, request: Q) -> R:
        model = request.model  # type: ignore[attr-defined]
        with _Guard(self.boundary, model, None):
            answer = call(self, self.clients.sync_client(), request)
        with _Guard(self.boundary, model, what):
            return read(self, request, answer)

    async def asynchronous(self: SDKProvider, request: Q) -> R:
        model = request.model  # type: ignore[attr-defined]
        with _Guard(self.boundary, model, None):
            answer = await call(self, self.clients.async_client(), request)
        with _Guard(self.boundary, model, what):
            return read(self, request, answer)

    return cast(Operation[Q, R], sync), cast(Operation[Q, Coroutine[Any, Any, R]], asynchronous)


def _close_opened(opened: Any) -> None:
    close = getattr(opened, "close", None)
    if close is not None:
        close()


async def _aclose_opened(opened: Any) -> None:
    await _close_async_default(opened)


def _stream_start(provider: SDKProvider, state: Callable[[Any, Any], StreamState],
                  request: Any) -> tuple[_Guard, StreamState]:
    guard = _Guard(provider.boundary, request.model, None)
    with guard:
        st = state(provider, request)
    if st.scrubber is None:
        st.scrubber = provider.scrubber
    return guard, st


def stream_twins(
    open: _Call,
    events: Callable[[Any, Any, Any], Iterable[Any]],
    state: Callable[[Any, Any], StreamState],
    *,
    aevents: Callable[[Any, Any, Any], Any] | None = None,
) -> tuple[Operation[Any, Iterator[ChatChunk]], Operation[Any, AsyncIterator[ChatChunk]]]:
    """The ``chat_stream`` and ``achat_stream`` methods of an :class:`SDKProvider`.

    ``open(provider, client, request)`` starts the stream (awaited with the async client);
    ``events(provider, client, opened)`` iterates its events (``aevents`` async-iterates them,
    default ``events``); ``state(provider, request)`` is the :class:`StreamState` folding them.
    SDK errors go through the error boundary, converter errors become
    :class:`ProviderResponseError`, a missing closing event :meth:`StreamState.truncated`;
    ``opened`` is closed when the stream ends or is closed early.
    """
    aevents_: Callable[[Any, Any, Any], Any] = aevents or events

    def sync(self: SDKProvider, request: Any) -> Iterator[ChatChunk]:
        guard, st = _stream_start(self, state, request)
        with guard:
            client = self.clients.sync_client()
            opened = open(self, client, request)
        try:
            # One boundary around the loop (per event would cost a frame each): converter
            # errors become ProviderResponseError, the SDK's own go through map_error.
            with _Guard(self.boundary, request.model, st.what):
                fold = st.fold
                for event in events(self, client, opened):
                    out = fold(event)
                    if type(out) is ChatChunk:
                        yield out
                    elif out is not None:
                        yield from out  # type: ignore[misc]
                yield from st.end()
        finally:
            _close_opened(opened)

    async def asynchronous(self: SDKProvider, request: Any) -> AsyncIterator[ChatChunk]:
        guard, st = _stream_start(self, state, request)
        with guard:
            client = self.clients.async_client()
            opened = await open(self, client, request)
        try:
            with _Guard(self.boundary, request.model, st.what):
                fold = st.fold
                async for event in aevents_(self, client, opened):
                    out = fold(event)
                    if type(out) is ChatChunk:
                        yield out
                    elif out is not None:
                        for chunk in out:  # type: ignore[union-attr]
                            yield chunk
                for chunk in st.end():
                    yield chunk
        finally:
            await _aclose_opened(opened)

    return (cast(Operation[Any, Iterator[ChatChunk]], sync),
            cast(Operation[Any, AsyncIterator[ChatChunk]], asynchronous))

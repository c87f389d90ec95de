"""The Cohere provider: chat, streaming and embeddings through ``ClientV2`` / ``AsyncClientV2``,
built on the provider toolkit (:mod:`cencori_core.provider`).

One sync client per provider and one async client per running event loop (the toolkit's
:class:`ClientHolder`); the caller's ``http_client``/``async_http_client`` are used when given
and never closed by us. The SDK's own retries are off (the router retries).

Streams are read through the SDK's public raw-response API (``with_raw_response.chat_stream``):
the SDK sends the request and maps error statuses, and we read the events from the response
ourselves, strictly. The SDK's own event loop logs and skips events that are not JSON or not of
its types, so a stream of garbage would end as an empty success; here such an event is a
``ProviderResponseError``, and a stream without ``message-end`` a ``StreamInterruptedError``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import TYPE_CHECKING, Any, ClassVar, cast

import cohere
from cohere.core.http_sse import EventSource

from cencori_core.config import ProviderConfig
from cencori_core.errors import CencoriError, InvalidRequestError
from cencori_core.provider import (
    CONVERTER_ERRORS,
    ClientHolder,
    MapError,
    SDKProvider,
    fast_transport,
    malformed,
    stream_twins,
    twins,
)
from cencori_core.types import RerankRequest

from . import _convert as cv
from ._errors import map_error

if TYPE_CHECKING:
    from cohere.core import RequestOptions

__all__ = ["CohereProvider"]


def _close_sync(client: cohere.ClientV2) -> None:
    client.__exit__(None, None, None)  # type: ignore[no-untyped-call]  # closes its HTTP pool


async def _close_async(client: cohere.AsyncClientV2) -> None:
    await client.__aexit__(None, None, None)  # type: ignore[no-untyped-call]


def _unreadable(p: CohereProvider, r: Any, exc: Exception) -> Exception:
    return malformed(exc, provider=p.name, model=r.model, scrubber=p.scrubber)


def _sdk_reading(p: CohereProvider, c: Any, r: Any, send: Callable[[], Any]) -> Any:
    """``send()`` (an SDK call; awaited for the async client), where the converter errors the
    SDK raises are a malformed answer: it builds its response objects without validating
    them, and an answer of the wrong shape (``"message": "hello"``) fails inside it with a
    TypeError. Our request is built before ``send`` runs, so its errors are not caught here."""
    if not isinstance(c, cohere.AsyncClientV2):
        try:
            return send()
        except CONVERTER_ERRORS as exc:
            if isinstance(exc, CencoriError):
                raise
            raise _unreadable(p, r, exc) from exc

    async def run() -> Any:
        try:
            return await send()
        except CONVERTER_ERRORS as exc:
            if isinstance(exc, CencoriError):
                raise
            raise _unreadable(p, r, exc) from exc

    return run()


def _not_rerank(r: Any) -> None:
    # ``rerank-*`` names route here by prefix; Cohere's chat endpoint would answer 404 for them
    if r.model.lower().startswith("rerank-"):
        raise InvalidRequestError(f"{r.model!r} is a rerank model: call router.rerank(...)",
                                  param="model")


def _chat(p: CohereProvider, c: Any, r: Any) -> Any:
    _not_rerank(r)
    kw = cv.chat_request(r)
    options = p.options(r)
    return _sdk_reading(p, c, r, lambda: c.chat(**kw, request_options=options))


def _rerank(p: CohereProvider, c: Any, r: Any) -> Any:
    kw = cv.rerank_request(r)
    options = p.options(r)
    return _sdk_reading(p, c, r, lambda: c.rerank(**kw, request_options=options))


def _embed(p: CohereProvider, c: Any, r: Any) -> Any:
    # Cohere takes at most 96 texts per call: longer inputs are sent in several calls.
    options = p.options(r)
    batches = cv.embed_request(r)
    if not isinstance(c, cohere.AsyncClientV2):
        return _sdk_reading(p, c, r, lambda: [c.embed(**kw, request_options=options)
                                              for kw in batches])

    async def each() -> list[Any]:
        return [await c.embed(**kw, request_options=options) for kw in batches]

    return _sdk_reading(p, c, r, each)


class _Opened:
    """The SDK's raw streaming response (entered) and its context manager, closed with it."""

    __slots__ = ("cm", "response")

    def __init__(self, cm: Any, raw: Any) -> None:
        self.cm = cm
        self.response = raw.response

    def close(self) -> Any:
        # The async context manager's exit is a coroutine: the toolkit awaits what close returns.
        exit_ = getattr(self.cm, "__aexit__", None) or self.cm.__exit__
        return exit_(None, None, None)


def _open(p: CohereProvider, c: Any, r: Any) -> Any:
    _not_rerank(r)
    cm = c.with_raw_response.chat_stream(**cv.chat_request(r), request_options=p.options(r))
    if not isinstance(c, cohere.AsyncClientV2):
        return _Opened(cm, cm.__enter__())

    async def entered() -> _Opened:
        return _Opened(cm, await cm.__aenter__())

    return entered()


def _events(p: CohereProvider, c: Any, opened: _Opened) -> Iterator[str]:
    for sse in EventSource(opened.response).iter_sse():
        if sse.data == "[DONE]":
            return
        if sse.data:
            yield sse.data


async def _aevents(p: CohereProvider, c: Any, opened: _Opened) -> AsyncIterator[str]:
    async for sse in EventSource(opened.response).aiter_sse():
        if sse.data == "[DONE]":
            return
        if sse.data:
            yield sse.data


class CohereProvider(SDKProvider):
    """Cohere's v2 API: chat (sync, async, streaming) and embeddings."""

    map_error: ClassVar[MapError] = staticmethod(map_error)

    def __init__(self, config: ProviderConfig) -> None:
        super().__init__(config)
        self._headers = config.options.get("headers") or None
        self.clients = ClientHolder(self.new_client, self.new_async_client,
                                    owns_sync=config.http_client is None,
                                    owns_async=config.async_http_client is None,
                                    close_sync=_close_sync, close_async=_close_async)

    def _kwargs(self, http_client: Any) -> dict[str, Any]:
        cfg = self.config
        return {
            "api_key": self.secret(),
            # Passed even when None: the SDK's default reads CO_API_URL once, at import time.
            "base_url": cfg.base_url,
            "timeout": cfg.timeout,
            "max_retries": 0,
            "httpx_client": http_client,
            "log_warning_experimental_features": False,
        }

    def new_client(self) -> cohere.ClientV2:
        # with options={...}, the SDK client's own arguments
        return self.config.sdk_client(cohere.ClientV2, **self._kwargs(self.config.http_client))

    def new_async_client(self) -> cohere.AsyncClientV2:
        http = self.config.async_http_client
        if http is None:
            # The SDK's own clients, with its defaults; it would pick aiohttp by itself whenever
            # httpx-aiohttp is importable, so the httpx one is named when the transport is off.
            http = (cohere.DefaultAioHttpClient if fast_transport(self.config)
                    else cohere.DefaultAsyncHttpxClient)()
        return self.config.sdk_client(cohere.AsyncClientV2, **self._kwargs(http))

    def options(self, request: Any) -> RequestOptions | None:
        """The call's ``request_options``: timeout, configured headers, provider_options."""
        return cast("RequestOptions | None", cv.request_options(request, self._headers))

    # ------------------------------------------------------------------ operations

    chat, achat = twins(
        _chat, lambda p, r, resp: cv.chat_response(resp, provider=p.name, model=r.model),
        what="chat response")
    chat_stream, achat_stream = stream_twins(
        _open, _events, lambda p, r: cv.CohereStream(provider=p.name, model=r.model),
        aevents=_aevents)
    embed, aembed = twins(
        _embed, lambda p, r, responses: cv.embed_response(
            responses, provider=p.name, model=r.model, count=len(r.input)),
        what="embedding answer")
    rerank, arerank = twins(
        _rerank, lambda p, r, resp: cv.rerank_response(resp, r, provider=p.name),
        what="rerank answer", request=RerankRequest)

"""The Cohere provider: chat, streaming and embeddings through ``ClientV2`` / ``AsyncClientV2``."""

from __future__ import annotations

import threading
from collections.abc import AsyncGenerator, AsyncIterator, Generator, Iterator
from typing import TYPE_CHECKING, Any, cast

import cohere

from cencori_core.config import ProviderConfig
from cencori_core.provider import Provider
from cencori_core.types import (
    ChatChunk,
    ChatRequest,
    ChatResponse,
    EmbeddingRequest,
    EmbeddingResponse,
)

from . import _convert as convert
from ._errors import mapped

if TYPE_CHECKING:
    from cohere.core import RequestOptions


class CohereProvider(Provider):
    """Cohere's v2 API. One sync and one async SDK client per instance, built on first use and
    reused; the SDK's own retries are off (the router retries)."""

    def __init__(self, config: ProviderConfig) -> None:
        super().__init__(config)
        self._client: cohere.ClientV2 | None = None
        self._aclient: cohere.AsyncClientV2 | None = None
        self._lock = threading.Lock()
        self._headers = config.options.get("headers") or None
        # scrubbed from error messages: an error body may quote the key it rejected
        self._secret = config.api_key.get_secret_value() if config.api_key else None

    def _kwargs(self, http_client: Any) -> dict[str, Any]:
        cfg = self.config
        assert cfg.api_key is not None  # the router refuses a keyless provider before this
        return {
            "api_key": cfg.api_key.get_secret_value(),
            # Passed even when None: the SDK's default reads CO_API_URL once, at import time.
            "base_url": cfg.base_url,
            "timeout": cfg.timeout,
            "max_retries": 0,
            "httpx_client": http_client,
            "log_warning_experimental_features": False,
        }

    def _sync(self) -> cohere.ClientV2:
        client = self._client
        if client is None:
            with self._lock:
                if self._client is None:
                    self._client = cohere.ClientV2(**self._kwargs(self.config.http_client))
                client = self._client
        return client

    def _async(self) -> cohere.AsyncClientV2:
        client = self._aclient
        if client is None:
            with self._lock:
                if self._aclient is None:
                    self._aclient = cohere.AsyncClientV2(
                        **self._kwargs(self.config.async_http_client))
                client = self._aclient
        return client

    def _options(self, request: Any) -> RequestOptions | None:
        return cast("RequestOptions | None", convert.request_options(request, self._headers))

    # ------------------------------------------------------------------ chat

    def chat(self, request: ChatRequest) -> ChatResponse:
        kwargs = convert.chat_kwargs(request)
        options = self._options(request)
        with mapped(self.name, request.model, self._secret):
            resp = self._sync().chat(**kwargs, request_options=options)
        return convert.chat_response(resp, provider=self.name, model=request.model)

    async def achat(self, request: ChatRequest) -> ChatResponse:
        kwargs = convert.chat_kwargs(request)
        options = self._options(request)
        with mapped(self.name, request.model, self._secret):
            resp = await self._async().chat(**kwargs, request_options=options)
        return convert.chat_response(resp, provider=self.name, model=request.model)

    def chat_stream(self, request: ChatRequest) -> Iterator[ChatChunk]:
        kwargs = convert.chat_kwargs(request)
        options = self._options(request)
        state = convert.StreamState(provider=self.name, model=request.model)
        with mapped(self.name, request.model, self._secret):
            # The SDK's stream methods are generators (annotated as iterators): closing one
            # leaves its `with` block, which closes the HTTP response.
            events = cast(Generator[Any, None, None],
                          self._sync().chat_stream(**kwargs, request_options=options))
            try:
                for event in events:
                    chunk = state.chunk(event)
                    if chunk is not None:
                        yield chunk
            finally:
                events.close()

    async def achat_stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        kwargs = convert.chat_kwargs(request)
        options = self._options(request)
        state = convert.StreamState(provider=self.name, model=request.model)
        with mapped(self.name, request.model, self._secret):
            events = cast(AsyncGenerator[Any, None],
                          self._async().chat_stream(**kwargs, request_options=options))
            try:
                async for event in events:
                    chunk = state.chunk(event)
                    if chunk is not None:
                        yield chunk
            finally:
                await events.aclose()

    # ------------------------------------------------------------------ embeddings

    def embed(self, request: EmbeddingRequest) -> EmbeddingResponse:
        options = self._options(request)
        client = self._sync()
        with mapped(self.name, request.model, self._secret):
            responses = [client.embed(**kw, request_options=options)
                         for kw in convert.embed_batches(request)]
        return convert.embedding_response(responses, provider=self.name, model=request.model,
                                          count=len(request.input))

    async def aembed(self, request: EmbeddingRequest) -> EmbeddingResponse:
        options = self._options(request)
        client = self._async()
        with mapped(self.name, request.model, self._secret):
            responses = [await client.embed(**kw, request_options=options)
                         for kw in convert.embed_batches(request)]
        return convert.embedding_response(responses, provider=self.name, model=request.model,
                                          count=len(request.input))

    # ------------------------------------------------------------------ lifecycle

    def close(self) -> None:
        """Close the sync client's HTTP pool, unless the caller supplied the httpx client."""
        client, self._client = self._client, None
        if client is not None and self.config.http_client is None:
            client.__exit__(None, None, None)

    async def aclose(self) -> None:
        """Close both clients' HTTP pools, except httpx clients the caller supplied."""
        client, self._aclient = self._aclient, None
        if client is not None and self.config.async_http_client is None:
            await client.__aexit__(None, None, None)
        self.close()

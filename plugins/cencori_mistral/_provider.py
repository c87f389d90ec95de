"""The Mistral provider: the ``mistralai`` SDK (``mistralai.client.Mistral``) behind our contract.

One SDK object per provider instance, created on first use and reused; it holds the sync and the
async HTTP client: the caller's ``http_client``/``async_http_client`` when given (they stay the
caller's to close), else ``httpx2`` clients we create and close in ``close()``/``aclose()``. We
hand the SDK our own clients rather than letting it make them because its finalizer closes the
clients it made with ``asyncio.run``, which fails (and warns) when it runs inside an event loop.
The SDK's own retries are off: the router retries.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, NoReturn

import httpx2
from mistralai.client import Mistral
from mistralai.client.utils import BackoffStrategy, RetryConfig

from cencori_core.config import ProviderConfig
from cencori_core.errors import InvalidRequestError
from cencori_core.provider import Provider, provider_options
from cencori_core.types import (
    ChatChunk,
    ChatRequest,
    ChatResponse,
    EmbeddingRequest,
    EmbeddingResponse,
    ModerationRequest,
    ModerationResponse,
)

from . import _convert as c
from ._errors import map_error

__all__ = ["MistralProvider"]

# Strategy "none" sends each request once; the backoff values are required but unused.
_NO_RETRIES = RetryConfig("none", BackoffStrategy(0, 0, 1.0, 0), False)

# SDK arguments the provider owns; provider_options may not replace them.
_RESERVED = frozenset({"retries", "server_url", "stream", "timeout_ms", "self"})


class MistralProvider(Provider):
    """Chat (sync, async, streaming), embeddings and moderation through Mistral's SDK."""

    def __init__(self, config: ProviderConfig):
        super().__init__(config)
        self._sdk: Mistral | None = None
        self._own_client: httpx2.Client | None = None
        self._own_async_client: httpx2.AsyncClient | None = None
        self._lock = threading.Lock()
        self._secret = config.api_key.get_secret_value() if config.api_key else None
        self._headers = dict(config.options.get("headers") or {})
        self._allowed: dict[str, frozenset[str]] = {}

    # ------------------------------------------------------------------ the SDK client

    def _client(self) -> Mistral:
        sdk = self._sdk
        if sdk is not None:
            return sdk
        with self._lock:
            if self._sdk is None:
                cfg = self.config
                kw: dict[str, Any] = {"api_key": self._secret, "retry_config": _NO_RETRIES}
                url = c.server_url(cfg.base_url)
                if url:
                    kw["server_url"] = url
                elif cfg.options.get("server"):
                    kw["server"] = cfg.options["server"]
                if cfg.timeout is not None:
                    kw["timeout_ms"] = int(cfg.timeout * 1000)
                kw["client"] = cfg.http_client
                if kw["client"] is None:
                    # The SDK's own defaults (no client-level timeout: timeout_ms applies).
                    kw["client"] = self._own_client = httpx2.Client(follow_redirects=True)
                kw["async_client"] = cfg.async_http_client
                if kw["async_client"] is None:
                    kw["async_client"] = self._own_async_client = httpx2.AsyncClient(
                        follow_redirects=True)
                self._sdk = Mistral(**kw)
            return self._sdk

    def _call_kwargs(self, method: Callable[..., Any], kw: dict[str, Any], opts: dict[str, Any],
                     timeout: float | None, operation: str) -> dict[str, Any]:
        """``kw`` with the call's provider_options, headers and timeout."""
        if opts:
            allowed = self._allowed.get(operation)
            if allowed is None:
                allowed = self._allowed[operation] = frozenset(
                    inspect.signature(method).parameters) - _RESERVED
            unknown = sorted(set(opts) - allowed)
            if unknown:
                raise InvalidRequestError(
                    f"provider_options {unknown} are not arguments of Mistral's {operation} "
                    f"call; allowed: {sorted(allowed)}", param="provider_options")
            headers = opts.pop("http_headers", None)
            kw.update(opts)
            if headers:
                kw["http_headers"] = {**self._headers, **headers}
        if "http_headers" not in kw and self._headers:
            kw["http_headers"] = self._headers
        if timeout is not None:
            kw["timeout_ms"] = int(timeout * 1000)
        return kw

    def _raise(self, exc: Exception, model: str) -> NoReturn:
        err = map_error(exc, provider=self.name, model=model, secret=self._secret)
        if err is exc:
            raise exc
        raise err from exc

    # ------------------------------------------------------------------ chat

    def _chat_kwargs(self, method: Callable[..., Any], request: ChatRequest) -> dict[str, Any]:
        return self._call_kwargs(method, c.chat_kwargs(request), provider_options(request),
                                 request.timeout, "chat")

    def chat(self, request: ChatRequest) -> ChatResponse:
        chat = self._client().chat
        kw = self._chat_kwargs(chat.complete, request)
        try:
            resp = chat.complete(**kw)
        except Exception as exc:
            self._raise(exc, request.model)
        return c.chat_response(resp, provider=self.name)

    async def achat(self, request: ChatRequest) -> ChatResponse:
        chat = self._client().chat
        kw = self._chat_kwargs(chat.complete_async, request)
        try:
            resp = await chat.complete_async(**kw)
        except Exception as exc:
            self._raise(exc, request.model)
        return c.chat_response(resp, provider=self.name)

    def chat_stream(self, request: ChatRequest) -> Iterator[ChatChunk]:
        chat = self._client().chat
        kw = self._chat_kwargs(chat.stream, request)
        try:
            stream = chat.stream(**kw)
        except Exception as exc:
            self._raise(exc, request.model)
        state = c.StreamState()
        try:
            for event in stream:
                chunk = state.chunk(event.data)
                if chunk is not None:
                    yield chunk
        except Exception as exc:
            self._raise(exc, request.model)
        finally:
            stream.close()

    async def achat_stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        chat = self._client().chat
        kw = self._chat_kwargs(chat.stream_async, request)
        try:
            stream = await chat.stream_async(**kw)
        except Exception as exc:
            self._raise(exc, request.model)
        state = c.StreamState()
        try:
            async for event in stream:
                chunk = state.chunk(event.data)
                if chunk is not None:
                    yield chunk
        except Exception as exc:
            self._raise(exc, request.model)
        finally:
            await stream.close()

    # ------------------------------------------------------------------ embeddings

    def embed(self, request: EmbeddingRequest) -> EmbeddingResponse:
        emb = self._client().embeddings
        kw = self._call_kwargs(emb.create, c.embed_kwargs(request), provider_options(request),
                               request.timeout, "embeddings")
        try:
            resp = emb.create(**kw)
        except Exception as exc:
            self._raise(exc, request.model)
        return c.embedding_response(resp, provider=self.name)

    async def aembed(self, request: EmbeddingRequest) -> EmbeddingResponse:
        emb = self._client().embeddings
        kw = self._call_kwargs(emb.create_async, c.embed_kwargs(request),
                               provider_options(request), request.timeout, "embeddings")
        try:
            resp = await emb.create_async(**kw)
        except Exception as exc:
            self._raise(exc, request.model)
        return c.embedding_response(resp, provider=self.name)

    # ------------------------------------------------------------------ moderation

    def _moderation_call(self, request: ModerationRequest, *, is_async: bool
                         ) -> tuple[Callable[..., Any], dict[str, Any]]:
        opts = provider_options(request)
        chat = bool(opts.pop("chat", False))
        cls = self._client().classifiers
        method: Callable[..., Any]
        if chat:
            method = cls.moderate_chat_async if is_async else cls.moderate_chat
        else:
            method = cls.moderate_async if is_async else cls.moderate
        kw = {"model": request.model, "inputs": c.moderation_inputs(request, chat=chat)}
        return method, self._call_kwargs(method, kw, opts, request.timeout,
                                         "chat moderation" if chat else "moderation")

    def moderate(self, request: ModerationRequest) -> ModerationResponse:
        method, kw = self._moderation_call(request, is_async=False)
        try:
            resp = method(**kw)
        except Exception as exc:
            self._raise(exc, request.model)
        return c.moderation_response(resp, provider=self.name)

    async def amoderate(self, request: ModerationRequest) -> ModerationResponse:
        method, kw = self._moderation_call(request, is_async=True)
        try:
            resp = await method(**kw)
        except Exception as exc:
            self._raise(exc, request.model)
        return c.moderation_response(resp, provider=self.name)

    # ------------------------------------------------------------------ lifecycle

    def close(self) -> None:
        """Close the sync HTTP client we created (an unused async one holds no connection)."""
        if self._own_client is not None:
            self._own_client.close()

    async def aclose(self) -> None:
        """Close the HTTP clients we created."""
        if self._own_async_client is not None:
            await self._own_async_client.aclose()
        self.close()

"""The Anthropic provider: chat and streaming over the Messages API with the official SDK.

One sync and one async SDK client per provider instance, built on first use and reused, with the
SDK's own retries off (the router retries). A caller's ``http_client`` / ``async_http_client`` is
handed to the SDK (legacy ``httpx`` clients through :mod:`._httpx_bridge`) and never closed here.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import anthropic

from cencori_core import Provider, ProviderConfig
from cencori_core.types import ChatChunk, ChatRequest, ChatResponse

from . import DEFAULT_MAX_TOKENS, MODELS
from ._convert import StreamTranslator, build_params, to_response
from ._errors import map_error
from ._httpx_bridge import adapt_async_client, adapt_client

__all__ = ["AnthropicProvider", "default_max_tokens"]

# Catalog names and aliases, longest first, so a dated or newer id falls back to the closest
# known family (claude-opus-4-8-20270101 → claude-opus-4-8) before the generic default.
_LIMITS = sorted(((name, info.max_output_tokens or DEFAULT_MAX_TOKENS)
                  for info in MODELS for name in (info.name, *info.aliases)),
                 key=lambda item: -len(item[0]))
_LIMIT_CACHE: dict[str, int] = {}


def default_max_tokens(model: str) -> int:
    """The ``max_tokens`` sent when the caller gives none: the model's output limit."""
    limit = _LIMIT_CACHE.get(model)
    if limit is None:
        limit = next((n for name, n in _LIMITS if model.startswith(name)), DEFAULT_MAX_TOKENS)
        if len(_LIMIT_CACHE) < 1024:
            _LIMIT_CACHE[model] = limit
    return limit


class AnthropicProvider(Provider):
    """Claude through ``anthropic.Anthropic`` / ``anthropic.AsyncAnthropic``."""

    def __init__(self, config: ProviderConfig) -> None:
        super().__init__(config)
        self._lock = threading.Lock()
        self._sync: anthropic.Anthropic | None = None
        self._async: anthropic.AsyncAnthropic | None = None
        self._own_sync = self._own_async = True
        # An explicit API version may be one that still takes sampling parameters.
        self._sampling = bool(config.options.get("api_version"))

    # ------------------------------------------------------------------ clients

    def _client_kwargs(self) -> dict[str, Any]:
        cfg = self.config
        headers = {str(k): str(v) for k, v in (cfg.options.get("headers") or {}).items()}
        if cfg.options.get("api_version"):
            headers["anthropic-version"] = str(cfg.options["api_version"])
        kwargs: dict[str, Any] = {
            "api_key": cfg.api_key.get_secret_value() if cfg.api_key else None,
            "base_url": cfg.base_url,
            # Always explicit (None = no timeout): the SDK's own default refuses large
            # non-streaming max_tokens, which our catalog defaults can be.
            "timeout": cfg.timeout,
            "max_retries": 0,
            "default_headers": headers or None,
        }
        if "open_telemetry" in cfg.options:
            kwargs["open_telemetry"] = cfg.options["open_telemetry"]
        return kwargs

    def _client(self) -> anthropic.Anthropic:
        client = self._sync
        if client is None:
            with self._lock:
                if self._sync is None:
                    http = adapt_client(self.config.http_client)
                    self._own_sync = http is None or http is not self.config.http_client
                    self._sync = anthropic.Anthropic(http_client=http, **self._client_kwargs())
                client = self._sync
        return client

    def _aclient(self) -> anthropic.AsyncAnthropic:
        client = self._async
        if client is None:
            with self._lock:
                if self._async is None:
                    http = adapt_async_client(self.config.async_http_client)
                    self._own_async = http is None or http is not self.config.async_http_client
                    self._async = anthropic.AsyncAnthropic(http_client=http,
                                                           **self._client_kwargs())
                client = self._async
        return client

    # ------------------------------------------------------------------ helpers

    def _params(self, request: ChatRequest) -> dict[str, Any]:
        params = build_params(request, max_tokens=default_max_tokens(request.model),
                              sampling=self._sampling)
        if request.timeout is not None:
            params["timeout"] = request.timeout
        return params

    @contextmanager
    def _errors(self, request: ChatRequest) -> Iterator[None]:
        try:
            yield
        except Exception as exc:
            key = self.config.api_key
            mapped = map_error(exc, provider=self.name, model=request.model,
                               secret=key.get_secret_value() if key else None)
            if mapped is None:
                raise
            raise mapped from exc

    # ------------------------------------------------------------------ chat
    #
    # Past the SDK's response models (most of its cost per call and per stream event): the
    # SDK's own ``messages.create`` builds, checks, authenticates and sends the request and
    # raises its errors (statuses, in-band error events), through ``with_raw_response``, which
    # hands back its raw response unparsed; the answer is read from the JSON the API sent.
    # ``response.raw`` is that SDK response (``.parse()`` builds the ``Message`` on demand).

    def chat(self, request: ChatRequest) -> ChatResponse:
        params = self._params(request)
        with self._errors(request):
            resp = self._client().messages.with_raw_response.create(**params)
            data = resp.http_response.json()
        return to_response(data, provider=self.name, model=request.model, raw=resp)

    async def achat(self, request: ChatRequest) -> ChatResponse:
        params = self._params(request)
        with self._errors(request):
            resp = await self._aclient().messages.with_raw_response.create(**params)
            data = resp.http_response.json()
        return to_response(data, provider=self.name, model=request.model, raw=resp)

    def chat_stream(self, request: ChatRequest) -> Iterator[ChatChunk]:
        params = self._params(request)
        feed = StreamTranslator().feed
        with self._errors(request):
            client = self._client()
            http = client.messages.with_raw_response.create(**params, stream=True).http_response
            # The SDK's own SSE reader (pings, error events), yielding each event's JSON.
            events = anthropic.Stream(cast_to=object, response=http, client=client)
            try:
                for event in events:
                    chunk = feed(event)
                    if chunk is not None:
                        yield chunk
            finally:
                http.close()

    async def achat_stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        params = self._params(request)
        feed = StreamTranslator().feed
        with self._errors(request):
            client = self._aclient()
            http = (await client.messages.with_raw_response.create(**params, stream=True)
                    ).http_response
            events = anthropic.AsyncStream(cast_to=object, response=http, client=client)
            try:
                async for event in events:
                    chunk = feed(event)
                    if chunk is not None:
                        yield chunk
            finally:
                await http.aclose()

    # ------------------------------------------------------------------ lifecycle

    def close(self) -> None:
        client, self._sync = self._sync, None
        if client is not None and self._own_sync:
            client.close()

    async def aclose(self) -> None:
        client, self._async = self._async, None
        if client is not None and self._own_async:
            await client.close()
        self.close()

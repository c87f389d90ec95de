"""The Anthropic provider: chat and streaming over the Messages API with the official SDK.

Built on the toolkit (:class:`~cencori_core.provider.SDKProvider`): one sync client and one
async client per running event loop, with the SDK's own retries off (the router retries). A
caller's ``http_client`` / ``async_http_client`` is handed to the SDK (legacy ``httpx`` clients
through :mod:`._httpx_bridge`) and never closed here. How the SDK is driven (past its response
models, or its public path) is :mod:`._fast`'s business.
"""

from __future__ import annotations

from typing import Any

import anthropic

from cencori_core import ProviderConfig
from cencori_core.provider import SDKProvider, fast_transport, stream_twins, twins
from cencori_core.types import ChatRequest

from . import _convert as cv
from . import _fast
from ._catalog import default_max_tokens
from ._errors import map_error
from ._httpx_bridge import adapt_async_client, adapt_client

__all__ = ["AnthropicProvider", "default_max_tokens"]


class AnthropicProvider(SDKProvider):
    """Claude through ``anthropic.Anthropic`` / ``anthropic.AsyncAnthropic``."""

    map_error = staticmethod(map_error)

    def __init__(self, config: ProviderConfig) -> None:
        super().__init__(config)
        # An explicit API version may be one that still takes sampling parameters.
        self._sampling = bool(config.options.get("api_version"))
        self.sdk = _fast.select()

    # ------------------------------------------------------------------ clients

    def _client_kwargs(self) -> dict[str, Any]:
        cfg = self.config
        headers = {str(k): str(v) for k, v in (cfg.options.get("headers") or {}).items()}
        if cfg.options.get("api_version"):
            headers["anthropic-version"] = str(cfg.options["api_version"])
        kwargs: dict[str, Any] = {
            "api_key": self.secret(),
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

    def new_client(self) -> anthropic.Anthropic:
        # with options={...}, the SDK client's own arguments
        return self.config.sdk_client(anthropic.Anthropic,
                                      http_client=adapt_client(self.config.http_client),
                                      **self._client_kwargs())

    def new_async_client(self) -> anthropic.AsyncAnthropic:
        http = adapt_async_client(self.config.async_http_client)
        if http is None and fast_transport(self.config):
            http = anthropic.DefaultAioHttpClient()  # the SDK's own aiohttp client and defaults
        return self.config.sdk_client(anthropic.AsyncAnthropic, http_client=http,
                                      **self._client_kwargs())

    def params(self, request: ChatRequest) -> dict[str, Any]:
        """``messages.create`` keyword arguments for ``request``."""
        params = cv.chat_request(request, max_tokens=default_max_tokens(request.model),
                                 sampling=self._sampling)
        if request.timeout is not None:
            params["timeout"] = request.timeout
        return params

    # ------------------------------------------------------------------ operations

    chat, achat = twins(
        lambda p, c, r: p.sdk.create(c, p.params(r)),
        lambda p, r, answer: cv.chat_response(p.sdk.message(answer), provider=p.name,
                                              model=r.model, raw=answer),
        what="Messages API message", request=ChatRequest)
    chat_stream, achat_stream = stream_twins(
        lambda p, c, r: p.sdk.open_stream(c, {**p.params(r), "stream": True}),
        lambda p, c, opened: opened,
        lambda p, r: cv.AnthropicStream(provider=p.name, model=r.model))

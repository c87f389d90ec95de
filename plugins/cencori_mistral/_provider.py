"""The Mistral provider: the ``mistralai`` SDK (``mistralai.client.Mistral``) behind our contract,
built on the provider toolkit (:mod:`cencori_core.provider`).

An SDK object serves one side: the sync one (one per provider) holds the sync HTTP client, each
async one (one per running event loop, kept by the toolkit's :class:`ClientHolder`) holds an
async HTTP client opened in that loop. The other slot of each SDK object is filled with
:class:`_Unused`, because the SDK otherwise creates a client of its own there, and its finalizer
closes those with ``asyncio.run``, which fails (and warns) inside a running loop. The caller's
``http_client``/``async_http_client`` are used when given and never closed by us. The SDK's
own retries are off: the router retries.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, ClassVar, cast

import httpx2
from mistralai.client import Mistral
from mistralai.client.utils import BackoffStrategy, RetryConfig

from cencori_core.config import ProviderConfig
from cencori_core.errors import InvalidRequestError
from cencori_core.provider import (
    ClientHolder,
    MapError,
    Scrubber,
    SDKProvider,
    aiohttp_httpx2_client,
    fast_transport,
    provider_options,
    stream_twins,
    twins,
)

from . import _convert as cv
from . import _fast
from ._errors import map_error

__all__ = ["MistralProvider"]

# Strategy "none" sends each request once; the backoff values are required but unused.
_NO_RETRIES = RetryConfig("none", BackoffStrategy(0, 0, 1.0, 0), False)

# SDK arguments the provider owns; provider_options may not replace them.
_RESERVED = frozenset({"retries", "server_url", "stream", "timeout_ms", "self"})


class _Unused:
    """Fills the SDK's client slot for the side an SDK object never serves (it has both the
    sync and the async HTTP client protocols; using it is a bug of ours)."""

    def send(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("cencori_mistral: this SDK object serves the other side (sync/async)")

    build_request = send

    def close(self) -> None:
        pass

    async def aclose(self) -> None:
        pass


_UNUSED = _Unused()


class _Side:
    """One SDK object and the side it serves (the twins' ``call`` picks ``x`` or ``x_async``)."""

    __slots__ = ("sdk", "is_async")

    def __init__(self, sdk: Mistral, is_async: bool) -> None:
        self.sdk = sdk
        self.is_async = is_async

    def method(self, section: str, name: str) -> Callable[..., Any]:
        return cast("Callable[..., Any]",
                    getattr(getattr(self.sdk, section), name + "_async" if self.is_async else name))


class _DebugLog:
    """The SDK's debug logger, scrubbed. The SDK logs every request's headers and body at
    DEBUG (with ``MISTRAL_DEBUG`` set, through ``logging.getLogger("mistralai.client")``):
    the ``Authorization`` header holds the key. This logs to the same logger, secrets masked,
    and formats nothing unless that logger is enabled for DEBUG."""

    __slots__ = ("_scrubber", "_log")

    def __init__(self, scrubber: Scrubber) -> None:
        self._scrubber = scrubber
        self._log = logging.getLogger("mistralai.client")

    def debug(self, msg: str, *args: Any, **kwargs: Any) -> None:
        if self._log.isEnabledFor(logging.DEBUG):
            text = msg % args if args else msg
            self._log.debug("%s", self._scrubber.text(text))


def _close_sync(side: _Side) -> None:
    side.sdk.sdk_configuration.client.close()  # type: ignore[union-attr]


async def _close_async(side: _Side) -> None:
    await side.sdk.sdk_configuration.async_client.aclose()  # type: ignore[union-attr]


def _send(section: str, name: str, kwargs: Callable[[Any], dict[str, Any]], operation: str
          ) -> Callable[[MistralProvider, _Side, Any], Any]:
    """The twins' ``call`` for ``client.<section>.<name>[_async](**kwargs(request))``."""

    def call(p: MistralProvider, side: _Side, r: Any) -> Any:
        method = side.method(section, name)
        return method(**p.call_kwargs(method, kwargs(r), provider_options(r), r.timeout,
                                      operation))

    return call


def _moderate(p: MistralProvider, side: _Side, r: Any) -> Any:
    # provider_options={"chat": True} classifies the inputs as one conversation.
    opts = provider_options(r)
    chat = bool(opts.pop("chat", False))
    method = side.method("classifiers", "moderate_chat" if chat else "moderate")
    kw = {"model": r.model, "inputs": cv.moderation_inputs(r, chat=chat)}
    return method(**p.call_kwargs(method, kw, opts, r.timeout,
                                  "chat moderation" if chat else "moderation"))


def _events(p: MistralProvider, side: _Side, opened: Any) -> Iterator[Any]:
    # JSON on the fast path (MistralStream reads it strictly), the SDK's models otherwise (an
    # event of the wrong shape raises its ResponseValidationError: a ProviderResponseError).
    return _fast.events(opened)


def _aevents(p: MistralProvider, side: _Side, opened: Any) -> AsyncIterator[Any]:
    return _fast.aevents(opened)


class MistralProvider(SDKProvider):
    """Chat (sync, async, streaming), embeddings and moderation through Mistral's SDK."""

    map_error: ClassVar[MapError] = staticmethod(cast("MapError", map_error))

    def __init__(self, config: ProviderConfig):
        super().__init__(config)
        self._headers = dict(config.options.get("headers") or {})
        self._allowed: dict[str, frozenset[str]] = {}
        # SDK objects, not HTTP clients, are held: closing one closes its own HTTP client.
        self.clients = ClientHolder(self.new_client, self.new_async_client,
                                    owns_sync=config.http_client is None,
                                    owns_async=config.async_http_client is None,
                                    close_sync=_close_sync, close_async=_close_async)

    # ------------------------------------------------------------------ the SDK clients

    def _sdk(self, client: Any, async_client: Any) -> Mistral:
        cfg = self.config
        kw: dict[str, Any] = {"api_key": self.secret(), "retry_config": _NO_RETRIES,
                              "client": client, "async_client": async_client,
                              "debug_logger": _DebugLog(self.scrubber)}
        url = cv.server_url(cfg.base_url)
        if url:
            kw["server_url"] = url
        elif cfg.options.get("server"):
            kw["server"] = cfg.options["server"]
        if cfg.timeout is not None:
            kw["timeout_ms"] = int(cfg.timeout * 1000)
        return cfg.sdk_client(Mistral, **kw)  # with options={...}, the SDK client's own arguments

    def new_client(self) -> _Side:
        # No client-level timeout: the SDK's timeout_ms applies (as with its own defaults).
        http = self.config.http_client or httpx2.Client(follow_redirects=True)
        return _Side(self._sdk(http, _UNUSED), False)

    def new_async_client(self) -> _Side:
        http = self.config.async_http_client
        if http is None:
            http = (aiohttp_httpx2_client if fast_transport(self.config)
                    else httpx2.AsyncClient)(follow_redirects=True)
        return _Side(self._sdk(_UNUSED, http), True)

    def call_kwargs(self, method: Callable[..., Any], kw: dict[str, Any], opts: dict[str, Any],
                    timeout: float | None, operation: str) -> dict[str, Any]:
        """``kw`` with the call's provider_options (only the SDK method's own arguments),
        configured headers and timeout."""
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

    # ------------------------------------------------------------------ operations

    chat, achat = twins(
        _send("chat", "complete", cv.chat_request, "chat"),
        lambda p, r, resp: cv.chat_response(resp, provider=p.name, model=r.model),
        what="chat completion")
    chat_stream, achat_stream = stream_twins(
        _send("chat", "stream", cv.chat_request, "chat"), _events,
        lambda p, r: cv.MistralStream(provider=p.name, model=r.model), aevents=_aevents)
    embed, aembed = twins(
        _send("embeddings", "create", cv.embed_request, "embeddings"),
        lambda p, r, resp: cv.embed_response(resp, provider=p.name), what="embedding answer")
    moderate, amoderate = twins(
        _moderate, lambda p, r, resp: cv.moderation_response(resp, provider=p.name),
        what="moderation answer")

"""The provider contract, and the toolkit every SDK-backed provider is built from.

A provider plugin registers a :class:`ProviderSpec` through the ``cencori_register_providers``
hook (``register(name, factory, prefixes=..., models=..., aliases=..., env_keys=..., extra=...)``).
The router calls ``factory(config)`` the first time the provider is used, so the plugin imports its
SDK only then. The instance is a :class:`Provider`: it does the I/O and the translation; the router
does everything else (validation, policies, retries, usage, cost).

Methods receive a validated, frozen request whose ``model`` is the id to send, and return our
normalized types. ``usage`` must be the provider's when it reports one (``source="provider"``);
leave it ``None``/empty otherwise and the router estimates it. Errors must be mapped to
:mod:`cencori_core.errors` classes (``raise ProviderXxxError(...) from exc``).

Streams are generators of :class:`~cencori_core.types.ChatChunk`: text and reasoning deltas,
tool-call deltas with a stable ``index``, a chunk with ``finish_reason``, and one with ``usage``.
The router assembles the final response; closing the generator must close the HTTP response.

The toolkit
-----------
What every SDK-backed plugin needs, written once (in-tree plugins and third parties alike):

``SDKProvider(Provider)``
    Base class. Subclasses set ``map_error = staticmethod(map_error)`` and implement
    ``new_client()`` / ``new_async_client()`` (build an SDK client; pass
    ``config.http_client`` / ``config.async_http_client`` through when set). It provides
    ``self.clients`` (a :class:`ClientHolder`), ``self.scrubber`` (a :class:`Scrubber` of the
    config's key and credential headers), ``self.errors(model)`` (the error boundary),
    ``self.reading(model, what)`` (the converter boundary), and ``close()`` / ``aclose()``.
``ClientHolder(new_sync, new_async, *, owns_sync=True, owns_async=True)``
    ``.sync_client()``: one lazily built client. ``.async_client()``: one per running event
    loop, closed (inside that loop) when ``asyncio.run()`` shuts the loop down, dropped when
    a loop is found closed, and on ``.close()`` / ``await .aclose()``. Thread-safe. Clients
    wrapping a user's http client (``owns_* = False``) are never closed, only dropped.
``ErrorBoundary(provider=, map_error=, scrubber=)``; ``provider.errors(model)``
    ``boundary(model)`` is a context manager (``with``; also around ``await``, and inside
    generators and async generators): an exception from the block goes through
    ``map_error(exc, *, provider, model) -> ProviderError | None`` (None: a generic
    :class:`ProviderError`), is raised ``from exc``, and the new error and its whole
    cause/context chain are scrubbed. A :class:`CencoriError` raised in the block is scrubbed
    and re-raised as is. ``boundary.translate(exc, model)`` does the same in ``except`` blocks.
``provider.reading(model, what)`` / ``ErrorBoundary.reading(model, what)``
    The converter boundary: ``AttributeError``, ``KeyError``, ``TypeError``, ``ValueError``, ...
    raised while reading the provider's answer become :class:`ProviderResponseError`
    (``retryable=True``) naming the provider, the model and what was malformed, never the body.
    :func:`malformed` builds that error.
``Scrubber(secrets)``, ``secrets_of(config)``
    The one scrubber: ``.text(s)``, ``.value(obj)``, ``.exception(exc)`` (message, args,
    ``__notes__``, ``.body``, ``.code``, ``.request_id``, headers, URL and content of HTTP
    objects, the whole chain; pickles follow since they are built from args and ``__dict__``).
``StreamState(provider=, model=)``
    Subclass per provider: ``fold(event) -> ChatChunk | list[ChatChunk] | None`` turns one
    provider event into chunks and sets ``self.done = True`` on the provider's closing event
    (``closing_event`` names it for messages). ``end()`` returns final chunks (``finish()``
    hook) or, when the closing event never came, raises the error of a dropped connection
    (:class:`ProviderConnectionError`, retryable): the router retries it before the first
    chunk and, after chunks reached the caller, raises :class:`StreamInterruptedError` with
    its own ``.partial`` (what the caller was shown, after policies; a partial built here
    would bypass output redaction).
    ``decode(text)`` parses event JSON (:class:`ProviderResponseError` when malformed).
``twins(call, read, what=..., request=Cls)`` / ``stream_twins(open, events, state, aevents=)``
    One line per operation makes its sync and async methods (``request``, the request class,
    only helps type checkers type the lambdas)::

        embed, aembed = twins(lambda p, c, r: c.embeddings.create(**kw(r)), read_embedding)

    ``call(provider, client, request)`` runs in the error boundary with the sync client (and is
    awaited with the async one); ``read(provider, request, answer)`` in the converter boundary.
    ``open(provider, client, request)`` starts a stream (awaited on the async side),
    ``events(provider, client, opened)`` (``aevents`` for the async side) iterates its events,
    ``state(provider, request)`` builds the :class:`StreamState`; the opened response is closed
    when the generator ends or is closed (``close()``, or ``aclose()``/``close()`` awaited).

Example (a complete provider over a made-up ``acme`` SDK)::

    from cencori_core.provider import SDKProvider, StreamState, stream_twins, twins

    def map_error(exc, *, provider, model):          # _errors.py
        status = getattr(exc, "status_code", None)
        if status is None:
            return None                                 # generic ProviderError
        return error_for_status(status)(str(exc), provider=provider, model=model,
                                        status_code=status)

    class AcmeStream(StreamState):                      # _convert.py
        closing_event = "a 'done' event"
        def fold(self, event):
            if event["type"] == "done":
                self.done = True
                return ChatChunk(finish_reason="stop")
            return ChatChunk(delta=event["text"])

    class AcmeProvider(SDKProvider):                    # _provider.py
        map_error = staticmethod(map_error)
        def new_client(self):
            return acme.Client(api_key=self.secret(), http_client=self.config.http_client)
        def new_async_client(self):
            return acme.AsyncClient(api_key=self.secret(),
                                    http_client=self.config.async_http_client)
        chat, achat = twins(lambda p, c, r: c.complete(**cv.chat_request(r)),
                            lambda p, r, data: cv.chat_response(data, provider=p.name,
                                                                model=r.model, raw=data))
        chat_stream, achat_stream = stream_twins(
            lambda p, c, r: c.stream(**cv.chat_request(r)),
            lambda p, c, opened: opened,
            lambda p, r: AcmeStream(provider=p.name, model=r.model))
"""

from __future__ import annotations

import json
from collections.abc import (
    AsyncIterator,
    Callable,
    Iterator,
    Mapping,
    Sequence,
)
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from ._boundary import CONVERTER_ERRORS, ErrorBoundary, _Guard, malformed
from ._clients import ClientHolder
from ._params import openai_logprobs, refuse, thinking_budget
from ._rerank import rerank_results
from ._scrub import MASK, Scrubber, secrets_of
from ._transport import aiohttp_httpx2_client, fast_transport
from ._twins import Operation, stream_twins, twins
from .errors import (
    InvalidRequestError,
    ProviderConnectionError,
    ProviderError,
    ProviderResponseError,
)
from .types import ChatChunk

if TYPE_CHECKING:
    from .catalog import ModelInfo
    from .config import ProviderConfig
    from .types import (
        ChatRequest,
        ChatResponse,
        EmbeddingRequest,
        EmbeddingResponse,
        ImageRequest,
        ImageResponse,
        ModerationRequest,
        ModerationResponse,
        RerankRequest,
        RerankResponse,
        Speech,
        SpeechRequest,
        Transcription,
        TranscriptionRequest,
    )

__all__ = [
    "Provider", "ProviderSpec", "parse_retry_after", "should_retry_header", "provider_options",
    # the toolkit
    "SDKProvider", "ClientHolder", "ErrorBoundary", "MapError", "Scrubber", "secrets_of", "MASK",
    "StreamState", "malformed", "CONVERTER_ERRORS", "twins", "stream_twins", "Operation",
    # the common chat parameters (issue 17): refuse what a provider cannot honour
    "refuse", "thinking_budget", "openai_logprobs",
    "rerank_results", "fast_transport", "aiohttp_httpx2_client",
]

@dataclass(frozen=True, slots=True, kw_only=True)
class ProviderSpec:
    """A registered provider implementation."""

    name: str
    factory: Callable[[ProviderConfig], Provider]
    prefixes: tuple[str, ...] = ()
    models: tuple[ModelInfo | str, ...] = ()
    aliases: Mapping[str, str] = field(default_factory=dict)
    env_keys: tuple[str, ...] = ()
    """Environment variables that may hold the key, first found wins."""
    env_base_url: str | None = None
    """Environment variable that may hold the base URL."""
    requires_key: bool = True
    extra: str | None = None
    """The pip extra that installs the SDK: ``pip install "cencori-core[<extra>]"``."""
    type_only: bool = False
    """True for implementations used only through ``{"type": name}`` (no default instance)."""
    default_base_url: str | None = None
    config_keys: tuple[str, ...] = ()
    """Provider-specific configuration keys accepted at the top level of this provider's table
    (``endpoint``, ``api_version``, ``region``, ...), besides the common ones (``api_key``,
    ``api_key_env``, ``base_url``, ``timeout``, ``type``, ``models``, ``headers``, ``http_client``,
    ``async_http_client``, ``options``). They are kept in ``ProviderConfig.options``."""
    plugin: str = ""
    """The plugin (distribution or object) that registered it."""


class Provider:
    """Base class of provider implementations; override the operations you support."""

    name: str
    #: True for providers that never touch the network (echo, fakes): ``no_network()`` lets
    #: them answer.
    offline: bool = False

    def __init__(self, config: ProviderConfig):
        self.config = config
        self.name = config.name

    def __repr__(self) -> str:  # never shows the key
        return f"<{type(self).__name__} {self.name!r}>"

    def _unsupported(self, operation: str) -> InvalidRequestError:
        return InvalidRequestError(
            f"provider {self.name!r} does not support {operation}", param="model"
        )

    # --- chat
    def chat(self, request: ChatRequest) -> ChatResponse:
        raise self._unsupported("chat")

    async def achat(self, request: ChatRequest) -> ChatResponse:
        raise self._unsupported("chat")

    def chat_stream(self, request: ChatRequest) -> Iterator[ChatChunk]:
        raise self._unsupported("streaming chat")

    def achat_stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        raise self._unsupported("streaming chat")

    # --- other operations
    def embed(self, request: EmbeddingRequest) -> EmbeddingResponse:
        raise self._unsupported("embeddings")

    async def aembed(self, request: EmbeddingRequest) -> EmbeddingResponse:
        raise self._unsupported("embeddings")

    def generate_image(self, request: ImageRequest) -> ImageResponse:
        raise self._unsupported("image generation")

    async def agenerate_image(self, request: ImageRequest) -> ImageResponse:
        raise self._unsupported("image generation")

    def transcribe(self, request: TranscriptionRequest) -> Transcription:
        raise self._unsupported("transcription")

    async def atranscribe(self, request: TranscriptionRequest) -> Transcription:
        raise self._unsupported("transcription")

    def speech(self, request: SpeechRequest) -> Speech:
        raise self._unsupported("speech")

    async def aspeech(self, request: SpeechRequest) -> Speech:
        raise self._unsupported("speech")

    def moderate(self, request: ModerationRequest) -> ModerationResponse:
        raise self._unsupported("moderation")

    async def amoderate(self, request: ModerationRequest) -> ModerationResponse:
        raise self._unsupported("moderation")

    def rerank(self, request: RerankRequest) -> RerankResponse:
        raise self._unsupported("rerank")

    async def arerank(self, request: RerankRequest) -> RerankResponse:
        raise self._unsupported("rerank")

    # --- lifecycle
    def close(self) -> None:
        """Close sync clients (called by ``Router.close()``)."""

    async def aclose(self) -> None:
        """Close async clients (called by ``Router.aclose()``); also close sync ones."""
        self.close()


def provider_options(request: Any) -> dict[str, Any]:
    """The request's ``provider_options`` as a fresh dict (for merging into SDK kwargs)."""
    opts = getattr(request, "provider_options", None)
    return dict(opts) if opts else {}


def parse_retry_after(headers: Any, *, now: float | None = None) -> float | None:
    """Seconds to wait from ``retry-after-ms``, else ``Retry-After`` (seconds or HTTP date).

    ``headers`` is any mapping with case-insensitive ``get`` (httpx headers) or a plain dict.
    Returns None when neither header is present or parseable.
    """
    if not headers:
        return None
    get = headers.get
    ms = get("retry-after-ms") or get("Retry-After-Ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000.0)
        except ValueError:
            pass
    ra = get("retry-after") or get("Retry-After")
    if not ra:
        return None
    try:
        return max(0.0, float(ra))
    except ValueError:
        pass
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(ra)
    except (TypeError, ValueError):
        return None
    import time as _time

    return max(0.0, when.timestamp() - (_time.time() if now is None else now))


def should_retry_header(headers: Any) -> bool | None:
    """The server's ``x-should-retry`` verdict (True/False), or None when absent."""
    if not headers:
        return None
    val = headers.get("x-should-retry")
    if val is None:
        return None
    val = str(val).strip().lower()
    if val == "true":
        return True
    if val == "false":
        return False
    return None



# ============================================================================ the toolkit

S = TypeVar("S")
A = TypeVar("A")
R = TypeVar("R")

#: ``map_error(exc, *, provider, model) -> ProviderError | None``: a plugin's SDK exceptions
#: mapped to ours (None: not recognized, the boundary raises a generic :class:`ProviderError`).
MapError = Callable[..., "ProviderError | None"]


# ---------------------------------------------------------------------------- streams


class StreamState:
    """Folds one provider stream's events into :class:`ChatChunk` objects.

    Subclasses implement :meth:`fold` and set ``self.done = True`` when the provider's closing
    event arrives (OpenAI: a ``finish_reason``; Anthropic: ``message_stop``; ...). The stream
    drivers (:func:`stream_twins`, or a plugin's own loop) call :meth:`fold` for each event,
    and call :meth:`end` when the events run out. Partial responses are the router's business
    (it builds them from what the caller was shown), so the state keeps no copy of the chunks.
    """

    #: What the provider's closing event is, for the interruption message.
    closing_event: ClassVar[str] = "its closing event"
    #: Which answer the events make up, for malformed-answer messages.
    what: ClassVar[str] = "stream event"

    def __init__(self, *, provider: str, model: str, scrubber: Scrubber | None = None) -> None:
        self.provider = provider
        self.model = model
        self.scrubber = scrubber
        self.done = False

    def fold(self, event: Any) -> ChatChunk | list[ChatChunk] | None:
        """The chunk(s) for one provider event, or None when it carries nothing."""
        raise NotImplementedError

    def feed(self, event: Any) -> Sequence[ChatChunk]:
        """:meth:`fold` inside the converter boundary (what it raises on a malformed event
        becomes :class:`ProviderResponseError`), as a sequence: for drivers of your own."""
        try:
            out = self.fold(event)
        except CONVERTER_ERRORS as exc:
            if isinstance(exc, ProviderError):
                raise
            raise self.malformed(exc) from exc
        if out is None:
            return ()
        if type(out) is ChatChunk:
            return (out,)
        return out  # type: ignore[return-value]

    def finish(self) -> ChatChunk | list[ChatChunk] | None:
        """Chunks still held back when the stream ended after its closing event (a usage
        event that comes after the finish reason, ...). Default: none."""
        return None

    def end(self) -> list[ChatChunk]:
        """The last chunks, or :meth:`truncated` when the stream ended without the closing
        event."""
        if not self.done:
            raise self.truncated()
        out = self.finish()
        if out is None:
            return []
        return [out] if type(out) is ChatChunk else list(out)  # type: ignore[arg-type]

    def truncated(self) -> ProviderConnectionError:
        """The error of a stream that ended without its closing event: the same as a dropped
        connection (retryable; the router turns it into :class:`StreamInterruptedError` with
        the partial response once chunks reached the caller). It carries no partial text on
        purpose: the router's partial is the one that went through the output policies."""
        return ProviderConnectionError(
            f"the stream ended without {self.closing_event}", provider=self.provider,
            model=self.model, retryable=True)

    def malformed(self, exc: BaseException) -> ProviderResponseError:
        return malformed(exc, provider=self.provider, model=self.model, what=self.what,
                         scrubber=self.scrubber)

    def decode(self, data: str | bytes) -> Any:
        """The JSON of one event; :class:`ProviderResponseError` when it is not JSON."""
        try:
            return json.loads(data)
        except ValueError as exc:
            raise self.malformed(exc) from exc


# ---------------------------------------------------------------------------- the base class


class SDKProvider(Provider):
    """Base of providers built on a vendor SDK: clients, boundaries, scrubbing, closing.

    Subclasses set ``map_error`` (a staticmethod with the :data:`MapError` signature) and
    implement :meth:`new_client` and/or :meth:`new_async_client`.
    """

    map_error: ClassVar[MapError] = staticmethod(lambda exc, *, provider, model: None)

    def __init__(self, config: ProviderConfig) -> None:
        super().__init__(config)
        self.scrubber = Scrubber.for_config(config)
        self.boundary = ErrorBoundary(provider=self.name, map_error=type(self).map_error,
                                      scrubber=self.scrubber)
        cls = type(self)
        self.clients: ClientHolder[Any, Any] = ClientHolder(
            self.new_client if cls.new_client is not SDKProvider.new_client else None,
            (self.new_async_client
             if cls.new_async_client is not SDKProvider.new_async_client else None),
            owns_sync=config.http_client is None,
            owns_async=config.async_http_client is None)

    def secret(self) -> str | None:
        """The API key in clear text (for building clients only), or None."""
        key = self.config.api_key
        return key.get_secret_value() if key else None

    def new_client(self) -> Any:
        """A new sync SDK client (use ``self.config.http_client`` when set)."""
        raise NotImplementedError

    def new_async_client(self) -> Any:
        """A new async SDK client for the running loop (``self.config.async_http_client``)."""
        raise NotImplementedError

    def errors(self, model: str) -> _Guard:
        """The error boundary for a call to ``model``."""
        return _Guard(self.boundary, model, None)

    def reading(self, model: str, what: str = "answer") -> _Guard:
        """The converter boundary while reading ``model``'s ``what``."""
        return _Guard(self.boundary, model, what)

    def close(self) -> None:
        self.clients.close()

    async def aclose(self) -> None:
        await self.clients.aclose()



"""The provider contract: what a plugin's provider implements, and how it is registered.

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
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .errors import InvalidRequestError

if TYPE_CHECKING:
    from .catalog import ModelInfo
    from .config import ProviderConfig
    from .types import (
        ChatChunk,
        ChatRequest,
        ChatResponse,
        EmbeddingRequest,
        EmbeddingResponse,
        ImageRequest,
        ImageResponse,
        ModerationRequest,
        ModerationResponse,
        Speech,
        SpeechRequest,
        Transcription,
        TranscriptionRequest,
    )

__all__ = ["Provider", "ProviderSpec", "parse_retry_after", "should_retry_header",
           "provider_options"]

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

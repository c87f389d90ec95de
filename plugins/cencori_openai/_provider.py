"""The OpenAI provider (and its OpenAI-compatible dialects) on the official ``openai`` SDK.

Built on the provider toolkit (:mod:`cencori_core.provider`): one sync SDK client and one async
client per event loop (:class:`~cencori_core.provider.ClientHolder`), SDK retries off because the
router owns retries, every operation one line over :func:`~cencori_core.provider.twins`, errors
mapped by :func:`._errors.map_error` inside the toolkit's boundary (which scrubs the key).

Chat goes past the SDK's request transforms and response models (most of its cost per call and
per stream chunk) through :mod:`._fast`: the SDK still authenticates and sends the request and
raises its errors for error statuses and error events, but the answer is read from the JSON the
API sent. ``response.raw`` is the SDK's raw response (``.parse()`` builds its ChatCompletion on
demand). Requests with ``provider_options``, and every request when the SDK lacks a private name
:mod:`._fast` needs, go through the SDK's public ``create`` (which converts whatever those hold).
"""

from __future__ import annotations

import inspect
import os
from typing import Any

import openai
from openai.resources.audio.speech import Speech as _SpeechResource
from openai.resources.audio.transcriptions import Transcriptions as _TranscriptionsResource
from openai.resources.chat.completions import Completions as _CompletionsResource
from openai.resources.embeddings import Embeddings as _EmbeddingsResource
from openai.resources.images import Images as _ImagesResource
from openai.resources.moderations import Moderations as _ModerationsResource

from cencori_core.config import ProviderConfig
from cencori_core.errors import ConfigurationError
from cencori_core.provider import SDKProvider, fast_transport, stream_twins, twins
from cencori_core.types import (
    ChatRequest,
    EmbeddingRequest,
    ImageRequest,
    ModerationRequest,
    RerankRequest,
    Speech,
    SpeechRequest,
    TranscriptionRequest,
    Usage,
)

from . import _convert as cv
from . import _convert_ops as ops
from . import _fast, _rerank
from ._errors import map_error

__all__ = ["OpenAIChatProvider", "OpenAIProvider", "make_provider"]


def _params(method: Any) -> frozenset[str]:
    return frozenset(p for p in inspect.signature(method).parameters if p != "self")


# What each SDK call accepts by name; other provider_options go to extra_body.
_CHAT_PARAMS = _params(_CompletionsResource.create)
_EMBED_PARAMS = _params(_EmbeddingsResource.create)
_IMAGE_PARAMS = _params(_ImagesResource.generate)
_TRANSCRIBE_PARAMS = _params(_TranscriptionsResource.create)
_SPEECH_PARAMS = _params(_SpeechResource.create)
_MODERATE_PARAMS = _params(_ModerationsResource.create)

# Local servers take no key, but the SDK refuses to build a client without one: a fixed,
# non-secret placeholder (never OPENAI_API_KEY, which belongs to OpenAI).
_NO_KEY = "no-key"


def make_provider(config: ProviderConfig, dialect: str) -> OpenAIChatProvider:
    d = cv.DIALECTS[dialect]
    if dialect == "openai_compatible" and not config.base_url:
        raise ConfigurationError(
            f"providers[{config.name!r}] (type 'openai_compatible') needs a base_url, such as "
            "'http://127.0.0.1:8000/v1'")
    cls = OpenAIProvider if d.all_operations else OpenAIChatProvider
    return cls(config, d)


# ---------------------------------------------------------------------------- chat


def _public(request: ChatRequest) -> bool:
    """Whether this call takes the SDK's public ``create``: ``provider_options`` need its
    conversions, and the fast path needs SDK internals that may be gone."""
    return bool(request.provider_options) or not _fast.AVAILABLE


def _chat_call(p: OpenAIChatProvider, client: Any, r: ChatRequest) -> Any:
    if _public(r):
        return client.chat.completions.with_raw_response.create(
            **cv.chat_kwargs(r, p.dialect, _CHAT_PARAMS))
    return _fast.post_chat(client, cv.chat_request(r, p.dialect), r.timeout)


def _chat_read(p: OpenAIChatProvider, r: ChatRequest, resp: Any) -> Any:
    return cv.chat_response(resp.http_response.json(), provider=p.name, model=r.model, raw=resp)


def _stream_open(p: OpenAIChatProvider, client: Any, r: ChatRequest) -> Any:
    if _public(r):  # an openai.Stream / AsyncStream of the SDK's chunk objects
        return client.chat.completions.create(
            **cv.chat_kwargs(r, p.dialect, _CHAT_PARAMS, stream=True))
    return _fast.stream_chat(client, cv.chat_request(r, p.dialect, True), r.timeout)


def _events(p: OpenAIChatProvider, client: Any, opened: Any) -> Any:
    return opened if isinstance(opened, openai.Stream) else _fast.events(client, opened)


def _aevents(p: OpenAIChatProvider, client: Any, opened: Any) -> Any:
    return opened if isinstance(opened, openai.AsyncStream) else _fast.aevents(client, opened)


def _stream_state(p: OpenAIChatProvider, r: ChatRequest) -> cv.ChatStream:
    return cv.ChatStream(provider=p.name, model=r.model, scrubber=p.scrubber, n=r.n or 1)


class OpenAIChatProvider(SDKProvider):
    """Chat, streaming and tools over the OpenAI chat completions API."""

    map_error = staticmethod(map_error)

    def __init__(self, config: ProviderConfig, dialect: cv.Dialect) -> None:
        super().__init__(config)
        self.dialect = dialect

    def _build(self, cls: type[Any], http_client: Any) -> Any:
        cfg = self.config
        opts = cfg.options
        kw: dict[str, Any] = {"api_key": self.secret() or _NO_KEY, "max_retries": 0}
        if cfg.base_url:
            kw["base_url"] = cfg.base_url
        if cfg.timeout is not None:
            kw["timeout"] = cfg.timeout
        headers = opts.get("headers")
        if headers:
            kw["default_headers"] = dict(headers)
        if self.dialect.openai_env:
            kw["organization"] = opts.get("organization") or os.environ.get("OPENAI_ORG_ID")
            kw["project"] = opts.get("project") or os.environ.get("OPENAI_PROJECT_ID")
        if http_client is not None:
            kw["http_client"] = http_client
        client = cfg.sdk_client(cls, **kw)  # with options={...}, the SDK client's own arguments
        if not self.dialect.openai_env:
            # The SDK falls back to OPENAI_ORG_ID / OPENAI_PROJECT_ID: OpenAI's, not this API's.
            client.organization = opts.get("organization")
            client.project = opts.get("project")
        return client

    def new_client(self) -> openai.OpenAI:
        return self._build(openai.OpenAI, self.config.http_client)  # type: ignore[no-any-return]

    def new_async_client(self) -> openai.AsyncOpenAI:
        http = self.config.async_http_client
        if http is None and fast_transport(self.config):
            http = openai.DefaultAioHttpClient()  # the SDK's own aiohttp client and defaults
        return self._build(openai.AsyncOpenAI, http)  # type: ignore[no-any-return]

    chat, achat = twins(_chat_call, _chat_read, what="chat completion", request=ChatRequest)
    chat_stream, achat_stream = stream_twins(_stream_open, _events, _stream_state,
                                             aevents=_aevents)


# ---------------------------------------------------------------------------- other operations


def _speech_read(p: OpenAIProvider, r: SpeechRequest, resp: Any) -> Speech:
    fmt = str((r.provider_options or {}).get("response_format") or r.format)
    return Speech(audio=resp.content, format=fmt, usage=Usage(characters=len(r.input)),
                  model=r.model, provider=p.name, raw=resp)


def _rerank_call(p: OpenAIChatProvider, client: Any, r: RerankRequest) -> Any:
    if p.dialect.name != "openai_compatible":  # OpenAI's own API has no rerank endpoint
        raise p._unsupported("rerank")
    return client.post(_rerank.PATH, cast_to=object, body=_rerank.rerank_body(r),
                       options=_rerank.rerank_options(r))


class OpenAIProvider(OpenAIChatProvider):
    """Every operation of the router: chat plus embeddings, images, audio and moderation;
    rerank on ``openai_compatible`` servers (``POST {base_url}/rerank``)."""

    embed, aembed = twins(
        lambda p, c, r: c.embeddings.create(**ops.embed_request(r, _EMBED_PARAMS)),
        lambda p, r, a: ops.embed_response(a, provider=p.name, model=r.model),
        what="embeddings answer", request=EmbeddingRequest)
    generate_image, agenerate_image = twins(
        lambda p, c, r: c.images.generate(**ops.image_request(r, _IMAGE_PARAMS)),
        lambda p, r, a: ops.image_response(a, provider=p.name, model=r.model),
        what="images answer", request=ImageRequest)
    transcribe, atranscribe = twins(
        lambda p, c, r: c.audio.transcriptions.create(
            **ops.transcribe_request(r, _TRANSCRIBE_PARAMS)),
        lambda p, r, a: ops.transcribe_response(a, provider=p.name, model=r.model,
                                               language=r.language),
        what="transcription", request=TranscriptionRequest)
    speech, aspeech = twins(
        lambda p, c, r: c.audio.speech.create(**ops.speech_request(r, _SPEECH_PARAMS)),
        _speech_read, what="speech answer", request=SpeechRequest)
    moderate, amoderate = twins(
        lambda p, c, r: c.moderations.create(**ops.moderate_request(r, _MODERATE_PARAMS)),
        lambda p, r, a: ops.moderate_response(a, provider=p.name, model=r.model),
        what="moderation answer", request=ModerationRequest)
    rerank, arerank = twins(
        _rerank_call, lambda p, r, a: _rerank.rerank_response(a, r, provider=p.name),
        what="rerank answer", request=RerankRequest)

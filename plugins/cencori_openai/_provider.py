"""The OpenAI provider (and its OpenAI-compatible dialects) on the official ``openai`` SDK.

One sync and one async SDK client per provider instance, created on first use and reused (their
connection pools with them); SDK retries are off because the router owns retries. The hot path is
kept short: request bodies are built with plain dict operations (:mod:`._convert`) and chat
answers are read from the API's JSON instead of the SDK's response models (see ``chat``).
"""

from __future__ import annotations

import asyncio
import inspect
import os
import threading
import weakref
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx2
import openai
from openai._constants import RAW_RESPONSE_HEADER
from openai.resources.audio.speech import Speech as _SpeechResource
from openai.resources.audio.transcriptions import Transcriptions as _TranscriptionsResource
from openai.resources.chat.completions import Completions as _CompletionsResource
from openai.resources.embeddings import Embeddings as _EmbeddingsResource
from openai.resources.images import Images as _ImagesResource
from openai.resources.moderations import Moderations as _ModerationsResource
from openai.types.chat import ChatCompletion

from cencori_core.config import ProviderConfig
from cencori_core.errors import ConfigurationError, ProviderError
from cencori_core.provider import Provider
from cencori_core.types import (
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
    Usage,
)

from . import _convert as cv
from ._errors import SDK_ERRORS, map_error

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

_CHAT_PATH = "/chat/completions"
# What the SDK's ``create`` sends besides the body: bearer authentication; and, for answers we
# read ourselves, the header that makes the SDK return its raw response object unparsed.
_AUTH = {"bearer_auth": True}
_RAW_HEADERS = {RAW_RESPONSE_HEADER: "true"}


def _options(request: ChatRequest, raw: bool = False) -> Any:
    """The SDK request options (its ``RequestOptions``) of a chat call: a new dict each time,
    the SDK keeps it."""
    opts: dict[str, Any] = {"security": _AUTH}
    if raw:
        opts["headers"] = _RAW_HEADERS
    if request.timeout is not None:
        opts["timeout"] = request.timeout
    return opts


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


class OpenAIChatProvider(Provider):
    """Chat, streaming and tools over the OpenAI chat completions API."""

    def __init__(self, config: ProviderConfig, dialect: cv.Dialect) -> None:
        super().__init__(config)
        self.dialect = dialect
        self._client: openai.OpenAI | None = None
        self._chat: Any = None
        # Async clients hold connections bound to the event loop that opened them, so there is
        # one per loop (a script may call asyncio.run() more than once); the last one used is
        # cached for the hot path.
        self._aclients: weakref.WeakKeyDictionary[Any, openai.AsyncOpenAI] = (
            weakref.WeakKeyDictionary())
        self._aloop: Any = None
        self._aclient: openai.AsyncOpenAI | None = None
        self._achat: Any = None
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ clients

    def _secret(self) -> str | None:
        key = self.config.api_key
        return key.get_secret_value() if key else None

    def _client_kwargs(self) -> dict[str, Any]:
        cfg = self.config
        opts = cfg.options
        kw: dict[str, Any] = {"api_key": self._secret() or _NO_KEY, "max_retries": 0}
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
        return kw

    def _build(self, cls: type[Any], http_client: Any) -> Any:
        kw = self._client_kwargs()
        if http_client is not None:
            kw["http_client"] = http_client
        client = cls(**kw)
        if not self.dialect.openai_env:
            # The SDK falls back to OPENAI_ORG_ID / OPENAI_PROJECT_ID: OpenAI's, not this API's.
            client.organization = self.config.options.get("organization")
            client.project = self.config.options.get("project")
        return client

    def sync_client(self) -> openai.OpenAI:
        """The SDK client (built on first use)."""
        client = self._client
        if client is None:
            with self._lock:
                client = self._client
                if client is None:
                    client = self._build(openai.OpenAI, self.config.http_client)
                    self._chat = client.chat.completions
                    self._client = client
        return client

    def async_client(self) -> openai.AsyncOpenAI:
        """The async SDK client of the running event loop (built on first use in that loop)."""
        loop = asyncio.get_running_loop()
        if loop is self._aloop and self._aclient is not None:
            return self._aclient
        with self._lock:
            client = self._aclients.get(loop)
            if client is None:
                client = self._build(openai.AsyncOpenAI, self.config.async_http_client)
                self._aclients[loop] = client
            self._aloop, self._aclient, self._achat = loop, client, client.chat.completions
        return client

    def _error(self, exc: BaseException, model: str) -> ProviderError:
        return map_error(exc, provider=self.name, model=model, secret=self._secret())

    # ------------------------------------------------------------------ chat

    # Chat goes past the SDK's response models (most of its cost per call and per stream
    # chunk): the SDK still builds, authenticates and sends the request and raises its errors
    # for error statuses and error events, but the answer is read from the JSON the API sent.
    # ``response.raw`` is the SDK's raw response (``.parse()`` builds its ChatCompletion on
    # demand). Requests with ``provider_options`` go through the SDK's own ``create`` (which
    # converts whatever those hold), answered the same way.

    def chat(self, request: ChatRequest) -> ChatResponse:
        client = self._client or self.sync_client()
        try:
            if request.provider_options:
                resp = self._chat.with_raw_response.create(
                    **cv.chat_kwargs(request, self.dialect, _CHAT_PARAMS))
            else:
                resp = client.post(_CHAT_PATH, body=cv.chat_body(request, self.dialect),
                                   options=_options(request, raw=True), cast_to=ChatCompletion)
            data = resp.http_response.json()
        except SDK_ERRORS as exc:
            raise self._error(exc, request.model) from exc
        return cv.chat_response(data, self.name, request.model, resp)

    async def achat(self, request: ChatRequest) -> ChatResponse:
        chat = self._achat_resource()
        client = self._aclient
        assert client is not None  # set with the resource
        try:
            if request.provider_options:
                resp = await chat.with_raw_response.create(
                    **cv.chat_kwargs(request, self.dialect, _CHAT_PARAMS))
            else:
                resp = await client.post(
                    _CHAT_PATH, body=cv.chat_body(request, self.dialect),
                    options=_options(request, raw=True), cast_to=ChatCompletion)
            data = resp.http_response.json()
        except SDK_ERRORS as exc:
            raise self._error(exc, request.model) from exc
        return cv.chat_response(data, self.name, request.model, resp)

    def chat_stream(self, request: ChatRequest) -> Iterator[ChatChunk]:
        client = self._client or self.sync_client()
        try:
            if request.provider_options:
                http = self._chat.with_raw_response.create(
                    **cv.chat_kwargs(request, self.dialect, _CHAT_PARAMS, stream=True)
                ).http_response
            else:
                http = client.post(_CHAT_PATH, body=cv.chat_body(request, self.dialect, True),
                                   options=_options(request), cast_to=httpx2.Response,
                                   stream=True)
        except SDK_ERRORS as exc:
            raise self._error(exc, request.model) from exc
        # The SDK's own SSE reader (events, [DONE], error events, transport errors), yielding
        # each event's JSON as it is.
        events = openai.Stream(cast_to=object, response=http, client=client)
        convert = cv.chat_chunk
        try:
            for data in events:
                chunk = convert(data)
                if chunk is not None:
                    yield chunk
        except SDK_ERRORS as exc:
            raise self._error(exc, request.model) from exc
        finally:
            http.close()  # closing the generator early releases the HTTP response

    async def achat_stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        chat = self._achat_resource()
        client = self._aclient
        assert client is not None  # set with the resource
        try:
            if request.provider_options:
                http = (await chat.with_raw_response.create(
                    **cv.chat_kwargs(request, self.dialect, _CHAT_PARAMS, stream=True)
                )).http_response
            else:
                http = await client.post(
                    _CHAT_PATH, body=cv.chat_body(request, self.dialect, True),
                    options=_options(request), cast_to=httpx2.Response, stream=True)
        except SDK_ERRORS as exc:
            raise self._error(exc, request.model) from exc
        events = openai.AsyncStream(cast_to=object, response=http, client=client)
        convert = cv.chat_chunk
        try:
            async for data in events:
                chunk = convert(data)
                if chunk is not None:
                    yield chunk
        except SDK_ERRORS as exc:
            raise self._error(exc, request.model) from exc
        finally:
            await http.aclose()

    def _achat_resource(self) -> Any:
        if asyncio.get_running_loop() is not self._aloop or self._achat is None:
            self.async_client()
        return self._achat

    # ------------------------------------------------------------------ lifecycle

    def close(self) -> None:
        """Close the sync SDK client. An ``http_client`` given in the configuration belongs to
        the caller and is left open."""
        client, self._client, self._chat = self._client, None, None
        if client is not None and self.config.http_client is None:
            client.close()

    async def aclose(self) -> None:
        """Close the SDK clients (an injected ``async_http_client`` is left open). Async clients
        of other, finished event loops are dropped: their connections died with their loop."""
        aclient = self._aclients.pop(asyncio.get_running_loop(), None)
        self._aclients.clear()
        self._aloop = self._aclient = self._achat = None
        if aclient is not None and self.config.async_http_client is None:
            await aclient.close()
        self.close()


class OpenAIProvider(OpenAIChatProvider):
    """Every operation of the router: chat plus embeddings, images, audio and moderation."""

    # ------------------------------------------------------------------ embeddings

    def embed(self, request: EmbeddingRequest) -> EmbeddingResponse:
        kw = cv.embedding_kwargs(request, _EMBED_PARAMS)
        try:
            resp = self.sync_client().embeddings.create(**kw)
        except SDK_ERRORS as exc:
            raise self._error(exc, request.model) from exc
        return cv.embedding_response(resp, self.name, request.model)

    async def aembed(self, request: EmbeddingRequest) -> EmbeddingResponse:
        kw = cv.embedding_kwargs(request, _EMBED_PARAMS)
        try:
            resp = await self.async_client().embeddings.create(**kw)
        except SDK_ERRORS as exc:
            raise self._error(exc, request.model) from exc
        return cv.embedding_response(resp, self.name, request.model)

    # ------------------------------------------------------------------ images

    def generate_image(self, request: ImageRequest) -> ImageResponse:
        kw = cv.image_kwargs(request, _IMAGE_PARAMS)
        try:
            resp = self.sync_client().images.generate(**kw)
        except SDK_ERRORS as exc:
            raise self._error(exc, request.model) from exc
        return cv.image_response(resp, self.name, request.model)

    async def agenerate_image(self, request: ImageRequest) -> ImageResponse:
        kw = cv.image_kwargs(request, _IMAGE_PARAMS)
        try:
            resp = await self.async_client().images.generate(**kw)
        except SDK_ERRORS as exc:
            raise self._error(exc, request.model) from exc
        return cv.image_response(resp, self.name, request.model)

    # ------------------------------------------------------------------ audio

    def transcribe(self, request: TranscriptionRequest) -> Transcription:
        kw = cv.transcription_kwargs(request, _TRANSCRIBE_PARAMS)
        try:
            resp = self.sync_client().audio.transcriptions.create(**kw)
        except SDK_ERRORS as exc:
            raise self._error(exc, request.model) from exc
        return cv.transcription_response(resp, self.name, request.model, request.language)

    async def atranscribe(self, request: TranscriptionRequest) -> Transcription:
        kw = cv.transcription_kwargs(request, _TRANSCRIBE_PARAMS)
        try:
            resp = await self.async_client().audio.transcriptions.create(**kw)
        except SDK_ERRORS as exc:
            raise self._error(exc, request.model) from exc
        return cv.transcription_response(resp, self.name, request.model, request.language)

    def speech(self, request: SpeechRequest) -> Speech:
        kw = cv.speech_kwargs(request, _SPEECH_PARAMS)
        try:
            resp = self.sync_client().audio.speech.create(**kw)
            audio = resp.read()
        except SDK_ERRORS as exc:
            raise self._error(exc, request.model) from exc
        return self._speech(request, audio, resp)

    async def aspeech(self, request: SpeechRequest) -> Speech:
        kw = cv.speech_kwargs(request, _SPEECH_PARAMS)
        try:
            resp = await self.async_client().audio.speech.create(**kw)
            audio = await resp.aread()
        except SDK_ERRORS as exc:
            raise self._error(exc, request.model) from exc
        return self._speech(request, audio, resp)

    def _speech(self, request: SpeechRequest, audio: bytes, resp: Any) -> Speech:
        fmt = str((request.provider_options or {}).get("response_format") or request.format)
        return Speech(audio=audio, format=fmt, usage=Usage(characters=len(request.input)),
                      model=request.model, provider=self.name, raw=resp)

    # ------------------------------------------------------------------ moderation

    def moderate(self, request: ModerationRequest) -> ModerationResponse:
        kw = cv.moderation_kwargs(request, _MODERATE_PARAMS)
        try:
            resp = self.sync_client().moderations.create(**kw)
        except SDK_ERRORS as exc:
            raise self._error(exc, request.model) from exc
        return cv.moderation_response(resp, self.name, request.model)

    async def amoderate(self, request: ModerationRequest) -> ModerationResponse:
        kw = cv.moderation_kwargs(request, _MODERATE_PARAMS)
        try:
            resp = await self.async_client().moderations.create(**kw)
        except SDK_ERRORS as exc:
            raise self._error(exc, request.model) from exc
        return cv.moderation_response(resp, self.name, request.model)

"""The ``google`` provider: Gemini through the google-genai SDK.

One ``genai.Client`` per provider instance, built on first use and reused; it holds the SDK's
sync and async HTTP clients (``client.models`` / ``client.aio.models``), or the ``http_client`` /
``async_http_client`` given in the configuration (an async client given gets one response hook,
:func:`_note_response`, so early-closed streams release their connection). The SDK's own retries
are off (``HttpRetryOptions(attempts=1)``, which also stops its implicit aiohttp reconnects), as
is its automatic continuation of streams (a reconnect from a server checkpoint): the router's
retry loop is the only one. Its automatic function calling never runs: we declare functions and
never hand it Python callables.

Chat and chat streams go past the SDK's response models (see :func:`_wire`): the SDK builds,
authenticates and sends the request and raises its errors, and the answer is read from the API's
JSON; ``response.raw`` (and a chunk's ``raw``) is the SDK's ``HttpResponse``. A non-streamed answer
the server cut with a continuation token is handed back to the SDK to complete and merge.

Configuration (``Router(providers={"google": {...}})``): ``api_key`` (else ``GOOGLE_API_KEY`` /
``GEMINI_API_KEY``), ``base_url`` (else ``GOOGLE_GEMINI_BASE_URL``; a trailing ``/v1beta`` is
taken as the API version), ``timeout``, and options ``api_version``, ``headers``, and
``vertexai`` (with optional ``project`` / ``location``) for Vertex AI in express mode, which Imagen
models need.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import AsyncIterator, Generator, Iterator
from contextvars import ContextVar
from typing import Any
from urllib.parse import urlencode

import pydantic
from google import genai
from google.genai import _common, _extra_utils, types
from google.genai import models as _models

from cencori_core.config import ProviderConfig
from cencori_core.errors import InvalidRequestError, ProviderError
from cencori_core.provider import Provider
from cencori_core.types import (
    ChatChunk,
    ChatRequest,
    ChatResponse,
    EmbeddingRequest,
    EmbeddingResponse,
    ImageRequest,
    ImageResponse,
)

from . import _convert as cv
from ._errors import map_error

__all__ = ["GoogleProvider", "make_provider", "split_base_url"]

_VERSIONED = re.compile(r"^(?P<base>.*?)/(?P<version>v\d+(?:alpha|beta)?\d*)/?$")


def split_base_url(url: str) -> tuple[str, str | None]:
    """``https://host/v1beta`` -> (``https://host``, ``v1beta``): the SDK appends the version
    itself, so a base URL copied from Google's REST documentation would otherwise repeat it."""
    m = _VERSIONED.match(url)
    if m is None:
        return url, None
    return m["base"], m["version"]


def _validated(model: type[pydantic.BaseModel], config: dict[str, Any]) -> Any:
    """The SDK's config object, so a bad ``provider_options`` key fails here, before any
    request, as the caller's error; None for an empty config (the SDK's cheapest path)."""
    if not config:
        return None
    try:
        return model(**config)
    except pydantic.ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '<config>'}: {e['msg']}"
            for e in exc.errors(include_url=False, include_input=False))
        raise InvalidRequestError(f"invalid Gemini {model.__name__} (check provider_options): "
                                  f"{problems}", param="provider_options") from None


# The SDK's automatic continuation resumes a dropped stream from a server checkpoint: a retry
# hidden from our attempt loop (and from the caller, who would see text again). Off for streams;
# a non-streamed answer cut at the per-request limit (finish reason CONTINUATION) is still
# completed by the SDK, which is the server's intent, not a retry.
_STREAM_CONFIG = {"automatic_continuation": False}

# The responses opened by the async stream being started in this context (see achat_stream).
_OPENED: ContextVar[list[Any] | None] = ContextVar("cencori_google_opened", default=None)


async def _note_response(response: Any) -> None:
    """httpx response hook: hand the response a starting stream opened to that stream.

    The SDK's async stream holds its HTTP response in a reference cycle, so closing the stream
    would release the connection only at the next garbage collection; the stream closes the
    response itself instead. A no-op for every other request on the client."""
    sink = _OPENED.get()
    if sink is not None:
        sink.append(response)


def _hook_async_client(client: Any) -> None:
    """Add :func:`_note_response` to a given httpx async client (once)."""
    hooks = client.event_hooks
    if _note_response not in hooks.get("response", ()):
        client.event_hooks = {**hooks, "response": [*hooks.get("response", ()), _note_response]}


def _is_imagen(model: str) -> bool:
    return model.rsplit("/", 1)[-1].startswith("imagen-")


# Past the SDK's response models. The SDK still validates the request and turns it into the
# wire format (``_GenerateContentParameters_to_mldev`` / ``_to_vertex``), authenticates, sends it
# through its API client and raises its errors (``request`` / ``request_streamed`` check the
# status and in-band error events); the answer is read from the API's JSON into our types, not
# through ``GenerateContentResponse`` (building that pydantic tree cost more than the rest of
# our call). ``response.raw`` is the SDK's ``HttpResponse`` (headers and the JSON body).


def _wire(api: Any, model: str, contents: Any, config: Any,
          stream: bool) -> tuple[Any, str, dict[str, Any], Any]:
    """(parameters, path, request dict, http options), as ``Models._generate_content`` /
    ``_generate_content_stream`` build them."""
    params = types._GenerateContentParameters(model=model, contents=contents, config=config)
    if api.vertexai:
        request = _models._GenerateContentParameters_to_vertex(api, params, None, params)
    else:
        request = _models._GenerateContentParameters_to_mldev(api, params, None, params)
    method = "{model}:streamGenerateContent?alt=sse" if stream else "{model}:generateContent"
    url = request.get("_url")
    path = method.format_map(url) if url else method
    query = request.get("_query")
    if query:
        path = f"{path}?{urlencode(query)}"
    request.pop("config", None)
    http_options = params.config.http_options if params.config is not None else None
    request = _common.encode_unserializable_types(_common.convert_to_dict(request))
    return params, path, request, http_options


def _sdk_response(api: Any, params: Any, data: dict[str, Any]) -> Any:
    """The SDK's ``GenerateContentResponse`` for the API's JSON (the continuation path only)."""
    if api.vertexai:
        body = _models._GenerateContentResponse_from_vertex(data, None, params)
    else:
        body = _models._GenerateContentResponse_from_mldev(data, None, params)
    return types.GenerateContentResponse._from_response(response=body, kwargs={})


def _continues(data: dict[str, Any], config: Any) -> bool:
    """Whether the SDK would continue this non-streamed answer from its checkpoint."""
    cands = data.get("candidates")
    return bool(cands and cands[0].get("continuationToken")
                and _extra_utils.should_enable_automatic_continuation(config))


class GoogleProvider(Provider):
    """Gemini chat, streaming, tools, embeddings and image generation."""

    def __init__(self, config: ProviderConfig):
        super().__init__(config)
        self._client: genai.Client | None = None
        self._lock = threading.Lock()
        self._secret = config.api_key.get_secret_value() if config.api_key else None
        self._vertex = bool(config.options.get("vertexai"))

    # ------------------------------------------------------------------ client

    def _build(self) -> genai.Client:
        cfg = self.config
        opts = cfg.options
        base_url, version = split_base_url(cfg.base_url) if cfg.base_url else (None, None)
        async_args = None
        if cfg.async_http_client is not None:
            _hook_async_client(cfg.async_http_client)
        else:
            async_args = {"event_hooks": {"response": [_note_response]}}
        http = types.HttpOptions(
            base_url=base_url,
            api_version=opts.get("api_version") or version,
            headers=dict(opts["headers"]) if opts.get("headers") else None,
            timeout=cv.timeout_ms(cfg.timeout),
            retry_options=types.HttpRetryOptions(attempts=1),
            httpx_client=cfg.http_client,
            httpx_async_client=cfg.async_http_client,
            async_client_args=async_args,
        )
        kwargs: dict[str, Any] = {"api_key": self._secret, "http_options": http,
                                  # explicit, so GOOGLE_GENAI_USE_VERTEXAI cannot flip the API
                                  "vertexai": self._vertex}
        if self._vertex:
            for key in ("project", "location"):
                if opts.get(key):
                    kwargs[key] = opts[key]
        return genai.Client(**kwargs)

    @property
    def client(self) -> genai.Client:
        """The SDK client (built on first use)."""
        c = self._client
        if c is None:
            with self._lock:
                if self._client is None:
                    self._client = self._build()
                c = self._client
        return c

    def _map(self, exc: BaseException, model: str) -> ProviderError | None:
        return map_error(exc, provider=self.name, model=model, secret=self._secret)

    # ------------------------------------------------------------------ chat

    def chat(self, request: ChatRequest) -> ChatResponse:
        contents, cfg = cv.chat_request(request)
        config = _validated(types.GenerateContentConfig, cfg)
        model = request.model
        try:
            api = self.client._api_client
            params, path, body, http_options = _wire(api, model, contents, config, False)
            http = api.request("post", path, body, http_options)
            data = json.loads(http.body) if http.body else {}
            if _continues(data, config):
                # Rare (an answer cut at the per-request limit): the SDK completes it.
                return cv.chat_response(self._continue(api, params, data, model, contents,
                                                       config),
                                        model=model, provider=self.name)
        except Exception as exc:
            err = self._map(exc, model)
            if err is None:
                raise
            raise err from exc
        return cv.chat_response(data, model=model, provider=self.name, raw=http)

    def _continue(self, api: Any, params: Any, data: dict[str, Any], model: str,
                  contents: Any, config: Any) -> Any:
        """The SDK's merged answer, continuing from the first hop's JSON as
        ``Models._generate_content_with_continuation`` does."""
        responses = [_sdk_response(api, params, data)]
        token = _extra_utils.should_continue_generation(responses[0])
        while token:
            resp = self.client.models._generate_content(
                model=model, contents=contents,
                config=_extra_utils.prepare_continuation_config(config, token))
            responses.append(resp)
            token = _extra_utils.should_continue_generation(resp)
        return _extra_utils.merge_continuation_responses(responses, config=config)

    async def _acontinue(self, api: Any, params: Any, data: dict[str, Any], model: str,
                         contents: Any, config: Any) -> Any:
        responses = [_sdk_response(api, params, data)]
        token = _extra_utils.should_continue_generation(responses[0])
        while token:
            resp = await self.client.aio.models._generate_content(
                model=model, contents=contents,
                config=_extra_utils.prepare_continuation_config(config, token))
            responses.append(resp)
            token = _extra_utils.should_continue_generation(resp)
        return _extra_utils.merge_continuation_responses(responses, config=config)

    async def achat(self, request: ChatRequest) -> ChatResponse:
        contents, cfg = cv.chat_request(request)
        config = _validated(types.GenerateContentConfig, cfg)
        model = request.model
        try:
            api = self.client._api_client
            params, path, body, http_options = _wire(api, model, contents, config, False)
            http = await api.async_request("post", path, body, http_options)
            data = json.loads(http.body) if http.body else {}
            if _continues(data, config):
                return cv.chat_response(await self._acontinue(api, params, data, model,
                                                              contents, config),
                                        model=model, provider=self.name)
        except Exception as exc:
            err = self._map(exc, model)
            if err is None:
                raise
            raise err from exc
        return cv.chat_response(data, model=model, provider=self.name, raw=http)

    def chat_stream(self, request: ChatRequest) -> Iterator[ChatChunk]:
        contents, cfg = cv.chat_request(request)
        config = _validated(types.GenerateContentConfig, {**cfg, **_STREAM_CONFIG})
        model = request.model
        state = cv.StreamState(provider=self.name, model=model)
        api = self.client._api_client
        try:
            _, path, body, http_options = _wire(api, model, contents, config, True)
        except Exception as exc:
            err = self._map(exc, model)
            if err is None:
                raise
            raise err from exc
        # The SDK's generator of SSE events (it sends the request on the first step).
        stream: Generator[Any, None, None] = api.request_streamed("post", path, body,
                                                                   http_options)
        loads = json.loads
        try:
            while True:
                try:
                    event = next(stream)
                except StopIteration:
                    break
                except Exception as exc:
                    err = self._map(exc, model)
                    if err is None:
                        raise
                    raise err from exc
                chunk = state.chunk(loads(event.body) if event.body else {}, event)
                if chunk is not None:
                    yield chunk
        finally:
            # Closing the SDK generator unwinds its stack down to the HTTP response.
            stream.close()
        last = state.end()
        if last is not None:
            yield last

    async def _anext(self, stream: Any, model: str) -> Any:
        """The SDK stream's next chunk, None at its end; its errors mapped."""
        try:
            return await stream.__anext__()
        except StopAsyncIteration:
            return None
        except Exception as exc:
            err = self._map(exc, model)
            if err is None:
                raise
            raise err from exc

    async def achat_stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        contents, cfg = cv.chat_request(request)
        config = _validated(types.GenerateContentConfig, {**cfg, **_STREAM_CONFIG})
        model = request.model
        state = cv.StreamState(provider=self.name, model=model)
        opened: list[Any] = []
        stream: Any = None
        api = self.client._api_client
        loads = json.loads
        try:
            token = _OPENED.set(opened)
            try:
                # The request is sent here: under _OPENED, so its response is noted.
                try:
                    _, path, body, http_options = _wire(api, model, contents, config, True)
                    stream = await api.async_request_streamed("post", path, body,
                                                              http_options)
                except Exception as exc:
                    err = self._map(exc, model)
                    if err is None:
                        raise
                    raise err from exc
                event = await self._anext(stream, model)
            finally:
                _OPENED.reset(token)
            while event is not None:
                chunk = state.chunk(loads(event.body) if event.body else {}, event)
                if chunk is not None:
                    yield chunk
                event = await self._anext(stream, model)
        finally:
            if stream is not None:
                await stream.aclose()
            for http_response in opened:
                await http_response.aclose()
        last = state.end()
        if last is not None:
            yield last

    # ------------------------------------------------------------------ embeddings

    def embed(self, request: EmbeddingRequest) -> EmbeddingResponse:
        contents, cfg = cv.embed_request(request)
        config = _validated(types.EmbedContentConfig, cfg)
        try:
            resp = self.client.models.embed_content(model=request.model, contents=contents,
                                                    config=config)
        except Exception as exc:
            err = self._map(exc, request.model)
            if err is None:
                raise
            raise err from exc
        return cv.embed_response(resp, model=request.model, provider=self.name,
                                 count=len(request.input))

    async def aembed(self, request: EmbeddingRequest) -> EmbeddingResponse:
        contents, cfg = cv.embed_request(request)
        config = _validated(types.EmbedContentConfig, cfg)
        try:
            resp = await self.client.aio.models.embed_content(
                model=request.model, contents=contents, config=config)
        except Exception as exc:
            err = self._map(exc, request.model)
            if err is None:
                raise
            raise err from exc
        return cv.embed_response(resp, model=request.model, provider=self.name,
                                 count=len(request.input))

    # ------------------------------------------------------------------ images

    def _image_call(self, request: ImageRequest) -> tuple[bool, dict[str, Any]]:
        """(imagen?, SDK keyword arguments) for an image request."""
        model = request.model
        if _is_imagen(model):
            if not self._vertex:
                raise InvalidRequestError(
                    f"{model!r} is an Imagen model: the Gemini API no longer serves Imagen and "
                    "google-genai calls it only through Vertex AI; use a Gemini image model such "
                    "as 'gemini-2.5-flash-image', or configure the provider with "
                    "options={'vertexai': True}", param="model")
            config = _validated(types.GenerateImagesConfig, cv.imagen_request(request))
            return True, {"model": model, "prompt": request.prompt, "config": config}
        contents, cfg = cv.image_request(request)
        config = _validated(types.GenerateContentConfig, cfg)
        return False, {"model": model, "contents": contents, "config": config}

    def _image_result(self, imagen: bool, resp: Any, model: str) -> ImageResponse:
        if imagen:
            return cv.imagen_response(resp, model=model, provider=self.name)
        return cv.image_response(resp, model=model, provider=self.name)

    def generate_image(self, request: ImageRequest) -> ImageResponse:
        imagen, kwargs = self._image_call(request)
        models = self.client.models
        try:
            resp = (models.generate_images if imagen else models.generate_content)(**kwargs)
        except Exception as exc:
            err = self._map(exc, request.model)
            if err is None:
                raise
            raise err from exc
        return self._image_result(imagen, resp, request.model)

    async def agenerate_image(self, request: ImageRequest) -> ImageResponse:
        imagen, kwargs = self._image_call(request)
        models = self.client.aio.models
        try:
            resp = await (models.generate_images if imagen else models.generate_content)(**kwargs)
        except Exception as exc:
            err = self._map(exc, request.model)
            if err is None:
                raise
            raise err from exc
        return self._image_result(imagen, resp, request.model)

    # ------------------------------------------------------------------ lifecycle

    def close(self) -> None:
        """Close the SDK's sync HTTP client (a client given in the configuration stays open:
        its owner closes it)."""
        client = self._client
        if client is not None:
            client.close()

    async def aclose(self) -> None:
        """Close the SDK's async and sync HTTP clients."""
        client = self._client
        if client is not None:
            await client.aio.aclose()
            client.close()


def make_provider(config: ProviderConfig) -> GoogleProvider:
    return GoogleProvider(config)

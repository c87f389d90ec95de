"""The ``google`` provider: Gemini through the google-genai SDK.

Built on the toolkit (:class:`~cencori_core.provider.SDKProvider`): one ``genai.Client`` for sync
calls (``client.models``) and one per running event loop for async calls (its ``.aio``), each
holding the SDK's HTTP clients, or the ``http_client`` / ``async_http_client`` given in the
configuration (never closed here; an async client given gets one response hook,
:func:`._fast.note_response`, so early-closed streams release their connection). The SDK's own
retries are off (``HttpRetryOptions(attempts=1)``, which also stops its implicit aiohttp
reconnects), as is its automatic continuation of streams (a reconnect from a server
checkpoint): the router's retry loop is the only one. Its automatic function calling never runs:
we declare functions and never hand it Python callables.

Chat and chat streams go past the SDK's response models where the SDK allows it (:mod:`._fast`,
which holds every private name of the SDK, with the public path as the fallback): the SDK
builds, authenticates and sends the request and raises its errors, and the answer is read from
the API's JSON; ``response.raw`` is then the SDK's ``HttpResponse``.

Configuration (``Router(providers={"google": {...}})``): ``api_key`` (else ``GOOGLE_API_KEY`` /
``GEMINI_API_KEY``), ``base_url`` (else ``GOOGLE_GEMINI_BASE_URL``; a trailing ``/v1beta`` is
taken as the API version), ``timeout``, ``api_version``, ``headers``, and ``vertexai`` for Vertex
AI (which Imagen models need): with Google credentials and ``project`` / ``location``, or in
express mode with the API key alone (:mod:`._vertex`). The ``vertex`` provider is this one in
Vertex AI mode by default.
"""

from __future__ import annotations

import re
from typing import Any

import pydantic
from google import genai
from google.genai import types

from cencori_core.config import ProviderConfig
from cencori_core.errors import InvalidRequestError
from cencori_core.provider import (
    ClientHolder,
    SDKProvider,
    fast_transport,
    stream_twins,
    twins,
)
from cencori_core.types import (
    ChatRequest,
    ChatResponse,
    EmbeddingRequest,
    ImageRequest,
    ImageResponse,
)

from . import _convert as cv
from . import _fast
from . import _responses as rs
from ._errors import map_error
from ._vertex import CredentialBoundary, vertex_auth

__all__ = ["GoogleProvider", "split_base_url"]

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


def _hook_async_client(client: Any) -> None:
    """Add :func:`._fast.note_response` to a given httpx async client (once)."""
    hooks = client.event_hooks
    note = _fast.note_response
    if note not in hooks.get("response", ()):
        client.event_hooks = {**hooks, "response": [*hooks.get("response", ()), note]}


async def _close_async(aio: Any) -> None:
    """Close a loop's async client, and the aiohttp session of ours it runs on (the SDK closes
    only the sessions it built itself)."""
    try:
        await aio.aclose()
    finally:
        session = aio._api_client._http_options.aiohttp_client
        if session is not None:
            await session.close()


def _is_imagen(model: str) -> bool:
    return model.rsplit("/", 1)[-1].startswith("imagen-")


def _read_chat(p: GoogleProvider, r: ChatRequest, answer: Any) -> ChatResponse:
    data, raw = p.sdk.answer(answer)
    return rs.chat_response(data, model=r.model, provider=p.name, raw=raw)


class GoogleProvider(SDKProvider):
    """Gemini chat, streaming, tools, embeddings and image generation."""

    map_error = staticmethod(map_error)

    def __init__(self, config: ProviderConfig, *, vertex_default: bool = False):
        super().__init__(config)
        self.clients = ClientHolder(self.new_client, self.new_async_client,
                                    owns_sync=config.http_client is None,
                                    owns_async=config.async_http_client is None,
                                    close_async=_close_async)
        self._vertex = bool(config.options.get("vertexai", vertex_default))
        self._auth = vertex_auth(config, self.secret()) if self._vertex else None
        if self._auth is not None and self._auth.credentials is not None:
            self.boundary = CredentialBoundary(self.boundary, self._auth.credentials, config)
        self.sdk = _fast.select()

    # ------------------------------------------------------------------ clients

    def _build(self, aiohttp_session: Any = None) -> genai.Client:
        cfg = self.config
        opts = cfg.options
        base_url, version = split_base_url(cfg.base_url) if cfg.base_url else (None, None)
        async_args = None
        if cfg.async_http_client is not None:
            _hook_async_client(cfg.async_http_client)
        elif not fast_transport(cfg):
            # google-genai switches its async path to aiohttp by itself whenever aiohttp is
            # importable; a transport of our own keeps it on httpx when the fast transport is off
            async_args = {"event_hooks": {"response": [_fast.note_response]},
                          "transport": _fast.httpx_transport()}
        # else: google-genai's own aiohttp support (the fast transport), on our session
        http = types.HttpOptions(
            base_url=base_url,
            api_version=opts.get("api_version") or version,
            headers=dict(opts["headers"]) if opts.get("headers") else None,
            timeout=cv.timeout_ms(cfg.timeout),
            retry_options=types.HttpRetryOptions(attempts=1),
            httpx_client=cfg.http_client,
            httpx_async_client=cfg.async_http_client,
            async_client_args=async_args,
            aiohttp_client=aiohttp_session,
        )
        kwargs: dict[str, Any] = {"api_key": self.secret(), "http_options": http,
                                  # explicit, so GOOGLE_GENAI_USE_VERTEXAI cannot flip the API
                                  "vertexai": self._vertex}
        auth = self._auth
        if auth is not None and auth.credentials is not None:
            # Google credentials: never an API key beside them (the SDK refuses both)
            kwargs.update(api_key=None, credentials=auth.credentials, project=auth.project,
                          location=auth.location)
        elif auth is not None and auth.location:
            kwargs["location"] = auth.location
        # with options={...}, the SDK client's own arguments
        return cfg.sdk_client(genai.Client, **kwargs)

    def new_client(self) -> genai.Client:
        return self._build()

    def new_async_client(self) -> Any:
        # The async half of a client built for this event loop (inside it: an aiohttp session
        # binds to the loop that creates it).
        if self.config.async_http_client is None and fast_transport(self.config):
            return self._build(_fast.aiohttp_session()).aio
        return self._build().aio

    # ------------------------------------------------------------------ requests

    def chat_args(self, request: ChatRequest, stream: bool = False) -> tuple[str, Any, Any]:
        """(model, contents, the SDK's config) for a chat request."""
        contents, cfg = cv.chat_request(request)
        if stream:
            cfg = {**cfg, **_STREAM_CONFIG}
        return request.model, contents, _validated(types.GenerateContentConfig, cfg)

    def embed_args(self, request: EmbeddingRequest) -> dict[str, Any]:
        contents, cfg = cv.embed_request(request)
        return {"model": request.model, "contents": contents,
                "config": _validated(types.EmbedContentConfig, cfg)}

    def image_call(self, client: Any, request: ImageRequest) -> Any:
        """Send an image request: Imagen's ``generate_images`` (Vertex AI only) or a Gemini
        image model's ``generate_content``."""
        model = request.model
        models = client.models
        if _is_imagen(model):
            if not self._vertex:
                raise InvalidRequestError(
                    f"{model!r} is an Imagen model: the Gemini API no longer serves Imagen and "
                    "google-genai calls it only through Vertex AI; use a Gemini image model such "
                    "as 'gemini-2.5-flash-image', or configure the provider with "
                    "options={'vertexai': True}", param="model")
            config = _validated(types.GenerateImagesConfig, cv.imagen_request(request))
            return models.generate_images(model=model, prompt=request.prompt, config=config)
        contents, cfg = cv.image_request(request)
        return models.generate_content(model=model, contents=contents,
                                       config=_validated(types.GenerateContentConfig, cfg))

    def image_result(self, request: ImageRequest, resp: Any) -> ImageResponse:
        if _is_imagen(request.model):
            return rs.imagen_response(resp, model=request.model, provider=self.name)
        return rs.image_response(resp, model=request.model, provider=self.name)

    # ------------------------------------------------------------------ operations

    chat, achat = twins(
        lambda p, c, r: p.sdk.generate(c, *p.chat_args(r)), _read_chat,
        what="generateContent response", request=ChatRequest)
    chat_stream, achat_stream = stream_twins(
        lambda p, c, r: p.sdk.open_stream(c, *p.chat_args(r, stream=True)),
        lambda p, c, opened: opened,
        lambda p, r: rs.GeminiStream(provider=p.name, model=r.model))
    embed, aembed = twins(
        lambda p, c, r: c.models.embed_content(**p.embed_args(r)),
        lambda p, r, resp: rs.embed_response(resp, model=r.model, provider=p.name,
                                             count=len(r.input)),
        what="embedContent response", request=EmbeddingRequest)
    generate_image, agenerate_image = twins(
        lambda p, c, r: p.image_call(c, r), lambda p, r, resp: p.image_result(r, resp),
        what="image response", request=ImageRequest)

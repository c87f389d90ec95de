"""Every google-genai internal this plugin relies on, in one place, with a public fallback.

The fast path goes past the SDK's response models: building a ``GenerateContentResponse``
pydantic tree cost more than the rest of our call. The SDK still validates the request and
turns it into the wire format (``_GenerateContentParameters_to_mldev`` / ``_to_vertex``),
authenticates, sends it through its API client (``client._api_client.request`` and friends) and
raises its errors (status and in-band error events); the answer is read from the API's JSON.
A non-streamed answer cut with a continuation token is handed back to the SDK to complete and
merge, as ``Models._generate_content_with_continuation`` does.

Every private name is looked up at import (:data:`AVAILABLE`); when an SDK release drops one,
:data:`PUBLIC` is used: ``models.generate_content`` / ``generate_content_stream`` and their
typed responses, which the converters read as well (slower, never wrong).
``CENCORI_SDK_INTERNALS=0`` in the environment selects the public path for providers built
afterwards (the tests run both paths).

Async streams: the SDK's async stream holds its HTTP response in a reference cycle, so closing
the stream would release the connection only at the next garbage collection. The provider's
async clients carry the response hook :func:`note_response`, which hands each response opened
while a stream starts (:data:`_OPENED`) to that stream; the stream closes it itself.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Iterator
from contextvars import ContextVar
from typing import Any
from urllib.parse import urlencode

from google.genai.client import AsyncClient

from cencori_core.provider import CONVERTER_ERRORS

__all__ = ["AVAILABLE", "FAST", "PUBLIC", "SDKPath", "UnreadableAnswer", "select",
           "note_response", "httpx_transport", "aiohttp_session"]

# The responses opened by the async stream being started in this context.
_OPENED: ContextVar[list[Any] | None] = ContextVar("cencori_google_opened", default=None)


class _AiohttpOpened:
    """An aiohttp response as :class:`_AsyncOpened` closes them (``aclose``)."""

    __slots__ = ("response",)

    def __init__(self, response: Any) -> None:
        self.response = response

    async def aclose(self) -> None:
        self.response.close()


async def _on_request_end(session: Any, ctx: Any, params: Any) -> None:
    sink = _OPENED.get()
    if sink is not None:
        sink.append(_AiohttpOpened(params.response))


def aiohttp_session() -> Any:
    """The aiohttp session of one event loop's async client on the fast transport, built as
    google-genai builds its own (an unlimited connector, the environment's proxies), plus a
    trace hook that hands a response opened while a stream starts to that stream, as
    :func:`note_response` does on httpx (the SDK's stream holds its response in a reference
    cycle: closed early, it would keep its connection until the next garbage collection)."""
    import aiohttp

    trace = aiohttp.TraceConfig()
    trace.on_request_end.append(_on_request_end)
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), trust_env=True,
                                 trace_configs=[trace])


def httpx_transport() -> Any:
    """A default async transport of the HTTP library (httpx or httpx2) google-genai builds its
    async client with: given in ``async_client_args``, it keeps the SDK off aiohttp."""
    try:
        from google.genai._api_client import _get_http_client_classes

        async_cls = _get_http_client_classes(None)[1]
    except (ImportError, AttributeError, TypeError):  # a release without it: httpx2 since 2.x
        async_cls = None
    import httpx

    if async_cls is not None and issubclass(async_cls, httpx.AsyncClient):
        return httpx.AsyncHTTPTransport()
    import httpx2

    return httpx2.AsyncHTTPTransport()


async def note_response(response: Any) -> None:
    """httpx response hook: hand a response opened while a stream starts to that stream (a
    no-op for every other request on the client)."""
    sink = _OPENED.get()
    if sink is not None:
        sink.append(response)


_END = object()


class UnreadableAnswer(Exception):  # noqa: N818 - named for what it reports
    """The SDK failed to read the answer (public path): its response parsing raised
    ``__cause__`` (a ``TypeError``, ``KeyError``, ...) on JSON of an unexpected shape.
    ``map_error`` reports it as a malformed answer."""


def _unreadable(exc: BaseException) -> UnreadableAnswer:
    err = UnreadableAnswer(type(exc).__name__)
    err.__cause__ = exc
    return err


def _readable(events: Iterator[Any]) -> Iterator[Any]:
    """The SDK's stream with its parse errors reported as :class:`UnreadableAnswer`."""
    try:
        while True:
            try:
                event = next(events)
            except StopIteration:
                return
            except CONVERTER_ERRORS as exc:
                raise _unreadable(exc) from exc
            yield event
    finally:
        events.close()  # type: ignore[attr-defined]


async def _areadable(events: Any) -> AsyncIterator[Any]:
    try:
        while True:
            try:
                event = await anext(events)
            except StopAsyncIteration:
                return
            except CONVERTER_ERRORS as exc:
                raise _unreadable(exc) from exc
            yield event
    finally:
        await events.aclose()


class _AsyncOpened:
    """An async SDK stream with the responses it opened: iterated, then closed with them."""

    def __init__(self, stream: Any, first: Any, responses: list[Any]) -> None:
        self.stream = stream
        self.first = first
        self.responses = responses

    async def __aiter__(self) -> AsyncIterator[Any]:
        if self.first is _END:
            return
        yield self.first
        self.first = _END
        async for event in self.stream:
            yield event

    async def aclose(self) -> None:
        try:
            await self.stream.aclose()
        finally:
            for response in self.responses:
                await response.aclose()


async def _astart(start: Any) -> _AsyncOpened:
    """Send the request and read the first event with the response hook listening (the SDK
    sends either when the stream is created or on its first step, depending on the path)."""
    opened: list[Any] = []
    token = _OPENED.set(opened)
    stream: Any = None
    try:
        stream = await start()
        first = await anext(stream, _END)
    except BaseException:
        if stream is not None:
            await stream.aclose()
        for response in opened:
            await response.aclose()
        raise
    finally:
        _OPENED.reset(token)
    return _AsyncOpened(stream, first, opened)


class SDKPath:
    """How the provider drives the SDK for chat: the public path (``models.generate_content``).

    ``client`` is a ``genai.Client`` (sync) or its ``AsyncClient`` (``.aio``); the methods
    return awaitables for the latter.
    """

    name = "public"

    def generate(self, client: Any, model: str, contents: Any, config: Any) -> Any:
        """Send a non-streamed request; the answer is read by :meth:`answer`."""
        # Our request passed the SDK's config model already: what its call raises of this
        # kind comes from reading the answer.
        if isinstance(client, AsyncClient):
            return self._agenerate(client, model, contents, config)
        try:
            return client.models.generate_content(model=model, contents=contents,
                                                  config=config)
        except CONVERTER_ERRORS as exc:
            raise _unreadable(exc) from exc

    async def _agenerate(self, client: Any, model: str, contents: Any, config: Any) -> Any:
        try:
            return await client.models.generate_content(model=model, contents=contents,
                                                        config=config)
        except CONVERTER_ERRORS as exc:
            raise _unreadable(exc) from exc

    def answer(self, answer: Any) -> tuple[Any, Any]:
        """(the response, as JSON or the SDK's object; what ``response.raw`` keeps)."""
        return answer, answer

    def open_stream(self, client: Any, model: str, contents: Any, config: Any) -> Any:
        """Start a stream: an iterable of events that closes (awaitable, async iterable and
        ``aclose()`` with the async client)."""
        models = client.models
        if isinstance(client, AsyncClient):
            async def start() -> Any:
                return _areadable(await models.generate_content_stream(
                    model=model, contents=contents, config=config))
            return _astart(start)
        return _readable(models.generate_content_stream(model=model, contents=contents,
                                                        config=config))


class _Fast(SDKPath):
    """Past the SDK's response models (see the module docstring)."""

    name = "fast"

    def generate(self, client: Any, model: str, contents: Any, config: Any) -> Any:
        api = getattr(client, "_api_client", None)
        if api is None:  # an instance attribute, so not detectable at import
            return PUBLIC.generate(client, model, contents, config)
        params, path, body, http_options = _wire(api, model, contents, config, False)
        if isinstance(client, AsyncClient):
            return self._agenerate_raw(client, api, params, path, body, http_options)
        http = api.request("post", path, body, http_options)
        data = json.loads(http.body) if http.body else {}
        if not _continues(data, config):
            return data, http
        # Rare (an answer cut at the per-request limit): the SDK completes it.
        more = _Continuation(api, params, data)
        while more.token:
            more.add(client.models._generate_content(**more.next_request()))
        return more.merged()

    async def _agenerate_raw(self, client: Any, api: Any, params: Any, path: str,
                             body: dict[str, Any], http_options: Any) -> tuple[Any, Any]:
        http = await api.async_request("post", path, body, http_options)
        data = json.loads(http.body) if http.body else {}
        if not _continues(data, params.config):
            return data, http
        more = _Continuation(api, params, data)
        while more.token:
            more.add(await client.models._generate_content(**more.next_request()))
        return more.merged()

    def answer(self, answer: Any) -> tuple[Any, Any]:
        # (data, raw) from generate(); the public path's response object when it fell back
        return answer if type(answer) is tuple else (answer, answer)

    def open_stream(self, client: Any, model: str, contents: Any, config: Any) -> Any:
        api = getattr(client, "_api_client", None)
        if api is None:
            return PUBLIC.open_stream(client, model, contents, config)
        _, path, body, http_options = _wire(api, model, contents, config, True)
        if isinstance(client, AsyncClient):
            async def start() -> Any:
                return _bodies_async(await api.async_request_streamed("post", path, body,
                                                                      http_options))
            return _astart(start)
        return _Bodies(api.request_streamed("post", path, body, http_options))


class _Bodies:
    """The SDK's generator of SSE events, as each event's JSON text (the stream state decodes
    it, so a malformed event is a malformed answer)."""

    def __init__(self, events: Iterator[Any]) -> None:
        self.events = events

    def __iter__(self) -> Iterator[str]:
        for event in self.events:
            yield event.body

    def close(self) -> None:
        # Closing the SDK generator unwinds its stack down to the HTTP response.
        self.events.close()  # type: ignore[attr-defined]


async def _bodies_async(events: Any) -> AsyncIterator[str]:
    try:
        async for event in events:
            yield event.body
    finally:
        await events.aclose()


# ---------------------------------------------------------------------------- the internals


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


class _Continuation:
    """Completing an answer cut with a continuation token, as the SDK's
    ``Models._generate_content_with_continuation`` does, from the first hop's JSON."""

    def __init__(self, api: Any, params: Any, data: dict[str, Any]) -> None:
        self.params = params
        self.responses = [_sdk_response(api, params, data)]
        self.token = _extra_utils.should_continue_generation(self.responses[0])

    def next_request(self) -> dict[str, Any]:
        p = self.params
        return {"model": p.model, "contents": p.contents,
                "config": _extra_utils.prepare_continuation_config(p.config, self.token)}

    def add(self, response: Any) -> None:
        self.responses.append(response)
        self.token = _extra_utils.should_continue_generation(response)

    def merged(self) -> tuple[Any, Any]:
        merged = _extra_utils.merge_continuation_responses(self.responses,
                                                           config=self.params.config)
        return merged, merged


def _continues(data: Any, config: Any) -> bool:
    """Whether the SDK would continue this non-streamed answer from its checkpoint (False for
    an answer of another shape: the converter reports that one)."""
    try:
        cands = data.get("candidates")
        return bool(cands and cands[0].get("continuationToken")
                    and _extra_utils.should_enable_automatic_continuation(config))
    except CONVERTER_ERRORS:
        return False


_PRIVATE = (
    ("google.genai._common", ("encode_unserializable_types", "convert_to_dict")),
    ("google.genai._extra_utils", ("should_enable_automatic_continuation",
                                   "should_continue_generation", "prepare_continuation_config",
                                   "merge_continuation_responses")),
    ("google.genai.types", ("_GenerateContentParameters",)),
    ("google.genai.models", ("_GenerateContentParameters_to_mldev",
                             "_GenerateContentParameters_to_vertex",
                             "_GenerateContentResponse_from_mldev",
                             "_GenerateContentResponse_from_vertex")),
    ("google.genai._api_client", ("BaseApiClient",)),
)


def _detect() -> bool:
    """Whether this SDK still has every internal :class:`_Fast` uses."""
    import importlib

    try:
        for module, names in _PRIVATE:
            mod = importlib.import_module(module)
            if not all(hasattr(mod, n) for n in names):
                return False
        from google.genai import _api_client, models
        from google.genai import types as t

        api = _api_client.BaseApiClient
        return (all(callable(getattr(api, n, None)) for n in (
                    "request", "request_streamed", "async_request", "async_request_streamed"))
                and callable(getattr(models.Models, "_generate_content", None))
                and callable(getattr(models.AsyncModels, "_generate_content", None))
                and callable(getattr(t.GenerateContentResponse, "_from_response", None)))
    except (ImportError, AttributeError, TypeError):
        return False


AVAILABLE: bool = _detect()
"""Whether the fast path's internals are all there."""
if AVAILABLE:
    from google.genai import _common, _extra_utils, types
    from google.genai import models as _models

FAST: SDKPath = _Fast()
PUBLIC: SDKPath = SDKPath()


def select() -> SDKPath:
    """The path a new provider uses: fast when available, unless ``CENCORI_SDK_INTERNALS=0``."""
    return FAST if AVAILABLE and os.environ.get("CENCORI_SDK_INTERNALS") != "0" else PUBLIC

"""The drop-in clients: real ``openai.OpenAI`` / ``openai.AsyncOpenAI`` objects whose HTTP
transport is the router.

The transport hands each request to :class:`~._app.App` and returns its answer as the HTTP
response the SDK reads: the SDK parses it into its own types (``ChatCompletion``,
``ChatCompletionChunk``, ``CreateEmbeddingResponse``, ...) exactly as it would parse OpenAI's.

Errors keep our exception as their cause. The SDK builds a status error from the response
itself and raises it ``from None``, which would drop any cause; but it re-raises an
``OpenAIError`` that comes out of the transport untouched. So, for a 4xx/5xx answer, the
transport builds the very exception the SDK would build from that answer (same class by status,
same message, same ``.response``, ``.body``, ``.code``, ``.type``, ``.param``) and raises it
``from`` our error: ``exc.__cause__`` is the :class:`~cencori_core.errors.CencoriError`.
Timeouts and connection failures become ``openai.APITimeoutError`` / ``APIConnectionError``, and
an error in the middle of a stream an ``openai.APIError``, each with the same cause.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from time import perf_counter
from typing import TYPE_CHECKING, Any

from ..errors import InvalidRequestError, ProviderConnectionError, ProviderTimeoutError
from . import _wire as w
from ._app import Answer, App

if TYPE_CHECKING:
    import openai

    from ..router import Router

__all__ = ["openai_client", "async_openai_client", "PLACEHOLDER_URL"]

PLACEHOLDER_URL = "http://cencori.invalid/v1"
"""The clients' base URL: ``.invalid`` never resolves, and nothing is sent anyway."""


def _http() -> Any:
    """The HTTP package the installed SDK is built on (``httpx2`` in openai 3.x, else
    ``httpx``): the transport must subclass its transport classes."""
    import openai

    base = openai.DefaultHttpxClient.__mro__[1]
    return sys.modules[base.__module__.split(".")[0]]


def status_error(response: Any, body: dict[str, Any]) -> Exception:
    """The exception the SDK raises for this error response (``_make_status_error``)."""
    import openai

    data = body.get("error", body)
    message = f"Error code: {response.status_code}"
    if isinstance(data, dict) and isinstance(data.get("message"), str) and data["message"]:
        message += f" - {data['message']}"
    cls: type[openai.APIStatusError] = {
        400: openai.BadRequestError, 401: openai.AuthenticationError,
        403: openai.PermissionDeniedError, 404: openai.NotFoundError,
        409: openai.ConflictError, 422: openai.UnprocessableEntityError,
        429: openai.RateLimitError,
    }.get(response.status_code, openai.InternalServerError if response.status_code >= 500
          else openai.APIStatusError)
    return cls(message, response=response, body=data)


def _raise_for(ans: Answer, request: Any, response: Any) -> None:
    import openai

    exc = ans.error
    last = exc
    while last is not None and isinstance(last, BaseExceptionGroup) and last.exceptions:
        last = last.exceptions[-1]
    if isinstance(last, ProviderTimeoutError):
        raise openai.APITimeoutError(request=request) from exc
    if isinstance(last, ProviderConnectionError):
        raise openai.APIConnectionError(message=str(exc), request=request) from exc
    import json

    response.read()
    raise status_error(response, json.loads(response.content or b"{}")) from exc


def _stream_error(exc: BaseException, request: Any) -> Exception:
    import openai

    _, _, body = w.error_answer(exc)
    return openai.APIError(body["error"]["message"], request, body=body["error"])


def _make_transports() -> tuple[type[Any], type[Any], type[Any], type[Any]]:
    httpx = _http()
    ByteStream = httpx._content.ByteStream  # noqa: N806 - a class

    class SyncBody(httpx.SyncByteStream):  # type: ignore[misc,name-defined]
        def __init__(self, chunks: Iterator[bytes], request: Any) -> None:
            self._chunks, self._request = chunks, request
            self._start = perf_counter()
            self.elapsed: timedelta | None = None  # read by Response.elapsed

        def __iter__(self) -> Iterator[bytes]:
            try:
                yield from self._chunks
            except Exception as exc:  # noqa: BLE001 - ours or a hook's: the SDK's APIError
                raise _stream_error(exc, self._request) from exc

        def close(self) -> None:
            self.elapsed = timedelta(seconds=perf_counter() - self._start)
            close = getattr(self._chunks, "close", None)
            if close is not None:
                close()

    class AsyncBody(httpx.AsyncByteStream):  # type: ignore[misc,name-defined]
        def __init__(self, chunks: AsyncIterator[bytes], request: Any) -> None:
            self._chunks, self._request = chunks, request
            self._start = perf_counter()
            self.elapsed: timedelta | None = None

        async def __aiter__(self) -> AsyncIterator[bytes]:
            try:
                async for b in self._chunks:
                    yield b
            except Exception as exc:  # noqa: BLE001
                raise _stream_error(exc, self._request) from exc

        async def aclose(self) -> None:
            self.elapsed = timedelta(seconds=perf_counter() - self._start)
            aclose = getattr(self._chunks, "aclose", None)
            if aclose is not None:
                await aclose()

    class SSEResponse(httpx.Response):  # type: ignore[misc,name-defined]
        """A stream's response. Our SSE frames are never encoded nor empty, so the bytes the
        SDK iterates are the frames themselves: one generator per frame instead of the
        decoder and chunker passes of ``iter_bytes`` over ``iter_raw``."""

        def iter_bytes(self, chunk_size: int | None = None) -> Iterator[bytes]:
            if chunk_size is not None or hasattr(self, "_content"):
                yield from super().iter_bytes(chunk_size)
                return
            if self.is_stream_consumed:  # type: ignore[has-type]
                raise httpx.StreamConsumed()
            if self.is_closed:
                raise httpx.StreamClosed()
            self.is_stream_consumed = True
            self._num_bytes_downloaded = 0
            try:
                for frame in self.stream:
                    self._num_bytes_downloaded += len(frame)
                    yield frame
            finally:
                self.close()

    def respond(ans: Answer, request: Any) -> Any:
        if ans.stream is not None:
            if isinstance(ans.stream, AsyncIterator):
                return httpx.Response(ans.status, headers=ans.headers,
                                      stream=AsyncBody(ans.stream, request), request=request)
            return SSEResponse(ans.status, headers=ans.headers,
                               stream=SyncBody(ans.stream, request), request=request)
        # The body is in memory: the response is built loaded and closed, as
        # Response(content=...) + read() leaves it, without its decoder and chunker passes
        # (about a tenth of a chat call's instructions on the SDK side).
        response = httpx.Response(ans.status, headers=ans.headers,
                                  stream=ByteStream(ans.body), request=request)
        response._content = ans.body
        response.is_stream_consumed = response.is_closed = True
        response.headers["content-length"] = str(len(ans.body))
        if ans.status >= 400:
            _raise_for(ans, request, response)
        return response

    class Transport(httpx.BaseTransport):  # type: ignore[misc,name-defined]
        """An httpx transport answering OpenAI API requests with a router."""

        def __init__(self, app: App) -> None:
            self.app = app

        def handle_request(self, request: Any) -> Any:
            ans = self.app.handle(request.method, request.url.path, request.headers,
                                  request.read())
            return respond(ans, request)

    class AsyncTransport(httpx.AsyncBaseTransport):  # type: ignore[misc,name-defined]
        """The async twin of :class:`Transport`."""

        def __init__(self, app: App) -> None:
            self.app = app

        async def handle_async_request(self, request: Any) -> Any:
            ans = await self.app.ahandle(request.method, request.url.path, request.headers,
                                         await request.aread())
            return respond(ans, request)

    default = httpx._client.USE_CLIENT_DEFAULT
    urls: dict[str, Any] = {}

    def build(client: Any, method: str, url: Any, content: Any, headers: Any,
              timeout: Any, rest: dict[str, Any]) -> Any:
        """The request the SDK asks for, built in one pass when it is plain bytes to a URL
        (every JSON endpoint): the client's defaults (its Accept-Encoding, Connection and
        User-Agent headers, cookies) mean nothing in process, and the URL is parsed once."""
        if any(v is not None for v in rest.values()) or not isinstance(url, str) \
                or not isinstance(content, bytes):
            return None
        u = urls.get(url)
        if u is None:
            if len(urls) > 64:
                urls.clear()
            u = urls[url] = httpx.URL(url)
        t = client.timeout if timeout is default else httpx.Timeout(timeout)
        request = httpx.Request(method, u, headers=headers, stream=ByteStream(content),
                                extensions={"timeout": t.as_dict()})
        request._content = content  # read, as Request(content=...) leaves it
        request.headers["content-length"] = str(len(content))
        return request

    def plain(client: Any, auth: Any) -> bool:
        """Whether a send needs none of the client's machinery (auth flows, hooks, redirects
        and cookies do not apply to answers made in process)."""
        hooks = client.event_hooks
        return auth is default and client.auth is None and not client.is_closed \
            and not hooks["request"] and not hooks["response"]

    base, abase = _sdk_clients()

    class Lean:
        """Both clients' request building (:func:`build`, else the client's own)."""

        def build_request(self, method: str, url: Any, *, content: Any = None,
                          headers: Any = None, timeout: Any = default, **rest: Any) -> Any:
            return build(self, method, url, content, headers, timeout, rest) \
                or super().build_request(  # type: ignore[misc]
                    method, url, content=content, headers=headers, timeout=timeout, **rest)

    class Client(Lean, base):  # type: ignore[misc,valid-type]
        """The SDK's default HTTP client, sending straight to the router's transport."""

        def __init__(self, transport: Any) -> None:
            super().__init__(transport=transport)
            self._drop_in = transport

        def send(self, request: Any, *, stream: bool = False, auth: Any = default,
                 follow_redirects: Any = default) -> Any:
            if not plain(self, auth):
                return super().send(request, stream=stream, auth=auth,
                                    follow_redirects=follow_redirects)
            start = perf_counter()
            response = self._drop_in.handle_request(request)
            response.request = request
            if response.is_closed:
                response.elapsed = timedelta(seconds=perf_counter() - start)
            elif not stream:
                response.read()
            return response

    class AsyncClient(Lean, abase):  # type: ignore[misc,valid-type]
        """The async twin of :class:`Client`."""

        def __init__(self, transport: Any) -> None:
            super().__init__(transport=transport)
            self._drop_in = transport

        async def send(self, request: Any, *, stream: bool = False, auth: Any = default,
                       follow_redirects: Any = default) -> Any:
            if not plain(self, auth):
                return await super().send(request, stream=stream, auth=auth,
                                          follow_redirects=follow_redirects)
            start = perf_counter()
            response = await self._drop_in.handle_async_request(request)
            response.request = request
            if response.is_closed:
                response.elapsed = timedelta(seconds=perf_counter() - start)
            elif not stream:
                await response.aread()
            return response

    return Transport, AsyncTransport, Client, AsyncClient


def _sdk_clients() -> tuple[type[Any], type[Any]]:
    """The SDK's default HTTP client classes (its timeouts, limits and redirect defaults)."""
    import openai

    return openai.DefaultHttpxClient, openai.DefaultAsyncHttpxClient


_TRANSPORTS: tuple[type[Any], type[Any], type[Any], type[Any]] | None = None


def transports() -> tuple[type[Any], type[Any], type[Any], type[Any]]:
    """(Transport, AsyncTransport, Client, AsyncClient), built on the SDK's HTTP package on
    first use."""
    global _TRANSPORTS
    if _TRANSPORTS is None:
        _TRANSPORTS = _make_transports()
    return _TRANSPORTS


def _options(kw: dict[str, Any]) -> dict[str, Any]:
    retries = kw.pop("max_retries", 0)
    if retries != 0:
        raise InvalidRequestError("the drop-in client's max_retries must be 0: the router "
                                  "retries (Router(retry=...) or retry= per call)",
                                  param="max_retries")
    if "http_client" in kw:
        raise InvalidRequestError("the drop-in client brings its own http_client (the router); "
                                  "give the provider an http_client in Router(providers=...)",
                                  param="http_client")
    kw.setdefault("api_key", "cencori")  # the SDK wants one; a csk_ key selects a project
    kw.setdefault("base_url", PLACEHOLDER_URL)
    return kw


def openai_client(router: Router, **kw: Any) -> openai.OpenAI:
    """A real ``openai.OpenAI`` whose every call goes through ``router``."""
    import openai

    kinds = transports()
    kw = _options(kw)
    app = App(router, api_key=kw.get("api_key"), project=kw.get("project"))
    return openai.OpenAI(http_client=kinds[2](kinds[0](app)), max_retries=0, **kw)


def async_openai_client(router: Router, **kw: Any) -> openai.AsyncOpenAI:
    """A real ``openai.AsyncOpenAI`` whose every call goes through ``router``."""
    import openai

    kinds = transports()
    kw = _options(kw)
    app = App(router, api_key=kw.get("api_key"), project=kw.get("project"))
    return openai.AsyncOpenAI(http_client=kinds[3](kinds[1](app)), max_retries=0, **kw)

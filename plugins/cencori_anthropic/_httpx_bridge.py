"""Legacy ``httpx`` clients behind the ``httpx2`` interface the Anthropic SDK requires.

cencori's contract lets a provider configuration carry an ``httpx.Client`` /
``httpx.AsyncClient`` (proxies, custom TLS, in-memory transports). The ``anthropic`` SDK 2.x
accepts only ``httpx2`` clients and rejects ``httpx`` objects, so a legacy client is wrapped in an
``httpx2`` client whose transport sends each request through it. The SDK's request timeout is
forwarded, transport errors are re-raised as their ``httpx2`` namesakes (so the SDK and our error
mapping see the types they know), and the wrapped client stays the caller's: closing the wrapper
does not close it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx2

__all__ = ["adapt_client", "adapt_async_client"]


def adapt_client(client: Any) -> httpx2.Client | None:
    """``client`` as an ``httpx2.Client`` (unchanged when it already is one, or None)."""
    if client is None or isinstance(client, httpx2.Client):
        return client
    return httpx2.Client(transport=_Bridge(client))


def adapt_async_client(client: Any) -> httpx2.AsyncClient | None:
    """``client`` as an ``httpx2.AsyncClient`` (unchanged when it already is one, or None)."""
    if client is None or isinstance(client, httpx2.AsyncClient):
        return client
    return httpx2.AsyncClient(transport=_AsyncBridge(client))


def _translate(exc: Exception, request: httpx2.Request) -> Exception:
    # httpx2 keeps httpx's exception names (ReadTimeout, RemoteProtocolError, ...).
    cls = getattr(httpx2, type(exc).__name__, None)
    if not (isinstance(cls, type) and issubclass(cls, httpx2.RequestError)):
        cls = httpx2.TransportError
    return cls(str(exc), request=request)


def _legacy_request(client: Any, request: httpx2.Request, content: bytes) -> Any:
    timeout = request.extensions.get("timeout")
    return client.build_request(
        request.method, str(request.url), headers=request.headers.multi_items(), content=content,
        timeout=(None if timeout is None else _legacy_timeout(timeout)))


def _legacy_timeout(timeout: dict[str, float | None]) -> Any:
    import httpx

    return httpx.Timeout(None, **timeout)


class _Bridge(httpx2.BaseTransport):
    def __init__(self, client: Any) -> None:
        self._client = client

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        import httpx

        legacy = _legacy_request(self._client, request, request.read())
        try:
            response = self._client.send(legacy, stream=True)
        except httpx.HTTPError as exc:
            raise _translate(exc, request) from exc
        return httpx2.Response(response.status_code, headers=response.headers.multi_items(),
                               stream=_Body(response, request), request=request)


class _Body(httpx2.SyncByteStream):
    def __init__(self, response: Any, request: httpx2.Request) -> None:
        self._response = response
        self._request = request

    def __iter__(self) -> Iterator[bytes]:
        import httpx

        try:
            # Raw bytes: the httpx2 response decodes its own content-encoding.
            yield from self._response.iter_raw()
        except httpx.HTTPError as exc:
            raise _translate(exc, self._request) from exc

    def close(self) -> None:
        self._response.close()


class _AsyncBridge(httpx2.AsyncBaseTransport):
    def __init__(self, client: Any) -> None:
        self._client = client

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        import httpx

        legacy = _legacy_request(self._client, request, await request.aread())
        try:
            response = await self._client.send(legacy, stream=True)
        except httpx.HTTPError as exc:
            raise _translate(exc, request) from exc
        return httpx2.Response(response.status_code, headers=response.headers.multi_items(),
                               stream=_AsyncBody(response, request), request=request)


class _AsyncBody(httpx2.AsyncByteStream):
    def __init__(self, response: Any, request: httpx2.Request) -> None:
        self._response = response
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        import httpx

        try:
            async for piece in self._response.aiter_raw():
                yield piece
        except httpx.HTTPError as exc:
            raise _translate(exc, self._request) from exc

    async def aclose(self) -> None:
        await self._response.aclose()

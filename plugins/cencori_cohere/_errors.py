"""Cohere SDK exceptions mapped to cencori errors, by HTTP status and transport failure.

Cohere's error body is ``{"id": ..., "message": ...}`` with no structured code, so the class
comes from the status alone (498, Cohere's "invalid token", is an auth error; 499, a request
cancelled on Cohere's side, is retryable like a dropped connection). The message is the body's
``message``. The API key travels only in the request's header, but an error body may quote it
(as several providers do for a rejected key): it is scrubbed from our message and from the SDK
exception chained as ``__cause__``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import httpx
from cohere.core import ApiError, ParsingError
from cohere.core.http_sse import SSEError

from cencori_core.errors import (
    ProviderAuthError,
    ProviderConnectionError,
    ProviderError,
    ProviderResponseError,
    ProviderTimeoutError,
    error_for_status,
)
from cencori_core.provider import parse_retry_after, should_retry_header

__all__ = ["map_error", "mapped"]

_STATUS: dict[int, type[ProviderError]] = {
    498: ProviderAuthError,
    499: ProviderConnectionError,
}


def _scrub(text: str, secret: str | None) -> str:
    return text.replace(secret, "***") if secret and secret in text else text


def _scrub_cause(exc: ApiError, secret: str) -> None:
    """Remove the key from the SDK exception we chain (its ``str()`` shows the body)."""
    body = exc.body
    if isinstance(body, str):
        exc.body = _scrub(body, secret)
    elif isinstance(body, dict) and isinstance(body.get("message"), str):
        body["message"] = _scrub(body["message"], secret)


def map_error(exc: BaseException, *, provider: str, model: str,
              secret: str | None = None) -> ProviderError | None:
    """The cencori error for an SDK or transport exception, or None when it is neither;
    ``secret`` (the API key) is scrubbed from its message."""
    err = _map(exc, provider, model)
    if err is not None and secret:
        err.args = tuple(_scrub(a, secret) if isinstance(a, str) else a for a in err.args)
        if isinstance(exc, ApiError):
            _scrub_cause(exc, secret)
    return err


def _map(exc: BaseException, provider: str, model: str) -> ProviderError | None:
    if isinstance(exc, ApiError):
        return _api_error(exc, provider, model)
    if isinstance(exc, ParsingError):
        return ProviderResponseError("Cohere answered a body that does not match its API schema",
                                     status_code=exc.status_code, provider=provider, model=model)
    if isinstance(exc, httpx.TimeoutException):
        return ProviderTimeoutError(f"the request to Cohere timed out ({type(exc).__name__})",
                                    provider=provider, model=model)
    if isinstance(exc, SSEError):  # a TransportError too: check it first
        return ProviderResponseError(f"Cohere's stream is not a valid event stream: {exc}",
                                     provider=provider, model=model)
    if isinstance(exc, httpx.TransportError):
        return ProviderConnectionError(f"connection to Cohere failed: {type(exc).__name__}: {exc}",
                                       provider=provider, model=model)
    return None


def _api_error(exc: ApiError, provider: str, model: str) -> ProviderError:
    status = exc.status_code
    headers: Mapping[str, str] = exc.headers or {}
    body = exc.body
    message = body.get("message") if isinstance(body, Mapping) else None
    if not isinstance(message, str) or not message:
        message = (body if isinstance(body, str) and body else f"HTTP {status}")[:500]
    if status is not None and 200 <= status < 300:
        # The SDK raises ApiError for a 2xx body that is not JSON.
        return ProviderResponseError(f"Cohere answered an unparseable body: {message}",
                                     status_code=status, provider=provider, model=model)
    cls = _STATUS.get(status) if status is not None else None
    cls = cls or error_for_status(status)
    body_id = body.get("id") if isinstance(body, Mapping) else None
    return cls(message, provider=provider, model=model, status_code=status,
               retry_after=parse_retry_after(headers), retryable=should_retry_header(headers),
               request_id=body_id if isinstance(body_id, str) else headers.get("x-request-id"))


@contextmanager
def mapped(provider: str, model: str, secret: str | None = None) -> Iterator[None]:
    """Re-raise SDK and transport exceptions of the block as cencori errors (``from exc``),
    without ``secret`` in their text."""
    try:
        yield
    except Exception as exc:
        err = map_error(exc, provider=provider, model=model, secret=secret)
        if err is None:
            raise
        raise err from exc

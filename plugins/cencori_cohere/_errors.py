"""Cohere SDK exceptions mapped to cencori errors, by HTTP status and transport failure.

Cohere's error body is ``{"id": ..., "message": ...}`` with no structured code, so the class
comes from the status alone (498, Cohere's "invalid token", is an auth error; 499, a request
cancelled on Cohere's side, is retryable like a dropped connection). The message is the body's
``message``. The API key travels only in the request's header, but an error body or header may
quote it: the toolkit's one scrubber removes it from our error and the SDK exception chained
as ``__cause__`` (headers and body included).
"""

from __future__ import annotations

from collections.abc import Mapping

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

__all__ = ["map_error"]

_STATUS: dict[int, type[ProviderError]] = {
    498: ProviderAuthError,
    499: ProviderConnectionError,
}


def map_error(exc: BaseException, *, provider: str, model: str) -> ProviderError | None:
    """The cencori error for an SDK or transport exception, or None when it is neither. The
    toolkit's error boundary raises it ``from exc`` and scrubs the key from it and from the
    whole chain (the SDK's ``ApiError`` prints its headers and body)."""
    return _map(exc, provider, model)


def _map(exc: BaseException, provider: str, model: str) -> ProviderError | None:
    if isinstance(exc, ApiError):
        return _api_error(exc, provider, model)
    if isinstance(exc, ParsingError):
        return ProviderResponseError("Cohere answered a body that does not match its API schema",
                                     status_code=exc.status_code, provider=provider, model=model,
                                     retryable=True)
    if isinstance(exc, httpx.TimeoutException):
        return ProviderTimeoutError(f"the request to Cohere timed out ({type(exc).__name__})",
                                    provider=provider, model=model)
    if isinstance(exc, SSEError):  # a TransportError too: check it first
        return ProviderResponseError(f"Cohere's stream is not a valid event stream: {exc}",
                                     provider=provider, model=model, retryable=True)
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
        # The SDK raises ApiError for a 2xx body that is not JSON; the body is not quoted.
        return ProviderResponseError(f"Cohere answered HTTP {status} with a body that is not "
                                     "JSON", status_code=status, provider=provider, model=model,
                                     retryable=True)
    cls = _STATUS.get(status) if status is not None else None
    cls = cls or error_for_status(status)
    body_id = body.get("id") if isinstance(body, Mapping) else None
    return cls(message, provider=provider, model=model, status_code=status,
               retry_after=parse_retry_after(headers), retryable=should_retry_header(headers),
               request_id=body_id if isinstance(body_id, str) else headers.get("x-request-id"))

"""google-genai exceptions mapped to cencori errors.

An ``APIError`` carries the HTTP status and Google's error body
``{"error": {"code": 429, "message": ..., "status": "RESOURCE_EXHAUSTED", "details": [...]}}``.
The class comes from ``status`` (the google.rpc code name), then from the HTTP status; the
``details`` refine it (never the message text):

- ``google.rpc.ErrorInfo`` with an ``API_KEY_*`` reason: the key is bad, whatever the status
  (Gemini answers a wrong key with 400 ``INVALID_ARGUMENT``);
- ``google.rpc.RetryInfo`` ``retryDelay`` (``"53s"``, ``"1.5s"``) is the wait before a retry;
  Gemini sends no ``Retry-After`` header, but one is honoured when a proxy adds it;
- ``google.rpc.QuotaFailure`` naming a per-day quota: waiting seconds will not help, so the 429
  is not retryable.

Gemini reports an over-long prompt as a plain ``INVALID_ARGUMENT`` without a structured code, so it
stays a :class:`ProviderBadRequestError` (no :class:`ContextWindowExceededError` guessed from
text). Transport failures of httpx / httpx2 (and aiohttp, when the SDK uses it) become timeout or
connection errors.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import pydantic
from google.genai import errors as genai_errors

from cencori_core.errors import (
    ProviderAuthError,
    ProviderBadRequestError,
    ProviderConnectionError,
    ProviderError,
    ProviderRateLimitError,
    ProviderResponseError,
    ProviderServerError,
    ProviderTimeoutError,
    error_for_status,
)
from cencori_core.provider import parse_retry_after, should_retry_header

from ._fast import UnreadableAnswer

__all__ = ["map_error", "retry_delay"]


def _classes(attr: str) -> tuple[type[BaseException], ...]:
    found = []
    for name in ("httpx", "httpx2"):
        try:
            mod = __import__(name)
        except ImportError:
            continue
        found.append(getattr(mod, attr))
    return tuple(found)


# The SDK talks through httpx2 by default and through httpx when given an httpx client.
_TIMEOUTS: tuple[type[BaseException], ...] = (*_classes("TimeoutException"), TimeoutError)
_TRANSPORT: tuple[type[BaseException], ...] = _classes("TransportError")
_UNPARSEABLE = (json.JSONDecodeError, pydantic.ValidationError,
                genai_errors.UnknownApiResponseError)

_STATUS_CLASSES: dict[str, type[ProviderError]] = {
    "INVALID_ARGUMENT": ProviderBadRequestError,
    "FAILED_PRECONDITION": ProviderBadRequestError,
    "OUT_OF_RANGE": ProviderBadRequestError,
    "NOT_FOUND": ProviderBadRequestError,
    "ALREADY_EXISTS": ProviderBadRequestError,
    "UNIMPLEMENTED": ProviderBadRequestError,
    "UNAUTHENTICATED": ProviderAuthError,
    "PERMISSION_DENIED": ProviderAuthError,
    "RESOURCE_EXHAUSTED": ProviderRateLimitError,
    "UNAVAILABLE": ProviderServerError,
    "INTERNAL": ProviderServerError,
    "UNKNOWN": ProviderServerError,
    "DATA_LOSS": ProviderServerError,
    "ABORTED": ProviderServerError,
    "DEADLINE_EXCEEDED": ProviderTimeoutError,
}

_ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"
_RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"
_QUOTA_FAILURE = "type.googleapis.com/google.rpc.QuotaFailure"


def _error_body(details: Any) -> dict[str, Any]:
    """The ``error`` object of an error body (the SDK keeps the whole body, or one list item)."""
    if isinstance(details, list) and details:
        details = details[0]
    if not isinstance(details, dict):
        return {}
    inner = details.get("error")
    return inner if isinstance(inner, dict) else details


def retry_delay(details: list[Any]) -> float | None:
    """Seconds from a ``google.rpc.RetryInfo`` detail (a protobuf Duration such as ``"53s"``)."""
    for d in details:
        if isinstance(d, dict) and d.get("@type") == _RETRY_INFO:
            value = d.get("retryDelay")
            if isinstance(value, str) and value.endswith("s"):
                try:
                    return max(0.0, float(value[:-1]))
                except ValueError:
                    return None
    return None


def _reasons(details: list[Any]) -> set[str]:
    return {str(d.get("reason")) for d in details
            if isinstance(d, dict) and d.get("@type") == _ERROR_INFO and d.get("reason")}


def _daily_quota(details: list[Any]) -> bool:
    for d in details:
        if isinstance(d, dict) and d.get("@type") == _QUOTA_FAILURE:
            for v in d.get("violations") or ():
                if isinstance(v, dict) and "PerDay" in str(v.get("quotaId") or ""):
                    return True
    return False


def _map_api_error(exc: genai_errors.APIError, provider: str, model: str) -> ProviderError:
    body = _error_body(exc.details)
    status = body.get("status") if isinstance(body.get("status"), str) else exc.status
    raw_details = body.get("details")
    details: list[Any] = raw_details if isinstance(raw_details, list) else []
    code = exc.code if isinstance(exc.code, int) else None
    cls = _STATUS_CLASSES.get(status or "") or error_for_status(code)
    reasons = _reasons(details)
    if any(r.startswith("API_KEY_") for r in reasons):
        cls = ProviderAuthError
    retryable: bool | None = None
    if cls is ProviderRateLimitError and _daily_quota(details):
        retryable = False
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    retry_after = retry_delay(details)
    if retry_after is None:
        retry_after = parse_retry_after(headers)
    server_says = should_retry_header(headers)
    if server_says is not None:
        retryable = server_says
    message = body.get("message") if isinstance(body.get("message"), str) else exc.message
    text = f"{status or code}: {message}" if message else f"{status or code}"
    return cls(text, provider=provider, model=model, status_code=code,
               retryable=retryable, retry_after=retry_after,
               code=status or (sorted(reasons)[0] if reasons else None))


def map_error(exc: BaseException, *, provider: str, model: str) -> ProviderError | None:
    """The cencori error for an exception raised by an SDK call, or None for exceptions that
    are not the provider's doing. The toolkit's error boundary raises it ``from exc`` and
    scrubs the key from it and from the whole chain behind it."""
    if isinstance(exc, genai_errors.APIError):
        return _map_api_error(exc, provider, model)
    name = type(exc).__name__
    if isinstance(exc, _TIMEOUTS):
        return ProviderTimeoutError(f"the request timed out ({name})", provider=provider,
                                    model=model)
    if isinstance(exc, _TRANSPORT) or _is_aiohttp_error(exc):
        return ProviderConnectionError(f"connection failed: {name}: {exc}",
                                       provider=provider, model=model)
    if isinstance(exc, UnreadableAnswer):
        return ProviderResponseError(
            f"Gemini sent an answer of an unexpected shape (the SDK raised {exc})",
            provider=provider, model=model, retryable=True)
    if isinstance(exc, _UNPARSEABLE):
        # Retryable, as the toolkit's converter boundary makes every malformed answer.
        return ProviderResponseError(f"Gemini's answer could not be parsed ({name})",
                                     provider=provider, model=model, retryable=True)
    return None


def _is_aiohttp_error(exc: BaseException) -> bool:
    aiohttp = sys.modules.get("aiohttp")
    return aiohttp is not None and isinstance(exc, aiohttp.ClientError)

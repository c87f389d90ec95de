"""Anthropic SDK exceptions → cencori errors, from the error body's ``type`` and
``details.error_code`` and the HTTP status (never from message text).

========================  ======  ==================================================
error ``type``            status  cencori class
========================  ======  ==================================================
invalid_request_error     400     ProviderBadRequestError
authentication_error      401     ProviderAuthError
billing_error             402     ProviderRateLimitError, not retryable
permission_error          403     ProviderAuthError
not_found_error           404     ProviderBadRequestError
request_too_large         413     ProviderBadRequestError
rate_limit_error          429     ProviderRateLimitError (a spend limit: not retryable)
api_error                 500     ProviderServerError
timeout_error             504     ProviderTimeoutError
overloaded_error          529     ProviderServerError (retryable)
========================  ======  ==================================================

An ``error`` event inside a stream reaches us as a status error with the stream's 200 status:
its body's ``type`` decides, and the status reported is the one that type is served with.
``x-should-retry`` overrides the class's retry verdict; ``retry-after-ms`` / ``retry-after`` give
``retry_after``.

One exception to "never from message text": a prompt over the context window is a 400
``invalid_request_error`` with no code of its own, only the message ``prompt is too long: N
tokens > M maximum`` (recorded), so that message makes it a :class:`ContextWindowExceededError`,
the class that lets a fallback move to a model with a larger window.
"""

from __future__ import annotations

import json
import re
from typing import Any

from cencori_core.errors import (
    ContextWindowExceededError,
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

__all__ = ["map_error", "SPEND_LIMIT_CODES"]

_BY_TYPE: dict[str, tuple[type[ProviderError], int]] = {
    "invalid_request_error": (ProviderBadRequestError, 400),
    "authentication_error": (ProviderAuthError, 401),
    "billing_error": (ProviderRateLimitError, 402),
    "permission_error": (ProviderAuthError, 403),
    "not_found_error": (ProviderBadRequestError, 404),
    "request_too_large": (ProviderBadRequestError, 413),
    "rate_limit_error": (ProviderRateLimitError, 429),
    "api_error": (ProviderServerError, 500),
    "timeout_error": (ProviderTimeoutError, 504),
    "overloaded_error": (ProviderServerError, 529),
}

SPEND_LIMIT_CODES = frozenset({
    "contract_spend_limit_reached",
    "enforced_spend_limit_reached",
    "linked_organization_spend_limit_reached",
    "linked_organization_billing_unavailable",
})
"""``error.details.error_code`` values that waiting does not fix: the organization is out of
money or over its spend limit (a 429 or 402)."""

_TOO_LONG = re.compile(r"prompt is too long: \d+ tokens > \d+ maximum")


def map_error(exc: BaseException, *, provider: str, model: str) -> ProviderError | None:
    """The cencori error for an SDK (or transport) exception; None when ``exc`` is not one.

    Keys are not this function's concern: the toolkit's error boundary scrubs the error it
    returns and the whole chain behind it."""
    import anthropic
    import httpx2

    if isinstance(exc, anthropic.APIStatusError):
        return _status_error(exc, provider=provider, model=model)
    if isinstance(exc, anthropic.APITimeoutError):
        return ProviderTimeoutError("the request to Anthropic timed out", provider=provider,
                                    model=model)
    if isinstance(exc, anthropic.APIConnectionError):
        return ProviderConnectionError(
            f"could not reach Anthropic: {_cause_name(exc)}", provider=provider, model=model)
    if isinstance(exc, anthropic.APIResponseValidationError):
        return ProviderResponseError("Anthropic's response does not match the Messages API",
                                     provider=provider, model=model,
                                     status_code=exc.status_code)
    # Raised while a stream is read (the SDK lets transport errors through there).
    if isinstance(exc, httpx2.TimeoutException):
        return ProviderTimeoutError("the Anthropic stream timed out", provider=provider,
                                    model=model)
    if isinstance(exc, (httpx2.TransportError, httpx2.StreamError)):
        return ProviderConnectionError(
            f"the connection to Anthropic failed: {type(exc).__name__}", provider=provider,
            model=model)
    if isinstance(exc, json.JSONDecodeError):
        # Retryable, as the toolkit's converter boundary makes every malformed answer.
        return ProviderResponseError("Anthropic's answer (or a stream event) is not JSON",
                                     provider=provider, model=model, retryable=True)
    return None


def _cause_name(exc: BaseException) -> str:
    cause = exc.__cause__ or exc.__context__
    return type(cause).__name__ if cause is not None else type(exc).__name__


def _status_error(exc: Any, *, provider: str, model: str) -> ProviderError:
    kind = exc.type if isinstance(exc.type, str) else None
    code = exc.error_code
    status = exc.status_code
    cls: type[ProviderError]
    if kind in _BY_TYPE:
        cls, nominal = _BY_TYPE[kind]
        if status < 400:  # an in-band stream error: report the status its type stands for
            status = nominal
    else:
        cls = error_for_status(status)
    headers = exc.response.headers
    retryable = should_retry_header(headers)
    if code in SPEND_LIMIT_CODES or kind == "billing_error":
        cls, retryable = ProviderRateLimitError, False
    text = exc.api_message or f"HTTP {status}"
    if kind == "invalid_request_error" and _TOO_LONG.match(text):
        cls = ContextWindowExceededError
    message = f"{kind}: {text}" if kind else text
    if code:
        message += f" [{code}]"
    request_id = exc.request_id
    if request_id is None and isinstance(exc.body, dict):
        request_id = exc.body.get("request_id")
    return cls(message, provider=provider, model=model, status_code=status,
               retryable=retryable, retry_after=parse_retry_after(headers),
               request_id=request_id, code=code or kind)

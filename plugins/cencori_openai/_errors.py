"""OpenAI SDK exceptions mapped to cencori errors.

The class comes from the HTTP status and the error body's ``code`` / ``type`` (never from the
message text, but for one case: OpenAI-compatible servers that report a prompt over the
context window with OpenAI's wording and a generic code, as DeepSeek does with
``invalid_request_error`` (recorded), are recognized by that wording on a 400):
``context_length_exceeded`` is a :class:`ContextWindowExceededError`, content
policy codes a :class:`ContentFilterError`, a 429 ``insufficient_quota`` a rate-limit error that is
not worth retrying. ``retry_after`` comes from ``retry-after-ms`` / ``Retry-After``; the server's
``x-should-retry`` overrides the class's retryability. Secrets are not handled here: the
toolkit's error boundary scrubs the result and the SDK exception behind it
(:class:`cencori_core.provider.ErrorBoundary`).
"""

from __future__ import annotations

import json
import re
from typing import Any

import openai

from cencori_core.errors import (
    ContentFilterError,
    ContextWindowExceededError,
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

__all__ = ["map_error"]

_CONTEXT_CODES = frozenset({"context_length_exceeded"})
# OpenAI images: content_policy_violation / moderation_blocked; o-series prompts flagged by the
# usage policy: invalid_prompt; Azure OpenAI and compatible servers: content_filter.
_CONTENT_CODES = frozenset({"content_filter", "content_policy_violation", "moderation_blocked",
                            "invalid_prompt"})
_NO_RETRY_CODES = frozenset({"insufficient_quota", "billing_hard_limit_reached"})
_CONTEXT_WORDING = re.compile(r"maximum context length is \d+ tokens")


def _body_fields(body: Any) -> tuple[str | None, str | None, str | None]:
    """(message, code, type) of an OpenAI error body (the SDK hands us the ``error`` object)."""
    if isinstance(body, dict):
        inner = body.get("error")
        if isinstance(inner, dict):
            body = inner
        msg, code, typ = body.get("message"), body.get("code"), body.get("type")
        return (msg if isinstance(msg, str) else None,
                str(code) if code is not None else None,
                typ if isinstance(typ, str) else None)
    return None, None, None


def map_error(exc: BaseException, *, provider: str, model: str) -> ProviderError | None:
    """The cencori error for an SDK exception (the boundary raises it ``from exc``); None for
    an exception that is not the SDK's."""
    if isinstance(exc, openai.APITimeoutError):
        return ProviderTimeoutError("the request timed out", provider=provider, model=model)
    if isinstance(exc, openai.APIConnectionError):
        cause = exc.__cause__
        detail = f" ({type(cause).__name__})" if cause is not None else ""
        return ProviderConnectionError(f"connection failed{detail}", provider=provider,
                                       model=model)
    if isinstance(exc, openai.APIResponseValidationError):
        return ProviderResponseError("the response does not match the OpenAI schema",
                                     provider=provider, model=model,
                                     status_code=exc.status_code,
                                     request_id=exc.response.headers.get("x-request-id"))
    if isinstance(exc, json.JSONDecodeError):
        # A 200 answer that is not JSON (a proxy's HTML page, a truncated body): worth a retry.
        return ProviderResponseError("the response is not valid JSON", provider=provider,
                                     model=model, retryable=True)
    if not isinstance(exc, openai.APIError):
        return None

    message, code, typ = _body_fields(exc.body)
    code = code or exc.code
    typ = typ or exc.type
    status = getattr(exc, "status_code", None)
    headers = exc.response.headers if isinstance(exc, openai.APIStatusError) else None
    request_id = getattr(exc, "request_id", None)

    if code in _CONTEXT_CODES or (status == 400 and message is not None
                                  and _CONTEXT_WORDING.search(message) is not None):
        cls: type[ProviderError] = ContextWindowExceededError
    elif code in _CONTENT_CODES or typ in _CONTENT_CODES:
        cls = ContentFilterError
    elif status is None:
        # An error event inside a stream: the server failed mid-answer.
        cls = (ProviderBadRequestError if typ == "invalid_request_error"
               else ProviderServerError)
    else:
        cls = error_for_status(status)

    retryable = should_retry_header(headers)
    if retryable is None and cls is ProviderRateLimitError and code in _NO_RETRY_CODES:
        retryable = False  # an exhausted quota does not come back within a retry loop
    text = message or exc.message or type(exc).__name__
    if code and code not in text:
        text = f"{text} [{code}]"
    return cls(text, provider=provider, model=model, status_code=status,
               retryable=retryable, retry_after=parse_retry_after(headers),
               request_id=request_id, code=code)

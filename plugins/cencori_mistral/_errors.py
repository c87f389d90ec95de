"""Map ``mistralai`` SDK and transport exceptions to cencori errors.

The class comes from the HTTP status and Mistral's structured error body
(``{"object": "error", "message": ..., "type": ..., "code": ...}``), never from message text.
``code`` ``"3051"`` is Mistral's "prompt too large for the model's context" and becomes
:class:`ContextWindowExceededError`. ``Retry-After``/``retry-after-ms`` set ``retry_after``;
``x-should-retry`` overrides ``retryable``. The request id is Mistral's
``mistral-correlation-id`` header (or the gateway's ``x-kong-request-id``).
"""

from __future__ import annotations

import json
import sys
from typing import Any

from cencori_core.errors import (
    CencoriError,
    ContextWindowExceededError,
    InvalidRequestError,
    ProviderConnectionError,
    ProviderError,
    ProviderResponseError,
    ProviderTimeoutError,
    error_for_status,
)
from cencori_core.provider import parse_retry_after, should_retry_header

__all__ = ["map_error", "error_body"]

# Mistral's structured codes that need a more specific class than the status gives.
_CODE_CLASSES: dict[str, type[ProviderError]] = {
    "3051": ContextWindowExceededError,
}

_REQUEST_ID_HEADERS = ("mistral-correlation-id", "x-kong-request-id", "x-request-id")


def error_body(text: str | None) -> dict[str, Any]:
    """The JSON error body as a dict ({} when it is not a JSON object)."""
    if not text:
        return {}
    try:
        body = json.loads(text)
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _message(body: dict[str, Any], status: int | None) -> str:
    msg = body.get("message", body.get("detail"))
    if isinstance(msg, dict):
        msg = msg.get("detail", msg)
    if isinstance(msg, list):
        # FastAPI validation details: "body.messages.0.name: Extra inputs are not permitted".
        parts = []
        for item in msg:
            if isinstance(item, dict):
                loc = ".".join(str(x) for x in item.get("loc") or ())
                parts.append(f"{loc}: {item.get('msg', '')}" if loc else str(item.get("msg", "")))
            else:
                parts.append(str(item))
        msg = "; ".join(parts)
    text = str(msg) if msg else f"HTTP {status}"
    extra = [f"{k} {body[k]}" for k in ("type", "code") if body.get(k) not in (None, "")]
    return f"{text} ({', '.join(extra)})" if extra else text


def _transport_classes() -> tuple[tuple[type, ...], tuple[type, ...]]:
    """(timeout classes, other transport classes) of httpx2 and, when a caller handed us a
    legacy ``httpx`` client, of httpx too (it is then already imported)."""
    timeouts: list[type] = []
    transport: list[type] = []
    for name in ("httpx2", "httpx"):
        mod = sys.modules.get(name)
        if mod is None:
            continue
        timeouts.append(mod.TimeoutException)
        transport.append(mod.TransportError)
    return tuple(timeouts), tuple(transport)


def map_error(exc: BaseException, *, provider: str, model: str) -> CencoriError | None:
    """The cencori error for ``exc`` (the toolkit's error boundary raises it ``from exc`` and
    scrubs the key from it and the whole chain); None for an exception that is not the SDK's
    or the transport's (the boundary then raises a generic ``ProviderError``)."""
    from mistralai.client import errors as sdk_errors

    if isinstance(exc, sdk_errors.MistralError):
        status: int | None = exc.status_code
        headers = exc.headers
        if (status or 0) < 400:
            # An answer the SDK could not read: the wrong shape for its models, or a 2xx/3xx
            # of another content type (a proxy). Retryable, like every malformed answer; the
            # message names where it is malformed, never the body's values.
            if isinstance(exc, sdk_errors.ResponseValidationError):
                what = f"does not match its API schema ({_where(exc.cause)})"
            else:
                ctype = headers.get("content-type", "") if headers else ""
                what = f"is not JSON (HTTP {status}, content type {ctype or 'none'!r})"
            return ProviderResponseError(f"Mistral's answer {what}", provider=provider,
                                         model=model, status_code=status, retryable=True,
                                         request_id=_request_id({}, headers))
        body = error_body(exc.body)
        cls = _CODE_CLASSES.get(str(body.get("code")), error_for_status(status))
        code = body.get("code") or body.get("type")
        return cls(
            _message(body, status) if body else (exc.body or f"HTTP {status}")[:500],
            provider=provider, model=model, status_code=status,
            retryable=should_retry_header(headers),
            retry_after=parse_retry_after(headers),
            request_id=_request_id(body, headers),
            code=str(code) if code is not None else None,
        )
    if isinstance(exc, sdk_errors.NoResponseError):
        return ProviderConnectionError("Mistral sent no response", provider=provider, model=model)
    timeouts, transport = _transport_classes()
    if timeouts and isinstance(exc, timeouts):
        return ProviderTimeoutError(f"the request to Mistral timed out ({type(exc).__name__})",
                                    provider=provider, model=model)
    if transport and isinstance(exc, transport):
        return ProviderConnectionError(
            f"could not talk to Mistral: {type(exc).__name__}: {exc}",
            provider=provider, model=model)
    if _is_pydantic_validation(exc):
        # The SDK validates the request before sending: our translation or provider_options
        # produced something Mistral's schema refuses.
        return InvalidRequestError(f"Mistral request is invalid: {exc}")
    return None


def _where(cause: Any) -> str:
    """Where a pydantic validation failed (locations and error types, never input values)."""
    errors = getattr(cause, "errors", None)
    try:
        items = errors(include_input=False, include_url=False) if errors else []
    except TypeError:
        items = []
    out = [f"{'.'.join(str(x) for x in e.get('loc', ()))}: {e.get('type', '?')}"
           for e in items[:5]]
    return "; ".join(out) or type(cause).__name__


def _is_pydantic_validation(exc: BaseException) -> bool:
    pyd = sys.modules.get("pydantic")
    return pyd is not None and isinstance(exc, pyd.ValidationError)


def _request_id(body: dict[str, Any], headers: Any) -> str | None:
    rid = body.get("request_id")
    if rid:
        return str(rid)
    if headers:
        for name in _REQUEST_ID_HEADERS:
            val = headers.get(name)
            if val:
                return str(val)
    return None

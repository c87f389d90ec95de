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


def _scrub(text: str, secret: str | None) -> str:
    # Defence in depth: no error text we build may carry the key, whatever a proxy echoes.
    if secret and len(secret) >= 4:
        text = text.replace(secret, "***")
    return text


def _scrub_cause(exc: Any, secret: str | None) -> None:
    """Remove the key from the SDK exception we chain as ``__cause__``: its text is the error
    body, which may quote the key it rejected, and would show in any logged traceback."""
    if not secret or len(secret) < 4:
        return
    for name in ("message", "body"):
        value = getattr(exc, name, None)
        if isinstance(value, str) and secret in value:
            object.__setattr__(exc, name, _scrub(value, secret))  # a frozen dataclass
    exc.args = tuple(_scrub(a, secret) if isinstance(a, str) else a for a in exc.args)


def map_error(exc: BaseException, *, provider: str, model: str,
              secret: str | None = None) -> Exception:
    """The cencori error for ``exc`` (raise it ``from exc``); unknown exceptions are returned
    unchanged."""
    from mistralai.client import errors as sdk_errors

    if isinstance(exc, sdk_errors.MistralError):
        _scrub_cause(exc, secret)
        status: int | None = exc.status_code
        headers = exc.headers
        if isinstance(exc, sdk_errors.ResponseValidationError) and (status or 0) < 400:
            return ProviderResponseError(
                _scrub(f"Mistral answered something that does not parse: {exc.cause}", secret),
                provider=provider, model=model, status_code=status,
                request_id=_request_id({}, headers))
        body = error_body(exc.body)
        if (status or 0) < 400:
            # A 2xx/3xx the SDK could not use (wrong content type from a proxy, ...).
            cls: type[ProviderError] = ProviderResponseError
        else:
            cls = _CODE_CLASSES.get(str(body.get("code")), error_for_status(status))
        code = body.get("code") or body.get("type")
        return cls(
            _scrub(_message(body, status) if body else (exc.body or f"HTTP {status}")[:500],
                   secret),
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
            _scrub(f"could not talk to Mistral: {type(exc).__name__}: {exc}", secret),
            provider=provider, model=model)
    if _is_pydantic_validation(exc):
        # The SDK validates the request before sending: our translation or provider_options
        # produced something Mistral's schema refuses.
        return InvalidRequestError(_scrub(f"Mistral request is invalid: {exc}", secret))
    return exc  # type: ignore[return-value]


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

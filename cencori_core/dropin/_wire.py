"""The OpenAI wire format, both ways: request bodies to router keyword arguments, our results
to OpenAI JSON, and our errors to OpenAI status codes and error bodies.

Pure code (no HTTP package, no SDK): the transports in ``_transport`` and anyone serving the
same answers over a socket share it. Keywords are mapped generically: a body key the router's
operation accepts passes through as is (so keywords the router gains later pass too), a few
OpenAI spellings are renamed, parameters left at OpenAI's neutral default are dropped, and
anything else is an :class:`InvalidRequestError` (400) naming the keyword.
"""

from __future__ import annotations

import base64
import inspect
import json
import os
import struct
import time
from collections.abc import Callable, Mapping
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

from ..errors import (
    AllAttemptsFailedError,
    AuthenticationError,
    BudgetExceededError,
    CencoriError,
    ConfigurationError,
    ContentFilterError,
    ContextWindowExceededError,
    InvalidRequestError,
    MissingDependencyError,
    OutputValidationError,
    PolicyViolationError,
    ProviderAuthError,
    ProviderConnectionError,
    ProviderError,
    ProviderNotConfiguredError,
    ProviderRateLimitError,
    ProviderResponseError,
    ProviderServerError,
    ProviderTimeoutError,
    RateLimitExceededError,
    StreamInterruptedError,
    UnknownModelError,
)
from ..types import (
    ChatChunk,
    ChatResponse,
    EmbeddingResponse,
    ImageResponse,
    ModerationResponse,
    Transcription,
    Usage,
)

__all__ = ["accepted", "kwargs_for", "error_answer", "chat_body", "chunk_body",
           "usage_chunk_body", "embedding_body", "image_body", "transcription_body",
           "moderation_body", "form_fields", "json_body", "SPEECH_TYPES"]

# OpenAI parameters that mean "nothing special" at these values: dropped when the router does
# not take the keyword, so SDK and framework defaults (langchain sends n=1) never fail a call.
_NEUTRAL: dict[str, Any] = {
    "n": 1, "logprobs": False, "presence_penalty": 0, "frequency_penalty": 0,
    "parallel_tool_calls": True, "store": False, "temperature": 0, "stream": False,
}
# OpenAI spellings of a router keyword, used when the router lacks the OpenAI one.
_RENAMES = {"max_completion_tokens": "max_tokens"}
SPEECH_TYPES = {"mp3": "audio/mpeg", "wav": "audio/wav", "opus": "audio/ogg",
                "flac": "audio/flac", "aac": "audio/aac", "pcm": "audio/pcm"}

_SIGNATURES: dict[Any, frozenset[str]] = {}
_REQUIRED: dict[frozenset[str], tuple[str, ...]] = {}


def accepted(method: Callable[..., Any]) -> frozenset[str]:
    """The keyword names a router method takes (read once per method)."""
    key = getattr(method, "__func__", method)
    names = _SIGNATURES.get(key)
    if names is None:
        params = [p for p in inspect.signature(key).parameters.values()
                  if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD) and p.name != "self"]
        names = frozenset(p.name for p in params)
        _SIGNATURES[key] = names
        _REQUIRED[names] = tuple(p.name for p in params if p.default is p.empty)
    return names


def kwargs_for(op: str, body: Mapping[str, Any], names: frozenset[str],
               own: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The router keyword arguments of an OpenAI request body; ``own`` are keys the drop-in
    handles itself (``stream``, ``encoding_format``, ...), skipped here."""
    kw: dict[str, Any] = {}
    for key, value in body.items():
        if key in own or value is None:
            continue
        if key in names:
            kw[key] = value
            continue
        target = _RENAMES.get(key)
        if target is not None and target in names and body.get(target) is None:
            kw[target] = value
            continue
        neutral = _NEUTRAL.get(key, _NEUTRAL)
        if isinstance(value, bool) == isinstance(neutral, bool) and value == neutral:
            continue
        raise InvalidRequestError(
            f"{op}: parameter {key!r} is not supported by the router (it takes "
            f"{', '.join(sorted(names - {'messages', 'model'}))}); pass provider-specific "
            f"options as extra_body={{'provider_options': {{...}}}}", param=key)
    for name in _REQUIRED.get(names, ()):
        if name not in kw:
            raise InvalidRequestError(f"{op}: {name!r} is required", param=name)
    return kw


def json_body(raw: bytes) -> dict[str, Any]:
    """The JSON object of a request body; anything else is an InvalidRequestError."""
    try:
        body = json.loads(raw or b"{}")
    except ValueError as exc:
        raise InvalidRequestError(f"the request body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise InvalidRequestError("the request body must be a JSON object")
    return body


def form_fields(content_type: str, raw: bytes) -> dict[str, Any]:
    """The fields of a multipart/form-data body: text as str, files as (filename, bytes)."""
    if not content_type.startswith("multipart/form-data"):
        raise InvalidRequestError("the request must be multipart/form-data")
    msg = BytesParser(policy=HTTP).parsebytes(
        f"content-type: {content_type}\r\n\r\n".encode() + raw)
    out: dict[str, Any] = {}
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        filename = part.get_filename()
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        if isinstance(name, str):
            out[name] = (filename, data) if filename else data.decode()
    return out


# ---------------------------------------------------------------------------- answers


def new_id(prefix: str) -> str:
    return prefix + os.urandom(12).hex()


def chat_body(resp: ChatResponse, model: str) -> dict[str, Any]:
    out = resp.to_openai()
    out["id"] = resp.id or new_id("chatcmpl-")
    out["created"] = resp.created or int(time.time())
    out["model"] = resp.model or model
    return out


def chunk_body(chunk: ChatChunk, cid: str, created: int, model: str) -> dict[str, Any]:
    out = chunk.to_openai()
    out["id"], out["created"], out["model"] = cid, created, model
    return out


def usage_chunk_body(u: Usage, cid: str, created: int, model: str) -> dict[str, Any]:
    return chunk_body(ChatChunk(usage=u), cid, created, model)


def embedding_body(resp: EmbeddingResponse, model: str, encoding: str) -> dict[str, Any]:
    data = []
    for i, vec in enumerate(resp.vectors):
        emb: Any = (base64.b64encode(struct.pack(f"<{len(vec)}f", *vec)).decode("ascii")
                    if encoding == "base64" else vec)
        data.append({"object": "embedding", "index": i, "embedding": emb})
    u = resp.usage
    return {"object": "list", "data": data, "model": resp.model or model,
            "usage": {"prompt_tokens": u.prompt_tokens, "total_tokens": u.total_tokens}}


def image_body(resp: ImageResponse, as_url: bool) -> dict[str, Any]:
    data = []
    for img in resp.images:
        item: dict[str, Any] = {}
        if as_url and img.url is None and img.b64_json is not None:
            # no place to host the bytes in process: a data URL carries them
            item["url"] = f"data:{img.mime_type or 'image/png'};base64,{img.b64_json}"
        elif img.b64_json is not None:
            item["b64_json"] = img.b64_json
        else:
            item["url"] = img.url
        if img.revised_prompt is not None:
            item["revised_prompt"] = img.revised_prompt
        data.append(item)
    return {"created": int(time.time()), "data": data}


def transcription_body(resp: Transcription, fmt: str) -> tuple[str, bytes]:
    """(content type, body) of a transcription in the asked ``response_format``."""
    if fmt == "text":
        return "text/plain", resp.text.encode()
    if fmt == "verbose_json":
        body: dict[str, Any] = {"task": "transcribe", "language": resp.language,
                                "duration": resp.duration, "text": resp.text, "segments": []}
    else:
        body = {"text": resp.text}
    return "application/json", json.dumps(body).encode()


def moderation_body(resp: ModerationResponse, model: str) -> dict[str, Any]:
    return {"id": resp.id or new_id("modr-"), "model": resp.model or model,
            "results": [{"flagged": r.flagged, "categories": r.categories,
                         "category_scores": r.scores} for r in resp.results]}


# ---------------------------------------------------------------------------- errors

# (status, OpenAI error type, code) per error class, most specific first. The status picks the
# SDK's exception class (RateLimitError for 429, ...), so code written for OpenAI catches ours.
_ERRORS: tuple[tuple[type[BaseException], int, str, str | None], ...] = (
    (UnknownModelError, 404, "invalid_request_error", "model_not_found"),
    (ProviderNotConfiguredError, 401, "authentication_error", "provider_not_configured"),
    (MissingDependencyError, 500, "server_error", "missing_dependency"),
    (ConfigurationError, 500, "server_error", "configuration_error"),
    (InvalidRequestError, 400, "invalid_request_error", None),
    (AuthenticationError, 401, "authentication_error", "invalid_api_key"),
    (BudgetExceededError, 429, "insufficient_quota", "budget_exceeded"),
    (RateLimitExceededError, 429, "rate_limit_error", "rate_limit_exceeded"),
    (PolicyViolationError, 400, "invalid_request_error", "content_policy_violation"),
    (ContextWindowExceededError, 400, "invalid_request_error", "context_length_exceeded"),
    (ContentFilterError, 400, "invalid_request_error", "content_filter"),
    (ProviderAuthError, 401, "authentication_error", "provider_auth_error"),
    (ProviderRateLimitError, 429, "rate_limit_error", "rate_limit_exceeded"),
    (ProviderTimeoutError, 504, "timeout", "provider_timeout"),
    (ProviderConnectionError, 502, "server_error", "provider_connection_error"),
    (StreamInterruptedError, 502, "server_error", "stream_interrupted"),
    # the model's answer did not validate as the structured output type (issue 17)
    (OutputValidationError, 502, "server_error", "output_validation_failed"),
    (ProviderResponseError, 502, "server_error", "provider_response_error"),
    (ProviderServerError, 502, "server_error", "provider_server_error"),
    (ProviderError, 400, "invalid_request_error", "provider_error"),
    (CencoriError, 500, "server_error", None),
)


def error_answer(exc: BaseException) -> tuple[int, dict[str, str], dict[str, Any]]:
    """(status, headers, OpenAI error body) for one of our errors. An AllAttemptsFailedError
    answers as its last attempt's error would (the one that decided the outcome); its message
    lists every attempt. A provider's own 4xx/5xx status is kept where the class allows it."""
    last = exc
    while isinstance(last, AllAttemptsFailedError) and last.exceptions:
        last = last.exceptions[-1]
    status, kind, code = 500, "server_error", None
    for cls, st, k, c in _ERRORS:
        if isinstance(last, cls):
            status, kind, code = st, k, c
            break
    if isinstance(last, ProviderError):
        sc = last.status_code
        if sc is not None and 400 <= sc < 600 and (sc >= 500) == (status >= 500) \
                and status not in (401, 429) and code not in ("context_length_exceeded",
                                                               "content_filter"):
            status = sc  # the provider's 404/422 or 503 passes through
        if code == "provider_error":
            code = last.code or code
    headers: dict[str, str] = {}
    retry_after = getattr(last, "retry_after", None)
    if isinstance(retry_after, (int, float)) and retry_after >= 0:
        headers["retry-after"] = str(max(1, round(retry_after)))
        headers["retry-after-ms"] = str(int(retry_after * 1000))
    body = {"error": {"message": str(exc) or type(exc).__name__, "type": kind,
                      "param": getattr(last, "param", None), "code": code}}
    return status, headers, body

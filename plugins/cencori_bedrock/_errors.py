"""botocore exceptions mapped to cencori errors, by Bedrock's error code (the ``x-amzn-ErrorType``
of the answer, or the ``:exception-type`` of an exception inside a ConverseStream).

===============================================  ==========================================
ThrottlingException, ServiceQuotaExceeded         ProviderRateLimitError (retryable)
ServiceUnavailable, ModelNotReady, InternalServer ProviderServerError (retryable)
ModelTimeoutException                             ProviderTimeoutError (retryable)
ModelStreamErrorException, ModelErrorException    ProviderServerError (retryable)
ValidationException                               ProviderBadRequestError;
                                                  ContextWindowExceededError when it says the
                                                  input is too long for the model
AccessDenied, UnrecognizedClient, ExpiredToken... ProviderAuthError
ResourceNotFoundException                         ProviderBadRequestError (404: model not found)
anything else                                     by HTTP status
===============================================  ==========================================

Transport failures (timeouts, refused or dropped connections, a stream cut mid-frame) are
timeouts and connection errors, retryable; a frame that fails its CRC is a malformed answer.
botocore's ``ClientError`` keeps the whole parsed answer (headers included) in ``.response``: the
toolkit's scrubber masks the access key, secret key and session token there and in the message.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from botocore import eventstream
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    HTTPClientError,
    NoCredentialsError,
    ReadTimeoutError,
    ResponseStreamingError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError
from urllib3.exceptions import ProtocolError
from urllib3.exceptions import ReadTimeoutError as Urllib3ReadTimeout

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
from cencori_core.provider import parse_retry_after

__all__ = ["map_error", "CODES"]

CODES: dict[str, type[ProviderError]] = {
    "ThrottlingException": ProviderRateLimitError,
    "ServiceQuotaExceededException": ProviderRateLimitError,
    "TooManyRequestsException": ProviderRateLimitError,
    "ServiceUnavailableException": ProviderServerError,
    "ModelNotReadyException": ProviderServerError,
    "InternalServerException": ProviderServerError,
    "ModelErrorException": ProviderServerError,
    "ModelStreamErrorException": ProviderServerError,
    "ModelTimeoutException": ProviderTimeoutError,
    "ValidationException": ProviderBadRequestError,
    "AccessDeniedException": ProviderAuthError,
    "UnrecognizedClientException": ProviderAuthError,
    "InvalidSignatureException": ProviderAuthError,
    "IncompleteSignature": ProviderAuthError,
    "ExpiredTokenException": ProviderAuthError,
    "MissingAuthenticationTokenException": ProviderAuthError,
    "ResourceNotFoundException": ProviderBadRequestError,
}

# What Bedrock's ValidationException says when the prompt does not fit the model (Converse has
# no structured code for it; these are the wordings of the model families it serves).
_TOO_LONG = ("too long", "too many input tokens", "context window", "context length",
             "maximum context", "exceeds the maximum number of tokens", "input length")

# ModelNotReady is documented as retryable after a short wait; Bedrock sends no Retry-After.
_RETRYABLE = {ProviderRateLimitError, ProviderServerError, ProviderTimeoutError}


def map_error(exc: BaseException, *, provider: str, model: str) -> ProviderError | None:
    """The cencori error for a botocore/urllib3 exception, or None when it is neither."""
    if isinstance(exc, ClientError):
        return _client_error(exc, provider, model)
    if isinstance(exc, (ReadTimeoutError, ConnectTimeoutError, Urllib3ReadTimeout)):
        return ProviderTimeoutError(f"the request to Bedrock timed out ({type(exc).__name__})",
                                    provider=provider, model=model)
    if isinstance(exc, (EndpointConnectionError, ConnectionClosedError, BotoConnectionError,
                        ResponseStreamingError, HTTPClientError, ProtocolError)):
        return ProviderConnectionError(
            f"connection to Bedrock failed: {type(exc).__name__}: {exc}", provider=provider,
            model=model)
    if isinstance(exc, eventstream.ParserError):
        return ProviderResponseError(f"Bedrock's stream is not a valid event stream: "
                                     f"{type(exc).__name__}", provider=provider, model=model,
                                     retryable=True)
    if isinstance(exc, NoCredentialsError):
        return ProviderAuthError("no AWS credentials were found when signing the request: set "
                                 "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or the "
                                 "provider's aws_access_key_id/aws_secret_access_key",
                                 provider=provider, model=model)
    return None


def _client_error(exc: ClientError, provider: str, model: str) -> ProviderError:
    response: Mapping[str, Any] = exc.response or {}
    error = response.get("Error") or {}
    meta = response.get("ResponseMetadata") or {}
    code = str(error.get("Code") or "")
    # Exceptions inside an event stream carry the event's camelCase name (throttlingException).
    code = code[:1].upper() + code[1:]
    message = str(error.get("Message") or error.get("message") or code or "Bedrock error")
    status = meta.get("HTTPStatusCode")
    status = status if isinstance(status, int) and status >= 400 else None
    headers = meta.get("HTTPHeaders") or {}
    cls = CODES.get(code) or error_for_status(status)
    if cls is ProviderBadRequestError and code == "ValidationException" and any(
            s in message.lower() for s in _TOO_LONG):
        cls = ContextWindowExceededError
    retryable = True if cls in _RETRYABLE else None
    if code == "ModelErrorException" and status == 424:
        retryable = True
    return cls(f"{code or 'Error'}: {message}"[:600], provider=provider, model=model,
               status_code=status, retry_after=parse_retry_after(headers), retryable=retryable,
               request_id=meta.get("RequestId") or None, code=code or None)

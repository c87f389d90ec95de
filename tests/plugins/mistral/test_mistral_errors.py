"""Error mapping of the Mistral plugin: real SDK and transport exceptions (built from real
``httpx2`` responses, no network) to cencori errors, by status and structured body."""

from __future__ import annotations

import json

import httpx
import httpx2
import pytest
from cencori_mistral._errors import map_error
from mistral_wire import error_body
from mistralai.client import errors as sdk

from cencori_core.errors import (
    ContextWindowExceededError,
    InvalidRequestError,
    ProviderAuthError,
    ProviderBadRequestError,
    ProviderConnectionError,
    ProviderError,
    ProviderRateLimitError,
    ProviderResponseError,
    ProviderServerError,
    ProviderTimeoutError,
)
from cencori_core.provider import ErrorBoundary, Scrubber

KEY = "mistral-test-key-0123456789"
REQ = httpx2.Request("POST", "http://127.0.0.1:9/v1/chat/completions")


def _response(status, body=None, headers=None):
    content = json.dumps(body).encode() if isinstance(body, (dict, list)) else (body or b"")
    hdrs = {"content-type": "application/json", **(headers or {})}
    return httpx2.Response(status, content=content, headers=hdrs, request=REQ)


def _sdk_error(status, body=None, headers=None):
    res = _response(status, body, headers)
    return sdk.SDKError("API error occurred", res, res.text)


def _map(exc):
    return map_error(exc, provider="mistral", model="mistral-small-latest")


# What the provider raises: the toolkit's error boundary around map_error, with the key's scrubber.
BOUNDARY = ErrorBoundary(provider="mistral", map_error=map_error, scrubber=Scrubber([KEY]))


@pytest.mark.parametrize("status, body, cls", [
    (400, error_body("Assistant message must have either content or tool_calls"),
     ProviderBadRequestError),
    (400, error_body("Invalid model: x", type="invalid_model", code="1500"),
     ProviderBadRequestError),
    (401, {"message": "Unauthorized", "request_id": "b0c1"}, ProviderAuthError),
    (403, error_body("This key cannot use this model", type="authentication_error"),
     ProviderAuthError),
    (404, {"detail": "Not Found"}, ProviderBadRequestError),
    (429, error_body("Rate limit exceeded", type="rate_limited", code="1300"),
     ProviderRateLimitError),
    (500, error_body("Internal error", type="internal_server_error"), ProviderServerError),
    (502, b"upstream connect error", ProviderServerError),
    (503, None, ProviderServerError),
    (400, error_body("Prompt contains 140000 tokens and 0 draft tokens, too large for model "
                     "with 131072 maximum context length", type="invalid_request_invalid_args",
                     code="3051", raw_status_code=400), ContextWindowExceededError),
])
def test_status_and_code_pick_the_class(status, body, cls):
    err = _map(_sdk_error(status, body))
    assert type(err) is cls
    assert err.status_code == status and err.provider == "mistral"
    assert err.model == "mistral-small-latest"
    assert err.retryable is cls.default_retryable


def test_validation_error_names_the_field():
    body = error_body({"detail": [{"type": "extra_forbidden", "loc": ["body", "store"],
                                   "msg": "Extra inputs are not permitted", "input": False}]})
    res = _response(422, body)
    err = _map(sdk.HTTPValidationError(sdk.HTTPValidationErrorData(), res, res.text))
    assert type(err) is ProviderBadRequestError and err.status_code == 422
    assert "body.store: Extra inputs are not permitted" in str(err)
    assert err.code == "invalid_request_error"


def test_bare_validation_detail_list():
    err = _map(_sdk_error(422, {"detail": [{"loc": ["body", "messages", 1, "name"],
                                            "msg": "Extra inputs are not permitted"}]}))
    assert "body.messages.1.name: Extra inputs are not permitted" in str(err)


def test_retry_after_request_id_and_code():
    err = _map(_sdk_error(429, error_body("Rate limit exceeded", type="rate_limited",
                                          code="1300"),
                          {"retry-after": "7", "mistral-correlation-id": "corr-42"}))
    assert err.retry_after == 7.0 and err.request_id == "corr-42" and err.code == "1300"
    assert "Rate limit exceeded" in str(err) and "corr-42" in str(err)


def test_retry_after_ms_and_gateway_request_id():
    err = _map(_sdk_error(503, None, {"retry-after-ms": "1500", "x-kong-request-id": "kong-1"}))
    assert err.retry_after == 1.5 and err.request_id == "kong-1"


@pytest.mark.parametrize("header, retryable", [("false", False), ("true", True)])
def test_x_should_retry_overrides(header, retryable):
    status = 503 if header == "false" else 400
    err = _map(_sdk_error(status, error_body("x"), {"x-should-retry": header}))
    assert err.retryable is retryable


def test_unparseable_success_is_a_response_error():
    res = _response(200, b"{not json")
    exc = sdk.ResponseValidationError("Response validation failed", res, ValueError("bad"),
                                      res.text)
    err = _map(exc)
    assert type(err) is ProviderResponseError and err.status_code == 200


def test_success_with_a_wrong_content_type_is_a_response_error():
    res = httpx2.Response(200, content=b"<html>", headers={"content-type": "text/html"},
                          request=REQ)
    err = _map(sdk.SDKError("Unexpected response received", res, res.text))
    assert type(err) is ProviderResponseError


def test_error_body_the_sdk_could_not_parse_still_maps_by_status():
    res = _response(422, {"unexpected": True})
    exc = sdk.ResponseValidationError("Response validation failed", res, ValueError("x"),
                                      res.text)
    assert type(_map(exc)) is ProviderBadRequestError


@pytest.mark.parametrize("exc, cls", [
    (httpx2.ConnectError("refused", request=REQ), ProviderConnectionError),
    (httpx2.RemoteProtocolError("peer closed", request=REQ), ProviderConnectionError),
    (httpx2.ReadTimeout("timed out", request=REQ), ProviderTimeoutError),
    (httpx2.ConnectTimeout("timed out", request=REQ), ProviderTimeoutError),
    (httpx.ReadTimeout("timed out"), ProviderTimeoutError),  # a caller's legacy httpx client
    (httpx.ConnectError("refused"), ProviderConnectionError),
    (sdk.NoResponseError(), ProviderConnectionError),
])
def test_transport_failures(exc, cls):
    err = _map(exc)
    assert type(err) is cls and err.retryable is True


def test_sdk_request_validation_is_an_invalid_request():
    from mistralai.client import models

    with pytest.raises(ValueError) as info:  # pydantic's ValidationError
        models.ChatCompletionRequest.model_validate({"model": "m", "messages": [{"role": "x"}]})
    assert type(_map(info.value)) is InvalidRequestError


def test_unknown_exceptions_are_left_to_the_boundary():
    assert _map(RuntimeError("a bug")) is None
    err = BOUNDARY.translate(RuntimeError("a bug"), "mistral-small-latest")
    assert type(err) is ProviderError and err.provider == "mistral"


def test_the_key_never_appears_in_what_the_boundary_raises():
    body = {"message": f"bad key {KEY}", "request_id": "r1"}
    for exc in (_sdk_error(401, body), httpx2.ConnectError(f"failed for {KEY}", request=REQ)):
        err = BOUNDARY.translate(exc, "mistral-small-latest")
        assert KEY not in str(err) and KEY not in repr(err)
        assert KEY not in str(err.__cause__) and KEY not in repr(err.__cause__)


def test_every_mapped_error_is_a_provider_error_or_invalid_request():
    for exc in (_sdk_error(418, None), _sdk_error(409, None)):
        assert isinstance(_map(exc), ProviderError)

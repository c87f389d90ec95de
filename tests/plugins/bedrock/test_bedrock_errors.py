"""Bedrock error mapping end to end: AWS JSON errors (x-amzn-ErrorType) and exception frames
inside a ConverseStream, through the real boto3 client, to cencori errors; secrets (secret key,
session token) scrubbed from errors, causes, usage records and logs."""

from __future__ import annotations

import asyncio
import logging
import pickle
import traceback

import pytest
from bedrock_fixtures import *  # noqa: F403 - the fixtures (server, mode, ...)
from bedrock_wire import SECRET, TOKEN, BedrockServer, Turn, error_reply, router_for
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError
from cencori_bedrock._errors import map_error
from loopback import Reply

from cencori_core import (
    ContextWindowExceededError,
    ProviderAuthError,
    ProviderBadRequestError,
    ProviderConnectionError,
    ProviderError,
    ProviderRateLimitError,
    ProviderResponseError,
    ProviderServerError,
    ProviderTimeoutError,
    StreamInterruptedError,
)
from cencori_core.testing import UsageRecorder

HI = [{"role": "user", "content": "Hi"}]
NOVA = "bedrock/amazon.nova-pro-v1:0"


def call(router, mode, stream=False):
    if not stream:
        if mode == "sync":
            return router.chat(model=NOVA, messages=HI)
        return asyncio.run(router.achat(model=NOVA, messages=HI))
    if mode == "sync":
        with router.chat_stream(model=NOVA, messages=HI) as s:
            return list(s)

    async def run():
        async with router.achat_stream(model=NOVA, messages=HI) as s:
            return [c async for c in s]

    return asyncio.run(run())


def shown(err: BaseException) -> str:
    out = [str(err), repr(err), "".join(traceback.format_exception(err))]
    out.append(pickle.dumps(err).decode("latin-1"))
    cause = err.__cause__
    while cause is not None:
        out.append(repr(getattr(cause, "response", "")))
        cause = cause.__cause__
    return "\n".join(out)


CASES = [
    (429, "ThrottlingException", ProviderRateLimitError, True),
    (429, "ServiceQuotaExceededException", ProviderRateLimitError, True),
    (503, "ServiceUnavailableException", ProviderServerError, True),
    (429, "ModelNotReadyException", ProviderServerError, True),
    (500, "InternalServerException", ProviderServerError, True),
    (424, "ModelErrorException", ProviderServerError, True),
    (408, "ModelTimeoutException", ProviderTimeoutError, True),
    (400, "ValidationException", ProviderBadRequestError, False),
    (403, "AccessDeniedException", ProviderAuthError, False),
    (403, "UnrecognizedClientException", ProviderAuthError, False),
    (403, "ExpiredTokenException", ProviderAuthError, False),
    (404, "ResourceNotFoundException", ProviderBadRequestError, False),
]


@pytest.mark.parametrize("status,code,cls,retryable", CASES)
def test_error_codes(server, mode, status, code, cls, retryable):
    with router_for(server) as router:
        server.error(status, f"{code} said no.", code=code, request_id="req-err-1")
        with pytest.raises(cls) as info:
            call(router, mode)
    err = info.value
    assert type(err) is cls and err.retryable is retryable
    assert err.status_code == status and err.code == code and err.request_id == "req-err-1"
    assert f"{code} said no." in str(err) and isinstance(err.__cause__, ClientError)
    assert server.hits == 1  # botocore's own retries are off


@pytest.mark.parametrize("message", [
    "Input is too long for requested model.",
    "The model returned the following errors: prompt is too long: 250000 tokens > 200000 "
    "maximum",
    "This model's maximum context length is 128000 tokens."])
def test_context_window_overflow(server, mode, message):
    with router_for(server) as router:
        server.error(400, message, code="ValidationException")
        with pytest.raises(ContextWindowExceededError):
            call(router, mode)


def test_retryable_errors_are_retried(server, mode):
    records = UsageRecorder()
    with router_for(server, attempts=3, plugins=[records]) as router:
        server.error(429, "slow down", code="ThrottlingException")
        server.error(503, "busy", code="ServiceUnavailableException")
        assert call(router, mode).content == "Hello from Bedrock!"
    assert [a.status for a in records.records[0].attempts] == [
        "ProviderRateLimitError", "ProviderServerError", "ok"]


@pytest.mark.parametrize("kind,cls", [
    ("throttlingException", ProviderRateLimitError),
    ("modelStreamErrorException", ProviderServerError),
    ("internalServerException", ProviderServerError),
    ("serviceUnavailableException", ProviderServerError),
    ("validationException", ProviderBadRequestError)])
def test_exception_frames_inside_a_stream(server, mode, kind, cls):
    """An exception frame before any chunk is that error (retried when retryable); after text
    reached the caller it is StreamInterruptedError with the partial text."""
    server.script(Turn(text="Partial then failure.", stream_exception=(kind, f"{kind} hit")))
    with router_for(server) as router, pytest.raises(StreamInterruptedError) as info:
        call(router, mode, stream=True)
    assert info.value.partial.content == "Partial"
    assert isinstance(info.value.__cause__, cls) or isinstance(info.value, ProviderError)


def test_an_exception_frame_error_maps_by_its_type():
    exc = ClientError({"Error": {"Code": "throttlingException", "Message": "Too many tokens"}},
                      "ConverseStream")
    err = map_error(exc, provider="bedrock", model="m")
    assert isinstance(err, ProviderRateLimitError) and err.code == "ThrottlingException"


def test_transport_errors_map():
    assert isinstance(map_error(ReadTimeoutError(endpoint_url="http://x"), provider="bedrock",
                                model="m"), ProviderTimeoutError)
    assert isinstance(map_error(EndpointConnectionError(endpoint_url="http://x"),
                                provider="bedrock", model="m"), ProviderConnectionError)
    assert map_error(ValueError("not ours"), provider="bedrock", model="m") is None


def test_corrupt_frame_is_a_malformed_answer(server, mode):
    from bedrock_wire import event_frame

    good = event_frame("messageStart", {"role": "assistant"})
    bad = bytearray(event_frame("contentBlockDelta", {"contentBlockIndex": 0,
                                                      "delta": {"text": "x"}}))
    bad[-1] ^= 0xFF  # the message CRC no longer matches
    server.queue(Reply(lines=[good, bytes(bad)], content_type="application/vnd.amazon.eventstream"))
    with router_for(server) as router, pytest.raises(ProviderResponseError):
        call(router, mode, stream=True)


def test_not_json_answer_is_a_malformed_answer(server, mode):
    server.queue(Reply(status=200, body=b"<html>proxy</html>", content_type="text/html"))
    with router_for(server) as router, pytest.raises(ProviderError) as info:
        call(router, mode)
    assert info.value.retryable


def test_connection_refused_is_a_connection_error(mode):
    with BedrockServer() as gone:
        pass  # stopped: its port refuses connections now
    with router_for(gone) as router, pytest.raises(ProviderConnectionError) as info:
        call(router, mode)
    assert info.value.retryable


# ---------------------------------------------------------------------------- secrets


def test_secret_key_and_session_token_scrubbed_everywhere(server, mode, caplog):
    """The server echoes the secret key and session token in the message, the request id and
    a header: none of it shows in the error, its causes (boto3's parsed answer included), the
    usage record or the logs."""
    records = UsageRecorder()
    leak = f"key {SECRET} token {TOKEN}"
    with router_for(server, provider={"aws_session_token": TOKEN}, plugins=[records]) as router:
        for stream in (False, True):
            server.queue(error_reply(403, "UnrecognizedClientException", f"bad: {leak}",
                                     headers={"x-echo": leak}, request_id=SECRET))
            with caplog.at_level(logging.DEBUG), pytest.raises(ProviderAuthError) as info:
                call(router, mode, stream=stream)
            text = shown(info.value)
            assert SECRET not in text and TOKEN not in text
            assert "bad: key" in str(info.value)  # the rest of the message stays
    assert records.records and all(
        SECRET not in (a.error or "") and TOKEN not in (a.error or "")
        for rec in records.records for a in rec.attempts)
    assert SECRET not in caplog.text and TOKEN not in caplog.text


def test_credentials_from_the_environment_are_scrubbed(server, mode, monkeypatch):
    """Credentials boto3 finds itself (here the environment) are scrubbed like configured ones."""
    from cencori_core import RetryPolicy, Router

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAENVIRONMENT00001")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "envSECRETenvSECRETenvSECRET0123456789")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "envTOKENenvTOKENenvTOKEN")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    router = Router(providers={"bedrock": {"endpoint_url": server.base_url}},
                    plugins=["bedrock"], retry=RetryPolicy(max_attempts=1))
    server.error(403, "got envSECRETenvSECRETenvSECRET0123456789 and envTOKENenvTOKENenvTOKEN",
                 code="AccessDeniedException")
    with router, pytest.raises(ProviderAuthError) as info:
        call(router, mode)
    text = shown(info.value)
    assert "envSECRETenvSECRET" not in text and "envTOKENenvTOKEN" not in text
    assert server.requests[0].headers["x-amz-security-token"] == "envTOKENenvTOKENenvTOKEN"

"""Gemini errors: the mapping of google-genai exceptions (pure), then every error class end to
end through the router and the real SDK against the Gemini wire server, sync and async."""

from __future__ import annotations

import base64
import json
import socket
from collections.abc import Iterator

import httpx
import httpx2
import pytest
from cencori_google._errors import map_error, retry_delay
from google.genai import errors as genai_errors
from google_wire import (
    API_KEY,
    GeminiWire,
    error,
    error_info,
    quota_failure,
    response,
    retry_info,
    sse,
    text_response,
    usage,
)
from loopback import Reply
from parity import MODES, call, raises, stream
from sdk_paths import sdk_path  # noqa: F401 - autouse: every test on both SDK paths

from cencori_core import (
    AllAttemptsFailedError,
    ContentFilterError,
    ProviderAuthError,
    ProviderBadRequestError,
    ProviderConnectionError,
    ProviderError,
    ProviderRateLimitError,
    ProviderResponseError,
    ProviderServerError,
    ProviderTimeoutError,
    RetryPolicy,
    Router,
    StreamInterruptedError,
)
from cencori_core.provider import ErrorBoundary, Scrubber

MSG = [{"role": "user", "content": "hello"}]
ONCE = RetryPolicy(max_attempts=1)
FAST = RetryPolicy(max_attempts=3, initial_delay=0.001, max_delay=0.001, jitter=0)


def api_error(code: int, status: str | None, message: str = "boom", details: list | None = None,
              headers: dict[str, str] | None = None) -> genai_errors.APIError:
    body: dict = {"error": {"code": code, "message": message}}
    if status:
        body["error"]["status"] = status
    if details:
        body["error"]["details"] = details
    resp = httpx.Response(code, headers=headers or {}, json=body)
    cls = genai_errors.ClientError if code < 500 else genai_errors.ServerError
    return cls(code, body, resp)


def mapped(exc: BaseException) -> ProviderError:
    err = map_error(exc, provider="google", model="gemini-2.5-flash")
    assert err is not None
    return err


# ---------------------------------------------------------------------------- pure mapping


@pytest.mark.parametrize("code,status,cls,retryable", [
    (400, "INVALID_ARGUMENT", ProviderBadRequestError, False),
    (400, "FAILED_PRECONDITION", ProviderBadRequestError, False),
    (401, "UNAUTHENTICATED", ProviderAuthError, False),
    (403, "PERMISSION_DENIED", ProviderAuthError, False),
    (404, "NOT_FOUND", ProviderBadRequestError, False),
    (429, "RESOURCE_EXHAUSTED", ProviderRateLimitError, True),
    (500, "INTERNAL", ProviderServerError, True),
    (503, "UNAVAILABLE", ProviderServerError, True),
    (504, "DEADLINE_EXCEEDED", ProviderTimeoutError, True),
    (501, "UNIMPLEMENTED", ProviderBadRequestError, False),
    (502, None, ProviderServerError, True),          # a proxy's bare 502: by HTTP status
    (418, None, ProviderBadRequestError, False),
])
def test_status_mapping(code: int, status: str | None, cls: type, retryable: bool) -> None:
    err = mapped(api_error(code, status, "server says no"))
    assert type(err) is cls
    assert err.retryable is retryable
    assert err.status_code == code
    assert (err.provider, err.model) == ("google", "gemini-2.5-flash")
    assert "server says no" in str(err)
    if status:
        assert err.code == status


def test_bad_key_is_auth_although_gemini_says_400() -> None:
    err = mapped(api_error(400, "INVALID_ARGUMENT", "API key not valid.",
                           [error_info("API_KEY_INVALID")]))
    assert type(err) is ProviderAuthError and not err.retryable


def test_rate_limit_retry_delay_from_retry_info_then_headers() -> None:
    err = mapped(api_error(429, "RESOURCE_EXHAUSTED", details=[retry_info("37.25s")]))
    assert err.retry_after == 37.25 and err.retryable
    err = mapped(api_error(429, "RESOURCE_EXHAUSTED", headers={"retry-after": "3"}))
    assert err.retry_after == 3.0
    err = mapped(api_error(429, "RESOURCE_EXHAUSTED"))
    assert err.retry_after is None


def test_daily_quota_is_not_retryable_but_per_minute_is() -> None:
    day = mapped(api_error(429, "RESOURCE_EXHAUSTED", details=[
        quota_failure("GenerateRequestsPerDayPerProjectPerModel-FreeTier"), retry_info("40s")]))
    assert isinstance(day, ProviderRateLimitError) and day.retryable is False
    minute = mapped(api_error(429, "RESOURCE_EXHAUSTED", details=[
        quota_failure("GenerateRequestsPerMinutePerProjectPerModel-FreeTier")]))
    assert minute.retryable is True


def test_x_should_retry_overrides_the_class() -> None:
    assert mapped(api_error(503, "UNAVAILABLE", headers={"x-should-retry": "false"})
                  ).retryable is False
    assert mapped(api_error(400, "INVALID_ARGUMENT", headers={"x-should-retry": "true"})
                  ).retryable is True


def test_vertex_list_body_and_non_json_body() -> None:
    body = [{"error": {"code": 429, "message": "Resource exhausted.",
                       "status": "RESOURCE_EXHAUSTED"}}]
    err = mapped(genai_errors.ClientError(429, body, None))
    assert type(err) is ProviderRateLimitError and "Resource exhausted." in str(err)
    # what the SDK builds for an HTML error page: the reason phrase as status
    err = mapped(genai_errors.ServerError(502, {"message": "<html>", "status": "Bad Gateway"},
                                          None))
    assert type(err) is ProviderServerError and err.status_code == 502


@pytest.mark.parametrize("exc,cls", [
    (httpx.ReadTimeout("slow"), ProviderTimeoutError),
    (httpx2.ConnectTimeout("slow"), ProviderTimeoutError),
    (httpx.ConnectError("refused"), ProviderConnectionError),
    (httpx2.RemoteProtocolError("peer closed connection"), ProviderConnectionError),
    (json.JSONDecodeError("bad", "{", 0), ProviderResponseError),
])
def test_transport_and_parse_errors(exc: BaseException, cls: type) -> None:
    err = mapped(exc)
    assert type(err) is cls
    assert err.retryable


def test_foreign_exceptions_are_not_mapped() -> None:
    assert map_error(KeyError("x"), provider="google", model="m") is None


def test_key_is_scrubbed_from_our_message_and_the_chained_sdk_error() -> None:
    exc = api_error(400, "INVALID_ARGUMENT", f"bad key {API_KEY}")
    # The toolkit's error boundary (the provider's) scrubs what map_error returns and the chain.
    boundary = ErrorBoundary(provider="google", map_error=map_error, scrubber=Scrubber([API_KEY]))
    err = boundary.translate(exc, "gemini-2.5-flash")
    assert isinstance(err, ProviderError) and err.__cause__ is exc
    assert API_KEY not in str(err)
    assert API_KEY not in str(exc) and API_KEY not in repr(exc.args)
    assert API_KEY not in json.dumps(exc.details)


@pytest.mark.parametrize("text,seconds", [("53s", 53.0), ("45.837906927s", 45.837906927),
                                          ("0s", 0.0), ("soon", None), ("1.5", None)])
def test_retry_delay_parsing(text: str, seconds: float | None) -> None:
    assert retry_delay([retry_info(text)]) == seconds


# ---------------------------------------------------------------------------- end to end


@pytest.fixture
def wire() -> Iterator[GeminiWire]:
    with GeminiWire() as w:
        yield w


def router_for(wire: GeminiWire, *, key: str = API_KEY, **kw) -> Router:
    kw.setdefault("retry", ONCE)
    return Router(plugins=["google"], providers={"google": {"api_key": key,
                                                            "base_url": wire.base_url}}, **kw)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("reply,cls", [
    (error(400, "INVALID_ARGUMENT", "Invalid JSON payload"), ProviderBadRequestError),
    (error(403, "PERMISSION_DENIED", "Permission denied"), ProviderAuthError),
    (error(404, "NOT_FOUND", "models/gemini-9 is not found"), ProviderBadRequestError),
    (error(429, "RESOURCE_EXHAUSTED", "quota", details=[retry_info("0.01s")]),
     ProviderRateLimitError),
    (error(500, "INTERNAL", "internal"), ProviderServerError),
    (error(503, "UNAVAILABLE", "The model is overloaded."), ProviderServerError),
    (error(504, "DEADLINE_EXCEEDED", "deadline"), ProviderTimeoutError),
], ids=lambda v: getattr(v, "__name__", None) or str(getattr(v, "status", "")))
@pytest.mark.parametrize("op", ["chat", "chat_stream"])
def test_every_error_class_end_to_end(wire: GeminiWire, mode: str, reply: Reply, cls: type,
                                      op: str) -> None:
    wire.fail(reply)
    err = raises(router_for(wire), mode, op, cls, model="gemini-2.5-flash", messages=MSG)
    assert err.status_code == reply.status
    assert reply.body["error"]["message"] in str(err)
    assert len(wire.requests) == 1  # the SDK never retries on its own
    if cls is ProviderRateLimitError:
        assert err.retry_after == 0.01


@pytest.mark.parametrize("mode", MODES)
def test_wrong_key_is_auth_error_without_the_key(wire: GeminiWire, mode: str) -> None:
    bad = "AIzaSyWrong-key-0000000000000000000"
    err = raises(router_for(wire, key=bad), mode, "chat", ProviderAuthError,
                 model="gemini-2.5-flash", messages=MSG)
    assert err.status_code == 400
    for text in (str(err), repr(err), str(err.__cause__), repr(err.__cause__.args)):
        assert bad not in text


@pytest.mark.parametrize("mode", MODES)
def test_rate_limit_waits_retry_info_then_succeeds(wire: GeminiWire, mode: str) -> None:
    wire.fail(error(429, "RESOURCE_EXHAUSTED", details=[retry_info("0.02s")]))
    r = call(router_for(wire, retry=FAST), mode, "chat", model="gemini-2.5-flash",
             messages=MSG)
    assert r.content == "echo: hello"
    assert len(wire.requests) == 2
    assert [a.status for a in r.attempts] == ["ProviderRateLimitError", "ok"]
    assert r.attempts[1].delay == 0.02


@pytest.mark.parametrize("mode", MODES)
def test_daily_quota_is_not_retried(wire: GeminiWire, mode: str) -> None:
    wire.fail(error(429, "RESOURCE_EXHAUSTED", details=[
        quota_failure("GenerateRequestsPerDayPerProjectPerModel-FreeTier"),
        retry_info("0.01s")]))
    err = raises(router_for(wire, retry=FAST), mode, "chat", ProviderRateLimitError,
                 model="gemini-2.5-flash", messages=MSG)
    assert err.retryable is False and len(wire.requests) == 1


@pytest.mark.parametrize("mode", MODES)
def test_unavailable_is_retried_by_the_router_only(wire: GeminiWire, mode: str) -> None:
    wire.fail(error(503, "UNAVAILABLE", "overloaded"), times=5)
    err = raises(router_for(wire, retry=FAST), mode, "chat", AllAttemptsFailedError,
                 model="gemini-2.5-flash", messages=MSG)
    assert len(wire.requests) == 3
    assert all(isinstance(e, ProviderServerError) for e in err.exceptions)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("op", ["chat", "chat_stream"])
def test_blocked_prompt_is_content_filter_error(wire: GeminiWire, mode: str, op: str) -> None:
    blocked = response(None, block_reason="SAFETY", use=usage(7))
    if op == "chat":
        wire.reply("generateContent", blocked)
    else:
        wire.reply("streamGenerateContent", sse([blocked]))
    err = raises(router_for(wire, retry=FAST), mode, op, ContentFilterError,
                 model="gemini-2.5-flash", messages=MSG)
    assert "SAFETY" in str(err) and not err.retryable
    assert len(wire.requests) == 1


@pytest.mark.parametrize("mode", MODES)
def test_in_band_stream_error_after_text_is_interrupted(wire: GeminiWire, mode: str) -> None:
    wire.reply("streamGenerateContent", Reply(lines=[
        f"data: {json.dumps(response([{'text': 'Partial '}], finish=None))}\r\n\r\n".encode(),
        b'data: {"error": {"code": 500, "message": "Internal error", "status": "INTERNAL"}}'
        b"\r\n\r\n",
    ], content_type="text/event-stream"))
    err = raises(router_for(wire), mode, "chat_stream", StreamInterruptedError,
                 model="gemini-2.5-flash", messages=MSG)
    assert err.partial is not None and err.partial.content == "Partial "
    assert isinstance(err.__cause__, ProviderServerError)


@pytest.mark.parametrize("mode", MODES)
def test_in_band_error_first_is_retried(wire: GeminiWire, mode: str) -> None:
    wire.reply("streamGenerateContent", Reply(lines=[
        b'data: {"error": {"code": 503, "message": "overloaded", "status": "UNAVAILABLE"}}'
        b"\r\n\r\n"], content_type="text/event-stream"))
    chunks, s = stream(router_for(wire, retry=FAST), mode, model="gemini-2.5-flash",
                       messages=MSG)
    assert s.response.content == "echo: hello"
    assert len(wire.requests) == 2


@pytest.mark.parametrize("mode", MODES)
def test_cut_stream_is_interrupted_with_partial(wire: GeminiWire, mode: str) -> None:
    wire.reply("streamGenerateContent", sse([
        response([{"text": "one "}], finish=None, use=usage(4)),
        response([{"text": "two "}], finish=None, use=usage(4)),
        response([{"text": "three"}], use=usage(4, 3)),
    ], cut_after=1))
    err = raises(router_for(wire, retry=FAST), mode, "chat_stream", StreamInterruptedError,
                 model="gemini-2.5-flash", messages=MSG)
    assert err.partial.content == "one "
    assert isinstance(err.__cause__, ProviderConnectionError)
    assert len(wire.requests) == 1  # chunks reached the caller: no retry


@pytest.mark.parametrize("mode", MODES)
def test_cut_stream_with_a_checkpoint_is_not_resumed_by_the_sdk(wire: GeminiWire,
                                                                mode: str) -> None:
    # The SDK's automatic continuation would reconnect from the checkpoint: a retry hidden from
    # the router, replaying text the caller already has.
    first = response([{"text": "one "}], finish=None, use=usage(4))
    first["candidates"][0]["continuationToken"] = base64.b64encode(b"checkpoint-1").decode()
    wire.reply("streamGenerateContent", sse([first, response([{"text": "two"}])], cut_after=1))
    err = raises(router_for(wire, retry=FAST), mode, "chat_stream", StreamInterruptedError,
                 model="gemini-2.5-flash", messages=MSG)
    assert err.partial.content == "one "
    assert len(wire.requests) == 1


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("where", ["config", "call"])
def test_timeouts(wire: GeminiWire, mode: str, where: str) -> None:
    wire.fail(Reply.json(text_response("late"), delay=1.0))
    router = Router(plugins=["google"], retry=ONCE, timeout=60.0 if where == "call" else 0.2,
                    providers={"google": {"api_key": API_KEY, "base_url": wire.base_url}})
    kw = {"timeout": 0.2} if where == "call" else {}
    raises(router, mode, "chat", ProviderTimeoutError, model="gemini-2.5-flash", messages=MSG,
           **kw)


@pytest.mark.parametrize("mode", MODES)
def test_connection_refused(mode: str) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    router = Router(plugins=["google"], retry=ONCE, providers={"google": {
        "api_key": API_KEY, "base_url": f"http://127.0.0.1:{port}"}})
    err = raises(router, mode, "chat", ProviderConnectionError, model="gemini-2.5-flash",
                 messages=MSG)
    assert err.retryable

"""Error mapping of the OpenAI plugin, through the router and the real SDK against the loopback
server: status codes, error-body codes, Retry-After headers, timeouts, broken connections and
streams, and the API key kept out of every error, cause and log record."""

from __future__ import annotations

import logging
import socket
import traceback
from email.utils import formatdate
from typing import Any

import openai
import pytest
from loopback import Reply
from openai_wire import OpenAIWire, openai_wire

from cencori_core import (
    ContentFilterError,
    ContextWindowExceededError,
    ProviderAuthError,
    ProviderBadRequestError,
    ProviderConnectionError,
    ProviderRateLimitError,
    ProviderResponseError,
    ProviderServerError,
    ProviderTimeoutError,
    RetryPolicy,
    Router,
    StreamInterruptedError,
)

__all__ = ["openai_wire"]  # the fixture, imported for pytest

KEY = "sk-test-errors-5f3a9c1e7b2d4a60"
USER = [{"role": "user", "content": "Hi"}]


@pytest.fixture(params=["sync", "async"])
def mode(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
async def router(openai_wire: OpenAIWire):
    r = Router(providers={"openai": {"api_key": KEY, "base_url": openai_wire.base_url}},
               plugins=["openai"], retry=RetryPolicy(max_attempts=1))
    yield r
    await r.aclose()


async def chat(router: Router, mode: str, **kw: Any) -> Any:
    kw.setdefault("model", "gpt-4o")
    kw.setdefault("messages", USER)
    if mode == "sync":
        return router.chat(**kw)
    return await router.achat(**kw)


async def stream_text(router: Router, mode: str, **kw: Any) -> str:
    kw.setdefault("model", "gpt-4o")
    kw.setdefault("messages", USER)
    if mode == "sync":
        with router.chat_stream(**kw) as s:
            return "".join(c.delta for c in s)
    async with router.achat_stream(**kw) as s:
        return "".join([c.delta async for c in s])


async def failing(router: Router, mode: str, exc_type: type[BaseException],
                  **kw: Any) -> BaseException:
    with pytest.raises(exc_type) as info:
        await chat(router, mode, **kw)
    return info.value


# ---------------------------------------------------------------------------- status codes


@pytest.mark.parametrize("status,code,typ,cls", [
    (401, "invalid_api_key", "invalid_request_error", ProviderAuthError),
    (403, "unsupported_country_region_territory", "request_forbidden", ProviderAuthError),
    (400, "invalid_value", "invalid_request_error", ProviderBadRequestError),
    (404, "model_not_found", "invalid_request_error", ProviderBadRequestError),
    (422, None, "invalid_request_error", ProviderBadRequestError),
    (500, None, "server_error", ProviderServerError),
    (503, None, "server_error", ProviderServerError),
    (400, "context_length_exceeded", "invalid_request_error", ContextWindowExceededError),
    (400, "content_filter", "invalid_request_error", ContentFilterError),
    (400, "content_policy_violation", "invalid_request_error", ContentFilterError),
])
async def test_status_and_body_code_pick_the_class(router, openai_wire, mode, status, code, typ,
                                                   cls):
    openai_wire.fail(status, "It failed.", code=code, type=typ, request_id="req_abc123")
    err = await failing(router, mode, cls)
    assert type(err) is cls
    assert (err.provider, err.model, err.status_code, err.request_id) == (
        "openai", "gpt-4o", status, "req_abc123")
    assert err.code == code and "It failed." in str(err)
    assert err.retryable is (status >= 500)
    assert isinstance(err.__cause__, openai.APIStatusError)
    assert openai_wire.hits == 1  # the SDK does not retry: the router owns retries


@pytest.mark.parametrize("headers,expected", [
    ({"retry_after_ms": 250}, 0.25),
    ({"retry_after": 7}, 7.0),
    ({"retry_after_ms": 1500, "retry_after": 9}, 1.5),  # the finer header wins
])
async def test_rate_limit_retry_after(router, openai_wire, mode, headers, expected):
    openai_wire.fail(429, "Rate limit reached", code="rate_limit_exceeded", **headers)
    err = await failing(router, mode, ProviderRateLimitError)
    assert err.retry_after == pytest.approx(expected) and err.retryable is True


async def test_rate_limit_retry_after_http_date(router, openai_wire, mode):
    openai_wire.fail(429, "slow down", retry_after=formatdate(usegmt=True))
    err = await failing(router, mode, ProviderRateLimitError)
    assert err.retry_after is not None and 0.0 <= err.retry_after <= 5.0


async def test_exhausted_quota_is_not_retryable(router, openai_wire, mode):
    openai_wire.fail(429, "You exceeded your current quota", code="insufficient_quota",
                     type="insufficient_quota")
    err = await failing(router, mode, ProviderRateLimitError)
    assert err.retryable is False


async def test_x_should_retry_overrides_the_class(router, openai_wire, mode):
    openai_wire.fail(503, "overloaded", should_retry=False)
    assert (await failing(router, mode, ProviderServerError)).retryable is False
    openai_wire.fail(400, "try again", should_retry=True)
    assert (await failing(router, mode, ProviderBadRequestError)).retryable is True


async def test_router_retries_honouring_retry_after_ms(openai_wire, mode):
    router = Router(providers={"openai": {"api_key": KEY, "base_url": openai_wire.base_url}},
                    plugins=["openai"], retry=RetryPolicy(max_attempts=3))
    openai_wire.fail(429, "busy", retry_after_ms=1, times=2)
    try:
        r = await chat(router, mode)
    finally:
        await router.aclose()
    assert r.content == "echo: Hi" and openai_wire.hits == 3
    assert [a.status for a in r.attempts] == ["ProviderRateLimitError"] * 2 + ["ok"]


# ---------------------------------------------------------------------------- transport


async def test_timeout_from_config_and_per_call(openai_wire, mode):
    router = Router(providers={"openai": {"api_key": KEY, "base_url": openai_wire.base_url,
                                          "timeout": 0.2}},
                    plugins=["openai"], retry=RetryPolicy(max_attempts=1))
    try:
        openai_wire.chat_reply("late", delay=1.0)
        err = await failing(router, mode, ProviderTimeoutError)
        assert err.retryable is True and isinstance(err.__cause__, openai.APITimeoutError)
        openai_wire.chat_reply("late", delay=1.0)
        await failing(router, mode, ProviderTimeoutError, timeout=0.1)
        assert openai_wire.last().headers["x-stainless-read-timeout"] == "0.1"
    finally:
        await router.aclose()


async def test_connection_refused(mode):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again before the call: nothing listens there
    router = Router(providers={"openai": {"api_key": KEY,
                                          "base_url": f"http://127.0.0.1:{port}/v1"}},
                    plugins=["openai"], retry=RetryPolicy(max_attempts=1))
    try:
        err = await failing(router, mode, ProviderConnectionError)
    finally:
        await router.aclose()
    assert err.retryable is True and isinstance(err.__cause__, openai.APIConnectionError)


async def test_unparseable_answer(router, openai_wire, mode):
    openai_wire.queue(Reply(status=200, body="<html>gateway</html>",
                            content_type="application/json"))
    err = await failing(router, mode, ProviderResponseError)
    # a proxy's page or a cut body: worth another attempt
    assert err.retryable is True and "not valid JSON" in str(err)


# ---------------------------------------------------------------------------- streams


async def test_stream_refused_before_the_first_chunk_is_a_plain_error(router, openai_wire,
                                                                      mode):
    openai_wire.fail(429, "busy", retry_after=2)
    with pytest.raises(ProviderRateLimitError) as info:
        await stream_text(router, mode)
    assert info.value.retry_after == 2.0


async def test_error_event_mid_stream(router, openai_wire, mode):
    openai_wire.chat_reply("partial answer here", chunk_size=4, error_after=3)
    with pytest.raises(StreamInterruptedError) as info:
        await stream_text(router, mode)
    err = info.value
    assert isinstance(err.__cause__, ProviderServerError)
    assert err.partial is not None and err.partial.content == "partial "  # 2 deltas arrived


async def test_stream_cut_mid_way(router, openai_wire, mode):
    openai_wire.chat_reply("a long answer that will not arrive whole", chunk_size=3,
                           cut_after=4)
    with pytest.raises(StreamInterruptedError) as info:
        await stream_text(router, mode)
    assert isinstance(info.value.__cause__, ProviderConnectionError)
    assert info.value.partial.content.startswith("a l")


# ---------------------------------------------------------------------------- the key


async def test_key_never_appears_in_errors_causes_or_logs(router, openai_wire, mode, caplog):
    caplog.set_level(logging.DEBUG)
    # A careless compatible server echoing the key in its error message.
    openai_wire.fail(401, f"Incorrect API key provided: {KEY}", code="invalid_api_key")
    err = await failing(router, mode, ProviderAuthError)
    texts = [str(err), repr(err), str(err.__cause__), repr(err.__cause__),
             "".join(traceback.format_exception(err)), repr(router),
             repr(router.provider("openai")), repr(router.provider("openai").config)]
    texts += [r.getMessage() for r in caplog.records]
    assert all(KEY not in t for t in texts)
    assert "***" in str(err)

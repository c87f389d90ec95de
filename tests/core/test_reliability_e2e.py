"""Reliability end to end: the real openai SDK through the router against a loopback server
with injected faults (status codes, every form of Retry-After, x-should-retry, dropped
connections, slow answers, streams cut mid-way), sync and async."""

from __future__ import annotations

import asyncio
from email.utils import formatdate

import pytest
from loopback import Reply
from openai_wire import ChatReply, OpenAIWire, chat_sse_events
from parity import MODES, call, raises, stream

from cencori_core import (
    AllAttemptsFailedError,
    ProviderBadRequestError,
    ProviderConnectionError,
    ProviderServerError,
    ProviderTimeoutError,
    RetryPolicy,
    Router,
    StreamInterruptedError,
)
from cencori_core.testing import UsageRecorder

MSG = [{"role": "user", "content": "hello"}]
FAST = RetryPolicy(max_attempts=3, initial_delay=0.001, jitter=0)


@pytest.fixture
def wire():
    with OpenAIWire() as w:
        yield w


def router_for(wire, **kw):
    kw.setdefault("retry", FAST)
    return Router(plugins=["openai", *kw.pop("plugins", [])],
                  providers={"openai": {"api_key": "sk-test-reliability-0000000000",
                                        "base_url": wire.base_url}}, **kw)


@pytest.mark.parametrize("mode", MODES)
def test_permanent_500_makes_exactly_three_requests(mode, wire):
    wire.fail(500, times=10)
    err = raises(router_for(wire), mode, "chat", AllAttemptsFailedError, model="gpt-4o",
                 messages=MSG)
    # SDK retries are off: the router's 3 attempts are the only HTTP requests
    assert wire.hits_to("/chat/completions") == 3
    assert all(isinstance(e, ProviderServerError) and e.status_code == 500
               for e in err.exceptions)
    assert err.exceptions[0].request_id == "req_wire_fault"


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("headers", "expected"), [
    ({"retry_after_ms": 20}, 0.02),
    ({"retry_after": "0.03"}, 0.03),
    ({"retry_after": formatdate(0, usegmt=True)}, 0.0),   # an HTTP date in the past
])
def test_every_form_of_retry_after(mode, wire, headers, expected):
    wire.fail(429, code="rate_limit_exceeded", **headers)
    r = call(router_for(wire), mode, "chat", model="gpt-4o", messages=MSG)
    assert [a.status for a in r.attempts] == ["ProviderRateLimitError", "ok"]
    assert r.attempts[1].delay == pytest.approx(expected, abs=1e-6)
    assert wire.hits == 2


@pytest.mark.parametrize("mode", MODES)
def test_x_should_retry_header_wins(mode, wire):
    router = router_for(wire)
    wire.fail(503, should_retry=False)
    raises(router, mode, "chat", ProviderServerError, model="gpt-4o", messages=MSG)
    assert wire.hits == 1
    wire.fail(409, should_retry=True)
    assert call(router, mode, "chat", model="gpt-4o", messages=MSG).attempts[-1].status == "ok"
    assert wire.hits == 3
    wire.fail(400, code="invalid_value")
    raises(router, mode, "chat", ProviderBadRequestError, model="gpt-4o", messages=MSG)
    assert wire.hits == 4


@pytest.mark.parametrize("mode", MODES)
def test_dropped_connection_is_retried(mode, wire):
    wire.queue(Reply(lines=iter([b"{"]), cut_after=0, content_type="application/json"))
    r = call(router_for(wire), mode, "chat", model="gpt-4o", messages=MSG)
    assert r.attempts[0].status in ("ProviderConnectionError", "ProviderResponseError")
    assert r.content == "echo: hello" and wire.hits == 2


@pytest.mark.parametrize("mode", MODES)
def test_slow_answer_times_out_per_call(mode, wire):
    wire.fail(200, body={}, delay=1.0, times=2)
    err = raises(router_for(wire, retry=RetryPolicy(max_attempts=2, initial_delay=0)),
                 mode, "chat", AllAttemptsFailedError, model="gpt-4o", messages=MSG,
                 timeout=0.1)
    assert [type(e) for e in err.exceptions] == [ProviderTimeoutError] * 2


@pytest.mark.parametrize("mode", MODES)
def test_stream_cut_midway_raises_interrupted_with_partial(mode, wire):
    rec = UsageRecorder()
    body = {"model": "gpt-4o", "stream_options": {"include_usage": True}}
    events = chat_sse_events(ChatReply(content="The quick brown fox jumps", chunk_size=5), body)
    wire.queue(Reply.sse(events, cut_after=3))  # role chunk + two content chunks
    router = router_for(wire, plugins=[rec])
    err = raises(router, mode, "chat_stream", StreamInterruptedError, model="gpt-4o",
                 messages=MSG)
    assert err.partial.content == "The quick "
    assert err.partial.usage.source == "estimated"
    assert isinstance(err.__cause__, (ProviderConnectionError, Exception))
    assert wire.hits == 1  # chunks had reached the caller: no retry
    assert [r.status for r in rec.records] == ["interrupted"]


@pytest.mark.parametrize("mode", MODES)
def test_stream_error_before_first_chunk_is_retried(mode, wire):
    wire.fail(502, times=2)
    chunks, s = stream(router_for(wire), mode, model="gpt-4o", messages=MSG)
    assert "".join(c.delta for c in chunks) == "echo: hello"
    assert [a.status for a in s.response.attempts] == ["ProviderServerError"] * 2 + ["ok"]
    assert s.response.usage.source == "provider"


def test_cancel_aborts_the_request_and_records_cancelled(wire):
    rec = UsageRecorder()
    wire.fail(200, body={}, delay=2.0)
    router = router_for(wire, plugins=[rec])

    async def run():
        task = asyncio.create_task(router.achat(model="gpt-4o", messages=MSG))
        for _ in range(1000):  # bounded: cancel once the server holds the request, not by a clock
            if wire.hits:
                break
            await asyncio.sleep(0.005)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await router.aclose()

    asyncio.run(run())
    assert [r.status for r in rec.records] == ["cancelled"]
    assert wire.hits == 1

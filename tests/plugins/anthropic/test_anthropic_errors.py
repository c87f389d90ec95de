"""End-to-end error handling of the anthropic plugin: every error class from real status codes
and error bodies, retries driven by Retry-After / x-should-retry, in-band stream errors, dropped
connections and timeouts, through the real SDK, sync and async."""

from __future__ import annotations

import pytest
from anthropic_wire import AnthropicServer, Turn
from loopback import Reply
from sdk_paths import sdk_path  # noqa: F401 - autouse: every test on both SDK paths

from cencori_core import (
    AllAttemptsFailedError,
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

KEY = "sk-ant-test-0123456789abcdef"
HI = [{"role": "user", "content": "Hello!"}]
MODEL = "claude-haiku-4-5"


@pytest.fixture
def server():
    with AnthropicServer() as s:
        yield s


@pytest.fixture(params=["sync", "async"])
def mode(request):
    return request.param


def make_router(server: AnthropicServer, attempts: int = 1, **provider) -> Router:
    return Router(providers={"anthropic": {"api_key": KEY, "base_url": server.base_url,
                                           **provider}},
                  plugins=["anthropic"],
                  retry=RetryPolicy(max_attempts=attempts, initial_delay=0, max_delay=0,
                                    jitter=0))


async def call(router: Router, mode: str, streamed: bool = False, **kw):
    kw.setdefault("model", MODEL)
    kw.setdefault("messages", HI)
    try:
        if streamed:
            if mode == "sync":
                with router.chat_stream(**kw) as s:
                    chunks = list(s)
            else:
                chunks = []
                async with router.achat_stream(**kw) as s:
                    async for c in s:
                        chunks.append(c)
            return s.response, chunks
        if mode == "sync":
            return router.chat(**kw)
        return await router.achat(**kw)
    finally:
        await router.aclose()


@pytest.mark.parametrize("streamed", [False, True])
@pytest.mark.parametrize(("status", "kind", "cls"), [
    (400, "invalid_request_error", ProviderBadRequestError),
    (401, "authentication_error", ProviderAuthError),
    (402, "billing_error", ProviderRateLimitError),
    (403, "permission_error", ProviderAuthError),
    (404, "not_found_error", ProviderBadRequestError),
    (413, "request_too_large", ProviderBadRequestError),
    (429, "rate_limit_error", ProviderRateLimitError),
    (500, "api_error", ProviderServerError),
    (504, "timeout_error", ProviderTimeoutError),
    (529, "overloaded_error", ProviderServerError),
])
async def test_every_status_and_type(server, mode, status, kind, cls, streamed):
    server.error(status, kind, "something went wrong")
    with pytest.raises(cls) as info:
        await call(make_router(server), mode, streamed)
    err = info.value
    assert type(err) is cls
    assert (err.provider, err.model, err.status_code) == ("anthropic",
                                                          "claude-haiku-4-5-20251001", status)
    assert err.request_id and err.request_id.startswith("req_")
    assert err.code == kind and kind in str(err)
    assert err.__cause__ is not None
    assert server.hits == 1


async def test_overloaded_529_is_retried(server, mode):
    server.error(529, "overloaded_error", "Overloaded", headers={"retry-after": "0"})
    r = await call(make_router(server, attempts=3), mode)
    assert r.content == "Hello from Claude!"
    assert [a.status for a in r.attempts] == ["ProviderServerError", "ok"]
    assert r.attempts[0].status_code == 529
    assert server.hits == 2


async def test_rate_limit_honours_retry_after(server, mode):
    server.error(429, "rate_limit_error", "slow down", headers={"retry-after-ms": "10"})
    r = await call(make_router(server, attempts=2), mode)
    assert r.attempts[1].delay == pytest.approx(0.01)
    assert server.hits == 2


async def test_a_long_retry_after_is_not_slept(server, mode):
    server.error(429, "rate_limit_error", "slow down", headers={"retry-after": "3600"})
    with pytest.raises(ProviderRateLimitError) as info:
        await call(make_router(server, attempts=3), mode)
    assert info.value.retry_after == 3600.0 and info.value.retryable
    assert server.hits == 1


@pytest.mark.parametrize(("status", "code"), [
    (429, "enforced_spend_limit_reached"),
    (429, "contract_spend_limit_reached"),
    (402, "linked_organization_spend_limit_reached"),
])
async def test_spend_limits_are_not_retried(server, mode, status, code):
    kind = "rate_limit_error" if status == 429 else "billing_error"
    server.error(status, kind, "spend limit", error_code=code, headers={"retry-after": "0"})
    with pytest.raises(ProviderRateLimitError) as info:
        await call(make_router(server, attempts=3), mode)
    assert not info.value.retryable and info.value.code == code
    assert server.hits == 1


async def test_x_should_retry_false_wins(server, mode):
    server.error(529, "overloaded_error", headers={"x-should-retry": "false"})
    with pytest.raises(ProviderServerError) as info:
        await call(make_router(server, attempts=3), mode)
    assert not info.value.retryable
    assert server.hits == 1


async def test_in_band_error_before_content_is_retried(server, mode):
    # message_start and ping, then an overloaded error event: nothing reached the caller yet.
    server.script(Turn(error_after=2), Turn(text="Second try."))
    response, chunks = await call(make_router(server, attempts=2), mode, streamed=True)
    assert response.content == "Second try."
    assert [a.status for a in response.attempts] == ["ProviderServerError", "ok"]
    assert server.hits == 2


async def test_in_band_error_after_content_interrupts_with_the_partial(server, mode):
    server.script(Turn(text="One two three four", error_after=5))
    with pytest.raises(StreamInterruptedError) as info:
        await call(make_router(server, attempts=3), mode, streamed=True)
    err = info.value
    assert err.partial.content == "One two"
    assert isinstance(err.__cause__, ProviderServerError) and err.status_code == 529
    assert server.hits == 1


async def test_dropped_connection(server, mode):
    server.script(Turn(text="One two three four", cut_after=5))
    with pytest.raises(StreamInterruptedError) as info:
        await call(make_router(server), mode, streamed=True)
    assert isinstance(info.value.__cause__, ProviderConnectionError)
    assert info.value.partial.content == "One two"
    server.script(Turn(cut_after=1), Turn(cut_after=1))
    with pytest.raises(AllAttemptsFailedError) as group:
        await call(make_router(server, attempts=2), mode, streamed=True)
    assert all(isinstance(e, ProviderConnectionError) for e in group.value.exceptions)


@pytest.mark.parametrize("streamed", [False, True])
async def test_timeout(server, mode, streamed):
    server.queue(Reply.json({}, delay=1.0))
    with pytest.raises(ProviderTimeoutError) as info:
        await call(make_router(server, timeout=0.2), mode, streamed)
    assert info.value.retryable


async def test_unparseable_error_body_goes_by_status(server, mode):
    server.fail(503, "<html>upstream down</html>")
    with pytest.raises(ProviderServerError) as info:
        await call(make_router(server), mode)
    assert info.value.status_code == 503 and info.value.code is None


async def test_the_key_never_shows(server, mode):
    server.error(401, "authentication_error", f"invalid x-api-key {KEY}")
    with pytest.raises(ProviderError) as info:
        await call(make_router(server), mode)
    err = info.value
    assert KEY not in str(err) and KEY not in repr(err)
    assert KEY not in str(err.args)



@pytest.mark.parametrize(("streamed", "reply"), [
    (False, lambda: Reply(body=b"{not json", content_type="application/json")),
    (False, lambda: Reply(body={"unexpected": True})),
    (True, lambda: Reply.sse([("message_start", "{not json")], named=True, done=False)),
])
async def test_unparseable_answers(server, mode, streamed, reply):
    server.queue(reply())  # a fresh reply: a stream's body is a one-shot generator
    with pytest.raises(ProviderResponseError) as info:
        await call(make_router(server), mode, streamed)
    assert info.value.provider == "anthropic"

"""Cohere error mapping: SDK exceptions to cencori errors (pure), then every error class end to
end through the router and the real SDK against the loopback server, sync and async."""

from __future__ import annotations

import logging
import socket

import httpx
import pytest
from cencori_cohere._errors import map_error
from cohere.core import ApiError, ParsingError
from cohere.core.http_sse import SSEError
from cohere_wire import KEY, ChatScript, CohereServer, router_for
from loopback import Reply

from cencori_core import (
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


@pytest.fixture(scope="module")
def shared_server():
    with CohereServer() as s:
        yield s


@pytest.fixture
def server(shared_server):
    shared_server.reset()
    return shared_server


def api_error(status: int, body: object = None, headers: dict[str, str] | None = None) -> ApiError:
    return ApiError(status_code=status, headers=headers or {}, body=body)


def mapped(exc: BaseException) -> ProviderError | None:
    return map_error(exc, provider="cohere", model="command-a-03-2025")


# ---------------------------------------------------------------------------- pure mapping


@pytest.mark.parametrize("status,cls", [
    (400, ProviderBadRequestError), (401, ProviderAuthError), (402, ProviderBadRequestError),
    (403, ProviderAuthError), (404, ProviderBadRequestError), (422, ProviderBadRequestError),
    (429, ProviderRateLimitError), (498, ProviderAuthError), (499, ProviderConnectionError),
    (500, ProviderServerError), (501, ProviderServerError), (503, ProviderServerError),
    (504, ProviderServerError),
])
def test_status_classes(status, cls):
    err = mapped(api_error(status, {"id": "req-1", "message": "nope"}))
    assert type(err) is cls
    assert err.status_code == status and err.request_id == "req-1"
    assert err.provider == "cohere" and err.model == "command-a-03-2025"
    assert "nope" in str(err)


def test_retry_after_and_should_retry_headers():
    err = mapped(api_error(429, {"message": "slow down"}, {"retry-after": "7"}))
    assert err.retry_after == 7.0 and err.retryable
    err = mapped(api_error(429, {"message": "slow down"}, {"retry-after-ms": "250"}))
    assert err.retry_after == 0.25
    err = mapped(api_error(500, {"message": "x"}, {"x-should-retry": "false"}))
    assert err.retryable is False
    err = mapped(api_error(400, {"message": "x"}, {"x-should-retry": "true"}))
    assert err.retryable is True


def test_bodies_without_message_and_request_id_header():
    err = mapped(api_error(502, "<html>Bad gateway</html>", {"x-request-id": "hdr-9"}))
    assert "Bad gateway" in str(err) and err.request_id == "hdr-9"
    assert "HTTP 503" in str(mapped(api_error(503, None)))


def test_unparseable_success_and_transport_failures():
    assert type(mapped(api_error(200, "not json"))) is ProviderResponseError
    assert type(mapped(ParsingError(status_code=200, body={}))) is ProviderResponseError
    assert type(mapped(httpx.ReadTimeout("slow"))) is ProviderTimeoutError
    assert type(mapped(httpx.ConnectError("refused"))) is ProviderConnectionError
    assert type(mapped(httpx.RemoteProtocolError("cut"))) is ProviderConnectionError
    assert type(mapped(SSEError("bad content type"))) is ProviderResponseError
    assert mapped(ValueError("a bug of ours")) is None


# ---------------------------------------------------------------------------- end to end

STATUS_CASES = [
    (400, ProviderBadRequestError, False), (401, ProviderAuthError, False),
    (403, ProviderAuthError, False), (404, ProviderBadRequestError, False),
    (422, ProviderBadRequestError, False), (429, ProviderRateLimitError, True),
    (498, ProviderAuthError, False), (499, ProviderConnectionError, True),
    (500, ProviderServerError, True), (503, ProviderServerError, True),
    (504, ProviderServerError, True),
]


def _check(err: ProviderError, status: int, retryable: bool, server: CohereServer) -> None:
    assert err.status_code == status and err.retryable is retryable
    assert err.request_id == "err-7d4c"
    assert "scripted failure" in str(err)
    assert server.hits == 1  # the SDK did not retry on its own
    for text in (str(err), repr(err), str(err.__cause__)):
        assert KEY not in text


@pytest.mark.parametrize("status,cls,retryable", STATUS_CASES)
def test_chat_errors_sync(server, status, cls, retryable, caplog):
    caplog.set_level(logging.DEBUG)
    server.error(status, "scripted failure")
    with router_for(server) as router, pytest.raises(cls) as info:
        router.chat(model="command-a", messages=HI)
    _check(info.value, status, retryable, server)
    assert KEY not in caplog.text


@pytest.mark.parametrize("status,cls,retryable", STATUS_CASES)
async def test_chat_errors_async(server, status, cls, retryable):
    server.error(status, "scripted failure")
    async with router_for(server) as router:
        with pytest.raises(cls) as info:
            await router.achat(model="command-a", messages=HI)
    _check(info.value, status, retryable, server)


@pytest.mark.parametrize("status,cls,retryable", [(401, ProviderAuthError, False),
                                                  (429, ProviderRateLimitError, True),
                                                  (500, ProviderServerError, True)])
def test_stream_errors_before_any_chunk_sync(server, status, cls, retryable):
    server.error(status, "scripted failure")
    with router_for(server) as router, pytest.raises(cls) as info:
        router.chat_stream(model="command-a", messages=HI).text()
    _check(info.value, status, retryable, server)


@pytest.mark.parametrize("status,cls,retryable", [(401, ProviderAuthError, False),
                                                  (429, ProviderRateLimitError, True),
                                                  (500, ProviderServerError, True)])
async def test_stream_errors_before_any_chunk_async(server, status, cls, retryable):
    server.error(status, "scripted failure")
    async with router_for(server) as router:
        with pytest.raises(cls) as info:
            await router.achat_stream(model="command-a", messages=HI).text()
    _check(info.value, status, retryable, server)


def test_embed_errors_sync_and_async(server):
    import asyncio

    server.error(422, "scripted failure")
    with router_for(server) as router, pytest.raises(ProviderBadRequestError) as info:
        router.embed("embed-v4.0", "hello")
    _check(info.value, 422, False, server)

    async def run() -> None:
        async with router_for(server) as router:
            with pytest.raises(ProviderRateLimitError) as ainfo:
                await router.aembed("embed-v4.0", "hello")
        assert ainfo.value.retry_after == 2.0

    server.reset()
    server.error(429, "scripted failure", headers={"Retry-After": "2"})
    asyncio.run(run())


def test_rate_limit_retry_after_is_honoured_by_our_retry_loop(server):
    server.error(429, "slow down", headers={"retry-after-ms": "10"})
    with router_for(server, attempts=2) as router:
        resp = router.chat(model="command-a", messages=HI)
    assert resp.content == "Hello from Cohere!"
    assert server.hits == 2
    assert [a.status for a in resp.attempts] == ["ProviderRateLimitError", "ok"]
    assert resp.attempts[1].delay == pytest.approx(0.01)


async def test_server_error_then_success_async(server):
    server.error(503, "busy")
    async with router_for(server, attempts=2) as router:
        resp = await router.achat(model="command-a", messages=HI)
    assert resp.content == "Hello from Cohere!" and server.hits == 2


def test_timeout_sync_and_async(server):
    import asyncio

    server.queue(Reply.json({"id": "late"}, delay=0.6))
    with router_for(server) as router, pytest.raises(ProviderTimeoutError):
        router.chat(model="command-a", messages=HI, timeout=0.1)

    async def run() -> None:
        async with router_for(server) as router:
            with pytest.raises(ProviderTimeoutError):
                await router.aembed("embed-v4.0", "x", timeout=0.1)

    server.queue(Reply.json({"id": "late"}, delay=0.6))
    asyncio.run(run())


def _closed_port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_connection_refused_sync_and_async(server):
    import asyncio

    class Nowhere:
        base_url = _closed_port()

    with router_for(Nowhere) as router, pytest.raises(ProviderConnectionError) as info:
        router.chat(model="command-a", messages=HI)
    assert KEY not in str(info.value)

    async def run() -> None:
        async with router_for(Nowhere) as router:
            with pytest.raises(ProviderConnectionError):
                await router.achat_stream(model="command-a", messages=HI).text()

    asyncio.run(run())


def test_unparseable_body_is_a_response_error(server):
    server.queue(Reply(status=200, body="{not json", content_type="application/json"))
    with router_for(server) as router, pytest.raises(ProviderResponseError) as info:
        router.chat(model="command-a", messages=HI)
    assert info.value.status_code == 200


def test_cut_stream_after_text_is_interrupted_with_the_partial_sync(server):
    # message-start, content-start, one content-delta ("Hello"), then the connection drops
    server.script(ChatScript(text="Hello there friend", cut_after=3))
    rec = UsageRecorder()
    seen = []
    with router_for(server, plugins=[rec]) as router:
        stream = router.chat_stream(model="command-a", messages=HI)
        with pytest.raises(StreamInterruptedError) as info:
            for chunk in stream:
                seen.append(chunk.delta)
    assert seen == ["Hello"]
    err = info.value
    assert err.partial.content == "Hello"
    assert isinstance(err.__cause__, ProviderConnectionError)
    assert [r.status for r in rec.records] == ["interrupted"]


async def test_cut_stream_after_text_is_interrupted_with_the_partial_async(server):
    server.script(ChatScript(text="Hello there friend", cut_after=3))
    async with router_for(server) as router:
        stream = router.achat_stream(model="command-a", messages=HI)
        with pytest.raises(StreamInterruptedError) as info:
            async for _ in stream:
                pass
    assert info.value.partial.content == "Hello"


def test_cut_before_any_text_is_a_connection_error(server):
    server.script(ChatScript(cut_after=1))  # only message-start arrives
    with router_for(server) as router, pytest.raises(ProviderConnectionError):
        router.chat_stream(model="command-a", messages=HI).text()


@pytest.mark.parametrize("use_async", [False, True])
def test_stream_ending_with_an_error_event(server, use_async):
    import asyncio

    server.script(ChatScript(text="Partial answer", stream_error="model crashed"))
    if use_async:
        async def run() -> StreamInterruptedError:
            async with router_for(server) as router:
                with pytest.raises(StreamInterruptedError) as info:
                    await router.achat_stream(model="command-a", messages=HI).text()
            return info.value

        err = asyncio.run(run())
    else:
        with router_for(server) as router, pytest.raises(StreamInterruptedError) as info:
            router.chat_stream(model="command-a", messages=HI).text()
        err = info.value
    assert err.partial.content == "Partial answer"
    assert isinstance(err.__cause__, ProviderServerError)
    assert "model crashed" in str(err.__cause__)

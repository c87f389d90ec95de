"""Issue 15 / issue 13 item 6 on the Cohere plugin, through the real ``cohere`` SDK against the
loopback wire server (tests/cohere_wire.py), sync and async: successive event loops, streams
cut without ``message-end``, events that are not JSON or of the wrong shape, answers of the
wrong shape, and a key echoed by the server."""

from __future__ import annotations

import asyncio
import pickle
import traceback
from typing import Any

import parity
import pytest
from cohere_wire import KEY, ChatScript, CohereServer, chat_events, router_for
from loopback import Reply

from cencori_core import (
    ProviderAuthError,
    ProviderResponseError,
    Router,
    StreamInterruptedError,
)
from cencori_core.testing import UsageRecorder

HI = [{"role": "user", "content": "Hi"}]
MODEL = "command-a"


@pytest.fixture(scope="module")
def shared_server():
    with CohereServer() as s:
        yield s


@pytest.fixture
def server(shared_server: CohereServer) -> CohereServer:
    shared_server.reset()
    return shared_server


@pytest.fixture(params=["sync", "async"])
def mode(request: Any) -> str:
    return str(request.param)


def run(r: Router, mode: str, op: str, **kw: Any) -> Any:
    """One call through the sync or async path; a stream gives (chunks, response)."""
    kw.setdefault("messages", HI)
    kw.setdefault("model", MODEL)
    if op == "stream":
        chunks, s = parity.stream(r, mode, **kw)
        return chunks, s.response
    return parity.call(r, mode, op, **kw)


# ---------------------------------------------------------------------------- event loops


def test_a_router_used_from_successive_event_loops(server):
    """asyncio.run() per job: the second loop's first call used to fail on the first loop's
    closed client (a failed attempt, or an error without retries)."""
    router = router_for(server)

    async def job() -> Any:
        r = await router.achat(model=MODEL, messages=HI)
        async with router.achat_stream(model=MODEL, messages=HI) as s:
            text = "".join([c.delta async for c in s])
        return r, text

    for _ in range(3):
        r, text = asyncio.run(job())
        assert [a.status for a in r.attempts] == ["ok"]
        assert r.content == text == "Hello from Cohere!"
    provider = router.provider("cohere")
    assert provider.clients.async_clients == 0  # each closed with its loop
    router.close()


# ---------------------------------------------------------------------------- truncated streams


def test_stream_without_message_end_is_interrupted(server, mode):
    """The server closes the stream cleanly after some text, without message-end: the caller
    gets StreamInterruptedError with the partial text, not finish_reason "stop"."""
    events = chat_events(ChatScript(text="Half an answer"))[:-2]  # no content-end, message-end
    server.queue(Reply.sse(events, named=True, done=False))
    with router_for(server) as router, pytest.raises(StreamInterruptedError) as info:
        run(router, mode, "stream")
    assert info.value.partial.content == "Half an answer"
    assert "message-end" in str(info.value)


def test_stream_of_malformed_json_is_an_error_not_an_empty_success(server, mode):
    """The SDK logs and skips events that are not JSON: the stream used to end as a success
    with empty text. Now the first such event is a ProviderResponseError (retried)."""
    bad = [("message-start", "{not json"), ("content-delta", "{also not json"),
           ("message-end", "{nope")]
    server.queue(Reply.sse(bad, named=True, done=False))
    router = router_for(server, attempts=2)
    chunks, resp = run(router, mode, "stream")
    assert resp.content == "Hello from Cohere!"
    assert [a.status for a in resp.attempts] == ["ProviderResponseError", "ok"]
    server.queue(Reply.sse(bad, named=True, done=False))
    with router_for(server) as router, pytest.raises(ProviderResponseError) as info:
        run(router, mode, "stream")
    assert "not valid JSON" in str(info.value) and info.value.retryable


@pytest.mark.parametrize("data", ["123", '"text"', "[1]", '{"type": "content-delta", "delta": 5}',
                                  '{"type": "message-end", "delta": {"usage": "x"}}'])
def test_stream_event_of_the_wrong_shape_is_retried(server, mode, data):
    server.queue(Reply.sse([("content-delta", data)], named=True, done=False))
    router = router_for(server, attempts=2)
    chunks, resp = run(router, mode, "stream")
    assert resp.content == "Hello from Cohere!"
    assert [a.status for a in resp.attempts] == ["ProviderResponseError", "ok"]


# ---------------------------------------------------------------------------- wrong shapes

WRONG_SHAPES = [
    {"id": "x", "finish_reason": "COMPLETE", "message": "hello"},
    {"id": "x", "finish_reason": "COMPLETE", "message": {"role": "assistant", "content": 5}},
    {"id": "x", "finish_reason": "COMPLETE",
     "message": {"role": "assistant", "content": [{"type": "text", "text": "hi"}]},
     "usage": "x"},
    {"choices": ["x"]},
]


@pytest.mark.parametrize("body", WRONG_SHAPES, ids=range(len(WRONG_SHAPES)))
def test_answer_of_the_wrong_shape_is_a_response_error(server, mode, body):
    server.queue(Reply.json(body))
    with router_for(server) as router, pytest.raises(ProviderResponseError) as info:
        run(router, mode, "chat")
    assert info.value.retryable and info.value.provider == "cohere"


# ---------------------------------------------------------------------------- secrets


def test_key_echoed_in_headers_and_body_never_leaks(server, mode):
    """Cohere's ApiError prints every header and the body in tracebacks: a key the server
    echoes (in x-request-id, request-id or the body) must not show anywhere."""
    rec = UsageRecorder()
    server.fail(401, {"id": KEY, "message": f"invalid api token {KEY}"},
                headers={"x-request-id": KEY, "request-id": KEY})
    with router_for(server, plugins=[rec]) as router, \
            pytest.raises(ProviderAuthError) as info:
        run(router, mode, "chat")
    err = info.value
    for text in (str(err), repr(err), "".join(traceback.format_exception(err)),
                 repr(pickle.loads(pickle.dumps(err))), str(err.request_id),
                 str(err.__cause__), repr(err.__cause__)):
        assert KEY not in text
    assert rec.records and all(KEY not in str(a.error) for r in rec.records for a in r.attempts)

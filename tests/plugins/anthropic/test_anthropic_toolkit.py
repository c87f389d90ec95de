"""The anthropic plugin on the provider toolkit: the defects of issue 15 (and 13, item 6), each
through the real ``anthropic`` SDK against the Messages API wire server, sync and async, on
both SDK paths (past the SDK's response models, and its public path)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import pytest
from anthropic_wire import AnthropicServer, Turn, error_body, message_json, stream_events
from loopback import Reply
from parity import MODES, call, stream
from plugin_checks import leaks
from sdk_paths import sdk_path  # noqa: F401 - autouse: every test on both SDK paths

from cencori_core import (
    ProviderAuthError,
    ProviderResponseError,
    RetryPolicy,
    Router,
    StreamInterruptedError,
)
from cencori_core.testing import UsageRecorder

KEY = "sk-ant-echoed-0123456789abcdef"
MODEL = "claude-haiku-4-5"
HI = [{"role": "user", "content": "Hello!"}]


@pytest.fixture
def server():
    with AnthropicServer() as s:
        yield s



def router_for(server: AnthropicServer, attempts: int = 1, **kw) -> Router:
    return Router(providers={"anthropic": {"api_key": KEY, "base_url": server.base_url}},
                  plugins=["anthropic", *kw.pop("plugins", [])],
                  retry=RetryPolicy(max_attempts=attempts, initial_delay=0.001, jitter=0), **kw)


def test_the_selected_path_is_the_one_used(server, request):
    path = request.node.callspec.params["sdk_path"]
    router = router_for(server)
    assert call(router, "sync", "chat", model=MODEL, messages=HI).content
    provider = router.provider("anthropic")
    assert provider.sdk.name == path
    raw = call(router, "sync", "chat", model=MODEL, messages=HI).raw
    # fast: the SDK's raw response; public: the SDK's Message model
    assert hasattr(raw, "http_response") is (path == "fast")
    router.close()


def test_missing_internals_fall_back_to_the_public_path():
    # An SDK release without the private methods the fast path calls.
    code = ("import anthropic\n"
            "for cls in anthropic.Anthropic.__mro__:\n"
            "    if '_make_sse_decoder' in vars(cls):\n"
            "        delattr(cls, '_make_sse_decoder')\n"
            "from cencori_anthropic import _fast\n"
            "print(_fast.AVAILABLE, _fast.select().name)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.split() == ["False", "public"]


# ---------------------------------------------------------------------------- event loops


def test_one_router_on_successive_event_loops(server):
    """asyncio.run() twice (a job per loop): the second loop gets its own client, no failed
    attempt, and each loop's client is closed with its loop."""
    records = UsageRecorder()
    router = router_for(server, plugins=[records])
    server.script(*[Turn(text=f"turn {i}") for i in range(4)])

    async def job() -> tuple[str | None, str | None]:
        r = await router.achat(model=MODEL, messages=HI)
        async with router.achat_stream(model=MODEL, messages=HI) as s:
            async for _ in s:
                pass
        return r.content, s.response.content

    first = asyncio.run(job())
    assert router.provider("anthropic").clients.async_clients == 0  # closed with its loop
    second = asyncio.run(job())
    assert (first, second) == (("turn 0", "turn 1"), ("turn 2", "turn 3"))
    assert [len(r.attempts) for r in records.records] == [1, 1, 1, 1]
    assert all(r.status == "ok" for r in records.records)
    assert router.chat(model=MODEL, messages=HI).content  # and the sync client still works
    router.close()


# ---------------------------------------------------------------------------- truncated streams


@pytest.mark.parametrize("mode", MODES)
def test_stream_without_message_stop_is_interrupted_with_the_partial(server, mode):
    turn = Turn(text="one two three")
    events = stream_events(turn, "m")
    # Everything but the closing message_stop, the response ended cleanly.
    server.script(Turn(text="one two three", end_after=len(events) - 1, id=turn.id))
    with pytest.raises(StreamInterruptedError) as info:
        stream(router_for(server), mode, model=MODEL, messages=HI)
    err = info.value
    assert "message_stop" in str(err)
    assert err.partial is not None and err.partial.content == "one two three"


@pytest.mark.parametrize("mode", MODES)
def test_stream_ended_mid_text_is_interrupted_not_stopped(server, mode):
    # message_start, ping, content_block_start and two text deltas, then a clean end.
    server.script(Turn(text="alpha beta gamma", end_after=5))
    with pytest.raises(StreamInterruptedError) as info:
        stream(router_for(server), mode, model=MODEL, messages=HI)
    assert info.value.partial.content == "alpha beta"


@pytest.mark.parametrize("mode", MODES)
def test_stream_ended_before_any_chunk_is_retried(server, mode):
    server.script(Turn(end_after=2), Turn(text="second try"))
    chunks, s = stream(router_for(server, attempts=2), mode, model=MODEL, messages=HI)
    assert s.response.content == "second try"
    # Before any chunk, a stream without its closing event fails like a dropped connection.
    assert [a.status for a in s.response.attempts] == ["ProviderConnectionError", "ok"]


# ---------------------------------------------------------------------------- malformed answers

_USAGE = {"input_tokens": 1, "output_tokens": 1}


@pytest.mark.parametrize("body", [
    {"id": "m", "content": 5, "usage": _USAGE},
    {"id": "m", "content": ["x"], "usage": _USAGE},
    {"id": "m", "content": [{"type": "text", "text": "hi"}], "usage": "x"},
    {"id": "m", "content": [{"type": "tool_use", "id": "t", "name": "f", "input": 7}],
     "usage": _USAGE},
    {"id": "m", "content": [{"type": "text", "text": "hi"}],
     "usage": {"input_tokens": "many", "output_tokens": 1}},
    "a message as a string",
    [1, 2],
], ids=["content-int", "content-str-item", "usage-str", "input-int", "tokens-str",
        "string", "list"])
@pytest.mark.parametrize("mode", MODES)
def test_wrong_shape_is_response_error_and_retried(server, mode, body):
    server.queue(Reply.json(body))
    records = UsageRecorder()
    r = call(router_for(server, attempts=2, plugins=[records]), mode, "chat", model=MODEL,
             messages=HI)
    assert r.content == "Hello from Claude!"
    [attempt, ok] = r.attempts
    assert attempt.status == "ProviderResponseError" and ok.status == "ok"
    with pytest.raises(ProviderResponseError) as info:
        server.queue(Reply.json(body))
        call(router_for(server), mode, "chat", model=MODEL, messages=HI)
    assert info.value.provider == "anthropic" and info.value.retryable


def _sse(events: list) -> Reply:
    return Reply.sse(events, named=True, done=False)


def _start(model: str = "m") -> tuple[str, dict]:
    return stream_events(Turn(), model)[0]


@pytest.mark.parametrize("events", [
    [("message_start", "123")],
    [("message_start", '"text"')],
    [_start(), ("content_block_delta", '{"type": "content_block_delta", "index": 0, '
                                       '"delta": "x"}')],
    [_start(), ("content_block_start", '{"type": "content_block_start", "index": 0, '
                                       '"content_block": [1]}')],
    [_start(), ("message_delta", '{"type": "message_delta", "delta": {}, "usage": 5}')],
], ids=["int", "string", "delta-str", "block-list", "usage-int"])
@pytest.mark.parametrize("mode", MODES)
def test_wrong_shape_stream_event_before_any_chunk_is_retried(server, mode, events):
    server.queue(_sse(events))
    chunks, s = stream(router_for(server, attempts=2), mode, model=MODEL, messages=HI)
    assert s.response.content == "Hello from Claude!"
    assert [a.status for a in s.response.attempts] == ["ProviderResponseError", "ok"]


# ---------------------------------------------------------------------------- secrets



@pytest.mark.parametrize("streamed", [False, True], ids=["chat", "stream"])
@pytest.mark.parametrize("mode", MODES)
def test_key_echoed_in_request_id_header_and_body_never_shows(server, mode, streamed):
    body = error_body("authentication_error", f"invalid x-api-key {KEY}", request_id=KEY)
    server.queue(Reply.json(body, 401, headers={"request-id": KEY, "x-request-id": KEY}))
    records = UsageRecorder()
    router = router_for(server, plugins=[records])
    with pytest.raises(ProviderAuthError) as info:
        if streamed:
            stream(router, mode, model=MODEL, messages=HI)
        else:
            call(router, mode, "chat", model=MODEL, messages=HI)
    err = info.value
    assert leaks(err, KEY) == []
    assert err.status_code == 401 and "***" in str(err)
    [record] = records.records
    assert KEY not in json.dumps(record.to_dict(), default=str)
    assert record.attempts[0].error and KEY not in record.attempts[0].error


@pytest.mark.parametrize("mode", MODES)
def test_key_echoed_in_an_in_band_stream_error_never_shows(server, mode):
    events = stream_events(Turn(text="partial answer here"), "m")[:5]
    events.append(("error", error_body("overloaded_error", f"Overloaded for {KEY}")))
    server.queue(_sse(events))
    with pytest.raises(StreamInterruptedError) as info:
        stream(router_for(server), mode, model=MODEL, messages=HI)
    assert leaks(info.value, KEY) == []


# ---------------------------------------------------------------------------- refusals


@pytest.mark.parametrize("streamed", [False, True], ids=["chat", "stream"])
@pytest.mark.parametrize("mode", MODES)
def test_refusal_is_content_filter_with_the_text_sent_so_far(server, mode, streamed):
    server.script(Turn(text="I can't", stop_reason="refusal"))
    router = router_for(server)
    if streamed:
        _, s = stream(router, mode, model=MODEL, messages=HI)
        r = s.response
    else:
        r = call(router, mode, "chat", model=MODEL, messages=HI)
    # Anthropic signals a refusal by its stop reason only: no separate refusal text.
    assert (r.finish_reason, r.content, r.refusal) == ("content_filter", "I can't", None)


def test_wire_message_is_what_the_public_path_reads_too():
    # The converters read the API's JSON and the SDK's objects alike (the two paths).
    from anthropic.types import Message
    from cencori_anthropic._convert import chat_response

    data = message_json(Turn(text="same"), "claude-haiku-4-5")
    a = chat_response(data, provider="anthropic", model="m")
    b = chat_response(Message.model_validate(data), provider="anthropic", model="m")
    assert (a.content, a.usage, a.id) == (b.content, b.usage, b.id)

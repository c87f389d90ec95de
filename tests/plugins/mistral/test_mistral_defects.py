"""Issue 15 / issue 13 item 6 on the Mistral plugin, through the real ``mistralai`` SDK against
the loopback wire server (tests/mistral_wire.py), sync and async: streams cut without their
closing event, answers of the wrong shape, and a key echoed by the server."""

from __future__ import annotations

import logging
import pickle
import traceback
from typing import Any

import parity
import pytest
from loopback import Reply
from mistral_wire import MistralWire, error_body, stream_path  # noqa: F401 - the fixture

from cencori_core import (
    ProviderAuthError,
    ProviderResponseError,
    RetryPolicy,
    Router,
    StreamInterruptedError,
)
from cencori_core.testing import UsageRecorder

KEY = "mistral-test-key-7f3a9c2e51"
USER = [{"role": "user", "content": "Hello?"}]
MODEL = "mistral-small-latest"

# every test on both stream paths (fast JSON events, the SDK's public EventStream)
pytestmark = pytest.mark.usefixtures("stream_path")


@pytest.fixture(scope="module")
def wire():
    w = MistralWire().start()
    yield w
    w.stop()


@pytest.fixture(params=["sync", "async"])
def mode(request: Any) -> str:
    return str(request.param)


def router(wire: MistralWire, attempts: int = 1, **kw: Any) -> Router:
    wire.server.reset()
    plugins = ["mistral", *kw.pop("plugins", ())]
    return Router(providers={"mistral": {"api_key": KEY, "base_url": wire.base_url}},
                  plugins=plugins, retry=RetryPolicy(max_attempts=attempts, initial_delay=0,
                                                         jitter=0), **kw)


def run(r: Router, mode: str, op: str, **kw: Any) -> Any:
    """One call through the sync or async path; a stream gives (chunks, response)."""
    kw.setdefault("messages", USER)
    kw.setdefault("model", MODEL)
    if op == "stream":
        chunks, s = parity.stream(r, mode, **kw)
        return chunks, s.response
    return parity.call(r, mode, op, **kw)


def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {"id": "cmpl-1", "object": "chat.completion.chunk", "created": 1,
            "model": "mistral-small-2506",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


# ---------------------------------------------------------------------------- truncated streams


@pytest.mark.parametrize("done", [True, False], ids=["with-DONE", "closed"])
def test_stream_without_finish_reason_is_interrupted(wire, mode, done):
    """The server ends the stream cleanly but never sends the chunk with finish_reason (with or
    without [DONE]): the caller gets StreamInterruptedError with the partial text, not a
    normal end with finish_reason "stop" and estimated usage."""
    r = router(wire)
    wire.queue(Reply.sse([chunk({"role": "assistant", "content": "Hal"}),
                          chunk({"content": "f an"})], done=done))
    with pytest.raises(StreamInterruptedError) as info:
        run(r, mode, "stream")
    assert info.value.partial.content == "Half an"
    assert "finish_reason" in str(info.value)


def test_cut_stream_is_retried_before_the_first_chunk(wire, mode):
    r = router(wire, attempts=2)
    wire.queue(Reply.sse([chunk({"role": "assistant", "content": ""})], done=False))
    chunks, resp = run(r, mode, "stream")
    assert resp.content == "Hello from Mistral" and wire.server.hits == 2


# ---------------------------------------------------------------------------- wrong shapes

WRONG_SHAPES = [
    {"id": "c", "object": "chat.completion", "model": "m", "created": 1, "choices": ["x"]},
    {"id": "c", "object": "chat.completion", "model": "m", "created": 1,
     "choices": [{"index": 0, "message": "hello", "finish_reason": "stop"}]},
    {"id": "c", "object": "chat.completion", "model": "m", "created": 1,
     "choices": [{"index": 0, "message": {"role": "assistant", "content": 5},
                  "finish_reason": "stop"}]},
    {"id": "c", "object": "chat.completion", "model": "m", "created": 1,
     "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"},
                  "finish_reason": "stop"}], "usage": "x"},
    [1, 2],
    b"123",
]


@pytest.mark.parametrize("body", WRONG_SHAPES, ids=range(len(WRONG_SHAPES)))
def test_answer_of_the_wrong_shape_is_a_response_error(wire, mode, body):
    r = router(wire)
    wire.queue(Reply(body=body, content_type="application/json"))
    with pytest.raises(ProviderResponseError) as info:
        run(r, mode, "chat")
    assert info.value.retryable and info.value.provider == "mistral"


@pytest.mark.parametrize("event", ["123", '{"choices": ["x"]}', '{"choices": [{"delta": 5}]}',
                                   "{not json"])
def test_stream_event_of_the_wrong_shape_is_retried(wire, mode, event):
    """Before the first chunk a malformed event is a ProviderResponseError, retried like any
    other retryable failure (it used to escape as a raw TypeError, unretried)."""
    r = router(wire, attempts=2)
    wire.queue(Reply.sse([event]))
    chunks, resp = run(r, mode, "stream")
    assert resp.content == "Hello from Mistral"
    (failed, ok) = resp.attempts
    assert failed.status == "ProviderResponseError" and ok.status == "ok"


# ---------------------------------------------------------------------------- secrets


def test_key_echoed_in_headers_and_body_never_leaks(wire, mode):
    rec = UsageRecorder()
    r = router(wire, plugins=[rec])
    records = rec.records
    wire.fail(401, error_body(f"Invalid key {KEY}", type="authentication_error"),
              headers={"x-request-id": KEY, "mistral-correlation-id": KEY,
                       "request-id": KEY})
    with pytest.raises(ProviderAuthError) as info:
        run(r, mode, "chat")
    err = info.value
    texts = [str(err), repr(err), "".join(traceback.format_exception(err)),
             repr(pickle.loads(pickle.dumps(err))), str(err.request_id)]
    for text in texts:
        assert KEY not in text
    assert records and all(KEY not in str(a.error) for rec in records for a in rec.attempts)


def test_the_sdk_debug_log_never_shows_a_secret(wire, mode, caplog):
    """The SDK logs each request's headers and body at DEBUG (only with MISTRAL_DEBUG set, and
    then with every header a proxy's credential travels in): the plugin gives it a logger that
    writes to "mistralai.client" when that logger is enabled, every secret masked."""
    other = "proxy-credential-0c4f7a9b2e"
    wire.server.reset()
    r = Router(providers={"mistral": {"api_key": KEY, "base_url": wire.base_url,
                                      "headers": {"api-key": other}}},
               plugins=["mistral"], retry=1)
    with caplog.at_level(logging.DEBUG, logger="mistralai.client"):
        run(r, mode, "chat")
    logged = "\n".join(rec.getMessage() for rec in caplog.records
                       if rec.name.startswith("mistralai"))
    assert "Request:" in logged and "'api-key': '***'" in logged
    assert KEY not in caplog.text and other not in caplog.text


def test_a_key_in_a_configured_header_is_a_secret_too(wire, mode):
    """A credential given through options.headers (a proxy's api-key) is scrubbed like the key."""
    other = "proxy-credential-0c4f7a9b2e"
    wire.server.reset()
    r = Router(providers={"mistral": {"api_key": KEY, "base_url": wire.base_url,
                                      "headers": {"api-key": other}}},
               plugins=["mistral"], retry=1)
    wire.fail(401, error_body(f"Invalid api-key header {other}"), headers={"x-request-id": other})
    with pytest.raises(ProviderAuthError) as info:
        run(r, mode, "chat")
    assert wire.last.headers["api-key"] == other
    assert other not in "".join(traceback.format_exception(info.value))


def test_both_stream_paths_fold_the_same_answer(wire, mode, request):
    """Reasoning, tool calls and usage come out the same whether the events were read as JSON
    (fast path) or as the SDK's models (public path)."""
    r = router(wire)
    wire.reply(thinking="Think first.", signature="sig-1", text="Then answer.",
               tool_calls=[{"id": "abcDEF123", "name": "f", "arguments": {"x": 1}}],
               usage={"prompt_tokens": 9, "completion_tokens": 4, "total_tokens": 13,
                      "prompt_tokens_details": {"cached_tokens": 5}})
    chunks, resp = run(r, mode, "stream", model="magistral-medium-latest")
    assert (resp.reasoning, resp.content) == ("Think first.", "Then answer.")
    assert resp.provider_data == {"mistral": {"thinking_signature": "sig-1"}}
    assert [(c.id, c.name, c.arguments) for c in resp.tool_calls] == [
        ("abcDEF123", "f", {"x": 1})]
    assert (resp.usage.prompt_tokens, resp.usage.cached_tokens) == (9, 5)
    from cencori_mistral import _fast

    raw = chunks[-1].raw
    fast = request.node.callspec.params["stream_path"] == "fast"
    assert isinstance(raw, dict) is (fast and _fast.RAW_EVENTS)

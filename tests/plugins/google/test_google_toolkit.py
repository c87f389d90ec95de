"""The google plugin on the provider toolkit: the defects of issue 15 (and 13, item 6), each
through the real google-genai SDK against the Gemini wire server, sync and async, on both SDK
paths (past the SDK's response models, and its public path)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from google_wire import API_KEY, GeminiWire, error, error_info, response, sse, usage
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

MODEL = "gemini-2.5-flash"
MSG = [{"role": "user", "content": "hello"}]


@pytest.fixture
def wire() -> Iterator[GeminiWire]:
    with GeminiWire() as w:
        yield w



def router_for(wire: GeminiWire, attempts: int = 1, **kw) -> Router:
    return Router(providers={"google": {"api_key": API_KEY, "base_url": wire.base_url}},
                  plugins=["google", *kw.pop("plugins", [])],
                  retry=RetryPolicy(max_attempts=attempts, initial_delay=0.001, jitter=0), **kw)


def test_the_selected_path_is_the_one_used(wire, request):
    path = request.node.callspec.params["sdk_path"]
    router = router_for(wire)
    router.chat(model=MODEL, messages=MSG)
    assert router.provider("google").sdk.name == path
    router.close()


def test_missing_internals_fall_back_to_the_public_path():
    # An SDK release without one of the private names the fast path uses.
    code = ("from google.genai import _extra_utils\n"
            "del _extra_utils.merge_continuation_responses\n"
            "from cencori_google import _fast\n"
            "print(_fast.AVAILABLE, _fast.select().name)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.split() == ["False", "public"]


# ---------------------------------------------------------------------------- event loops


def test_one_router_on_successive_event_loops(wire):
    records = UsageRecorder()
    router = router_for(wire, plugins=[records])

    async def job() -> tuple[str | None, str | None]:
        r = await router.achat(model=MODEL, messages=MSG)
        async with router.achat_stream(model=MODEL, messages=MSG) as s:
            async for _ in s:
                pass
        return r.content, s.response.content

    first = asyncio.run(job())
    assert router.provider("google").clients.async_clients == 0  # closed with its loop
    second = asyncio.run(job())
    assert first == second == ("echo: hello", "echo: hello")
    assert [len(r.attempts) for r in records.records] == [1, 1, 1, 1]
    assert router.chat(model=MODEL, messages=MSG).content == "echo: hello"
    router.close()


# ---------------------------------------------------------------------------- truncated streams


@pytest.mark.parametrize("mode", MODES)
def test_stream_without_a_finish_reason_is_interrupted_with_the_partial(wire, mode):
    wire.reply("streamGenerateContent", sse([
        response([{"text": "one "}], finish=None, use=usage(5)),
        response([{"text": "two"}], finish=None, use=usage(5, 2))]))
    with pytest.raises(StreamInterruptedError) as info:
        stream(router_for(wire), mode, model=MODEL, messages=MSG)
    assert "finishReason" in str(info.value)
    assert info.value.partial.content == "one two"


@pytest.mark.parametrize("mode", MODES)
def test_empty_stream_is_retried(wire, mode):
    wire.reply("streamGenerateContent", sse([]))
    chunks, s = stream(router_for(wire, attempts=2), mode, model=MODEL, messages=MSG)
    assert s.response.content == "echo: hello"
    # Before any chunk, a stream without its closing event fails like a dropped connection.
    assert [a.status for a in s.response.attempts] == ["ProviderConnectionError", "ok"]


# ---------------------------------------------------------------------------- malformed answers


@pytest.mark.parametrize("body", [
    {"candidates": ["x"]},
    {"candidates": 5},
    {"candidates": [{"content": "x", "finishReason": "STOP"}]},
    {"candidates": [{"content": {"parts": [5]}, "finishReason": "STOP"}]},
    {"candidates": [{"content": {"parts": [{"text": "hi"}]}, "finishReason": "STOP"}],
     "usageMetadata": "x"},
    {"candidates": [{"content": {"parts": [{"text": "hi"}]}, "finishReason": "STOP"}],
     "usageMetadata": {"promptTokenCount": "many"}},
    "a string",
], ids=["cand-str", "cand-int", "content-str", "part-int", "usage-str", "tokens-str", "string"])
@pytest.mark.parametrize("mode", MODES)
def test_wrong_shape_is_response_error_and_retried(wire, mode, body):
    wire.reply("generateContent", Reply.json(body))
    r = call(router_for(wire, attempts=2), mode, "chat", model=MODEL, messages=MSG)
    assert r.content == "echo: hello"
    assert [a.status for a in r.attempts] == ["ProviderResponseError", "ok"]
    wire.reply("generateContent", Reply.json(body))
    with pytest.raises(ProviderResponseError) as info:
        call(router_for(wire), mode, "chat", model=MODEL, messages=MSG)
    assert info.value.provider == "google" and info.value.retryable


def _raw_sse(*payloads: str) -> Reply:
    return Reply(lines=[f"data: {p}\r\n\r\n".encode() for p in payloads],
                 content_type="text/event-stream")


@pytest.mark.parametrize("payloads", [
    ("123",),
    ('"text"',),
    ('{"candidates": ["x"]}',),
    ('{"candidates": [{"content": {"parts": [5]}}]}',),
    ('{"candidates": [{"content": {"parts": [{"text": "a"}]}, "finishReason": "STOP"}], '
     '"usageMetadata": 7}',),
], ids=["int", "string", "cand-str", "part-int", "usage-int"])
@pytest.mark.parametrize("mode", MODES)
def test_wrong_shape_stream_event_before_any_chunk_is_retried(wire, mode, payloads):
    wire.reply("streamGenerateContent", _raw_sse(*payloads))
    chunks, s = stream(router_for(wire, attempts=2), mode, model=MODEL, messages=MSG)
    assert s.response.content == "echo: hello"
    first, ok = s.response.attempts
    # The public path's SDK drops some events it cannot read: that stream then ends without
    # its finishReason, which is retried as a dropped connection.
    assert first.status in ("ProviderResponseError", "ProviderConnectionError")
    assert ok.status == "ok"


# ---------------------------------------------------------------------------- secrets



@pytest.mark.parametrize("streamed", [False, True], ids=["chat", "stream"])
@pytest.mark.parametrize("mode", MODES)
def test_key_echoed_in_request_id_header_and_body_never_shows(wire, mode, streamed):
    wire.fail(error(400, "INVALID_ARGUMENT", f"API key not valid: {API_KEY}",
                    details=[error_info("API_KEY_INVALID")],
                    headers={"x-request-id": API_KEY, "request-id": API_KEY}))
    records = UsageRecorder()
    router = router_for(wire, plugins=[records])
    with pytest.raises(ProviderAuthError) as info:
        if streamed:
            stream(router, mode, model=MODEL, messages=MSG)
        else:
            call(router, mode, "chat", model=MODEL, messages=MSG)
    assert leaks(info.value, API_KEY) == []
    assert "***" in str(info.value)
    [record] = records.records
    assert API_KEY not in json.dumps(record.to_dict(), default=str)
    assert record.attempts[0].error and API_KEY not in record.attempts[0].error


@pytest.mark.parametrize("mode", MODES)
def test_key_in_an_in_band_stream_error_never_shows(wire, mode):
    wire.reply("streamGenerateContent", sse([
        response([{"text": "partial "}], finish=None, use=usage(5)),
        {"error": {"code": 500, "message": f"internal for {API_KEY}", "status": "INTERNAL"}}]))
    with pytest.raises(StreamInterruptedError) as info:
        stream(router_for(wire), mode, model=MODEL, messages=MSG)
    assert leaks(info.value, API_KEY) == []


# ---------------------------------------------------------------------------- refusals


@pytest.mark.parametrize("streamed", [False, True], ids=["chat", "stream"])
@pytest.mark.parametrize("mode", MODES)
def test_safety_finish_is_content_filter_without_refusal_text(wire, mode, streamed):
    # Gemini signals a filtered answer by its finish reason only (a blocked prompt is a
    # ContentFilterError, tests/test_google_errors.py).
    if streamed:
        wire.reply("streamGenerateContent", sse([
            response([{"text": "Sure, "}], finish=None, use=usage(5)),
            response([], finish="SAFETY", use=usage(5, 2))]))
        _, s = stream(router_for(wire), mode, model=MODEL, messages=MSG)
        r = s.response
    else:
        wire.reply("generateContent", response([{"text": "Sure, "}], finish="SAFETY",
                                               use=usage(5, 2)))
        r = call(router_for(wire), mode, "chat", model=MODEL, messages=MSG)
    assert (r.finish_reason, r.content, r.refusal) == ("content_filter", "Sure, ", None)


def test_clients_without_the_private_api_client_take_the_public_path():
    # ``_api_client`` is an instance attribute (not detectable at import): a release that
    # renames it must degrade to the public path per call, never fail.
    code = f"""
import asyncio, sys
sys.path.insert(0, {str(Path(__file__).parents[2] / 'support')!r})
from google.genai import client as gc
from google_wire import API_KEY, GeminiWire
from cencori_core import Router

def hide(cls):
    init = cls.__init__
    def patched(self, *a, **k):
        init(self, *a, **k)
        self.__dict__["_renamed"] = self.__dict__.pop("_api_client")
    cls.__init__ = patched

hide(gc.Client)
hide(gc.AsyncClient)
with GeminiWire() as wire:
    r = Router(plugins=["google"], providers={{"google": {{"api_key": API_KEY,
                                                          "base_url": wire.base_url}}}})
    assert r.provider("google").sdk.name == "fast"
    def ask(text):
        return dict(model="gemini-2.5-flash", messages=[{{"role": "user", "content": text}}])
    out = [r.chat(**ask("a")).content]
    with r.chat_stream(**ask("b")) as s:
        list(s)
    out.append(s.response.content)
    out.append(asyncio.run(r.achat(**ask("c"))).content)
    print(out)
"""
    env = {k: v for k, v in os.environ.items() if k != "CENCORI_SDK_INTERNALS"}  # fast path
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "['echo: a', 'echo: b', 'echo: c']"

"""The openai-family plugin on the provider toolkit, through the real ``openai`` SDK against the
loopback wire server (:mod:`openai_wire`): async clients across event loops (and no leak), cut
and truncated streams, answers of the wrong shape, refusals, DeepSeek reasoning on tool-call
turns, and the key echoed in ``x-request-id``. Every test runs sync and async, on the fast path
and on the SDK's public path (``_fast.AVAILABLE`` False: what an SDK release without the private
names gets)."""

from __future__ import annotations

import asyncio
import gc
import os
import pickle
import subprocess
import sys
import traceback
from pathlib import Path
from typing import Any

import openai
import pytest
from cencori_openai import _fast
from loopback import Reply
from openai_wire import OpenAIWire, openai_wire

from cencori_core import (
    ProviderAuthError,
    ProviderConnectionError,
    ProviderResponseError,
    RetryPolicy,
    Router,
    StreamInterruptedError,
)
from cencori_core.testing import UsageRecorder

__all__ = ["openai_wire"]  # the fixture, imported for pytest

KEY = "sk-test-toolkit-0f1e2d3c4b5a69788796"
USER = [{"role": "user", "content": "Hi"}]


@pytest.fixture(params=["sync", "async"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(params=["fast", "public"])
def path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The plugin's fast path, or the SDK's public path it falls back to."""
    if request.param == "public":
        monkeypatch.setattr(_fast, "AVAILABLE", False)
    else:
        assert _fast.AVAILABLE, "the installed openai SDK lost a private name _fast uses"
    return str(request.param)


Sink = UsageRecorder  # the testing kit's record sink


@pytest.fixture
async def make(openai_wire: OpenAIWire) -> Any:
    routers: list[Router] = []

    def build(provider: str = "openai", *, attempts: int = 1, **kw: Any) -> Router:
        r = Router(providers={provider: {"api_key": KEY, "base_url": openai_wire.base_url}},
                   plugins=["openai", *kw.pop("plugins", [])],
                   retry=RetryPolicy(max_attempts=attempts, initial_delay=0.0), **kw)
        routers.append(r)
        return r

    yield build
    for r in routers:
        await r.aclose()


async def chat(router: Router, mode: str, **kw: Any) -> Any:
    kw.setdefault("model", "gpt-4o")
    kw.setdefault("messages", USER)
    if mode == "sync":
        return router.chat(**kw)
    return await router.achat(**kw)


async def stream_all(router: Router, mode: str, **kw: Any) -> tuple[list[Any], Any]:
    kw.setdefault("model", "gpt-4o")
    kw.setdefault("messages", USER)
    if mode == "sync":
        with router.chat_stream(**kw) as s:
            chunks = list(s)
        return chunks, s.response
    async with router.achat_stream(**kw) as s:
        chunks = [c async for c in s]
    return chunks, s.response


def shown(err: BaseException) -> str:
    """Everything a user may see of an error."""
    out = [str(err), repr(err), "".join(traceback.format_exception(err))]
    out.append(pickle.dumps(err).decode("latin-1"))
    return "\n".join(out)


# ---------------------------------------------------------------------------- both paths


async def test_chat_and_stream_on_both_paths(make, openai_wire, mode, path):
    router = make()
    openai_wire.chat_reply("Hello there!", chunk_size=4)
    r = await chat(router, mode)
    assert r.content == "Hello there!" and r.usage.source == "provider"
    openai_wire.chat_reply("Streamed reply.", chunk_size=4)
    chunks, resp = await stream_all(router, mode)
    assert "".join(c.delta for c in chunks) == resp.content == "Streamed reply."
    assert resp.usage.source == "provider" and resp.finish_reason == "stop"
    # the public path reads the SDK's chunk objects, the fast path the JSON as sent
    raw = chunks[0].raw
    assert isinstance(raw, dict) is (path == "fast")


# ---------------------------------------------------------------------------- event loops


def test_async_clients_across_event_loops_do_not_leak(openai_wire):
    router = Router(providers={"openai": {"api_key": KEY, "base_url": openai_wire.base_url}},
                    plugins=["openai"], retry=RetryPolicy(max_attempts=1))
    provider = router.provider("openai")

    async def ask(i: int) -> str:
        r = await router.achat(model="gpt-4o",
                               messages=[{"role": "user", "content": f"run {i}"}])
        return str(r.content)

    def sockets() -> int:
        fds = Path("/proc/self/fd")
        return sum(1 for fd in fds.iterdir()
                   if os.path.realpath(fd).startswith("socket:")) if fds.exists() else 0

    assert asyncio.run(ask(0)) == "echo: run 0"  # warm: the wire's own sockets are counted
    gc.collect()
    before = sockets()
    # 60 loops (each new AsyncOpenAI costs ~0.1 s of SSL setup); the toolkit's own test runs
    # 200 with a stand-in client. Before, every loop left its client and a socket behind.
    answers = [asyncio.run(ask(i)) for i in range(1, 61)]
    gc.collect()
    assert answers[-1] == "echo: run 60" and openai_wire.hits == 61
    live = sum(1 for o in gc.get_objects() if isinstance(o, openai.AsyncOpenAI))
    # Each loop's client was closed inside its loop by asyncio.run() and dropped.
    assert provider.clients.async_clients == 0 and live == 0
    assert sockets() - before <= 4  # the wire server's handler threads, at most
    router.close()


async def test_user_supplied_async_http_client_is_never_closed(openai_wire, mode):
    import httpx2

    client = httpx2.AsyncClient()
    sync = httpx2.Client()
    router = Router(providers={"openai": {"api_key": KEY, "base_url": openai_wire.base_url,
                                          "http_client": sync, "async_http_client": client}},
                    plugins=["openai"])
    await chat(router, mode)
    await router.aclose()
    assert not client.is_closed and not sync.is_closed
    await client.aclose()
    sync.close()


# ---------------------------------------------------------------------------- truncated streams


async def test_stream_ended_without_finish_reason_is_interrupted(make, openai_wire, mode, path):
    router = make()
    # role chunk + 3 content deltas, then a clean end: no finish_reason, no usage, no [DONE]
    openai_wire.chat_reply("abcdefghijkl", chunk_size=3, end_after=4)
    with pytest.raises(StreamInterruptedError) as info:
        await stream_all(router, mode)
    err = info.value
    assert err.partial is not None and err.partial.content == "abcdefghi"
    assert "finish_reason" in str(err) and isinstance(err.__cause__, ProviderConnectionError)


async def test_truncated_stream_partial_keeps_output_redaction(make, openai_wire, mode, path):
    # The partial of an interrupted stream is the router's (what the caller was shown, after
    # the output policies), never the provider's raw text.
    from cencori_core.policies import Secrets

    aws_key = "AKIAIOSFODNN7EXAMPLE"
    router = make(policies=[Secrets(responses=True)])
    text = "Some words before it. " * 20 + f"Here is the key {aws_key} and more text."
    openai_wire.chat_reply(text, chunk_size=5, end_after=len(text) // 5 - 1)
    with pytest.raises(StreamInterruptedError) as info:
        await stream_all(router, mode)
    assert aws_key not in shown(info.value)
    partial = info.value.partial
    assert partial is not None and partial.content.startswith("Some words before it.")
    assert aws_key not in partial.content


async def test_stream_ended_before_any_chunk_is_retried(make, openai_wire, mode, path):
    router = make(attempts=2)
    openai_wire.chat_reply("lost", end_after=1)  # only the role chunk: nothing reached anyone
    openai_wire.chat_reply("second try")
    chunks, resp = await stream_all(router, mode)
    assert resp.content == "second try" and openai_wire.hits == 2
    assert [a.status for a in resp.attempts] == ["ProviderConnectionError", "ok"]


# ---------------------------------------------------------------------------- wrong shapes

WRONG_SHAPES = [
    {"id": "x", "choices": ["x"]},
    {"id": "x", "choices": [{"index": 0, "message": "a string", "finish_reason": "stop"}]},
    {"id": "x", "choices": [{"index": 0, "message": {"role": "assistant", "content": 5},
                             "finish_reason": "stop"}]},
    {"id": "x", "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"},
                             "finish_reason": "stop"}], "usage": "x"},
    [1, 2, 3],
]


@pytest.mark.parametrize("body", WRONG_SHAPES, ids=["choice-str", "message-str", "content-int",
                                                     "usage-str", "list"])
async def test_answer_of_the_wrong_shape_is_a_retryable_response_error(make, openai_wire, mode,
                                                                       path, body):
    router = make()
    openai_wire.queue(Reply.json(body))
    with pytest.raises(ProviderResponseError) as info:
        await chat(router, mode)
    assert info.value.retryable is True and info.value.provider == "openai"
    assert "chat completion" in str(info.value)
    # ... and the router retries it
    router2 = make(attempts=2)
    openai_wire.queue(Reply.json(body))
    r = await chat(router2, mode)
    assert r.content == "echo: Hi"


@pytest.mark.parametrize("event", [123, "\"text\"", {"choices": ["x"]},
                                   {"choices": [{"index": 0, "delta": {"content": 5}}]}],
                         ids=["int", "str", "choice-str", "content-int"])
async def test_stream_event_of_the_wrong_shape_is_retried_before_the_first_chunk(
        make, openai_wire, mode, path, event):
    router = make(attempts=2)
    openai_wire.queue(Reply.sse([event]))
    chunks, resp = await stream_all(router, mode)
    assert resp.content == "echo: Hi"
    assert [a.status for a in resp.attempts] == ["ProviderResponseError", "ok"]


# ---------------------------------------------------------------------------- refusals


async def test_refusal_is_exposed(make, openai_wire, mode, path):
    router = make()
    openai_wire.chat_reply(None, refusal="I can't help with that.")
    r = await chat(router, mode)
    assert r.refusal == "I can't help with that." and r.content is None
    openai_wire.chat_reply(None, refusal="I can't help with that.", chunk_size=5)
    chunks, resp = await stream_all(router, mode)
    assert "".join(c.refusal for c in chunks) == resp.refusal == "I can't help with that."
    assert resp.content is None


# ---------------------------------------------------------------------------- DeepSeek


async def test_deepseek_reasoning_goes_back_on_tool_call_turns(make, openai_wire, mode, path):
    router = make("deepseek")
    openai_wire.chat_reply(None, reasoning="I need the weather.",
                           tool_calls=[{"name": "weather", "arguments": '{"city": "Paris"}'}])
    tools = [{"type": "function", "function": {"name": "weather", "parameters": {
        "type": "object", "properties": {"city": {"type": "string"}}}}}]
    first = await chat(router, mode, model="deepseek-reasoner", tools=tools)
    assert first.reasoning == "I need the weather." and first.tool_calls
    messages: list[Any] = [*USER, first.message,
                           {"role": "tool", "tool_call_id": first.tool_calls[0].id,
                            "content": "sunny"}]
    openai_wire.chat_reply("It is sunny.", reasoning="Answer now.")
    second = await chat(router, mode, model="deepseek-reasoner", tools=tools, messages=messages)
    sent = openai_wire.last("/chat/completions").json["messages"]
    assert sent[1]["reasoning_content"] == "I need the weather." and sent[1]["tool_calls"]
    # a turn without tool calls carries no reasoning back (DeepSeek refuses it there)
    messages += [second.message, {"role": "user", "content": "thanks"}]
    await chat(router, mode, model="deepseek-reasoner", messages=messages)
    sent = openai_wire.last("/chat/completions").json["messages"]
    assert "reasoning_content" not in sent[3]


async def test_other_dialects_never_send_reasoning(make, openai_wire, mode):
    router = make("xai")
    openai_wire.chat_reply(None, reasoning="thinking",
                           tool_calls=[{"name": "f", "arguments": "{}"}])
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    first = await chat(router, mode, model="grok-3-mini", tools=tools)
    await chat(router, mode, model="grok-3-mini", tools=tools,
               messages=[*USER, first.message, {"role": "tool", "tool_call_id": "call_0_f",
                                                "content": "x"}])
    assert "reasoning_content" not in openai_wire.last("/chat/completions").json["messages"][1]


# ---------------------------------------------------------------------------- the key


@pytest.mark.parametrize("provider,model", [("openai", "gpt-4o"), ("xai", "grok-3"),
                                            ("deepseek", "deepseek-chat")])
async def test_key_echoed_in_request_id_never_shows(make, openai_wire, mode, path, provider,
                                                    model):
    sink = Sink()
    router = make(provider, plugins=[sink])
    openai_wire.fail(401, f"Incorrect API key provided: {KEY}", code=KEY, request_id=KEY)
    with pytest.raises(ProviderAuthError) as info:
        await chat(router, mode, model=model)
    err = info.value
    assert err.request_id == "***" and err.code == "***"
    assert KEY not in shown(err)
    assert isinstance(err.__cause__, openai.AuthenticationError)
    assert KEY not in str(err.__cause__.body) and KEY not in str(err.__cause__.response.headers)
    errors = [a.error for rec in sink.records for a in rec.attempts]
    assert errors and all(KEY not in (e or "") for e in errors)
    # a stream refused the same way
    openai_wire.fail(401, f"Incorrect API key provided: {KEY}", code=KEY, request_id=KEY)
    with pytest.raises(ProviderAuthError) as info2:
        await stream_all(router, mode, model=model)
    assert KEY not in shown(info2.value)


def test_key_echoed_in_request_id_not_on_the_cli_stderr(openai_wire, tmp_path):
    config = tmp_path / "cencori.toml"
    config.write_text(f'[providers.openai]\napi_key = "{KEY}"\n'
                      f'base_url = "{openai_wire.base_url}"\n')
    openai_wire.fail(401, f"Incorrect API key provided: {KEY}", code=KEY, request_id=KEY,
                     times=10)
    env = {**os.environ, "CENCORI_HOME": str(tmp_path / "home")}
    env.pop("OPENAI_API_KEY", None)
    done = subprocess.run(
        [sys.executable, "-m", "cencori_core.cli", "--config", str(config), "chat", "Hi",
         "-m", "gpt-4o", "--no-stream"],
        capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 2 and "status 401, request id ***" in done.stderr
    assert KEY not in done.stderr and KEY not in done.stdout


async def test_key_given_as_a_header_is_scrubbed_too(openai_wire, mode):
    # Azure-style servers take the key in an `api-key` header (no api_key at all).
    header_key = "hk-header-key-77a1b2c3d4e5"
    router = Router(providers={"local": {
        "type": "openai_compatible", "base_url": openai_wire.base_url, "models": ["m1"],
        "headers": {"api-key": header_key}}}, plugins=["openai"],
        retry=RetryPolicy(max_attempts=1))
    openai_wire.fail(401, f"Incorrect API key provided: {header_key}", request_id=header_key)
    try:
        with pytest.raises(ProviderAuthError) as info:
            await chat(router, mode, model="local/m1")
    finally:
        await router.aclose()
    assert openai_wire.last().headers["api-key"] == header_key  # it was sent
    assert header_key not in shown(info.value) and info.value.request_id == "***"

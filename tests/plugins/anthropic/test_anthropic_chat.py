"""End-to-end: the real ``anthropic`` SDK through cencori's Router against a loopback server
speaking the Messages API wire format, sync and async."""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal

import httpx
import httpx2
import pytest
from anthropic_wire import AnthropicServer, Turn
from genai_prices import Usage as PriceUsage
from genai_prices import calc_price
from sdk_paths import sdk_path  # noqa: F401 - autouse: every test on both SDK paths

from cencori_core import (
    InvalidRequestError,
    ProviderNotConfiguredError,
    RetryPolicy,
    Router,
)

KEY = "sk-ant-test-0123456789abcdef"
WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                   "required": ["city"]}}}
HI = [{"role": "user", "content": "Hello!"}]


@pytest.fixture
def server():
    with AnthropicServer() as s:
        yield s


def make_router(server: AnthropicServer, **provider) -> Router:
    return Router(providers={"anthropic": {"api_key": KEY, "base_url": server.base_url,
                                           **provider}},
                  plugins=["anthropic"], retry=RetryPolicy(max_attempts=1))


@pytest.fixture
async def router(server):
    r = make_router(server)
    yield r
    await r.aclose()


@pytest.fixture(params=["sync", "async"])
def mode(request):
    return request.param


async def chat(router: Router, mode: str, **kw):
    kw.setdefault("messages", HI)
    if mode == "sync":
        return router.chat(**kw)
    return await router.achat(**kw)


async def stream(router: Router, mode: str, **kw):
    """(chunks, final response)."""
    kw.setdefault("messages", HI)
    chunks = []
    if mode == "sync":
        with router.chat_stream(**kw) as s:
            chunks.extend(s)
    else:
        async with router.achat_stream(**kw) as s:
            async for c in s:
                chunks.append(c)
    return chunks, s.response


def price(model: str, u) -> Decimal:
    return calc_price(PriceUsage(input_tokens=u.prompt_tokens, cache_read_tokens=u.cached_tokens,
                                 cache_write_tokens=u.cache_write_tokens,
                                 output_tokens=u.completion_tokens),
                      model, provider_id="anthropic").total_price


# ---------------------------------------------------------------------------- chat


async def test_plain_chat(router, server, mode):
    r = await chat(router, mode, model="claude-sonnet-4",
                   messages=[{"role": "system", "content": "Be brief."},
                             {"role": "user", "content": "Hello!"}])
    assert r.content == "Hello from Claude!"
    assert (r.provider, r.model, r.finish_reason) == ("anthropic", "claude-sonnet-4-20250514",
                                                      "stop")
    assert r.id.startswith("msg_")
    assert (r.usage.prompt_tokens, r.usage.completion_tokens, r.usage.total_tokens,
            r.usage.source) == (12, 7, 19, "provider")
    assert r.cost.total == price("claude-sonnet-4-20250514", r.usage)
    rec = server.requests[-1]
    assert rec.path == "/v1/messages"
    assert rec.headers["authorization"] == f"Bearer {KEY}"
    assert rec.headers["anthropic-version"]
    assert rec.headers["x-stainless-retry-count"] == "0"
    # The catalog alias is resolved, and max_tokens (required) is the model's output limit.
    assert rec.json == {"model": "claude-sonnet-4-20250514", "max_tokens": 64_000,
                        "system": "Be brief.",
                        "messages": [{"role": "user", "content": "Hello!"}]}


async def test_stream_text(router, server, mode):
    server.script(Turn(text="Streaming works fine today."))
    chunks, r = await stream(router, mode, model="claude-haiku-4-5", max_tokens=50)
    assert [c.delta for c in chunks if c.delta] == ["Streaming", " works", " fine", " today."]
    assert r.content == "Streaming works fine today."
    assert r.finish_reason == "stop" and r.model == "claude-haiku-4-5-20251001"
    assert (r.usage.prompt_tokens, r.usage.completion_tokens) == (12, 7)
    assert server.bodies[-1]["stream"] is True and server.bodies[-1]["max_tokens"] == 50


# Flat, tiered (haiku 5.5) and dated (sonnet 4.6) price data.
@pytest.mark.parametrize("model", ["claude-haiku-4-5", "claude-haiku-5-5", "claude-sonnet-4-6",
                                   "claude-opus-4-8"])
@pytest.mark.parametrize("streamed", [False, True])
async def test_cache_tokens_cost_exactly_what_genai_prices_says(router, server, mode, model,
                                                               streamed):
    server.script(Turn(input_tokens=40, output_tokens=250, cache_read=12_000, cache_write=3_000,
                       thinking_tokens=100))
    if streamed:
        _, r = await stream(router, mode, model=model)
    else:
        r = await chat(router, mode, model=model)
    u = r.usage
    # input_tokens excludes the cache: each token is counted once, at its own price.
    assert (u.prompt_tokens, u.cached_tokens, u.cache_write_tokens) == (15_040, 12_000, 3_000)
    assert (u.completion_tokens, u.reasoning_tokens, u.total_tokens) == (250, 100, 15_290)
    assert r.cost.total == price(r.model, u)
    assert r.cost.total > 0


async def test_refusal_is_a_content_filter_finish(router, server, mode):
    server.script(Turn(text="", stop_reason="refusal"))
    r = await chat(router, mode, model="claude-opus-4-8")
    assert r.finish_reason == "content_filter"


# ---------------------------------------------------------------------------- tools


async def test_single_tool_call(router, server, mode):
    server.script(Turn(text=None, tool_uses=[("toolu_01", "get_weather", {"city": "Paris"})]))
    r = await chat(router, mode, model="claude-sonnet-4-6", tools=[WEATHER],
                   tool_choice={"type": "function", "function": {"name": "get_weather"}})
    assert r.finish_reason == "tool_calls" and r.content is None
    [call] = r.tool_calls
    assert (call.id, call.name, call.arguments) == ("toolu_01", "get_weather", {"city": "Paris"})
    body = server.bodies[-1]
    assert body["tools"] == [{"name": "get_weather", "description": "Weather for a city",
                              "input_schema": WEATHER["function"]["parameters"]}]
    assert body["tool_choice"] == {"type": "tool", "name": "get_weather"}


async def test_parallel_tool_calls_streamed(router, server, mode):
    args = [{"city": "Paris", "unit": "celsius"}, {"city": "São Paulo", "days": [1, 2, 3]}]
    server.script(Turn(text="Checking.", tool_uses=[("toolu_a", "get_weather", args[0]),
                                                    ("toolu_b", "get_weather", args[1])],
                       chunk=5))
    chunks, r = await stream(router, mode, model="claude-sonnet-4-6", tools=[WEATHER],
                             tool_choice="required")
    deltas = [d for c in chunks for d in c.tool_calls]
    assert {d.index for d in deltas} == {0, 1}
    assert len(deltas) > 6  # fragments, not whole arguments
    assert [(c.id, c.name, c.arguments) for c in r.tool_calls] == [
        ("toolu_a", "get_weather", args[0]), ("toolu_b", "get_weather", args[1])]
    assert r.content == "Checking." and r.finish_reason == "tool_calls"
    assert server.bodies[-1]["tool_choice"] == {"type": "any"}


@pytest.mark.parametrize("streamed", [False, True])
async def test_multi_turn_tool_use_sends_thinking_signatures_back(router, server, mode,
                                                                  streamed):
    server.script(
        Turn(text=None, thinking=[("I should look up both cities.", "EqQBCkYIARgCsig==")],
             redacted=["EmwKAhgBEgy3va3pzf"],
             tool_uses=[("toolu_a", "get_weather", {"city": "Oslo"}),
                        ("toolu_b", "get_weather", {"city": "Bergen"})]),
        Turn(text="Bergen is warmer."))
    kw = {"model": "claude-opus-4-8", "tools": [WEATHER],
          "provider_options": {"thinking": {"type": "adaptive"}}}
    messages: list = [{"role": "user", "content": "Which is warmer, Oslo or Bergen?"}]
    if streamed:
        chunks, first = await stream(router, mode, messages=messages, **kw)
        assert "".join(c.reasoning for c in chunks) == "I should look up both cities."
    else:
        first = await chat(router, mode, messages=messages, **kw)
    assert first.reasoning == "I should look up both cities."
    messages += [first.message,
                 {"role": "tool", "tool_call_id": "toolu_a", "content": "-2C"},
                 {"role": "tool", "tool_call_id": "toolu_b", "content": "4C"}]
    second = await chat(router, mode, messages=messages, **kw)
    assert second.content == "Bergen is warmer."
    body = server.bodies[-1]
    assert body["thinking"] == {"type": "adaptive"}
    assert body["messages"][1:] == [
        {"role": "assistant", "content": [
            {"type": "thinking", "thinking": "I should look up both cities.",
             "signature": "EqQBCkYIARgCsig=="},
            {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzf"},
            {"type": "tool_use", "id": "toolu_a", "name": "get_weather",
             "input": {"city": "Oslo"}},
            {"type": "tool_use", "id": "toolu_b", "name": "get_weather",
             "input": {"city": "Bergen"}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_a", "content": "-2C"},
            {"type": "tool_result", "tool_use_id": "toolu_b", "content": "4C"}]}]


async def test_images(router, server, mode):
    await chat(router, mode, model="claude-sonnet-4-6", messages=[{"role": "user", "content": [
        {"type": "text", "text": "Compare these."},
        {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/4AAQSkZJRg=="}},
        {"type": "image_url", "image_url": {"url": "https://example.com/b.png"}}]}])
    assert server.bodies[-1]["messages"][0]["content"] == [
        {"type": "text", "text": "Compare these."},
        {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg",
                                     "data": "/9j/4AAQSkZJRg=="}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/b.png"}}]


# ---------------------------------------------------------------------------- parameters


async def test_sampling_parameters(server, mode):
    r = make_router(server)
    with pytest.raises(InvalidRequestError, match="temperature"):
        await chat(r, mode, model="claude-haiku-4-5", temperature=0.3)
    assert server.hits == 0
    await r.aclose()
    older = make_router(server, api_version="2023-06-01")
    await chat(older, mode, model="claude-haiku-4-5", temperature=0.3, top_p=0.8)
    rec = server.requests[-1]
    assert rec.headers["anthropic-version"] == "2023-06-01"
    assert (rec.json["temperature"], rec.json["top_p"]) == (0.3, 0.8)
    await older.aclose()


async def test_model_outside_the_catalog_goes_by_prefix(router, server, mode):
    r = await chat(router, mode, model="claude-nova-9", stop="###", user="user-7")
    assert r.provider == "anthropic"
    assert server.bodies[-1] == {"model": "claude-nova-9", "max_tokens": 4096,
                                 "messages": HI, "stop_sequences": ["###"],
                                 "metadata": {"user_id": "user-7"}}


# ---------------------------------------------------------------------------- configuration


def test_registration_and_resolution():
    r = Router(plugins=["anthropic"])
    route = r.resolve("claude-sonnet-4")
    assert (route.provider, route.model, route.alias) == ("anthropic", "claude-sonnet-4-20250514",
                                                          "claude-sonnet-4")
    assert r.resolve("claude-opus-4-8").via == "catalog"
    assert r.resolve("claude-whatever").via == "prefix"
    info = r.catalog.models["claude-haiku-4-5-20251001"]
    assert info.max_output_tokens == 64_000 and info.supports("vision")


def test_every_catalog_model_is_priced():
    from cencori_anthropic import MODELS

    from cencori_core import Usage

    r = Router(plugins=["anthropic"])
    for info in MODELS:
        cost, reason = r.pricing.cost("anthropic", info.name, Usage.of(1000, 100), "chat", info)
        assert cost is not None and cost.total > 0, (info.name, reason)


def test_missing_key_names_the_variable(server, monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    r = Router(plugins=["anthropic"])
    with pytest.raises(ProviderNotConfiguredError, match="ANTHROPIC_API_KEY") as info:
        r.chat(model="claude-haiku-4-5", messages=HI)
    assert info.value.env_vars == ("ANTHROPIC_API_KEY",)
    assert server.hits == 0


async def test_key_and_base_url_from_the_environment(server, monkeypatch, mode):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-from-env-0123456789")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)
    r = Router(plugins=["anthropic"])
    assert (await chat(r, mode, model="claude-haiku-4-5")).content == "Hello from Claude!"
    assert server.requests[-1].headers["authorization"] == "Bearer sk-ant-from-env-0123456789"
    await r.aclose()


async def test_sdk_clients_are_built_once_and_closed(server):
    r = make_router(server, headers={"x-team": "search"})
    r.chat(model="claude-haiku-4-5", messages=HI)
    r.chat(model="claude-haiku-4-5", messages=HI)
    await r.achat(model="claude-haiku-4-5", messages=HI)
    await r.achat(model="claude-haiku-4-5", messages=HI)
    provider = r.provider("anthropic")
    sync, aio = provider.clients.sync_client(), provider.clients.async_client()
    assert provider.clients.sync_client() is sync and provider.clients.async_client() is aio
    assert provider.clients.async_clients == 1
    assert all(rec.headers["x-team"] == "search" for rec in server.requests)
    await r.aclose()
    assert sync.is_closed() and aio.is_closed()


async def test_caller_http_clients_legacy_httpx_and_httpx2(server, mode):
    legacy, legacy_async = httpx.Client(), httpx.AsyncClient()
    r = make_router(server, http_client=legacy, async_http_client=legacy_async)
    resp = await chat(r, mode, model="claude-haiku-4-5")
    assert resp.content == "Hello from Claude!"
    _, streamed = await stream(r, mode, model="claude-haiku-4-5")
    assert streamed.content == "Hello from Claude!"
    await r.aclose()
    # Clients the caller owns stay open.
    assert not legacy.is_closed and not legacy_async.is_closed
    legacy.close()
    await legacy_async.aclose()

    own, own_async = httpx2.Client(), httpx2.AsyncClient()
    r = make_router(server, http_client=own, async_http_client=own_async)
    assert (await chat(r, mode, model="claude-haiku-4-5")).content == "Hello from Claude!"
    await r.aclose()
    assert not own.is_closed and not own_async.is_closed
    own.close()
    await own_async.aclose()


def test_plugin_import_loads_no_sdk():
    code = ("import sys, cencori_anthropic\n"
            "from cencori_core import Router\n"
            "Router(plugins=['anthropic']).resolve('claude-haiku-4-5')\n"
            "print(json.dumps(sorted(m for m in ('anthropic', 'httpx2') if m in sys.modules)))\n")
    out = subprocess.run([sys.executable, "-c", "import json\n" + code], capture_output=True,
                         text=True, check=True)
    assert json.loads(out.stdout) == []


async def test_leaving_a_stream_early_releases_its_connection(server, mode):
    # One pooled connection: a stream left open would make the next request wait for the pool.
    limits = {"limits": httpx2.Limits(max_connections=1)}
    r = make_router(server, timeout=2.0, http_client=httpx2.Client(**limits),
                    async_http_client=httpx2.AsyncClient(**limits))
    server.script(*[Turn(text="one two three four five") for _ in range(3)])
    for _ in range(3):
        chunks, response = await stream_prefix(r, mode, 1)
        assert [c.delta for c in chunks] == ["one"] and response is None
    assert (await chat(r, mode, model="claude-haiku-4-5")).content == "Hello from Claude!"
    await r.aclose()


async def stream_prefix(router: Router, mode: str, n: int):
    """Read ``n`` chunks, then leave the stream; (chunks, final response or None)."""
    kw = {"model": "claude-haiku-4-5", "messages": HI}
    chunks = []
    if mode == "sync":
        with router.chat_stream(**kw) as s:
            for c in s:
                chunks.append(c)
                if len(chunks) == n:
                    break
    else:
        async with router.achat_stream(**kw) as s:
            async for c in s:
                chunks.append(c)
                if len(chunks) == n:
                    break
    return chunks, s.response

"""The fast async transport (issue 19 item 5): when aiohttp and httpx-aiohttp are installed, the
async paths of the openai, anthropic, google, mistral and cohere plugins run on aiohttp (their
sync paths keep httpx), unless the provider has its own ``async_http_client``, its
configuration says ``fast_transport = false`` or ``CENCORI_FAST_TRANSPORT=0``. Each plugin is
driven end to end against its loopback wire server in two event loops, one after the other,
and its aiohttp sessions are closed (an unclosed one would fail the test: pytest turns
unraisable warnings into errors). The conformance kit runs every plugin's async tests on both
transports."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import httpx2
import pytest
from anthropic_wire import AnthropicServer
from cohere_wire import CohereServer
from google_wire import API_KEY as GOOGLE_KEY
from google_wire import GeminiWire
from httpx_aiohttp import HttpxAiohttpClient
from httpx_aiohttp.httpx2 import Httpx2AiohttpClient
from mistral_wire import MistralWire
from openai_wire import OpenAIWire

from cencori_core import ConfigurationError, ProviderConfig, RetryPolicy, Router
from cencori_core.provider import fast_transport

MSG = [{"role": "user", "content": "hello there"}]


def _openai_http(client: Any) -> Any:
    return client._client  # the SDK's http client (openai and anthropic alike)


def _mistral_http(side: Any) -> Any:
    return side.sdk.sdk_configuration.async_client


def _cohere_http(client: Any) -> Any:
    return client._client_wrapper.httpx_client.httpx_client


def _google_aiohttp(aio: Any) -> bool:
    return bool(aio._api_client._use_aiohttp())


# plugin -> (wire class, model, provider-specific config, the async HTTP client's "is aiohttp")
PLUGINS: dict[str, tuple[Callable[[], Any], str, Callable[[Any], bool]]] = {
    "openai": (OpenAIWire, "gpt-4o",
               lambda c: "Aio" in type(_openai_http(c)).__mro__[1].__name__),
    "anthropic": (AnthropicServer, "claude-sonnet-4-5",
                  lambda c: "Aio" in type(_openai_http(c)).__mro__[1].__name__),
    "google": (GeminiWire, "gemini-2.5-flash", _google_aiohttp),
    "mistral": (MistralWire, "mistral-small-latest",
                lambda s: isinstance(_mistral_http(s), Httpx2AiohttpClient)),
    "cohere": (CohereServer, "command-a-03-2025",
               lambda c: isinstance(_cohere_http(c), HttpxAiohttpClient)),
}


@pytest.fixture(params=sorted(PLUGINS))
def plugin(request: pytest.FixtureRequest) -> Iterator[tuple[str, Any]]:
    wire = PLUGINS[request.param][0]()
    wire.start()
    try:
        yield request.param, wire
    finally:
        wire.stop()


def _key(name: str) -> str:
    return GOOGLE_KEY if name == "google" else "test-key-0123456789"


def _router(name: str, wire: Any, **config: Any) -> Router:
    cfg = {"api_key": _key(name), "base_url": wire.base_url, **config}
    return Router(providers={name: cfg}, plugins=[name],
                  retry=RetryPolicy(max_attempts=1))


async def _calls(router: Router, name: str) -> tuple[bool, bool]:
    model = PLUGINS[name][1]
    r = await router.achat(model=model, messages=MSG)
    async with router.achat_stream(model=model, messages=MSG) as s:
        chunks = [c async for c in s]
    assert r.content and s.response is not None and chunks
    client = router.provider(name).clients.async_client()  # type: ignore[attr-defined]
    return PLUGINS[name][2](client), True


@pytest.mark.parametrize("setting,aiohttp", [(None, True), (True, True), (False, False)])
def test_async_path_on_aiohttp_in_two_event_loops(plugin, setting, aiohttp):
    name, wire = plugin
    config = {} if setting is None else {"fast_transport": setting}
    router = _router(name, wire, **config)
    try:
        for _ in range(2):  # each loop builds its own client and closes it with the loop
            used, _ = asyncio.run(_calls(router, name))
            assert used is aiohttp
        # the sync path keeps httpx whatever the setting
        model = PLUGINS[name][1]
        assert router.chat(model=model, messages=MSG).content
    finally:
        router.close()
    gc.collect()  # an unclosed aiohttp session warns when collected: pytest makes it an error


def test_environment_switches_it_off(plugin, monkeypatch):
    name, wire = plugin
    monkeypatch.setenv("CENCORI_FAST_TRANSPORT", "off")
    router = _router(name, wire)
    try:
        used, _ = asyncio.run(_calls(router, name))
        assert used is False
    finally:
        router.close()


async def test_a_users_async_client_wins(plugin):
    name, wire = plugin
    if name == "openai" or name == "anthropic" or name == "mistral":
        own = httpx2.AsyncClient()
    else:
        own = httpx.AsyncClient()
    router = Router(providers={name: {"api_key": _key(name),
                                      "base_url": wire.base_url, "async_http_client": own}},
                    plugins=[name], retry=RetryPolicy(max_attempts=1))
    async with router:
        used, _ = await _calls(router, name)
    assert used is False
    assert not own.is_closed  # the caller's client stays the caller's
    await own.aclose()


def test_the_decision():
    on = ProviderConfig(name="x")
    assert fast_transport(on) is True  # the fast extra is installed in the test environment
    assert fast_transport(ProviderConfig(name="x", options={"fast_transport": False})) is False
    assert fast_transport(ProviderConfig(name="x", async_http_client=object(),
                                         options={"fast_transport": True})) is False
    with pytest.raises(ConfigurationError, match="true or false"):
        fast_transport(ProviderConfig(name="x", options={"fast_transport": "yes"}))


def test_google_stream_closed_early_releases_its_aiohttp_connection():
    # google-genai's async stream holds its response in a reference cycle: the plugin's trace
    # hook hands the response to the stream, which closes it (as its httpx response hook does)
    from google_wire import response, sse, usage

    with GeminiWire() as wire:
        wire.reply("streamGenerateContent", sse(
            [response([{"text": f"piece {i} "}], finish=None, use=usage(3)) for i in range(30)]
            + [response([{"text": "end"}], use=usage(3, 31))]))
        router = _router("google", wire)

        async def main() -> int:
            async with router.achat_stream(model="gemini-2.5-flash", messages=MSG) as s:
                async for _ in s:
                    break
            aio = router.provider("google").clients.async_client()  # type: ignore[attr-defined]
            session = aio._api_client._http_options.aiohttp_client
            acquired = len(session.connector._acquired)
            await router.aclose()
            assert session.closed
            return acquired

        assert asyncio.run(main()) == 0

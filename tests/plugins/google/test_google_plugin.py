"""The google plugin as a whole: registration and catalog, lazy SDK import, configuration from
arguments and the environment, client reuse and closing, streams that release their
connection when closed early."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import httpx
import httpx2
import pytest
from cencori_google import MODELS
from google_wire import API_KEY, GeminiWire, response, sse, usage
from parity import MODES, call, raises, run_async, stream
from sdk_paths import sdk_path  # noqa: F401 - autouse: every test on both SDK paths

from cencori_core import (
    InvalidRequestError,
    ProviderNotConfiguredError,
    ProviderTimeoutError,
    RetryPolicy,
    Router,
    Usage,
)

MSG = [{"role": "user", "content": "hello"}]
ONCE = RetryPolicy(max_attempts=1)


@pytest.fixture
def wire() -> Iterator[GeminiWire]:
    with GeminiWire() as w:
        yield w


@pytest.fixture
def no_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for var in ("GOOGLE_API_KEY", "GEMINI_API_KEY", "GOOGLE_GEMINI_BASE_URL",
                "GOOGLE_GENAI_USE_VERTEXAI", "GOOGLE_GENAI_USE_ENTERPRISE",
                "GOOGLE_GENAI_API_VERSION", "CENCORI_PLUGINS"):
        monkeypatch.delenv(var, raising=False)
    return monkeypatch


def router_for(wire: GeminiWire, **provider) -> Router:
    return Router(plugins=["google"], retry=ONCE, providers={
        "google": {"api_key": API_KEY, "base_url": wire.base_url, **provider}})


# ---------------------------------------------------------------------------- registration


def test_names_route_to_google() -> None:
    router = Router(plugins=["google"], load_entrypoints=True)
    for name in ("gemini-2.5-flash", "gemini-9-ultra", "imagen-4.0-generate-001",
                 "imagen-5-fast", "text-embedding-004", "google/tunedModels/my-model"):
        assert router.resolve(name).provider == "google", name
    assert router.resolve("gemini-9-ultra").via == "prefix"
    info = router.catalog.info(router.resolve("gemini-2.5-pro"))
    assert info is not None and info.supports("reasoning") and info.supports("tools")


def test_catalog_models_are_priced_except_per_image_ones() -> None:
    router = Router(plugins=["google"])
    unpriced = {m.name for m in MODELS if m.name.startswith("imagen-")} | {"text-embedding-004"}
    for m in MODELS:
        cost, reason = router.pricing.cost("google", m.name, Usage.of(1000, 100),
                                           info=m)
        if m.name in unpriced:
            assert cost is None, m.name
        else:
            assert cost is not None and cost.total > 0, (m.name, reason)


def test_plugin_and_router_import_no_sdk() -> None:
    code = ("import sys, cencori_google; from cencori_core import Router; "
            "r = Router(plugins=['google']); r.resolve('gemini-2.5-flash'); "
            "print(sorted(m for m in sys.modules if m.startswith('google')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


def test_missing_sdk_names_the_extra() -> None:
    code = ("import sys; sys.modules['google.genai'] = None\n"
            "from cencori_core import Router, MissingDependencyError\n"
            "r = Router(plugins=['google'], providers={'google': {'api_key': 'k'}})\n"
            "try:\n"
            "    r.chat(model='gemini-2.5-flash', messages=[{'role': 'user', 'content': 'x'}])\n"
            "except MissingDependencyError as e:\n"
            "    print(e.extra, '|', e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.startswith("google |") and 'cencori-core[google]' in out


@pytest.mark.parametrize("mode", MODES)
def test_missing_key_names_both_variables_before_any_request(no_env: pytest.MonkeyPatch,
                                                             wire: GeminiWire,
                                                             mode: str) -> None:
    no_env.setenv("GOOGLE_GEMINI_BASE_URL", wire.base_url)
    err = raises(Router(plugins=["google"]), mode, "chat", ProviderNotConfiguredError,
                 model="gemini-2.5-flash", messages=MSG)
    assert err.env_vars == ("GOOGLE_API_KEY", "GEMINI_API_KEY")
    assert "GOOGLE_API_KEY" in str(err) and "GEMINI_API_KEY" in str(err)
    assert wire.requests == []


# ---------------------------------------------------------------------------- configuration


@pytest.mark.parametrize("var", ["GOOGLE_API_KEY", "GEMINI_API_KEY"])
def test_key_and_base_url_from_the_environment(no_env: pytest.MonkeyPatch, wire: GeminiWire,
                                               var: str) -> None:
    no_env.setenv(var, API_KEY)
    no_env.setenv("GOOGLE_GEMINI_BASE_URL", wire.base_url)
    # the SDK's own switch must not move us to Vertex AI
    no_env.setenv("GOOGLE_GENAI_USE_VERTEXAI", "true")
    r = Router(plugins=["google"]).chat(model="gemini-2.5-flash", messages=MSG)
    assert r.content == "echo: hello"
    rec = wire.last("generateContent")
    assert rec.headers["x-goog-api-key"] == API_KEY
    assert rec.path == "/v1/models/gemini-2.5-flash:generateContent"


def test_versioned_base_url_api_version_and_headers(wire: GeminiWire) -> None:
    router = Router(plugins=["google"], providers={"google": {
        "api_key": API_KEY, "base_url": wire.base_url + "/v1beta/"}})
    router.chat(model="gemini-2.5-flash", messages=MSG)
    assert wire.last("generateContent").path == "/v1beta/models/gemini-2.5-flash:generateContent"
    router = router_for(wire, api_version="v1alpha", headers={"x-tenant": "acme"})
    router.chat(model="gemini-2.5-flash", messages=MSG)
    rec = wire.last("generateContent")
    assert rec.path == "/v1alpha/models/gemini-2.5-flash:generateContent"
    assert rec.headers["x-tenant"] == "acme"


@pytest.mark.parametrize("mode", MODES)
def test_bad_provider_option_is_invalid_request(wire: GeminiWire, mode: str) -> None:
    err = raises(router_for(wire), mode, "chat", InvalidRequestError, model="gemini-2.5-flash",
                 messages=MSG, provider_options={"temprature": 0.2})
    assert "temprature" in str(err) and err.param == "provider_options"
    assert wire.requests == []


def test_key_is_not_in_reprs(wire: GeminiWire) -> None:
    router = router_for(wire)
    provider = router.provider("google")
    for text in (repr(provider), repr(provider.config), repr(router)):
        assert API_KEY not in text


# ---------------------------------------------------------------------------- clients


def test_sdk_clients_reused_one_per_event_loop(wire: GeminiWire) -> None:
    router = router_for(wire)
    provider = router.provider("google")
    router.chat(model="gemini-2.5-flash", messages=MSG)
    client = provider.clients.sync_client()
    router.chat(model="gemini-2.5-flash", messages=MSG)
    call(router, "async", "chat", model="gemini-2.5-flash", messages=MSG)
    stream(router, "async", model="gemini-2.5-flash", messages=MSG)
    assert provider.clients.sync_client() is client
    assert provider.clients.async_clients == 1  # the parity loop's, reused by both calls
    assert len(wire.requests) == 4


def test_given_http_clients_are_used_and_left_open(wire: GeminiWire) -> None:
    seen: list[str] = []
    sync_client = httpx.Client(event_hooks={"request": [lambda r: seen.append("sync")]})

    async def hook(request: httpx.Request) -> None:
        seen.append("async")

    async_client = httpx.AsyncClient(event_hooks={"request": [hook]})
    router = router_for(wire, http_client=sync_client, async_http_client=async_client)
    router.chat(model="gemini-2.5-flash", messages=MSG)
    call(router, "async", "chat", model="gemini-2.5-flash", messages=MSG)
    assert seen == ["sync", "async"]
    run_async(router.aclose())
    assert not sync_client.is_closed and not async_client.is_closed  # their owner closes them
    sync_client.close()
    run_async(async_client.aclose())


def test_close_and_aclose_close_the_sdk_clients(wire: GeminiWire) -> None:
    router = router_for(wire)
    router.chat(model="gemini-2.5-flash", messages=MSG)
    api = router.provider("google").clients.sync_client()._api_client
    router.close()
    assert api._httpx_client.is_closed

    router = router_for(wire)
    call(router, "async", "chat", model="gemini-2.5-flash", messages=MSG)
    provider = router.provider("google")

    async def the_loops_client() -> object:
        return provider.clients.async_client()._api_client

    api = run_async(the_loops_client())
    run_async(router.aclose())
    assert api._async_httpx_client.is_closed and provider.clients.async_clients == 0


def _long_stream() -> object:
    return sse([response([{"text": f"piece {i} "}], finish=None, use=usage(3))
                for i in range(20)] + [response([{"text": "end"}], use=usage(3, 21))])


@pytest.mark.parametrize("mode", MODES)
def test_closing_a_stream_early_releases_its_connection(wire: GeminiWire, mode: str) -> None:
    # One connection in the pool: if the early-closed stream kept it, the next call would wait
    # for the pool and fail with a timeout (the SDK sends the provider timeout, 3 s, per request).
    limits = httpx.Limits(max_connections=1)
    sync_client = httpx.Client(limits=limits)
    async_client = httpx.AsyncClient(limits=limits)
    router = Router(plugins=["google"], retry=ONCE, timeout=3.0, providers={"google": {
        "api_key": API_KEY, "base_url": wire.base_url, "http_client": sync_client,
        "async_http_client": async_client}})
    wire.reply("streamGenerateContent", _long_stream())
    chunks, s = stream(router, mode, limit=2, model="gemini-2.5-flash", messages=MSG)
    assert [c.delta for c in chunks] == ["piece 0 ", "piece 1 "]
    assert s.response is None
    try:
        r = call(router, mode, "chat", model="gemini-2.5-flash", messages=MSG)
    except ProviderTimeoutError:  # pragma: no cover - the failure this test guards against
        pytest.fail("the closed stream kept its connection checked out")
    assert r.content == "echo: hello"
    sync_client.close()
    run_async(async_client.aclose())


def test_async_stream_closes_its_response_on_the_sdk_owned_client(wire: GeminiWire) -> None:
    # the SDK's httpx client (the fast transport, aiohttp, is tested in test_fast_transport_*)
    router = router_for(wire, fast_transport=False)
    wire.reply("streamGenerateContent", _long_stream())
    seen: list[httpx2.Response] = []

    async def spy(response: httpx2.Response) -> None:
        seen.append(response)

    # No public handle on the SDK's own async client: add a spy to its response hooks (the
    # plugin gives it an httpx transport when the fast transport is off, so the SDK uses that
    # client itself rather than one built per loop from its kwargs).
    provider = router.provider("google")

    async def spy_on_the_loops_client() -> None:
        client = provider.clients.async_client()._api_client._async_httpx_client
        hooks = client.event_hooks
        client.event_hooks = {**hooks, "response": [*hooks["response"], spy]}

    run_async(spy_on_the_loops_client())
    stream(router, "async", limit=1, model="gemini-2.5-flash", messages=MSG)
    [response] = seen
    assert response.is_closed

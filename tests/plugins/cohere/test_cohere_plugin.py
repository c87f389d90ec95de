"""The cohere plugin as a plugin: registration and catalog, configuration from the environment,
a missing key or SDK, lazy SDK import, client reuse and closing, prices."""

from __future__ import annotations

import subprocess
import sys

import pytest
from cencori_cohere import MODELS
from cohere_wire import KEY, CohereServer, router_for
from genai_prices import Usage as GUsage
from genai_prices import calc_price

from cencori_core import (
    ProviderNotConfiguredError,
    ProviderTimeoutError,
    Router,
    Usage,
)

HI = [{"role": "user", "content": "Hi"}]


@pytest.fixture(scope="module")
def shared_server():
    with CohereServer() as s:
        yield s


@pytest.fixture
def server(shared_server):
    shared_server.reset()
    return shared_server


@pytest.fixture
def no_env(monkeypatch):
    for var in ("CO_API_KEY", "COHERE_API_KEY", "CO_API_URL", "CENCORI_PLUGINS"):
        monkeypatch.delenv(var, raising=False)
    return monkeypatch


def _python(code: str) -> str:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_registration_and_routing_import_no_sdk():
    code = (
        "import sys\n"
        "from cencori_core import Router\n"
        "r = Router(plugins=['cohere'])\n"
        "print(r.resolve('command-a').model, r.resolve('rerank-v3.5').provider,"
        " 'cohere' in sys.modules)\n"
    )
    assert _python(code) == "command-a-03-2025 cohere False"


def test_missing_sdk_names_the_extra():
    code = (
        "import sys\n"
        "sys.modules['cohere'] = None  # as if the SDK were not installed\n"
        "from cencori_core import Router, MissingDependencyError\n"
        "r = Router(providers={'cohere': {'api_key': 'k'}}, plugins=['cohere'])\n"
        "try:\n"
        "    r.chat(model='command-a', messages=[{'role': 'user', 'content': 'Hi'}])\n"
        "except MissingDependencyError as e:\n"
        "    print(e.extra, '|', e)\n"
    )
    extra, message = _python(code).split(" | ")
    assert extra == "cohere"
    assert 'pip install "cencori-core[cohere]"' in message


@pytest.mark.parametrize("name,model", [
    ("command-a", "command-a-03-2025"),
    ("command-a-vision", "command-a-vision-07-2025"),
    ("command-a-reasoning", "command-a-reasoning-08-2025"),
    ("command-r-plus-08-2024", "command-r-plus-08-2024"),
    ("embed-multilingual-v3.0", "embed-multilingual-v3.0"),
    ("command-light", "command-light"),  # by prefix, sent as written
    ("rerank-v3.5", "rerank-v3.5"),
    ("cohere/c4ai-aya-expanse-32b", "c4ai-aya-expanse-32b"),
])
def test_resolution(no_env, name, model):
    route = Router(plugins=["cohere"]).resolve(name)
    assert (route.provider, route.model) == ("cohere", model)


def test_catalog_capabilities(no_env):
    router = Router(plugins=["cohere"])
    caps = {m.name: router.catalog.models[m.name].capabilities for m in MODELS}
    assert "vision" in caps["command-a-vision-07-2025"]
    assert "reasoning" in caps["command-a-reasoning-08-2025"]
    assert caps["embed-v4.0"] == {"embeddings"}
    assert {"chat", "streaming", "tools"} <= caps["command-r7b-12-2024"]


def test_prices_match_genai_prices_or_are_unknown(no_env):
    """Every catalog id is priced exactly as genai-prices prices it under Cohere, or unpriced
    (None, with a reason) when genai-prices does not know it."""
    router = Router(plugins=["cohere"])
    usage = Usage.of(1000, 500)
    priced = set()
    for m in MODELS:
        cost, reason = router.pricing.cost("cohere", m.name, usage, info=m)
        try:
            ref = calc_price(GUsage(input_tokens=1000, output_tokens=500), m.price_id or m.name,
                             provider_id="cohere")
        except LookupError:
            assert cost is None and reason
            continue
        assert cost.total == ref.total_price
        priced.add(m.name)
    assert priced == {"command-a-03-2025", "command-r-plus-08-2024", "command-r-08-2024",
                      "command-r7b-12-2024", "embed-v4.0"}


def test_missing_key_fails_before_the_network(no_env, server):
    import asyncio

    router = Router(providers={"cohere": {"base_url": server.base_url}}, plugins=["cohere"])
    with pytest.raises(ProviderNotConfiguredError) as info:
        router.chat(model="command-a", messages=HI)
    assert info.value.env_vars == ("CO_API_KEY", "COHERE_API_KEY")
    assert "CO_API_KEY" in str(info.value) and "COHERE_API_KEY" in str(info.value)
    with pytest.raises(ProviderNotConfiguredError):
        asyncio.run(router.aembed("embed-v4.0", "x"))
    assert server.hits == 0


@pytest.mark.parametrize("env,expected", [
    ({"COHERE_API_KEY": "co-from-cohere-var"}, "co-from-cohere-var"),
    ({"CO_API_KEY": "co-first", "COHERE_API_KEY": "co-second"}, "co-first"),
])
def test_key_and_base_url_from_the_environment(no_env, server, env, expected):
    for var, value in env.items():
        no_env.setenv(var, value)
    no_env.setenv("CO_API_URL", server.base_url)
    with Router(plugins=["cohere"]) as router:
        assert router.chat(model="command-a", messages=HI).content == "Hello from Cohere!"
    assert server.requests[0].headers["authorization"] == f"Bearer {expected}"


def test_clients_are_built_once_reused_and_closed(server):
    router = router_for(server)
    router.chat(model="command-a", messages=HI)
    inst = router.provider("cohere")
    client = inst.clients.sync_client()
    router.chat_stream(model="command-a", messages=HI).text()
    router.embed("embed-v4.0", "x")
    assert inst.clients.sync_client() is client  # one sync client for every call
    assert KEY not in repr(inst)
    # the SDK-built httpx pool is closed with the router
    pool = client._client_wrapper.httpx_client.httpx_client
    router.close()
    assert pool.is_closed


async def test_async_client_built_once_and_closed_by_aclose(server):
    router = router_for(server)
    await router.achat(model="command-a", messages=HI)
    inst = router.provider("cohere")
    client = inst.clients.async_client()
    await router.achat_stream(model="command-a", messages=HI).text()
    await router.aembed("embed-v4.0", "x")
    assert inst.clients.async_client() is client  # one async client for this loop
    pool = client._client_wrapper.httpx_client.httpx_client
    await router.aclose()
    assert pool.is_closed and inst.clients.async_clients == 0


def test_configured_timeout_applies(server):
    from loopback import Reply

    server.queue(Reply.json({"id": "late"}, delay=0.6))
    with router_for(server, provider={"timeout": 0.1}) as router, \
            pytest.raises(ProviderTimeoutError):
        router.chat(model="command-a", messages=HI)

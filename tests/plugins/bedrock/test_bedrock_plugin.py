"""The bedrock plugin as a whole: registration and names, credentials and region (configured,
from the environment, from a profile, missing), the async path's thread pool (the event loop
keeps running while calls are in flight; at most ``max_concurrency`` at once), prices,
telemetry, and a fallback chain across clouds."""

from __future__ import annotations

import asyncio
import threading

import pytest
from bedrock_fixtures import *  # noqa: F403 - the fixtures (server, mode, ...)
from bedrock_wire import KEY_ID, REGION, SECRET, BedrockServer, Turn, creds, router_for
from cencori_bedrock._catalog import MODELS
from genai_prices import Usage as GUsage
from genai_prices import calc_price
from openai_wire import OpenAIWire

from cencori_core import (
    ConfigurationError,
    ProviderNotConfiguredError,
    RetryPolicy,
    Router,
    Usage,
)
from cencori_core.testing import UsageRecorder

HI = [{"role": "user", "content": "Hi"}]
NOVA = "bedrock/amazon.nova-pro-v1:0"


def key_of(rec) -> str:
    return rec.headers["authorization"].split("Credential=")[1].split("/")[0]


# ---------------------------------------------------------------------------- names


@pytest.mark.parametrize("name,model", [
    ("bedrock/us.anthropic.claude-sonnet-4-20250514-v1:0",
     "us.anthropic.claude-sonnet-4-20250514-v1:0"),
    ("us.anthropic.claude-sonnet-4-20250514-v1:0", "us.anthropic.claude-sonnet-4-20250514-v1:0"),
    ("amazon.nova-pro-v1:0", "amazon.nova-pro-v1:0"),
    ("bedrock/meta.llama3-3-70b-instruct-v1:0", "meta.llama3-3-70b-instruct-v1:0"),
    ("bedrock/writer.palmyra-x5-v1:0", "writer.palmyra-x5-v1:0"),  # any id, sent as written
])
def test_resolution(no_aws, name, model):
    route = Router(plugins=["bedrock"]).resolve(name)
    assert (route.provider, route.model) == ("bedrock", model)


def test_catalog_capabilities_and_profiles(no_aws):
    router = Router(plugins=["bedrock"])
    caps = {m.name: router.catalog.models[m.name].capabilities for m in MODELS}
    assert {"vision", "tools", "reasoning"} <= caps["eu.anthropic.claude-sonnet-4-20250514-v1:0"]
    assert caps["amazon.titan-embed-text-v2:0"] == {"embeddings"}
    assert router.catalog.models["global.anthropic.claude-sonnet-4-5-20250929-v1:0"] \
        .context_window == 200_000


def test_prices_match_genai_prices_or_are_unknown(no_aws):
    """Every catalog id is priced exactly as genai-prices' aws data prices it, or unpriced
    (None, with a reason)."""
    router = Router(plugins=["bedrock"])
    usage = Usage.of(1000, 500)
    unpriced = set()
    for m in MODELS:
        cost, reason = router.pricing.cost("bedrock", m.name, usage, info=m)
        try:
            ref = calc_price(GUsage(input_tokens=1000, output_tokens=500), m.name,
                             provider_id="aws")
        except LookupError:
            assert cost is None and reason and m.name in reason
            unpriced.add(m.name)
            continue
        assert cost is not None and cost.total == ref.total_price
    assert "us.anthropic.claude-sonnet-4-20250514-v1:0" not in unpriced
    assert {"cohere.embed-english-v3", "cohere.embed-multilingual-v3"} <= unpriced


# ---------------------------------------------------------------------------- credentials


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_no_region_fails_before_the_network(no_aws, server, mode):
    router = Router(providers={"bedrock": {"aws_access_key_id": KEY_ID,
                                           "aws_secret_access_key": SECRET,
                                           "endpoint_url": server.base_url}},
                    plugins=["bedrock"])
    with pytest.raises(ProviderNotConfiguredError) as info:
        if mode == "sync":
            router.chat(model=NOVA, messages=HI)
        else:
            asyncio.run(router.achat(model=NOVA, messages=HI))
    assert info.value.env_vars == ("AWS_REGION", "AWS_DEFAULT_REGION")
    assert "AWS_REGION" in str(info.value) and "'region'" in str(info.value)
    assert server.hits == 0


def test_no_credentials_fail_before_the_network(no_aws, server):
    router = Router(providers={"bedrock": {"region": REGION, "endpoint_url": server.base_url}},
                    plugins=["bedrock"])
    with pytest.raises(ProviderNotConfiguredError) as info:
        router.chat(model=NOVA, messages=HI)
    assert "AWS_ACCESS_KEY_ID" in str(info.value) and "AWS_PROFILE" in str(info.value)
    assert server.hits == 0


def test_half_a_key_pair_is_a_configuration_error(no_aws, server):
    router = Router(providers={"bedrock": {"region": REGION, "aws_access_key_id": KEY_ID}},
                    plugins=["bedrock"])
    with pytest.raises(ConfigurationError, match="go together"):
        router.chat(model=NOVA, messages=HI)


def test_unknown_profile_is_a_configuration_error(no_aws):
    router = Router(providers={"bedrock": {"profile": "nope"}}, plugins=["bedrock"])
    with pytest.raises(ConfigurationError, match="'nope'"):
        router.chat(model=NOVA, messages=HI)


def test_credentials_and_region_from_the_environment(no_aws, server):
    no_aws.setenv("AWS_ACCESS_KEY_ID", "AKIAFROMENVIRONMENT1")
    no_aws.setenv("AWS_SECRET_ACCESS_KEY", "secret-from-the-environment-000")
    no_aws.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    no_aws.setenv("AWS_REGION", REGION)  # wins over AWS_DEFAULT_REGION
    router = Router(providers={"bedrock": {"endpoint_url": server.base_url}},
                    plugins=["bedrock"], retry=RetryPolicy(max_attempts=1))
    with router:
        assert router.chat(model=NOVA, messages=HI).content
    assert key_of(server.requests[0]) == "AKIAFROMENVIRONMENT1"


def test_credentials_and_region_from_a_profile(no_aws, server, tmp_path):
    (tmp_path / "config").write_text(f"[profile team]\nregion = {REGION}\n")
    (tmp_path / "credentials").write_text(
        "[team]\naws_access_key_id = AKIAFROMPROFILE00001\n"
        "aws_secret_access_key = secret-from-the-profile-0000\n")
    router = Router(providers={"bedrock": {"profile": "team", "endpoint_url": server.base_url}},
                    plugins=["bedrock"], retry=RetryPolicy(max_attempts=1))
    with router:
        assert router.chat(model=NOVA, messages=HI).content
    assert key_of(server.requests[0]) == "AKIAFROMPROFILE00001"


def test_bedrock_api_key_from_the_environment_needs_no_credentials(no_aws):
    """A Bedrock API key (AWS_BEARER_TOKEN_BEDROCK) replaces AWS credentials: the provider is
    built without any (boto3 sends the key as a bearer token, over HTTPS only, so it is not
    sent to the plain-HTTP loopback server here), and the key is scrubbed like a secret."""
    key = "ABSKQmVkcm9ja0FQSUtleS1leGFtcGxlLWtleQ=="
    no_aws.setenv("AWS_BEARER_TOKEN_BEDROCK", key)
    router = Router(providers={"bedrock": {"region": REGION}}, plugins=["bedrock"])
    provider = router.provider("bedrock")
    assert provider.scrubber.text(f"echoed {key}") == "echoed ***"


def test_api_key_is_refused_with_the_way_to_go(no_aws):
    router = Router(providers={"bedrock": {"region": REGION, "api_key": "abc-123-456-789"}},
                    plugins=["bedrock"])
    with pytest.raises(ConfigurationError, match="AWS_BEARER_TOKEN_BEDROCK"):
        router.chat(model=NOVA, messages=HI)


def test_repr_shows_no_secret(no_aws, server):
    router = router_for(server)
    assert SECRET not in repr(router) and SECRET not in repr(router.provider("bedrock"))
    assert SECRET not in repr(router.provider("bedrock").config)


# ---------------------------------------------------------------------------- the async pool


def test_event_loop_runs_while_calls_are_in_flight(server):
    """Six calls are held open by the server at once; the loop keeps running (it is what
    notices all six arrived and releases them): no call blocks the loop."""
    server.gate = threading.Event()
    n = 6

    async def main(router):
        calls = [asyncio.create_task(router.achat(model=NOVA, messages=HI)) for _ in range(n)]
        ticks = 0
        while server.inflight < n:  # only reachable if the loop is free while boto3 waits
            ticks += 1
            await asyncio.sleep(0.001)
        assert all(not c.done() for c in calls)
        server.gate.set()
        return ticks, await asyncio.gather(*calls)

    with router_for(server) as router:
        ticks, answers = asyncio.run(main(router))
    assert ticks >= 1 and len(answers) == n and server.max_inflight == n


def test_async_calls_are_bounded_by_max_concurrency(server):
    server.gate = threading.Event()

    async def main(router):
        calls = [asyncio.create_task(router.achat(model=NOVA, messages=HI)) for _ in range(5)]
        while server.inflight < 2:
            await asyncio.sleep(0.001)
        for _ in range(20):  # the loop spins on; no third request arrives while two wait
            await asyncio.sleep(0.001)
        assert server.inflight == 2
        server.gate.set()
        return await asyncio.gather(*calls)

    with router_for(server, provider={"max_concurrency": 2}) as router:
        assert len(asyncio.run(main(router))) == 5
    assert server.max_inflight == 2


def test_async_streams_share_the_pool(server):
    server.script(*(Turn(text=f"stream {i} of several words") for i in range(4)))

    async def one(router):
        async with router.achat_stream(model=NOVA, messages=HI) as s:
            return "".join([c.delta async for c in s])

    async def main(router):
        return await asyncio.gather(*(one(router) for _ in range(4)))

    with router_for(server) as router:
        texts = asyncio.run(main(router))
    assert sorted(texts) == [f"stream {i} of several words" for i in range(4)]


def test_one_router_many_event_loops(server):
    with router_for(server) as router:
        for _ in range(3):
            assert asyncio.run(router.achat(model=NOVA, messages=HI)).content
        assert router.provider("bedrock").clients.async_clients == 0


# ---------------------------------------------------------------------------- around the calls


def test_telemetry_names_aws_bedrock(server):
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    tp = TracerProvider()
    tp.add_span_processor(SimpleSpanProcessor(exporter))
    with router_for(server, tracer_provider=tp) as router:
        router.chat(model=NOVA, messages=HI)
    tp.shutdown()
    names = [s.attributes.get("gen_ai.provider.name") for s in exporter.get_finished_spans()]
    assert "aws.bedrock" in names and set(names) <= {"aws.bedrock", None}


def test_two_regions_as_deployments_of_one_name(no_aws, server):
    """Bedrock in two regions behind one name: the first region throttles, the retry moves to
    the other deployment (each deployment its own provider configuration)."""
    claude = "us.anthropic.claude-sonnet-4-20250514-v1:0"
    with BedrockServer() as east:
        server.error(429, "slow down", code="ThrottlingException", times=5)
        deps = {"claude-sonnet-4": [
            {"provider": "bedrock", "model": claude, "name": "west", "weight": 1000,
             **creds(server)},
            {"provider": "bedrock", "model": claude, "name": "east", "weight": 0.001,
             **creds(east)}]}
        router = Router(deployments=deps, plugins=["bedrock"],
                        retry=RetryPolicy(max_attempts=3, initial_delay=0, jitter=0))
        with router:
            r = router.chat(model="claude-sonnet-4", messages=HI)
        assert r.deployment == "east" and r.provider == "bedrock"
        assert server.hits >= 1 and east.hits == 1
        assert server.model_of(east.requests[0]) == claude


def test_fallback_across_clouds_one_usage_record(no_aws, server):
    """gpt-4o on OpenAI fails; the chain falls back to Claude on Bedrock; one usage record
    lists both attempts."""
    records = UsageRecorder()
    claude = "bedrock/us.anthropic.claude-sonnet-4-20250514-v1:0"
    server.script(Turn(text="Claude on Bedrock answers."))
    with OpenAIWire() as openai:
        openai.fail(500, "down", times=2)
        router = Router(providers={"openai": {"api_key": "sk-test-fallback-000000",
                                              "base_url": openai.base_url},
                                   "bedrock": creds(server)},
                        fallbacks={"gpt-4o": [claude]}, plugins=["openai", "bedrock", records],
                        retry=RetryPolicy(max_attempts=1, initial_delay=0, jitter=0))
        with router:
            r = router.chat(model="gpt-4o", messages=HI)
    assert r.content == "Claude on Bedrock answers." and r.provider == "bedrock"
    (rec,) = records.records
    assert [(a.provider, a.status) for a in rec.attempts] == [
        ("openai", "ProviderServerError"), ("bedrock", "ok")]
    assert rec.cost is not None

"""A fallback chain across clouds (issue 16, "Done when"): ``gpt-4o`` on OpenAI, then an Azure
OpenAI deployment, then Claude on Bedrock, each through its own SDK against its own wire server
(openai_wire, azure_wire, bedrock_wire), one usage record listing the three attempts."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from azure_wire import VERSION, AzureWire
from bedrock_wire import BedrockServer, Turn, creds
from openai_wire import OpenAIWire
from parity import MODES, call, stream

from cencori_core import RetryPolicy, Router
from cencori_core.testing import UsageRecorder

USER = [{"role": "user", "content": "Hello there"}]
CLAUDE = "bedrock/us.anthropic.claude-sonnet-4-20250514-v1:0"


@pytest.fixture(scope="module")
def wires() -> Iterator[tuple[OpenAIWire, AzureWire, BedrockServer]]:
    with OpenAIWire() as openai, AzureWire() as azure, BedrockServer() as bedrock:
        yield openai, azure, bedrock


@pytest.fixture
def clouds(wires: Any) -> Iterator[tuple[Router, UsageRecorder, Any]]:
    openai, azure, bedrock = wires
    for w in wires:
        w.reset()
    records = UsageRecorder()
    router = Router(
        providers={
            "openai": {"api_key": "sk-openai-test-key-123456", "base_url": openai.base_url},
            "azure": {"endpoint": azure.endpoint, "api_key": azure.api_key,
                      "api_version": VERSION, "deployments": {"my-gpt-4o": "gpt-4o"}},
            "bedrock": creds(bedrock),
        },
        plugins=["openai", "bedrock", records],
        fallbacks={"gpt-4o": ["azure/my-gpt-4o", CLAUDE]},
        retry=RetryPolicy(max_attempts=1, initial_delay=0, jitter=0),
    )
    try:
        yield router, records, wires
    finally:
        router.close()


@pytest.mark.parametrize("mode", MODES)
def test_openai_then_azure_then_bedrock_one_record(clouds, mode):
    router, records, (openai, azure, bedrock) = clouds
    openai.fail(503, "overloaded")
    azure.fail(429, "rate limited", retry_after=0)
    bedrock.script(Turn(text="Hello from Claude on Bedrock", usage=(9, 5)))
    r = call(router, mode, "chat", model="gpt-4o", messages=USER)
    assert r.content == "Hello from Claude on Bedrock"
    assert r.provider == "bedrock" and r.usage.prompt_tokens == 9
    assert [(a.provider, a.status) for a in r.attempts] == [
        ("openai", "ProviderServerError"), ("azure", "ProviderRateLimitError"),
        ("bedrock", "ok")]
    # each cloud got exactly one request, in its own wire format
    assert [rec.path for rec in openai.server.requests] == ["/v1/chat/completions"]
    (az,) = azure.server.requests
    assert az.path == "/openai/deployments/my-gpt-4o/chat/completions"
    assert az.query["api-version"] == [VERSION] and "api-key" in az.headers
    (bd,) = bedrock.requests
    assert bd.path.endswith("/converse") and bd.headers["authorization"].startswith("AWS4-HMAC")
    (record,) = records.records
    assert record.status == "ok" and record.provider == "bedrock"
    assert [a.provider for a in record.attempts] == ["openai", "azure", "bedrock"]
    assert record.attempts[0].error and record.attempts[1].error
    assert record.cost is not None and record.cost.total > 0  # priced at Claude's rate


@pytest.mark.parametrize("mode", MODES)
def test_a_stream_falls_back_across_clouds_before_its_first_chunk(clouds, mode):
    router, records, (openai, azure, bedrock) = clouds
    openai.fail(500, "boom")
    azure.fail(503, "unavailable")
    bedrock.script(Turn(text="streamed from Bedrock"))
    chunks, s = stream(router, mode, model="gpt-4o", messages=USER)
    assert "".join(c.delta for c in chunks if c.delta) == "streamed from Bedrock"
    (record,) = records.records
    assert [a.provider for a in record.attempts] == ["openai", "azure", "bedrock"]
    assert record.status == "ok"

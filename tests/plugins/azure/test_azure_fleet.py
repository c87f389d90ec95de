"""An Azure deployment as one of the ``deployments`` of an OpenAI model name: balanced with the
OpenAI endpoint, cooled down when it fails, priced with Azure's prices for the model; both through
the real SDK against their wire servers."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from azure_wire import AZURE_KEY, AzureWire, azure_wire
from openai_wire import OpenAIWire, openai_wire
from parity import MODES, call

from cencori_core import RetryPolicy, Router

__all__ = ["azure_wire", "openai_wire"]  # the fixtures, imported for pytest

OPENAI_KEY = "sk-test-fleet-0123456789abcdef"
USER = [{"role": "user", "content": "Hi"}]


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def fleet(openai_wire: OpenAIWire, azure_wire: AzureWire, **kw: Any) -> Router:
    deps = {"gpt-4o": [
        {"provider": "openai", "name": "openai-us", "api_key": OPENAI_KEY,
         "base_url": openai_wire.base_url},
        {"provider": "azure", "name": "azure-eu", "endpoint": azure_wire.endpoint,
         "api_key": AZURE_KEY, "api_version": "2024-10-21", "deployment": "eu-gpt-4o"},
    ]}
    return Router(deployments=deps, plugins=["openai"], **kw)


def chat(router: Router, mode: str) -> Any:
    return call(router, mode, "chat", model="gpt-4o", messages=USER)


def test_balanced_across_openai_and_azure(openai_wire, azure_wire, mode):
    router = fleet(openai_wire, azure_wire)
    try:
        seen = Counter()
        for _ in range(40):
            r = chat(router, mode)
            seen[r.deployment] += 1
            assert r.cost is not None  # OpenAI's and Azure's prices for gpt-4o
        assert seen["openai-us"] > 5 and seen["azure-eu"] > 5
        assert openai_wire.hits == seen["openai-us"] and azure_wire.hits == seen["azure-eu"]
        rec = azure_wire.last()
        assert rec.path == "/openai/deployments/eu-gpt-4o/chat/completions"
        assert rec.json["model"] == "gpt-4o" and rec.headers["api-key"] == AZURE_KEY
        assert openai_wire.last().headers["authorization"] == f"Bearer {OPENAI_KEY}"
        route = router.resolve("gpt-4o")
        assert route.via == "deployment" and route.deployment in ("openai-us", "azure-eu")
    finally:
        router.close()


def test_failing_azure_deployment_cools_down(openai_wire, azure_wire, mode):
    router = fleet(openai_wire, azure_wire,
                   cooldown={"allowed_fails": 1, "window_s": 60, "cooldown_s": 60},
                   retry=RetryPolicy(max_attempts=2, initial_delay=0, jitter=0))
    try:
        azure_wire.fail(503, "The service is temporarily unavailable", times=50)
        for _ in range(12):
            r = chat(router, mode)  # a failed Azure attempt is retried on OpenAI
            assert r.deployment == "openai-us"
        assert 1 <= azure_wire.hits <= 2  # cooling after its first failure: skipped since
        first = azure_wire.hits
        for _ in range(10):
            assert (chat(router, mode)).deployment == "openai-us"
        assert azure_wire.hits == first
    finally:
        router.close()

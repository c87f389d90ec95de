"""The conformance kit against the openai plugin (OpenAI itself, and a type-only
``openai_compatible`` server), through the real SDK and :mod:`openai_wire`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from openai_conformance_wire import OpenAIConformanceWire
from openai_wire import OpenAIWire

from cencori_core.testing.conformance import (
    ConformanceWire,
    ProviderConformance,
    RerankConformance,
)


@pytest.fixture
def openai_conformance_wire() -> Iterator[ConformanceWire]:
    with OpenAIWire() as w:
        yield OpenAIConformanceWire(w)


class TestOpenAI(ProviderConformance):
    plugin = "openai"
    provider = "openai"
    model = "gpt-4o"
    sdk_modules = ("openai", "httpx", "httpx2")

    @pytest.fixture
    def wire(self, openai_conformance_wire: ConformanceWire) -> ConformanceWire:
        return openai_conformance_wire


class TestOpenAICompatible(TestOpenAI, RerankConformance):
    provider = "local"
    model = "local/qwen2.5-7b"
    rerank_model = "local/bge-reranker-v2-m3"
    import_check_model = "gpt-4o"  # "local" exists only through configuration

    def provider_config(self, wire: ConformanceWire) -> dict[str, Any]:
        return {"type": "openai_compatible", "api_key": self.api_key,
                "base_url": wire.base_url, "models": ["qwen2.5-7b", "bge-reranker-v2-m3"]}

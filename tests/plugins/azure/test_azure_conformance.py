"""The conformance kit against the ``azure`` provider: the openai SDK's AzureOpenAI clients
against :mod:`azure_wire` (deployment paths, ``api-version``, ``api-key``, Azure's stream and
answer shapes)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from azure_wire import AzureWire
from openai_conformance_wire import OpenAIConformanceWire

from cencori_core.testing.conformance import ConformanceWire, ProviderConformance


class TestAzureOpenAI(ProviderConformance):
    plugin = "openai"
    provider = "azure"
    model = "azure/conformance-dep"
    sdk_modules = ("openai", "httpx", "httpx2")
    api_key = "azure-conformance-5e0f1a2b3c4d5e6f7a8b"

    @pytest.fixture
    def wire(self) -> Iterator[ConformanceWire]:
        with AzureWire(api_key=self.api_key) as w:
            yield OpenAIConformanceWire(w, base_url=w.endpoint)

    def provider_config(self, wire: ConformanceWire) -> dict[str, Any]:
        return {"endpoint": wire.base_url, "api_key": self.api_key,
                "api_version": "2024-10-21", "deployments": {"conformance-dep": "gpt-4o"}}

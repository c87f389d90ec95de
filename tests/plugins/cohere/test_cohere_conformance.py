"""The conformance kit (cencori_core.testing.conformance) against the cohere plugin, through the
real ``cohere`` SDK and :mod:`cohere_wire`, sync and async."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from cohere_wire import CohereConformanceWire, CohereServer

from cencori_core.testing.conformance import ConformanceWire, RerankConformance


class TestCohere(RerankConformance):
    plugin = "cohere"
    provider = "cohere"
    model = "command-a-03-2025"
    rerank_model = "rerank-v3.5"
    sdk_modules = ("cohere", "httpx")

    @pytest.fixture
    def wire(self) -> Iterator[ConformanceWire]:
        with CohereServer() as server:
            yield CohereConformanceWire(server)

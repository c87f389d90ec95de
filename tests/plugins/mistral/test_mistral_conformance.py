"""The conformance kit (cencori_core.testing.conformance) against the mistral plugin, through the
real ``mistralai`` SDK and :mod:`mistral_wire`, sync and async."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from mistral_wire import MistralConformanceWire, MistralWire

from cencori_core.testing.conformance import ConformanceWire, ProviderConformance


class TestMistral(ProviderConformance):
    plugin = "mistral"
    provider = "mistral"
    model = "mistral-small-latest"
    sdk_modules = ("mistralai", "httpx2")

    @pytest.fixture
    def wire(self) -> Iterator[ConformanceWire]:
        w = MistralWire().start()
        yield MistralConformanceWire(w)
        w.stop()

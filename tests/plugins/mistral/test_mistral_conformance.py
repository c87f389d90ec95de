"""The conformance kit (cencori_core.testing.conformance) against the mistral plugin, through the
real ``mistralai`` SDK and :mod:`mistral_wire`, sync and async."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from mistral_wire import MistralConformanceWire, MistralWire, stream_path  # noqa: F401 - the fixture

from cencori_core.testing.conformance import ConformanceWire, ProviderConformance

# every test on both stream paths (fast JSON events, the SDK's public EventStream)
pytestmark = pytest.mark.usefixtures("stream_path")


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

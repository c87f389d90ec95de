"""The conformance kit against the example third-party plugin's ``example_api`` provider and
its own wire server: what a plugin author gets by subclassing ProviderConformance."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from example_wire import ExampleWire

from cencori_core.testing.conformance import ProviderConformance


class TestExampleAPI(ProviderConformance):
    plugin = "example"
    provider = "example_api"
    model = "exapi-reverse"
    sdk_modules = ("httpx",)

    @pytest.fixture
    def wire(self) -> Iterator[ExampleWire]:
        with ExampleWire() as w:
            yield w

"""The conformance kit against the google plugin, through the real google-genai SDK and
:mod:`google_wire`, on both SDK paths."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from google_conformance_wire import GoogleConformanceWire
from google_wire import GeminiWire
from sdk_paths import sdk_path  # noqa: F401 - autouse: every test on both SDK paths

from cencori_core.testing.conformance import ConformanceWire, ProviderConformance


class TestGoogle(ProviderConformance):
    plugin = "google"
    provider = "google"
    model = "gemini-2.5-flash"
    sdk_modules = ("google", "httpx2")

    @pytest.fixture
    def wire(self) -> Iterator[ConformanceWire]:
        with GeminiWire(api_key=self.api_key) as w:
            yield GoogleConformanceWire(w)

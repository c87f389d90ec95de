"""The conformance kit against ``vertex``: the google plugin in Vertex AI mode, through the real
google-genai SDK with Google credentials carrying a fixed access token, against
:mod:`vertex_wire` (project and location paths, ``Authorization: Bearer``), on both SDK paths.
The kit's key is the access token here: its scrubbing test checks the token never leaks."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from google.oauth2.credentials import Credentials
from google_conformance_wire import GoogleConformanceWire
from sdk_paths import sdk_path  # noqa: F401 - autouse: every test on both SDK paths
from vertex_wire import LOCATION, PROJECT, TOKEN, VertexWire

from cencori_core.testing.conformance import ConformanceWire, ProviderConformance


class TestVertex(ProviderConformance):
    plugin = "google"
    provider = "vertex"
    model = "vertex/gemini-2.5-flash"
    sdk_modules = ("google", "httpx2")
    api_key = TOKEN

    @pytest.fixture
    def wire(self) -> Iterator[ConformanceWire]:
        with VertexWire(token=self.api_key) as w:
            yield GoogleConformanceWire(w)

    def provider_config(self, wire: ConformanceWire) -> dict[str, Any]:
        return {"base_url": wire.base_url, "project": PROJECT, "location": LOCATION,
                "credentials": Credentials(token=self.api_key)}

"""The conformance kit (cencori_core.testing.conformance) against the bedrock plugin, through the
real boto3 client and :mod:`bedrock_wire`, sync and async. The kit's "API key" is the AWS secret
access key here: the scrubbing test has the server echo it in the error and the request id."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from bedrock_wire import KEY_ID, REGION, BedrockConformanceWire, BedrockServer

from cencori_core.testing.conformance import ConformanceWire, ProviderConformance


class TestBedrock(ProviderConformance):
    plugin = "bedrock"
    provider = "bedrock"
    model = "bedrock/us.anthropic.claude-sonnet-4-20250514-v1:0"
    sdk_modules = ("boto3", "botocore", "urllib3")
    api_key = "wJalrXUtnFEMI/K7MDENG/conformanceSECRETkey"

    @pytest.fixture
    def wire(self) -> Iterator[ConformanceWire]:
        with BedrockServer() as server:
            yield BedrockConformanceWire(server)
            assert server.unsigned == []

    def provider_config(self, wire: ConformanceWire) -> dict[str, Any]:
        return {"region": REGION, "aws_access_key_id": KEY_ID,
                "aws_secret_access_key": self.api_key, "endpoint_url": wire.base_url}

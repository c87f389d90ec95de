"""The conformance kit against the ``azure`` provider: the openai SDK's AzureOpenAI clients
against :mod:`azure_wire` (deployment paths, ``api-version``, ``api-key``, Azure's stream and
answer shapes)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from azure_wire import AzureWire
from loopback import Reply

from cencori_core.testing.conformance import ConformanceWire, ProviderConformance


class AzureConformanceWire:
    """:class:`AzureWire` scripted through the kit's :class:`ConformanceWire` calls."""

    def __init__(self, wire: AzureWire) -> None:
        self.wire = wire
        self.base_url = wire.endpoint

    @property
    def hits(self) -> int:
        return self.wire.hits

    def reply(self, text: str, *, usage: tuple[int, int] = (3, 2)) -> None:
        self.wire.chat_reply(text, chunk_size=6,
                             usage={"prompt_tokens": usage[0], "completion_tokens": usage[1]})

    def reply_tool_call(self, name: str, arguments: str) -> None:
        self.wire.chat_reply(None, tool_calls=[{"name": name, "arguments": arguments}])

    def fail(self, status: int, *, message: str = "error", retry_after: float | None = None,
             request_id: str | None = None) -> None:
        self.wire.fail(status, message, retry_after=retry_after,
                       request_id=request_id or "req_conformance",
                       headers={"apim-request-id": request_id or "apim-conformance"})

    def cut_stream(self, text: str, *, after: int) -> None:
        self.wire.chat_reply(text, chunk_size=8, cut_after=after)

    def end_stream_early(self, text: str, *, after: int) -> None:
        self.wire.chat_reply(text, chunk_size=8, end_after=after)

    def slow(self, seconds: float) -> None:
        self.wire.chat_reply("late", delay=seconds)

    def drop(self) -> None:
        self.wire.queue(Reply(lines=iter([b"{}"]), cut_after=0))


class TestAzureOpenAI(ProviderConformance):
    plugin = "openai"
    provider = "azure"
    model = "azure/conformance-dep"
    sdk_modules = ("openai", "httpx", "httpx2")
    api_key = "azure-conformance-5e0f1a2b3c4d5e6f7a8b"

    @pytest.fixture
    def wire(self) -> Iterator[ConformanceWire]:
        with AzureWire(api_key=self.api_key) as w:
            yield AzureConformanceWire(w)

    def provider_config(self, wire: ConformanceWire) -> dict[str, Any]:
        return {"endpoint": wire.base_url, "api_key": self.api_key,
                "api_version": "2024-10-21", "deployments": {"conformance-dep": "gpt-4o"}}

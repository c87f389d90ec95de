"""The conformance kit against the openai plugin (OpenAI itself, and a type-only
``openai_compatible`` server), through the real SDK and :mod:`openai_wire`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from loopback import Reply
from openai_wire import OpenAIWire

from cencori_core.testing.conformance import (
    ConformanceWire,
    ProviderConformance,
    RerankConformance,
)


class OpenAIConformanceWire:
    """:class:`OpenAIWire` scripted through the kit's :class:`ConformanceWire` calls."""

    def __init__(self, wire: OpenAIWire) -> None:
        self.wire = wire
        self.base_url = wire.base_url

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
                       request_id=request_id or "req_conformance")

    def cut_stream(self, text: str, *, after: int) -> None:
        self.wire.chat_reply(text, chunk_size=8, cut_after=after)

    def end_stream_early(self, text: str, *, after: int) -> None:
        self.wire.chat_reply(text, chunk_size=8, end_after=after)

    def slow(self, seconds: float) -> None:
        self.wire.chat_reply("late", delay=seconds)

    def drop(self) -> None:
        self.wire.queue(Reply(lines=iter([b"{}"]), cut_after=0))

    def reply_rerank(self, ranking: list[tuple[int, float]], *, tokens: int | None = None,
                     ) -> None:
        body: dict[str, Any] = {"id": "rerank-cnf", "model": "bge-reranker-v2-m3", "results": [
            {"index": i, "relevance_score": s} for i, s in ranking]}
        if tokens is not None:
            body["usage"] = {"total_tokens": tokens}
        self.wire.script("/rerank", Reply.json(body))


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

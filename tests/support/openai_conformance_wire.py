"""The conformance kit's wire calls (:class:`~cencori_core.testing.conformance.ConformanceWire`)
on an :class:`openai_wire.OpenAIWire`, or on any server built on it (:class:`azure_wire.AzureWire`
gives its resource endpoint as ``base_url``)."""

from __future__ import annotations

from typing import Any

from loopback import Reply
from openai_wire import OpenAIWire

__all__ = ["OpenAIConformanceWire"]


class OpenAIConformanceWire:
    """:class:`OpenAIWire` scripted through the kit's :class:`ConformanceWire` calls."""

    def __init__(self, wire: OpenAIWire, base_url: str | None = None) -> None:
        self.wire = wire
        self.base_url = base_url or wire.base_url

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

"""The response cache in front of a real provider: the ``openai`` SDK through the router
against the OpenAI wire server (:mod:`openai_wire`), sync and async. The wire server counts
what reached the provider; priced models show the saved cost."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from openai_wire import OpenAIWire, ToolCallSpec, openai_wire
from parity import MODES, call, stream

from cencori_core import RetryPolicy, Router
from cencori_core.testing import UsageRecorder

__all__ = ["openai_wire"]  # the fixture, imported for pytest

KEY = "sk-test-cache-wire-0123456789abcdef"
USER = [{"role": "user", "content": "Hello there"}]
TOOLS = [{"type": "function", "function": {
    "name": "get_weather", "parameters": {"type": "object",
                                          "properties": {"city": {"type": "string"}}}}}]


def make(wire: OpenAIWire, **kw: Any) -> tuple[Router, UsageRecorder]:
    sink = UsageRecorder()
    router = Router(providers={"openai": {"api_key": KEY, "base_url": wire.base_url}},
                    plugins=["openai", sink], retry=RetryPolicy(max_attempts=1),
                    cache=kw.pop("cache", True), **kw)
    return router, sink


@pytest.mark.parametrize("mode", MODES)
def test_chat_hit_through_the_openai_sdk(mode: str, openai_wire: OpenAIWire) -> None:
    router, sink = make(openai_wire)
    openai_wire.chat_reply("Sunny.", usage={"prompt_tokens": 1000, "completion_tokens": 100})
    first = call(router, mode, "chat", model="gpt-4o", messages=USER, temperature=0)
    second = call(router, mode, "chat", model="gpt-4o", messages=USER, temperature=0)
    assert openai_wire.hits_to("/chat/completions") == 1
    assert second.cache_hit and second.content == "Sunny." and second.model == first.model
    assert first.cost is not None and first.cost.total > 0
    assert second.cost is not None and second.cost.total == 0
    hit = sink.records[-1]
    assert hit.cache_hit and hit.saved_cost == first.cost
    assert hit.provider == "openai" and hit.model == first.model
    [row] = router.usage.summary(by="provider")
    assert row.cache_hits == 1 and row.saved_cost == first.cost.total
    assert row.cost == first.cost.total


@pytest.mark.parametrize("mode", MODES)
def test_stream_miss_is_stored_and_replayed(mode: str, openai_wire: OpenAIWire) -> None:
    router, sink = make(openai_wire)
    openai_wire.chat_reply("It is sunny in Paris today.", chunk_size=4,
                           usage={"prompt_tokens": 10, "completion_tokens": 7})
    chunks, s = stream(router, mode, model="gpt-4o", messages=USER)
    assert len(chunks) > 3
    chunks2, s2 = stream(router, mode, model="gpt-4o", messages=USER)
    assert openai_wire.hits_to("/chat/completions") == 1
    assert "".join(c.delta for c in chunks2) == "It is sunny in Paris today."
    assert s2.response.cache_hit and s2.response.usage == s.response.usage
    assert sink.records[-1].saved_cost == s.response.cost


@pytest.mark.parametrize("mode", MODES)
def test_a_stream_cut_by_the_provider_is_not_stored(mode: str, openai_wire: OpenAIWire) -> None:
    from cencori_core import StreamInterruptedError

    router, sink = make(openai_wire)
    openai_wire.chat_reply("A long answer that will be cut", chunk_size=3, cut_after=3)
    with pytest.raises(StreamInterruptedError):
        stream(router, mode, model="gpt-4o", messages=USER)
    r = call(router, mode, "chat", model="gpt-4o", messages=USER)
    assert not r.cache_hit
    assert openai_wire.hits_to("/chat/completions") == 2


@pytest.mark.parametrize("mode", MODES)
def test_tool_call_answers_are_cached(mode: str, openai_wire: OpenAIWire) -> None:
    router, _ = make(openai_wire)
    openai_wire.chat_reply(None, tool_calls=[ToolCallSpec("get_weather", '{"city": "Paris"}')])
    first = call(router, mode, "chat", model="gpt-4o", messages=USER, tools=TOOLS)
    second = call(router, mode, "chat", model="gpt-4o", messages=USER, tools=TOOLS)
    assert second.cache_hit and openai_wire.hits_to("/chat/completions") == 1
    assert [(t.name, t.arguments) for t in second.tool_calls] == [("get_weather",
                                                                   {"city": "Paris"})]
    assert second.tool_calls[0].id == first.tool_calls[0].id
    assert second.to_openai()["choices"][0]["message"]["tool_calls"] == \
        first.to_openai()["choices"][0]["message"]["tool_calls"]


@pytest.mark.parametrize("mode", MODES)
def test_embeddings_hit_through_the_openai_sdk(mode: str, openai_wire: OpenAIWire) -> None:
    router, sink = make(openai_wire)
    a = call(router, mode, "embed", "text-embedding-3-small", ["alpha", "beta"])
    b = call(router, mode, "embed", "text-embedding-3-small", ["alpha", "beta"])
    assert openai_wire.hits_to("/embeddings") == 1
    assert b.cache_hit and b.vectors == a.vectors and len(b.vectors) == 2
    assert a.cost is not None and sink.records[-1].saved_cost == a.cost
    assert b.cost is not None and b.cost.total == Decimal(0)

"""``refusal`` on ChatResponse and ChatChunk, and its accumulation over a stream."""

from __future__ import annotations

from cencori_core._stream import StreamAccumulator
from cencori_core.types import ChatChunk, ChatResponse


def test_refusal_on_response_dict_and_openai_shape() -> None:
    r = ChatResponse(content=None, refusal="I can't help with that.")
    assert r.to_dict()["refusal"] == "I can't help with that."
    assert r.to_openai()["choices"][0]["message"]["refusal"] == "I can't help with that."
    assert "refusal" not in ChatResponse(content="hi").to_openai()["choices"][0]["message"]


def test_refusal_deltas_accumulate() -> None:
    acc = StreamAccumulator()
    assert not ChatChunk(refusal="I can't").is_empty
    for chunk in (ChatChunk(refusal="I can't"), ChatChunk(refusal=" help."),
                  ChatChunk(finish_reason="stop")):
        acc.add(chunk)
    r = acc.response(provider="p", model="m")
    assert r.refusal == "I can't help." and r.content is None  # as OpenAI's non-streamed
    assert StreamAccumulator().response(provider="p", model="m").refusal is None

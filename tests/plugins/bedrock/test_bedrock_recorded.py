"""A real recorded Bedrock answer (tests/fixtures/recorded/bedrock, sources in SOURCES.md)
replayed through the real boto3 ``bedrock-runtime`` client (SigV4-signed) and the plugin."""

from __future__ import annotations

import json

import pytest
from bedrock_fixtures import *  # noqa: F403 - the fixtures (server, mode, ...)
from bedrock_wire import router_for
from botocore.eventstream import EventStreamBuffer
from replay_kit import cassette, drive, load, serve

from cencori_core import ProviderBadRequestError


@pytest.mark.parametrize("call", ["chat", "achat"])
async def test_nova_lite_converse_answer(server, call):
    """amazon.nova-lite: one text block, stopReason end_turn, usage with totalTokens and no
    cache counts, metrics.latencyMs."""
    rec = load("bedrock", "nova_lite_converse_output.json")
    serve(server, rec)
    with router_for(server) as router:
        r, _ = await drive(router, call, model="bedrock/amazon.nova-lite-v1:0",
                           max_tokens=512, temperature=0.7, top_p=0.9,
                           messages=[{"role": "user", "content": "hello how are you"}])
    assert r.content == rec.json()["output"]["message"]["content"][0]["text"]
    assert r.finish_reason == "stop"
    assert r.tool_calls == [] and r.reasoning is None
    u = r.usage
    assert (u.prompt_tokens, u.completion_tokens, u.total_tokens, u.cached_tokens,
            u.cache_write_tokens) == (4, 38, 42, 0, 0)
    (req,) = server.requests
    assert req.path == "/model/amazon.nova-lite-v1%3A0/converse"


STREAMED = ["stream", "astream"]


def _payloads(rec) -> list[tuple[str, dict]]:
    """The (event type, JSON payload) of each recorded event-stream frame."""
    buf = EventStreamBuffer()
    buf.add_data(rec.body)
    return [(m.headers[":event-type"], json.loads(m.payload)) for m in buf]


@pytest.mark.parametrize("call", STREAMED)
async def test_nova_micro_converse_stream_frames(server, call):
    """amazon.nova-micro ConverseStream, the recorded event-stream frames byte for byte (their
    CRCs checked by boto3): messageStart, 29 text deltas, contentBlockStop, messageStop
    end_turn, then metadata with the usage (13 + 82 = 95) and an empty serverToolUsage."""
    (rec,) = cassette("bedrock", "nova_micro_converse_stream.yaml")
    serve(server, rec)
    with router_for(server) as router:
        r, chunks = await drive(router, call, model="bedrock/us.amazon.nova-micro-v1:0",
                                temperature=0.0, messages=[
                                    {"role": "system", "content": "You are a helpful chatbot."},
                                    {"role": "user", "content": "What is the capital of France?"}])
    frames = _payloads(rec)
    texts = [p["delta"]["text"] for k, p in frames if k == "contentBlockDelta"]
    assert len(texts) == 29
    assert [c.delta for c in chunks if c.delta] == texts
    assert r.content == "".join(texts)
    assert r.content.startswith("The capital of France is Paris.")
    assert (r.finish_reason, r.tool_calls, r.reasoning) == ("stop", [], None)
    u = r.usage
    assert (u.prompt_tokens, u.completion_tokens, u.total_tokens, u.cached_tokens) == \
        (13, 82, 95, 0)
    (req,) = server.requests
    assert req.path == "/model/us.amazon.nova-micro-v1%3A0/converse-stream"


@pytest.mark.parametrize("call", STREAMED)
async def test_nova_micro_tool_call_stream_then_answer(server, call):
    """nova-micro streams its <thinking> as plain text, then a toolUse block whose whole input
    comes in one delta; stopReason tool_use. The recorded second turn answers in text."""
    first, second = cassette("bedrock", "nova_micro_tool_call_stream.yaml")
    serve(server, first, second)
    tool = {"type": "function", "function": {
        "name": "get_temperature", "parameters": {
            "type": "object", "properties": {"city": {"type": "string"}},
            "required": ["city"]}}}
    ask = [{"role": "user", "content": "What is the temperature of the capital of France?"}]
    model = "bedrock/us.amazon.nova-micro-v1:0"
    with router_for(server) as router:
        r, _ = await drive(router, call, model=model, messages=ask, tools=[tool])
        assert r.content.startswith("<thinking> To find the temperature")
        assert r.content.endswith("in Paris.</thinking>\n")
        assert [(t.id, t.name, t.arguments) for t in r.tool_calls] == [
            ("tooluse_lAG_zP8QRHmSYOwZzzaCqA", "get_temperature", {"city": "Paris"})]
        assert r.finish_reason == "tool_calls"
        assert (r.usage.prompt_tokens, r.usage.completion_tokens) == (471, 91)
        follow = [*ask, r.message, {"role": "tool", "tool_call_id": r.tool_calls[0].id,
                                    "content": "30°C"}]
        r2, _ = await drive(router, call, model=model, messages=follow, tools=[tool])
    assert r2.content == "The current temperature in Paris, the capital of France, is 30°C."
    assert (r2.finish_reason, r2.tool_calls) == ("stop", [])
    assert (r2.usage.prompt_tokens, r2.usage.completion_tokens, r2.usage.total_tokens) == \
        (577, 18, 595)
    sent = server.requests[-1].json["messages"]
    assert sent[1]["content"][-1] == {"toolUse": {
        "toolUseId": "tooluse_lAG_zP8QRHmSYOwZzzaCqA", "name": "get_temperature",
        "input": {"city": "Paris"}}}
    assert sent[2]["content"][0]["toolResult"]["toolUseId"] == "tooluse_lAG_zP8QRHmSYOwZzzaCqA"


@pytest.mark.parametrize("call", STREAMED)
async def test_claude_redacted_reasoning_stream(server, call):
    """Claude 3.7 on Bedrock: two redactedContent reasoning blocks (base64 blobs in the frames,
    bytes from boto3), then text. No reasoning text; both blobs kept, base64, to go back."""
    (rec,) = cassette("bedrock", "claude37_redacted_thinking_stream.yaml")
    serve(server, rec)
    with router_for(server) as router:
        r, _ = await drive(router, call,
                           model="bedrock/us.anthropic.claude-3-7-sonnet-20250219-v1:0",
                           max_tokens=4096, messages=[{"role": "user", "content": "hi"}])
    frames = _payloads(rec)
    blobs = [p["delta"]["reasoningContent"]["redactedContent"] for k, p in frames
             if k == "contentBlockDelta" and "reasoningContent" in p["delta"]]
    assert len(blobs) == 2
    assert r.provider_data == {"bedrock": {"reasoning": [{"redacted": b} for b in blobs]}}
    assert r.reasoning is None
    assert r.content.startswith("I notice you've sent what appears to be some kind of command")
    assert r.content.endswith("What would you like to talk about today?")
    assert r.finish_reason == "stop"
    assert (r.usage.prompt_tokens, r.usage.completion_tokens, r.usage.total_tokens) == \
        (92, 253, 345)


@pytest.mark.parametrize("call", STREAMED)
async def test_invalid_model_identifier_on_converse_stream(server, call):
    """A ConverseStream request for a model id that does not exist: 400 with a bare
    ``{"message": ...}`` body (the recording kept no x-amzn-ErrorType header)."""
    (rec,) = cassette("bedrock", "error_400_invalid_model_stream.yaml")
    serve(server, rec)
    with router_for(server) as router, pytest.raises(ProviderBadRequestError) as info:
        await drive(router, call, model="bedrock/us.does-not-exist-model-v1:0",
                    messages=[{"role": "user", "content": "hi"}])
    assert "The provided model identifier is invalid." in str(info.value)
    assert info.value.retryable is False

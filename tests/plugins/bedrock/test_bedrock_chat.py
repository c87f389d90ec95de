"""Bedrock chat end to end: the router drives the real boto3 ``bedrock-runtime`` client (Converse
and ConverseStream) against a loopback server speaking Bedrock's wire format (JSON and AWS
event-stream frames), sync and async. Each test checks what the server received (SigV4-signed)
and what the router returned."""

from __future__ import annotations

import asyncio
import base64
import json

import pytest
from bedrock_fixtures import *  # noqa: F403 - the fixtures (server, mode, ...)
from bedrock_wire import SECRET, TOKEN, Turn, router_for
from genai_prices import Usage as GUsage
from genai_prices import calc_price

from cencori_core import StreamInterruptedError, Usage
from cencori_core.testing import UsageRecorder

HI = [{"role": "user", "content": "Hi"}]
CLAUDE = "bedrock/us.anthropic.claude-sonnet-4-20250514-v1:0"
NOVA = "bedrock/amazon.nova-pro-v1:0"
WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Current weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                   "required": ["city"]}}}
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\nfake-image-bytes").decode()


def chat(router, mode, **kw):
    kw.setdefault("messages", HI)
    if mode == "sync":
        return router.chat(**kw)
    return asyncio.run(router.achat(**kw))


def stream(router, mode, **kw):
    kw.setdefault("messages", HI)
    if mode == "sync":
        with router.chat_stream(**kw) as s:
            return list(s), s.response

    async def run():
        async with router.achat_stream(**kw) as s:
            return [c async for c in s], s.response

    return asyncio.run(run())


# ---------------------------------------------------------------------------- plain chat


def test_chat_system_and_inference_config(server, mode):
    with router_for(server) as router:
        r = chat(router, mode, model=CLAUDE, temperature=0.2, max_tokens=100, top_p=0.9,
                 stop=["\n\n"], messages=[{"role": "system", "content": "Be brief."}, *HI])
    (rec,) = server.requests
    assert rec.path == "/model/us.anthropic.claude-sonnet-4-20250514-v1%3A0/converse"
    assert rec.json == {"messages": [{"role": "user", "content": [{"text": "Hi"}]}],
                        "system": [{"text": "Be brief."}],
                        "inferenceConfig": {"maxTokens": 100, "temperature": 0.2, "topP": 0.9,
                                            "stopSequences": ["\n\n"]}}
    assert r.content == "Hello from Bedrock!" and r.finish_reason == "stop"
    assert r.provider == "bedrock" and r.model == "us.anthropic.claude-sonnet-4-20250514-v1:0"
    assert r.usage == Usage.of(12, 6)
    assert r.id.startswith("req-")  # the x-amzn-RequestId
    ref = calc_price(GUsage(input_tokens=12, output_tokens=6),
                     "us.anthropic.claude-sonnet-4-20250514-v1:0", provider_id="aws")
    assert r.cost is not None and r.cost.total == ref.total_price


def test_session_token_is_sent(server, mode):
    with router_for(server, provider={"aws_session_token": TOKEN}) as router:
        chat(router, mode, model=NOVA)
    assert server.requests[0].headers["x-amz-security-token"] == TOKEN


def test_any_model_id_is_sent_as_written(server, mode):
    with router_for(server) as router:
        r = chat(router, mode, model="bedrock/arn:aws:bedrock:us-east-1:123456789012:"
                                     "application-inference-profile/abc123")
    assert server.model_of(server.requests[0]) == ("arn:aws:bedrock:us-east-1:123456789012:"
                                                   "application-inference-profile/abc123")
    assert r.cost is None  # not in the price data: unpriced, with the reason recorded


@pytest.mark.parametrize("stop,finish", [
    ("end_turn", "stop"), ("stop_sequence", "stop"), ("max_tokens", "length"),
    ("model_context_window_exceeded", "length"), ("guardrail_intervened", "content_filter"),
    ("content_filtered", "content_filter"), ("malformed_model_output", "error")])
def test_stop_reasons(server, stop, finish):
    with router_for(server) as router:
        server.script(Turn(stop_reason=stop), Turn(stop_reason=stop))
        assert router.chat(model=NOVA, messages=HI).finish_reason == finish
        _, resp = stream(router, "sync", model=NOVA)
        assert resp.finish_reason == finish


def test_usage_with_cache_tokens(server, mode):
    """Bedrock's inputTokens excludes the cache: the prompt is inputTokens + read + write."""
    with router_for(server) as router:
        server.script(Turn(usage=(20, 8), cache_read=1000, cache_write=300))
        r = chat(router, mode, model=CLAUDE)
        server.script(Turn(usage=(20, 8), cache_read=1000, cache_write=300))
        _, s = stream(router, mode, model=CLAUDE)
    want = Usage(prompt_tokens=1320, completion_tokens=8, total_tokens=1328,
                 cached_tokens=1000, cache_write_tokens=300)
    assert r.usage == want and s.usage == want
    ref = calc_price(GUsage(input_tokens=1320, output_tokens=8, cache_read_tokens=1000,
                            cache_write_tokens=300),
                     "us.anthropic.claude-sonnet-4-20250514-v1:0", provider_id="aws")
    assert r.cost.total == ref.total_price


# ---------------------------------------------------------------------------- tools


def test_tools_round_trip(server, mode):
    server.script(Turn(text=None, tool_calls=[("tooluse_a1", "get_weather", {"city": "Paris"}),
                                              ("tooluse_b2", "get_weather", {"city": "Oslo"})]),
                  Turn(text="Paris 21°C, Oslo 9°C."))
    with router_for(server) as router:
        first = chat(router, mode, model=CLAUDE, tools=[WEATHER], tool_choice="required")
        assert first.finish_reason == "tool_calls" and first.content is None
        assert [(c.id, c.name, c.arguments) for c in first.tool_calls] == [
            ("tooluse_a1", "get_weather", {"city": "Paris"}),
            ("tooluse_b2", "get_weather", {"city": "Oslo"})]
        history = [*HI, first.message,
                   {"role": "tool", "tool_call_id": "tooluse_a1", "content": "21°C"},
                   {"role": "tool", "tool_call_id": "tooluse_b2", "content": "9°C"}]
        second = chat(router, mode, model=CLAUDE, tools=[WEATHER], messages=history)
    assert second.content == "Paris 21°C, Oslo 9°C."
    one, two = server.bodies("/converse")
    assert one["toolConfig"] == {"tools": [{"toolSpec": {
        "name": "get_weather", "description": "Current weather for a city",
        "inputSchema": {"json": WEATHER["function"]["parameters"]}}}],
        "toolChoice": {"any": {}}}
    # the assistant's toolUse blocks, then both results in one user turn (turns alternate)
    assert two["messages"] == [
        {"role": "user", "content": [{"text": "Hi"}]},
        {"role": "assistant", "content": [
            {"toolUse": {"toolUseId": "tooluse_a1", "name": "get_weather",
                         "input": {"city": "Paris"}}},
            {"toolUse": {"toolUseId": "tooluse_b2", "name": "get_weather",
                         "input": {"city": "Oslo"}}}]},
        {"role": "user", "content": [
            {"toolResult": {"toolUseId": "tooluse_a1", "content": [{"text": "21°C"}]}},
            {"toolResult": {"toolUseId": "tooluse_b2", "content": [{"text": "9°C"}]}}]}]


def test_streamed_tool_calls(server, mode):
    server.script(Turn(text="Let me check.",
                       tool_calls=[("tooluse_s1", "get_weather", {"city": "Lima"}),
                                   ("tooluse_s2", "get_weather", {"city": "Quito"})]))
    with router_for(server) as router:
        chunks, resp = stream(router, mode, model=CLAUDE, tools=[WEATHER],
                              tool_choice={"type": "function",
                                           "function": {"name": "get_weather"}})
    assert server.bodies("/converse-stream")[0]["toolConfig"]["toolChoice"] == {
        "tool": {"name": "get_weather"}}
    assert resp.content == "Let me check." and resp.finish_reason == "tool_calls"
    assert [(c.id, c.name, c.arguments) for c in resp.tool_calls] == [
        ("tooluse_s1", "get_weather", {"city": "Lima"}),
        ("tooluse_s2", "get_weather", {"city": "Quito"})]
    assert sum(1 for c in chunks for d in c.tool_calls if d.arguments) > 2  # in pieces


def test_tool_choice_none_offers_no_tools(server):
    with router_for(server) as router:
        router.chat(model=CLAUDE, messages=HI, tools=[WEATHER], tool_choice="none")
    assert "toolConfig" not in server.bodies("/converse")[0]


# ---------------------------------------------------------------------------- images


def test_images_as_bytes_and_s3(server, mode):
    content = [{"type": "text", "text": "What is this?"},
               {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
               {"type": "image_url", "image_url": {"url": "s3://bucket/photos/cat.JPG"}}]
    with router_for(server) as router:
        chat(router, mode, model=NOVA, messages=[{"role": "user", "content": content}])
    blocks = server.bodies("/converse")[0]["messages"][0]["content"]
    # boto3 base64-encodes the blob on the wire, as the REST-JSON protocol says
    assert blocks == [{"text": "What is this?"},
                      {"image": {"format": "png", "source": {"bytes": PNG}}},
                      {"image": {"format": "jpeg",
                                 "source": {"s3Location": {"uri": "s3://bucket/photos/cat.JPG"}}}}]


# ---------------------------------------------------------------------------- reasoning


def test_reasoning_and_its_signature_go_back(server, mode):
    server.script(Turn(text="42.", reasoning="Six times seven.", signature="EqQBCkYIAxgCsig"),
                  Turn(text="Yes."))
    with router_for(server) as router:
        first = chat(router, mode, model=CLAUDE,
                     provider_options={"additionalModelRequestFields": {
                         "thinking": {"type": "enabled", "budget_tokens": 1024}}})
        assert first.reasoning == "Six times seven." and first.content == "42."
        chat(router, mode, model=CLAUDE,
             messages=[*HI, first.message, {"role": "user", "content": "Sure?"}])
    one, two = server.bodies("/converse")
    assert one["additionalModelRequestFields"] == {
        "thinking": {"type": "enabled", "budget_tokens": 1024}}
    assert two["messages"][1] == {"role": "assistant", "content": [
        {"reasoningContent": {"reasoningText": {"text": "Six times seven.",
                                                "signature": "EqQBCkYIAxgCsig"}}},
        {"text": "42."}]}


def test_streamed_reasoning(server, mode):
    server.script(Turn(text="42.", reasoning="Six times seven.", signature="sig-stream"))
    with router_for(server) as router:
        chunks, resp = stream(router, mode, model=CLAUDE)
    assert "".join(c.reasoning for c in chunks) == resp.reasoning == "Six times seven."
    assert resp.provider_data == {"bedrock": {"reasoning": [
        {"text": "Six times seven.", "signature": "sig-stream"}]}}


# ---------------------------------------------------------------------------- streams


def test_stream_in_pieces_with_usage(server, mode):
    server.script(Turn(text="A streamed answer in several pieces.", usage=(9, 7)))
    with router_for(server) as router:
        chunks, resp = stream(router, mode, model=NOVA)
    assert server.requests[0].path.endswith("/converse-stream")
    assert sum(1 for c in chunks if c.delta) == 6
    assert resp.content == "A streamed answer in several pieces."
    assert resp.usage == Usage.of(9, 7) and resp.finish_reason == "stop"


def test_frames_split_across_network_reads(server, mode):
    server.script(Turn(text="Split frames still parse.", split=True))
    with router_for(server) as router:
        _, resp = stream(router, mode, model=NOVA)
    assert resp.content == "Split frames still parse."


def test_stream_without_metadata_is_retried_before_the_first_chunk(server, mode):
    """A stream that ends cleanly before any text (no messageStop/metadata) is a dropped
    connection: retried; after chunks reached the caller it is StreamInterruptedError."""
    server.script(Turn(text="lost", end_after=1), Turn(text="Second try works."))
    records = UsageRecorder()
    with router_for(server, attempts=2, plugins=[records]) as router:
        _, resp = stream(router, mode, model=NOVA)
        assert resp.content == "Second try works."
        assert [a.status for a in records.records[-1].attempts] == [
            "ProviderConnectionError", "ok"]
        server.script(Turn(text="This answer stops before its end.", end_after=4))
        with pytest.raises(StreamInterruptedError) as info:
            stream(router, mode, model=NOVA)
    assert info.value.partial.content == "This answer stops"


def test_stream_cut_mid_frame_is_interrupted(server, mode):
    server.script(Turn(text="This answer is cut off in the middle.", cut_after=4))
    with router_for(server) as router, pytest.raises(StreamInterruptedError) as info:
        stream(router, mode, model=NOVA)
    assert info.value.partial.content == "This answer is"


def test_async_stream_closed_early_closes_the_response(server):
    server.script(Turn(text="one two three four five six"))

    async def run():
        async with router.achat_stream(model=NOVA, messages=HI) as s:
            async for chunk in s:
                if chunk.delta:
                    break
        return chunk

    with router_for(server) as router:
        first = asyncio.run(run())
        assert first.delta == "one"
        assert router.chat(model=NOVA, messages=HI).content  # the client still works


def test_provider_options_and_json_schema(server):
    schema = {"type": "object", "properties": {"city": {"type": "string"}}}
    with router_for(server) as router:
        router.chat(model=CLAUDE, messages=HI,
                    response_format={"type": "json_schema",
                                     "json_schema": {"name": "City", "schema": schema}},
                    provider_options={"performanceConfig": {"latency": "optimized"}})
    body = server.bodies("/converse")[0]
    assert body["performanceConfig"] == {"latency": "optimized"}
    assert body["outputConfig"] == {"textFormat": {"type": "json_schema", "structure": {
        "jsonSchema": {"schema": json.dumps(schema), "name": "City"}}}}


def test_secret_never_in_the_response(server):
    with router_for(server) as router:
        r = router.chat(model=NOVA, messages=HI)
        assert SECRET not in repr(r) and SECRET not in repr(router.provider("bedrock"))

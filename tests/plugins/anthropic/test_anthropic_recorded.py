"""Real recorded Messages API answers (tests/fixtures/recorded/anthropic, sources in SOURCES.md)
replayed byte for byte through the real ``anthropic`` SDK and the plugin, on both SDK paths, sync
and async; every field the recording carries is checked on the normalized result."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from anthropic_wire import AnthropicServer
from genai_prices import Usage as PriceUsage
from genai_prices import calc_price
from replay_kit import cassette, drive, load, serve
from sdk_paths import sdk_path  # noqa: F401 - autouse: every test on both SDK paths

from cencori_core import (
    ContextWindowExceededError,
    ProviderAuthError,
    ProviderServerError,
    RetryPolicy,
    Router,
)

KEY = "sk-ant-test-0123456789abcdef"
HI = [{"role": "user", "content": "Two names for a pet pelican, be brief"}]
TOOL = {"type": "function", "function": {
    "name": "pelican_name_generator", "description": "",
    "parameters": {"type": "object", "properties": {}}}}


@pytest.fixture
def server():
    with AnthropicServer() as s:
        yield s


@pytest.fixture
async def router(server):
    r = Router(providers={"anthropic": {"api_key": KEY, "base_url": server.base_url}},
               plugins=["anthropic"], retry=RetryPolicy(max_attempts=1))
    yield r
    await r.aclose()


@pytest.fixture(params=["stream", "astream"])
def streamed(request):
    return request.param


def price(model: str, u) -> Decimal:
    return calc_price(PriceUsage(input_tokens=u.prompt_tokens, cache_read_tokens=u.cached_tokens,
                                 cache_write_tokens=u.cache_write_tokens,
                                 output_tokens=u.completion_tokens),
                      model, provider_id="anthropic").total_price


async def test_thinking_stream_with_signature(server, router, streamed):
    """claude-3-7-sonnet, extended thinking: a thinking block (deltas, then its signature in a
    signature_delta), a ping between events, then text; usage split over message_start (input,
    cache counts 0) and message_delta (output 94)."""
    serve(server, *cassette("anthropic", "thinking_stream.yaml"))
    r, chunks = await drive(router, streamed, model="claude-3-7-sonnet-20250219", messages=HI,
                            max_tokens=8192)
    assert r.content == "Scoop and Beaky"
    assert r.reasoning == (
        "The person is asking for two names for a pet pelican, and they want me to be brief in"
        " my response. I'll provide two concise, creative names that would suit a pelican:\n\n"
        "1. Something that relates to their large beak/pouch\n2. Something that relates to "
        "water/fishing\n\nI'll keep my response very short as requested.")
    assert "".join(c.reasoning for c in chunks) == r.reasoning
    blocks = r.provider_data["anthropic"]["thinking_blocks"]
    assert [b["type"] for b in blocks] == ["thinking"]
    assert blocks[0]["signature"].startswith("EuYBCkQYAiJAZFFuoMD/")
    assert blocks[0]["signature"].endswith("BKWW5TfALM0=")
    assert blocks[0]["thinking"] == r.reasoning
    assert r.finish_reason == "stop"
    assert r.id == "msg_01SNKQD4WaGocVoAVDeL7eZX"
    assert r.model == "claude-3-7-sonnet-20250219"
    u = r.usage
    assert (u.prompt_tokens, u.completion_tokens, u.total_tokens) == (45, 94, 139)
    assert (u.cached_tokens, u.cache_write_tokens) == (0, 0)
    assert r.cost is not None and r.cost.total == price("claude-3-7-sonnet-20250219", u)


async def test_thinking_blocks_go_back_signed(server, router):
    """The recorded thinking block, signature included, is sent back first in the assistant
    turn of the next request, as the API requires for tool use with thinking."""
    serve(server, *cassette("anthropic", "thinking_stream.yaml"))
    r, _ = await drive(router, "stream", model="claude-3-7-sonnet-20250219", messages=HI)
    follow = [*HI, r.message, {"role": "user", "content": "And a third?"}]
    router.chat(model="claude-3-7-sonnet-20250219", messages=follow)
    sent = server.bodies[-1]["messages"][1]
    assert sent["role"] == "assistant"
    assert sent["content"][0]["type"] == "thinking"
    assert sent["content"][0]["signature"] == \
        r.provider_data["anthropic"]["thinking_blocks"][0]["signature"]
    assert sent["content"][0]["thinking"] == r.reasoning


async def test_parallel_tool_uses_with_empty_inputs(server, router, streamed):
    """claude-3-5-haiku: text, then two tool_use blocks whose only input_json_delta is the empty
    string (a tool without parameters): each call's arguments are ``{}``, not a parse error."""
    serve(server, *cassette("anthropic", "parallel_tools_stream.yaml"))
    r, chunks = await drive(router, streamed, model="claude-3-5-haiku-latest",
                            messages=[{"role": "user", "content": "Two names for a pet pelican"}],
                            tools=[TOOL])
    assert r.content == ("I'll help you generate two names for a pet pelican using the pelican "
                         "name generator tool.")
    assert [(t.id, t.name, t.arguments, t.parse_error) for t in r.tool_calls] == [
        ("toolu_017ngBid8gmdReTeroVSZf7r", "pelican_name_generator", {}, None),
        ("toolu_01FJrHJrmnfEqR6NxkQ3yhpu", "pelican_name_generator", {}, None)]
    assert [json.loads(t.arguments_raw or "{}") for t in r.tool_calls] == [{}, {}]
    assert r.finish_reason == "tool_calls"
    assert sorted({d.index for c in chunks for d in c.tool_calls}) == [0, 1]
    u = r.usage
    assert (u.prompt_tokens, u.completion_tokens, u.total_tokens) == (310, 82, 392)
    assert r.cost is not None and r.cost.total == price("claude-3-5-haiku-latest", u)


async def test_refusal_before_any_content(server, router, streamed):
    """A 2026 recording: the stream refuses at once (message_start, then message_delta with
    stop_reason refusal and stop_details, no content block at all)."""
    serve(server, *cassette("anthropic", "refusal_stream.yaml"))
    r, chunks = await drive(router, streamed, model="claude-fable-5-1", messages=HI)
    assert r.finish_reason == "content_filter"
    assert not r.content
    assert r.tool_calls == []
    assert r.id == "msg_011Cef1BfCEZn512shRMGG4q"
    u = r.usage
    assert (u.prompt_tokens, u.completion_tokens, u.reasoning_tokens) == (97, 0, 0)
    assert chunks[-1].finish_reason == "content_filter"


async def test_cumulative_usage_is_not_counted_twice(server, router, streamed):
    """claude-sonnet-4-5 answering JSON text: message_start has the input tokens, the cache
    breakdown (``cache_creation``) and a ``service_tier``; message_delta repeats every input
    count along with the final output count (the usage there is cumulative, not an increment),
    and a ping arrives between two text deltas."""
    serve(server, *cassette("anthropic", "structured_output_stream.yaml"))
    r, chunks = await drive(router, streamed, model="claude-sonnet-4-5-20250929",
                            messages=[{"role": "user", "content": "Invent a good dog"}])
    dog = json.loads(r.content)
    assert (dog["name"], dog["age"]) == ("Biscuit", 4)
    assert dog["bio"].endswith("bringing joy to young patients.")
    assert "".join(c.delta for c in chunks) == r.content
    assert r.finish_reason == "stop"
    assert r.model == "claude-sonnet-4-5-20250929"
    u = r.usage
    assert (u.prompt_tokens, u.completion_tokens, u.total_tokens) == (230, 96, 326)
    assert (u.cached_tokens, u.cache_write_tokens, u.reasoning_tokens) == (0, 0, 0)
    assert r.cost is not None and r.cost.total == price("claude-sonnet-4-5-20250929", u)


@pytest.mark.parametrize("name,status,cls,retryable", [
    ("error_529_overloaded.json", 529, ProviderServerError, True),
    ("error_500_api_error.json", 500, ProviderServerError, True),
    ("error_400_prompt_too_long.json", 400, ContextWindowExceededError, False),
])
@pytest.mark.parametrize("mode", ["chat", "achat", "stream", "astream"])
async def test_recorded_error_bodies(server, router, mode, name, status, cls, retryable):
    """Real error bodies (status and body as quoted in public issues): the class, status,
    retryability and request id come through; a prompt over the context window is a
    ContextWindowExceededError (Anthropic gives it no code of its own, only its message)."""
    rec = load("anthropic", name, status=status)
    serve(server, rec)
    with pytest.raises(cls) as info:
        await drive(router, mode, model="claude-sonnet-4-5-20250929", messages=HI)
    err = info.value
    assert err.status_code == status
    assert err.retryable is retryable
    assert err.request_id == rec.json()["request_id"]
    assert rec.json()["error"]["message"] in str(err)
    assert server.hits == 1


@pytest.mark.parametrize("mode", ["chat", "achat"])
async def test_message_from_2024_without_cache_fields(server, router, mode):
    """A non-streamed claude-3-5-sonnet message from 2024: one text block, end_turn, and a
    usage holding only input and output tokens (no cache fields at all)."""
    rec = load("anthropic", "sonnet35_message.json")
    serve(server, rec)
    r, _ = await drive(router, mode, model="claude-3-5-sonnet-20241022", max_tokens=1024,
                       messages=[{"role": "user", "content": "what is Coca Cola?"}])
    assert r.content == rec.json()["content"][0]["text"]
    assert r.reasoning is None and r.tool_calls == []
    assert r.finish_reason == "stop"
    assert r.id == "msg_01KAfbZR6qM9M2Z16t7FrBJJ"
    u = r.usage
    assert (u.prompt_tokens, u.completion_tokens, u.total_tokens) == (36, 265, 301)
    assert (u.cached_tokens, u.cache_write_tokens) == (0, 0)
    assert r.cost is not None and r.cost.total == price("claude-3-5-sonnet-20241022", u)


TRIGGER = [{"role": "user", "content": "ANTHROPIC_MAGIC_STRING_TRIGGER_REDACTED_THINKING_46C9A13E"
            "193C177646C7398A98432ECCCE4C1253D5E2D82641AC0E52CC2876CB"}]


def _texts(rec) -> str:
    return "".join(b.get("text", "") for b in rec.json()["content"] if b["type"] == "text")


@pytest.mark.parametrize("mode", ["chat", "achat"])
async def test_redacted_thinking_block_kept_opaque(server, router, mode):
    """claude-sonnet-4-5 answering the documented redacted-thinking trigger: a redacted_thinking
    block (only opaque data, no text), then text. No reasoning text; the block is kept whole
    to go back on the next turn."""
    first, _ = cassette("anthropic", "redacted_thinking.yaml")
    serve(server, first)
    r, _ = await drive(router, mode, model="claude-sonnet-4-5-20250929", messages=TRIGGER,
                       max_tokens=64000)
    data = first.json()["content"][0]["data"]
    assert r.content == _texts(first)
    assert r.reasoning is None
    assert r.provider_data == {"anthropic": {"thinking_blocks": [
        {"type": "redacted_thinking", "data": data}]}}
    assert (r.finish_reason, r.id) == ("stop", "msg_01TbZ1ZKNMPq28AgBLyLX3c4")
    u = r.usage
    assert (u.prompt_tokens, u.completion_tokens, u.total_tokens, u.cached_tokens) == \
        (92, 196, 288, 0)


async def test_redacted_thinking_stream(server, router, streamed):
    """The streamed form: two redacted_thinking blocks (each whole in its content_block_start,
    no deltas), then text; message_delta's cumulative usage (output 189) replaces the 88 of
    message_start."""
    (rec,) = cassette("anthropic", "redacted_thinking_stream.yaml")
    serve(server, rec)
    r, chunks = await drive(router, streamed, model="claude-sonnet-4-5-20250929",
                            messages=TRIGGER, max_tokens=64000)
    events = rec.events()
    datas = [e["content_block"]["data"] for e in events if e["type"] == "content_block_start"
             and e["content_block"]["type"] == "redacted_thinking"]
    assert len(datas) == 2
    assert r.content.startswith("I notice that you've sent what appears to be some kind of test")
    assert r.content == "".join(c.delta for c in chunks)
    assert r.reasoning is None
    assert r.provider_data == {"anthropic": {"thinking_blocks": [
        {"type": "redacted_thinking", "data": d} for d in datas]}}
    assert (r.finish_reason, r.id) == ("stop", "msg_018XZkwvj9asBiffg3fXt88s")
    u = r.usage
    assert (u.prompt_tokens, u.completion_tokens, u.total_tokens) == (92, 189, 281)


WEATHER = [{"role": "user", "content": "What is the weather in San Francisco today?"}]


@pytest.mark.parametrize("mode", ["chat", "achat"])
async def test_web_search_server_tool_with_citations(server, router, mode):
    """claude-sonnet-4 with Anthropic's web search: thinking, a server_tool_use block, its
    web_search_tool_result, then 19 text blocks, some carrying citations. The server tool is
    not a tool call of ours; the text is every text block joined; 8984 input tokens."""
    first, _ = cassette("anthropic", "web_search_citations.yaml")
    serve(server, first)
    r, _ = await drive(router, mode, model="claude-sonnet-4-0", messages=WEATHER,
                       max_tokens=4096)
    assert r.tool_calls == []
    assert r.content == _texts(first)
    assert r.content.startswith("Based on the search results, here's the weather information")
    assert "- Temperature: 66°F with clear skies\n" in r.content
    thinking = first.json()["content"][0]
    assert r.reasoning == thinking["thinking"]
    assert r.provider_data == {"anthropic": {"thinking_blocks": [
        {"type": "thinking", "thinking": thinking["thinking"],
         "signature": thinking["signature"]}]}}
    assert (r.finish_reason, r.id, r.model) == \
        ("stop", "msg_0119wM5YxCLg3hwUWrxEQ9Y8", "claude-sonnet-4-20250514")
    u = r.usage
    assert (u.prompt_tokens, u.completion_tokens, u.total_tokens) == (8984, 520, 9504)


async def test_web_search_stream_two_searches(server, router, streamed):
    """The streamed form with two searches: server_tool_use blocks stream their query as
    input_json_delta (not our tool calls), citations arrive as citations_delta events between
    text deltas; message_delta carries the whole usage (22397 input, 637 output)."""
    (rec,) = cassette("anthropic", "web_search_stream.yaml")
    serve(server, rec)
    r, chunks = await drive(router, streamed, model="claude-sonnet-4-0", messages=WEATHER,
                            max_tokens=4096)
    events = rec.events()
    deltas = [e["delta"] for e in events if e["type"] == "content_block_delta"]
    assert {"input_json_delta", "citations_delta", "text_delta"} <= {d["type"] for d in deltas}
    assert r.tool_calls == [] and not any(c.tool_calls for c in chunks)
    assert r.content == "".join(d.get("text", "") for d in deltas)
    assert r.content.endswith("It's shaping up to be a pleasant day in San Francisco!")
    assert r.reasoning == "".join(d.get("thinking", "") for d in deltas)
    assert r.reasoning
    assert (r.finish_reason, r.id) == ("stop", "msg_01QmxBSdEbD9ZeBWDVgFDoQ5")
    u = r.usage
    assert (u.prompt_tokens, u.completion_tokens, u.total_tokens) == (22397, 637, 23034)


@pytest.mark.parametrize("mode", ["chat", "achat", "stream", "astream"])
async def test_recorded_invalid_key(server, router, mode):
    """Anthropic's 401 for a wrong key (authentication_error, invalid x-api-key): an auth
    error, not retried, that names the cause and never the key sent."""
    serve(server, load("anthropic", "error_401_invalid_api_key.json", status=401))
    with pytest.raises(ProviderAuthError) as info:
        await drive(router, mode, model="claude-sonnet-4-5-20250929", messages=HI,
                    max_tokens=64)
    err = info.value
    assert (err.status_code, err.retryable) == (401, False)
    assert "invalid x-api-key" in str(err)
    assert KEY not in repr(err) and KEY not in str(err)
    assert len(server.requests) == 1

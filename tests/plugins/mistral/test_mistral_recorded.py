"""Real recorded Mistral answers (tests/fixtures/recorded/mistral, sources in SOURCES.md)
replayed byte for byte through the real ``mistralai`` SDK and the plugin, on both stream paths,
sync and async; every field the recording carries is checked on the normalized result."""

from __future__ import annotations

import pytest
from genai_prices import Usage as GUsage
from genai_prices import calc_price
from mistral_wire import MistralWire, stream_path  # noqa: F401 - both stream paths
from replay_kit import drive, load, serve

from cencori_core import ProviderAuthError, ProviderRateLimitError, Router

pytestmark = pytest.mark.usefixtures("stream_path")

KEY = "mistral-test-key-0123456789"
ASK = [{"role": "user", "content": "What is 17 times 19? Answer briefly."}]
MODEL = "magistral-small-latest"
THOUGHT = (
    "I need to calculate 17 multiplied by 19. Let me think about this step by step.\n\nFirst, I "
    "recall that multiplication can be broken down into simpler parts using the distributive "
    "property of multiplication over addition. So, I can think of 19 as (20 - 1). Therefore, 17 "
    "times 19 can be written as:\n\n17 × 19 = 17 × (20 - 1) = (17 × 20) - (17 × 1)\n\nNow, "
    "let's calculate each part separately:\n\n1. 17 × 20:\n   - 17 × 20 is the same as 17 × 2 × "
    "10.\n   - First, 17 × 2 = 34.\n   - Then, 34 × 10 = 340.\n\n2. 17 × 1:\n   - 17 × 1 = 17."
    "\n\nNow, subtract the second part from the first:\n\n340 - 17 = 323.\n\nSo, 17 times 19 "
    "equals 323.")


@pytest.fixture
def wire():
    w = MistralWire().start()
    yield w
    w.stop()


@pytest.fixture
async def router(wire):
    r = Router(providers={"mistral": {"api_key": KEY, "base_url": wire.base_url}},
               plugins=["mistral"], retry=1)
    yield r
    await r.aclose()


def price(u) -> object:
    return calc_price(GUsage(input_tokens=u.prompt_tokens, output_tokens=u.completion_tokens,
                             cache_read_tokens=u.cached_tokens),
                      MODEL, provider_id="mistral").total_price


@pytest.mark.parametrize("mode", ["chat", "achat"])
@pytest.mark.parametrize("name", ["magistral-completion.json", "magistral-none-completion.json"])
async def test_plain_answer(wire, router, mode, name):
    """Magistral without reasoning: ``content`` a plain string, ``tool_calls: null``, usage with
    ``prompt_tokens_details.cached_tokens`` 0 and a ``service_tier``."""
    rec = load("mistral", name)
    serve(wire, rec)
    r, _ = await drive(router, mode, model=MODEL, messages=ASK, max_tokens=512)
    assert r.content == "323"
    assert r.reasoning is None
    assert r.tool_calls == []
    assert r.finish_reason == "stop"
    assert r.id == rec.json()["id"]
    assert r.model == MODEL
    u = r.usage
    assert (u.prompt_tokens, u.completion_tokens, u.total_tokens, u.cached_tokens) == \
        (28, 4, 32, 0)
    assert r.cost is not None and r.cost.total == price(u)


@pytest.mark.parametrize("mode", ["chat", "achat"])
async def test_thinking_chunk_then_text(wire, router, mode):
    """reasoning_effort high: ``content`` is a list, a ``thinking`` chunk (itself a list of text
    chunks, ``closed: true``) then a ``text`` chunk. The thinking is the reasoning, not the
    answer; the 252 completion tokens include it."""
    serve(wire, load("mistral", "magistral-high-completion.json"))
    r, _ = await drive(router, mode, model=MODEL, messages=ASK, max_tokens=512,
                       reasoning_effort="high")
    assert r.content == "323"
    assert r.reasoning == THOUGHT
    assert r.finish_reason == "stop"
    u = r.usage
    assert (u.prompt_tokens, u.completion_tokens, u.total_tokens) == (28, 252, 280)
    assert r.cost is not None and r.cost.total == price(u)


@pytest.mark.parametrize("mode", ["stream", "astream"])
async def test_stream_with_usage_on_the_finish_event(wire, router, mode):
    """A recorded stream: a role event with empty content, digit deltas carrying Mistral's
    padding field ``p``, finish_reason and usage together on the last event, then [DONE]."""
    rec = load("mistral", "magistral-stream.sse")
    serve(wire, rec)
    r, chunks = await drive(router, mode, model=MODEL, messages=ASK, max_tokens=512)
    assert "".join(c.delta for c in chunks) == "323"
    assert r.content == "323"
    assert r.finish_reason == "stop"
    assert r.id == rec.events()[0]["id"]
    u = r.usage
    assert (u.prompt_tokens, u.completion_tokens, u.total_tokens, u.cached_tokens) == \
        (28, 4, 32, 0)
    assert r.cost is not None and r.cost.total == price(u)


@pytest.mark.parametrize("mode", ["chat", "achat"])
async def test_answer_cut_by_max_tokens(wire, router, mode):
    """mistral-large (2024, curl transcript): finish_reason ``length``, usage without details."""
    rec = load("mistral", "mistral_large_length.json")
    serve(wire, rec)
    r, _ = await drive(router, mode, model="mistral-large-latest", max_tokens=100,
                       messages=[{"role": "user", "content": "what is Coca Cola"}])
    assert r.content == rec.json()["choices"][0]["message"]["content"]
    assert r.content.endswith("However, it")
    assert r.finish_reason == "length"
    assert r.reasoning is None
    u = r.usage
    assert (u.prompt_tokens, u.completion_tokens, u.total_tokens, u.cached_tokens) == \
        (34, 100, 134, 0)
    assert r.cost is not None and r.cost.total == calc_price(
        GUsage(input_tokens=34, output_tokens=100), "mistral-large-latest",
        provider_id="mistral").total_price


@pytest.mark.parametrize("name", ["error_429_rate_limited.json",
                                  "error_429_rate_limited_raw_status.json"])
@pytest.mark.parametrize("mode", ["chat", "achat", "stream", "astream"])
async def test_recorded_rate_limit(wire, router, mode, name):
    """Mistral's real 429 bodies (``type: rate_limited``, ``code: "1300"``, later with a
    ``raw_status_code``): a retryable ProviderRateLimitError carrying the code."""
    rec = load("mistral", name, status=429)
    serve(wire, rec)
    with pytest.raises(ProviderRateLimitError) as info:
        await drive(router, mode, model=MODEL, messages=ASK)
    err = info.value
    assert (err.status_code, err.retryable) == (429, True)
    assert "Rate limit exceeded" in str(err)
    assert len(wire.requests) == 1


@pytest.mark.parametrize("mode", ["chat", "achat"])
async def test_tool_call_with_empty_string_content(wire, router, mode):
    """mistral-medium-latest calling a tool without arguments: ``content`` is ``""`` (not null)
    beside the tool call, whose id is Mistral's 9-character form and arguments ``"{}"``;
    usage carries prompt_tokens_details.cached_tokens 0."""
    serve(wire, load("mistral", "medium_tool_call_empty_content.json"))
    tool = {"type": "function", "function": {
        "name": "get_mixed_content", "description": "",
        "parameters": {"type": "object", "properties": {}, "additionalProperties": False}}}
    r, _ = await drive(router, mode, model="mistral-medium-latest", tools=[tool], messages=[
        {"role": "user", "content": "Call the get_mixed_content tool and describe what you "
                                    "received."}])
    assert [(t.id, t.name, t.arguments, t.arguments_raw) for t in r.tool_calls] == [
        ("ot1MIoEMA", "get_mixed_content", {}, "{}")]
    assert r.finish_reason == "tool_calls"
    assert not r.content
    assert r.id == "6861cd5f567847cf9eb40a96f1a141ea"
    u = r.usage
    assert (u.prompt_tokens, u.completion_tokens, u.total_tokens, u.cached_tokens) == \
        (61, 8, 69, 0)
    assert wire.requests[-1].json["tools"][0]["function"]["name"] == "get_mixed_content"


@pytest.mark.parametrize("mode", ["chat", "achat"])
async def test_prompt_cache_hit_counts(wire, router, mode):
    """mistral-large-latest, the second turn of a conversation sharing a long prefix: 224 of
    the 268 prompt tokens read from Mistral's prompt cache (prompt_tokens_details)."""
    serve(wire, load("mistral", "large_prompt_cache_hit.json"))
    r, _ = await drive(router, mode, model="mistral-large-latest", messages=[
        {"role": "user", "content": "Reply with exactly: cache probe two."}])
    assert (r.content, r.finish_reason, r.tool_calls) == ("cache probe two.", "stop", [])
    assert r.id == "23271c0215f547dcb5d5e2950f354f9d"
    u = r.usage
    assert (u.prompt_tokens, u.completion_tokens, u.total_tokens, u.cached_tokens) == \
        (268, 5, 273, 224)


@pytest.mark.parametrize("name,text", [
    ("error_401_unauthorized.json", "Unauthorized"),
    ("error_401_detail_unauthorized.json", "Unauthorized"),
])
@pytest.mark.parametrize("mode", ["chat", "achat", "stream", "astream"])
async def test_recorded_unauthorized(wire, router, mode, name, text):
    """Mistral's 401 bodies (2025: ``message`` + ``request_id``; later ``{"detail": ...}``):
    an auth error, not retried, never carrying the key."""
    serve(wire, load("mistral", name, status=401))
    with pytest.raises(ProviderAuthError) as info:
        await drive(router, mode, model=MODEL, messages=ASK)
    err = info.value
    assert (err.status_code, err.retryable) == (401, False)
    assert text in str(err)
    assert KEY not in repr(err) and KEY not in str(err)
    assert len(wire.requests) == 1

"""Real recorded Cohere v2 chat answers (tests/fixtures/recorded/cohere, sources in SOURCES.md)
replayed byte for byte through the real ``cohere`` SDK (ClientV2 / AsyncClientV2) and the plugin,
sync and async; every field the recording carries is checked on the normalized result."""

from __future__ import annotations

import json

import pytest
from cohere_wire import KEY as COHERE_KEY
from cohere_wire import CohereServer, router_for
from genai_prices import Usage as GUsage
from genai_prices import calc_price
from replay_kit import cassette, drive, load, serve

from cencori_core import ProviderAuthError

PERSON = {"type": "function", "function": {
    "name": "Person", "description": "",
    "parameters": {"type": "object", "properties": {
        "name": {"type": "string", "description": "The name of the person"},
        "age": {"type": "integer", "description": "The age of the person"}},
        "required": ["name", "age"]}}}
WEATHER = {"type": "function", "function": {
    "name": "get_the_weather", "description": "Get the current weather for a location.",
    "parameters": {"type": "object", "properties": {"location": {"type": "string"}},
                   "required": ["location"]}}}
CAPITALS = {"type": "function", "function": {
    "name": "capital_cities", "description": "Returns the capital city of a country",
    "parameters": {"type": "object", "properties": {"country": {"type": "string"}},
                   "required": ["country"]}}}


@pytest.fixture
def server():
    with CohereServer() as s:
        yield s


@pytest.fixture
async def router(server):
    r = router_for(server)
    yield r
    await r.aclose()


def billed_cost(model: str, prompt: int, completion: int):
    return calc_price(GUsage(input_tokens=prompt, output_tokens=completion), model,
                      provider_id="cohere").total_price


@pytest.mark.parametrize("mode", ["chat", "achat"])
async def test_reasoning_model_thinking_and_tool_call(server, router, mode):
    """command-a-reasoning (2026): a ``thinking`` content item and no text, one tool call,
    finish_reason TOOL_CALL; usage bills 80 input tokens of 1,494 seen, 1,008 of those cached."""
    (rec,) = cassette("cohere", "reasoning_tool_call.yaml")
    serve(server, rec)
    model = "command-a-reasoning-08-2025"
    r, _ = await drive(router, mode, model=model, tools=[WEATHER], messages=[
        {"role": "user", "content": "Can you get the weather for the city that is the 2nd "
                                    "largest city of the land of the rising sun?"}])
    thinking = rec.json()["message"]["content"][0]["thinking"]
    assert r.reasoning == thinking
    assert not r.content
    assert [(t.id, t.name, t.arguments) for t in r.tool_calls] == [
        ("get_the_weather_r8d0r2e0kw9s", "get_the_weather", {"location": "Osaka"})]
    assert r.finish_reason == "tool_calls"
    assert r.id == "1cd28534-75bf-43e0-b106-30f220a9aa25"
    u = r.usage
    assert (u.prompt_tokens, u.completion_tokens, u.total_tokens) == (80, 301, 381)
    assert u.cached_tokens == 0  # the cache covered less than the 1,414 unbilled tokens
    # genai-prices has no price for this model yet: no cost rather than a guessed one
    assert r.cost is None


@pytest.mark.parametrize("mode", ["chat", "achat"])
async def test_tool_plan_without_content(server, router, mode):
    """command-r: the message has a tool_plan and tool_calls and no ``content`` key at all."""
    serve(server, load("cohere", "tool_plan_tool_call.json"))
    r, _ = await drive(router, mode, model="cohere/command-r", tools=[CAPITALS],
                       messages=[{"role": "user", "content": "What is the capital of France"}])
    assert r.content is None or r.content == ""
    assert r.reasoning == ("I will search for the capital of France and relay this "
                           "information to the user.")
    assert [(t.id, t.name, t.arguments) for t in r.tool_calls] == [
        ("capital_cities_chf1bpadn07h", "capital_cities", {"country": "France"})]
    assert r.finish_reason == "tool_calls"
    u = r.usage
    assert (u.prompt_tokens, u.completion_tokens, u.total_tokens) == (31, 24, 55)
    assert r.cost is not None and r.cost.total == billed_cost("command-r", 31, 24)


@pytest.mark.parametrize("mode", ["stream", "astream"])
async def test_streamed_tool_plan_and_split_arguments(server, router, mode):
    """command-r streamed: tool-plan-delta events, then tool-call-start with empty arguments,
    the arguments split mid-JSON (pretty-printed, across newlines), tool-call-end, message-end
    with billed units, and a trailing ``data: [DONE]`` line that Cohere sends as well."""
    serve(server, load("cohere", "tool_plan_tool_call_stream.sse"))
    r, chunks = await drive(router, mode, model="cohere/command-r", tools=[PERSON],
                            messages=[{"role": "user", "content": "Erick, 27 years old"}])
    plan = ("I will use the Person tool to create a person with the name Erick and age 27, "
            "and then relay this information to the user.")
    assert "".join(c.reasoning for c in chunks) == plan
    assert r.reasoning == plan
    (call,) = r.tool_calls
    assert (call.id, call.name, call.arguments) == ("Person_qd75j4wsaxkq", "Person",
                                                    {"name": "Erick", "age": 27})
    assert json.loads(call.arguments_raw) == {"name": "Erick", "age": 27}
    assert r.finish_reason == "tool_calls"
    u = r.usage
    assert (u.prompt_tokens, u.completion_tokens, u.total_tokens) == (23, 41, 64)
    assert r.cost is not None and r.cost.total == billed_cost("command-r", 23, 41)


@pytest.mark.parametrize("mode", ["chat", "achat"])
async def test_grounded_answer_with_citations(server, router, mode):
    """command-r with a document (sent through provider_options): the text, and a citation
    naming the document; our response has no citation field, the raw answer keeps it."""
    rec = load("cohere", "documents_citations.json")
    serve(server, rec)
    docs = [{"id": "doc-0", "data": {"text": "The sky is green."}}]
    r, _ = await drive(router, mode, model="cohere/command-r",
                       messages=[{"role": "user", "content": "What color is the sky?"}],
                       provider_options={"documents": docs})
    assert server.requests[-1].json["documents"] == docs
    assert r.content == "The sky is green."
    assert r.finish_reason == "stop"
    assert r.id == "5ed83d88-ba2b-4069-bd72-d2621fde702b"
    u = r.usage
    assert (u.prompt_tokens, u.completion_tokens, u.total_tokens, u.cached_tokens) == \
        (13, 5, 18, 0)
    raw = r.raw if isinstance(r.raw, dict) else r.raw.dict()
    (citation,) = raw["message"]["citations"]
    assert (citation["start"], citation["end"], citation["text"]) == (11, 17, "green.")


@pytest.mark.parametrize("mode", ["stream", "astream"])
async def test_text_stream(server, router, mode):
    """command-r streamed (2024): a message-start with empty lists, 69 content-delta events
    (one token each: 69 output tokens billed), content-end, message-end, ``data: [DONE]``."""
    serve(server, load("cohere", "text_stream.sse"))
    r, chunks = await drive(router, mode, model="cohere/command-r",
                            messages=[{"role": "user", "content": "I'm Pickle Rick"}])
    assert r.content.startswith("Hi there! You're Pickle Rick? That's a fun nickname!")
    assert r.content.endswith("Maybe some Rick and Morty fan theories or episode "
                              "recommendations?")
    assert "".join(c.delta for c in chunks) == r.content
    assert sum(1 for c in chunks if c.delta) == 69
    assert r.finish_reason == "stop"
    assert r.reasoning is None
    u = r.usage
    assert (u.prompt_tokens, u.completion_tokens, u.total_tokens) == (4, 69, 73)
    assert r.cost is not None and r.cost.total == billed_cost("command-r", 4, 69)


async def test_rerank_scores_far_below_one(server):
    """rerank-english-v3.0 (2024): two results with tiny relevance scores, best first, one
    search unit billed."""
    serve(server, load("cohere", "rerank.json"))
    docs = ["This is a test document.", "Another test document."]
    with router_for(server) as router:
        resp = router.rerank("rerank-english-v3.0", "Test query", docs, top_n=2)
    assert [(x.index, x.relevance_score, x.document) for x in resp.results] == [
        (0, 0.0006070756, docs[0]), (1, 0.00013032975, docs[1])]
    assert resp.usage.search_units == 1
    assert resp.id == "6fa9ead7-6154-470c-8549-10759f581f33"
    assert server.requests[-1].path == "/v2/rerank"


async def test_rerank_top_n_above_document_count_as_recorded(server):
    """The recorded request asked top_n=3 of two documents and Cohere ranked both: the core
    clamps top_n to the document count, so the same ranking comes back."""
    serve(server, load("cohere", "rerank.json"))
    docs = ["This is a test document.", "Another test document."]
    with router_for(server) as router:
        resp = router.rerank("rerank-english-v3.0", "Test query", docs, top_n=3)
    assert [(x.index, x.relevance_score, x.document) for x in resp.results] == [
        (0, 0.0006070756, docs[0]), (1, 0.00013032975, docs[1])]
    assert resp.usage.search_units == 1
    assert server.requests[-1].json["top_n"] == 2


@pytest.mark.parametrize("mode", ["chat", "achat", "stream", "astream"])
async def test_recorded_invalid_api_token(server, router, mode):
    """Cohere's 401 for a wrong key (``{"message": "invalid api token"}``): an auth error, not
    retried, never carrying the key."""
    serve(server, load("cohere", "error_401_invalid_api_token.json", status=401))
    with pytest.raises(ProviderAuthError) as info:
        await drive(router, mode, model="cohere/command-r",
                    messages=[{"role": "user", "content": "hi"}])
    err = info.value
    assert (err.status_code, err.retryable) == (401, False)
    assert "invalid api token" in str(err)
    assert COHERE_KEY not in repr(err) and COHERE_KEY not in str(err)
    assert len(server.requests) == 1

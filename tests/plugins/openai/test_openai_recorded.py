"""Real recorded Chat Completions answers (tests/fixtures/recorded/openai, sources in SOURCES.md)
replayed byte for byte through the real ``openai`` SDK and the plugin, sync and async; every field
the recording carries is checked on the normalized result."""

from __future__ import annotations

import pytest
from genai_prices import Usage as GUsage
from genai_prices import calc_price
from loopback import Reply
from openai_wire import OpenAIWire, openai_wire
from replay_kit import drive, load, serve

from cencori_core import (
    ContextWindowExceededError,
    ProviderAuthError,
    RetryPolicy,
    Router,
    StreamInterruptedError,
)

__all__ = ["openai_wire"]  # the fixture, imported for pytest

ASK = [{"role": "user", "content": "What is the current llm version?"}]
VERSION = {"type": "function", "function": {
    "name": "llm_version", "description": "Return the installed version of llm",
    "parameters": {"type": "object", "properties": {}}}}


@pytest.fixture(params=["stream", "astream"])
def streamed(request):
    return request.param


async def chat_once(wire: OpenAIWire, provider: str, mode: str, **kw):
    """One chat call through a fresh router whose ``provider`` points at ``wire``."""
    r = Router(providers={provider: {"api_key": "test-key-1", "base_url": wire.base_url}},
               plugins=["openai"], retry=RetryPolicy(max_attempts=1))
    try:
        resp, _ = await drive(r, mode, **kw)
    finally:
        await r.aclose()
    return resp


def openrouter_router(wire: OpenAIWire, model: str) -> Router:
    """An OpenAI-compatible provider (OpenRouter's API is Chat Completions) serving ``model``."""
    return Router(providers={"openrouter": {"type": "openai_compatible",
                                            "api_key": "sk-or-test-1", "base_url": wire.base_url,
                                            "models": [model]}},
                  plugins=["openai"], retry=RetryPolicy(max_attempts=1))


@pytest.fixture
async def openrouter(openai_wire: OpenAIWire):
    r = openrouter_router(openai_wire, "moonshotai/kimi-k2")
    yield r
    await r.aclose()


@pytest.mark.parametrize("name", ["openrouter_kimi_tool_call_split_stream.sse",
                                  "openrouter_kimi_tool_call_whole_stream.sse"])
async def test_tool_call_stream_without_finish_reason(openai_wire, openrouter, streamed, name):
    """kimi-k2 through OpenRouter (Novita): the call's id and name come again in every chunk of
    it (``split``) or once with the whole arguments (``whole``), no chunk ever says a
    finish_reason, and the usage arrives on a chunk that still has a choice (empty content)."""
    serve(openai_wire, load("openai", name))
    r, chunks = await drive(openrouter, streamed, model="openrouter/moonshotai/kimi-k2",
                            messages=ASK, tools=[VERSION])
    assert [(t.id, t.name, t.arguments, t.parse_error) for t in r.tool_calls] == [
        ("0", "llm_version", {}, None)]
    assert r.tool_calls[0].arguments_raw == "{}"
    assert r.finish_reason == "tool_calls"
    assert not r.content
    assert r.id == "gen-1753242299-QZRAt5HJHd1ptY8sdS0s"
    u = r.usage
    assert (u.prompt_tokens, u.completion_tokens, u.total_tokens, u.cached_tokens,
            u.reasoning_tokens) == (57, 17, 74, 0, 0)


async def test_text_stream_with_usage_after_the_finish(openai_wire, openrouter, streamed):
    """kimi-k2 through OpenRouter (Moonshot AI): text deltas that each repeat the role, the
    finish_reason on an empty chunk, then one more chunk (a choice with finish_reason null)
    carrying the usage, then [DONE]."""
    serve(openai_wire, load("openai", "openrouter_kimi_text_stream.sse"))
    r, chunks = await drive(openrouter, streamed, model="openrouter/moonshotai/kimi-k2",
                            messages=ASK, tools=[VERSION])
    text = "The current version of *llm* is **0.fixed-version**."
    assert "".join(c.delta for c in chunks) == text
    assert r.content == text
    assert r.finish_reason == "stop"
    assert r.tool_calls == []
    u = r.usage
    assert (u.prompt_tokens, u.completion_tokens, u.total_tokens) == (107, 15, 122)


@pytest.mark.parametrize("mode", ["chat", "achat"])
async def test_xai_answer_cut_by_max_tokens(openai_wire, mode):
    """grok-beta through the ``xai`` provider: finish_reason ``length``, ``refusal: null`` in
    the message, prompt_tokens_details with xAI's text/audio/image counts beside cached_tokens."""
    rec = load("xai", "grok_beta_length.json")
    serve(openai_wire, rec)
    resp = await chat_once(openai_wire, "xai", mode, model="xai/grok-beta", max_tokens=200,
                           messages=[{"role": "user", "content": "what is Coca Cola"}])
    assert resp.content == rec.json()["choices"][0]["message"]["content"]
    assert resp.content.endswith("and many others tailored")
    assert resp.finish_reason == "length"
    assert resp.refusal is None
    assert (resp.provider, resp.id) == ("xai", "3b86b984-91ef-4dfd-bcd2-8d2a7449a92d")
    u = resp.usage
    assert (u.prompt_tokens, u.completion_tokens, u.total_tokens, u.cached_tokens) == \
        (38, 200, 238, 0)


@pytest.fixture
async def openai_router(openai_wire: OpenAIWire):
    r = Router(providers={"openai": {"api_key": "sk-test-openai-1",
                                     "base_url": openai_wire.base_url}},
               plugins=["openai"], retry=RetryPolicy(max_attempts=1))
    yield r
    await r.aclose()


async def test_openai_tool_call_split_mid_json(openai_wire, openai_router, streamed):
    """gpt-4o-mini (2025): the call's id and name in the first chunk, its arguments in eleven
    fragments cut mid-token (``{"``, ``a``, ``":``, ``123``, ``1``, ...), finish_reason
    tool_calls on an empty delta, then the usage on a chunk whose ``choices`` is empty."""
    serve(openai_wire, load("openai", "gpt4o_mini_tool_call_stream.sse"))
    multiply = {"type": "function", "function": {
        "name": "multiply", "description": "Multiply two numbers.",
        "parameters": {"type": "object", "properties": {"a": {"type": "integer"},
                                                        "b": {"type": "integer"}},
                       "required": ["a", "b"]}}}
    r, chunks = await drive(openai_router, streamed, model="gpt-4o-mini", tools=[multiply],
                            messages=[{"role": "user", "content": "What is 1231 * 2331?"}])
    (call,) = r.tool_calls
    assert (call.id, call.name, call.arguments, call.parse_error) == (
        "call_1EYWDzueHEp8OsB8jJSEp7WB", "multiply", {"a": 1231, "b": 2331}, None)
    assert call.arguments_raw == '{"a":1231,"b":2331}'
    assert r.finish_reason == "tool_calls"
    assert r.model == "gpt-4o-mini-2024-07-18"
    u = r.usage
    assert (u.prompt_tokens, u.completion_tokens, u.total_tokens, u.cached_tokens,
            u.reasoning_tokens) == (54, 20, 74, 0, 0)
    assert r.cost is not None and r.cost.total == calc_price(
        GUsage(input_tokens=54, output_tokens=20), "gpt-4o-mini",
        provider_id="openai").total_price


@pytest.mark.parametrize("mode", ["chat", "achat"])
async def test_deepseek_reasoner_reasoning_content(openai_wire, mode):
    """deepseek-reasoner (Feb 2025): ``reasoning_content`` beside the content, 81 of the 92
    completion tokens reasoning, DeepSeek's prompt_cache_hit/miss counts beside OpenAI's
    prompt_tokens_details."""
    rec = load("deepseek", "reasoner_hello.json")
    serve(openai_wire, rec)
    resp = await chat_once(openai_wire, "deepseek", mode, model="deepseek-reasoner",
                           messages=[{"role": "user", "content": "hello"}])
    message = rec.json()["choices"][0]["message"]
    assert resp.content == "Hello! How can I assist you today?"
    assert resp.reasoning == message["reasoning_content"]
    assert resp.finish_reason == "stop"
    assert resp.provider == "deepseek"
    u = resp.usage
    assert (u.prompt_tokens, u.completion_tokens, u.total_tokens, u.cached_tokens,
            u.reasoning_tokens) == (6, 92, 98, 0, 81)
    assert resp.cost is not None and resp.cost.total == calc_price(
        GUsage(input_tokens=6, output_tokens=92), "deepseek-reasoner",
        provider_id="deepseek").total_price


@pytest.mark.parametrize("provider,model,name", [
    ("openai", "gpt-4o-mini", "error_400_context_length_exceeded.json"),
    ("deepseek", "deepseek-chat", "error_400_context_length.json"),
])
@pytest.mark.parametrize("mode", ["chat", "achat", "stream", "astream"])
async def test_recorded_context_window_errors(openai_wire, mode, provider, model, name):
    """Real 400s for a prompt over the context window: OpenAI's says code
    ``context_length_exceeded``; DeepSeek's says only ``invalid_request_error`` with OpenAI's
    wording ("This model's maximum context length is N tokens"). Both are
    ContextWindowExceededError, not retried."""
    rec = load("deepseek" if provider == "deepseek" else "openai", name, status=400)
    serve(openai_wire, rec)
    with pytest.raises(ContextWindowExceededError) as info:
        await chat_once(openai_wire, provider, mode, model=model,
                        messages=[{"role": "user", "content": "hello"}])
    err = info.value
    assert (err.status_code, err.retryable, err.provider) == (400, False, provider)
    assert rec.json()["error"]["message"] in str(err)
    assert len(openai_wire.server.requests) == 1


@pytest.mark.parametrize("mode", ["chat", "achat"])
async def test_openai_answer_stopped_by_stop_sequence(openai_wire, openai_router, mode):
    """gpt-4o (2024), pretty-printed as OpenAI sends it: stopped by ``stop=["."]`` (finish_reason
    stop, the stop text not included), ``refusal: null``, every token detail at 0."""
    rec = load("openai", "gpt4o_stop_sequence.json")
    serve(openai_wire, rec)
    r, _ = await drive(openai_router, mode, model="gpt-4o", stop=["."], max_tokens=2048,
                       messages=[{"role": "user", "content": "what is Coca Cola"}])
    assert r.content == ("Coca-Cola is a globally recognized beverage company best known for "
                         "its flagship product, Coca-Cola, a carbonated soft drink")
    assert (r.finish_reason, r.refusal) == ("stop", None)
    assert r.model == "gpt-4o-2024-08-06"
    u = r.usage
    assert (u.prompt_tokens, u.completion_tokens, u.total_tokens, u.cached_tokens,
            u.reasoning_tokens) == (40, 24, 64, 0, 0)
    assert r.cost is not None and r.cost.total == calc_price(
        GUsage(input_tokens=40, output_tokens=24), "gpt-4o", provider_id="openai").total_price


@pytest.mark.parametrize("mode", ["stream", "astream"])
async def test_xai_stream_cut_while_usage_runs_on_every_chunk(openai_wire, mode):
    """xAI sends the running usage on every chunk, with the content: a stream cut after three
    of them (no finish_reason, no [DONE]) is an interrupted stream, not a finished one. The
    usage-chunk rule that ends kimi-k2's streams only holds for a chunk carrying nothing else."""
    rec = load("xai", "grok_beta_stream_head.sse")
    reply = rec.reply()
    openai_wire.server.queue(Reply(lines=list(reply.lines or ()) + [b"data: {"],
                                   content_type=reply.content_type, cut_after=3))
    with pytest.raises(StreamInterruptedError) as info:
        await chat_once(openai_wire, "xai", mode, model="xai/grok-beta",
                        messages=[{"role": "user", "content": "what is Coca Cola"}])
    assert info.value.partial is not None
    assert info.value.partial.content == "Coca-Cola is"


WEB_ASK = [{"role": "user", "content": "Use web search to find Pydantic AI's GitHub repository "
                                       "and answer with its URL only."}]


@pytest.fixture
async def openrouter_deepseek(openai_wire: OpenAIWire):
    r = openrouter_router(openai_wire, "deepseek/deepseek-chat")
    yield r
    await r.aclose()


@pytest.mark.parametrize("mode", ["chat", "achat"])
async def test_url_citation_annotations(openai_wire, openrouter_deepseek, mode):
    """deepseek-chat through OpenRouter's web search: the message carries five url_citation
    annotations (with the cited page text) beside ``content``, ``refusal: null`` and
    ``reasoning: null``; usage adds OpenRouter's cost and server_tool_use_details. The
    answer's text and counts come through; the annotations stay on the raw answer."""
    rec = load("openai", "openrouter_web_search_annotations.json")
    serve(openai_wire, rec)
    r, _ = await drive(openrouter_deepseek, mode, model="openrouter/deepseek/deepseek-chat",
                       messages=WEB_ASK)
    assert r.content == "https://github.com/pydantic/pydantic-ai"
    assert (r.finish_reason, r.refusal, r.reasoning, r.tool_calls) == ("stop", None, None, [])
    assert r.id == "gen-1786680756-Fmq0SbiQ50hlHCCn30d5"
    u = r.usage
    assert (u.prompt_tokens, u.completion_tokens, u.total_tokens, u.cached_tokens,
            u.reasoning_tokens) == (2315, 40, 2355, 0, 0)
    notes = rec.json()["choices"][0]["message"]["annotations"]
    assert len(notes) == 5 and {n["type"] for n in notes} == {"url_citation"}


async def test_url_citation_annotation_stream(openai_wire, openrouter_deepseek, streamed):
    """The streamed form: 23 ``: OPENROUTER PROCESSING`` SSE comments first, then five chunks
    each carrying one annotation and empty content, the text in 12 deltas, and two chunks
    with finish_reason stop, the second with the usage (2317 + 53)."""
    rec = load("openai", "openrouter_web_search_annotations_stream.sse")
    serve(openai_wire, rec)
    r, chunks = await drive(openrouter_deepseek, streamed,
                            model="openrouter/deepseek/deepseek-chat", messages=WEB_ASK)
    assert rec.body.count(b": OPENROUTER PROCESSING\n\n") == 23
    assert r.content == ("The URL for Pydantic AI's GitHub repository is:  \n\n"
                         "https://github.com/pydantic/pydantic-ai")
    assert "".join(c.delta for c in chunks) == r.content
    assert sum(1 for c in chunks if c.delta) == 12
    assert (r.finish_reason, r.refusal, r.tool_calls) == ("stop", None, [])
    assert r.id == "gen-1786680764-gY2YTdjLLLQA6Cd1Wa6J"
    u = r.usage
    assert (u.prompt_tokens, u.completion_tokens, u.total_tokens, u.cached_tokens) == \
        (2317, 53, 2370, 0)


@pytest.mark.parametrize("mode", ["chat", "achat", "stream", "astream"])
async def test_recorded_invalid_key(openai_wire, mode):
    """The 401 of a wrong key (invalid_request_error / invalid_api_key, the key masked by the
    server): an auth error, not retried, carrying the code and the server's message."""
    serve(openai_wire, load("openai", "error_401_invalid_api_key.json", status=401))
    with pytest.raises(ProviderAuthError) as info:
        await chat_once(openai_wire, "openai", mode, model="gpt-4o-mini", messages=ASK)
    err = info.value
    assert (err.status_code, err.retryable) == (401, False)
    assert "Incorrect API key provided" in str(err)
    assert "test-key-1" not in repr(err)
    assert len(openai_wire.requests) == 1

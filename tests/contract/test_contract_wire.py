"""The public contract of DESIGN.md against each provider's real wire format: the official SDKs
driven through ``Router`` (public names only) against the loopback servers of ``tests/``
(``openai_wire``, ``anthropic_wire``, ``google_wire``, ``mistral_wire``, ``cohere_wire``), sync
and async. Each test quotes the DESIGN.md sentence it checks and asserts both what the server
received and what the router returned.
"""

from __future__ import annotations

import io
import logging
import socket
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from anthropic_wire import AnthropicServer, Turn
from cohere_wire import CohereServer
from google_wire import API_KEY as GOOGLE_KEY
from google_wire import GeminiWire, retry_info
from google_wire import error as google_error
from loopback import Recorded, Reply
from mistral_wire import MistralWire
from mistral_wire import error_body as mistral_error
from openai_wire import PNG_B64, OpenAIWire, ToolCallSpec, form_fields

from cencori_core import (
    AllAttemptsFailedError,
    ChatResponse,
    ContextWindowExceededError,
    InvalidRequestError,
    Message,
    ProviderAuthError,
    ProviderBadRequestError,
    ProviderConnectionError,
    ProviderError,
    ProviderRateLimitError,
    ProviderResponseError,
    ProviderServerError,
    ProviderTimeoutError,
    RetryPolicy,
    Router,
    StreamInterruptedError,
    UnknownModelError,
)

USER = [{"role": "user", "content": "Hello there"}]
TOOLS = [{"type": "function", "function": {
    "name": "get_weather", "description": "weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                   "required": ["city"]}}}]
KEYS = {
    "openai": "sk-contract-openai-0123456789abcdef",
    "xai": "xai-contract-0123456789abcdefghij",
    "deepseek": "sk-contract-deepseek-0123456789ab",
    "meta": "LLM|contract|0123456789abcdefghij",
    "anthropic": "sk-ant-contract-0123456789abcdef",
    "google": GOOGLE_KEY,
    "mistral": "contract-mistral-0123456789abcdef",
    "cohere": "contract-cohere-0123456789abcdefg",
}
ENV_VARS = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GOOGLE_API_KEY", "GEMINI_API_KEY",
            "XAI_API_KEY", "MISTRAL_API_KEY", "DEEPSEEK_API_KEY", "LLAMA_API_KEY", "CO_API_KEY",
            "COHERE_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_BASE_URL", "GOOGLE_GEMINI_BASE_URL",
            "XAI_BASE_URL", "MISTRAL_BASE_URL", "DEEPSEEK_BASE_URL", "LLAMA_BASE_URL",
            "CO_API_URL", "CENCORI_PLUGINS")
SDK_PACKAGE = {"openai": "openai", "xai": "openai", "deepseek": "openai", "meta": "openai",
               "anthropic": "anthropic", "google": "google.genai", "mistral": "mistralai",
               "cohere": "cohere"}
ONCE = RetryPolicy(max_attempts=1)


class Wires:
    """The five loopback servers, and routers pointed at them."""

    def __init__(self) -> None:
        self.openai = OpenAIWire().start()
        self.anthropic = AnthropicServer().start()
        self.google = GeminiWire().start()
        self.mistral = MistralWire().start()
        self.cohere = CohereServer().start()
        self.routers: list[Router] = []

    def base_url(self, provider: str) -> str:
        if provider in ("openai", "xai", "deepseek", "meta"):
            return self.openai.base_url
        return str(getattr(self, provider).base_url)

    def providers(self, *names: str, **extra: Any) -> dict[str, Any]:
        names = names or tuple(KEYS)
        return {n: {"api_key": KEYS[n], "base_url": self.base_url(n), **extra} for n in names}

    def router(self, *names: str, **kw: Any) -> Router:
        kw.setdefault("retry", ONCE)
        r = Router(providers=self.providers(*names), **kw)
        self.routers.append(r)
        return r

    def requests(self, provider: str) -> list[Recorded]:
        if provider in ("openai", "xai", "deepseek", "meta"):
            return self.openai.requests
        server = getattr(self, provider)
        return list(server.requests)

    def sent_model(self, provider: str) -> str:
        """The model id in the last request the provider's server received."""
        rec = self.requests(provider)[-1]
        if provider == "google":
            return rec.path.rsplit("/", 1)[1].split(":")[0]
        return str(rec.json["model"])

    async def close(self) -> None:
        for r in self.routers:
            await r.aclose()
        for s in (self.openai, self.anthropic, self.google, self.mistral, self.cohere):
            s.stop()


@pytest.fixture
async def wires(monkeypatch: pytest.MonkeyPatch) -> Any:
    for var in ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    w = Wires()
    yield w
    await w.close()


@pytest.fixture(params=["sync", "async"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def call(router: Router, mode: str, op: str, *args: Any, **kw: Any) -> Any:
    if mode == "sync":
        return getattr(router, op)(*args, **kw)
    return await getattr(router, "a" + op)(*args, **kw)


async def stream(router: Router, mode: str, **kw: Any) -> tuple[list[Any], ChatResponse]:
    if mode == "sync":
        with router.chat_stream(**kw) as s:
            chunks = list(s)
    else:
        async with router.achat_stream(**kw) as s:
            chunks = [c async for c in s]
    assert s.response is not None
    return chunks, s.response


# ---------------------------------------------------------------------------- the task's names

TASK_MODELS = [("gpt-4o", "openai", "gpt-4o"),
               ("claude-opus-4", "anthropic", "claude-opus-4-20250514"),
               ("gemini-2.5-pro", "google", "gemini-2.5-pro"),
               ("grok-4", "xai", "grok-4"),
               ("mistral-large-latest", "mistral", "mistral-large-latest"),
               ("deepseek-chat", "deepseek", "deepseek-chat"),
               ("llama-4-maverick", "meta", "Llama-4-Maverick-17B-128E-Instruct-FP8"),
               ("command-a", "cohere", "command-a-03-2025")]


@pytest.mark.parametrize(("name", "provider", "wire_id"), TASK_MODELS)
async def test_task_models_end_to_end(wires: Wires, mode: str, name: str, provider: str,
                                      wire_id: str) -> None:
    # README: "the router resolves a model name (`gpt-4o`, `claude-opus-4`, ...) to a provider
    # plugin, ..., calls the provider's official SDK and returns normalized responses with usage
    # and exact cost"; "Every operation returns usage and cost where the provider reports it."
    router = wires.router()
    r = await call(router, mode, "chat", model=name, messages=USER)
    assert wires.sent_model(provider) == wire_id
    assert r.provider == provider and r.content
    assert type(r.raw).__module__.startswith(SDK_PACKAGE[provider])  # "r.raw": the SDK object
    assert r.id and r.latency_ms > 0 and r.attempts[0].provider == provider
    assert r.usage.source == "provider" and r.usage.total_tokens > 0
    if provider == "meta":
        assert r.cost is None  # "None when the model is unpriced": genai-prices has no Llama API
    else:
        assert r.cost is not None and isinstance(r.cost.total, Decimal) and r.cost.total > 0
    chunks, final = await stream(router, mode, model=name, messages=USER)
    assert wires.sent_model(provider) == wire_id
    assert "".join(c.delta for c in chunks) == final.content == r.content
    assert final.provider == provider and final.usage.source == "provider"
    assert final.usage.total_tokens == r.usage.total_tokens
    assert (final.cost is None) == (r.cost is None)


@pytest.mark.parametrize("env", [
    {"OPENAI_API_KEY": "openai", "OPENAI_BASE_URL": "openai"},
    {"XAI_API_KEY": "xai", "XAI_BASE_URL": "xai"},
    {"DEEPSEEK_API_KEY": "deepseek", "DEEPSEEK_BASE_URL": "deepseek"},
    {"LLAMA_API_KEY": "meta", "LLAMA_BASE_URL": "meta"},
    {"ANTHROPIC_API_KEY": "anthropic", "ANTHROPIC_BASE_URL": "anthropic"},
    {"GOOGLE_API_KEY": "google", "GOOGLE_GEMINI_BASE_URL": "google"},
    {"GEMINI_API_KEY": "google", "GOOGLE_GEMINI_BASE_URL": "google"},
    {"MISTRAL_API_KEY": "mistral", "MISTRAL_BASE_URL": "mistral"},
    {"CO_API_KEY": "cohere", "CO_API_URL": "cohere"},
    {"COHERE_API_KEY": "cohere", "CO_API_URL": "cohere"},
], ids=lambda env: "+".join(env))
async def test_environment_keys_and_base_urls(wires: Wires, mode: str, env: dict[str, str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    # "Environment: `OPENAI_API_KEY`, `ANTHROPIC_API_KEY`, `GOOGLE_API_KEY` or `GEMINI_API_KEY`,
    # `XAI_API_KEY`, `MISTRAL_API_KEY`, `DEEPSEEK_API_KEY`, `LLAMA_API_KEY`, `CO_API_KEY` (or
    # `COHERE_API_KEY`), and `OPENAI_BASE_URL`, `ANTHROPIC_BASE_URL`, `GOOGLE_GEMINI_BASE_URL`,
    # `XAI_BASE_URL`, `MISTRAL_BASE_URL`, `DEEPSEEK_BASE_URL`, `LLAMA_BASE_URL`, `CO_API_URL` for
    # base URLs." / "router = Router()  # credentials from the environment"
    (key_var, url_var), provider = list(env), next(iter(env.values()))
    monkeypatch.setenv(key_var, KEYS[provider])
    monkeypatch.setenv(url_var, wires.base_url(provider))
    model = next(name for name, p, _ in TASK_MODELS if p == provider)
    router = Router(retry=ONCE)
    wires.routers.append(router)
    before = len(wires.requests(provider))
    r = await call(router, mode, "chat", model=model, messages=USER)
    assert r.provider == provider and len(wires.requests(provider)) == before + 1


# ---------------------------------------------------------------------------- chat in detail

async def test_chat_keywords_reach_the_wire(wires: Wires, mode: str) -> None:
    # "r = router.chat(model="gpt-4o", messages=[...], temperature=0.7, max_tokens=1000,
    # tools=[...], tool_choice=None, response_format=None, stop=None, top_p=None, seed=None,
    # user=None, ..., provider_options=None)"; "provider_options: a dict passed through to the
    # provider as is"
    router = wires.router("openai")
    kw = dict(temperature=0.7, max_tokens=1000, tools=TOOLS, tool_choice="required",
              response_format={"type": "json_object"}, stop=["END"], top_p=0.9, seed=7,
              user="user-42", provider_options={"logprobs": True, "service_tier": "flex"})
    await call(router, mode, "chat", model="gpt-4o", messages=USER, **kw)
    body = wires.openai.last("/chat/completions").json
    assert body["temperature"] == 0.7 and body["top_p"] == 0.9 and body["seed"] == 7
    assert 1000 in (body.get("max_tokens"), body.get("max_completion_tokens"))
    assert body["tools"][0]["function"]["name"] == "get_weather"
    assert body["tool_choice"] == "required" and body["stop"] == ["END"]
    assert body["response_format"] == {"type": "json_object"} and body["user"] == "user-42"
    assert body["logprobs"] is True and body["service_tier"] == "flex"
    await stream(router, mode, model="gpt-4o", messages=USER, **kw)
    body = wires.openai.last("/chat/completions").json
    assert body["stream"] is True and body["logprobs"] is True


async def test_messages_parts_and_message_objects_reach_the_wire(wires: Wires,
                                                                 mode: str) -> None:
    # "Messages are accepted as OpenAI-style dicts (text or content parts: text, image_url,
    # input_audio) or as `Message` objects"
    router = wires.router("openai")
    parts = [{"type": "text", "text": "what is this?"},
             {"type": "image_url", "image_url": {"url": "data:image/png;base64," + PNG_B64}},
             {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}}]
    messages = [Message(role="system", content="be brief"), {"role": "user", "content": parts}]
    await call(router, mode, "chat", model="gpt-4o", messages=messages)
    sent = wires.openai.last("/chat/completions").json["messages"]
    assert sent[0] == {"role": "system", "content": "be brief"}
    assert [p["type"] for p in sent[1]["content"]] == ["text", "image_url", "input_audio"]
    assert sent[1]["content"][1]["image_url"]["url"].endswith(PNG_B64)


async def test_tool_calls_message_and_to_openai(wires: Wires, mode: str) -> None:
    # "r.tool_calls  # list[ToolCall]: id, name, arguments (dict | None), arguments_raw (str)";
    # "r.message  # the assistant message, ready to append to the conversation";
    # "r.to_openai()  # dict in OpenAI ChatCompletion shape"
    from openai.types.chat import ChatCompletion

    router = wires.router("openai")
    wires.openai.chat_reply(None, tool_calls=[
        ToolCallSpec(name="get_weather", arguments='{"city": "Paris"}', id="call_ok"),
        ToolCallSpec(name="get_weather", arguments='{"city": ', id="call_bad")])
    r = await call(router, mode, "chat", model="gpt-4o", messages=USER, tools=TOOLS)
    assert r.finish_reason == "tool_calls" and r.content is None
    ok, bad = r.tool_calls
    assert (ok.id, ok.name, ok.arguments, ok.arguments_raw) == (
        "call_ok", "get_weather", {"city": "Paris"}, '{"city": "Paris"}')
    assert bad.arguments is None and bad.arguments_raw == '{"city": '  # kept, never raised
    assert r.id.startswith("chatcmpl-")
    completion = ChatCompletion.model_validate(r.to_openai())
    assert [t.id for t in completion.choices[0].message.tool_calls] == ["call_ok", "call_bad"]
    follow = [*USER, r.message,
              {"role": "tool", "tool_call_id": "call_ok", "content": "18C"},
              {"role": "tool", "tool_call_id": "call_bad", "content": "bad arguments"}]
    await call(router, mode, "chat", model="gpt-4o", messages=follow, tools=TOOLS)
    sent = wires.openai.last("/chat/completions").json["messages"]
    assert sent[1]["role"] == "assistant"
    assert [t["id"] for t in sent[1]["tool_calls"]] == ["call_ok", "call_bad"]
    assert sent[2] == {"role": "tool", "tool_call_id": "call_ok", "content": "18C"}


async def test_stream_tool_call_deltas_have_a_stable_index(wires: Wires, mode: str) -> None:
    # "chunk.tool_calls  # tool-call deltas with a stable index"; "stream.response  # the final
    # ChatResponse (usage, cost) after the stream ends"
    router = wires.router("openai")
    wires.openai.chat_reply("Checking.", tool_calls=[
        ToolCallSpec(name="get_weather", arguments='{"city": "Paris"}', fragments=4),
        ToolCallSpec(name="get_weather", arguments='{"city": "Rome"}', fragments=3)],
        usage={"prompt_tokens": 20, "completion_tokens": 30})
    chunks, final = await stream(router, mode, model="gpt-4o", messages=USER, tools=TOOLS)
    deltas = [d for c in chunks for d in c.tool_calls]
    by_index: dict[int, str] = {}
    for d in deltas:
        by_index[d.index] = by_index.get(d.index, "") + d.arguments
    assert by_index == {0: '{"city": "Paris"}', 1: '{"city": "Rome"}'}
    assert [t.arguments for t in final.tool_calls] == [{"city": "Paris"}, {"city": "Rome"}]
    assert final.usage.prompt_tokens == 20 and final.usage.completion_tokens == 30
    assert final.cost is not None and final.finish_reason == "tool_calls"
    assert wires.openai.last("/chat/completions").json["stream_options"] == {
        "include_usage": True}


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
async def test_stream_cut_midway_keeps_the_partial(wires: Wires, mode: str,
                                                   provider: str) -> None:
    # "StreamInterruptedError  .partial (content and usage received so far)"
    router = wires.router(provider)
    if provider == "openai":
        wires.openai.chat_reply("one two three four five six seven", chunk_size=4, cut_after=4)
        model = "gpt-4o"
    else:
        wires.anthropic.script(Turn(text="one two three four five six seven", cut_after=6))
        model = "claude-sonnet-4"
    received: list[str] = []
    with pytest.raises(StreamInterruptedError) as info:
        if mode == "sync":
            with router.chat_stream(model=model, messages=USER) as s:
                for c in s:
                    received.append(c.delta)
        else:
            async with router.achat_stream(model=model, messages=USER) as s:
                async for c in s:
                    received.append(c.delta)
    partial = info.value.partial
    assert received and partial is not None
    assert partial.content == "".join(received)
    assert partial.usage.total_tokens > 0
    assert info.value.provider == provider


async def test_timeouts(wires: Wires, mode: str) -> None:
    # "Router(..., timeout=60.0)"; per call "timeout=None"; "ProviderTimeoutError"
    router = wires.router("openai", timeout=0.2)
    wires.openai.chat_reply("late", delay=1.0)
    with pytest.raises(ProviderTimeoutError) as info:
        await call(router, mode, "chat", model="gpt-4o", messages=USER)
    assert info.value.provider == "openai"
    patient = wires.router("openai", timeout=60.0)
    wires.openai.chat_reply("late", delay=1.0)
    with pytest.raises(ProviderTimeoutError):
        await call(patient, mode, "chat", model="gpt-4o", messages=USER, timeout=0.2)


# ---------------------------------------------------------------------------- other operations

async def test_openai_operations_reach_the_wire(wires: Wires, mode: str,
                                                tmp_path: Path) -> None:
    # "router.embed(model, input, *, dimensions=None, input_type=None)", "router.generate_image(
    # model, prompt, *, size=None, n=1, quality=None)", "router.transcribe(model, file, *,
    # language=None, prompt=None)", 'router.speech(model, input, *, voice, format="mp3",
    # speed=None)', "router.moderate(model, input)"; "Every operation returns usage and cost
    # where the provider reports it."
    router = wires.router("openai")
    w = wires.openai
    e = await call(router, mode, "embed", "text-embedding-3-small", ["a", "bb"], dimensions=3)
    assert w.last("/embeddings").json["dimensions"] == 3 and len(e.vectors) == 2
    assert len(e.vectors[0]) == 3 and e.usage.prompt_tokens == 2 and e.cost is not None
    im = await call(router, mode, "generate_image", "gpt-image-1", "a red fox",
                    size="1024x1024", n=2, quality="low")
    body = w.last("/images/generations").json
    assert (body["size"], body["n"], body["quality"]) == ("1024x1024", 2, "low")
    assert len(im.images) == 2 and im.images[0].b64_json == PNG_B64 and im.cost is not None
    audio = tmp_path / "meeting.wav"
    audio.write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt ")
    t = await call(router, mode, "transcribe", "whisper-1", audio, language="en",
                   prompt="names: Ann")
    form = form_fields(w.last("/audio/transcriptions"))
    assert form["language"] == "en" and form["prompt"] == "names: Ann"
    assert form["file"][0] == "meeting.wav"
    assert t.text == w.transcript and hasattr(t, "language") and hasattr(t, "duration")
    with open(audio, "rb") as fh:
        await call(router, mode, "transcribe", "whisper-1", fh)
    await call(router, mode, "transcribe", "whisper-1", io.BytesIO(b"RIFFdata"))
    sp = await call(router, mode, "speech", "tts-1", "Hello", voice="alloy", format="wav",
                    speed=1.5)
    body = w.last("/audio/speech").json
    assert (body["voice"], body["response_format"], body["speed"]) == ("alloy", "wav", 1.5)
    assert isinstance(sp.audio, bytes) and sp.audio and sp.format == "wav"
    m = await call(router, mode, "moderate", "omni-moderation-latest",
                   ["an attack plan", "a picnic"])
    assert m.flagged is True and [x.flagged for x in m.results] == [True, False]
    assert m.results[0].categories["violence"] is True
    assert m.results[0].scores["violence"] == 0.91


async def test_other_providers_operations(wires: Wires, mode: str) -> None:
    # "Moderation keeps each provider's own category names; the shape is normalized (`flagged`,
    # `categories: dict[str, bool]`, `scores: dict[str, float]`)."; embeddings with
    # `dimensions` / `input_type`
    router = wires.router("google", "mistral", "cohere")
    g = await call(router, mode, "embed", "gemini-embedding-001", ["one", "two"], dimensions=8)
    assert [len(v) for v in g.vectors] == [8, 8]
    assert wires.google.last("batchEmbedContents").json["requests"][0][
        "outputDimensionality"] == 8
    m = await call(router, mode, "embed", "mistral-embed", "hello world")
    assert len(m.vectors) == 1 and m.usage.prompt_tokens == 2 and m.cost is not None
    c = await call(router, mode, "embed", "embed-v4.0", ["a b c"], input_type="search_query")
    assert len(c.vectors) == 1 and c.usage.prompt_tokens == 3
    assert wires.cohere.bodies("/v2/embed")[-1]["input_type"] == "search_query"
    mod = await call(router, mode, "moderate", "mistral-moderation-latest",
                     ["I will kill the process", "have a nice day"])
    assert mod.flagged is True and mod.results[1].flagged is False
    cats = mod.results[0].categories
    assert cats["violence_and_threats"] is True and "hate_and_discrimination" in cats
    assert isinstance(mod.results[0].scores["violence_and_threats"], float)


# ---------------------------------------------------------------------------- errors

def _fault(wires: Wires, provider: str, status: int, *, retry_after: str | None = None,
           message: str = "scripted", times: int = 1) -> None:
    """A fault in the provider's own error format (body, status, headers)."""
    headers = {"retry-after": retry_after} if retry_after is not None else {}
    if provider == "openai":
        code = {429: "rate_limit_exceeded", 401: "invalid_api_key"}.get(status)
        wires.openai.fail(status, message, code=code, headers=headers, times=times)
    elif provider == "anthropic":
        kind = {400: "invalid_request_error", 401: "authentication_error",
                403: "permission_error", 404: "not_found_error", 422: "invalid_request_error",
                429: "rate_limit_error", 529: "overloaded_error"}.get(status, "api_error")
        wires.anthropic.error(status, kind, message, headers=headers, times=times)
    elif provider == "google":
        name = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
                404: "NOT_FOUND", 422: "INVALID_ARGUMENT", 429: "RESOURCE_EXHAUSTED",
                503: "UNAVAILABLE"}.get(status, "INTERNAL")
        details = [retry_info(f"{retry_after}s")] if retry_after else []
        wires.google.fail(google_error(status, name, message, details=details), times=times)
    elif provider == "mistral":
        wires.mistral.fail(status, mistral_error(message, type="scripted"), headers=headers,
                           times=times)
    else:
        wires.cohere.error(status, message, headers=headers, times=times)


PROVIDER_MODELS = {"openai": "gpt-4o", "anthropic": "claude-sonnet-4",
                   "google": "gemini-2.5-flash", "mistral": "mistral-small-latest",
                   "cohere": "command-a"}


@pytest.mark.parametrize("provider", list(PROVIDER_MODELS))
async def test_errors_are_typed_from_status_with_retry_after(wires: Wires, mode: str,
                                                             provider: str) -> None:
    # "Errors (typed, from status codes and structured provider codes, never string matching)";
    # "ProviderError .provider, .model, .status_code, .retryable, .retry_after, .request_id";
    # "Every `retry_after` is in seconds (float)." "Every SDK client is built with its own
    # retries off (`max_retries=0` or the SDK's equivalent)"
    router = wires.router(provider)
    model = PROVIDER_MODELS[provider]
    # "ProviderAuthError 401/403 · ProviderBadRequestError 400/404/422 · ProviderRateLimitError
    # 429 · ProviderServerError 5xx"
    cases = [(429, ProviderRateLimitError, True), (401, ProviderAuthError, False),
             (403, ProviderAuthError, False), (400, ProviderBadRequestError, False),
             (404, ProviderBadRequestError, False), (422, ProviderBadRequestError, False),
             (500, ProviderServerError, True), (503, ProviderServerError, True)]
    for status, cls, retryable in cases:
        before = len(wires.requests(provider))
        # one fault only: an SDK that retried by itself would get an answer and not raise
        _fault(wires, provider, status, retry_after="2" if status == 429 else None)
        with pytest.raises(cls) as info:
            await call(router, mode, "chat", model=model, messages=USER)
        err = info.value
        assert len(wires.requests(provider)) == before + 1  # the SDK did not retry by itself
        assert (err.provider, err.status_code, err.retryable) == (provider, status, retryable)
        assert err.model
        if status == 429:
            assert err.retry_after == 2.0 and isinstance(err.retry_after, float)
        if provider in ("openai", "anthropic"):
            assert err.request_id  # these servers send a request id header


@pytest.mark.parametrize("provider", list(PROVIDER_MODELS))
async def test_unparseable_answers_and_unreachable_servers(wires: Wires, mode: str,
                                                           provider: str) -> None:
    # "ProviderResponseError (unparseable)", "ProviderConnectionError"
    router = wires.router(provider)
    server = {"openai": wires.openai.server, "anthropic": wires.anthropic,
              "google": wires.google.http, "mistral": wires.mistral.server,
              "cohere": wires.cohere}[provider]
    server.queue(Reply(status=200, body="this is not json{", content_type="application/json"))
    with pytest.raises(ProviderResponseError) as info:
        await call(router, mode, "chat", model=PROVIDER_MODELS[provider], messages=USER)
    assert info.value.provider == provider
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    suffix = "/v1" if provider == "openai" else ""
    dead = Router(providers={provider: {"api_key": KEYS[provider],
                                        "base_url": f"http://127.0.0.1:{port}{suffix}"}},
                  plugins=[provider], retry=ONCE)
    wires.routers.append(dead)
    with pytest.raises(ProviderConnectionError) as conn:
        await call(dead, mode, "chat", model=PROVIDER_MODELS[provider], messages=USER)
    assert conn.value.retryable is True
    with pytest.raises(ProviderConnectionError):
        await stream(dead, mode, model=PROVIDER_MODELS[provider], messages=USER)


async def test_finish_reasons_are_normalized(wires: Wires, mode: str) -> None:
    # 'r.finish_reason  # "stop" | "length" | "tool_calls" | "content_filter" | "error"'
    router = wires.router("openai", "anthropic")
    for native in ("length", "content_filter", "stop"):
        wires.openai.chat_reply("x", finish_reason=native)
        r = await call(router, mode, "chat", model="gpt-4o", messages=USER)
        assert r.finish_reason == native
    for native, ours in (("max_tokens", "length"), ("refusal", "content_filter"),
                         ("end_turn", "stop"), ("stop_sequence", "stop")):
        wires.anthropic.script(Turn(text="x", stop_reason=native))
        r = await call(router, mode, "chat", model="claude-sonnet-4", messages=USER)
        assert r.finish_reason == ours, native


async def test_context_window_error_and_fallback(wires: Wires, mode: str) -> None:
    # "ContextWindowExceededError"; "context_window_fallbacks={"gpt-4o": "gpt-4.1"}"
    router = wires.router("openai")
    wires.openai.fail(400, "too long", code="context_length_exceeded")
    with pytest.raises(ContextWindowExceededError):
        await call(router, mode, "chat", model="gpt-4o", messages=USER)
    bigger = wires.router("openai", context_window_fallbacks={"gpt-4o": "gpt-4.1"})
    wires.openai.fail(400, "too long", code="context_length_exceeded")
    r = await call(bigger, mode, "chat", model="gpt-4o", messages=USER)
    assert (r.model, r.provider) == ("gpt-4.1", "openai")
    assert [a.model for a in r.attempts] == ["gpt-4o", "gpt-4.1"]
    assert wires.openai.last("/chat/completions").json["model"] == "gpt-4.1"


@pytest.mark.parametrize("provider", list(PROVIDER_MODELS))
async def test_key_never_in_errors_or_logs(wires: Wires, mode: str, provider: str,
                                           caplog: pytest.LogCaptureFixture) -> None:
    # "Secrets: keys live in a `Secret` type whose repr/str are masked; they never reach logs,
    # errors, spans or records." A server may quote the key it refuses (OpenAI does, partly).
    key = KEYS[provider]
    router = wires.router(provider)
    _fault(wires, provider, 401, message=f"Incorrect API key provided: {key}")
    caplog.set_level(logging.DEBUG)
    with pytest.raises(ProviderError) as info:
        await call(router, mode, "chat", model=PROVIDER_MODELS[provider], messages=USER)
    err = info.value
    assert key not in str(err) and key not in repr(err)
    assert key not in caplog.text
    assert key not in repr(router)


@pytest.mark.parametrize("provider", list(PROVIDER_MODELS))
async def test_key_never_in_a_logged_traceback(wires: Wires, mode: str, provider: str) -> None:
    # "they never reach logs, errors, spans or records": the whole chain, as
    # `logging.exception(err)` prints it, cause included
    import traceback

    key = KEYS[provider]
    router = wires.router(provider)
    _fault(wires, provider, 401, message=f"Incorrect API key provided: {key}")
    with pytest.raises(ProviderError) as info:
        await call(router, mode, "chat", model=PROVIDER_MODELS[provider], messages=USER)
    printed = "".join(traceback.format_exception(info.value))
    assert "Incorrect API key provided" in printed
    assert key not in printed


# ---------------------------------------------------------------------------- routing

async def test_fallback_to_another_provider(wires: Wires, mode: str) -> None:
    # 'fallbacks={"gpt-4o": ["claude-sonnet-4", "gemini-2.5-flash"]}'; "`response.model` /
    # `.provider` name the route that produced the answer (after a fallback, the fallback); the
    # requested name is in `attempts[0]`."
    router = wires.router("openai", "anthropic", "google",
                          fallbacks={"gpt-4o": ["claude-sonnet-4", "gemini-2.5-flash"]})
    wires.openai.fail(503)
    wires.anthropic.error(529, "overloaded_error", "Overloaded")
    r = await call(router, mode, "chat", model="gpt-4o", messages=USER)
    assert (r.provider, r.model) == ("google", "gemini-2.5-flash")
    assert [(a.provider, a.status) for a in r.attempts] == [
        ("openai", "ProviderServerError"), ("anthropic", "ProviderServerError"),
        ("google", "ok")]
    assert r.attempts[0].model == "gpt-4o"
    wires.openai.fail(503)
    chunks, final = await stream(router, mode, model="gpt-4o", messages=USER)
    assert final.provider == "anthropic" and "".join(c.delta for c in chunks) == final.content


def test_requested_alias_is_in_the_first_attempt(wires: Wires) -> None:
    # "the requested name is in `attempts[0]`": the caller asked for "claude-sonnet-4"
    router = wires.router("openai", "anthropic", fallbacks={"claude-sonnet-4": ["gpt-4o"]})
    wires.anthropic.error(529, "overloaded_error", "Overloaded")
    r = router.chat(model="claude-sonnet-4", messages=USER)
    assert r.provider == "openai"
    assert r.attempts[0].model == "claude-sonnet-4"


async def test_all_attempts_failed_across_providers(wires: Wires, mode: str) -> None:
    # "AllAttemptsFailedError  every attempt, in order (an ExceptionGroup)"
    router = wires.router("openai", "anthropic", fallbacks={"gpt-4o": ["claude-sonnet-4"]},
                          retry=RetryPolicy(max_attempts=2, initial_delay=0, jitter=0))
    wires.openai.fail(500, times=2)
    wires.anthropic.error(429, "rate_limit_error", "slow", headers={"retry-after": "0"},
                          times=2)
    with pytest.raises(AllAttemptsFailedError) as info:
        await call(router, mode, "chat", model="gpt-4o", messages=USER)
    err = info.value
    assert [type(e) for e in err.exceptions] == [ProviderServerError, ProviderServerError,
                                                 ProviderRateLimitError, ProviderRateLimitError]
    assert [a.provider for a in err.attempts] == ["openai", "openai", "anthropic", "anthropic"]
    assert err.retry_after == 0.0


def _deployments(wires: Wires, second: OpenAIWire) -> dict[str, Any]:
    return {"gpt-4o": [
        {"provider": "openai", "api_key": KEYS["openai"], "base_url": wires.openai.base_url,
         "weight": 2, "name": "east"},
        {"provider": "openai", "api_key": "sk-contract-west-0123456789abcdef",
         "base_url": second.base_url}]}


@pytest.fixture
def second_openai() -> Iterator[OpenAIWire]:
    with OpenAIWire() as w:
        yield w


@pytest.mark.parametrize("strategy", ["weighted", "least_busy", "lowest_latency"])
async def test_deployments_name_the_one_used_never_a_key(
        wires: Wires, second_openai: OpenAIWire, mode: str, strategy: str) -> None:
    # 'Router(deployments={"gpt-4o": [{"provider": "openai", "api_key": ..., "base_url": ...,
    # "weight": 2}, {...}]}, routing_strategy="weighted" | "least_busy" | "lowest_latency",
    # cooldown=..., ...)`; `response.deployment` names the one used.' "Each deployment may carry
    # a `name`; `response.deployment` is that name, else `<model>#<index>`, never containing a
    # key."
    router = Router(plugins=["openai"], deployments=_deployments(wires, second_openai),
                    routing_strategy=strategy, retry=ONCE)
    wires.routers.append(router)
    used = set()
    for _ in range(12):
        r = await call(router, mode, "chat", model="gpt-4o", messages=USER)
        used.add(r.deployment)
        assert r.provider == "openai" and r.model == "gpt-4o"
    assert used <= {"east", "gpt-4o#1"} and used
    assert wires.openai.hits + second_openai.hits == 12
    route = router.resolve("gpt-4o")
    assert route.deployment in {"east", "gpt-4o#1"} and route.deployment in str(route)


async def test_cooldown_when_every_deployment_fails(wires: Wires, second_openai: OpenAIWire,
                                                    mode: str) -> None:
    # 'cooldown={"allowed_fails": 3, "window_s": 60, "cooldown_s": 30}'; "When every deployment
    # is cooling, the error says "all deployments of <model> are cooling down"."
    router = Router(plugins=["openai"], deployments=_deployments(wires, second_openai),
                    cooldown={"allowed_fails": 1, "window_s": 60, "cooldown_s": 30},
                    retry=RetryPolicy(max_attempts=2, initial_delay=0, jitter=0))
    wires.routers.append(router)
    wires.openai.fail(500, times=10)
    second_openai.fail(500, times=10)
    with pytest.raises(AllAttemptsFailedError) as first:
        await call(router, mode, "chat", model="gpt-4o", messages=USER)
    assert {a.deployment for a in first.value.attempts} == {"east", "gpt-4o#1"}
    with pytest.raises(AllAttemptsFailedError) as info:
        await call(router, mode, "chat", model="gpt-4o", messages=USER)
    text = str(info.value)
    assert "all deployments of gpt-4o are cooling down" in text
    for key in (KEYS["openai"], "sk-contract-west-0123456789abcdef"):
        assert key not in text and key not in str(info.value.attempts)


async def test_http_clients_are_handed_to_the_sdks(wires: Wires, mode: str) -> None:
    # "A provider configuration given in Python may carry `http_client` / `async_http_client`
    # (`httpx.Client` / `httpx.AsyncClient`) handed to the SDK"
    seen: list[str] = []

    def hook(request: httpx.Request) -> None:
        seen.append(f"sync {request.url.port}")

    async def ahook(request: httpx.Request) -> None:
        seen.append(f"async {request.url.port}")

    for provider, model in PROVIDER_MODELS.items():
        seen.clear()
        client = httpx.Client(event_hooks={"request": [hook]})
        aclient = httpx.AsyncClient(event_hooks={"request": [ahook]})
        cfg = {provider: {"api_key": KEYS[provider], "base_url": wires.base_url(provider),
                          "http_client": client, "async_http_client": aclient}}
        router = Router(providers=cfg, plugins=[provider], retry=ONCE)
        wires.routers.append(router)
        await call(router, mode, "chat", model=model, messages=USER)
        port = httpx.URL(wires.base_url(provider)).port
        assert seen == [f"{mode} {port}"], provider
        client.close()
        await aclient.aclose()


# ---------------------------------------------------------------------------- resolution

async def test_prefix_only_names_are_sent_as_written(wires: Wires, mode: str) -> None:
    # "A name matched only by a provider prefix is sent as written and assumed to support the
    # operation asked; capability checks apply to catalog entries only."
    router = wires.router("openai", "anthropic")
    await call(router, mode, "chat", model="gpt-zz-preview-0611", messages=USER)
    assert wires.openai.last("/chat/completions").json["model"] == "gpt-zz-preview-0611"
    await call(router, mode, "embed", "text-embedding-zz-large", "x")
    assert wires.openai.last("/embeddings").json["model"] == "text-embedding-zz-large"
    await call(router, mode, "chat", model="claude-zz-next", messages=USER)
    assert wires.anthropic.bodies[-1]["model"] == "claude-zz-next"
    await call(router, mode, "chat", model="openai/ft:gpt-4o:acme:1", messages=USER)
    assert wires.openai.last("/chat/completions").json["model"] == "ft:gpt-4o:acme:1"


async def test_refusals_happen_before_any_request(wires: Wires, mode: str) -> None:
    # "InvalidRequestError  bad input, raised before any network call"; capability checks on
    # catalog entries; "UnknownModelError"
    router = wires.router("openai")
    with pytest.raises(InvalidRequestError):
        await call(router, mode, "chat", model="gpt-4o", messages=USER, temperature=2.5)
    with pytest.raises(InvalidRequestError):
        await call(router, mode, "chat", model="text-embedding-3-small", messages=USER)
    with pytest.raises(InvalidRequestError):
        await call(router, mode, "embed", "gpt-4o", "x")
    with pytest.raises(UnknownModelError):
        await call(router, mode, "chat", model="nonesuch-zz", messages=USER)
    assert wires.openai.hits == 0


async def test_openai_compatible_endpoint(wires: Wires, mode: str) -> None:
    # '"provider/model" is explicit (... so ids such as `ft:gpt-4o:org` or `meta-llama/Llama-3`
    # survive)'; `[providers.<name>]` ... `type`, `models`
    router = Router(providers={"local": {"type": "openai_compatible", "api_key": "local-k",
                                         "base_url": wires.openai.base_url,
                                         "models": ["meta-llama/Llama-3"]}},
                    plugins=["openai"], retry=ONCE)
    wires.routers.append(router)
    r = await call(router, mode, "chat", model="local/meta-llama/Llama-3", messages=USER)
    assert wires.openai.last("/chat/completions").json["model"] == "meta-llama/Llama-3"
    assert r.provider == "local" and r.cost is None


# ---------------------------------------------------------------------------- TOML

def test_from_config_every_provider_key_against_the_wire(
        wires: Wires, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # "`[providers.<name>]` (`api_key` or `api_key_env`, `base_url`, `timeout`, `type`,
    # `models`), `[fallbacks]` (`"gpt-4o" = ["claude-sonnet-4"]`), `[retry]`,
    # `[policies.<name>]` with `mode` and the policy's options ..., `[ledger]` (`path`),
    # `[telemetry]`"
    monkeypatch.setenv("CONTRACT_OPENAI_KEY", KEYS["openai"])
    path = tmp_path / "cencori.toml"
    path.write_text(f"""
[providers.openai]
api_key_env = "CONTRACT_OPENAI_KEY"
base_url = "{wires.openai.base_url}"
timeout = 30

[providers.anthropic]
api_key = "{KEYS['anthropic']}"
base_url = "{wires.anthropic.base_url}"

[providers.local]
type = "openai_compatible"
api_key = "local-key"
base_url = "{wires.openai.base_url}"
models = ["qwen2"]

[fallbacks]
"gpt-4o" = ["claude-sonnet-4"]

[retry]
max_attempts = 1

[policies.pii]
mode = "redact"
responses = true

[ledger]
path = "usage.db"

[telemetry]
enabled = false
""")
    router = Router.from_config(path, plugins=["openai", "anthropic"])
    r = router.chat(model="gpt-4o", messages=[{"role": "user", "content": "mail a@b.example"}])
    body = wires.openai.last("/chat/completions").json
    assert body["messages"][0]["content"] == "mail [REDACTED_EMAIL]"
    assert wires.openai.last().headers["authorization"] == f"Bearer {KEYS['openai']}"
    assert r.policy_decisions[0].policy == "pii"
    wires.openai.fail(503)
    r = router.chat(model="gpt-4o", messages=USER)
    assert r.provider == "anthropic" and len(r.attempts) == 2  # [retry] 1 try, then fallback
    router.chat(model="local/qwen2", messages=USER)
    assert wires.openai.last("/chat/completions").json["model"] == "qwen2"
    assert wires.openai.last().headers["authorization"] == "Bearer local-key"
    router.close()
    with Router(ledger_path=tmp_path / "usage.db", load_entrypoints=False) as again:
        assert sum(row.calls for row in again.usage.summary(by="provider")) == 3


def test_cli_against_a_provider(wires: Wires, tmp_path: Path) -> None:
    # README: "cencori chat --json "Hello" -m gpt-4o  # one JSON object (the response's
    # to_dict())"; "cencori chat "Hello" -m echo/echo  # streams, then usage and cost"; keys from
    # the environment
    import json
    import os
    import subprocess
    import sys

    env = {**{k: v for k, v in os.environ.items() if k not in ENV_VARS},
           "CENCORI_HOME": str(tmp_path), "OPENAI_API_KEY": KEYS["openai"],
           "OPENAI_BASE_URL": wires.openai.base_url}
    exe = str(Path(sys.executable).with_name("cencori"))
    out = subprocess.run([exe, "chat", "--json", "Hello", "-m", "gpt-4o"], capture_output=True,
                         text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["content"] == "echo: Hello" and data["provider"] == "openai"
    assert Decimal(data["cost"]["total"]) > 0
    assert wires.openai.last("/chat/completions").json["model"] == "gpt-4o"
    wires.openai.chat_reply("streamed to the terminal", chunk_size=5)
    out = subprocess.run([exe, "chat", "Hello", "-m", "gpt-4o"], capture_output=True,
                         text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    # the answer alone on stdout; the usage summary on stderr
    assert out.stdout == "streamed to the terminal\n"
    assert "[openai/gpt-4o]" in out.stderr and "cost: $" in out.stderr
    assert wires.openai.last("/chat/completions").json["stream"] is True
    assert KEYS["openai"] not in out.stdout + out.stderr

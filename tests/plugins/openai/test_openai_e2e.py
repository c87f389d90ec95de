"""The OpenAI plugin end to end: the real ``openai`` SDK, through ``Router``, against a loopback
server speaking the OpenAI wire format (:mod:`openai_wire`). Every test runs sync and async."""

from __future__ import annotations

import asyncio
import base64
import io
import subprocess
import sys
from typing import Any

import httpx
import pytest
from openai_wire import PNG_B64, ChatReply, OpenAIWire, ToolCallSpec, form_fields, openai_wire

from cencori_core import (
    InvalidRequestError,
    ProviderNotConfiguredError,
    RetryPolicy,
    Router,
)

__all__ = ["openai_wire"]  # the fixture, imported for pytest

KEY = "sk-test-e2e-0123456789abcdef"


@pytest.fixture(params=["sync", "async"])
def mode(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
async def make(openai_wire: OpenAIWire):
    """Build routers pointed at the wire; closed (async and sync clients) after the test."""
    routers: list[Router] = []

    def build(provider: str = "openai", *, wire: OpenAIWire | None = None,
              **cfg: Any) -> Router:
        w = wire or openai_wire
        conf = {"api_key": KEY, "base_url": w.base_url, **cfg}
        conf = {k: v for k, v in conf.items() if v is not None}
        r = Router(providers={provider: conf}, plugins=["openai"],
                   retry=RetryPolicy(max_attempts=1))
        routers.append(r)
        return r

    yield build
    for r in routers:
        await r.aclose()


async def call(router: Router, mode: str, op: str, *args: Any, **kw: Any) -> Any:
    if mode == "sync":
        return getattr(router, op)(*args, **kw)
    return await getattr(router, "a" + op)(*args, **kw)


async def stream_all(router: Router, mode: str, **kw: Any) -> tuple[list[Any], Any]:
    chunks = []
    if mode == "sync":
        with router.chat_stream(**kw) as s:
            chunks = list(s)
    else:
        async with router.achat_stream(**kw) as s:
            chunks = [c async for c in s]
    return chunks, s.response


USER = [{"role": "user", "content": "Hello there"}]
TOOLS = [{"type": "function", "function": {
    "name": "get_weather", "description": "weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                   "required": ["city"]}}}]


# ---------------------------------------------------------------------------- chat


async def test_chat_sends_every_option_and_normalizes_the_answer(make, openai_wire, mode):
    router = make()
    openai_wire.chat_reply("Sunny.", usage={"prompt_tokens": 20, "completion_tokens": 5})
    schema = {"type": "json_schema", "json_schema": {
        "name": "w", "schema": {"type": "object", "properties": {}}}}
    r = await call(router, mode, "chat", model="gpt-4o", messages=USER, temperature=0.3,
                   max_tokens=64, tools=TOOLS, tool_choice="auto", response_format=schema,
                   stop=["END"], seed=42, top_p=0.5, user="user-7",
                   metadata={"trace": "t1"},
                   provider_options={"reasoning_effort": "low", "service_tier": "default",
                                     "my_vendor_flag": True})
    body = openai_wire.last("/chat/completions").json
    assert body["model"] == "gpt-4o" and body["messages"] == USER
    assert (body["temperature"], body["max_completion_tokens"], body["stop"], body["seed"],
            body["top_p"], body["user"]) == (0.3, 64, ["END"], 42, 0.5, "user-7")
    assert body["tools"] == TOOLS and body["tool_choice"] == "auto"
    assert body["response_format"] == schema
    assert body["reasoning_effort"] == "low" and body["my_vendor_flag"] is True
    assert "metadata" not in body and "max_tokens" not in body and "stream" not in body
    headers = openai_wire.last().headers
    assert headers["authorization"] == f"Bearer {KEY}"
    assert (r.content, r.finish_reason, r.provider, r.model) == ("Sunny.", "stop", "openai",
                                                                 "gpt-4o")
    assert r.id.startswith("chatcmpl-")
    assert (r.usage.prompt_tokens, r.usage.completion_tokens, r.usage.total_tokens) == (20, 5, 25)
    assert r.usage.source == "provider" and r.cost is not None and r.cost.total > 0
    assert r.to_openai()["choices"][0]["message"]["content"] == "Sunny."


async def test_json_object_images_and_tool_results_reach_the_api(make, openai_wire, mode):
    router = make()
    data_url = f"data:image/png;base64,{PNG_B64}"
    messages = [
        {"role": "system", "content": "Answer in JSON."},
        {"role": "user", "content": [
            {"type": "text", "text": "Compare"},
            {"type": "image_url", "image_url": {"url": "https://img.example/a.png",
                                                "detail": "low"}},
            {"type": "image_url", "image_url": {"url": data_url}}]},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function",
             "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
    ]
    await call(router, mode, "chat", model="gpt-4o", messages=messages, tools=TOOLS,
               response_format={"type": "json_object"})
    sent = openai_wire.last("/chat/completions").json
    assert sent["response_format"] == {"type": "json_object"}
    parts = sent["messages"][1]["content"]
    assert parts[1] == {"type": "image_url", "image_url": {"url": "https://img.example/a.png",
                                                           "detail": "low"}}
    assert parts[2]["image_url"]["url"] == data_url
    assert sent["messages"][2]["tool_calls"][0]["function"] == {
        "name": "get_weather", "arguments": '{"city": "Paris"}'}
    assert sent["messages"][3] == {"role": "tool", "tool_call_id": "call_1", "content": "18C"}


async def test_tool_calls_parsed_and_malformed_arguments_kept(make, openai_wire, mode):
    router = make()
    openai_wire.chat_reply(None, tool_calls=[
        ToolCallSpec("get_weather", '{"city": "Oslo"}', id="call_a"),
        ToolCallSpec("get_weather", '{"city": "Lim', id="call_b")])
    r = await call(router, mode, "chat", model="gpt-4o-mini", messages=USER, tools=TOOLS)
    assert r.finish_reason == "tool_calls" and r.content is None
    good, bad = r.tool_calls
    assert (good.id, good.name, good.arguments) == ("call_a", "get_weather", {"city": "Oslo"})
    assert bad.arguments is None and bad.arguments_raw == '{"city": "Lim'
    assert "not valid JSON" in bad.parse_error
    assert r.message.tool_calls == r.tool_calls  # ready to append to the conversation


async def test_cached_and_reasoning_token_usage(make, openai_wire, mode):
    router = make()
    openai_wire.chat_reply("ok", usage={
        "prompt_tokens": 1200, "completion_tokens": 300, "total_tokens": 1500,
        "prompt_tokens_details": {"cached_tokens": 1024},
        "completion_tokens_details": {"reasoning_tokens": 256}})
    r = await call(router, mode, "chat", model="o4-mini", messages=USER)
    u = r.usage
    assert (u.prompt_tokens, u.completion_tokens, u.total_tokens, u.cached_tokens,
            u.reasoning_tokens) == (1200, 300, 1500, 1024, 256)
    assert r.cost.cached_input > 0 and r.cost.input > r.cost.cached_input


# ---------------------------------------------------------------------------- streaming


async def test_stream_deltas_and_final_usage(make, openai_wire, mode):
    router = make()
    openai_wire.chat_reply("The quick brown fox jumps.", chunk_size=5, usage={
        "prompt_tokens": 9, "completion_tokens": 6, "total_tokens": 15,
        "prompt_tokens_details": {"cached_tokens": 4}})
    chunks, resp = await stream_all(router, mode, model="gpt-4o", messages=USER)
    body = openai_wire.last("/chat/completions").json
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    text = [c.delta for c in chunks if c.delta]
    assert text == ["The q", "uick ", "brown", " fox ", "jumps", "."]
    # the usage chunk is folded into the response, never handed out as an empty delta
    assert all(not c.is_empty for c in chunks if not c.final)
    assert resp.content == "The quick brown fox jumps." and resp.finish_reason == "stop"
    assert (resp.usage.prompt_tokens, resp.usage.completion_tokens, resp.usage.cached_tokens,
            resp.usage.source) == (9, 6, 4, "provider")
    assert resp.cost is not None and resp.id.startswith("chatcmpl-")


async def test_stream_several_tool_calls_assembled_by_index(make, openai_wire, mode):
    router = make()
    openai_wire.chat_reply("Checking.", tool_calls=[
        ToolCallSpec("get_weather", '{"city": "Rome", "unit": "C"}', fragments=4),
        ToolCallSpec("get_weather", '{"city": "Lima"}', fragments=3),
        ToolCallSpec("get_time", "{}", fragments=1)])
    chunks, resp = await stream_all(router, mode, model="gpt-4o", messages=USER, tools=TOOLS)
    fragments = [d for c in chunks for d in c.tool_calls]
    assert {d.index for d in fragments} == {0, 1, 2} and len(fragments) > 3
    assert [(t.name, t.arguments) for t in resp.tool_calls] == [
        ("get_weather", {"city": "Rome", "unit": "C"}), ("get_weather", {"city": "Lima"}),
        ("get_time", {})]
    assert [t.id for t in resp.tool_calls] == ["call_0_get_weather", "call_1_get_weather",
                                               "call_2_get_time"]
    assert resp.finish_reason == "tool_calls" and resp.content == "Checking."


async def test_closing_a_stream_early_closes_the_http_response(make, openai_wire, mode):
    seen: list[Any] = []
    openai_wire.chat_reply("x" * 400, chunk_size=4)
    if mode == "sync":
        client = httpx.Client(event_hooks={"response": [seen.append]})
        router = make(http_client=client)
        with router.chat_stream(model="gpt-4o", messages=USER) as s:
            first = next(iter(s))
            assert not seen[0].is_closed
        client.close()
    else:
        async def hook(response: httpx.Response) -> None:
            seen.append(response)

        client = httpx.AsyncClient(event_hooks={"response": [hook]})
        router = make(async_http_client=client)
        async with router.achat_stream(model="gpt-4o", messages=USER) as s:
            first = await s.__anext__()
            assert not seen[0].is_closed
        await client.aclose()
    assert first.delta == "xxxx"
    assert seen[0].is_closed  # leaving the block released the connection


# ---------------------------------------------------------------------------- other operations


async def test_embeddings_single_list_dimensions_and_base64(make, openai_wire, mode):
    router = make()
    one = await call(router, mode, "embed", "text-embedding-3-small", "hello world")
    assert len(one.vectors) == 1 and all(isinstance(x, float) for x in one.vectors[0])
    assert one.usage.prompt_tokens == 2 and one.cost is not None
    many = await call(router, mode, "embed", "text-embedding-3-large", ["a", "bb", "ccc"],
                      dimensions=4)
    sent = openai_wire.last("/embeddings").json
    assert sent["input"] == ["a", "bb", "ccc"] and sent["dimensions"] == 4
    assert [len(v) for v in many.vectors] == [4, 4, 4]
    assert many.vectors[2][0] == pytest.approx(0.5)  # len("ccc") + index 2, over 10
    floats = await call(router, mode, "embed", "text-embedding-3-small", ["ccc"],
                        provider_options={"encoding_format": "float"})
    b64 = await call(router, mode, "embed", "text-embedding-3-small", ["ccc"],
                     provider_options={"encoding_format": "base64"})
    assert openai_wire.last("/embeddings").json["encoding_format"] == "base64"
    assert b64.vectors[0] == pytest.approx(floats.vectors[0])


async def test_images_b64_and_url(make, openai_wire, mode):
    router = make()
    r = await call(router, mode, "generate_image", "gpt-image-1", "a red fox", size="1024x1024",
                   n=2, quality="high")
    sent = openai_wire.last("/images/generations").json
    assert (sent["prompt"], sent["size"], sent["n"], sent["quality"]) == (
        "a red fox", "1024x1024", 2, "high")
    assert len(r.images) == 2 and r.images[0].data.startswith(b"\x89PNG")
    assert r.images[0].mime_type == "image/png" and r.usage.images == 2
    assert r.usage.prompt_tokens == 10 and r.usage.completion_tokens == 544
    u = await call(router, mode, "generate_image", "dall-e-3", "a blue fox")
    assert u.images[0].url == "https://images.example/0.png"
    assert u.images[0].revised_prompt == "revised: a blue fox" and u.images[0].b64_json is None


async def test_transcription_from_path_bytes_and_file(make, openai_wire, mode, tmp_path):
    router = make()
    audio = b"RIFF\x00\x00\x00\x00WAVEfmt fake-audio"
    path = tmp_path / "meeting.wav"
    path.write_bytes(audio)
    r = await call(router, mode, "transcribe", "whisper-1", str(path), language="en",
                   prompt="Cencori, Router")
    fields = form_fields(openai_wire.last("/audio/transcriptions"))
    assert fields["file"] == ("meeting.wav", audio)
    assert (fields["model"], fields["language"], fields["prompt"],
            fields["response_format"]) == ("whisper-1", "en", "Cencori, Router",
                                           "verbose_json")
    assert (r.text, r.language, r.duration) == ("hello from the loopback", "english", 1.5)
    b = await call(router, mode, "transcribe", "gpt-4o-transcribe", audio)
    assert form_fields(openai_wire.last())["response_format"] == "json"
    assert b.text == "hello from the loopback" and b.usage.prompt_tokens == 14
    assert b.usage.completion_tokens == 5
    f = await call(router, mode, "transcribe", "whisper-1", io.BytesIO(audio))
    assert form_fields(openai_wire.last())["file"][1] == audio and f.text


async def test_speech_returns_audio_bytes(make, openai_wire, mode):
    router = make()
    s = await call(router, mode, "speech", "tts-1", "Hello world", voice="nova", format="wav",
                   speed=1.25)
    sent = openai_wire.last("/audio/speech").json
    assert sent == {"model": "tts-1", "input": "Hello world", "voice": "nova",
                    "response_format": "wav", "speed": 1.25}
    assert isinstance(s.audio, bytes) and s.audio.startswith(b"ID3")
    assert s.format == "wav" and s.usage.characters == 11


async def test_moderation_plain_dicts(make, openai_wire, mode):
    router = make()
    m = await call(router, mode, "moderate", "omni-moderation-latest",
                   ["I will attack you", "have a nice day"])
    assert openai_wire.last("/moderations").json["input"] == ["I will attack you",
                                                              "have a nice day"]
    assert m.flagged is True and [r.flagged for r in m.results] == [True, False]
    cats, scores = m.results[0].categories, m.results[0].scores
    assert type(cats) is dict and cats["violence"] is True and cats["self-harm/intent"] is False
    assert type(scores) is dict and scores["violence"] == pytest.approx(0.91)


async def test_capabilities_refused_before_any_request(make, openai_wire, mode):
    router = make()
    with pytest.raises(InvalidRequestError, match="does not support embeddings"):
        await call(router, mode, "embed", "gpt-4o", "x")
    with pytest.raises(InvalidRequestError, match="tools"):
        await call(router, mode, "chat", model="chatgpt-4o-latest", messages=USER, tools=TOOLS)
    assert openai_wire.hits == 0


# ---------------------------------------------------------------------------- compatible APIs


@pytest.mark.parametrize("provider,model", [("xai", "grok-3"), ("deepseek", "deepseek-chat"),
                                            ("meta", "Llama-3.3-70B-Instruct")])
async def test_compatible_providers_chat_stream_and_tools(make, openai_wire, mode, provider,
                                                          model):
    router = make(provider)
    assert router.resolve(model).provider == provider
    r = await call(router, mode, "chat", model=model, messages=USER, max_tokens=10)
    body = openai_wire.last("/chat/completions").json
    assert body["model"] == model and r.provider == provider and r.model == model
    assert r.content == "echo: Hello there"
    limit = "max_completion_tokens" if provider == "xai" else "max_tokens"
    assert body[limit] == 10
    openai_wire.chat_reply(None, tool_calls=[ToolCallSpec("get_weather", '{"city": "Quito"}')])
    chunks, resp = await stream_all(router, mode, model=model, messages=USER, tools=TOOLS)
    assert resp.tool_calls[0].arguments == {"city": "Quito"} and resp.provider == provider
    assert openai_wire.last().json["stream_options"] == {"include_usage": True}
    assert openai_wire.last().headers["authorization"] == f"Bearer {KEY}"


async def test_deepseek_reasoning_content_becomes_reasoning_and_is_not_sent_back(
        make, openai_wire, mode):
    router = make("deepseek")
    openai_wire.chat_reply("42", reasoning="6 times 7.", usage={
        "prompt_tokens": 10, "completion_tokens": 30, "total_tokens": 40,
        "prompt_cache_hit_tokens": 8, "prompt_cache_miss_tokens": 2,
        "completion_tokens_details": {"reasoning_tokens": 25}})
    r = await call(router, mode, "chat", model="deepseek-reasoner", messages=USER)
    assert (r.content, r.reasoning) == ("42", "6 times 7.")
    assert (r.usage.cached_tokens, r.usage.reasoning_tokens, r.usage.completion_tokens) == \
        (8, 25, 30)
    openai_wire.chat_reply("Sure.", reasoning="Think then answer, at length.", chunk_size=6)
    history = [*USER, r.message, {"role": "developer", "content": "be brief"},
               {"role": "user", "content": "and?"}]
    chunks, resp = await stream_all(router, mode, model="deepseek-reasoner", messages=history)
    sent = openai_wire.last("/chat/completions").json["messages"]
    assert sent[1] == {"role": "assistant", "content": "42"}  # no reasoning_content
    assert sent[2]["role"] == "system"  # DeepSeek knows no developer role
    assert "".join(c.reasoning for c in chunks) == "Think then answer, at length."
    assert resp.reasoning == "Think then answer, at length." and resp.content == "Sure."


async def test_xai_reasoning_tokens_count_as_completion(make, openai_wire, mode):
    router = make("xai")
    openai_wire.chat_reply("4", usage={
        "prompt_tokens": 12, "completion_tokens": 1, "total_tokens": 213,
        "prompt_tokens_details": {"text_tokens": 12, "cached_tokens": 2},
        "completion_tokens_details": {"reasoning_tokens": 200}})
    r = await call(router, mode, "chat", model="grok-4", messages=USER)
    u = r.usage
    assert (u.prompt_tokens, u.completion_tokens, u.total_tokens, u.reasoning_tokens,
            u.cached_tokens) == (12, 201, 213, 200, 2)
    assert r.cost is not None


async def test_meta_short_names_resolve_to_llama_api_ids(make, openai_wire, mode):
    router = make("meta")
    route = router.resolve("llama-4-maverick")
    assert (route.provider, route.model) == ("meta", "Llama-4-Maverick-17B-128E-Instruct-FP8")
    r = await call(router, mode, "chat", model="llama-4-scout", messages=USER)
    assert openai_wire.last().json["model"] == "Llama-4-Scout-17B-16E-Instruct-FP8"
    assert r.provider == "meta"


async def test_custom_compatible_endpoint(make, openai_wire, mode, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai-must-not-leak-0000")
    monkeypatch.setenv("OPENAI_ORG_ID", "org-must-not-leak")
    router = Router(providers={"local": {"type": "openai_compatible",
                                         "base_url": openai_wire.base_url,
                                         "models": ["qwen2.5-7b"]}},
                    plugins=["openai"], retry=RetryPolicy(max_attempts=1))
    try:
        r = await call(router, mode, "chat", model="local/qwen2.5-7b", messages=USER,
                       max_tokens=8)
        assert (r.provider, r.model, r.content) == ("local", "qwen2.5-7b", "echo: Hello there")
        rec = openai_wire.last()
        assert rec.json["model"] == "qwen2.5-7b" and rec.json["max_tokens"] == 8
        assert "sk-openai" not in rec.headers.get("authorization", "")
        assert "openai-organization" not in rec.headers
        openai_wire.chat_reply("Thinking done.", reasoning="hmm", reasoning_field="reasoning")
        _, resp = await stream_all(router, mode, model="local/qwen2.5-7b", messages=USER)
        assert resp.content == "Thinking done." and resp.reasoning == "hmm"
        openai_wire.chat_reply(None, tool_calls=[ToolCallSpec("get_weather", '{"city": "Pune"}')])
        t = await call(router, mode, "chat", model="local/qwen2.5-7b", messages=USER,
                       tools=TOOLS, tool_choice="required")
        assert t.tool_calls[0].arguments == {"city": "Pune"}
        assert openai_wire.last().json["tool_choice"] == "required"
        e = await call(router, mode, "embed", "local/nomic-embed-text", ["x"])
        assert len(e.vectors) == 1 and e.provider == "local"
    finally:
        await router.aclose()
    keyed = make("together", type="openai_compatible", api_key="tg-key-1234567890")
    await call(keyed, mode, "chat", model="together/meta-llama/Llama-3-8b", messages=USER)
    assert openai_wire.last().json["model"] == "meta-llama/Llama-3-8b"
    assert openai_wire.last().headers["authorization"] == "Bearer tg-key-1234567890"


# ---------------------------------------------------------------------------- configuration


def test_registration_prefixes_and_default_base_urls(monkeypatch):
    for var in ("OPENAI_BASE_URL", "XAI_BASE_URL", "DEEPSEEK_BASE_URL", "LLAMA_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    router = Router(plugins=["openai"], providers={
        name: {"api_key": "k-0123456789"} for name in ("openai", "xai", "deepseek", "meta")})
    expect = {"gpt-4.1-nano": "openai", "o1-pro": "openai", "o3-mini": "openai",
              "o4-mini": "openai", "chatgpt-4o-latest": "openai", "gpt-5": "openai",
              "text-embedding-3-small": "openai", "dall-e-2": "openai",
              "gpt-image-1": "openai", "whisper-1": "openai", "tts-1-hd": "openai",
              "omni-moderation-latest": "openai", "grok-3-mini": "xai",
              "grok-4-latest": "xai", "deepseek-reasoner": "deepseek",
              "llama-3.3-8b": "meta", "Llama-4-Scout-17B-16E-Instruct-FP8": "meta"}
    assert {name: router.resolve(name).provider for name in expect} == expect
    assert router.resolve("grok-4-latest").model == "grok-4"
    bases = {name: router.provider(name).config.base_url
             for name in ("xai", "deepseek", "meta")}
    assert bases == {"xai": "https://api.x.ai/v1", "deepseek": "https://api.deepseek.com",
                     "meta": "https://api.llama.com/compat/v1/"}
    router.close()


async def test_environment_keys_base_url_and_organization(openai_wire, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env-0123456789")
    monkeypatch.setenv("OPENAI_BASE_URL", openai_wire.base_url)
    monkeypatch.setenv("OPENAI_ORG_ID", "org-42")
    monkeypatch.setenv("XAI_API_KEY", "xai-env-0123456789")
    monkeypatch.setenv("XAI_BASE_URL", openai_wire.base_url)
    router = Router(plugins=["openai"])
    try:
        router.chat(model="gpt-4o", messages=USER)
        h = openai_wire.last().headers
        assert h["authorization"] == "Bearer sk-env-0123456789"
        assert h["openai-organization"] == "org-42"
        await router.achat(model="grok-3", messages=USER)
        h = openai_wire.last().headers
        assert h["authorization"] == "Bearer xai-env-0123456789"
        assert "openai-organization" not in h  # OpenAI's org id is not xAI's business
    finally:
        await router.aclose()


@pytest.mark.parametrize("provider,model,env", [
    ("openai", "gpt-4o", "OPENAI_API_KEY"), ("xai", "grok-3", "XAI_API_KEY"),
    ("deepseek", "deepseek-chat", "DEEPSEEK_API_KEY"), ("meta", "llama-4-scout",
                                                        "LLAMA_API_KEY")])
async def test_missing_key_names_the_variable_before_any_request(
        openai_wire, monkeypatch, mode, provider, model, env):
    monkeypatch.delenv(env, raising=False)
    router = Router(plugins=["openai"], providers={provider: {"base_url": openai_wire.base_url}})
    with pytest.raises(ProviderNotConfiguredError) as info:
        await call(router, mode, "chat", model=model, messages=USER)
    assert env in str(info.value) and "api_key" in str(info.value)
    assert openai_wire.hits == 0


async def test_clients_created_once_reused_and_closed(openai_wire, mode):
    router = Router(plugins=["openai"], providers={"openai": {
        "api_key": KEY, "base_url": openai_wire.base_url, "timeout": 12.5,
        "headers": {"X-Team": "core"}}})
    provider = router.provider("openai")
    for _ in range(3):
        await call(router, mode, "chat", model="gpt-4o", messages=USER)
    clients = provider.clients
    client = clients.sync_client() if mode == "sync" else clients.async_client()
    assert client is (clients.sync_client() if mode == "sync" else clients.async_client())
    assert client.max_retries == 0 and client.timeout == 12.5
    rec = openai_wire.last()
    assert rec.headers["x-stainless-read-timeout"] == "12.5"
    assert rec.headers["x-team"] == "core"
    if mode == "sync":
        router.close()
    else:
        await router.aclose()
    assert client.is_closed()


def test_async_calls_from_successive_event_loops(openai_wire):
    # Each asyncio.run() is a new loop; connections of the last one died with it.
    router = Router(plugins=["openai"], providers={"openai": {
        "api_key": KEY, "base_url": openai_wire.base_url}})

    async def ask(text: str) -> str:
        r = await router.achat(model="gpt-4o", messages=[{"role": "user", "content": text}])
        return r.content

    assert [asyncio.run(ask(f"run {i}")) for i in range(3)] == [
        "echo: run 0", "echo: run 1", "echo: run 2"]
    asyncio.run(router.aclose())


async def test_chat_only_providers_refuse_other_operations(make, openai_wire, mode):
    router = make("xai")
    with pytest.raises(InvalidRequestError, match="does not support embeddings"):
        await call(router, mode, "embed", "xai/grok-embed", "x")
    assert openai_wire.hits == 0


async def test_importing_the_plugin_and_building_a_router_import_no_sdk():
    code = ("import sys, cencori_openai; from cencori_core import Router; "
            "r = Router(plugins=['openai']); r.resolve('gpt-4o'); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('openai', 'httpx', 'httpx2')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"


def test_wire_reply_helpers_are_consistent():
    # the scripted reply renders the same content as JSON and as SSE
    from openai_wire import chat_completion_body, chat_sse_events

    reply = ChatReply(content="abc", reasoning="r", pieces=["a", "bc"])
    body = {"model": "m", "stream_options": {"include_usage": True}}
    assert chat_completion_body(reply, body)["choices"][0]["message"]["content"] == "abc"
    events = chat_sse_events(reply, body)
    assert [e["choices"][0]["delta"].get("content") for e in events[2:4]] == ["a", "bc"]
    assert events[-1]["choices"] == [] and events[-1]["usage"]["total_tokens"] > 0
    assert base64.b64decode(PNG_B64)[:4] == b"\x89PNG"


async def test_raw_parses_to_the_sdk_model_and_options_reach_streams(make, openai_wire, mode):
    # response.raw is the SDK's raw response; .parse() builds the SDK's ChatCompletion
    import openai.types.chat as oc

    router = make()
    openai_wire.chat_reply("Parsed later.", usage={"prompt_tokens": 3, "completion_tokens": 2,
                                                   "total_tokens": 5})
    r = await call(router, mode, "chat", model="gpt-4o", messages=USER,
                   provider_options={"logprobs": False})
    parsed = r.raw.parse()
    assert isinstance(parsed, oc.ChatCompletion)
    assert parsed.choices[0].message.content == r.content == "Parsed later."
    assert openai_wire.last("/chat/completions").json["logprobs"] is False
    # provider_options on a stream take the SDK's create path and are answered the same way
    openai_wire.chat_reply("Streamed with options.", chunk_size=6)
    chunks, resp = await stream_all(router, mode, model="gpt-4o", messages=USER,
                                    provider_options={"service_tier": "auto",
                                                      "x_custom": "y"})
    body = openai_wire.last("/chat/completions").json
    assert body["service_tier"] == "auto" and body["x_custom"] == "y" and body["stream"] is True
    assert "".join(c.delta for c in chunks) == resp.content == "Streamed with options."
    assert resp.usage.source == "provider"

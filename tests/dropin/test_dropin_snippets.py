"""Existing OpenAI-SDK code runs unchanged but for the client line, for every provider, sync and
async, streaming included: typical snippets, written exactly as for OpenAI, run through the
drop-in against each provider's wire server (the real provider SDK underneath)."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest
from dropin_backends import PROVIDERS, Backend, backend

WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "The weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                   "required": ["city"]}}}
# JSON output with a schema: every provider serves it (Anthropic has no schema-less JSON mode,
# and the drop-in answers its refusal as a 400 like any other)
CITY = {"type": "json_schema", "json_schema": {"name": "city", "schema": {
    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}


@pytest.fixture(params=sorted(PROVIDERS))
def b(request: pytest.FixtureRequest) -> Any:
    with backend(request.param) as be:
        yield be


# ---------------------------------------------------------------------------- sync snippets


def plain_chat(client: openai.OpenAI, b: Backend) -> None:
    b.text("Paris is the capital.")
    resp = client.chat.completions.create(
        model=b.model, messages=[{"role": "user", "content": "Capital of France?"}])
    assert isinstance(resp, openai.types.chat.ChatCompletion)
    assert resp.choices[0].message.content == "Paris is the capital."
    assert resp.choices[0].finish_reason == "stop"
    assert resp.usage is not None and resp.usage.total_tokens > 0


def system_and_user(client: openai.OpenAI, b: Backend) -> None:
    b.text("Bonjour")
    resp = client.chat.completions.create(
        model=b.model, max_tokens=50,
        messages=[{"role": "system", "content": "Answer in French."},
                  {"role": "user", "content": "Hello"}])
    assert resp.choices[0].message.role == "assistant"
    assert resp.choices[0].message.content == "Bonjour"


def tools_round_trip(client: openai.OpenAI, b: Backend) -> None:
    b.tool_call("get_weather", {"city": "Paris"})
    b.text("It is 22 degrees in Paris.")
    messages: list[Any] = [{"role": "user", "content": "Weather in Paris?"}]
    resp = client.chat.completions.create(model=b.model, messages=messages, tools=[WEATHER])
    msg = resp.choices[0].message
    assert resp.choices[0].finish_reason == "tool_calls"
    call = msg.tool_calls[0]
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris"}
    messages.append(msg)
    messages.append({"role": "tool", "tool_call_id": call.id, "content": "22C"})
    resp = client.chat.completions.create(model=b.model, messages=messages, tools=[WEATHER])
    assert resp.choices[0].message.content == "It is 22 degrees in Paris."


def stream_with_usage(client: openai.OpenAI, b: Backend) -> None:
    b.text("one two three four five")
    stream = client.chat.completions.create(
        model=b.model, messages=[{"role": "user", "content": "Count"}], stream=True,
        stream_options={"include_usage": True})
    text, usage, finish = "", None, None
    for chunk in stream:
        assert isinstance(chunk, openai.types.chat.ChatCompletionChunk)
        if chunk.usage:
            usage = chunk.usage
        if chunk.choices:
            text += chunk.choices[0].delta.content or ""
            finish = chunk.choices[0].finish_reason or finish
    assert text == "one two three four five"
    assert finish == "stop"
    assert usage is not None and usage.total_tokens > 0


def stream_tool_call(client: openai.OpenAI, b: Backend) -> None:
    b.tool_call("get_weather", {"city": "Oslo"})
    calls: dict[int, dict[str, str]] = {}
    with client.chat.completions.create(model=b.model, tools=[WEATHER], stream=True,
                                        messages=[{"role": "user", "content": "Oslo?"}]) as s:
        for chunk in s:
            for tc in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
                c = calls.setdefault(tc.index, {"name": "", "arguments": ""})
                c["name"] += tc.function.name or ""
                c["arguments"] += tc.function.arguments or ""
    assert calls[0]["name"] == "get_weather"
    assert json.loads(calls[0]["arguments"]) == {"city": "Oslo"}


def json_mode(client: openai.OpenAI, b: Backend) -> None:
    b.text('{"city": "Paris", "country": "France"}')
    resp = client.chat.completions.create(
        model=b.model, response_format=CITY,
        messages=[{"role": "user", "content": "Give me a city as JSON"}])
    assert json.loads(resp.choices[0].message.content or "")["city"] == "Paris"


def embeddings(client: openai.OpenAI, b: Backend) -> None:
    if b.embed_model is None:
        return
    resp = client.embeddings.create(model=b.embed_model, input=["first text", "second"])
    assert isinstance(resp, openai.types.CreateEmbeddingResponse)
    assert [d.index for d in resp.data] == [0, 1]
    assert all(isinstance(x, float) for x in resp.data[0].embedding)


SYNC = [plain_chat, system_and_user, tools_round_trip, stream_with_usage, stream_tool_call,
        json_mode, embeddings]


@pytest.mark.parametrize("snippet", SYNC, ids=lambda f: f.__name__)
def test_sync_snippet(b: Backend, snippet: Any) -> None:
    client = b.router.openai_client()
    snippet(client, b)


# ---------------------------------------------------------------------------- async snippets


async def aplain_chat(client: openai.AsyncOpenAI, b: Backend) -> None:
    b.text("Paris is the capital.")
    resp = await client.chat.completions.create(
        model=b.model, messages=[{"role": "user", "content": "Capital of France?"}])
    assert resp.choices[0].message.content == "Paris is the capital."
    assert resp.usage is not None and resp.usage.total_tokens > 0


async def atools_round_trip(client: openai.AsyncOpenAI, b: Backend) -> None:
    b.tool_call("get_weather", {"city": "Paris"})
    b.text("Sunny.")
    messages: list[Any] = [{"role": "user", "content": "Weather in Paris?"}]
    resp = await client.chat.completions.create(model=b.model, messages=messages,
                                                tools=[WEATHER], tool_choice="auto")
    call = resp.choices[0].message.tool_calls[0]
    assert json.loads(call.function.arguments) == {"city": "Paris"}
    messages += [resp.choices[0].message,
                 {"role": "tool", "tool_call_id": call.id, "content": "sunny"}]
    resp = await client.chat.completions.create(model=b.model, messages=messages,
                                                tools=[WEATHER])
    assert resp.choices[0].message.content == "Sunny."


async def astream_with_usage(client: openai.AsyncOpenAI, b: Backend) -> None:
    b.text("one two three four five")
    stream = await client.chat.completions.create(
        model=b.model, messages=[{"role": "user", "content": "Count"}], stream=True,
        stream_options={"include_usage": True})
    text, usage = "", None
    async for chunk in stream:
        if chunk.usage:
            usage = chunk.usage
        if chunk.choices:
            text += chunk.choices[0].delta.content or ""
    assert text == "one two three four five"
    assert usage is not None and usage.completion_tokens > 0


async def ajson_mode(client: openai.AsyncOpenAI, b: Backend) -> None:
    b.text('{"city": "Paris"}')
    resp = await client.chat.completions.create(
        model=b.model, response_format=CITY,
        messages=[{"role": "user", "content": "JSON please"}])
    assert json.loads(resp.choices[0].message.content or "") == {"city": "Paris"}


async def aembeddings(client: openai.AsyncOpenAI, b: Backend) -> None:
    if b.embed_model is None:
        return
    resp = await client.embeddings.create(model=b.embed_model, input="one text")
    assert len(resp.data) == 1 and len(resp.data[0].embedding) > 0


ASYNC = [aplain_chat, atools_round_trip, astream_with_usage, ajson_mode, aembeddings]


@pytest.mark.parametrize("snippet", ASYNC, ids=lambda f: f.__name__)
async def test_async_snippet(b: Backend, snippet: Any) -> None:
    client = b.router.async_openai_client()
    await snippet(client, b)
    await client.close()

"""Cohere chat end to end: the router drives the real cohere SDK (ClientV2 / AsyncClientV2)
against a loopback server speaking Cohere's v2 wire format, sync and async. Each test checks
what the server received and what the router returned."""

from __future__ import annotations

import json

import httpx
import pytest
from cohere_wire import KEY, ChatScript, CohereServer, router_for
from genai_prices import Usage as GUsage
from genai_prices import calc_price

from cencori_core import InvalidRequestError, Usage, hookimpl

HI = [{"role": "user", "content": "Hi"}]
WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Current weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                   "required": ["city"]}}}
TOOL_TURN = ChatScript(text=None, tool_plan="I will check the weather in Paris.",
                       tool_calls=[("get_weather_k2x9", "get_weather", '{"city": "Paris"}')],
                       billed=(40, 12), tokens=(600, 12))
ANSWER = ChatScript(text="It is 21°C in Paris.", billed=(60, 9), tokens=(650, 9))


@pytest.fixture(scope="module")
def shared_server():
    with CohereServer() as s:
        yield s


@pytest.fixture
def server(shared_server):
    shared_server.reset()
    return shared_server


def cost_of(model: str, billed: tuple[int, int]):
    return calc_price(GUsage(input_tokens=billed[0], output_tokens=billed[1]), model,
                      provider_id="cohere").total_price


# ---------------------------------------------------------------------------- plain chat


def _check_plain(resp, server):
    (rec,) = server.requests
    assert rec.path == "/v2/chat"
    assert rec.headers["authorization"] == f"Bearer {KEY}"
    assert rec.json == {"model": "command-a-03-2025", "stream": False,
                        "messages": [{"role": "system", "content": "Be brief."},
                                     {"role": "user", "content": "Hi"}],
                        "temperature": 0.3, "max_tokens": 100, "stop_sequences": ["\n\n"]}
    assert resp.content == "Hello from Cohere!"
    assert resp.finish_reason == "stop"
    assert resp.provider == "cohere" and resp.model == "command-a-03-2025"
    # billed units, not the template-inflated token counts, are what is charged
    assert resp.usage == Usage.of(11, 7)
    assert resp.cost.total == cost_of("command-a-03-2025", (11, 7))


CALL = {"model": "command-a", "temperature": 0.3, "max_tokens": 100, "stop": "\n\n",
        "messages": [{"role": "system", "content": "Be brief."}, *HI]}


def test_chat_sync(server):
    with router_for(server) as router:
        resp = router.chat(**CALL)
    _check_plain(resp, server)


async def test_chat_async(server):
    async with router_for(server) as router:
        resp = await router.achat(**CALL)
    _check_plain(resp, server)


def test_chat_id_is_cohere_s(server):
    server.script(ChatScript(id="resp-123"))
    with router_for(server) as router:
        assert router.chat(model="command-a", messages=HI).id == "resp-123"


def test_max_tokens_finish_is_length(server):
    server.script(ChatScript(text="Once upon", finish_reason="MAX_TOKENS"))
    with router_for(server) as router:
        assert router.chat(model="command-r7b-12-2024", messages=HI,
                           max_tokens=2).finish_reason == "length"


# ---------------------------------------------------------------------------- tools


def _second_turn_messages(first, server):
    bodies = server.bodies("/v2/chat")
    assert bodies[0]["tools"] == [{"type": "function", "function": {
        "name": "get_weather", "description": "Current weather for a city",
        "parameters": WEATHER["function"]["parameters"]}}]
    assert bodies[0]["tool_choice"] == "REQUIRED"
    (call,) = first.tool_calls
    assert (call.id, call.name, call.arguments) == ("get_weather_k2x9", "get_weather",
                                                    {"city": "Paris"})
    assert first.finish_reason == "tool_calls" and first.content is None
    assert first.reasoning == "I will check the weather in Paris."
    return bodies[1]["messages"]


EXPECTED_TURN = [
    {"role": "user", "content": "Weather in Paris?"},
    {"role": "assistant", "tool_plan": "I will check the weather in Paris.",
     "tool_calls": [{"id": "get_weather_k2x9", "type": "function",
                     "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]},
    {"role": "tool", "tool_call_id": "get_weather_k2x9", "content": '{"temp_c": 21}'},
]


def test_tool_call_round_trip_sync(server):
    server.script(TOOL_TURN, ANSWER)
    msgs = [{"role": "user", "content": "Weather in Paris?"}]
    with router_for(server) as router:
        first = router.chat(model="command-a", messages=msgs, tools=[WEATHER],
                            tool_choice="required")
        msgs += [first.message, {"role": "tool", "tool_call_id": first.tool_calls[0].id,
                                 "content": json.dumps({"temp_c": 21})}]
        second = router.chat(model="command-a", messages=msgs, tools=[WEATHER])
    assert _second_turn_messages(first, server) == EXPECTED_TURN
    assert second.content == "It is 21°C in Paris."
    assert first.usage == Usage.of(40, 12) and second.usage == Usage.of(60, 9)


async def test_tool_call_round_trip_async(server):
    server.script(TOOL_TURN, ANSWER)
    msgs = [{"role": "user", "content": "Weather in Paris?"}]
    async with router_for(server) as router:
        first = await router.achat(model="command-a", messages=msgs, tools=[WEATHER],
                                   tool_choice="required")
        msgs += [first.message, {"role": "tool", "tool_call_id": first.tool_calls[0].id,
                                 "content": json.dumps({"temp_c": 21})}]
        second = await router.achat(model="command-a", messages=msgs, tools=[WEATHER])
    assert _second_turn_messages(first, server) == EXPECTED_TURN
    assert second.content == "It is 21°C in Paris."


def test_openai_style_history_with_reasoning_becomes_a_tool_plan(server):
    msgs = [{"role": "user", "content": "Weather?"},
            {"role": "assistant", "reasoning_content": "Look it up.",
             "tool_calls": [{"id": "c1", "type": "function",
                             "function": {"name": "get_weather", "arguments": {"city": "Oslo"}}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "cold"}]
    with router_for(server) as router:
        router.chat(model="command-a", messages=msgs, tools=[WEATHER])
    (body,) = server.bodies("/v2/chat")
    assert body["messages"][1] == {
        "role": "assistant", "tool_plan": "Look it up.",
        "tool_calls": [{"id": "c1", "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'}}]}


# ---------------------------------------------------------------------------- streaming


def test_stream_sync(server):
    with router_for(server) as router:
        with router.chat_stream(model="command-a", messages=HI) as stream:
            deltas = [c.delta for c in stream if c.delta]
        resp = stream.response
    assert deltas == ["Hello", " from", " Cohere!"]
    (body,) = server.bodies("/v2/chat")
    assert body["stream"] is True and body["model"] == "command-a-03-2025"
    assert resp.content == "Hello from Cohere!" and resp.finish_reason == "stop"
    assert resp.usage == Usage.of(11, 7)
    assert resp.cost.total == cost_of("command-a-03-2025", (11, 7))


async def test_stream_async(server):
    async with router_for(server) as router:
        async with router.achat_stream(model="command-a", messages=HI) as stream:
            deltas = [c.delta async for c in stream if c.delta]
        resp = stream.response
    assert deltas == ["Hello", " from", " Cohere!"]
    assert resp.content == "Hello from Cohere!" and resp.usage == Usage.of(11, 7)
    assert server.bodies("/v2/chat")[0]["stream"] is True


def _check_stream_tools(resp, reasoning_deltas):
    assert "".join(reasoning_deltas) == "I will check the weather in Paris."
    assert len(reasoning_deltas) > 1  # the plan streams as it is written
    (call,) = resp.tool_calls
    assert (call.id, call.name, call.arguments) == ("get_weather_k2x9", "get_weather",
                                                    {"city": "Paris"})
    assert resp.finish_reason == "tool_calls"
    assert resp.reasoning == "I will check the weather in Paris."
    assert resp.usage == Usage.of(40, 12)
    assert resp.provider_data == {"cohere": {"tool_plan": "I will check the weather in Paris."}}


def test_stream_tool_calls_sync(server):
    server.script(TOOL_TURN, ANSWER)
    msgs = [{"role": "user", "content": "Weather in Paris?"}]
    with router_for(server) as router:
        stream = router.chat_stream(model="command-a", messages=msgs, tools=[WEATHER],
                                    tool_choice="required")
        chunks = list(stream)
        resp = stream.response
        msgs += [resp.message, {"role": "tool", "tool_call_id": "get_weather_k2x9",
                                "content": json.dumps({"temp_c": 21})}]
        assert router.chat_stream(model="command-a", messages=msgs,
                                  tools=[WEATHER]).text() == "It is 21°C in Paris."
    _check_stream_tools(resp, [c.reasoning for c in chunks if c.reasoning])
    assert sum(len(c.tool_calls) for c in chunks) > 2  # arguments arrive in fragments
    assert server.bodies("/v2/chat")[1]["messages"] == EXPECTED_TURN


async def test_stream_tool_calls_async(server):
    server.script(TOOL_TURN)
    async with router_for(server) as router:
        stream = router.achat_stream(model="command-a",
                                     messages=[{"role": "user", "content": "Weather in Paris?"}],
                                     tools=[WEATHER])
        chunks = [c async for c in stream]
    _check_stream_tools(stream.response, [c.reasoning for c in chunks if c.reasoning])


def test_parallel_tool_calls_stream(server):
    server.script(ChatScript(text=None, tool_calls=[("a", "get_weather", '{"city": "Rome"}'),
                                                    ("b", "get_weather", '{"city": "Oslo"}')]))
    with router_for(server) as router:
        stream = router.chat_stream(model="command-a", messages=HI, tools=[WEATHER])
        stream.text()
    assert [(c.id, c.arguments) for c in stream.response.tool_calls] == [
        ("a", {"city": "Rome"}), ("b", {"city": "Oslo"})]


REASONING = ChatScript(text="Two sisters... so 3.", thinking="Alice is a sister too.",
                       billed=(30, 50), tokens=(90, 50))


def test_reasoning_model_thinking_sync(server):
    server.script(REASONING, REASONING)
    with router_for(server) as router:
        resp = router.chat(model="command-a-reasoning", messages=HI,
                           provider_options={"thinking": {"type": "enabled",
                                                          "token_budget": 2000}})
        stream = router.chat_stream(model="command-a-reasoning", messages=HI)
        thoughts = [c.reasoning for c in stream if c.reasoning]
    for r in (resp, stream.response):
        assert r.content == "Two sisters... so 3."
        assert r.reasoning == "Alice is a sister too."
        assert r.usage == Usage.of(30, 50)
        assert r.cost is None  # command-a-reasoning is not in the price data: never a guess
    assert "".join(thoughts) == "Alice is a sister too."
    first, second = server.bodies("/v2/chat")
    assert first["model"] == second["model"] == "command-a-reasoning-08-2025"
    assert first["thinking"] == {"type": "enabled", "token_budget": 2000}


async def test_reasoning_model_thinking_async(server):
    server.script(REASONING)
    async with router_for(server) as router:
        resp = await router.achat(model="command-a-reasoning", messages=HI)
    assert resp.reasoning == "Alice is a sister too." and resp.content == "Two sisters... so 3."


def test_stream_closed_early_closes_the_http_response(server):
    class UsageRecorder:
        def __init__(self) -> None:
            self.statuses: list[str] = []

        @hookimpl
        def cencori_record_usage(self, context, record):
            self.statuses.append(record.status)

    rec = UsageRecorder()
    responses: list[httpx.Response] = []
    client = httpx.Client(event_hooks={"response": [responses.append]})
    server.script(ChatScript(text="one two three four five six"))
    with router_for(server, plugins=[rec], provider={"http_client": client}) as router:
        with router.chat_stream(model="command-a", messages=HI) as stream:
            first = next(iter(stream))
            assert not responses[0].is_closed
        assert responses[0].is_closed
    client.close()
    assert first.delta == "one"
    assert rec.statuses == ["cancelled"]


async def test_async_stream_closed_early_closes_the_http_response(server):
    responses: list[httpx.Response] = []

    async def hook(response: httpx.Response) -> None:
        responses.append(response)

    client = httpx.AsyncClient(event_hooks={"response": [hook]})
    server.script(ChatScript(text="one two three four five six"))
    async with router_for(server, provider={"async_http_client": client}) as router:
        async with router.achat_stream(model="command-a", messages=HI) as stream:
            async for _ in stream:
                break
        assert responses[0].is_closed
    await client.aclose()


# ---------------------------------------------------------------------------- options


def test_provider_options_and_headers_reach_the_wire(server):
    with router_for(server, provider={"headers": {"X-Team": "search"}}) as router:
        router.chat(model="command-a", messages=HI, user="u-1",
                    provider_options={"safety_mode": "STRICT", "k": 5,
                                      "documents": [{"data": {"text": "doc"}}]})
    (rec,) = server.requests
    assert rec.headers["x-team"] == "search"
    assert rec.json["safety_mode"] == "STRICT" and rec.json["k"] == 5
    assert rec.json["documents"] == [{"data": {"text": "doc"}}]
    assert "user" not in rec.json  # Cohere has no end-user field


def test_response_format_json_schema(server):
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}}
    with router_for(server) as router:
        router.chat(model="command-a", messages=HI,
                    response_format={"type": "json_schema",
                                     "json_schema": {"name": "num", "schema": schema}})
    assert server.bodies("/v2/chat")[0]["response_format"] == {"type": "json_object",
                                                               "json_schema": schema}


def test_images_for_the_vision_model_and_refused_elsewhere(server):
    msgs = [{"role": "user", "content": [
        {"type": "text", "text": "Describe."},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}]}]
    with router_for(server) as router:
        router.chat(model="command-a-vision", messages=msgs)
        with pytest.raises(InvalidRequestError, match="vision"):
            router.chat(model="command-r-08-2024", messages=msgs)
    (body,) = server.bodies("/v2/chat")
    assert body["model"] == "command-a-vision-07-2025"
    assert body["messages"][0]["content"][1] == {
        "type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}


def test_custom_http_clients_are_used_and_left_open(server):
    import asyncio

    seen: list[str] = []
    sync_client = httpx.Client(event_hooks={"request": [lambda r: seen.append("sync")]})

    async def hook(request: httpx.Request) -> None:
        seen.append("async")

    async def run() -> None:
        async_client = httpx.AsyncClient(event_hooks={"request": [hook]})
        router = router_for(server, provider={"http_client": sync_client,
                                              "async_http_client": async_client})
        async with router:
            router.chat(model="command-a", messages=HI)
            await router.achat(model="command-a", messages=HI)
            await router.achat_stream(model="command-a", messages=HI).text()
        assert not async_client.is_closed  # the caller's client: the caller closes it
        await async_client.aclose()

    asyncio.run(run())
    assert seen == ["sync", "async", "async"]
    assert not sync_client.is_closed
    sync_client.close()

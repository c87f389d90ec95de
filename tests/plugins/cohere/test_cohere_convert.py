"""Pure translation tests of the cohere plugin: requests to Cohere v2 shapes, SDK objects (parsed
by the SDK itself from wire JSON) to our types. No network."""

from __future__ import annotations

import json

import pytest
from cencori_cohere import _convert as convert
from cohere import EmbedByTypeResponse
from cohere.core.unchecked_base_model import construct_type
from cohere.v2.types import V2ChatResponse
from cohere_wire import ChatScript, chat_events, chat_json, embed_json

from cencori_core import (
    ChatRequest,
    EmbeddingRequest,
    InvalidRequestError,
    Message,
    ProviderResponseError,
    ProviderServerError,
    ToolCall,
    Usage,
)

WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                   "required": ["city"]}}}
TIME = {"type": "function", "function": {"name": "get_time"}}


def req(*messages: Message, **kw: object) -> ChatRequest:
    return ChatRequest(model="command-a-03-2025",
                       messages=list(messages) or [Message(role="user", content="Hi")], **kw)


def parsed_chat(script: ChatScript) -> object:
    return construct_type(type_=V2ChatResponse, object_=chat_json(script))


def parsed_events(script: ChatScript) -> list[str]:
    """The stream's SSE data, as the provider hands it to the stream state."""
    return [json.dumps(data) for _, data in chat_events(script)]


# ---------------------------------------------------------------------------- requests


def test_messages_map_roles_and_content_parts():
    out = convert.messages([
        Message(role="system", content="Be brief."),
        Message(role="developer", content=[{"type": "text", "text": "Use metric units."}]),
        Message(role="user", content=[
            {"type": "text", "text": "What is this?"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA",
                                                "detail": "low"}}]),
        Message(role="assistant", content="A cat."),
    ])
    assert out == [
        {"role": "system", "content": "Be brief."},
        {"role": "system", "content": "Use metric units."},
        {"role": "user", "content": [
            {"type": "text", "text": "What is this?"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA",
                                                "detail": "low"}}]},
        {"role": "assistant", "content": "A cat."},
    ]


def test_assistant_tool_calls_send_reasoning_as_tool_plan_and_tool_results():
    call = ToolCall.from_raw(id="get_weather_1", name="get_weather",
                             arguments_raw='{"city": "Paris"}')
    out = convert.messages([
        Message(role="assistant", tool_calls=[call], reasoning="I will look up the weather."),
        Message(role="tool", tool_call_id="get_weather_1", content='{"temp_c": 21}'),
        Message(role="tool", tool_call_id="get_weather_1",
                content=[{"type": "text", "text": "sunny"}]),
    ])
    assert out == [
        {"role": "assistant", "tool_plan": "I will look up the weather.",
         "tool_calls": [{"id": "get_weather_1", "type": "function",
                         "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]},
        {"role": "tool", "tool_call_id": "get_weather_1", "content": '{"temp_c": 21}'},
        {"role": "tool", "tool_call_id": "get_weather_1",
         "content": [{"type": "text", "text": "sunny"}]},
    ]


def test_provider_data_round_trips_the_exact_plan_and_thinking():
    resp = convert.chat_response(parsed_chat(ChatScript(
        text=None, thinking="Think first.", tool_plan="Call the tool.",
        tool_calls=[("c1", "get_weather", '{"city":"Oslo"}')])), provider="cohere", model="m")
    assert resp.reasoning == "Think first.Call the tool."
    assert resp.provider_data == {"cohere": {"tool_plan": "Call the tool.",
                                             "thinking": "Think first."}}
    (back,) = convert.messages([resp.message])
    assert back == {
        "role": "assistant",
        "content": [{"type": "thinking", "thinking": "Think first."}],
        "tool_plan": "Call the tool.",
        "tool_calls": [{"id": "c1", "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city":"Oslo"}'}}],
    }


def test_thinking_only_answer_does_not_become_a_tool_plan():
    resp = convert.chat_response(parsed_chat(ChatScript(
        text=None, thinking="Hmm.", tool_calls=[("c1", "f", "{}")])), provider="cohere",
        model="m")
    (back,) = convert.messages([resp.message])
    assert "tool_plan" not in back


@pytest.mark.parametrize("part", [
    {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}},
    {"type": "file", "file": {"file_id": "f1"}},
])
def test_unsupported_user_parts_are_refused_before_the_network(part):
    with pytest.raises(InvalidRequestError, match="Cohere accepts text and image_url"):
        convert.messages([Message(role="user", content=[part])])


def test_tool_results_with_images_are_refused():
    with pytest.raises(InvalidRequestError, match="text parts only"):
        convert.messages([Message(role="tool", tool_call_id="c1", content=[
            {"type": "image_url", "image_url": {"url": "https://x/y.png"}}])])


def test_chat_request_parameters_tools_and_format():
    kw = convert.chat_request(req(
        temperature=0.2, max_tokens=300, stop=["END"], top_p=0.9, seed=7, user="u1",
        metadata={"k": "v"}, tools=[WEATHER, TIME], tool_choice="required",
        response_format={"type": "json_schema",
                         "json_schema": {"name": "x", "schema": {"type": "object"}}}))
    assert kw == {
        "model": "command-a-03-2025",
        "messages": [{"role": "user", "content": "Hi"}],
        "tools": [
            {"type": "function", "function": {
                "name": "get_weather", "description": "Weather for a city",
                "parameters": WEATHER["function"]["parameters"]}},
            {"type": "function", "function": {
                "name": "get_time", "parameters": {"type": "object", "properties": {}}}},
        ],
        "tool_choice": "REQUIRED",
        "response_format": {"type": "json_object", "json_schema": {"type": "object"}},
        "temperature": 0.2, "max_tokens": 300, "stop_sequences": ["END"], "p": 0.9, "seed": 7,
    }


def test_named_tool_choice_offers_only_that_tool_and_requires_it():
    kw = convert.chat_request(req(tools=[WEATHER, TIME],
                                 tool_choice={"type": "function",
                                              "function": {"name": "get_time"}}))
    assert [t["function"]["name"] for t in kw["tools"]] == ["get_time"]
    assert kw["tool_choice"] == "REQUIRED"
    with pytest.raises(InvalidRequestError, match="not in tools"):
        convert.chat_request(req(tools=[WEATHER],
                                tool_choice={"type": "function", "function": {"name": "nope"}}))


def test_tool_choice_auto_and_none_and_strict():
    assert "tool_choice" not in convert.chat_request(req(tools=[WEATHER], tool_choice="auto"))
    assert convert.chat_request(req(tools=[WEATHER], tool_choice="none"))["tool_choice"] == "NONE"
    # "none" without tools sends no tool fields at all
    assert "tool_choice" not in convert.chat_request(req(tool_choice="none"))
    strict = {"type": "function", "function": {**WEATHER["function"], "strict": True}}
    assert convert.chat_request(req(tools=[strict]))["strict_tools"] is True


def test_json_object_and_text_formats():
    assert convert.chat_request(req(response_format={"type": "json_object"}))[
        "response_format"] == {"type": "json_object"}
    assert convert.chat_request(req(response_format={"type": "text"}))[
        "response_format"] == {"type": "text"}


def test_request_options_carry_timeout_headers_and_provider_options():
    assert convert.request_options(req()) is None
    opts = convert.request_options(
        req(timeout=3.5, provider_options={"thinking": {"type": "disabled"}, "k": 5}),
        {"X-Team": "search"})
    assert opts == {"timeout": 3.5, "additional_headers": {"X-Team": "search"},
                    "additional_body_parameters": {"thinking": {"type": "disabled"}, "k": 5}}


def test_embed_request_default_input_type_dimensions_and_96_limit():
    texts = [f"doc {i}" for i in range(200)]
    batches = convert.embed_request(EmbeddingRequest(model="embed-v4.0", input=texts,
                                                     dimensions=256))
    assert [len(b["texts"]) for b in batches] == [96, 96, 8]
    assert [t for b in batches for t in b["texts"]] == texts
    assert {(b["input_type"], tuple(b["embedding_types"]), b["output_dimension"])
            for b in batches} == {("search_document", ("float",), 256)}
    (one,) = convert.embed_request(EmbeddingRequest(model="embed-english-v3.0", input=["q"],
                                                    input_type="search_query"))
    assert one == {"model": "embed-english-v3.0", "input_type": "search_query",
                   "embedding_types": ["float"], "texts": ["q"]}


# ---------------------------------------------------------------------------- responses


def test_chat_response_text_usage_from_billed_units():
    resp = convert.chat_response(parsed_chat(ChatScript(text="Bonjour", billed=(11, 7),
                                                        tokens=(190, 7), cached_tokens=183)),
                                 provider="cohere", model="command-a-03-2025")
    assert resp.content == "Bonjour"
    assert resp.finish_reason == "stop"
    assert resp.reasoning is None and resp.provider_data is None
    # 183 cached of 190 read: the 179 unbilled template tokens first, then 4 billed ones
    assert resp.usage == Usage(prompt_tokens=11, completion_tokens=7, total_tokens=18,
                               cached_tokens=4)
    assert resp.model == "command-a-03-2025" and resp.provider == "cohere"


def test_chat_response_tool_calls():
    resp = convert.chat_response(parsed_chat(ChatScript(
        text=None, tool_plan="Plan.", tool_calls=[("a", "get_weather", '{"city": "Rome"}'),
                                                  ("b", "get_time", "")])),
        provider="cohere", model="m")
    assert resp.content is None
    assert resp.finish_reason == "tool_calls"
    assert [(c.id, c.name, c.arguments) for c in resp.tool_calls] == [
        ("a", "get_weather", {"city": "Rome"}), ("b", "get_time", {})]
    assert resp.reasoning == "Plan."


@pytest.mark.parametrize("cohere_reason,ours", [
    ("COMPLETE", "stop"), ("STOP_SEQUENCE", "stop"), ("MAX_TOKENS", "length"),
    ("TOOL_CALL", "tool_calls"), ("ERROR", "error"), ("TIMEOUT", "error"),
])
def test_finish_reasons(cohere_reason, ours):
    assert convert.finish_reason(cohere_reason, False) == ours
    resp = convert.chat_response(parsed_chat(ChatScript(finish_reason=cohere_reason)),
                                 provider="cohere", model="m")
    assert resp.finish_reason == ours


@pytest.mark.parametrize("script,expected", [
    # tokens are the fallback when billed units are missing
    (ChatScript(billed=None, tokens=(190, 7)), Usage.of(190, 7)),
    # cached tokens are counted among all tokens read: the unbilled template (179 here) is
    # the cached prefix's first part, the rest is billed input; never more than the prompt
    (ChatScript(billed=(11, 7), cached_tokens=150), Usage.of(11, 7)),
    (ChatScript(billed=(11, 7), cached_tokens=185), Usage.of(11, 7, cached_tokens=6)),
    (ChatScript(billed=(11, 7), tokens=None, cached_tokens=150),
     Usage.of(11, 7, cached_tokens=11)),
    (ChatScript(usage=False), Usage(source="estimated")),
    (ChatScript(billed=None, tokens=None), Usage(source="estimated")),
])
def test_usage_sources(script, expected):
    assert convert.chat_response(parsed_chat(script), provider="cohere",
                                 model="m").usage == expected


def test_response_without_message_is_a_response_error():
    resp = construct_type(type_=V2ChatResponse, object_={"id": "x", "finish_reason": "COMPLETE"})
    with pytest.raises(ProviderResponseError):
        convert.chat_response(resp, provider="cohere", model="m")


def test_stream_events_become_deltas_with_stable_tool_indexes():
    script = ChatScript(text="Sure thing", thinking="Let me see", tool_plan="I will call two",
                        tool_calls=[("c1", "get_weather", '{"city": "Lima"}'),
                                    ("c2", "get_time", '{"tz": "UTC"}')],
                        billed=(20, 30), tokens=(300, 30))
    state = convert.CohereStream(provider="cohere", model="m")
    chunks = [c for c in (state.fold(e) for e in parsed_events(script)) if c is not None]
    assert chunks[0].id == script.id
    assert "".join(c.delta for c in chunks) == "Sure thing"
    assert "".join(c.reasoning for c in chunks) == "Let me seeI will call two"
    calls: dict[int, dict[str, str]] = {}
    for c in chunks:
        for d in c.tool_calls:
            slot = calls.setdefault(d.index, {"id": "", "name": "", "args": ""})
            slot["id"] += d.id or ""
            slot["name"] += d.name or ""
            slot["args"] += d.arguments
    assert calls == {0: {"id": "c1", "name": "get_weather", "args": '{"city": "Lima"}'},
                     1: {"id": "c2", "name": "get_time", "args": '{"tz": "UTC"}'}}
    last = chunks[-1]
    assert last.finish_reason == "tool_calls"
    assert last.usage == Usage.of(20, 30)
    assert last.provider_data == {"cohere": {"tool_plan": "I will call two",
                                             "thinking": "Let me see"}}


def test_stream_tool_indexes_follow_cohere_indexes_even_when_not_zero_based():
    events = [json.dumps(e) for e in [
        {"type": "tool-call-start", "index": 3, "delta": {"message": {"tool_calls": {
            "id": "x", "type": "function", "function": {"name": "f", "arguments": ""}}}}},
        {"type": "tool-call-start", "index": 5, "delta": {"message": {"tool_calls": {
            "id": "y", "type": "function", "function": {"name": "g", "arguments": "{"}}}}},
        {"type": "tool-call-delta", "index": 3,
         "delta": {"message": {"tool_calls": {"function": {"arguments": "{}"}}}}},
        {"type": "tool-call-delta", "index": 5,
         "delta": {"message": {"tool_calls": {"function": {"arguments": "}"}}}}},
    ]]
    state = convert.CohereStream(provider="cohere", model="m")
    deltas = [d for e in events for d in state.fold(e).tool_calls]
    assert [(d.index, d.id, d.arguments) for d in deltas] == [
        (0, "x", ""), (1, "y", "{"), (0, None, "{}"), (1, None, "}")]


def test_stream_end_with_error_raises_a_retryable_server_error():
    state = convert.CohereStream(provider="cohere", model="m")
    events = parsed_events(ChatScript(stream_error="internal failure"))
    with pytest.raises(ProviderServerError, match="internal failure") as info:
        for e in events:
            state.fold(e)
    assert info.value.retryable and info.value.provider == "cohere"


def test_stream_without_usage_leaves_it_to_the_router():
    state = convert.CohereStream(provider="cohere", model="m")
    chunks = [state.fold(e) for e in parsed_events(ChatScript(usage=False))]
    assert chunks[-1].finish_reason == "stop" and chunks[-1].usage is None


def test_embedding_response_concatenates_batches_and_sums_usage():
    parts = [construct_type(type_=EmbedByTypeResponse,
                            object_=embed_json(["a", "b"], [[1.0, 2.0], [3.0, 4.0]],
                                               billed_input=2)),
             construct_type(type_=EmbedByTypeResponse,
                            object_=embed_json(["c"], [[5.0, 6.0]], billed_input=1))]
    resp = convert.embed_response(parts, provider="cohere", model="embed-v4.0", count=3)
    assert resp.vectors == [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]
    assert resp.usage == Usage(prompt_tokens=3, total_tokens=3)
    assert resp.id == parts[0].id


def test_embedding_response_checks_shape():
    no_float = construct_type(type_=EmbedByTypeResponse, object_={
        "id": "e", "embeddings": {"int8": [[1, 2]]}, "texts": ["a"]})
    with pytest.raises(ProviderResponseError, match="without float"):
        convert.embed_response([no_float], provider="cohere", model="m", count=1)
    short = construct_type(type_=EmbedByTypeResponse,
                           object_=embed_json(["a"], [[1.0]], billed_input=1))
    with pytest.raises(ProviderResponseError, match="1 embeddings for 2 inputs"):
        convert.embed_response([short], provider="cohere", model="m", count=2)


def test_embedding_usage_without_meta_is_estimated():
    resp = construct_type(type_=EmbedByTypeResponse, object_={
        "id": "e", "embeddings": {"float": [[0.5]]}, "texts": ["a"]})
    out = convert.embed_response([resp], provider="cohere", model="m", count=1)
    assert out.usage.source == "estimated"


def test_arguments_that_are_not_json_are_kept_raw():
    resp = convert.chat_response(parsed_chat(ChatScript(
        text=None, tool_calls=[("a", "f", "{not json")])), provider="cohere", model="m")
    (call,) = resp.tool_calls
    assert call.arguments is None and call.arguments_raw == "{not json"
    assert call.parse_error
    # and they go back exactly as received
    (back,) = convert.messages([resp.message])
    assert back["tool_calls"][0]["function"]["arguments"] == "{not json"

"""Pure translation tests of the anthropic plugin (no network): requests, responses, stream
events, usage, error mapping, catalog defaults."""

from __future__ import annotations

import json

import anthropic
import httpx2
import pytest
from anthropic.types import (
    Message as SdkMessage,
)
from anthropic.types import (
    RawContentBlockDeltaEvent,
    RawContentBlockStartEvent,
    RawContentBlockStopEvent,
    RawMessageDeltaEvent,
    RawMessageStartEvent,
    RawMessageStopEvent,
)
from anthropic_wire import Turn, error_body, message_json, stream_events
from cencori_anthropic import DEFAULT_MAX_TOKENS, MODELS
from cencori_anthropic._catalog import default_max_tokens
from cencori_anthropic._convert import (
    AnthropicStream,
    chat_request,
    chat_response,
    convert_messages,
    convert_tool,
    convert_tool_choice,
    usage_from,
)
from cencori_anthropic._errors import map_error

from cencori_core import (
    ChatRequest,
    InvalidRequestError,
    Message,
    ProviderAuthError,
    ProviderBadRequestError,
    ProviderConnectionError,
    ProviderRateLimitError,
    ProviderServerError,
    ProviderTimeoutError,
    ToolCall,
)

WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                   "required": ["city"]}}}


def req(messages: list[Message], **kw) -> ChatRequest:
    return ChatRequest(model=kw.pop("model", "claude-sonnet-4-5-20250929"), messages=messages,
                       **kw)


def user(content) -> Message:
    return Message(role="user", content=content)


# ---------------------------------------------------------------------------- messages


def test_system_and_developer_messages_become_the_system_parameter():
    system, msgs = convert_messages([Message(role="system", content="Be brief."),
                                     user("Hi")])
    assert system == "Be brief."
    assert msgs == [{"role": "user", "content": "Hi"}]

    system, _ = convert_messages([Message(role="system", content="A"),
                                  Message(role="developer", content="B"), user("Hi")])
    assert system == [{"type": "text", "text": "A"}, {"type": "text", "text": "B"}]


def test_cache_control_on_parts_is_kept():
    cc = {"type": "ephemeral"}
    system, msgs = convert_messages([
        Message(role="system", content=[{"type": "text", "text": "long doc",
                                         "cache_control": cc}]),
        user([{"type": "text", "text": "q", "cache_control": cc}])])
    assert system == [{"type": "text", "text": "long doc", "cache_control": cc}]
    assert msgs[0]["content"] == [{"type": "text", "text": "q", "cache_control": cc}]


def test_image_parts_base64_url_and_pdf():
    _, msgs = convert_messages([user([
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
        {"type": "image_url", "image_url": {"url": "data:application/pdf;base64,JVBERi0x"}},
        {"type": "file", "file": {"file_id": "file_011", "filename": "report.pdf"}},
    ])])
    assert msgs[0]["content"] == [
        {"type": "text", "text": "What is this?"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                     "data": "iVBORw0KGgo="}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
        {"type": "document", "source": {"type": "base64", "media_type": "application/pdf",
                                        "data": "JVBERi0x"}},
        {"type": "document", "source": {"type": "file", "file_id": "file_011"},
         "title": "report.pdf"},
    ]


@pytest.mark.parametrize("part", [
    {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}},
    {"type": "image_url", "image_url": {"url": "data:image/png,notbase64"}},
])
def test_unsupported_parts_are_refused_before_sending(part):
    with pytest.raises(InvalidRequestError) as info:
        convert_messages([user([part])])
    assert info.value.param == "messages[0].content[0]"


def test_tool_calls_and_parallel_results_share_turns():
    call_a = ToolCall.from_raw(id="toolu_a", name="get_weather", arguments_raw='{"city": "Paris"}')
    call_b = ToolCall.from_raw(id="toolu_b", name="get_weather", arguments_raw='{"city": "Rome"}')
    _, msgs = convert_messages([
        user("Weather in Paris and Rome?"),
        Message(role="assistant", content=None, tool_calls=[call_a, call_b]),
        Message(role="tool", content="18C", tool_call_id="toolu_a"),
        Message(role="tool", content=[{"type": "text", "text": "22C"}], tool_call_id="toolu_b"),
        user("Thanks. Which is warmer?"),
    ])
    assert [m["role"] for m in msgs] == ["user", "assistant", "user"]
    assert msgs[1]["content"] == [
        {"type": "tool_use", "id": "toolu_a", "name": "get_weather", "input": {"city": "Paris"}},
        {"type": "tool_use", "id": "toolu_b", "name": "get_weather", "input": {"city": "Rome"}}]
    assert msgs[2]["content"] == [
        {"type": "tool_result", "tool_use_id": "toolu_a", "content": "18C"},
        {"type": "tool_result", "tool_use_id": "toolu_b",
         "content": [{"type": "text", "text": "22C"}]},
        {"type": "text", "text": "Thanks. Which is warmer?"}]


def test_thinking_blocks_go_back_first_and_unchanged():
    blocks = [{"type": "thinking", "thinking": "Need the weather.", "signature": "EqQBsig=="},
              {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3p"}]
    call = ToolCall.from_raw(id="toolu_a", name="get_weather", arguments_raw='{"city": "Oslo"}')
    _, msgs = convert_messages([
        user("Weather in Oslo?"),
        Message(role="assistant", content="Checking.", tool_calls=[call],
                provider_data={"anthropic": {"thinking_blocks": blocks},
                               "google": {"thought_signature": "x"}}),
        Message(role="tool", content="-3C", tool_call_id="toolu_a")])
    assert msgs[1]["content"] == [
        *blocks, {"type": "text", "text": "Checking."},
        {"type": "tool_use", "id": "toolu_a", "name": "get_weather", "input": {"city": "Oslo"}}]


def test_plain_assistant_text_stays_a_string_and_bad_arguments_are_refused():
    _, msgs = convert_messages([user("Hi"), Message(role="assistant", content="Hello!"),
                                user("Again")])
    assert msgs[1] == {"role": "assistant", "content": "Hello!"}
    bad = ToolCall.from_raw(id="toolu_x", name="f", arguments_raw="{not json")
    with pytest.raises(InvalidRequestError, match="not a JSON object"):
        convert_messages([user("Hi"), Message(role="assistant", content=None, tool_calls=[bad])])


# ---------------------------------------------------------------------------- tools and params


def test_tool_definitions():
    assert convert_tool(WEATHER) == {
        "name": "get_weather", "description": "Weather for a city",
        "input_schema": WEATHER["function"]["parameters"]}
    bare = convert_tool({"type": "function", "function": {"name": "now", "strict": True}})
    assert bare == {"name": "now", "input_schema": {"type": "object", "properties": {}},
                    "strict": True}


@pytest.mark.parametrize(("choice", "expected"), [
    ("auto", {"type": "auto"}),
    ("none", {"type": "none"}),
    ("required", {"type": "any"}),
    ({"type": "function", "function": {"name": "get_weather"}},
     {"type": "tool", "name": "get_weather"}),
])
def test_tool_choice(choice, expected):
    assert convert_tool_choice(choice) == expected


def test_chat_request_maps_every_field():
    p = chat_request(req([user("Hi")], tools=[WEATHER], tool_choice="required",
                         stop=["END"], user="u-42", max_tokens=300, seed=7,
                         response_format={"type": "json_schema", "json_schema": {
                             "name": "w", "schema": {"type": "object"}}}),
                     max_tokens=64_000)
    assert p == {
        "model": "claude-sonnet-4-5-20250929", "max_tokens": 300,
        "messages": [{"role": "user", "content": "Hi"}],
        "tools": [convert_tool(WEATHER)], "tool_choice": {"type": "any"},
        "stop_sequences": ["END"], "metadata": {"user_id": "u-42"},
        "output_config": {"format": {"type": "json_schema", "schema": {"type": "object"}}},
    }


def test_max_tokens_defaults_to_the_catalog_limit():
    assert chat_request(req([user("Hi")]), max_tokens=64_000)["max_tokens"] == 64_000
    assert default_max_tokens("claude-sonnet-4-5-20250929") == 64_000
    assert default_max_tokens("claude-haiku-4-5") == 64_000
    assert default_max_tokens("claude-opus-4-1") == 32_000
    assert default_max_tokens("claude-opus-4-8") == 128_000
    assert default_max_tokens("claude-3-5-haiku-latest") == 8_192
    # A newer snapshot of a known family gets that family's limit; anything else a safe one.
    assert default_max_tokens("claude-opus-4-8-20270101") == 128_000
    assert default_max_tokens("claude-unknown-9") == DEFAULT_MAX_TOKENS
    assert all(m.max_output_tokens for m in MODELS)


def test_provider_options_pass_through_merge_and_overflow_to_extra_body():
    p = chat_request(req([user("Hi")], user="u-1",
                         response_format={"type": "json_schema",
                                          "json_schema": {"name": "x", "schema": {}}},
                         provider_options={"thinking": {"type": "adaptive"},
                                           "output_config": {"effort": "low"},
                                           "metadata": {"extra": 1},
                                           "extra_headers": {"anthropic-beta": "b1"},
                                           "top_k": 5, "extra_body": {"fallbacks": "default"}}),
                     max_tokens=1000)
    assert p["thinking"] == {"type": "adaptive"}
    assert p["output_config"] == {"format": {"type": "json_schema", "schema": {}},
                                  "effort": "low"}
    assert p["metadata"] == {"user_id": "u-1", "extra": 1}
    assert p["extra_headers"] == {"anthropic-beta": "b1"}
    assert p["extra_body"] == {"top_k": 5, "fallbacks": "default"}


def test_sampling_parameters_need_an_older_api_version():
    with pytest.raises(InvalidRequestError, match="api_version") as info:
        chat_request(req([user("Hi")], temperature=0.2), max_tokens=10)
    assert info.value.param == "temperature"
    p = chat_request(req([user("Hi")], temperature=0.2, top_p=0.9), max_tokens=10,
                     sampling=True)
    assert p["extra_body"] == {"temperature": 0.2, "top_p": 0.9}


def test_json_object_has_no_anthropic_counterpart():
    with pytest.raises(InvalidRequestError, match="json_schema"):
        chat_request(req([user("Hi")], response_format={"type": "json_object"}), max_tokens=10)


# ---------------------------------------------------------------------------- responses


def sdk_message(turn: Turn, model: str = "claude-sonnet-4-5-20250929") -> SdkMessage:
    return SdkMessage.model_validate(message_json(turn, model))


def test_usage_counts_cache_tokens_once_in_the_prompt():
    u = usage_from(sdk_message(Turn(input_tokens=20, output_tokens=9, cache_read=1000,
                                  cache_write=300, thinking_tokens=4)).usage)
    assert (u.prompt_tokens, u.completion_tokens, u.total_tokens) == (1320, 9, 1329)
    assert (u.cached_tokens, u.cache_write_tokens, u.reasoning_tokens) == (1000, 300, 4)
    assert u.source == "provider"


def test_response_with_thinking_text_and_tools():
    turn = Turn(text="Checking both.", thinking=[("Two cities.", "sig-1")],
                redacted=["opaque"],
                tool_uses=[("toolu_1", "get_weather", {"city": "Paris"}),
                           ("toolu_2", "get_weather", {"city": "Zürich"})])
    r = chat_response(sdk_message(turn), provider="anthropic")
    assert r.content == "Checking both."
    assert r.reasoning == "Two cities."
    assert r.finish_reason == "tool_calls"
    assert [(c.id, c.name, c.arguments) for c in r.tool_calls] == [
        ("toolu_1", "get_weather", {"city": "Paris"}),
        ("toolu_2", "get_weather", {"city": "Zürich"})]
    assert json.loads(r.tool_calls[1].arguments_raw) == {"city": "Zürich"}
    assert r.provider_data == {"anthropic": {"thinking_blocks": [
        {"type": "thinking", "thinking": "Two cities.", "signature": "sig-1"},
        {"type": "redacted_thinking", "data": "opaque"}]}}
    assert r.message.provider_data == r.provider_data
    assert r.id == turn.id and r.model == "claude-sonnet-4-5-20250929"


def test_tool_only_response_has_no_content():
    r = chat_response(sdk_message(Turn(text=None, tool_uses=[("t", "f", {})])),
                    provider="anthropic")
    assert r.content is None and r.tool_calls[0].arguments == {}


@pytest.mark.parametrize(("stop", "finish"), [
    ("end_turn", "stop"), ("stop_sequence", "stop"), ("pause_turn", "stop"),
    ("max_tokens", "length"), ("model_context_window_exceeded", "length"),
    ("tool_use", "tool_calls"), ("refusal", "content_filter"),
])
def test_stop_reasons(stop, finish):
    assert chat_response(sdk_message(Turn(stop_reason=stop)), provider="a").finish_reason == finish


# ---------------------------------------------------------------------------- streams

_EVENTS = {"message_start": RawMessageStartEvent, "message_delta": RawMessageDeltaEvent,
           "message_stop": RawMessageStopEvent, "content_block_start": RawContentBlockStartEvent,
           "content_block_delta": RawContentBlockDeltaEvent,
           "content_block_stop": RawContentBlockStopEvent}


def translate(turn: Turn) -> list:
    t = AnthropicStream(provider="anthropic", model="m")
    out = []
    for name, data in stream_events(turn, "claude-sonnet-4-5-20250929"):
        if name in _EVENTS:
            out.extend(t.feed(_EVENTS[name].model_validate(data)))
    return out


def test_stream_text_thinking_tools_and_usage():
    turn = Turn(text="It is sunny.", thinking=[("Look it up.", "sig-9")],
                tool_uses=[("toolu_1", "get_weather", {"city": "Lima"}),
                           ("toolu_2", "get_weather", {"city": "Quito"})],
                input_tokens=30, output_tokens=40, cache_read=500, cache_write=60,
                thinking_tokens=12)
    chunks = translate(turn)
    assert chunks[0].id == turn.id and chunks[0].model == "claude-sonnet-4-5-20250929"
    assert all(c.id is None for c in chunks[1:])
    assert "".join(c.reasoning for c in chunks) == "Look it up."
    assert "".join(c.delta for c in chunks) == "It is sunny."
    args: dict[int, str] = {}
    for c in chunks:
        for d in c.tool_calls:
            args[d.index] = args.get(d.index, "") + d.arguments
    assert {i: json.loads(a) for i, a in args.items()} == {0: {"city": "Lima"},
                                                          1: {"city": "Quito"}}
    starts = [d for c in chunks for d in c.tool_calls if d.id]
    assert [(d.index, d.id, d.name) for d in starts] == [(0, "toolu_1", "get_weather"),
                                                         (1, "toolu_2", "get_weather")]
    data = [c.provider_data for c in chunks if c.provider_data]
    assert data[-1] == {"anthropic": {"thinking_blocks": [
        {"type": "thinking", "thinking": "Look it up.", "signature": "sig-9"}]}}
    end = chunks[-1]
    assert end.finish_reason == "tool_calls"
    u = end.usage
    assert (u.prompt_tokens, u.completion_tokens, u.cached_tokens, u.cache_write_tokens,
            u.reasoning_tokens) == (590, 40, 500, 60, 12)


def test_stream_usage_when_message_delta_carries_only_output():
    t = AnthropicStream(provider="anthropic", model="m")
    start = stream_events(Turn(input_tokens=100, cache_read=50), "m")[0][1]
    t.fold(RawMessageStartEvent.model_validate(start))
    end = t.fold(RawMessageDeltaEvent.model_validate(
        {"type": "message_delta", "delta": {"stop_reason": "max_tokens"},
         "usage": {"output_tokens": 77}}))
    assert end.finish_reason == "length"
    assert (end.usage.prompt_tokens, end.usage.completion_tokens,
            end.usage.cached_tokens) == (150, 77, 50)


# ---------------------------------------------------------------------------- errors


def status_error(status: int, body, headers=None):
    request = httpx2.Request("POST", "https://api.anthropic.com/v1/messages")
    response = httpx2.Response(status, headers=headers or {}, request=request, json=body)
    # The mapping reads status, body type and error code, not the SDK's subclass.
    return anthropic.APIStatusError(f"Error code: {status}", response=response, body=body)


@pytest.mark.parametrize(("status", "kind", "cls", "retryable"), [
    (400, "invalid_request_error", ProviderBadRequestError, False),
    (401, "authentication_error", ProviderAuthError, False),
    (402, "billing_error", ProviderRateLimitError, False),
    (403, "permission_error", ProviderAuthError, False),
    (404, "not_found_error", ProviderBadRequestError, False),
    (413, "request_too_large", ProviderBadRequestError, False),
    (429, "rate_limit_error", ProviderRateLimitError, True),
    (500, "api_error", ProviderServerError, True),
    (504, "timeout_error", ProviderTimeoutError, True),
    (529, "overloaded_error", ProviderServerError, True),
])
def test_error_types(status, kind, cls, retryable):
    err = map_error(status_error(status, error_body(kind, "nope", request_id="req_1")),
                    provider="anthropic", model="m")
    assert type(err) is cls
    assert (err.status_code, err.retryable, err.request_id, err.code) == (
        status, retryable, "req_1", kind)


def test_spend_limit_is_not_retryable_and_headers_count():
    body = error_body("rate_limit_error", "limit", error_code="enforced_spend_limit_reached")
    err = map_error(status_error(429, body, {"retry-after": "30", "x-should-retry": "true"}),
                    provider="anthropic", model="m")
    assert isinstance(err, ProviderRateLimitError)
    assert not err.retryable and err.code == "enforced_spend_limit_reached"
    ramp = map_error(status_error(429, error_body("rate_limit_error", "ramp",
                                                  error_code="ramp_limit_exceeded"),
                                  {"retry-after": "2"}), provider="anthropic", model="m")
    assert ramp.retryable and ramp.retry_after == 2.0
    told = map_error(status_error(529, error_body("overloaded_error", "busy"),
                                  {"x-should-retry": "false"}), provider="anthropic", model="m")
    assert isinstance(told, ProviderServerError) and not told.retryable


def test_in_band_stream_error_uses_the_body_type():
    err = map_error(status_error(200, error_body("overloaded_error", "Overloaded")),
                    provider="anthropic", model="m")
    assert isinstance(err, ProviderServerError) and err.retryable and err.status_code == 529


def test_transport_errors():
    request = httpx2.Request("POST", "https://api.anthropic.com/v1/messages")
    assert isinstance(map_error(httpx2.ReadTimeout("t", request=request), provider="a",
                                model="m"), ProviderTimeoutError)
    assert isinstance(map_error(httpx2.RemoteProtocolError("cut", request=request),
                                provider="a", model="m"), ProviderConnectionError)
    assert isinstance(map_error(anthropic.APITimeoutError(request=request), provider="a",
                                model="m"), ProviderTimeoutError)
    assert map_error(ValueError("ours"), provider="a", model="m") is None


def test_server_tool_input_is_not_a_tool_call():
    t = AnthropicStream(provider="anthropic", model="m")
    t.fold(RawMessageStartEvent.model_validate(stream_events(Turn(), "m")[0][1]))
    start = {"type": "content_block_start", "index": 0, "content_block": {
        "type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {}}}
    delta = {"type": "content_block_delta", "index": 0,
             "delta": {"type": "input_json_delta", "partial_json": '{"query": "x"}'}}
    assert t.fold(RawContentBlockStartEvent.model_validate(start)) is None
    assert t.fold(RawContentBlockDeltaEvent.model_validate(delta)) is None

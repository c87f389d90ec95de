"""Pure translation tests of the Mistral plugin (no network): requests to Mistral's wire shape,
responses and stream events (parsed by the real SDK models) back to our types."""

from __future__ import annotations

import re

import pytest
from cencori_mistral import _convert as c
from mistralai.client import models as m

from cencori_core.errors import InvalidRequestError, ProviderResponseError
from cencori_core.types import (
    ChatRequest,
    EmbeddingRequest,
    Message,
    ModerationRequest,
    ToolCall,
)


def _req(**kw):
    kw.setdefault("model", "mistral-small-latest")
    kw.setdefault("messages", [Message(role="user", content="Hi")])
    return ChatRequest(**kw)


def _completion(message, finish="stop", usage=None):
    body = {"id": "cmpl-1", "object": "chat.completion", "model": "mistral-small-2506",
            "created": 1760000000,
            "usage": usage or {"prompt_tokens": 11, "completion_tokens": 3, "total_tokens": 14},
            "choices": [{"index": 0, "message": {"role": "assistant", **message},
                         "finish_reason": finish}]}
    return m.ChatCompletionResponse.model_validate(body)


def _event(delta, finish=None, usage=None, choices=True):
    data = {"id": "cmpl-2", "object": "chat.completion.chunk", "created": 1760000000,
            "model": "mistral-small-2506",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}] if choices else []}
    if usage is not None:
        data["usage"] = usage
    return m.CompletionEvent.model_validate({"data": data}).data


# ---------------------------------------------------------------------------- base URL


@pytest.mark.parametrize("given, expected", [
    (None, None),
    ("https://api.eu.mistral.ai", "https://api.eu.mistral.ai"),
    ("https://api.eu.mistral.ai/", "https://api.eu.mistral.ai"),
    ("https://proxy.example/mistral/v1", "https://proxy.example/mistral"),
    ("http://127.0.0.1:8080/v1/", "http://127.0.0.1:8080"),
])
def test_server_url_is_the_api_root(given, expected):
    assert c.server_url(given) == expected


# ---------------------------------------------------------------------------- tool-call ids


def test_tool_call_ids_of_mistral_are_kept():
    assert c.tool_call_id("D681PevKs") == "D681PevKs"


def test_foreign_tool_call_ids_become_stable_nine_character_ids():
    a = c.tool_call_id("call_0fypS1hVXabc")
    assert re.fullmatch(r"[A-Za-z0-9]{9}", a)
    assert c.tool_call_id("call_0fypS1hVXabc") == a
    assert c.tool_call_id("toolu_01ABC") != a
    assert re.fullmatch(r"[A-Za-z0-9]{9}", c.tool_call_id(""))


# ---------------------------------------------------------------------------- messages


def test_roles_and_content_parts():
    msgs = [
        Message(role="developer", content="Be brief."),
        Message(role="system", content=[{"type": "text", "text": "Rule "},
                                        {"type": "text", "text": "two"}]),
        Message(role="user", name="alice", content=[
            {"type": "text", "text": "What is this?"},
            {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBO",
                                                "detail": "high"}},
            {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}},
            {"type": "file", "file": {"file_id": "f-123"}},
        ]),
    ]
    assert c.messages_to_mistral(msgs) == [
        {"role": "system", "content": "Be brief."},
        {"role": "system", "content": "Rule two"},
        {"role": "user", "content": [
            {"type": "text", "text": "What is this?"},
            {"type": "image_url", "image_url": "https://example.com/cat.png"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBO",
                                                "detail": "high"}},
            {"type": "input_audio", "input_audio": "UklGRg=="},
            {"type": "file", "file_id": "f-123"},
        ]},
    ]


def test_a_file_without_an_id_is_refused_before_sending():
    msg = Message(role="user", content=[{"type": "file", "file": {"file_data": "data:..."}}])
    with pytest.raises(InvalidRequestError, match="file_id"):
        c.messages_to_mistral([msg])


def test_tool_round_trip_maps_ids_and_names_the_function():
    calls = [ToolCall.from_raw(id="call_0fypS1hVX", name="weather",
                               arguments_raw='{"city": "Paris"}'),
             ToolCall.from_raw(id="D681PevKs", name="clock", arguments_raw="")]
    msgs = [
        Message(role="user", content="Weather and time?"),
        Message(role="assistant", content=None, tool_calls=calls),
        Message(role="tool", tool_call_id="call_0fypS1hVX", content="12 degrees"),
        Message(role="tool", tool_call_id="D681PevKs", content="noon"),
    ]
    out = c.messages_to_mistral(msgs)
    mapped = c.tool_call_id("call_0fypS1hVX")
    assert out[1] == {"role": "assistant", "tool_calls": [
        {"id": mapped, "type": "function",
         "function": {"name": "weather", "arguments": '{"city": "Paris"}'}},
        {"id": "D681PevKs", "type": "function", "function": {"name": "clock", "arguments": "{}"}},
    ]}
    assert out[2] == {"role": "tool", "content": "12 degrees", "tool_call_id": mapped,
                      "name": "weather"}
    assert out[3]["tool_call_id"] == "D681PevKs" and out[3]["name"] == "clock"


def test_mistral_thinking_goes_back_with_its_signature():
    msg = Message(role="assistant", content="42", reasoning="Let me think",
                  provider_data={"mistral": {"thinking_signature": "sig-1"}})
    assert c.messages_to_mistral([msg]) == [{"role": "assistant", "content": [
        {"type": "thinking", "thinking": [{"type": "text", "text": "Let me think"}],
         "signature": "sig-1"},
        {"type": "text", "text": "42"}]}]


def test_reasoning_from_another_provider_is_not_sent():
    msg = Message(role="assistant", content="42", reasoning="foreign thoughts")
    assert c.messages_to_mistral([msg]) == [{"role": "assistant", "content": "42"}]


def test_request_fields_map_to_mistral_names():
    rf = {"type": "json_schema", "json_schema": {
        "name": "answer", "strict": True,
        "schema": {"type": "object", "properties": {"n": {"type": "integer"}}}}}
    tools = [{"type": "function", "function": {"name": "now", "description": "time"}},
             {"type": "function", "function": {"name": "add", "parameters": {
                 "type": "object", "properties": {"a": {"type": "number"}}}}}]
    kw = c.chat_request(_req(temperature=0.2, max_tokens=64, top_p=0.9, stop=["END"], seed=7,
                            tools=tools, tool_choice="required", response_format=rf))
    assert kw["random_seed"] == 7 and kw["stop"] == ["END"] and kw["max_tokens"] == 64
    assert kw["temperature"] == 0.2 and kw["top_p"] == 0.9 and kw["tool_choice"] == "required"
    assert kw["response_format"] == rf
    assert kw["tools"][0] == {"type": "function", "function": {
        "name": "now", "description": "time",
        "parameters": {"type": "object", "properties": {}}}}
    assert kw["tools"][1]["function"]["parameters"]["properties"] == {"a": {"type": "number"}}
    assert "seed" not in kw and "user" not in kw


def test_unset_fields_are_not_sent():
    assert c.chat_request(_req()) == {"model": "mistral-small-latest",
                                     "messages": [{"role": "user", "content": "Hi"}]}


def test_the_sdk_accepts_what_we_build():
    calls = [ToolCall.from_raw(id="call_x", name="f", arguments_raw="{}")]
    kw = c.chat_request(_req(
        messages=[Message(role="system", content="s"),
                  Message(role="user", content=[{"type": "text", "text": "t"},
                                                {"type": "image_url",
                                                 "image_url": {"url": "https://x/y.png"}}]),
                  Message(role="assistant", content=None, tool_calls=calls),
                  Message(role="tool", tool_call_id="call_x", content="r")],
        tools=[{"type": "function", "function": {"name": "f"}}],
        tool_choice={"type": "function", "function": {"name": "f"}},
        response_format={"type": "json_object"}))
    req = m.ChatCompletionRequest.model_validate(kw)
    wire = req.model_dump(by_alias=True, exclude_none=True)
    assert wire["messages"][3]["tool_call_id"] == c.tool_call_id("call_x")
    assert wire["tool_choice"] == {"type": "function", "function": {"name": "f"}}


# ---------------------------------------------------------------------------- responses


def test_text_response():
    r = c.chat_response(_completion({"content": "Hello"}), provider="mistral")
    assert (r.content, r.finish_reason, r.id, r.model, r.created) == \
        ("Hello", "stop", "cmpl-1", "mistral-small-2506", 1760000000)
    assert r.usage.prompt_tokens == 11 and r.usage.total_tokens == 14
    assert r.usage.source == "provider" and r.reasoning is None and r.provider_data is None


def test_thinking_chunks_become_reasoning():
    r = c.chat_response(_completion({"content": [
        {"type": "thinking", "thinking": [{"type": "text", "text": "weighing "},
                                          {"type": "text", "text": "it up"}],
         "signature": "sig-9"},
        {"type": "reference", "reference_ids": [1]},
        {"type": "text", "text": "12 degrees"}]}), provider="mistral")
    assert r.content == "12 degrees" and r.reasoning == "weighing it up"
    assert r.provider_data == {"mistral": {"thinking_signature": "sig-9"}}
    assert r.message.reasoning == "weighing it up"


def test_tool_calls_with_text_or_object_arguments():
    r = c.chat_response(_completion({"content": "", "tool_calls": [
        {"id": "D681PevKs", "function": {"name": "weather", "arguments": '{"city":"Hamburg"}'},
         "index": 0},
        {"function": {"name": "clock", "arguments": {"tz": "UTC"}}}]}, finish="tool_calls"),
        provider="mistral")
    assert r.content is None and r.finish_reason == "tool_calls"
    assert [(t.id, t.name, t.arguments) for t in r.tool_calls] == [
        ("D681PevKs", "weather", {"city": "Hamburg"}), ("call_1", "clock", {"tz": "UTC"})]


@pytest.mark.parametrize("mistral, ours", [
    ("stop", "stop"), ("length", "length"), ("model_length", "length"),
    ("tool_calls", "tool_calls"), ("error", "error"), ("something_new", "stop")])
def test_finish_reasons(mistral, ours):
    assert c.chat_response(_completion({"content": "x"}, finish=mistral),
                           provider="mistral").finish_reason == ours


def test_no_choices_is_a_response_error():
    resp = _completion({"content": "x"})
    resp.choices = []
    with pytest.raises(ProviderResponseError):
        c.chat_response(resp, provider="mistral")


@pytest.mark.parametrize("extra", [
    {"prompt_tokens_details": {"cached_tokens": 64}},
    {"num_cached_tokens": 64},
])
def test_cached_prompt_tokens_are_part_of_the_prompt(extra):
    usage = {"prompt_tokens": 100, "completion_tokens": 10, "total_tokens": 110, **extra}
    u = c.chat_response(_completion({"content": "x"}, usage=usage), provider="mistral").usage
    assert (u.prompt_tokens, u.cached_tokens, u.completion_tokens, u.total_tokens) == \
        (100, 64, 10, 110)


def test_reasoning_tokens_and_audio_seconds_when_reported():
    usage = {"prompt_tokens": 5, "completion_tokens": 40, "total_tokens": 45,
             "prompt_audio_seconds": 3, "completion_tokens_details": {"reasoning_tokens": 30}}
    u = c.usage_from(m.UsageInfo.model_validate(usage))
    assert u.reasoning_tokens == 30 and u.completion_tokens == 40 and u.audio_seconds == 3.0


def test_missing_usage_is_estimated_by_the_router():
    assert c.usage_from(None).source == "estimated"


# ---------------------------------------------------------------------------- streams


def test_stream_text_finish_and_usage():
    s = c.MistralStream(provider="mistral", model="m")
    first = s.fold(_event({"role": "assistant", "content": ""}))
    assert first is None  # nothing to show yet
    a = s.fold(_event({"content": "Hel"}))
    b = s.fold(_event({"content": "lo"}))
    end = s.fold(_event({"content": ""}, finish="stop",
                         usage={"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}))
    assert (a.delta, b.delta) == ("Hel", "lo")
    assert a.id == "cmpl-2" and a.model == "mistral-small-2506"
    assert end.finish_reason == "stop" and end.usage.total_tokens == 5


def test_stream_thinking_deltas_and_signature():
    s = c.MistralStream(provider="mistral", model="m")
    ch = s.fold(_event({"content": [{"type": "thinking",
                                      "thinking": [{"type": "text", "text": "hmm"}],
                                      "signature": "sig"}]}))
    assert ch.reasoning == "hmm" and ch.delta == ""
    assert ch.provider_data == {"mistral": {"thinking_signature": "sig"}}


def test_stream_tool_calls_get_stable_distinct_indexes():
    s = c.MistralStream(provider="mistral", model="m")
    ch = s.fold(_event({"content": "", "tool_calls": [
        {"id": "aaaaaaaa1", "function": {"name": "f", "arguments": '{"x":'}},
        {"id": "bbbbbbbb2", "function": {"name": "g", "arguments": {"y": 2}}}]},
        finish="tool_calls"))
    assert [(d.index, d.id, d.name, d.arguments) for d in ch.tool_calls] == [
        (0, "aaaaaaaa1", "f", '{"x":'), (1, "bbbbbbbb2", "g", '{"y": 2}')]
    # a fragment without id continues the last call at that provider index
    more = s.fold(_event({"tool_calls": [{"function": {"name": "f", "arguments": " 1}"},
                                           "index": 0}]}))
    assert [(d.index, d.id) for d in more.tool_calls] == [(1, None)]


def test_stream_indexes_follow_provider_indexes():
    s = c.MistralStream(provider="mistral", model="m")
    ch = s.fold(_event({"tool_calls": [
        {"id": "aaaaaaaa1", "function": {"name": "f", "arguments": "{}"}, "index": 0},
        {"id": "bbbbbbbb2", "function": {"name": "g", "arguments": "{}"}, "index": 1}]}))
    assert [d.index for d in ch.tool_calls] == [0, 1]


def test_usage_only_event_without_choices():
    ch = c.MistralStream(provider="mistral", model="m").fold(_event({}, choices=False,
                                      usage={"prompt_tokens": 1, "completion_tokens": 1,
                                             "total_tokens": 2}))
    assert ch.usage.total_tokens == 2 and ch.delta == ""


# ---------------------------------------------------------------------------- embeddings


def test_embedding_request_and_response():
    kw = c.embed_request(EmbeddingRequest(model="codestral-embed", input=["a", "b"],
                                         dimensions=256, input_type="search_query"))
    assert kw == {"model": "codestral-embed", "inputs": ["a", "b"], "output_dimension": 256}
    resp = m.EmbeddingResponse.model_validate({
        "id": "embd-1", "object": "list", "model": "codestral-embed",
        "usage": {"prompt_tokens": 4, "total_tokens": 4, "completion_tokens": 0},
        "data": [{"object": "embedding", "embedding": [0.0, 1.0], "index": 1},
                 {"object": "embedding", "embedding": [1.0, 0.0], "index": 0}]})
    out = c.embed_response(resp, provider="mistral")
    assert out.vectors == [[1.0, 0.0], [0.0, 1.0]]
    assert out.usage.prompt_tokens == 4 and out.usage.completion_tokens == 0


# ---------------------------------------------------------------------------- moderation


def test_moderation_keeps_mistral_categories():
    resp = m.ModerationResponse.model_validate({"id": "mod-1", "model": "mistral-moderation-2411",
        "results": [
            {"categories": {"violence_and_threats": True, "pii": False},
             "category_scores": {"violence_and_threats": 0.97, "pii": 0.01}},
            {"categories": {"violence_and_threats": False, "pii": False},
             "category_scores": {"violence_and_threats": 0.02, "pii": 0.0}}]})
    out = c.moderation_response(resp, provider="mistral")
    assert out.flagged is True and [r.flagged for r in out.results] == [True, False]
    assert out.results[0].categories == {"violence_and_threats": True, "pii": False}
    assert out.results[0].scores["violence_and_threats"] == 0.97


def test_chat_moderation_turns_alternate_from_the_user():
    req = ModerationRequest(model="mistral-moderation-latest", input=["q", "a", "q2"])
    assert c.moderation_inputs(req, chat=False) == ["q", "a", "q2"]
    assert [x["role"] for x in c.moderation_inputs(req, chat=True)] == \
        ["user", "assistant", "user"]

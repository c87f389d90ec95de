"""Pure translation tests of the google plugin (no network): requests to the dicts google-genai
validates, SDK response objects (parsed from Gemini's JSON) to our types, and back again."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from cencori_google import _convert as cv
from cencori_google import _responses as rs
from cencori_google._provider import split_base_url
from google.genai import types
from google_wire import PNG_B64, fc_part, response, usage

from cencori_core import (
    ChatRequest,
    ContentFilterError,
    InvalidRequestError,
    Message,
    ProviderConnectionError,
    ProviderResponseError,
    ToolCall,
)
from cencori_core.types import EmbeddingRequest, ImageRequest

WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Weather",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}


def req(messages: list[Message], **kw: Any) -> ChatRequest:
    return ChatRequest(model="gemini-2.5-flash", messages=messages, **kw)


def gen(body: dict[str, Any]) -> types.GenerateContentResponse:
    """An SDK response parsed from Gemini's JSON, as the SDK parses it."""
    return types.GenerateContentResponse.model_validate_json(json.dumps(body))


def user(text: str) -> Message:
    return Message(role="user", content=text)


def sig_data(raw: bytes) -> dict[str, Any]:
    return {"google": {"thought_signature": base64.b64encode(raw).decode()}}


# ---------------------------------------------------------------------------- chat requests


def test_roles_system_instruction_and_merging() -> None:
    contents, config = cv.chat_request(req([
        Message(role="system", content="Rule one."),
        user("a"), user("b"),
        Message(role="developer", content="Rule two."),
        Message(role="assistant", content="c"),
        user("d"),
    ]))
    assert config["system_instruction"] == {"parts": [{"text": "Rule one."},
                                                      {"text": "Rule two."}]}
    assert contents == [
        {"role": "user", "parts": [{"text": "a"}, {"text": "b"}]},
        {"role": "model", "parts": [{"text": "c"}]},
        {"role": "user", "parts": [{"text": "d"}]},
    ]
    assert set(config) == {"system_instruction"}


def test_single_user_text_is_a_plain_string_and_needs_no_config() -> None:
    # the SDK's cheapest path: same request on the wire
    assert cv.chat_request(req([user("x")])) == ("x", {})
    assert cv.chat_request(req([Message(role="system", content="s"), user("x")]))[0] == "x"
    contents, _ = cv.chat_request(req([Message(role="user", content=[
        {"type": "text", "text": "a"}, {"type": "text", "text": "b"}])]))
    assert contents == [{"role": "user", "parts": [{"text": "a"}, {"text": "b"}]}]


def test_only_system_messages_are_refused() -> None:
    with pytest.raises(InvalidRequestError):
        cv.chat_request(req([Message(role="system", content="x")]))


def test_generation_options_and_timeout() -> None:
    _, config = cv.chat_request(req([user("x")], temperature=0.0, top_p=0.5, max_tokens=9,
                                    stop=["a", "b"], seed=3, timeout=2.5))
    assert {k: config[k] for k in ("temperature", "top_p", "max_output_tokens",
                                   "stop_sequences", "seed")} == {
        "temperature": 0.0, "top_p": 0.5, "max_output_tokens": 9, "stop_sequences": ["a", "b"],
        "seed": 3}
    assert config["http_options"] == {"timeout": 2500}
    types.GenerateContentConfig(**config)  # the SDK accepts what we build


@pytest.mark.parametrize("choice,expected", [
    ("auto", {"mode": "AUTO"}),
    ("none", {"mode": "NONE"}),
    ("required", {"mode": "ANY"}),
    ({"type": "function", "function": {"name": "get_weather"}},
     {"mode": "ANY", "allowed_function_names": ["get_weather"]}),
])
def test_tools_and_tool_choice(choice: Any, expected: dict[str, Any]) -> None:
    _, config = cv.chat_request(req([user("x")], tools=[WEATHER], tool_choice=choice))
    assert config["tools"] == [{"function_declarations": [{
        "name": "get_weather", "description": "Weather",
        "parameters_json_schema": WEATHER["function"]["parameters"]}]}]
    assert config["tool_config"] == {"function_calling_config": expected}
    # we run no Python callables: the SDK's function-calling loop stays out
    assert config["automatic_function_calling"] == {"disable": True}
    types.GenerateContentConfig(**config)


def test_tool_choice_none_without_tools_sends_nothing() -> None:
    _, config = cv.chat_request(req([user("x")], tool_choice="none"))
    assert "tools" not in config and "tool_config" not in config


def test_response_formats() -> None:
    _, config = cv.chat_request(req([user("x")], response_format={"type": "text"}))
    assert "response_mime_type" not in config
    _, config = cv.chat_request(req([user("x")], response_format={"type": "json_object"}))
    assert config["response_mime_type"] == "application/json"
    assert "response_json_schema" not in config
    schema = {"type": "object"}
    _, config = cv.chat_request(req([user("x")], response_format={
        "type": "json_schema", "json_schema": {"name": "s", "schema": schema}}))
    assert config["response_json_schema"] == schema


def test_provider_options_merge_and_extend_tools() -> None:
    _, config = cv.chat_request(req([user("x")], tools=[WEATHER], provider_options={
        "tools": [{"google_search": {}}], "top_k": 4, "automatic_continuation": True}))
    assert config["tools"][1] == {"google_search": {}}
    assert config["tools"][0]["function_declarations"][0]["name"] == "get_weather"
    assert config["top_k"] == 4 and config["automatic_continuation"] is True
    types.GenerateContentConfig(**config)


def test_content_parts() -> None:
    wav = base64.b64encode(b"RIFF....WAVE").decode()
    pdf = base64.b64encode(b"%PDF-1.7").decode()
    contents, _ = cv.chat_request(req([Message(role="user", content=[
        {"type": "text", "text": "see"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG_B64}"}},
        {"type": "image_url", "image_url": {"url": "https://x.test/a.png?size=2"}},
        {"type": "image_url", "image_url": {"url": "https://x.test/render"}},
        {"type": "input_audio", "input_audio": {"data": wav, "format": "wav"}},
        {"type": "file", "file": {"file_data": f"data:application/pdf;base64,{pdf}"}},
        {"type": "file", "file": {"file_id": "https://generativelanguage.googleapis.com/v1beta/files/f1"}},
    ])]))
    parts = contents[0]["parts"]
    assert parts[0] == {"text": "see"}
    assert parts[1] == {"inline_data": {"mime_type": "image/png",
                                        "data": base64.b64decode(PNG_B64)}}
    assert parts[2] == {"file_data": {"file_uri": "https://x.test/a.png?size=2",
                                      "mime_type": "image/png"}}
    assert parts[3]["file_data"]["mime_type"] == "image/jpeg"  # unknown: an image anyway
    assert parts[4] == {"inline_data": {"mime_type": "audio/wav", "data": b"RIFF....WAVE"}}
    assert parts[5] == {"inline_data": {"mime_type": "application/pdf", "data": b"%PDF-1.7"}}
    assert parts[6]["file_data"]["file_uri"].endswith("/files/f1")
    types.Content(**contents[0])


@pytest.mark.parametrize("url", ["data:image/png,notbase64", "data:image/png;base64,@@@"])
def test_bad_data_urls(url: str) -> None:
    with pytest.raises(InvalidRequestError):
        cv.chat_request(req([Message(role="user", content=[
            {"type": "image_url", "image_url": {"url": url}}])]))


def test_assistant_tool_calls_signatures_and_ids_go_back() -> None:
    real = ToolCall(id="fc-1", name="get_weather", arguments_raw='{"city":"Rome"}',
                    arguments={"city": "Rome"}, provider_data=sig_data(b"\x00sig"))
    made_up = ToolCall(id=cv.SYNTHETIC_ID_PREFIX + "abc", name="get_time", arguments_raw="{}",
                       arguments={})
    contents, _ = cv.chat_request(req([
        user("q"),
        Message(role="assistant", content="Sure.", tool_calls=[real, made_up],
                provider_data={**sig_data(b"txt"), "anthropic": {"ignored": True}}),
        Message(role="tool", tool_call_id="fc-1", content='{"temp": 20}'),
        Message(role="tool", tool_call_id=made_up.id, content="[1, 2]"),
        Message(role="tool", tool_call_id="legacy", name="lookup", content="plain"),
    ]))
    assert contents[1] == {"role": "model", "parts": [
        {"text": "Sure.", "thought_signature": b"txt"},
        {"function_call": {"name": "get_weather", "args": {"city": "Rome"}, "id": "fc-1"},
         "thought_signature": b"\x00sig"},
        {"function_call": {"name": "get_time", "args": {}}},
    ]}
    assert contents[2] == {"role": "user", "parts": [
        {"function_response": {"name": "get_weather", "response": {"temp": 20}, "id": "fc-1"}},
        {"function_response": {"name": "get_time", "response": {"output": "[1, 2]"}}},
        {"function_response": {"name": "lookup", "response": {"output": "plain"},
                               "id": "legacy"}},
    ]}
    types.Content(**contents[1])
    types.Content(**contents[2])


def test_signature_only_text_part_is_kept() -> None:
    contents, _ = cv.chat_request(req([user("q"), Message(
        role="assistant", content="", provider_data=sig_data(b"s"))]))
    assert contents[1]["parts"] == [{"text": "", "thought_signature": b"s"}]


def test_tool_result_for_unknown_call_and_bad_arguments_are_refused() -> None:
    with pytest.raises(InvalidRequestError, match="tool_call_id"):
        cv.chat_request(req([user("q"), Message(role="tool", tool_call_id="nope",
                                                content="x")]))
    bad = ToolCall.from_raw(id="c", name="f", arguments_raw="[1]")
    with pytest.raises(InvalidRequestError, match="not a JSON object"):
        cv.chat_request(req([user("q"), Message(role="assistant", tool_calls=[bad])]))
    with pytest.raises(InvalidRequestError, match="base64"):
        cv.chat_request(req([user("q"), Message(role="assistant", content="x", provider_data={
            "google": {"thought_signature": "not base64!"}})]))


# ---------------------------------------------------------------------------- chat responses


def test_response_text_thoughts_calls_signatures_usage() -> None:
    resp = gen(response([
        {"text": "hmm", "thought": True},
        {"text": "Hello ", "thoughtSignature": base64.b64encode(b"t-sig").decode()},
        {"text": "world"},
        fc_part("get_weather", {"city": "Oslo"}, id="c-1", signature=b"f-sig"),
        fc_part("get_time", {}),
    ], use=usage(100, 20, thoughts=5, cached=60, tool_use=7), response_id="r-9"))
    r = rs.chat_response(resp, model="gemini-2.5-flash", provider="google")
    assert (r.content, r.reasoning, r.id) == ("Hello world", "hmm", "r-9")
    assert r.finish_reason == "tool_calls"
    assert r.provider_data == sig_data(b"t-sig")
    first, second = r.tool_calls
    assert (first.id, first.arguments, first.provider_data) == ("c-1", {"city": "Oslo"},
                                                                sig_data(b"f-sig"))
    assert second.id.startswith(cv.SYNTHETIC_ID_PREFIX) and second.arguments == {}
    assert json.loads(first.arguments_raw) == {"city": "Oslo"}
    u = r.usage
    assert (u.prompt_tokens, u.cached_tokens, u.completion_tokens, u.reasoning_tokens,
            u.total_tokens) == (107, 60, 25, 5, 132)
    assert r.raw is resp


def test_round_trip_keeps_signatures_byte_exact() -> None:
    raw = bytes(range(256))
    r = rs.chat_response(gen(response([fc_part("f", {"x": 1}, signature=raw)])),
                         model="m", provider="google")
    contents, _ = cv.chat_request(req([user("q"), r.message]))
    assert contents[1]["parts"][0]["thought_signature"] == raw


@pytest.mark.parametrize("reason,expected", sorted(rs.FINISH_REASONS.items()))
def test_finish_reasons(reason: str, expected: str) -> None:
    assert rs.finish_reason(types.FinishReason(reason), False) == expected


def test_finish_reason_edge_cases() -> None:
    assert rs.finish_reason(None, False) == "stop"
    assert rs.finish_reason("A_REASON_FROM_THE_FUTURE", False) == "stop"
    assert rs.finish_reason("STOP", True) == "tool_calls"
    assert rs.finish_reason("MAX_TOKENS", True) == "length"


def test_blocked_prompt_and_missing_candidates() -> None:
    blocked = gen({"promptFeedback": {"blockReason": "PROHIBITED_CONTENT",
                                      "blockReasonMessage": "no"}})
    with pytest.raises(ContentFilterError, match="PROHIBITED_CONTENT") as info:
        rs.chat_response(blocked, model="m", provider="google")
    assert info.value.code == "PROHIBITED_CONTENT"
    with pytest.raises(ProviderResponseError):
        rs.chat_response(gen({"responseId": "x"}), model="m", provider="google")


def test_usage_without_metadata_is_estimated() -> None:
    assert rs.usage_from(None).source == "estimated"
    md = types.GenerateContentResponseUsageMetadata(prompt_token_count=4, candidates_token_count=2)
    assert rs.usage_from(md).total_tokens == 6


# ---------------------------------------------------------------------------- streams


def test_stream_state_deltas_indexes_and_usage_once() -> None:
    state = rs.GeminiStream(provider="google", model="m")
    c1 = state.fold(gen(response([{"text": "He"}], finish=None, use=usage(9),
                                  response_id="s1")))
    c2 = state.fold(gen(response([{"text": "llo"}, fc_part("a", {"k": "v"}, signature=b"x")],
                                  finish=None, use=usage(9), response_id="s1")))
    c3 = state.fold(gen(response([fc_part("b", {}, id="id-b")], use=usage(9, 6),
                                  response_id="s1")))
    assert (c1.delta, c1.id, c1.usage, c1.finish_reason) == ("He", "s1", None, None)
    assert c2.id is None and c2.delta == "llo"
    [d_a] = c2.tool_calls
    assert (d_a.index, d_a.name, d_a.arguments, d_a.provider_data) == (0, "a", '{"k": "v"}',
                                                                       sig_data(b"x"))
    [d_b] = c3.tool_calls
    assert (d_b.index, d_b.id) == (1, "id-b")
    assert c3.finish_reason == "tool_calls"
    assert c3.usage is not None and c3.usage.total_tokens == 15
    assert state.end() == []  # usage already reported


def test_stream_state_usage_at_end_and_signature_chunk() -> None:
    state = rs.GeminiStream(provider="google", model="m")
    chunk = state.fold(gen(response(
        [{"text": "", "thoughtSignature": base64.b64encode(b"zz").decode()}], finish=None)))
    assert chunk.provider_data == sig_data(b"zz") and chunk.delta == ""
    # The finishing event without usage, then one with usage only: it goes out at the end.
    state.fold(gen(response([{"text": ""}])))
    state.fold(gen({"usageMetadata": usage(2, 1)}))
    [end] = state.end()
    assert end.usage.total_tokens == 3


def test_stream_state_without_a_finish_reason_is_truncated() -> None:
    state = rs.GeminiStream(provider="google", model="m")
    state.feed(gen(response([{"text": "half"}], finish=None, use=usage(2, 1))))
    # Like a dropped connection: the router makes it StreamInterruptedError with its partial.
    with pytest.raises(ProviderConnectionError) as info:
        state.end()
    assert "finishReason" in str(info.value) and info.value.retryable


def test_stream_state_blocked_prompt_raises() -> None:
    state = rs.GeminiStream(provider="google", model="m")
    with pytest.raises(ContentFilterError):
        state.fold(gen(response(None, block_reason="SAFETY")))
    assert state.fold(gen({"usageMetadata": usage(1)})) is None


# ---------------------------------------------------------------------------- embeddings


@pytest.mark.parametrize("given,task", [
    ("query", "RETRIEVAL_QUERY"), ("search_document", "RETRIEVAL_DOCUMENT"),
    ("passage", "RETRIEVAL_DOCUMENT"), ("classification", "CLASSIFICATION"),
    ("similarity", "SEMANTIC_SIMILARITY"), ("SEMANTIC_SIMILARITY", "SEMANTIC_SIMILARITY"),
    ("question_answering", "QUESTION_ANSWERING"), ("code_retrieval_query", "CODE_RETRIEVAL_QUERY"),
])
def test_embed_task_types(given: str, task: str) -> None:
    contents, config = cv.embed_request(EmbeddingRequest(
        model="gemini-embedding-001", input=["a", "b"], dimensions=64, input_type=given,
        timeout=1.0))
    assert contents == [{"parts": [{"text": "a"}]}, {"parts": [{"text": "b"}]}]
    assert config == {"output_dimensionality": 64, "task_type": task,
                      "http_options": {"timeout": 1000}}
    types.EmbedContentConfig(**config)


def test_embed_unknown_task_type() -> None:
    with pytest.raises(InvalidRequestError, match="retrieval_query"):
        cv.task_type("telepathy")


def test_embed_response_usage_sources() -> None:
    def embed(body: dict[str, Any]) -> types.EmbedContentResponse:
        return types.EmbedContentResponse.model_validate_json(json.dumps(body))

    r = rs.embed_response(embed({"embeddings": [{"values": [1.0]}],
                                 "usageMetadata": {"promptTokenCount": 3}}),
                          model="m", provider="google", count=1)
    assert (r.vectors, r.usage.prompt_tokens, r.usage.source) == ([[1.0]], 3, "provider")
    r = rs.embed_response(embed({"embeddings": [
        {"values": [1.0], "statistics": {"tokenCount": 2}},
        {"values": [2.0], "statistics": {"tokenCount": 5}}]}), model="m", provider="google",
        count=2)
    assert r.usage.prompt_tokens == 7
    r = rs.embed_response(embed({"embeddings": [{"values": [1.0]}]}), model="m",
                          provider="google", count=1)
    assert r.usage.source == "estimated"
    with pytest.raises(ProviderResponseError):
        rs.embed_response(embed({"embeddings": []}), model="m", provider="google", count=1)


# ---------------------------------------------------------------------------- images


@pytest.mark.parametrize("size,ratio", [
    ("1024x1024", "1:1"), ("1920x1080", "16:9"), ("1536x1024", "3:2"), ("1792x1024", "16:9"),
    ("1024x1792", "9:16"), ("1344x768", "16:9"), ("1536x672", "21:9"), ("864x1184", "3:4"),
    ("1080x1350", "4:5"), ("1000x300", None), ("1000x1120", None),
])
def test_aspect_ratios(size: str, ratio: str | None) -> None:
    if ratio is not None:
        assert cv.aspect_ratio(size) == ratio
    else:
        with pytest.raises(InvalidRequestError, match="16:9"):
            cv.aspect_ratio(size)


@pytest.mark.parametrize("size", ["1024", "0x100", "axb", "-5x5"])
def test_bad_sizes(size: str) -> None:
    with pytest.raises(InvalidRequestError):
        cv.aspect_ratio(size)


def test_image_request_and_response() -> None:
    contents, config = cv.image_request(ImageRequest(
        model="gemini-2.5-flash-image", prompt="fox", size="1024x1024", n=2,
        provider_options={"image_config": {"image_size": "2K"}}))
    assert contents == [{"role": "user", "parts": [{"text": "fox"}]}]
    assert config["response_modalities"] == ["IMAGE"] and config["candidate_count"] == 2
    assert config["image_config"] == {"aspect_ratio": "1:1", "image_size": "2K"}
    types.GenerateContentConfig(**config)
    img = {"inlineData": {"mimeType": "image/png", "data": PNG_B64}}
    resp = gen(response([{"text": "Here", }, img, dict(img, thought=True)], candidates=2,
                        use=usage(4, 100)))
    r = rs.image_response(resp, model="m", provider="google")
    assert len(r.images) == 2  # one per candidate; the thought image is a draft
    assert r.images[0].data == base64.b64decode(PNG_B64)
    assert (r.usage.images, r.usage.completion_tokens) == (2, 100)


def test_imagen_request_and_response() -> None:
    config = cv.imagen_request(ImageRequest(model="imagen-4.0-generate-001", prompt="p", n=3,
                                            size="1024x768"))
    assert config == {"number_of_images": 3, "aspect_ratio": "4:3"}
    types.GenerateImagesConfig(**config)
    resp = types.GenerateImagesResponse(generated_images=[
        types.GeneratedImage(image=types.Image(image_bytes=b"png", mime_type="image/png"),
                             enhanced_prompt="a better p"),
        types.GeneratedImage(rai_filtered_reason="filtered")])
    r = rs.imagen_response(resp, model="m", provider="google")
    [img] = r.images
    assert (img.data, img.revised_prompt, r.usage.images) == (b"png", "a better p", 1)
    with pytest.raises(ProviderResponseError):
        rs.imagen_response(types.GenerateImagesResponse(), model="m", provider="google")


# ---------------------------------------------------------------------------- small helpers


@pytest.mark.parametrize("seconds,ms", [(None, None), (0.0001, 1), (1.5, 1500), (60, 60000)])
def test_timeout_ms(seconds: float | None, ms: int | None) -> None:
    assert cv.timeout_ms(seconds) == ms


@pytest.mark.parametrize("url,expected", [
    ("https://generativelanguage.googleapis.com", ("https://generativelanguage.googleapis.com",
                                                   None)),
    ("https://generativelanguage.googleapis.com/v1beta/", (
        "https://generativelanguage.googleapis.com", "v1beta")),
    ("http://127.0.0.1:8080/proxy/v1alpha", ("http://127.0.0.1:8080/proxy", "v1alpha")),
    ("http://127.0.0.1:8080/v1", ("http://127.0.0.1:8080", "v1")),
    ("https://gw.example/v1beta/openai", ("https://gw.example/v1beta/openai", None)),
])
def test_split_base_url(url: str, expected: tuple[str, str | None]) -> None:
    assert split_base_url(url) == expected

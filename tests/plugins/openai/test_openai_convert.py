"""Pure converter tests of the OpenAI plugin: our types ↔ the OpenAI wire shapes, no network."""

from __future__ import annotations

import base64
import struct

from cencori_openai import _convert as cv
from cencori_openai import _convert_ops as ops
from openai.types import CreateEmbeddingResponse, ModerationCreateResponse
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from cencori_core import ChatRequest, Message, ToolCall
from cencori_core.types import EmbeddingRequest, SpeechRequest, TranscriptionRequest

OPENAI = cv.DIALECTS["openai"]
DEEPSEEK = cv.DIALECTS["deepseek"]
XAI = cv.DIALECTS["xai"]
PARAMS = frozenset({"model", "messages", "temperature", "max_tokens", "max_completion_tokens",
                    "tools", "tool_choice", "response_format", "stop", "top_p", "seed", "user",
                    "stream", "stream_options", "timeout", "reasoning_effort"})


def _req(**kw):
    kw.setdefault("model", "gpt-4o")
    kw.setdefault("messages", [Message(role="user", content="hi")])
    return ChatRequest(**kw)


# The SDK builds its response objects without validation (``construct``): so do the tests.
def _completion(message, *, usage=None, finish="stop", model="gpt-4o"):
    return ChatCompletion.construct(**{
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", **message},
                     "finish_reason": finish, "logprobs": None}],
        "usage": usage,
    })


def _chunk(delta=None, *, finish=None, usage=None, choices=True):
    return ChatCompletionChunk.construct(**{
        "id": "chatcmpl-2", "object": "chat.completion.chunk", "created": 1, "model": "m",
        "choices": [{"index": 0, "delta": delta or {}, "finish_reason": finish}] if choices
        else [],
        "usage": usage,
    })


# ---------------------------------------------------------------------------- requests


def test_chat_kwargs_minimal_sends_only_what_was_given():
    kw = cv.chat_kwargs(_req(), OPENAI, PARAMS)
    assert kw == {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}


def test_chat_kwargs_every_standard_field():
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    rf = {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}}
    kw = cv.chat_kwargs(_req(temperature=0.2, max_tokens=50, tools=tools, tool_choice="required",
                             response_format=rf, stop=["END"], top_p=0.9, seed=7, user="u1",
                             timeout=3.0, metadata={"tag": "x"}), OPENAI, PARAMS)
    assert kw["max_completion_tokens"] == 50 and "max_tokens" not in kw
    assert kw["tools"] == tools and kw["tool_choice"] == "required"
    assert kw["response_format"] == rf and kw["stop"] == ["END"]
    assert (kw["temperature"], kw["top_p"], kw["seed"], kw["user"], kw["timeout"]) == \
        (0.2, 0.9, 7, "u1", 3.0)
    assert "metadata" not in kw  # router metadata is ours, not OpenAI's stored-completion tags


def test_max_tokens_parameter_per_dialect():
    assert "max_completion_tokens" in cv.chat_kwargs(_req(max_tokens=5), XAI, PARAMS)
    assert cv.chat_kwargs(_req(max_tokens=5), DEEPSEEK, PARAMS)["max_tokens"] == 5
    assert cv.chat_kwargs(_req(max_tokens=5), cv.DIALECTS["meta"], PARAMS)["max_tokens"] == 5


def test_stream_asks_for_usage():
    kw = cv.chat_kwargs(_req(), OPENAI, PARAMS, stream=True)
    assert kw["stream"] is True and kw["stream_options"] == {"include_usage": True}


def test_provider_options_known_params_and_extra_body():
    kw = cv.chat_kwargs(_req(provider_options={
        "reasoning_effort": "low", "thinking": {"type": "enabled"},
        "extra_headers": {"X-A": "1"}, "extra_body": {"keep": 1}}), OPENAI, PARAMS)
    assert kw["reasoning_effort"] == "low"
    assert kw["extra_headers"] == {"X-A": "1"}
    assert kw["extra_body"] == {"keep": 1, "thinking": {"type": "enabled"}}


def test_messages_images_tool_results_and_no_reasoning_echo():
    msgs = [
        Message(role="developer", content="be brief"),
        Message(role="user", content=[
            {"type": "text", "text": "what is this?"},
            {"type": "image_url", "image_url": {"url": "https://x/cat.png"}},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]),
        Message(role="assistant", content=None, reasoning="I think...",
                provider_data={"sig": "x"},
                tool_calls=[ToolCall.from_raw(id="c1", name="look", arguments_raw='{"q":1}')]),
        Message(role="tool", content="a cat", tool_call_id="c1"),
    ]
    out = cv.chat_kwargs(_req(messages=msgs), OPENAI, PARAMS)["messages"]
    assert out[0] == {"role": "developer", "content": "be brief"}
    assert out[1]["content"][2]["image_url"]["url"].startswith("data:image/png;base64,")
    assert out[2] == {"role": "assistant", "content": None, "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "look", "arguments": '{"q":1}'}}]}
    assert out[3] == {"role": "tool", "content": "a cat", "tool_call_id": "c1"}
    # DeepSeek and the others know no developer role
    assert cv.chat_kwargs(_req(messages=msgs), DEEPSEEK, PARAMS)["messages"][0]["role"] == \
        "system"


def test_tool_choice_without_tools_is_not_sent():
    assert "tool_choice" not in cv.chat_kwargs(_req(tool_choice="none"), OPENAI, PARAMS)


# ---------------------------------------------------------------------------- responses


def test_chat_response_text_usage_and_details():
    c = _completion({"content": "Hi!"}, usage={
        "prompt_tokens": 100, "completion_tokens": 30, "total_tokens": 130,
        "prompt_tokens_details": {"cached_tokens": 64},
        "completion_tokens_details": {"reasoning_tokens": 20}})
    r = cv.chat_response(c, provider="openai", model="gpt-4o")
    assert (r.content, r.finish_reason, r.id, r.model, r.provider, r.created) == \
        ("Hi!", "stop", "chatcmpl-1", "gpt-4o", "openai", 1)
    u = r.usage
    assert (u.prompt_tokens, u.completion_tokens, u.total_tokens, u.cached_tokens,
            u.reasoning_tokens, u.source) == (100, 30, 130, 64, 20, "provider")
    assert r.raw is c


def test_xai_reasoning_tokens_outside_completion_are_added():
    # xAI: total = prompt + completion + reasoning; completion excludes reasoning.
    c = _completion({"content": "4"}, usage={
        "prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 112,
        "prompt_tokens_details": {"cached_tokens": 3, "text_tokens": 10},
        "completion_tokens_details": {"reasoning_tokens": 100}})
    u = cv.chat_response(c, provider="xai", model="grok-4").usage
    assert (u.prompt_tokens, u.completion_tokens, u.total_tokens, u.reasoning_tokens,
            u.cached_tokens) == (10, 102, 112, 100, 3)


def test_deepseek_reasoning_content_and_cache_hit_tokens():
    c = _completion({"content": "42", "reasoning_content": "Let me think."}, usage={
        "prompt_tokens": 50, "completion_tokens": 40, "total_tokens": 90,
        "prompt_cache_hit_tokens": 32, "prompt_cache_miss_tokens": 18,
        "completion_tokens_details": {"reasoning_tokens": 30}}, model="deepseek-reasoner")
    r = cv.chat_response(c, provider="deepseek", model="deepseek-reasoner")
    assert r.reasoning == "Let me think." and r.content == "42"
    assert r.message.reasoning == "Let me think."
    assert (r.usage.cached_tokens, r.usage.completion_tokens, r.usage.reasoning_tokens) == \
        (32, 40, 30)


def test_missing_usage_is_estimated():
    r = cv.chat_response(_completion({"content": "x"}), provider="local", model="m")
    assert r.usage.source == "estimated" and r.usage.total_tokens == 0


def test_tool_calls_parsed_and_malformed_arguments_kept():
    c = _completion({"content": None, "tool_calls": [
        {"id": "a", "type": "function", "function": {"name": "f", "arguments": '{"x": 1}'}},
        {"id": "b", "type": "function", "function": {"name": "g", "arguments": '{"x": '}}]},
        finish="tool_calls")
    r = cv.chat_response(c, provider="openai", model="gpt-4o")
    assert r.finish_reason == "tool_calls"
    good, bad = r.tool_calls
    assert good.arguments == {"x": 1} and good.parse_error is None
    assert bad.arguments is None and bad.arguments_raw == '{"x": ' and bad.parse_error


def test_finish_reasons():
    assert cv.finish_reason("length") == "length"
    assert cv.finish_reason("content_filter") == "content_filter"
    assert cv.finish_reason("function_call") == "tool_calls"
    assert cv.finish_reason(None) == "stop"
    assert cv.finish_reason("insufficient_system_resource") == "error"


# ---------------------------------------------------------------------------- stream chunks


def test_chunks_text_reasoning_tool_deltas_finish_and_usage():
    assert cv.chat_chunk(_chunk({"role": "assistant", "content": ""})) is None
    assert cv.chat_chunk(_chunk({"content": "He"})).delta == "He"
    assert cv.chat_chunk(_chunk({"reasoning_content": "hmm"})).reasoning == "hmm"
    tc = cv.chat_chunk(_chunk({"tool_calls": [
        {"index": 1, "id": "c", "type": "function", "function": {"name": "f", "arguments": ""}}]}))
    assert tc.tool_calls[0].index == 1 and tc.tool_calls[0].name == "f"
    frag = cv.chat_chunk(_chunk({"tool_calls": [{"index": 1, "function": {"arguments": '{"a'}}]}))
    assert frag.tool_calls[0].arguments == '{"a' and frag.tool_calls[0].id is None
    assert cv.chat_chunk(_chunk(finish="stop")).finish_reason == "stop"
    last = cv.chat_chunk(_chunk(choices=False, usage={
        "prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}))
    assert last.usage.total_tokens == 7 and not last.delta and last.is_empty
    assert cv.chat_chunk(_chunk(choices=False)) is None


# ---------------------------------------------------------------------------- other operations


def test_embeddings_float_and_base64_decoded():
    vec = [0.25, -1.5, 3.0]
    b64 = base64.b64encode(struct.pack("<3f", *vec)).decode()
    resp = CreateEmbeddingResponse.construct(**{
        "object": "list", "model": "text-embedding-3-small",
        "data": [{"object": "embedding", "index": 1, "embedding": b64},
                 {"object": "embedding", "index": 0, "embedding": [1.0, 2.0, 3.0]}],
        "usage": {"prompt_tokens": 4, "total_tokens": 4}})
    r = ops.embed_response(resp, provider="openai", model="text-embedding-3-small")
    assert r.vectors == [[1.0, 2.0, 3.0], vec]  # ordered by index
    assert r.usage.prompt_tokens == 4
    kw = ops.embed_request(EmbeddingRequest(model="e", input=["a"], dimensions=8,
                                              provider_options={"encoding_format": "base64"}),
                             {"model", "input", "dimensions", "encoding_format"})
    assert kw == {"model": "e", "input": ["a"], "dimensions": 8, "encoding_format": "base64"}


def test_transcription_and_speech_kwargs():
    kw = ops.transcribe_request(TranscriptionRequest(model="whisper-1", file=b"x",
                                                      filename="a.wav", language="en",
                                                      prompt="names"), set())
    assert kw["file"] == ("a.wav", b"x") and kw["response_format"] == "verbose_json"
    assert (kw["language"], kw["prompt"]) == ("en", "names")
    kw = ops.transcribe_request(TranscriptionRequest(model="gpt-4o-transcribe", file=b"x"),
                                 set())
    assert kw["response_format"] == "json"
    kw = ops.speech_request(SpeechRequest(model="tts-1", input="hi", voice="alloy", format="wav",
                                        speed=1.5), set())
    assert kw == {"model": "tts-1", "input": "hi", "voice": "alloy", "response_format": "wav",
                  "speed": 1.5}


def test_moderation_keeps_api_category_names_as_plain_dicts():
    resp = ModerationCreateResponse.construct(**{
        "id": "modr-1", "model": "omni-moderation-latest", "results": [{
            "flagged": True,
            "categories": {"violence": True, "harassment/threatening": False},
            "category_scores": {"violence": 0.9, "harassment/threatening": 0.01},
            "category_applied_input_types": {}}]})
    r = ops.moderate_response(resp, provider="openai", model="omni-moderation-latest")
    assert r.flagged is True
    res = r.results[0]
    assert type(res.categories) is dict and res.categories["harassment/threatening"] is False
    assert res.scores["violence"] == 0.9
    assert "harassment_threatening" not in res.categories

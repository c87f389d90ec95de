"""The bedrock plugin's pure converters (no network): requests to Converse arguments, answers
and stream events to our types, and the bad inputs refused before anything is sent."""

from __future__ import annotations

import base64

import pytest
from bedrock_fixtures import *  # noqa: F403 - the fixtures (server, mode, ...)
from bedrock_wire import router_for
from cencori_bedrock import _convert as cv

from cencori_core import InvalidRequestError, ProviderResponseError
from cencori_core.types import ChatRequest, Message, ToolCall, Usage

PNG = "data:image/png;base64," + base64.b64encode(b"png-bytes").decode()


def request(*messages: dict, **kw) -> ChatRequest:
    return ChatRequest(model="amazon.nova-pro-v1:0",
                       messages=[Message(**m) for m in messages], **kw)


def test_system_and_developer_messages_become_system_blocks():
    kw = cv.chat_request(request({"role": "system", "content": "A."},
                                 {"role": "developer", "content": "B."},
                                 {"role": "user", "content": "Hi"}))
    assert kw["system"] == [{"text": "A."}, {"text": "B."}]
    assert kw["messages"] == [{"role": "user", "content": [{"text": "Hi"}]}]


def test_consecutive_user_turns_merge():
    kw = cv.chat_request(request({"role": "user", "content": "one"},
                                 {"role": "user", "content": [{"type": "text", "text": "two"}]}))
    assert kw["messages"] == [{"role": "user", "content": [{"text": "one"}, {"text": "two"}]}]


def test_image_data_url_becomes_bytes():
    kw = cv.chat_request(request({"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": PNG}}]}))
    assert kw["messages"][0]["content"] == [
        {"image": {"format": "png", "source": {"bytes": b"png-bytes"}}}]


@pytest.mark.parametrize("url,says", [
    ("https://example.com/cat.png", "does not fetch image URLs"),
    ("data:image/png,notbase64", "data URL must look like"),
    ("data:image/tiff;base64,AAAA", "data URL must look like"),
    ("data:image/png;base64,%%%", "malformed"),
    ("s3://bucket/cat.bmp", "must end in"),
])
def test_bad_images_are_refused(url, says):
    with pytest.raises(InvalidRequestError, match=says):
        cv.chat_request(request({"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": url}}]}))


@pytest.mark.parametrize("kw,param", [
    ({"response_format": {"type": "json_object"}}, "response_format"),
    ({"tools": [{"type": "function", "function": {"name": "a"}}],
      "tool_choice": {"type": "function", "function": {"name": "b"}}}, "tool_choice"),
])
def test_bad_options_are_refused(kw, param):
    with pytest.raises(InvalidRequestError) as info:
        cv.chat_request(request({"role": "user", "content": "Hi"}, **kw))
    assert info.value.param == param


def test_audio_parts_are_refused():
    with pytest.raises(InvalidRequestError, match="text and image_url"):
        cv.chat_request(request({"role": "user", "content": [
            {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}]}))


def test_tool_choice_none_keeps_tools_when_the_history_uses_them():
    tools = [{"type": "function", "function": {"name": "f"}}]
    call = ToolCall.from_raw(id="t1", name="f", arguments_raw="{}")
    kw = cv.chat_request(request({"role": "user", "content": "Hi"},
                                 {"role": "assistant", "tool_calls": [call]},
                                 {"role": "tool", "tool_call_id": "t1", "content": "ok"},
                                 tools=tools, tool_choice="none"))
    assert kw["toolConfig"]["tools"][0]["toolSpec"]["name"] == "f"


def test_usage_sums_cache_tokens_into_the_prompt():
    assert cv.usage_from({"inputTokens": 5, "outputTokens": 2, "cacheReadInputTokens": 100,
                          "cacheWriteInputTokens": 10, "totalTokens": 117}) == Usage(
        prompt_tokens=115, completion_tokens=2, total_tokens=117, cached_tokens=100,
        cache_write_tokens=10)
    assert cv.usage_from(None).source == "estimated"


def test_answer_without_a_message_is_malformed():
    with pytest.raises(ProviderResponseError):
        cv.chat_response({"output": {}}, provider="bedrock", model="m")


def test_redacted_reasoning_goes_back_as_bytes():
    resp = cv.chat_response({"output": {"message": {"role": "assistant", "content": [
        {"reasoningContent": {"redactedContent": b"\x00secret-blob"}}, {"text": "ok"}]}},
        "stopReason": "end_turn"}, provider="bedrock", model="m")
    assert resp.reasoning is None and resp.content == "ok"
    back = cv.chat_request(request({"role": "user", "content": "Hi"},
                                   {"role": "assistant", "content": "ok",
                                    "provider_data": resp.provider_data}))
    assert back["messages"][1]["content"][0] == {
        "reasoningContent": {"redactedContent": b"\x00secret-blob"}}


def test_stream_tool_delta_without_start_is_malformed(server):
    state = cv.BedrockStream(provider="bedrock", model="m")
    with pytest.raises(ProviderResponseError):
        state.feed({"contentBlockDelta": {"contentBlockIndex": 3,
                                          "delta": {"toolUse": {"input": "{}"}}}})


def test_misspelt_provider_option_fails_before_sending(server, mode):
    """boto3 checks the arguments against the service model: a wrong field in
    provider_options is an InvalidRequestError and nothing reaches the server."""
    import asyncio

    with router_for(server) as router, pytest.raises(InvalidRequestError, match="Unknown"):
        kw = {"model": "bedrock/amazon.nova-pro-v1:0",
              "messages": [{"role": "user", "content": "Hi"}],
              "provider_options": {"inferenceConfg": {"maxTokens": 3}}}
        if mode == "sync":
            router.chat(**kw)
        else:
            asyncio.run(router.achat(**kw))
    assert server.hits == 0

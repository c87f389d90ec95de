"""Gemini chat end to end: the real google-genai SDK through the router against the Gemini wire
server (sync and async): plain chat, streaming, tools (single, parallel, streamed), multi-turn
tool use with thought signatures, images, request shape, usage and cost."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from decimal import Decimal

import pytest
from google_wire import (
    API_KEY,
    PNG_B64,
    GeminiWire,
    b64,
    camel,
    error,
    fc_part,
    response,
    sse,
    text_response,
    unb64,
    usage,
)
from loopback import Recorded, Reply
from parity import MODES, call, stream
from sdk_paths import sdk_path  # noqa: F401 - autouse: every test on both SDK paths

from cencori_core import Router

MSG = [{"role": "user", "content": "Hello Gemini"}]
WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                   "required": ["city"], "additionalProperties": False}}}
TIME = {"type": "function", "function": {
    "name": "get_time", "parameters": {"type": "object", "properties": {
        "tz": {"type": ["string", "null"]}}}}}


@pytest.fixture
def wire() -> Iterator[GeminiWire]:
    with GeminiWire() as w:
        yield w


@pytest.fixture
def router(wire: GeminiWire) -> Iterator[Router]:
    r = Router(providers={"google": {"api_key": API_KEY, "base_url": wire.base_url}},
               plugins=["google"])
    yield r
    r.close()


# ---------------------------------------------------------------------------- plain chat


@pytest.mark.parametrize("mode", MODES)
def test_chat_request_shape_and_response(router: Router, wire: GeminiWire,
                                         mode: str) -> None:
    wire.reply("generateContent", text_response(
        "Hi there", use=usage(120, 8, thoughts=30, cached=100), response_id="resp-42"))
    r = call(router, mode, "chat", model="gemini-2.5-flash", messages=[
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hello Gemini"},
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": "How are you?"},
    ], temperature=0.3, top_p=0.9, max_tokens=50, stop=["END"], seed=7)
    assert r.content == "Hi there"
    assert r.finish_reason == "stop"
    assert r.id == "resp-42"
    assert (r.provider, r.model) == ("google", "gemini-2.5-flash")
    # prompt includes the 100 cached tokens; thoughts are billed as output
    assert (r.usage.prompt_tokens, r.usage.cached_tokens) == (120, 100)
    assert (r.usage.completion_tokens, r.usage.reasoning_tokens) == (38, 30)
    assert r.usage.total_tokens == 158 and r.usage.source == "provider"
    # genai-prices for gemini-2.5-flash: input 0.30, cache read 0.03, output 2.50 per million
    assert r.cost is not None
    assert r.cost.input == (Decimal(20) * Decimal("0.3") + Decimal(100) * Decimal("0.03")) / 10**6
    assert r.cost.output == Decimal(38) * Decimal("2.5") / 10**6

    rec = wire.last("generateContent")
    assert rec.path == "/v1/models/gemini-2.5-flash:generateContent"
    assert rec.headers["x-goog-api-key"] == API_KEY
    body = rec.json
    assert body["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    assert body["contents"] == [
        {"role": "user", "parts": [{"text": "Hello Gemini"}]},
        {"role": "model", "parts": [{"text": "Hello!"}]},
        {"role": "user", "parts": [{"text": "How are you?"}]},
    ]
    assert body["generationConfig"] == {"temperature": 0.3, "topP": 0.9, "maxOutputTokens": 50,
                                        "stopSequences": ["END"], "seed": 7}
    assert "tools" not in body


@pytest.mark.parametrize("mode", MODES)
def test_chat_json_mode_and_provider_options(router: Router, wire: GeminiWire,
                                             mode: str) -> None:
    wire.reply("generateContent", text_response('{"ok": true}'))
    schema = {"type": "object", "properties": {"ok": {"type": "boolean"}}}
    r = call(router, mode, "chat", model="gemini-2.5-flash", messages=MSG,
             response_format={"type": "json_schema", "json_schema": {"name": "x",
                                                                     "schema": schema}},
             provider_options={"thinking_config": {"thinking_budget": 0}, "top_k": 5,
                               "safety_settings": [{"category": "HARM_CATEGORY_HATE_SPEECH",
                                                    "threshold": "BLOCK_NONE"}]})
    assert r.content == '{"ok": true}'
    gen = camel(wire.last("generateContent").json["generationConfig"])
    assert gen["responseMimeType"] == "application/json"
    assert gen["responseJsonSchema"] == schema
    assert gen["thinkingConfig"] == {"thinkingBudget": 0}
    assert gen["topK"] == 5
    assert camel(wire.last("generateContent").json["safetySettings"]) == [
        {"category": "HARM_CATEGORY_HATE_SPEECH", "threshold": "BLOCK_NONE"}]


@pytest.mark.parametrize("mode", MODES)
def test_reasoning_text_is_exposed(router: Router, wire: GeminiWire, mode: str) -> None:
    wire.reply("generateContent", response(
        [{"text": "Let me think.", "thought": True}, {"text": "42"}],
        use=usage(10, 2, thoughts=4)))
    r = call(router, mode, "chat", model="gemini-2.5-pro", messages=MSG,
             provider_options={"thinking_config": {"include_thoughts": True}})
    assert (r.content, r.reasoning) == ("42", "Let me think.")
    assert r.usage.reasoning_tokens == 4


@pytest.mark.parametrize("mode", MODES)
def test_max_tokens_and_safety_finish_reasons(router: Router, wire: GeminiWire,
                                              mode: str) -> None:
    wire.reply("generateContent", text_response("cut", finish="MAX_TOKENS"),
                      response([], finish="SAFETY", use=usage(5)))
    assert call(router, mode, "chat", model="gemini-2.5-flash",
                messages=MSG).finish_reason == "length"
    r = call(router, mode, "chat", model="gemini-2.5-flash", messages=MSG)
    assert (r.content, r.finish_reason) == ("", "content_filter")


# ---------------------------------------------------------------------------- streaming


@pytest.mark.parametrize("mode", MODES)
def test_stream_text_usage_and_request(router: Router, wire: GeminiWire,
                                       mode: str) -> None:
    wire.reply("streamGenerateContent", sse([
        response([{"text": "The "}], finish=None, use=usage(12), response_id="s-1"),
        response([{"text": "sky is "}], finish=None, use=usage(12), response_id="s-1"),
        response([{"text": "blue."}], use=usage(12, 5, thoughts=7), response_id="s-1"),
    ]))
    chunks, s = stream(router, mode, model="gemini-2.5-flash", messages=MSG, max_tokens=20)
    assert [c.delta for c in chunks if c.delta] == ["The ", "sky is ", "blue."]
    final = s.response
    assert final.content == "The sky is blue."
    assert final.finish_reason == "stop"
    assert final.id == "s-1"
    assert (final.usage.prompt_tokens, final.usage.completion_tokens) == (12, 12)
    assert final.usage.reasoning_tokens == 7 and final.usage.source == "provider"
    assert final.cost is not None and final.cost.total > 0
    rec = wire.last("streamGenerateContent")
    assert rec.path == "/v1/models/gemini-2.5-flash:streamGenerateContent"
    assert rec.query == {"alt": ["sse"]}
    assert rec.json["generationConfig"] == {"maxOutputTokens": 20}


@pytest.mark.parametrize("mode", MODES)
def test_stream_reasoning_deltas(router: Router, wire: GeminiWire, mode: str) -> None:
    wire.reply("streamGenerateContent", sse([
        response([{"text": "Thinking about it", "thought": True}], finish=None, use=usage(3)),
        response([{"text": "Answer"}], use=usage(3, 1, thoughts=6)),
    ]))
    chunks, s = stream(router, mode, model="gemini-2.5-flash", messages=MSG)
    assert [c.reasoning for c in chunks if c.reasoning] == ["Thinking about it"]
    assert (s.response.content, s.response.reasoning) == ("Answer", "Thinking about it")


# ---------------------------------------------------------------------------- tools


@pytest.mark.parametrize("mode", MODES)
def test_single_tool_call(router: Router, wire: GeminiWire, mode: str) -> None:
    wire.reply("generateContent", response(
        [fc_part("get_weather", {"city": "Paris"}, id="fc-1")], use=usage(30, 10)))
    r = call(router, mode, "chat", model="gemini-2.5-flash", messages=MSG, tools=[WEATHER],
             tool_choice="required")
    assert r.finish_reason == "tool_calls"
    assert r.content is None
    [tc] = r.tool_calls
    assert (tc.id, tc.name, tc.arguments) == ("fc-1", "get_weather", {"city": "Paris"})
    assert json.loads(tc.arguments_raw) == {"city": "Paris"}
    body = wire.last("generateContent").json
    [decl] = body["tools"][0]["functionDeclarations"]
    assert decl["name"] == "get_weather" and decl["description"] == "Weather for a city"
    # the JSON schema goes through untouched (additionalProperties, required, ...)
    assert decl["parameters_json_schema"] == WEATHER["function"]["parameters"]
    assert body["toolConfig"] == {"functionCallingConfig": {"mode": "ANY"}}


@pytest.mark.parametrize("mode", MODES)
def test_named_tool_choice_and_parallel_calls(router: Router, wire: GeminiWire,
                                              mode: str) -> None:
    wire.reply("generateContent", response([
        {"text": "Checking both."},
        fc_part("get_weather", {"city": "Paris"}),
        fc_part("get_time", {"tz": "Europe/Paris"}),
    ]))
    r = call(router, mode, "chat", model="gemini-2.5-flash", messages=MSG,
             tools=[WEATHER, TIME], tool_choice={"type": "function",
                                                 "function": {"name": "get_time"}})
    assert r.content == "Checking both."
    assert [tc.name for tc in r.tool_calls] == ["get_weather", "get_time"]
    assert r.tool_calls[1].arguments == {"tz": "Europe/Paris"}
    # Gemini gave no ids: ours are unique
    assert len({tc.id for tc in r.tool_calls}) == 2
    assert wire.last("generateContent").json["toolConfig"] == {
        "functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_time"]}}


@pytest.mark.parametrize("mode", MODES)
def test_streamed_parallel_tool_calls(router: Router, wire: GeminiWire,
                                      mode: str) -> None:
    wire.reply("streamGenerateContent", sse([
        response([{"text": "Let me look."}], finish=None, use=usage(9)),
        response([fc_part("get_weather", {"city": "Oslo"}, signature=b"sig-A")], finish=None,
                 use=usage(9)),
        response([fc_part("get_time", {"tz": "CET"})], use=usage(9, 14)),
    ]))
    chunks, s = stream(router, mode, model="gemini-2.5-flash", messages=MSG,
                       tools=[WEATHER, TIME])
    deltas = [d for c in chunks for d in c.tool_calls]
    assert [(d.index, d.name) for d in deltas] == [(0, "get_weather"), (1, "get_time")]
    final = s.response
    assert final.finish_reason == "tool_calls"
    assert final.content == "Let me look."
    assert [tc.arguments for tc in final.tool_calls] == [{"city": "Oslo"}, {"tz": "CET"}]
    assert final.tool_calls[0].provider_data == {
        "google": {"thought_signature": b64(b"sig-A")}}
    assert final.tool_calls[1].provider_data is None
    assert final.usage.completion_tokens == 14


def _requires_signature(expected: bytes):
    """A Gemini 3 server: turn two must carry the signature of turn one's call."""
    def handler(rec: Recorded) -> Reply:
        contents = rec.json["contents"]
        model_turn = contents[1]
        call_part = model_turn["parts"][-1]
        if unb64(call_part.get("thoughtSignature", "")) != expected:
            return error(400, "INVALID_ARGUMENT",
                         "Function call is missing a thought_signature in functionCall parts.")
        return Reply.json(text_response("It is 21C in Paris.", use=usage(60, 9)))
    return handler


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("streamed", [False, True], ids=["json", "sse"])
def test_multi_turn_tool_use_sends_signatures_back(router: Router, wire: GeminiWire,
                                                   mode: str, streamed: bool) -> None:
    sig, text_sig = b"\x01opaque-signature\xff", b"text-sig"
    first = response([{"text": "Calling the tool.", "thoughtSignature": b64(text_sig)},
                      fc_part("get_weather", {"city": "Paris"}, id="call-xyz", signature=sig)],
                     use=usage(20, 7))
    messages: list = [{"role": "user", "content": "Weather in Paris?"}]
    if streamed:
        wire.reply("streamGenerateContent", sse([first]))
        _, s = stream(router, mode, model="gemini-3-pro-preview", messages=messages,
                      tools=[WEATHER])
        r1 = s.response
    else:
        wire.reply("generateContent", first)
        r1 = call(router, mode, "chat", model="gemini-3-pro-preview", messages=messages,
                  tools=[WEATHER])
    assert r1.message.provider_data == {"google": {"thought_signature": b64(text_sig)}}
    messages += [r1.message,
                 {"role": "tool", "tool_call_id": r1.tool_calls[0].id,
                  "content": json.dumps({"temp_c": 21})}]
    wire.reply("generateContent", _requires_signature(sig))
    r2 = call(router, mode, "chat", model="gemini-3-pro-preview", messages=messages,
              tools=[WEATHER])
    assert r2.content == "It is 21C in Paris."
    contents = wire.last("generateContent").json["contents"]
    text_part, call_part = contents[1]["parts"]
    assert contents[1]["role"] == "model"
    assert text_part["text"] == "Calling the tool."
    assert unb64(text_part["thoughtSignature"]) == text_sig
    assert call_part["functionCall"] == {"id": "call-xyz", "name": "get_weather",
                                         "args": {"city": "Paris"}}
    assert unb64(call_part["thoughtSignature"]) == sig
    assert contents[2] == {"role": "user", "parts": [{"functionResponse": {
        "id": "call-xyz", "name": "get_weather", "response": {"temp_c": 21}}}]}


@pytest.mark.parametrize("mode", MODES)
def test_parallel_tool_results_form_one_turn(router: Router, wire: GeminiWire,
                                             mode: str) -> None:
    wire.reply("generateContent", response([
        fc_part("get_weather", {"city": "Rome"}, signature=b"only-first"),
        fc_part("get_time", {"tz": "CET"}),
    ]))
    r1 = call(router, mode, "chat", model="gemini-2.5-flash", messages=MSG,
              tools=[WEATHER, TIME])
    a, b = r1.tool_calls
    messages = [*MSG, r1.message,
                {"role": "tool", "tool_call_id": a.id, "content": "sunny"},
                {"role": "tool", "tool_call_id": b.id, "content": "10:00"}]
    call(router, mode, "chat", model="gemini-2.5-flash", messages=messages,
         tools=[WEATHER, TIME])
    contents = wire.last("generateContent").json["contents"]
    assert len(contents) == 3
    # made-up ids are never sent to Gemini; only the first call carried a signature
    first, second = contents[1]["parts"]
    assert first["functionCall"] == {"name": "get_weather", "args": {"city": "Rome"}}
    assert unb64(first["thoughtSignature"]) == b"only-first"
    assert second == {"functionCall": {"name": "get_time", "args": {"tz": "CET"}}}
    assert contents[2] == {"role": "user", "parts": [
        {"functionResponse": {"name": "get_weather", "response": {"output": "sunny"}}},
        {"functionResponse": {"name": "get_time", "response": {"output": "10:00"}}},
    ]}


# ---------------------------------------------------------------------------- images in


@pytest.mark.parametrize("mode", MODES)
def test_image_parts_become_inline_and_file_data(router: Router, wire: GeminiWire,
                                                 mode: str) -> None:
    r = call(router, mode, "chat", model="gemini-2.5-flash", messages=[{"role": "user", "content": [
        {"type": "text", "text": "Compare"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG_B64}"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.webp"}},
    ]}])
    assert r.content == "echo: Compare"
    parts = wire.last("generateContent").json["contents"][0]["parts"]
    assert parts[0] == {"text": "Compare"}
    inline = camel(parts[1])["inlineData"]
    assert unb64(inline["data"]) == base64.b64decode(PNG_B64)
    assert inline["mimeType"] == "image/png"
    assert camel(parts[2]) == {"fileData": {"fileUri": "https://example.com/cat.webp",
                                            "mimeType": "image/webp"}}


def test_response_to_dict_and_openai_shape(router: Router, wire: GeminiWire) -> None:
    wire.reply("generateContent", response(
        [fc_part("get_weather", {"city": "Lima"}, id="c1", signature=b"s")], use=usage(4, 2)))
    r = router.chat(model="gemini-2.5-flash", messages=MSG, tools=[WEATHER])
    d = r.to_dict()
    json.dumps(d)  # JSON-safe, signature included as base64 text
    assert d["tool_calls"][0]["provider_data"] == {"google": {"thought_signature": b64(b"s")}}
    oa = r.to_openai()
    assert oa["choices"][0]["finish_reason"] == "tool_calls"
    assert oa["choices"][0]["message"]["tool_calls"][0]["function"]["name"] == "get_weather"


# ---------------------------------------------------------------------------- past the SDK's models


@pytest.mark.parametrize("mode", MODES)
def test_raw_answers_continuation_and_url_safe_signatures(router: Router, wire: GeminiWire,
                                                         mode: str,
                                                         request: pytest.FixtureRequest) -> None:
    from google.genai import types

    fast = request.node.callspec.params["sdk_path"] == "fast"

    # an answer cut off with a continuation token is completed by the SDK's own helpers
    first = response([{"text": "one "}], finish="CONTINUATION", use=usage(4, 1))
    first["candidates"][0]["continuationToken"] = base64.b64encode(b"cp").decode()
    wire.reply("generateContent", first, response([{"text": "two"}], use=usage(4, 2)))
    r = call(router, mode, "chat", model="gemini-2.5-flash", messages=MSG)
    assert (r.content, r.finish_reason, r.usage.total_tokens) == ("one two", "stop", 11)
    assert len(wire.requests) == 2
    # fast: a plain answer is parsed from the API's JSON, raw is the SDK's HttpResponse;
    # public: the SDK's response object
    sig = b"\xff\xfe-sig"
    part = fc_part("f", {"x": 1}, signature=sig)
    part["thoughtSignature"] = base64.urlsafe_b64encode(sig).decode()  # "__4tc2ln"
    wire.reply("generateContent", response([part]))
    r = call(router, mode, "chat", model="gemini-2.5-flash", messages=MSG)
    assert isinstance(r.raw, types.HttpResponse if fast else types.GenerateContentResponse)
    assert r.tool_calls[0].arguments == {"x": 1}
    # the signature is kept in the standard base64 alphabet ("//4tc2ln"), as the SDK would
    assert r.tool_calls[0].provider_data == {
        "google": {"thought_signature": base64.b64encode(sig).decode()}}

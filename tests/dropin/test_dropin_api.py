"""The drop-in's surface on the echo provider: every endpoint, the SDK's own types, raw and
streaming responses, models, keyword mapping and refusals, projects, records; sync and async."""

from __future__ import annotations

import asyncio
import base64
import json
import struct
import subprocess
import sys
from typing import Any

import openai
import pytest

from cencori_core import ChatChunk, Router, ToolCallDelta, Usage
from cencori_core.dropin import PLACEHOLDER_URL
from cencori_core.testing import FakeProvider, UsageRecorder

MSGS = [{"role": "user", "content": "hello there"}]


@pytest.fixture
def rec() -> UsageRecorder:
    return UsageRecorder()


@pytest.fixture
def router(rec: UsageRecorder) -> Any:
    r = Router(load_entrypoints=False, plugins=[rec])
    yield r
    r.close()


def test_the_clients_are_real_openai_clients(router: Router) -> None:
    c, a = router.openai_client(), router.async_openai_client()
    assert isinstance(c, openai.OpenAI) and isinstance(a, openai.AsyncOpenAI)
    assert c.max_retries == 0 and a.max_retries == 0
    assert str(c.base_url).rstrip("/") == PLACEHOLDER_URL


def test_chat_and_its_record(router: Router, rec: UsageRecorder) -> None:
    resp = router.openai_client().chat.completions.create(model="echo/echo", messages=MSGS)
    assert isinstance(resp, openai.types.chat.ChatCompletion)
    assert resp.choices[0].message.content == "echo: hello there"
    assert resp.id and resp.created > 0 and resp.model == "echo"
    assert resp.usage is not None and resp.usage.prompt_tokens == 2
    assert rec.statuses == ["ok"] and rec.last is not None and rec.last.operation == "chat"


def test_async_chat_and_stream(router: Router, rec: UsageRecorder) -> None:
    async def run() -> tuple[Any, list[Any]]:
        async with router.async_openai_client() as c:
            resp = await c.chat.completions.create(model="echo/echo", messages=MSGS)
            s = await c.chat.completions.create(model="echo/echo", messages=MSGS, stream=True,
                                                stream_options={"include_usage": True})
            return resp, [ch async for ch in s]

    resp, chunks = asyncio.run(run())
    assert resp.choices[0].message.content == "echo: hello there"
    assert chunks[0].choices[0].delta.role == "assistant"
    assert "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices) \
        == "echo: hello there"
    assert chunks[-1].choices == [] and chunks[-1].usage.total_tokens == 5
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert len({ch.id for ch in chunks}) == 1
    assert rec.statuses == ["ok", "ok"]


def test_stream_without_include_usage_sends_no_usage_chunk(router: Router) -> None:
    chunks = list(router.openai_client().chat.completions.create(
        model="echo/echo", messages=MSGS, stream=True))
    assert all(ch.usage is None and ch.choices for ch in chunks)
    assert [ch.choices[0].finish_reason for ch in chunks].count("stop") == 1


def test_leaving_a_stream_early_is_recorded_as_cancelled(router: Router,
                                                         rec: UsageRecorder) -> None:
    with router.openai_client().chat.completions.create(
            model="echo/echo", messages=[{"role": "user", "content": "a b c d e f"}],
            stream=True) as s:
        next(iter(s))
    assert rec.statuses == ["cancelled"]


def test_raw_and_streaming_responses(router: Router) -> None:
    c = router.openai_client()
    raw = c.chat.completions.with_raw_response.create(model="echo/echo", messages=MSGS)
    assert raw.status_code == 200 and raw.headers["content-type"] == "application/json"
    assert raw.parse().choices[0].message.content == "echo: hello there"
    with c.chat.completions.with_streaming_response.create(model="echo/echo",
                                                           messages=MSGS) as r:
        assert json.loads(r.read())["object"] == "chat.completion"
    with c.chat.completions.with_streaming_response.create(
            model="echo/echo", messages=MSGS, stream=True) as r:
        lines = [line for line in r.iter_lines() if line]
    assert lines[-1] == "data: [DONE]"


def test_tool_calls_stream_in_openai_chunks() -> None:
    from cencori_core.testing import reply, tool_call

    fake = FakeProvider(models=["m"])
    fake.script(reply(tool_calls=[tool_call("get_weather", {"city": "Oslo"}, id="call_1")]))
    with Router(providers={"fake": fake}, load_entrypoints=False) as r:
        chunks = list(r.openai_client().chat.completions.create(
            model="m", messages=MSGS, stream=True,
            tools=[{"type": "function", "function": {"name": "get_weather",
                                                     "parameters": {"type": "object"}}}]))
    deltas = [tc for ch in chunks for tc in (ch.choices[0].delta.tool_calls or [])]
    assert deltas[0].id == "call_1" and deltas[0].function.name == "get_weather"
    assert json.loads("".join(d.function.arguments or "" for d in deltas)) == {"city": "Oslo"}
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_embeddings_float_and_base64(router: Router) -> None:
    c = router.openai_client()
    floats = c.embeddings.create(model="echo/echo", input=["a b", "c"], encoding_format="float")
    default = c.embeddings.create(model="echo/echo", input=["a b", "c"])  # the SDK asks base64
    assert isinstance(floats, openai.types.CreateEmbeddingResponse)
    assert len(floats.data) == 2 and floats.usage.prompt_tokens == 3
    for f, d in zip(floats.data, default.data, strict=True):
        assert d.embedding == pytest.approx(f.embedding, rel=1e-6)
    raw = c.embeddings.with_raw_response.create(model="echo/echo", input="x",
                                                encoding_format="base64", dimensions=4)
    b64 = json.loads(raw.text)["data"][0]["embedding"]
    assert len(struct.unpack("<4f", base64.b64decode(b64))) == 4


def test_images_speech_transcription_moderation(router: Router) -> None:
    c = router.openai_client()
    img = c.images.generate(model="echo/echo", prompt="a cat", n=2)
    assert len(img.data) == 2 and base64.b64decode(img.data[0].b64_json or "")[:4] == b"\x89PNG"
    url = c.images.generate(model="echo/echo", prompt="a cat", response_format="url")
    assert (url.data[0].url or "").startswith("data:image/png;base64,")
    speech = c.audio.speech.create(model="echo/echo", input="hi", voice="alloy",
                                   response_format="wav")
    assert speech.content[:4] == b"RIFF"
    assert speech.response.headers["content-type"] == "audio/wav"
    tr = c.audio.transcriptions.create(model="echo/echo", file=("a.wav", speech.content),
                                       language="en")
    assert tr.text == f"echo: {len(speech.content)} bytes of audio"
    text = c.audio.transcriptions.create(model="echo/echo", file=("a.wav", speech.content),
                                         response_format="text")
    assert text == tr.text
    verbose = c.audio.transcriptions.create(model="echo/echo", file=("a.wav", speech.content),
                                            response_format="verbose_json")
    assert verbose.language == "en" and verbose.duration == pytest.approx(0.25)
    mod = c.moderations.create(model="echo/echo", input=["a", "b"])
    assert [r.flagged for r in mod.results] == [False, False]


def test_async_operations(router: Router) -> None:
    async def run() -> None:
        async with router.async_openai_client() as c:
            e = await c.embeddings.create(model="echo/echo", input="a")
            assert len(e.data[0].embedding) == 8
            i = await c.images.generate(model="echo/echo", prompt="p")
            assert i.data[0].b64_json
            s = await c.audio.speech.create(model="echo/echo", input="hi", voice="v")
            t = await c.audio.transcriptions.create(model="echo/echo", file=("a.wav", s.content))
            assert t.text.startswith("echo:")
            m = await c.moderations.create(model="echo/echo", input="x")
            assert m.results[0].flagged is False
            assert [x.id async for x in c.models.list()] == ["echo"]

    asyncio.run(run())


def test_models_list_and_retrieve(router: Router) -> None:
    c = router.openai_client()
    assert [(m.id, m.owned_by) for m in c.models.list()] == [("echo", "echo")]
    assert c.models.retrieve("echo").owned_by == "echo"
    assert c.models.retrieve("echo/echo").id == "echo/echo"
    with pytest.raises(openai.NotFoundError):
        c.models.retrieve("no-such-model")


def test_keywords_map_generically_and_refusals_name_the_keyword() -> None:
    fake = FakeProvider(models=["m"])
    with Router(providers={"fake": fake}, load_entrypoints=False) as r:
        c = r.openai_client()
        c.chat.completions.create(
            model="m", messages=MSGS, max_completion_tokens=7, n=1, presence_penalty=0,
            seed=3, stop=["x"], top_p=0.5, user="u1", metadata={"k": "v"},
            extra_body={"provider_options": {"fake_flag": True}})
        req = fake.last_request
        assert (req.max_tokens, req.seed, req.stop, req.top_p, req.user) == (7, 3, ["x"], 0.5,
                                                                             "u1")
        assert req.metadata == {"k": "v"} and req.provider_options == {"fake_flag": True}
        with pytest.raises(openai.BadRequestError) as info:
            c.chat.completions.create(model="m", messages=MSGS,
                                      extra_body={"made_up_param": 1})
        assert info.value.param == "made_up_param"
        assert "provider_options" in info.value.message
        with pytest.raises(openai.BadRequestError) as info:
            c.chat.completions.create(model="m", messages=None)  # type: ignore[arg-type]
        assert info.value.param == "messages"
        assert len(fake.calls) == 1  # refused before anything was sent


def test_project_keys_and_the_project_header() -> None:
    rec = UsageRecorder()
    with Router(load_entrypoints=False, plugins=[rec]) as r:
        key = r.projects.create("acme", providers=["echo"])
        r.openai_client(api_key=key).chat.completions.create(model="echo/echo", messages=MSGS)
        r.openai_client(project="acme").chat.completions.create(model="echo/echo",
                                                                messages=MSGS)
        with pytest.raises(openai.AuthenticationError):
            r.openai_client(api_key="csk_revoked_or_unknown_0000").chat.completions.create(
                model="echo/echo", messages=MSGS)
    assert [x.project for x in rec.records[:2]] == ["acme", "acme"]


def test_the_client_refuses_sdk_retries_and_foreign_http_clients(router: Router) -> None:
    from cencori_core import InvalidRequestError

    with pytest.raises(InvalidRequestError, match="max_retries"):
        router.openai_client(max_retries=2)
    with pytest.raises(InvalidRequestError, match="http_client"):
        router.async_openai_client(http_client=object())
    assert router.openai_client(max_retries=0).max_retries == 0


def test_unknown_paths_are_404(router: Router) -> None:
    with pytest.raises(openai.NotFoundError):
        router.openai_client().files.list()


def test_import_loads_neither_openai_nor_httpx() -> None:
    code = ("import sys, cencori_core\nfrom cencori_core import Router\nr = Router()\n"
            "r.openai_client\nassert not [m for m in sys.modules if m.split('.')[0] in "
            "('openai', 'httpx', 'httpx2', 'cencori_core.dropin')], sys.modules\n")
    subprocess.run([sys.executable, "-c", code], check=True)


# ---------------------------------------------------------------------------- ChatChunk.to_openai


def test_chunk_to_openai_shapes() -> None:
    text = ChatChunk(delta="Hi", id="c1", model="m").to_openai()
    assert text == {"id": "c1", "object": "chat.completion.chunk", "created": 0, "model": "m",
                    "choices": [{"index": 0, "delta": {"content": "Hi"}, "finish_reason": None,
                                 "logprobs": None}]}
    tool = ChatChunk(tool_calls=[ToolCallDelta(index=0, id="t", name="f", arguments='{"a"'),
                                 ToolCallDelta(index=0, arguments=": 1}")]).to_openai()
    calls = tool["choices"][0]["delta"]["tool_calls"]
    assert calls[0] == {"index": 0, "id": "t", "type": "function",
                        "function": {"name": "f", "arguments": '{"a"'}}
    assert calls[1] == {"index": 0, "function": {"arguments": ": 1}"}}
    usage = ChatChunk(usage=Usage.of(3, 2)).to_openai()
    assert usage["choices"] == [] and usage["usage"]["total_tokens"] == 5
    fin = ChatChunk(finish_reason="length", reasoning="hm").to_openai()
    assert fin["choices"][0]["finish_reason"] == "length"
    assert fin["choices"][0]["delta"] == {"reasoning_content": "hm"}
    # the SDK's own type accepts every shape
    for d in (text, tool, usage, fin):
        openai.types.chat.ChatCompletionChunk.model_validate(d)


def test_image_parts_and_tool_messages_reach_the_provider_as_sent() -> None:
    fake = FakeProvider(models=["m"])
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
    with Router(providers={"fake": fake}, load_entrypoints=False) as r:
        r.openai_client().chat.completions.create(model="m", messages=[
            {"role": "user", "content": [{"type": "text", "text": "what is this?"}, image]},
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": "c1", "type": "function",
                 "function": {"name": "look", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "a pixel"}])
    msgs = fake.last_request.messages
    assert msgs[0].content[1] == image
    assert msgs[1].tool_calls[0].name == "look" and msgs[2].tool_call_id == "c1"

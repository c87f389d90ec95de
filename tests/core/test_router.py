"""The router pipeline, through both the sync and the async driver (parity)."""

from __future__ import annotations

import dataclasses
import json

import pytest
from parity import MODES, call, raises, stream

from cencori_core import (
    ChatChunk,
    ChatResponse,
    InvalidRequestError,
    PluginError,
    PolicyViolationError,
    ProviderConnectionError,
    Router,
    Usage,
    hookimpl,
)
from cencori_core.errors import ConfigurationError
from cencori_core.testing import FakeProvider, UsageRecorder, no_network, reply, tool_call

USER = [{"role": "user", "content": "Hello there"}]


@pytest.fixture
def fake():
    return FakeProvider(name="fake", models=["fake-model"], prefixes=("fk-",))


@pytest.fixture
def sink():
    return UsageRecorder()


@pytest.fixture
def router(fake, sink):
    r = Router(providers={"fake": fake}, load_entrypoints=False, plugins=[sink])
    yield r
    r.close()


@pytest.mark.parametrize("mode", MODES)
def test_chat_echo(mode):
    r = call(Router(load_entrypoints=False), mode, "chat", model="echo/echo", messages=USER)
    assert r.content == "echo: Hello there"
    assert r.finish_reason == "stop"
    assert r.provider == "echo" and r.model == "echo"
    assert r.usage == Usage(prompt_tokens=2, completion_tokens=3, total_tokens=5)
    assert r.cost is None  # echo is unpriced: None, never 0
    assert len(r.attempts) == 1 and r.attempts[0].status == "ok"
    assert r.id.startswith("req_") and r.latency_ms > 0 and r.created > 0


@pytest.mark.parametrize("mode", MODES)
def test_stream_assembles_response(mode):
    chunks, s = stream(Router(load_entrypoints=False), mode, model="echo", messages=USER)
    assert "".join(c.delta for c in chunks) == "echo: Hello there"
    # the usage event is folded into the response, never yielded as an empty delta
    assert all(not c.is_empty for c in chunks)
    assert s.response.content == "echo: Hello there"
    assert s.response.usage.total_tokens == 5 and s.response.usage.source == "provider"


@pytest.mark.parametrize("mode", MODES)
def test_stream_tool_calls_assembled_by_index(mode, router, fake):
    fake.script(reply(tool_calls=[tool_call("get_weather", {"city": "Paris"}, id="c1"),
                                  tool_call("get_time", {"tz": "CET"}, id="c2")]))
    tools = [{"type": "function", "function": {"name": n, "parameters": {"type": "object"}}}
             for n in ("get_weather", "get_time")]
    chunks, s = stream(router, mode, model="fake-model", messages=USER, tools=tools)
    assert any(c.tool_calls for c in chunks)
    calls = s.response.tool_calls
    assert [(c.id, c.name, c.arguments) for c in calls] == [
        ("c1", "get_weather", {"city": "Paris"}), ("c2", "get_time", {"tz": "CET"})]
    assert s.response.finish_reason == "tool_calls"


@pytest.mark.parametrize("mode", MODES)
def test_every_operation_on_echo(mode):
    router = Router(load_entrypoints=False)
    e = call(router, mode, "embed", "echo", ["a", "b"], dimensions=4)
    assert len(e.vectors) == 2 and len(e.vectors[0]) == 4
    assert e.vectors == call(router, mode, "embed", "echo", ["a", "b"], dimensions=4).vectors
    img = call(router, mode, "generate_image", "echo", "a cat", n=2)
    assert len(img.images) == 2 and img.images[0].data.startswith(b"\x89PNG")
    sp = call(router, mode, "speech", "echo", "hello", voice="alloy")
    assert sp.audio[:4] == b"RIFF" and sp.format == "wav"
    tr = call(router, mode, "transcribe", "echo", sp.audio, language="en")
    assert tr.text.startswith("echo:") and tr.duration == pytest.approx(0.25)
    mod = call(router, mode, "moderate", "echo", ["fine", "also fine"])
    assert mod.flagged is False and len(mod.results) == 2


def test_transcribe_accepts_path_and_file_object(tmp_path):
    router = Router(load_entrypoints=False)
    audio = router.speech("echo", "hi", voice="v").audio
    p = tmp_path / "a.wav"
    p.write_bytes(audio)
    assert router.transcribe("echo", str(p)).duration == pytest.approx(0.25)
    with open(p, "rb") as fh:
        assert router.transcribe("echo", fh).duration == pytest.approx(0.25)
    with pytest.raises(InvalidRequestError, match="cannot read"):
        router.transcribe("echo", str(tmp_path / "missing.wav"))


@pytest.mark.parametrize("mode", MODES)
def test_provider_options_and_params_reach_the_provider(mode, router, fake):
    call(router, mode, "chat", model="fake-model", messages=USER, temperature=0.2,
         max_tokens=5, stop="END", seed=7, user="u1", provider_options={"logprobs": True})
    req = fake.last_request
    assert req.model == "fake-model" and req.temperature == 0.2 and req.max_tokens == 5
    assert req.stop == ["END"] and req.seed == 7 and req.user == "u1"
    assert req.provider_options == {"logprobs": True}


@pytest.mark.parametrize("mode", MODES)
def test_unknown_keyword_is_invalid_request(mode, router, fake):
    err = raises(router, mode, "chat", InvalidRequestError, model="fake-model", messages=USER,
                 temprature=0.5)
    msg = str(err)
    assert "temprature" in msg and "temperature" in msg and "provider_options" in msg
    assert fake.calls == []


@pytest.mark.parametrize("mode", MODES)
def test_explicit_provider_name_sends_model_id(mode, router, fake):
    call(router, mode, "chat", model="fake/some/odd:id", messages=USER)
    assert fake.last_request.model == "some/odd:id"


# ------------------------------------------------------------------ hooks


class Rewrite:
    @hookimpl
    def cencori_pre_request(self, context):
        msgs = [dataclasses.replace(m, content=m.text.upper()) for m in context.request.messages]
        context.request = dataclasses.replace(context.request, messages=msgs)
        context.decide("rewrite", "upper", "redact", 1)


class Suffix:
    @hookimpl
    def cencori_post_response(self, context):
        context.response = dataclasses.replace(context.response,
                                               content=context.response.content + "!")


class Canned:
    @hookimpl
    def cencori_short_circuit(self, context):
        return ChatResponse(content="from cache", usage=Usage.of(1, 2))


class Block:
    @hookimpl
    def cencori_pre_request(self, context):
        raise PolicyViolationError("no", policy="block", rule="always")


@pytest.mark.parametrize("mode", MODES)
def test_pre_and_post_hooks(mode, fake, sink):
    router = Router(providers={"fake": fake}, load_entrypoints=False,
                    policies=[Rewrite(), Suffix()], plugins=[sink])
    r = call(router, mode, "chat", model="fake-model", messages=USER)
    assert fake.last_request.messages[0].content == "HELLO THERE"
    assert r.content == "echo: HELLO THERE!"
    assert [(d.policy, d.rule, d.action, d.count) for d in r.policy_decisions] == [
        ("rewrite", "upper", "redact", 1)]
    assert [rec.status for rec in sink.records] == ["ok"]


@pytest.mark.parametrize("mode", MODES)
def test_short_circuit_skips_provider(mode, fake, sink):
    router = Router(providers={"fake": fake}, load_entrypoints=False, policies=[Canned()],
                    plugins=[sink])
    r = call(router, mode, "chat", model="fake-model", messages=USER)
    assert r.content == "from cache" and fake.calls == []
    chunks, s = stream(router, mode, model="fake-model", messages=USER)
    assert "".join(c.delta for c in chunks) == "from cache"
    assert s.response.content == "from cache" and s.response.usage.total_tokens == 3
    assert fake.calls == [] and len(sink.records) == 2


@pytest.mark.parametrize("mode", MODES)
def test_block_records_blocked_and_sends_nothing(mode, fake, sink):
    router = Router(providers={"fake": fake}, load_entrypoints=False, policies=[Block()],
                    plugins=[sink])
    err = raises(router, mode, "chat", PolicyViolationError, model="fake-model", messages=USER)
    assert (err.policy, err.rule) == ("block", "always")
    raises(router, mode, "chat_stream", PolicyViolationError, model="fake-model", messages=USER)
    assert fake.calls == []
    assert [r.status for r in sink.records] == ["blocked", "blocked"]
    assert sink.records[0].cost is None


class Upper:
    @hookimpl
    def cencori_stream_chunk(self, context, chunk):
        if chunk.delta:
            return dataclasses.replace(chunk, delta=chunk.delta.upper())
        return None


class HoldAll:
    """Holds every text delta back and releases it all on the final chunk."""

    @hookimpl
    def cencori_stream_chunk(self, context, chunk):
        held = context.state.setdefault("held", [])
        if chunk.final:
            return [ChatChunk(delta="".join(held))] if held else None
        if chunk.delta:
            held.append(chunk.delta)
            return []
        return None


@pytest.mark.parametrize("mode", MODES)
def test_stream_chunk_hooks_are_chained(mode, fake):
    router = Router(providers={"fake": fake}, load_entrypoints=False,
                    policies=[HoldAll(), Upper()])
    chunks, s = stream(router, mode, model="fake-model", messages=USER)
    texts = [c.delta for c in chunks if c.delta]
    # list order: HoldAll first, then Upper sees the released text
    assert texts == ["ECHO: HELLO THERE"]
    assert s.response.content == "ECHO: HELLO THERE"


class AsyncHook:
    @hookimpl
    def cencori_pre_request(self, context):
        async def later():
            return None

        return later()


@pytest.mark.parametrize("mode", MODES)
def test_hook_returning_awaitable_is_plugin_error(mode, fake):
    router = Router(providers={"fake": fake}, load_entrypoints=False, plugins=[AsyncHook()])
    raises(router, mode, "chat", PluginError, model="fake-model", messages=USER)
    assert fake.calls == []


def test_async_def_hook_refused_at_registration():
    class AsyncDef:
        @hookimpl
        async def cencori_pre_request(self, context):
            return None

    with pytest.raises(PluginError, match="async"):
        Router(load_entrypoints=False, policies=[AsyncDef()])


# ------------------------------------------------------------------ records and errors


@pytest.mark.parametrize("mode", MODES)
def test_exactly_one_record_per_call(mode, router, fake, sink):
    call(router, mode, "chat", model="fake-model", messages=USER)
    fake.fail(400, "bad")
    raises(router, mode, "chat", Exception, model="fake-model", messages=USER)
    stream(router, mode, model="fake-model", messages=USER)
    stream(router, mode, model="fake-model", messages=USER, limit=1)  # stops early
    statuses = [r.status for r in sink.records]
    assert statuses == ["ok", "error", "ok", "cancelled"]
    assert sink.records[1].error == "ProviderBadRequestError"
    rec = sink.records[0]
    assert rec.operation == "chat" and rec.provider == "fake" and rec.model == "fake-model"
    assert rec.usage.total_tokens == 5 and rec.attempts[0].status == "ok"
    # records carry no prompt text
    assert "Hello" not in json.dumps([r.to_dict() for r in sink.records])


@pytest.mark.parametrize("mode", MODES)
def test_usage_estimated_when_provider_reports_none(mode, router, fake):
    fake.script(reply("a reply of some length"))
    r = call(router, mode, "chat", model="fake-model", messages=USER)
    assert r.usage.source == "estimated" and r.usage.completion_tokens > 0
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens


@pytest.mark.parametrize("mode", MODES)
def test_no_network_refuses_real_providers_only(mode):
    from cencori_core import Provider

    class Real(Provider):
        def chat(self, request):
            raise AssertionError("must not be called")

        async def achat(self, request):
            raise AssertionError("must not be called")

    router = Router(providers={"real": Real.__new__(Real)}, load_entrypoints=False)
    with no_network():
        assert call(router, mode, "chat", model="echo", messages=USER).content
        raises(router, mode, "chat", ProviderConnectionError, model="real/x", messages=USER)


@pytest.mark.parametrize("mode", MODES)
def test_close_closes_providers(mode, fake):
    import asyncio

    router = Router(providers={"fake": fake}, load_entrypoints=False)
    if mode == "sync":
        with router:
            pass
    else:
        async def run():
            async with router:
                pass

        asyncio.run(run())
    assert fake.closed
    with pytest.raises(ConfigurationError, match="closed"):
        router.chat(model="fake-model", messages=USER)


def test_response_shapes():
    router = Router(load_entrypoints=False)
    r = router.chat(model="echo", messages=USER)
    d = r.to_dict()
    json.dumps(d)  # JSON-safe
    assert d["content"] == r.content and "raw" not in d and d["usage"]["total_tokens"] == 5
    o = r.to_openai()
    assert o["object"] == "chat.completion"
    assert o["choices"][0]["message"] == {"role": "assistant", "content": r.content}
    # the message can be appended to the conversation and sent again
    again = router.chat(model="echo", messages=[*USER, r.message,
                                                {"role": "user", "content": "more"}])
    assert again.content == "echo: more"


@pytest.mark.parametrize("mode", MODES)
def test_abandoned_stream_is_recorded_cancelled(mode, router, sink):
    import gc

    if mode == "sync":
        s = router.chat_stream(model="fake-model", messages=USER)
        next(iter(s))
    else:
        s = router.achat_stream(model="fake-model", messages=USER)
    del s
    gc.collect()
    assert [r.status for r in sink.records] == ["cancelled"]


class BlockResponse:
    @hookimpl
    def cencori_post_response(self, context):
        raise PolicyViolationError("no", policy="out", rule="r")


@pytest.mark.parametrize("mode", MODES)
def test_response_side_block_keeps_the_charged_usage(mode, fake, sink):
    router = Router(providers={"fake": fake}, load_entrypoints=False,
                    policies=[BlockResponse()], plugins=[sink])
    raises(router, mode, "chat", PolicyViolationError, model="fake-model", messages=USER)
    raises(router, mode, "chat_stream", PolicyViolationError, model="fake-model", messages=USER)
    assert [r.status for r in sink.records] == ["blocked", "blocked"]
    assert all(r.usage.total_tokens == 5 and r.usage.source == "provider" for r in sink.records)

"""Usage normalization, stream/non-stream parity of usage and cost, and one record per logical
call with its usage and cost whatever happened (ok, blocked after the response, cancelled,
interrupted)."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from parity import MODES, call, stream

from cencori_core import (
    ChatChunk,
    EmbeddingResponse,
    PolicyViolationError,
    ProviderBadRequestError,
    Router,
    StreamInterruptedError,
    Transcription,
    Usage,
    hookimpl,
)
from cencori_core.accounting.usage import finalize_usage
from cencori_core.testing import FakeProvider, UsageRecorder, http_error, reply
from cencori_core.types import ChatRequest, EmbeddingRequest, Message, TranscriptionRequest

USER = [{"role": "user", "content": "Hello there, how are you today?"}]


@pytest.fixture
def setup():
    fake = FakeProvider(name="openai", models=["gpt-4o"])
    sink = UsageRecorder()
    router = Router(providers={"openai": fake}, load_entrypoints=False, plugins=[sink])
    yield router, fake, sink
    router.close()


def _chat_request(text="Hello"):
    return ChatRequest(model="m", messages=[Message(role="user", content=text)])


def test_finalize_fills_total_and_keeps_provider_counts():
    resp = reply("x", usage=Usage(prompt_tokens=10, completion_tokens=5))  # total missing
    u = finalize_usage("chat", _chat_request(), resp)
    assert (u.total_tokens, u.source) == (15, "provider")
    kept = Usage.of(10, 5, total_tokens=99)  # the provider's own total stays
    assert finalize_usage("chat", _chat_request(), reply("x", usage=kept)) == kept


def test_finalize_estimates_when_the_provider_reports_nothing():
    u = finalize_usage("chat", _chat_request("a" * 40), reply("b" * 20))
    assert u.source == "estimated" and (u.prompt_tokens, u.completion_tokens) == (10, 5)
    assert u.total_tokens == 15
    emb = finalize_usage("embed", EmbeddingRequest(model="e", input=["abcd" * 10]),
                         EmbeddingResponse(vectors=[[0.0]], usage=Usage()))
    assert emb.prompt_tokens == 10 and emb.source == "estimated"


def test_finalize_reads_media_counts_from_the_response():
    tr = Transcription(text="hi", duration=12.5, usage=Usage(prompt_tokens=3, total_tokens=3))
    u = finalize_usage("transcribe", TranscriptionRequest(model="w", file=b"x"), tr)
    assert u.audio_seconds == 12.5 and u.prompt_tokens == 3


@pytest.mark.parametrize("mode", MODES)
def test_stream_and_plain_call_have_the_same_usage_and_cost(setup, mode):
    router, fake, sink = setup
    usage = Usage.of(1200, 80, cached_tokens=1024, reasoning_tokens=20)
    fake.script(reply("Fine, thanks for asking", usage=usage),
                reply("Fine, thanks for asking", usage=usage))
    plain = call(router, mode, "chat", model="gpt-4o", messages=USER)
    _, s = stream(router, mode, model="gpt-4o", messages=USER)
    assert plain.usage == s.response.usage == usage
    assert plain.cost == s.response.cost and plain.cost.cached_input > 0
    assert [r.usage for r in sink.records] == [usage, usage]
    assert [r.cost for r in sink.records] == [plain.cost, plain.cost]


@pytest.mark.parametrize("mode", MODES)
def test_echo_parity_and_streams_always_end_with_usage(mode):
    router = Router(load_entrypoints=False)
    plain = call(router, mode, "chat", model="echo/echo", messages=USER)
    _, s = stream(router, mode, model="echo/echo", messages=USER)
    assert plain.usage == s.response.usage and plain.usage.total_tokens > 0
    # a provider that reports no usage on its stream: the router estimates it
    fake = FakeProvider(name="quiet", models=["quiet-model"])
    fake.script(reply("some words here"), reply("some words here"))
    router = Router(providers={"quiet": fake}, load_entrypoints=False)
    plain = call(router, mode, "chat", model="quiet-model", messages=USER)
    _, s = stream(router, mode, model="quiet-model", messages=USER)
    assert s.response.usage.source == "estimated" and s.response.usage.total_tokens > 0
    assert s.response.usage == plain.usage


@pytest.mark.parametrize("mode", MODES)
def test_cancelled_stream_records_what_it_consumed(setup, mode):
    router, fake, sink = setup
    fake.script(reply("one two three four five six", usage=Usage.of(100, 6)))
    chunks, s = stream(router, mode, limit=2, model="gpt-4o", messages=USER)
    assert len(chunks) == 2
    (rec,) = sink.records
    assert rec.status == "cancelled"
    # the provider's usage event never came: usage is estimated, and priced
    assert rec.usage.source == "estimated" and rec.usage.completion_tokens > 0
    assert rec.cost is not None and rec.cost.total > 0


@pytest.mark.parametrize("mode", MODES)
def test_interrupted_stream_records_partial_usage_and_cost(setup, mode):
    router, fake, sink = setup
    fake.script([ChatChunk(delta="partial "), ChatChunk(delta="text"),
                 http_error(500, "connection reset")])
    with pytest.raises(StreamInterruptedError) as info:
        stream(router, mode, model="gpt-4o", messages=USER)
    (rec,) = sink.records
    assert rec.status == "interrupted"
    assert rec.usage == info.value.partial.usage and rec.usage.total_tokens > 0
    assert rec.cost is not None and rec.cost.total > 0


class BlockAfter:
    @hookimpl
    def cencori_post_response(self, context):
        from cencori_core import PolicyViolationError

        raise PolicyViolationError("no", policy="output", rule="test")


@pytest.mark.parametrize("mode", MODES)
def test_response_blocked_after_it_arrived_is_still_paid_for(mode):
    fake = FakeProvider(name="openai", models=["gpt-4o"])
    sink = UsageRecorder()
    router = Router(providers={"openai": fake}, load_entrypoints=False,
                    plugins=[sink], policies=[BlockAfter()])
    fake.script(reply("secret", usage=Usage.of(1000, 100)))
    with pytest.raises(PolicyViolationError):
        call(router, mode, "chat", model="gpt-4o", messages=USER)
    (rec,) = sink.records
    assert rec.status == "blocked" and rec.usage == Usage.of(1000, 100)
    assert rec.cost.total == Decimal("0.0035")


@pytest.mark.parametrize("mode", MODES)
def test_exactly_one_record_per_call_whatever_happened(setup, mode):
    router, fake, sink = setup
    fake.script("ok", http_error(400, "bad"))
    call(router, mode, "chat", model="gpt-4o", messages=USER)
    with pytest.raises(ProviderBadRequestError):
        call(router, mode, "chat", model="gpt-4o", messages=USER)
    assert [r.status for r in sink.records] == ["ok", "error"]
    assert len({r.request_id for r in sink.records}) == 2


def test_async_task_cancelled_mid_call_records_cancelled():
    fake = FakeProvider(name="openai", models=["gpt-4o"], latency=5)
    sink = UsageRecorder()
    router = Router(providers={"openai": fake}, load_entrypoints=False, plugins=[sink])

    async def main():
        task = asyncio.create_task(router.achat(model="gpt-4o", messages=USER))
        while not fake.calls:
            await asyncio.sleep(0.001)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert [r.status for r in sink.records] == ["cancelled"]

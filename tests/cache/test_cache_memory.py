"""The response cache in memory, through both drivers: hits and misses for chat, streams,
embeddings and moderation; refresh and bypass; the temperature rule; project isolation;
interrupted and closed streams never stored; hits through the post-response policies and the
stream hooks.

The provider is the testing kit's FakeProvider: ``fake.calls`` counts what reached it.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from parity import MODES, call, raises, stream

from cencori_core import (
    ChatChunk,
    ConfigurationError,
    EmbeddingResponse,
    InvalidRequestError,
    ProviderServerError,
    Router,
    StreamInterruptedError,
    Usage,
    hookimpl,
)
from cencori_core.policies import PII
from cencori_core.testing import FakeProvider, UsageRecorder, http_error, reply

USER = [{"role": "user", "content": "What is the capital of France?"}]
PRICES = {"m": {"input": 1_000_000, "output": 2_000_000}}  # $1 / $2 per token: round costs


def make(cache: Any = True, **kw: Any) -> tuple[Router, FakeProvider, UsageRecorder]:
    fake = FakeProvider(name="local", models=["m", "e"])
    sink = UsageRecorder()
    plugins = [sink, *kw.pop("plugins", [])]
    router = Router(providers={"local": fake}, load_entrypoints=False, plugins=plugins,
                    prices=PRICES, cache=cache, **kw)
    return router, fake, sink


def answer(text: str = "Paris.", prompt: int = 3, completion: int = 2) -> Any:
    return reply(text, usage=Usage.of(prompt, completion))


# ---------------------------------------------------------------------------- chat


@pytest.mark.parametrize("mode", MODES)
def test_second_identical_chat_is_a_hit_that_costs_nothing(mode: str) -> None:
    router, fake, sink = make()
    fake.script(answer())
    first = call(router, mode, "chat", model="m", messages=USER)
    second = call(router, mode, "chat", model="m", messages=USER)
    assert len(fake.calls) == 1
    assert (first.cache_hit, second.cache_hit) == (False, True)
    assert second.content == first.content == "Paris."
    assert second.usage == first.usage
    assert first.cost is not None and first.cost.total == Decimal(7)
    assert second.cost is not None and second.cost.total == 0
    assert second.attempts == []
    miss, hit = sink.records
    assert (miss.cache_hit, miss.saved_cost) == (False, None)
    assert hit.cache_hit and hit.status == "ok" and hit.cost is not None and hit.cost.total == 0
    assert hit.saved_cost is not None and hit.saved_cost.total == Decimal(7)
    assert router.cache is not None
    assert router.cache.stats()["hits"] == 1 and router.cache.stats()["misses"] == 1


@pytest.mark.parametrize("mode", MODES)
def test_a_different_answer_affecting_parameter_is_a_miss(mode: str) -> None:
    router, fake, _ = make()
    call(router, mode, "chat", model="m", messages=USER)
    call(router, mode, "chat", model="m", messages=USER, max_tokens=5)
    call(router, mode, "chat", model="m", messages=USER, seed=1)
    call(router, mode, "chat", model="m", messages=[{"role": "user", "content": "Other?"}])
    assert len(fake.calls) == 4
    # what does not change the answer does not change the key
    call(router, mode, "chat", model="m", messages=USER, max_tokens=5, user="u1",
         metadata={"trace": "x"}, timeout=30)
    assert len(fake.calls) == 4


@pytest.mark.parametrize("mode", MODES)
def test_tool_calls_round_trip_through_the_cache(mode: str) -> None:
    from cencori_core.testing import tool_call

    router, fake, _ = make()
    tools = [{"type": "function", "function": {"name": "weather", "parameters": {
        "type": "object", "properties": {"city": {"type": "string"}}}}}]
    fake.script(reply(None, tool_calls=[tool_call("weather", {"city": "Paris"})],
                      usage=Usage.of(5, 5)))
    first = call(router, mode, "chat", model="m", messages=USER, tools=tools)
    second = call(router, mode, "chat", model="m", messages=USER, tools=tools)
    assert second.cache_hit and len(fake.calls) == 1
    assert second.tool_calls == first.tool_calls
    assert second.tool_calls[0].arguments == {"city": "Paris"}
    assert second.finish_reason == "tool_calls"


@pytest.mark.parametrize("mode", MODES)
def test_refresh_calls_the_provider_and_overwrites(mode: str) -> None:
    router, fake, _ = make()
    fake.script(answer("old"), answer("new"))
    call(router, mode, "chat", model="m", messages=USER)
    refreshed = call(router, mode, "chat", model="m", messages=USER, cache="refresh")
    assert not refreshed.cache_hit and refreshed.content == "new"
    again = call(router, mode, "chat", model="m", messages=USER)
    assert again.cache_hit and again.content == "new"
    assert len(fake.calls) == 2


@pytest.mark.parametrize("mode", MODES)
def test_bypass_neither_reads_nor_writes(mode: str) -> None:
    router, fake, _ = make()
    call(router, mode, "chat", model="m", messages=USER, cache=False)
    call(router, mode, "chat", model="m", messages=USER)  # nothing was stored: a miss
    bypass = call(router, mode, "chat", model="m", messages=USER, cache=False)
    assert not bypass.cache_hit
    assert len(fake.calls) == 3


@pytest.mark.parametrize("mode", MODES)
def test_temperature_above_zero_is_cached_only_on_opt_in(mode: str) -> None:
    router, fake, _ = make()
    for _ in range(2):
        call(router, mode, "chat", model="m", messages=USER, temperature=0.7)
    assert len(fake.calls) == 2  # not cached by default
    for _ in range(2):
        call(router, mode, "chat", model="m", messages=USER, temperature=0)
    assert len(fake.calls) == 3  # temperature 0 is cached
    for _ in range(2):  # per call opt-in
        call(router, mode, "chat", model="m", messages=USER, temperature=0.7, cache=True)
    assert len(fake.calls) == 4
    router2, fake2, _ = make(cache={"temperature": True})
    for _ in range(2):
        call(router2, mode, "chat", model="m", messages=USER, temperature=1.2)
    assert len(fake2.calls) == 1


@pytest.mark.parametrize("mode", MODES)
def test_projects_never_see_each_others_answers(mode: str) -> None:
    router, fake, _ = make()
    key_a = router.projects.create("a")
    router.projects.create("b")
    fake.script(answer("for a"), answer("for b"), answer("no project"))
    assert call(router, mode, "chat", model="m", messages=USER, project="a").content == "for a"
    assert call(router, mode, "chat", model="m", messages=USER, project="b").content == "for b"
    assert call(router, mode, "chat", model="m", messages=USER).content == "no project"
    assert len(fake.calls) == 3
    # the project's key and its name share the project's entries; keys are not in the key
    hit = call(router, mode, "chat", model="m", messages=USER, api_key=key_a)
    assert hit.cache_hit and hit.content == "for a"
    assert call(router, mode, "chat", model="m", messages=USER, project="b").content == "for b"
    assert len(fake.calls) == 3


@pytest.mark.parametrize("mode", MODES)
def test_failed_calls_are_not_stored(mode: str) -> None:
    router, fake, _ = make(retry=1)
    fake.script(http_error(500, "boom"))
    raises(router, mode, "chat", ProviderServerError, model="m", messages=USER)
    ok = call(router, mode, "chat", model="m", messages=USER)
    assert not ok.cache_hit and len(fake.calls) == 2


# ---------------------------------------------------------------------------- policies and hooks


class _Chunks:
    """A stream hook that sees every chunk (and upper-cases text, to prove it acts on hits)."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    @hookimpl
    def cencori_stream_chunk(self, context: Any, chunk: ChatChunk) -> ChatChunk:
        self.seen.append(chunk.delta)
        return ChatChunk(delta=chunk.delta.upper(), tool_calls=chunk.tool_calls,
                         finish_reason=chunk.finish_reason, usage=chunk.usage,
                         final=chunk.final)


@pytest.mark.parametrize("mode", MODES)
def test_post_response_policies_run_on_a_cached_answer(mode: str) -> None:
    router, fake, _ = make(policies=[PII(mode="redact", responses=True)])
    fake.script(answer("Write to bob@example.com"))
    first = call(router, mode, "chat", model="m", messages=USER)
    second = call(router, mode, "chat", model="m", messages=USER)
    assert second.cache_hit
    assert "bob@example.com" not in (second.content or "")
    assert second.content == first.content == "Write to [REDACTED_EMAIL]"
    assert [(d.policy, d.rule) for d in second.policy_decisions] == [("pii", "email")]


@pytest.mark.parametrize("mode", MODES)
def test_a_stream_hit_replays_through_the_stream_hooks(mode: str) -> None:
    hook = _Chunks()
    router, fake, sink = make(plugins=[hook])
    fake.script(answer("one two three"))
    chunks, s1 = stream(router, mode, model="m", messages=USER)
    hook.seen.clear()
    chunks2, s2 = stream(router, mode, model="m", messages=USER)
    assert len(fake.calls) == 1
    assert "".join(hook.seen) == "one two three"  # the hook saw the replayed answer
    assert "".join(c.delta for c in chunks2) == "ONE TWO THREE"
    assert s2.response.cache_hit and s2.response.content == "ONE TWO THREE"
    assert s2.response.cost.total == 0
    assert sink.records[-1].cache_hit
    assert sink.records[-1].saved_cost.total == Decimal(7)


@pytest.mark.parametrize("mode", MODES)
def test_chat_and_stream_share_entries(mode: str) -> None:
    router, fake, _ = make()
    fake.script(answer("streamed answer"))
    stream(router, mode, model="m", messages=USER)
    hit = call(router, mode, "chat", model="m", messages=USER)
    assert hit.cache_hit and hit.content == "streamed answer"
    chunks, s = stream(router, mode, model="m", messages=USER)
    assert s.response.cache_hit and "".join(c.delta for c in chunks) == "streamed answer"
    assert len(fake.calls) == 1


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("how", ["interrupted", "cancelled"])
def test_a_stream_that_did_not_complete_is_not_stored(mode: str, how: str) -> None:
    router, fake, sink = make(retry=1)
    if how == "interrupted":  # the connection drops after two chunks reached the caller
        fake.script(["Par", "is", http_error(500, "connection reset")])
        raises(router, mode, "chat_stream", StreamInterruptedError, model="m", messages=USER)
    else:  # the caller stops reading and closes the stream
        fake.script(answer("a long answer in many words"))
        stream(router, mode, model="m", messages=USER, limit=2)
    assert sink.records[-1].status == how
    after = call(router, mode, "chat", model="m", messages=USER)
    assert not after.cache_hit and len(fake.calls) == 2


# ---------------------------------------------------------------------------- embeddings


@pytest.mark.parametrize("mode", MODES)
def test_embeddings_are_cached_per_input_list(mode: str) -> None:
    router, fake, sink = make()
    first = call(router, mode, "embed", "e", ["a", "b"])
    second = call(router, mode, "embed", "e", ["a", "b"])
    assert isinstance(second, EmbeddingResponse)
    assert second.cache_hit and second.vectors == first.vectors
    call(router, mode, "embed", "e", ["b", "a"])  # another list: another entry
    call(router, mode, "embed", "e", ["a", "b"], dimensions=8)
    assert len(fake.calls) == 3
    assert [r.cache_hit for r in sink.records] == [False, True, False, False]


@pytest.mark.parametrize("mode", MODES)
def test_moderation_is_cached(mode: str) -> None:
    router, fake, _ = make()
    fake2 = FakeProvider(name="mod", models=["omni"])
    router2 = Router(providers={"mod": fake2}, load_entrypoints=False, cache=True)
    a = call(router2, mode, "moderate", "omni", "hello")
    b = call(router2, mode, "moderate", "omni", "hello")
    assert b.cache_hit and b.flagged == a.flagged and b.results == a.results
    assert len(fake2.calls) == 1


@pytest.mark.parametrize("mode", MODES)
def test_images_are_not_cached(mode: str) -> None:
    fake = FakeProvider(name="img", models=["pic"])
    router = Router(providers={"img": fake}, load_entrypoints=False, cache=True)
    call(router, mode, "generate_image", "pic", "a cat")
    call(router, mode, "generate_image", "pic", "a cat")
    assert len(fake.calls) == 2
    with pytest.raises(InvalidRequestError, match="cache"):  # not a keyword of generate_image
        router.generate_image("pic", "a cat", cache=False)  # type: ignore[call-arg]


# ---------------------------------------------------------------------------- arguments


def test_router_cache_argument_is_checked() -> None:
    for bad, words in ((5, "cache must be True"), ({"ttl": -1}, "ttl must be a positive"),
                       ({"max_entries": 0}, "max_entries"), ({"tll": 5}, "did you mean ttl"),
                       ({"backend": "disk"}, "backend must be"),
                       ({"temperature": "yes"}, "true or false")):
        with pytest.raises(ConfigurationError, match=words):
            Router(load_entrypoints=False, cache=bad)
    assert Router(load_entrypoints=False, cache={"enabled": False}).cache is None
    assert Router(load_entrypoints=False).cache is None


def test_call_cache_argument_is_checked_before_anything_is_sent() -> None:
    router, fake, sink = make()
    for bad, words in (("yes", "cache must be True"), ({"tt": 1}, "unknown key"),
                       ({"ttl": 0}, "positive"), (3, "cache must be True")):
        with pytest.raises(InvalidRequestError, match=words):
            router.chat(model="m", messages=USER, cache=bad)
    plain, fake2, _ = make(cache=None)
    with pytest.raises(InvalidRequestError, match=r"Router\(cache=True\)"):
        plain.chat(model="m", messages=USER, cache="refresh")
    plain.chat(model="m", messages=USER, cache=False)  # bypassing no cache is fine
    assert fake.calls == [] and sink.records == []


def test_structured_output_and_n_choices_come_back_from_the_cache():
    # issue 17 x issue 18: a hit is parsed again and keeps every choice
    from dataclasses import dataclass

    @dataclass
    class City:
        name: str

    with Router(load_entrypoints=False, cache=True) as r:
        msgs = [{"role": "user", "content": '{"name": "Paris"}'}]
        first = r.chat(model="echo/echo", messages=msgs, response_format=City)
        again = r.chat(model="echo/echo", messages=msgs, response_format=City)
        assert (first.cache_hit, again.cache_hit) == (False, True)
        assert again.parsed == City(name="Paris") == first.parsed
        many = [r.chat(model="echo/echo", messages=[{"role": "user", "content": "hi"}], n=3)
                for _ in range(2)]
        assert many[1].cache_hit and len(many[1].choices) == 3
        assert [c.content for c in many[1].choices] == [c.content for c in many[0].choices]

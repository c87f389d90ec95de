"""Streams with ``n`` > 1 and ``logprobs`` (issue 17): served wherever the provider serves them
(OpenAI and the compatible APIs, the echo provider), each chunk naming its choice and carrying
its tokens' log probabilities; assembled per choice whatever the interleaving; output policies
keep each choice's buffers apart; refused before sending, naming the provider and the
alternative, where the provider's stream cannot carry them. Sync and async, through the router
against the providers' wire servers."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from loopback import Reply
from structured_kit import harness

from cencori_core import ChatChunk, ChatResponse, InvalidRequestError, PolicyViolationError, Router
from cencori_core._stream import StreamAccumulator
from cencori_core.policies import PII, OutputGuard, Secrets
from cencori_core.policies import pii as pii_rules
from cencori_core.policies._base import redact
from cencori_core.policies._holdback import HoldBack, StreamFilter

HI = [{"role": "user", "content": "Hello there"}]


@pytest.fixture(params=["sync", "async"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def stream(router: Router, mode: str, **kw: Any) -> tuple[list[ChatChunk], ChatResponse]:
    """Every chunk the caller got, and the final response."""
    kw.setdefault("messages", HI)
    if mode == "sync":
        with router.chat_stream(**kw) as s:
            chunks = list(s)
        return chunks, s.final_response()

    async def run() -> tuple[list[ChatChunk], ChatResponse]:
        async with router.achat_stream(**kw) as a:
            got = [c async for c in a]
        return got, a.final_response()
    return asyncio.run(run())


def tokens(logprobs: Any) -> list[str]:
    return [t["token"] for t in logprobs or ()]


# ---------------------------------------------------------------------------- served


@pytest.mark.parametrize("name", ["openai", "xai"])
def test_openai_streams_every_choice(name: str, mode: str) -> None:
    with harness(name) as h:
        h.raw.chat_reply("hi there", usage={"prompt_tokens": 4, "completion_tokens": 9})
        chunks, final = stream(h.router, mode, model=h.model, n=3)
        body = h.bodies()[-1]
        assert body["n"] == 3 and body["stream"] is True
        # the choices' chunks interleave as the API sent them
        order = [c.index for c in chunks if c.delta]
        assert set(order) == {0, 1, 2} and order != sorted(order)
        for i, want in enumerate(["hi there", "hi there #1", "hi there #2"]):
            assert "".join(c.delta for c in chunks if c.index == i) == want
        assert [(c.index, c.content, c.finish_reason) for c in final.choices] == [
            (0, "hi there", "stop"), (1, "hi there #1", "stop"), (2, "hi there #2", "stop")]
        assert final.content == "hi there" and final.message.content == "hi there"
        # usage once for the whole stream, as the API reported it
        assert (final.usage.prompt_tokens, final.usage.completion_tokens) == (4, 9)
        assert [c.index for c in chunks if c.finish_reason] == [0, 1, 2]


def test_openai_streams_logprobs_per_chunk_and_per_choice(mode: str) -> None:
    with harness("openai") as h:
        h.raw.chat_reply("good day to you")
        chunks, final = stream(h.router, mode, model=h.model, n=2, logprobs=True,
                               top_logprobs=2)
        body = h.bodies()[-1]
        assert (body["logprobs"], body["top_logprobs"], body["n"]) == (True, 2, 2)
        for c in chunks:
            if c.delta:  # one token per chunk, as OpenAI streams them
                assert tokens(c.logprobs) == [c.delta]
                assert len(c.logprobs[0]["top_logprobs"]) == 2  # type: ignore[index]
                lp = c.to_openai()["choices"][0]
                assert lp["index"] == c.index
                assert lp["logprobs"]["content"][0]["token"] == c.delta
        assert tokens(final.logprobs) == ["good", " day", " to", " you"]
        assert tokens(final.choices[0].logprobs) == tokens(final.logprobs)
        assert tokens(final.choices[1].logprobs) == ["good", " day", " to", " you", " #1"]
        first = final.logprobs[0]  # type: ignore[index]
        assert first["logprob"] == -0.25 and first["bytes"] == list(b"good")
        assert [t["token"] for t in first["top_logprobs"]] == ["good", "GOOD"]
        # the final response in OpenAI's shape: logprobs on every choice
        out = final.to_openai()["choices"]
        assert [len(c["logprobs"]["content"]) for c in out] == [4, 5]


def test_deepseek_streams_logprobs_and_refuses_n(mode: str) -> None:
    with harness("deepseek") as h:
        h.raw.chat_reply("fine thanks")
        _, final = stream(h.router, mode, model=h.model, logprobs=True)
        assert tokens(final.logprobs) == ["fine", " thanks"]
        before = len(h.bodies())
        with pytest.raises(InvalidRequestError, match="deepseek does not support n") as info:
            stream(h.router, mode, model=h.model, n=2)
        assert info.value.param == "n" and len(h.bodies()) == before


def test_echo_streams_n_and_logprobs(mode: str) -> None:
    router = Router()
    chunks, final = stream(router, mode, model="echo/echo", n=2, logprobs=True,
                           top_logprobs=1)
    chat = router.chat(model="echo/echo", messages=HI, n=2, logprobs=True, top_logprobs=1)
    assert final.choices == chat.choices  # a stream assembles what chat() answers
    assert final.logprobs == chat.logprobs and final.content == chat.content
    assert {c.index for c in chunks} == {0, 1}
    router.close()


def test_a_cached_stream_replays_every_choice() -> None:
    router = Router(cache=True)
    kw: dict[str, Any] = {"model": "echo/echo", "n": 2, "logprobs": True}
    _, first = stream(router, "sync", **kw)
    chunks, again = stream(router, "sync", **kw)
    assert again.cache_hit
    assert again.choices == first.choices and again.logprobs == first.logprobs
    assert {c.index for c in chunks if c.delta} == {0, 1}
    router.close()


# ---------------------------------------------------------------------------- refused


@pytest.mark.parametrize(("name", "kw", "param", "words"), [
    ("google", {"n": 2}, "n", "Gemini does not support n on streams"),
    ("google", {"logprobs": True}, "logprobs", "Gemini does not support logprobs on streams"),
    ("mistral", {"n": 2}, "n", "Mistral does not support n on streams"),
    ("mistral", {"logprobs": True}, "logprobs", "Mistral does not support logprobs on streams"),
    ("cohere", {"logprobs": True}, "logprobs", "Cohere does not support logprobs on streams"),
    ("cohere", {"n": 2}, "n", "Cohere does not support n"),
    ("anthropic", {"n": 2}, "n", "Anthropic does not support n"),
    ("anthropic", {"logprobs": True}, "logprobs", "Anthropic does not support logprobs"),
    ("meta", {"n": 2}, "n", "meta does not support n"),
])
def test_streams_refused_before_sending(name: str, kw: dict[str, Any], param: str, words: str,
                                        mode: str) -> None:
    with harness(name) as h:
        h.answer("never sent")
        with pytest.raises(InvalidRequestError) as info:
            stream(h.router, mode, model=h.model, **kw)
        assert info.value.param == param and words in str(info.value)
        if "on streams" in words:  # served on chat: the message says so
            assert "call chat()/achat()" in str(info.value)
        assert h.bodies() == []


def test_served_on_chat_where_refused_on_streams() -> None:
    with harness("google") as h:
        h.answer("fine")
        assert h.router.chat(model=h.model, messages=HI, logprobs=True).content == "fine"


# ---------------------------------------------------------------------------- policies


def _event(index: int, text: str | None = None, finish: str | None = None) -> dict[str, Any]:
    lp = None if text is None else {"content": [
        {"token": text, "logprob": -0.1, "bytes": list(text.encode()), "top_logprobs": []}],
        "refusal": None}
    return {"id": "chatcmpl-pol", "object": "chat.completion.chunk", "created": 1,
            "model": "gpt-4o", "choices": [{"index": index, "delta": {} if text is None else
                                            {"content": text}, "logprobs": lp,
                                            "finish_reason": finish}]}


def _interleaved(zero: list[str], one: list[str]) -> list[dict[str, Any]]:
    events = [_event(0, None) | {"choices": [{"index": i, "delta": {"role": "assistant",
                                                                  "content": ""},
                                              "logprobs": None, "finish_reason": None}]}
              for i in (0, 1)]
    for a, b in zip(one, zero, strict=True):  # choice 1 first, choice 0 in between
        events += [_event(1, a), _event(0, b)]
    events += [_event(0, finish="stop"), _event(1, finish="stop"),
               {"id": "chatcmpl-pol", "object": "chat.completion.chunk", "created": 1,
                "model": "gpt-4o", "choices": [],
                "usage": {"prompt_tokens": 3, "completion_tokens": 9, "total_tokens": 12}}]
    return events


def test_redaction_holds_per_choice(mode: str) -> None:
    # an e-mail address split over three chunks of choice 1; choice 0's chunks come in between
    # and would complete another address if the buffers mixed ("bob" + "@example.org")
    one = ["write to ali", "ce@examp", "le.com today"]
    zero = ["ask bob", "@example", ".org"]
    with harness("openai", PII(mode="redact", responses=True, rules=["email"])) as h:
        h.raw.queue(Reply.sse(_interleaved(zero, one)))
        chunks, final = stream(h.router, mode, model=h.model, n=2, logprobs=True)
    sent = "".join(c.delta for c in chunks)
    assert "alice" not in sent and "ce@examp" not in sent and "bob@example.org" not in sent
    assert final.choices[1].content == "write to [REDACTED_EMAIL] today"
    assert final.choices[0].content == "ask [REDACTED_EMAIL]"
    # the tokens of redacted text are not sent either: they would spell the address
    for c in chunks:
        assert not any("@" in t for t in tokens(c.logprobs))
    assert final.usage.total_tokens == 12
    assert [d.rule for d in final.policy_decisions] == ["email"]
    assert final.policy_decisions[0].count == 2


def test_redaction_leaves_clean_choices_and_their_logprobs(mode: str) -> None:
    one = ["my key is sk-proj-", "abcdefghijklmnop", "qrstuvwx1234 ok"]
    zero = ["all ", "fine ", "here"]
    with harness("openai", Secrets(mode="redact", responses=True)) as h:
        h.raw.queue(Reply.sse(_interleaved(zero, one)))
        chunks, final = stream(h.router, mode, model=h.model, n=2, logprobs=True)
    assert "abcdefghijklmnop" not in "".join(c.delta for c in chunks)
    assert final.choices[1].content is not None
    assert "sk-proj-abc" not in final.choices[1].content
    assert final.choices[0].content == "all fine here"
    assert tokens(final.choices[0].logprobs) == zero  # untouched choice: every token


def test_tool_calls_are_held_per_choice(mode: str) -> None:
    tool = {"type": "function", "function": {
        "name": "get_weather", "parameters": {"type": "object",
                                              "properties": {"city": {"type": "string"}},
                                              "required": ["city"]}}}
    with harness("openai", OutputGuard(mode="block", tool_schemas=True)) as h:
        h.raw.chat_reply(None, tool_calls=[{"name": "get_weather",
                                            "arguments": '{"city": "Paris"}'}])
        chunks, final = stream(h.router, mode, model=h.model, n=2, tools=[tool])
    assert [(c.index, [t.arguments_raw for t in c.tool_calls]) for c in final.choices] == [
        (0, ['{"city": "Paris"}']), (1, ['{"city": "Paris"}'])]
    assert {c.index for c in chunks if c.tool_calls} == {0, 1}


def test_non_streamed_choices_are_redacted_too(mode: str) -> None:
    # chat() with n: every choice goes through the output policies, not only the first
    with harness("openai", PII(mode="redact", responses=True, rules=["email"])) as h:
        h.raw.chat_reply("mail carol@example.com")
        r = (h.router.chat(model=h.model, messages=HI, n=2, logprobs=True) if mode == "sync"
             else asyncio.run(h.router.achat(model=h.model, messages=HI, n=2, logprobs=True)))
    assert [c.content for c in r.choices] == ["mail [REDACTED_EMAIL]",
                                              "mail [REDACTED_EMAIL] #1"]
    assert r.content == "mail [REDACTED_EMAIL]"
    assert r.logprobs is None and all(c.logprobs is None for c in r.choices)


# ---------------------------------------------------------------------------- assembly


def _pieces() -> st.SearchStrategy[list[list[str]]]:
    return st.lists(st.lists(st.text(alphabet="ab @.", min_size=1, max_size=4), min_size=1,
                             max_size=5), min_size=1, max_size=4)


@settings(derandomize=True, max_examples=60, deadline=None)
@given(_pieces(), st.randoms(use_true_random=False))
def test_assembly_is_order_independent_per_choice(choices: list[list[str]], rnd: Any) -> None:
    chunks = [ChatChunk(delta=p, index=i, logprobs=[{"token": p, "logprob": -1.0,
                                                      "bytes": None, "top_logprobs": []}])
              for i, pieces in enumerate(choices) for p in pieces]
    # any interleaving that keeps each choice's own order
    queues = [[c for c in chunks if c.index == i] for i in range(len(choices))]
    order: list[ChatChunk] = []
    while any(queues):
        q = rnd.choice([q for q in queues if q])
        order.append(q.pop(0))
    order += [ChatChunk(finish_reason="length" if i else "stop", index=i)
              for i in reversed(range(len(choices)))]
    acc = StreamAccumulator()
    for c in order:
        acc.add(c)
    resp = acc.response(provider="p", model="m")
    # one choice: the router fills ``choices`` after the post-response hooks
    got = resp.choices or (acc.choice(0),)
    assert len(resp.choices) == (len(choices) if len(choices) > 1 else 0)
    assert [c.index for c in got] == list(range(len(choices)))
    for i, pieces in enumerate(choices):
        assert got[i].content == "".join(pieces)
        assert tokens(got[i].logprobs) == pieces
        assert got[i].finish_reason == ("length" if i else "stop")
    assert resp.content == "".join(choices[0]) and resp.logprobs == got[0].logprobs


def _redacting_filter() -> StreamFilter:
    def on_found(text: str, found: list[Any]) -> str:
        return redact(text, found, lambda rule: f"[{rule}]")
    return StreamFilter(lambda: HoldBack(pii_rules.scan, pii_rules.HOLD, on_found))


def _filtered(filt: StreamFilter, chunks: list[ChatChunk]) -> list[ChatChunk]:
    out: list[ChatChunk] = []
    for c in [*chunks, ChatChunk(final=True)]:
        r = filt(c)
        out += r if isinstance(r, list) else [r]
    return out


_WORDS = st.sampled_from(["mail ", "bob", "@example", ".org ", "x@y.io ", "and ", "1234"])


@settings(derandomize=True, max_examples=40, deadline=None)
@given(st.lists(st.lists(_WORDS, min_size=1, max_size=8), min_size=2, max_size=3),
       st.randoms(use_true_random=False))
def test_redaction_per_choice_whatever_the_interleaving(choices: list[list[str]],
                                                        rnd: Any) -> None:
    # each choice comes out of an interleaved stream exactly as it would stream alone
    queues = [[ChatChunk(delta=p, index=i) for p in pieces] for i, pieces in enumerate(choices)]
    mixed: list[ChatChunk] = []
    while any(queues):
        q = rnd.choice([q for q in queues if q])
        mixed.append(q.pop(0))
    together = _filtered(_redacting_filter(), mixed)
    for i, pieces in enumerate(choices):
        alone = _filtered(_redacting_filter(), [ChatChunk(delta=p) for p in pieces])
        assert "".join(c.delta for c in together if c.index == i) == \
            "".join(c.delta for c in alone)


def test_tool_schema_check_covers_every_choice(mode: str) -> None:
    # chat() with n: a tool call of the second choice that does not fit is caught too
    tool = {"type": "function", "function": {
        "name": "get_weather", "parameters": {"type": "object",
                                              "properties": {"city": {"type": "string"}},
                                              "required": ["city"]}}}
    choice = {"index": 0, "finish_reason": "tool_calls", "logprobs": None, "message": {
        "role": "assistant", "content": None, "tool_calls": [{
            "id": "call_a", "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]}}
    bad = {**choice, "index": 1, "message": {**choice["message"], "tool_calls": [{
        "id": "call_b", "type": "function",
        "function": {"name": "get_weather", "arguments": '{"town": 3}'}}]}}
    body = {"id": "chatcmpl-t", "object": "chat.completion", "created": 1, "model": "gpt-4o",
            "choices": [choice, bad],
            "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}}
    with harness("openai", OutputGuard(mode="block", tool_schemas=True)) as h:
        h.raw.queue(Reply.json(body))
        with pytest.raises(PolicyViolationError, match="tool call does not fit"):
            if mode == "sync":
                h.router.chat(model=h.model, messages=HI, n=2, tools=[tool])
            else:
                asyncio.run(h.router.achat(model=h.model, messages=HI, n=2, tools=[tool]))

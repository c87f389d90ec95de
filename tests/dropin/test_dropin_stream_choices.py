"""The drop-in's streams with ``n`` > 1 and ``logprobs`` (issue 17): ``chat.completions.create(
..., stream=True, n=2, logprobs=True)`` through ``router.openai_client()`` gives the SDK's own
``ChatCompletionChunk`` objects as OpenAI sends them (one choice per chunk, its ``index``, its
tokens' log probabilities, a finish chunk per choice, the usage chunk last). Compared with the
raw ``openai`` SDK reading the same wire server directly; sync and async; refusals arrive as the
SDK's ``BadRequestError``."""

from __future__ import annotations

import asyncio
from typing import Any

import openai
import pytest
from dropin_backends import backend
from openai.types.chat import ChatCompletionChunk
from structured_kit import harness

from cencori_core import Router

HI = [{"role": "user", "content": "Hello there"}]
KW: dict[str, Any] = {"messages": HI, "stream": True, "n": 2, "logprobs": True,
                      "top_logprobs": 1, "stream_options": {"include_usage": True}}


def _summary(chunks: list[ChatCompletionChunk]) -> dict[str, Any]:
    """What a consumer reads off a stream: per choice its text, tokens and finish reason, the
    roles, the usage chunk."""
    text: dict[int, str] = {}
    toks: dict[int, list[str]] = {}
    finish: dict[int, str] = {}
    roles: list[int] = []
    for ch in chunks:
        assert isinstance(ch, ChatCompletionChunk)
        assert len(ch.choices) <= 1  # one choice per chunk, as OpenAI streams n
        for c in ch.choices:
            if c.delta.role == "assistant":
                roles.append(c.index)
            text[c.index] = text.get(c.index, "") + (c.delta.content or "")
            if c.logprobs is not None and c.logprobs.content:
                toks.setdefault(c.index, []).extend(t.token for t in c.logprobs.content)
                assert all(len(t.top_logprobs) == 1 for t in c.logprobs.content)
            if c.finish_reason:
                finish[c.index] = c.finish_reason
    last = chunks[-1]
    return {"text": text, "tokens": toks, "finish": finish, "roles": sorted(roles),
            "usage_last": last.choices == [] and last.usage is not None}


def test_dropin_streams_choices_and_logprobs_as_openai_does() -> None:
    with harness("openai") as h:
        h.raw.chat_reply("good day", times=2)
        ours = list(h.router.openai_client().chat.completions.create(model=h.model, **KW))
        raw = openai.OpenAI(api_key="sk-test-raw-0123456789", base_url=h.raw.base_url)
        theirs = list(raw.chat.completions.create(model=h.model, **KW))
        raw.close()
    mine, want = _summary(ours), _summary(theirs)
    assert mine == want
    assert mine["text"] == {0: "good day", 1: "good day #1"}
    assert mine["tokens"] == {0: ["good", " day"], 1: ["good", " day", " #1"]}
    assert mine["finish"] == {0: "stop", 1: "stop"} and mine["roles"] == [0, 1]
    assert mine["usage_last"]
    # the choices interleave, as the provider sent them
    order = [c.choices[0].index for c in ours if c.choices and c.choices[0].delta.content]
    assert order != sorted(order)


def test_async_dropin_streams_choices_and_logprobs() -> None:
    with harness("openai") as h:
        h.raw.chat_reply("good day")

        async def run() -> list[ChatCompletionChunk]:
            client = h.router.async_openai_client()
            got = [c async for c in await client.chat.completions.create(model=h.model, **KW)]
            await client.close()
            return got
        got = _summary(asyncio.run(run()))
    assert got["text"] == {0: "good day", 1: "good day #1"}
    assert got["tokens"] == {0: ["good", " day"], 1: ["good", " day", " #1"]}
    assert got["finish"] == {0: "stop", 1: "stop"} and got["usage_last"]


def test_dropin_streams_n_on_the_echo_provider() -> None:
    router = Router()
    chunks = list(router.openai_client().chat.completions.create(
        model="echo/echo", messages=HI, stream=True, n=3))
    got = _summary(chunks)
    assert got["text"] == {i: "echo: Hello there" for i in range(3)}
    assert got["finish"] == {0: "stop", 1: "stop", 2: "stop"} and got["roles"] == [0, 1, 2]
    router.close()


@pytest.mark.parametrize(("name", "param"), [("google", "n"), ("mistral", "logprobs")])
def test_dropin_refusal_is_a_bad_request(name: str, param: str) -> None:
    with harness(name) as h:
        h.answer("never sent")
        client = h.router.openai_client()
        kw = {"n": 2} if param == "n" else {"logprobs": True}
        with pytest.raises(openai.BadRequestError, match="on streams") as info:
            list(client.chat.completions.create(model=h.model, messages=HI, stream=True, **kw))
        assert info.value.status_code == 400
        assert h.bodies() == []


def test_dropin_streams_choices_on_azure() -> None:
    with backend("azure") as b:
        b.text("good day")
        got = _summary(list(b.router.openai_client().chat.completions.create(
            model=b.model, **KW)))
        assert b.server.requests_to("/chat/completions")[-1].json["n"] == 2
    assert got["text"] == {0: "good day", 1: "good day #1"}
    assert got["tokens"] == {0: ["good", " day"], 1: ["good", " day", " #1"]}
    assert got["finish"] == {0: "stop", 1: "stop"} and got["usage_last"]

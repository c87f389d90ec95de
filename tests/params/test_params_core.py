"""The common chat parameters at the router (issue 17, part 3): checked before anything runs,
accepted by chat/achat/chat_stream/achat_stream, and honoured by the echo provider."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cencori_core import ChatRequest, Choice, InvalidRequestError, Router
from cencori_core.testing import UsageRecorder

HI = [{"role": "user", "content": "hi there"}]
TOOL = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}


@pytest.fixture
def router() -> Router:
    return Router(load_entrypoints=False)


@pytest.mark.parametrize(("kw", "param", "words"), [
    ({"reasoning_effort": "extreme"}, "reasoning_effort", "'minimal', 'low'"),
    ({"reasoning_effort": 3}, "reasoning_effort", "must be one of"),
    ({"n": 0}, "n", "from 1 to 128"),
    ({"n": 129}, "n", "from 1 to 128"),
    ({"n": True}, "n", "integer"),
    ({"logprobs": "yes"}, "logprobs", "True or False"),
    ({"top_logprobs": 3}, "top_logprobs", "needs logprobs=True"),
    ({"logprobs": True, "top_logprobs": 21}, "top_logprobs", "from 0 to 20"),
    ({"parallel_tool_calls": False}, "parallel_tool_calls", "only meaningful with tools"),
    ({"parallel_tool_calls": 1, "tools": [TOOL]}, "parallel_tool_calls", "True or False"),
    ({"presence_penalty": 2.5}, "presence_penalty", "from -2 to 2"),
    ({"frequency_penalty": float("nan")}, "frequency_penalty", "from -2 to 2"),
    ({"max_completion_tokens": 0}, "max_completion_tokens", "positive integer"),
    ({"max_completion_tokens": 10, "max_tokens": 20}, "max_completion_tokens", "disagree"),
    ({"stream_options": {"include_usage": 1}}, "stream_options", "include_usage"),
    ({"output_retries": 11}, "output_retries", "from 0 to 10"),
    ({"output_retries": 1}, "output_retries", "needs response_format to be a type"),
])
def test_bad_values_are_refused_before_anything_runs(router: Router, kw: dict[str, Any],
                                                     param: str, words: str) -> None:
    rec = UsageRecorder()
    r = Router(load_entrypoints=False, plugins=[rec])
    with pytest.raises(InvalidRequestError) as info:
        r.chat(model="echo/echo", messages=HI, **kw)
    assert info.value.param == param and words in str(info.value)
    assert rec.records == []  # refused before the call began


def test_stream_refusals(router: Router) -> None:
    # n and logprobs are served on streams where the provider serves them (echo does; see
    # tests/params/test_params_stream_choices.py); stream_options is checked everywhere
    with pytest.raises(InvalidRequestError, match="stream_options must be"):
        router.chat_stream(model="echo/echo", messages=HI, stream_options={"x": 1})


def test_streams_accept_stream_options_and_the_rest(router: Router) -> None:
    with router.chat_stream(model="echo/echo", messages=HI, n=1, reasoning_effort="low",
                            stream_options={"include_usage": True}, presence_penalty=0.1,
                            max_completion_tokens=2) as s:
        assert s.text() == "echo: hi"
    assert s.final_response().usage.total_tokens > 0

    async def run() -> str:
        async with router.achat_stream(model="echo/echo", messages=HI,
                                       stream_options={"include_usage": False},
                                       frequency_penalty=-1) as a:
            return await a.text()
    assert asyncio.run(run()) == "echo: hi there"


def test_request_carries_the_checked_values(router: Router) -> None:
    seen: list[ChatRequest] = []

    class Spy:
        from cencori_core import hookimpl

        @hookimpl
        def cencori_pre_request(self, context: Any) -> None:
            seen.append(context.request)

    r = Router(load_entrypoints=False, plugins=[Spy()])
    r.chat(model="echo/echo", messages=HI, reasoning_effort="minimal", n=2, logprobs=True,
           top_logprobs=0, tools=[TOOL], parallel_tool_calls=True, presence_penalty=1,
           frequency_penalty=0, max_completion_tokens=7)
    req = seen[-1]
    assert (req.reasoning_effort, req.n, req.logprobs, req.top_logprobs) == \
        ("minimal", 2, True, 0)
    assert req.parallel_tool_calls is True and req.max_tokens == 7
    assert req.presence_penalty == 1.0 and isinstance(req.presence_penalty, float)
    r.chat(model="echo/echo", messages=HI, n=1, max_tokens=5, max_completion_tokens=5)
    assert seen[-1].n is None and seen[-1].max_tokens == 5  # n=1 is the default


def test_echo_honours_n_and_logprobs(router: Router) -> None:
    r = router.chat(model="echo/echo", messages=HI, n=3, logprobs=True, top_logprobs=1)
    assert len(r.choices) == 3 and {c.content for c in r.choices} == {"echo: hi there"}
    assert all(isinstance(c, Choice) for c in r.choices)
    assert [t["token"] for t in r.logprobs] == ["echo:", "hi", "there"]
    assert r.logprobs[0]["top_logprobs"] == [{"token": "echo:", "logprob": 0.0, "bytes": None}]
    assert r.to_dict()["choices"][2]["index"] == 2


def test_stream_options_is_accepted_without_a_stream(router: Router) -> None:
    r = router.chat(model="echo/echo", messages=HI, stream_options={"include_usage": True})
    assert r.usage.total_tokens > 0


def test_every_response_has_its_choice(router: Router) -> None:
    r = router.chat(model="echo/echo", messages=HI)
    assert r.choices == (Choice(index=0, content="echo: hi there"),)
    a = asyncio.run(router.achat(model="echo/echo", messages=HI))
    assert a.choices[0].content == a.content and a.logprobs is None and a.parsed is None


def test_unknown_keyword_lists_the_new_ones(router: Router) -> None:
    with pytest.raises(InvalidRequestError) as info:
        router.chat(model="echo/echo", messages=HI, best_of=2)  # type: ignore[call-arg]
    for name in ("reasoning_effort", "max_completion_tokens", "top_logprobs", "output_retries"):
        assert name in str(info.value)


_VALUES = st.one_of(st.none(), st.booleans(), st.integers(-300, 300),
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=8),
                    st.sampled_from(["minimal", "low", "medium", "high"]),
                    st.dictionaries(st.text(max_size=20), st.booleans(), max_size=2))


@settings(derandomize=True, max_examples=150, deadline=None)
@given(st.fixed_dictionaries({}, optional={
    name: _VALUES for name in ("reasoning_effort", "max_completion_tokens", "n", "logprobs",
                               "top_logprobs", "parallel_tool_calls", "presence_penalty",
                               "frequency_penalty", "stream_options")}))
def test_any_value_is_accepted_or_refused_clearly(kw: dict[str, Any]) -> None:
    """Whatever the values, a call either runs or is an InvalidRequestError naming one of them."""
    r = Router(load_entrypoints=False)
    try:
        resp = r.chat(model="echo/echo", messages=HI, tools=[TOOL], **kw)
    except InvalidRequestError as exc:
        assert exc.param in kw
    else:
        assert len(resp.choices) == (kw.get("n") or 1)

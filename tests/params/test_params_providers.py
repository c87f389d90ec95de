"""The common chat parameters on every provider's wire (issue 17, part 3): what each API
received for each parameter it serves, what came back (choices, log probabilities), and a
clear InvalidRequestError, before anything is sent, for each one it cannot honour. Sync and
async."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from google_wire import response, usage
from loopback import Reply
from structured_kit import Harness, harness

from cencori_core import InvalidRequestError

HI = [{"role": "user", "content": "Hello there"}]
WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                   "required": ["city"]}}}


@pytest.fixture(params=["sync", "async"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def chat(h: Harness, mode: str, **kw: Any) -> Any:
    kw.setdefault("messages", HI)
    kw.setdefault("model", h.model)
    if mode == "sync":
        return h.router.chat(**kw)
    return asyncio.run(h.router.achat(**kw))


def refused(h: Harness, mode: str, param: str, **kw: Any) -> str:
    """The refusal's message; nothing reached the server."""
    before = len(h.bodies())
    with pytest.raises(InvalidRequestError) as info:
        chat(h, mode, **kw)
    assert info.value.param == param
    assert len(h.bodies()) == before
    return str(info.value)


# ---------------------------------------------------------------------------- OpenAI dialects


def test_openai_sends_every_parameter(mode: str) -> None:
    with harness("openai") as h:
        h.answer("fine")
        chat(h, mode, model="o3", reasoning_effort="low", max_completion_tokens=50,
             presence_penalty=0.5, frequency_penalty=-0.5, tools=[WEATHER],
             parallel_tool_calls=False)
        body = h.bodies()[-1]
        assert body["reasoning_effort"] == "low"
        assert body["max_completion_tokens"] == 50
        assert body["presence_penalty"] == 0.5 and body["frequency_penalty"] == -0.5
        assert body["parallel_tool_calls"] is False


def test_openai_n_gives_every_choice(mode: str) -> None:
    with harness("openai") as h:
        h.answer("hi")
        r = chat(h, mode, n=3)
        assert h.bodies()[-1]["n"] == 3
        assert [c.content for c in r.choices] == ["hi", "hi #1", "hi #2"]
        assert [c.index for c in r.choices] == [0, 1, 2]
        assert r.content == "hi" and r.choices[0].finish_reason == "stop"
        assert [c["message"]["content"] for c in r.to_openai()["choices"]] == \
            ["hi", "hi #1", "hi #2"]


def test_openai_logprobs_are_normalized(mode: str) -> None:
    with harness("openai") as h:
        h.answer("good day")
        r = chat(h, mode, logprobs=True, top_logprobs=2)
        body = h.bodies()[-1]
        assert body["logprobs"] is True and body["top_logprobs"] == 2
        assert [t["token"] for t in r.logprobs] == ["good", "day"]
        assert r.logprobs[0]["logprob"] == -0.25
        assert [a["token"] for a in r.logprobs[0]["top_logprobs"]] == ["good", "GOOD"]
        assert r.choices[0].logprobs == r.logprobs
        assert r.to_openai()["choices"][0]["logprobs"]["content"][1]["token"] == "day"


def test_xai_reasoning_effort_low_or_high_only(mode: str) -> None:
    with harness("xai") as h:
        h.answer("ok")
        chat(h, mode, model="grok-3-mini", reasoning_effort="high")
        assert h.bodies()[-1]["reasoning_effort"] == "high"
        assert "'low' or 'high'" in refused(h, mode, "reasoning_effort", model="grok-3-mini",
                                            reasoning_effort="medium")


def test_deepseek_serves_penalties_and_logprobs_not_n(mode: str) -> None:
    with harness("deepseek") as h:
        h.answer("ok")
        chat(h, mode, logprobs=True, top_logprobs=1, frequency_penalty=0.5,
             max_completion_tokens=9)
        body = h.bodies()[-1]
        assert (body["logprobs"], body["top_logprobs"], body["frequency_penalty"]) == \
            (True, 1, 0.5)
        assert body["max_tokens"] == 9 and "max_completion_tokens" not in body
        assert "call several times" in refused(h, mode, "n", n=2)
        refused(h, mode, "parallel_tool_calls", tools=[WEATHER], parallel_tool_calls=True)
        h.answer("ok")
        chat(h, mode, model="deepseek-reasoner", reasoning_effort="high")
        assert "reasoning_effort" not in h.bodies()[-1]  # it always reasons


@pytest.mark.parametrize("kw", [{"n": 2}, {"logprobs": True}, {"presence_penalty": 0.1}])
def test_llama_api_refuses_them(kw: dict[str, Any], mode: str) -> None:
    with harness("meta") as h:
        assert refused(h, mode, next(iter(kw)), **kw).startswith("meta does not support")


def test_reasoning_effort_needs_a_reasoning_model(mode: str) -> None:
    with harness("openai") as h:
        msg = refused(h, mode, "reasoning_effort", model="gpt-4o", reasoning_effort="high")
        assert "not a reasoning model" in msg


# ---------------------------------------------------------------------------- Anthropic


def test_anthropic_thinking_budget_and_parallel_tools(mode: str) -> None:
    with harness("anthropic") as h:
        h.answer("ok")
        chat(h, mode, reasoning_effort="medium", tools=[WEATHER], parallel_tool_calls=False)
        body = h.bodies()[-1]
        assert body["thinking"] == {"type": "enabled", "budget_tokens": 12_288}
        assert body["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}
        h.answer("ok")
        chat(h, mode, reasoning_effort="high", max_completion_tokens=5000)
        body = h.bodies()[-1]
        assert body["max_tokens"] == 5000
        assert body["thinking"]["budget_tokens"] == 4999  # kept below max_tokens


@pytest.mark.parametrize("kw", [{"n": 2}, {"logprobs": True}, {"presence_penalty": 1.0},
                                {"frequency_penalty": 1.0}])
def test_anthropic_refuses_what_it_cannot_do(kw: dict[str, Any], mode: str) -> None:
    with harness("anthropic") as h:
        msg = refused(h, mode, next(iter(kw)), **kw)
        assert msg.startswith("Anthropic does not support")


def test_anthropic_thinking_needs_room_and_a_free_tool_choice(mode: str) -> None:
    with harness("anthropic") as h:
        assert "max_tokens above 1024" in refused(h, mode, "reasoning_effort",
                                                  reasoning_effort="low", max_tokens=500)
        assert "does not think while a tool call is forced" in refused(
            h, mode, "reasoning_effort", reasoning_effort="low", tools=[WEATHER],
            tool_choice="required")


# ---------------------------------------------------------------------------- Gemini


def test_google_maps_to_the_generation_config(mode: str) -> None:
    with harness("google") as h:
        h.answer("ok")
        chat(h, mode, reasoning_effort="low", presence_penalty=0.5, frequency_penalty=0.25,
             max_completion_tokens=64)
        cfg = h.bodies()[-1]["generationConfig"]
        # the SDK copies the nested config as its model dumps it (snake_case, which the API's
        # proto JSON reading accepts)
        assert cfg["thinkingConfig"] == {"thinking_budget": 2048}
        assert cfg["presencePenalty"] == 0.5 and cfg["frequencyPenalty"] == 0.25
        assert cfg["maxOutputTokens"] == 64
        h.answer("ok")
        chat(h, mode, model="gemini-3-pro-preview", reasoning_effort="medium")
        assert h.bodies()[-1]["generationConfig"]["thinkingConfig"] == {"thinking_level": "HIGH"}


@pytest.mark.parametrize("path", ["fast", "public"])
def test_google_candidates_and_logprobs(path: str, mode: str,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    if path == "public":  # the SDK's own response models (see sdk_paths.py)
        monkeypatch.setenv("CENCORI_SDK_INTERNALS", "0")
    with harness("google") as h:
        body = response([{"text": "one"}], use=usage(3, 2), candidates=2)
        body["candidates"][1]["content"] = {"role": "model", "parts": [{"text": "two"}]}
        for c in body["candidates"]:
            word = c["content"]["parts"][0]["text"]
            c["logprobsResult"] = {
                "chosenCandidates": [{"token": word, "logProbability": -0.5}],
                "topCandidates": [{"candidates": [{"token": word, "logProbability": -0.5},
                                                  {"token": "x", "logProbability": -3.0}]}]}
        h.raw.reply_any(lambda rec: Reply.json(body))
        r = chat(h, mode, n=2, logprobs=True, top_logprobs=2)
        cfg = h.bodies()[-1]["generationConfig"]
        assert cfg["candidateCount"] == 2
        assert cfg["responseLogprobs"] is True and cfg["logprobs"] == 2
        assert [c.content for c in r.choices] == ["one", "two"]
        assert r.logprobs == [{"token": "one", "logprob": -0.5, "bytes": None, "top_logprobs": [
            {"token": "one", "logprob": -0.5, "bytes": None},
            {"token": "x", "logprob": -3.0, "bytes": None}]}]


def test_google_refuses_sequential_tool_calls(mode: str) -> None:
    with harness("google") as h:
        refused(h, mode, "parallel_tool_calls", tools=[WEATHER], parallel_tool_calls=False)


# ---------------------------------------------------------------------------- Mistral


def test_mistral_sends_every_parameter(mode: str) -> None:
    with harness("mistral") as h:
        h.answer("ok")
        chat(h, mode, n=2, logprobs=True, top_logprobs=1, presence_penalty=0.1,
             frequency_penalty=0.2, tools=[WEATHER], parallel_tool_calls=False)
        body = h.bodies()[-1]
        assert (body["n"], body["logprobs"], body["top_logprobs"]) == (2, True, 1)
        assert (body["presence_penalty"], body["frequency_penalty"]) == (0.1, 0.2)
        assert body["parallel_tool_calls"] is False
        h.answer("ok")
        chat(h, mode, model="magistral-medium-latest", reasoning_effort="high")
        body = h.bodies()[-1]
        assert body["reasoning_effort"] == "high" and body["prompt_mode"] == "reasoning"


def test_mistral_choices_and_logprobs(mode: str) -> None:
    def choice(i: int, text: str) -> dict[str, Any]:
        tok = {"token": text, "logprob": -0.1, "bytes": list(text.encode()), "token_id": 7}
        return {"index": i, "message": {"role": "assistant", "content": text,
                                        "tool_calls": None},
                "finish_reason": "stop",
                "logprobs": {"content": [{**tok, "top_logprobs": [tok]}]}}

    with harness("mistral") as h:
        h.raw.queue(Reply.json({
            "id": "cmpl-n", "object": "chat.completion", "model": "mistral-small-latest",
            "created": 1, "choices": [choice(0, "one"), choice(1, "two")],
            "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}}))
        r = chat(h, mode, n=2, logprobs=True)
        assert [c.content for c in r.choices] == ["one", "two"]
        assert r.logprobs is not None and r.logprobs[0]["token"] == "one"
        assert r.choices[1].logprobs[0]["top_logprobs"][0]["token"] == "two"


# ---------------------------------------------------------------------------- Cohere


def test_cohere_maps_penalties_logprobs_and_thinking(mode: str) -> None:
    with harness("cohere") as h:
        h.answer("ok")
        chat(h, mode, logprobs=True, presence_penalty=0.3, frequency_penalty=0.4)
        body = h.bodies()[-1]
        assert body["logprobs"] is True
        assert (body["presence_penalty"], body["frequency_penalty"]) == (0.3, 0.4)
        h.answer("ok")
        chat(h, mode, model="command-a-reasoning-08-2025", reasoning_effort="minimal")
        assert h.bodies()[-1]["thinking"] == {"type": "enabled", "token_budget": 1024}


@pytest.mark.parametrize("kw", [{"n": 2}, {"logprobs": True, "top_logprobs": 3},
                                {"tools": [WEATHER], "parallel_tool_calls": False}])
def test_cohere_refuses_what_it_cannot_do(kw: dict[str, Any], mode: str) -> None:
    param = "top_logprobs" if "top_logprobs" in kw else list(kw)[-1]
    with harness("cohere") as h:
        assert refused(h, mode, param, **kw).startswith("Cohere does not support")

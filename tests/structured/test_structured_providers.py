"""Structured output into Python types on every provider's wire server (issue 17, part 2):
the native form each API gets (or the forced tool call when the catalog says the model has no
JSON mode), valid, invalid and streamed answers, sync and async."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from pydantic import BaseModel
from structured_kit import ALL, FORCED, Harness, harness

from cencori_core import OutputValidationError
from cencori_core.testing import UsageRecorder


class City(BaseModel):
    name: str
    population: int


PARIS = '{"name": "Paris", "population": 2100000}'
ASK = [{"role": "user", "content": "The largest city of France, as JSON."}]


@pytest.fixture(params=["sync", "async"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _answer(h: Harness, text: str) -> None:
    if h.name in FORCED:
        h.answer_tool("City", text)
    else:
        h.answer(text)


def chat(h: Harness, mode: str, **kw: Any) -> Any:
    kw.setdefault("messages", ASK)
    if mode == "sync":
        return h.router.chat(model=h.model, **kw)
    return asyncio.run(h.router.achat(model=h.model, **kw))


def stream(h: Harness, mode: str, **kw: Any) -> tuple[list[Any], Any]:
    kw.setdefault("messages", ASK)
    if mode == "sync":
        with h.router.chat_stream(model=h.model, **kw) as s:
            chunks = list(s)
        return chunks, s

    async def run() -> tuple[list[Any], Any]:
        async with h.router.achat_stream(model=h.model, **kw) as s:
            chunks = [c async for c in s]
        return chunks, s
    return asyncio.run(run())


def _schema_sent(h: Harness, body: dict[str, Any]) -> dict[str, Any]:
    """The JSON schema as the provider's API received it, checking the native field (or the
    forced tool) on the way."""
    if h.name in ("openai", "xai"):
        rf = body["response_format"]
        assert rf["type"] == "json_schema" and rf["json_schema"]["strict"] is True
        assert rf["json_schema"]["name"] == "City"
        return dict(rf["json_schema"]["schema"])
    if h.name == "deepseek":  # JSON mode only: the schema goes in a system message
        assert body["response_format"] == {"type": "json_object"}
        last = body["messages"][-1]
        assert last["role"] == "system" and "JSON schema" in last["content"]
        return dict(json.loads(last["content"].split("JSON schema: ", 1)[1]))
    if h.name == "anthropic":
        fmt = body["output_config"]["format"]
        assert fmt["type"] == "json_schema" and "tools" not in body
        return dict(fmt["schema"])
    if h.name == "google":
        cfg = body["generationConfig"]
        assert cfg["responseMimeType"] == "application/json"
        return dict(cfg["responseJsonSchema"])
    if h.name == "mistral":
        rf = body["response_format"]
        assert rf["type"] == "json_schema" and rf["json_schema"]["name"] == "City"
        return dict(rf["json_schema"]["schema"])
    if h.name == "cohere":
        rf = body["response_format"]
        assert rf["type"] == "json_object"
        return dict(rf["json_schema"])
    # forced: no JSON mode, the one tool is the schema and the model must call it
    assert h.name == "anthropic-legacy"
    assert "output_config" not in body
    assert body["tool_choice"]["type"] == "tool" and body["tool_choice"]["name"] == "City"
    (tool,) = body["tools"]
    assert tool["name"] == "City"
    return dict(tool["input_schema"])


@pytest.mark.parametrize("name", ALL)
def test_valid_answer_is_parsed(name: str, mode: str) -> None:
    with harness(name) as h:
        _answer(h, PARIS)
        r = chat(h, mode, response_format=City)
        assert r.parsed == City(name="Paris", population=2_100_000)
        assert json.loads(r.content) == {"name": "Paris", "population": 2_100_000}
        assert r.tool_calls == [] and r.finish_reason == "stop"
        assert r.choices[0].content == r.content
        schema = _schema_sent(h, h.bodies()[-1])
        assert schema["properties"].keys() == {"name", "population"}
        assert schema["required"] == ["name", "population"]
        assert schema["additionalProperties"] is False


@pytest.mark.parametrize("name", ALL)
def test_invalid_answer_raises_with_raw_text_and_errors(name: str, mode: str) -> None:
    rec = UsageRecorder()
    with harness(name, rec) as h:
        _answer(h, '{"name": "Paris", "population": "lots"}')
        with pytest.raises(OutputValidationError) as info:
            chat(h, mode, response_format=City)
        err = info.value
        assert json.loads(err.raw or "") == {"name": "Paris", "population": "lots"}
        assert [e["loc"] for e in err.errors] == [("population",)]
        assert err.errors[0]["type"] == "int_parsing"
        assert "input" not in err.errors[0]  # the answer's values stay out of the errors
        assert "population" in str(err)
        assert err.response is not None and err.response.parsed is None
        # one logical call, recorded as failed, with what the answer cost
        assert rec.statuses == ["error"]
        assert rec.last is not None and rec.last.error == "OutputValidationError"
        assert rec.last.usage.total_tokens > 0


@pytest.mark.parametrize("name", ALL)
def test_streamed_answer_is_parsed_at_the_end(name: str, mode: str) -> None:
    with harness(name) as h:
        _answer(h, PARIS)
        chunks, s = stream(h, mode, response_format=City)
        text = "".join(c.delta for c in chunks)
        assert json.loads(text) == {"name": "Paris", "population": 2_100_000}
        assert not any(c.tool_calls for c in chunks)  # a forced call arrives as text
        assert s.parsed == City(name="Paris", population=2_100_000)
        assert s.final_response().parsed == s.parsed
        _schema_sent(h, h.bodies()[-1])


@pytest.mark.parametrize("name", ALL)
def test_streamed_invalid_answer_raises_at_the_end(name: str, mode: str) -> None:
    rec = UsageRecorder()
    with harness(name, rec) as h:
        _answer(h, '{"name": "Paris"}')
        with pytest.raises(OutputValidationError) as info:
            stream(h, mode, response_format=City)
        assert [e["loc"] for e in info.value.errors] == [("population",)]
        assert json.loads(info.value.raw or "") == {"name": "Paris"}
        assert rec.statuses == ["error"]


@pytest.mark.parametrize("name", ["openai", "anthropic", "google", "anthropic-legacy"])
def test_output_retries_ask_again_with_the_errors(name: str, mode: str) -> None:
    rec = UsageRecorder()
    with harness(name, rec) as h:
        _answer(h, '{"name": "Paris"}')
        _answer(h, PARIS)
        r = chat(h, mode, response_format=City, output_retries=2)
        assert r.parsed == City(name="Paris", population=2_100_000)
        # two real attempts, each its own recorded (and budgeted) call
        assert len(h.bodies()) == 2 and rec.statuses == ["error", "ok"]
        second = json.dumps(h.bodies()[1])
        assert "population" in second and "Field required" in second


def test_output_retries_give_up_with_the_last_error(mode: str) -> None:
    rec = UsageRecorder()
    with harness("openai", rec) as h:
        for _ in range(3):
            h.answer("not json at all")
        with pytest.raises(OutputValidationError) as info:
            chat(h, mode, response_format=City, output_retries=2)
        assert info.value.raw == "not json at all"
        assert info.value.errors[0]["type"] == "json_invalid"
        assert len(h.bodies()) == 3 and rec.statuses == ["error"] * 3


def test_dict_schema_travels_as_a_forced_tool_too(mode: str) -> None:
    """A JSON-schema dict (no type: nothing to validate) on a model without JSON mode."""
    schema = {"type": "object", "properties": {"x": {"type": "integer"}}, "required": ["x"]}
    with harness("anthropic-legacy") as h:
        h.answer_tool("point", '{"x": 3}')
        r = chat(h, mode, response_format={"type": "json_schema",
                                           "json_schema": {"name": "point", "schema": schema}})
        assert json.loads(r.content) == {"x": 3} and r.parsed is None and r.tool_calls == []
        assert h.bodies()[-1]["tool_choice"] == {"type": "tool", "name": "point"}

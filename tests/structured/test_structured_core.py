"""Structured output at the router (issue 17, part 2), on the echo provider (which answers a
JSON response_format with the last user text as it is): the types accepted, the schema sent,
parsing, errors, retries, streams, and pydantic imported only when a type is given."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

import pytest
from openai_wire import OpenAIWire
from pydantic import BaseModel, Field
from typing_extensions import TypedDict  # pydantic wants it on Python < 3.12

from cencori_core import InvalidRequestError, OutputValidationError, RetryPolicy, Router
from cencori_core._structured import output_spec, strict_schema
from cencori_core.testing import UsageRecorder


class City(BaseModel):
    name: str
    population: int = Field(ge=0)
    nickname: str | None = None


@dataclass
class Point:
    x: int
    y: int


class Movie(TypedDict):
    title: str
    year: int


def ask(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


@pytest.fixture
def router() -> Router:
    return Router(load_entrypoints=False)


@pytest.mark.parametrize(("tp", "text", "expected"), [
    (City, '{"name": "Paris", "population": 2, "nickname": null}',
     City(name="Paris", population=2)),
    (Point, '{"x": 1, "y": 2}', Point(1, 2)),
    (Movie, '{"title": "Heat", "year": 1995}', {"title": "Heat", "year": 1995}),
    (list[int], '{"value": [1, 2, 3]}', [1, 2, 3]),
    (list[Point], '[{"x": 1, "y": 2}]', [Point(1, 2)]),  # a bare value is accepted too
    (int | None, '{"value": null}', None),
])
def test_types_are_parsed(router: Router, tp: Any, text: str, expected: Any) -> None:
    r = router.chat(model="echo/echo", messages=ask(text), response_format=tp)
    assert r.parsed == expected
    assert r.content == text


def test_a_code_fence_around_the_json_is_tolerated() -> None:
    text = '```json\n{"name": "Oslo", "population": 1}\n```'
    assert output_spec(City).parse(text) == City(name="Oslo", population=1)


def test_schema_is_strict_and_non_objects_are_wrapped() -> None:
    spec = output_spec(City)
    js = spec.response_format["json_schema"]
    assert js["name"] == "City" and js["strict"] is True
    assert js["schema"]["required"] == ["name", "population", "nickname"]
    assert js["schema"]["additionalProperties"] is False
    assert output_spec(City) is spec  # cached per type
    boxed = output_spec(list[Point])
    schema = boxed.response_format["json_schema"]["schema"]
    assert schema["required"] == ["value"] and "$defs" in schema
    assert schema["$defs"]["Point"]["additionalProperties"] is False
    assert boxed.name == "list_Point"
    original = {"type": "object", "properties": {"a": {"default": None}}}
    assert strict_schema(original)["properties"]["a"] == {}
    assert original["properties"]["a"] == {"default": None}  # the input is left alone


class Trip(BaseModel):
    start: City = Field(description="where it begins")
    stops: list[Point] = []


def test_described_nested_models_are_inlined_for_strict_mode(router: Router) -> None:
    schema = output_spec(Trip).response_format["json_schema"]["schema"]
    start = schema["properties"]["start"]
    assert "$ref" not in start and start["description"] == "where it begins"
    assert start["additionalProperties"] is False and start["required"][0] == "name"
    assert schema["properties"]["stops"]["items"] == {"$ref": "#/$defs/Point"}  # alone: kept
    text = ('{"start": {"name": "A", "population": 1, "nickname": null}, '
            '"stops": [{"x": 1, "y": 2}]}')
    r = router.chat(model="echo/echo", messages=ask(text), response_format=Trip)
    assert r.parsed.stops == [Point(1, 2)]
    assert r.to_dict()["parsed"]["start"]["name"] == "A"
    p = router.chat(model="echo/echo", messages=ask('{"x": 1, "y": 2}'), response_format=Point)
    assert p.to_dict()["parsed"] == {"x": 1, "y": 2}


def test_validation_errors_name_the_field(router: Router) -> None:
    rec = UsageRecorder()
    r = Router(load_entrypoints=False, plugins=[rec])
    with pytest.raises(OutputValidationError) as info:
        r.chat(model="echo/echo", messages=ask('{"name": "X", "population": -5}'),
               response_format=City)
    err = info.value
    assert err.errors == [{"type": "greater_than_equal", "loc": ("population",),
                           "msg": "Input should be greater than or equal to 0",
                           "ctx": {"ge": 0}}]
    assert err.raw == '{"name": "X", "population": -5}'
    assert "population: Input should be greater than or equal to 0" in str(err)
    assert isinstance(err, ValueError) and rec.statuses == ["error"]
    assert router.chat(model="echo/echo", messages=ask("{}"),
                       response_format={"type": "json_object"}).parsed is None  # dict: no type


def test_output_retries_on_echo_each_a_recorded_call() -> None:
    rec = UsageRecorder()
    r = Router(load_entrypoints=False, plugins=[rec])
    with pytest.raises(OutputValidationError):
        # echo repeats the re-ask, which is no City either
        r.chat(model="echo/echo", messages=ask("nope"), response_format=City, output_retries=2)
    assert rec.statuses == ["error", "error", "error"]
    assert len({x.request_id for x in rec.records}) == 3
    ok = asyncio.run(r.achat(model="echo/echo", messages=ask('{"x": 0, "y": 0}'),
                             response_format=Point, output_retries=1))
    assert ok.parsed == Point(0, 0) and rec.statuses[-1] == "ok"


@pytest.mark.parametrize("bad", [object(), 3, "City", [City]])
def test_values_that_are_no_types_are_refused(router: Router, bad: Any) -> None:
    with pytest.raises(InvalidRequestError, match="response_format must be a type"):
        router.chat(model="echo/echo", messages=ask("x"), response_format=bad)


def test_types_without_a_schema_are_refused(router: Router) -> None:
    class Opaque:
        pass

    with pytest.raises(InvalidRequestError, match="cannot be described as a JSON schema"):
        router.chat(model="echo/echo", messages=ask("x"), response_format=Opaque)


def test_streams_parse_at_the_end(router: Router) -> None:
    with router.chat_stream(model="echo/echo", messages=ask('{"x": 1, "y": 5}'),
                            response_format=Point) as s:
        with pytest.raises(InvalidRequestError, match="has not ended"):
            _ = s.parsed
        assert "".join(c.delta for c in s) == '{"x": 1, "y": 5}'
    assert s.parsed == Point(1, 5)

    async def run() -> Any:
        async with router.achat_stream(model="echo/echo", messages=ask('{"x": "a"}'),
                                       response_format=Point) as a:
            async for _ in a:
                pass
    with pytest.raises(OutputValidationError) as info:
        asyncio.run(run())
    assert {e["loc"] for e in info.value.errors} == {("x",), ("y",)}


def test_a_refusal_is_not_a_validation_error() -> None:
    with OpenAIWire() as wire:
        wire.chat_reply(None, refusal="I can't help with that.")
        r = Router(providers={"openai": {"api_key": "sk-test-refusal-0123456789",
                                         "base_url": wire.base_url}},
                   plugins=["openai"], retry=RetryPolicy(max_attempts=1))
        resp = r.chat(model="gpt-4o", messages=ask("x"), response_format=City)
        assert resp.refusal == "I can't help with that." and resp.parsed is None
        r.close()


def test_pydantic_is_imported_only_for_a_type() -> None:
    code = ("import sys\nfrom cencori_core import Router\n"
            "r = Router(load_entrypoints=False)\n"
            "r.chat(model='echo/echo', messages=[{'role': 'user', 'content': '{}'}],"
            " response_format={'type': 'json_object'}, n=2, reasoning_effort='low')\n"
            "assert 'pydantic' not in sys.modules, 'pydantic imported'\n"
            "from dataclasses import dataclass\n"
            "@dataclass\nclass P:\n    x: int\n"
            "r.chat(model='echo/echo', messages=[{'role': 'user', 'content': '{\"x\": 1}'}],"
            " response_format=P)\n"
            "assert 'pydantic' in sys.modules\n")
    subprocess.run([sys.executable, "-c", code], check=True)

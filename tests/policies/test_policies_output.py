"""OutputGuard: tool-call arguments against the declared schema, and the system-prompt canary,
on responses and streams (sync and async)."""

from __future__ import annotations

import pytest
from parity import MODES, call, stream
from policy_kit import decisions, make, user

from cencori_core import ConfigurationError, PolicyViolationError
from cencori_core.policies import OutputGuard
from cencori_core.policies._schema import errors
from cencori_core.testing import reply, tool_call

WEATHER = {"type": "function", "function": {"name": "weather", "parameters": {
    "type": "object", "additionalProperties": False, "required": ["city"],
    "properties": {"city": {"type": "string", "minLength": 2},
                   "unit": {"enum": ["c", "f"]},
                   "days": {"type": "integer", "minimum": 1, "maximum": 7}}}}}
CANARY = "cnry-7f3a9b2c4d5e"


@pytest.mark.parametrize("value,ok", [
    ({"city": "Paris"}, True),
    ({"city": "Paris", "unit": "c", "days": 3}, True),
    ({"unit": "c"}, False),
    ({"city": "P"}, False),
    ({"city": "Paris", "days": 9}, False),
    ({"city": "Paris", "days": True}, False),
    ({"city": "Paris", "extra": 1}, False),
    ({"city": "Paris", "unit": "k"}, False),
])
def test_schema_subset(value, ok):
    assert (errors(value, WEATHER["function"]["parameters"]) == []) is ok


def test_schema_refs_and_combinators():
    schema = {"$defs": {"pos": {"type": "number", "exclusiveMinimum": 0}},
              "type": "object", "properties": {
                  "a": {"$ref": "#/$defs/pos"},
                  "b": {"anyOf": [{"type": "string"}, {"type": "null"}]},
                  "c": {"type": "array", "items": {"type": "integer"}, "maxItems": 2}}}
    assert errors({"a": 1.5, "b": None, "c": [1, 2]}, schema) == []
    assert len(errors({"a": 0, "b": 3, "c": [1, "x", 3]}, schema)) == 4


@pytest.mark.parametrize("mode", MODES)
def test_invalid_tool_arguments_are_flagged(mode):
    router, fake, _ = make([OutputGuard()])
    fake.script(reply(None, tool_calls=[tool_call("weather", {"unit": "c"}),
                                        tool_call("launch", {})]))
    r = call(router, mode, "chat", model="m", messages=user("hi"), tools=[WEATHER])
    assert decisions(r) == [("output", "tool_schema", "flag", 1),
                            ("output", "undeclared_tool", "flag", 1)]
    fake.script(reply(None, tool_calls=[tool_call("weather", {"city": "Oslo"})]))
    r = call(router, mode, "chat", model="m", messages=user("hi"), tools=[WEATHER])
    assert r.policy_decisions == []


@pytest.mark.parametrize("mode", MODES)
def test_invalid_tool_arguments_block_when_configured(mode):
    router, fake, sink = make([OutputGuard(mode="block")])
    fake.script(reply(None, tool_calls=[tool_call("weather", '{"city": ')]))  # malformed JSON
    with pytest.raises(PolicyViolationError) as info:
        call(router, mode, "chat", model="m", messages=user("hi"), tools=[WEATHER])
    assert (info.value.policy, info.value.rule) == ("output", "tool_schema")
    assert sink.statuses == ["blocked"]


@pytest.mark.parametrize("mode", MODES)
def test_stream_block_holds_tool_calls_until_checked(mode):
    router, fake, _ = make([OutputGuard(mode="block")], chunk_size=3)
    fake.script(reply("ok", tool_calls=[tool_call("weather", {"city": "Oslo", "days": 2})]))
    chunks, s = stream(router, mode, model="m", messages=user("hi"), tools=[WEATHER])
    with_calls = [c for c in chunks if c.tool_calls]
    assert len(with_calls) == 1 and with_calls[0].finish_reason == "tool_calls"
    assert s.response.tool_calls[0].arguments == {"city": "Oslo", "days": 2}
    fake.script(reply(None, tool_calls=[tool_call("weather", {"city": "Oslo", "days": 99})]))
    seen: list = []
    with pytest.raises(PolicyViolationError):
        seen, _ = stream(router, mode, model="m", messages=user("hi"), tools=[WEATHER])
    assert not any(c.tool_calls for c in seen)


@pytest.mark.parametrize("mode", MODES)
def test_canary_is_planted_once_and_caught(mode):
    router, fake, sink = make([OutputGuard(canary=CANARY, mode="block")])
    fake.script(f"the marker is {CANARY}")
    with pytest.raises(PolicyViolationError) as info:
        call(router, mode, "chat", model="m",
             messages=[{"role": "system", "content": "be nice"}, *user("hi")])
    assert info.value.rule == "canary" and CANARY not in str(info.value)
    sent = fake.last_request.messages
    assert sent[0].role == "system" and CANARY in sent[0].content and sent[1].content == "be nice"
    # Already in the system prompt: not added twice.
    call(router, mode, "chat", model="m",
         messages=[{"role": "system", "content": f"marker {CANARY}"}, *user("hi")])
    assert [m.content for m in fake.last_request.messages][0] == f"marker {CANARY}"
    assert sink.statuses == ["blocked", "ok"]


@pytest.mark.parametrize("mode", MODES)
def test_canary_split_across_stream_chunks(mode):
    router, fake, _ = make([OutputGuard(canary=CANARY, canary_mode="redact")], chunk_size=2)
    fake.script(f"leaking {CANARY} now")
    chunks, s = stream(router, mode, model="m", messages=user("hi"))
    assert "".join(c.delta for c in chunks) == "leaking [REDACTED_CANARY] now"
    assert not any("7f3a" in c.delta for c in chunks)
    assert decisions(s.response) == [("output", "canary", "redact", 1)]
    router, fake, _ = make([OutputGuard(canary=CANARY, mode="block")], chunk_size=5)
    fake.script(f"leaking {CANARY} now")
    with pytest.raises(PolicyViolationError):
        stream(router, mode, model="m", messages=user("hi"))


@pytest.mark.parametrize("mode", MODES)
def test_canary_flag_and_random_canary(mode):
    guard = OutputGuard(canary=True)
    assert guard.canary and guard.canary not in repr(guard)
    router, fake, _ = make([guard])
    fake.script(lambda request: f"system said {request.messages[0].content}")
    r = call(router, mode, "chat", model="m", messages=user("hi"))
    assert decisions(r) == [("output", "canary", "flag", 1)]


def test_configuration_errors():
    with pytest.raises(ConfigurationError):
        OutputGuard(canary="short")
    with pytest.raises(ConfigurationError):
        OutputGuard(canary=CANARY, canary_mode="shout")


@pytest.mark.parametrize("mode", MODES)
def test_canary_and_tool_holding_together_on_a_stream(mode):
    router, fake, _ = make([OutputGuard(mode="block", canary=CANARY, canary_mode="redact")],
                           chunk_size=2)
    fake.script(reply(f"long enough text to be held back in pieces, then {CANARY} here",
                      tool_calls=[tool_call("weather", {"city": "Oslo"})]))
    chunks, s = stream(router, mode, model="m", messages=user("hi"), tools=[WEATHER])
    assert s.response.content == ("long enough text to be held back in pieces, then "
                                  "[REDACTED_CANARY] here")
    assert s.response.tool_calls[0].arguments == {"city": "Oslo"}

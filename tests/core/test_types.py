"""Normalized types: frozen, to_dict() JSON-safe, tool-call parsing."""

from __future__ import annotations

import dataclasses
import json
from decimal import Decimal

import pytest

from cencori_core import ChatResponse, Cost, Speech, ToolCall, Usage


def test_tool_call_parsing_never_raises():
    ok = ToolCall.from_raw(id="1", name="f", arguments_raw='{"a": [1, 2]}')
    assert ok.arguments == {"a": [1, 2]} and ok.parse_error is None
    bad = ToolCall.from_raw(id="2", name="f", arguments_raw='{"a": ')
    assert bad.arguments is None and bad.arguments_raw == '{"a": ' and "not valid JSON" in \
        bad.parse_error
    arr = ToolCall.from_raw(id="3", name="f", arguments_raw="[1]")
    assert arr.arguments is None and "not an object" in arr.parse_error
    empty = ToolCall.from_raw(id="4", name="f", arguments_raw="")
    assert empty.arguments == {}


def test_frozen_and_json_safe():
    r = ChatResponse(content="x", cost=Cost(input=Decimal("0.1"), output=Decimal("0.2"),
                                            total=Decimal("0.3")), raw=object())
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.content = "y"  # type: ignore[misc]
    d = r.to_dict()
    assert d["cost"]["total"] == "0.3" and "raw" not in d
    json.dumps(d)
    s = Speech(audio=b"\x00\x01", format="wav")
    assert json.loads(json.dumps(s.to_dict()))["audio"] == "AAE="
    assert "audio=" not in repr(s)  # bytes kept out of the repr


def test_usage_addition_keeps_source():
    a = Usage.of(1, 2)
    b = Usage.of(3, 4, source="estimated")
    c = a + b
    assert (c.prompt_tokens, c.completion_tokens, c.total_tokens, c.source) == (4, 6, 10,
                                                                                 "estimated")

"""The common chat parameters (issue 17) on Bedrock: reasoning_effort is Claude's extended
thinking budget on Converse (additionalModelRequestFields), the rest are refused before anything
is sent, sync and async, through boto3 against :mod:`bedrock_wire`."""

from __future__ import annotations

import pytest
from bedrock_fixtures import *  # noqa: F403 - the fixtures (server, mode, ...)
from bedrock_wire import router_for
from parity import call

from cencori_core import InvalidRequestError

HI = [{"role": "user", "content": "Hi"}]
CLAUDE = "bedrock/us.anthropic.claude-sonnet-4-20250514-v1:0"
NOVA = "bedrock/amazon.nova-pro-v1:0"


def test_reasoning_effort_is_claudes_thinking_budget(server, mode):
    with router_for(server) as r:
        call(r, mode, "chat", model=CLAUDE, messages=HI, reasoning_effort="low",
             max_tokens=8000,
             provider_options={"additionalModelRequestFields": {"top_k": 5}})
    (body,) = server.bodies("/converse")
    assert body["additionalModelRequestFields"] == {
        "thinking": {"type": "enabled", "budget_tokens": 4096}, "top_k": 5}
    assert body["inferenceConfig"]["maxTokens"] == 8000


@pytest.mark.parametrize("kw,param", [
    ({"n": 2}, "n"),
    ({"logprobs": True}, "logprobs"),
    ({"presence_penalty": 0.5}, "presence_penalty"),
    ({"frequency_penalty": 0.5}, "frequency_penalty"),
    ({"parallel_tool_calls": False, "tools": [{"type": "function", "function": {
        "name": "f", "parameters": {"type": "object", "properties": {}}}}]},
     "parallel_tool_calls"),
])
def test_what_converse_cannot_honour_is_refused_before_sending(server, mode, kw, param):
    with router_for(server) as r, pytest.raises(InvalidRequestError) as info:
        call(r, mode, "chat", model=CLAUDE, messages=HI, **kw)
    assert info.value.param == param and "Bedrock" in str(info.value)
    assert server.requests == []


def test_reasoning_effort_outside_claude_and_without_room_is_refused(server, mode):
    with router_for(server) as r:
        with pytest.raises(InvalidRequestError, match="only Anthropic Claude|not a reasoning"):
            call(r, mode, "chat", model=NOVA, messages=HI, reasoning_effort="high")
        with pytest.raises(InvalidRequestError, match="max_tokens above 1024"):
            call(r, mode, "chat", model=CLAUDE, messages=HI, reasoning_effort="high")
    assert server.requests == []

"""Negative usage from a provider (issue 13, item 12), through the real openai SDK against the
loopback wire server of tests/openai_wire.py, sync and async, plain and streamed.

Before: a usage of -5 prompt tokens was stored as -5 (a negative cost credits the budget).
"""

from __future__ import annotations

import logging

import pytest
from openai_wire import OpenAIWire, openai_wire  # noqa: F401 - the fixture
from parity import call, stream

from cencori_core import RetryPolicy, Router
from cencori_core.testing import UsageRecorder

USER = [{"role": "user", "content": "Hello there"}]
BAD = {"prompt_tokens": -5, "completion_tokens": 7, "total_tokens": 2,
       "completion_tokens_details": {"reasoning_tokens": -3}}


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("streamed", [False, True], ids=["chat", "stream"])
def test_negative_usage_is_clamped_and_reported(openai_wire: OpenAIWire, mode, streamed,  # noqa: F811
                                                caplog):
    sink = UsageRecorder()
    router = Router(providers={"openai": {"api_key": "sk-test-usage-0123456789abcdef",
                                          "base_url": openai_wire.base_url}},
                    plugins=["openai", sink], retry=RetryPolicy(max_attempts=1),
                    budgets=[{"limit": "1"}])
    openai_wire.chat_reply("ok", usage=BAD)
    with caplog.at_level(logging.WARNING, "cencori_core"):
        if streamed:
            _, s = stream(router, mode, model="gpt-4o", messages=USER)
            r = s.response
        else:
            r = call(router, mode, "chat", model="gpt-4o", messages=USER)
    u = r.usage
    assert (u.prompt_tokens, u.completion_tokens, u.reasoning_tokens, u.total_tokens) == \
        (0, 7, 0, 7)
    assert r.cost is not None and r.cost.total >= 0
    (record,) = sink.records
    assert record.usage.prompt_tokens == 0 and record.cost.total >= 0
    assert "reported impossible usage" in caplog.text and "prompt_tokens=-5" in caplog.text
    assert router.usage.budget().spent == record.cost.total
    router.close()

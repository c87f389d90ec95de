"""Accounting end to end with a real SDK: the official ``openai`` client against the OpenAI
wire-format server on 127.0.0.1 (tests/openai_wire.py), through both drivers and streams."""

from __future__ import annotations

from decimal import Decimal

import pytest
from openai_wire import OpenAIWire, openai_wire
from parity import MODES, call, raises, stream

from cencori_core import BudgetExceededError, RateLimitExceededError, Router
from cencori_core.testing import UsageRecorder

__all__ = ["openai_wire"]  # the fixture, imported for pytest

USER = [{"role": "user", "content": "Hello there"}]
USAGE = {"prompt_tokens": 1200, "completion_tokens": 300, "total_tokens": 1500,
         "prompt_tokens_details": {"cached_tokens": 1024},
         "completion_tokens_details": {"reasoning_tokens": 100}}
# gpt-4o: 176 uncached at $2.50/M + 1024 cached at $1.25/M; 300 out at $10/M
COST = Decimal("0.00044") + Decimal("0.00128") + Decimal("0.003")


def build(wire: OpenAIWire, name: str = "azure-east", **kw) -> tuple[Router, UsageRecorder]:
    sink = UsageRecorder()
    router = Router(providers={name: {"type": "openai", "api_key": "sk-test-0123456789abcdef",
                                      "base_url": wire.base_url}},
                    plugins=["openai", sink], **kw)
    return router, sink


@pytest.mark.parametrize("mode", MODES)
def test_usage_and_cost_from_the_wire_stream_and_plain_alike(openai_wire, mode):
    """A provider configured under another name (type openai) is priced with openai's data;
    the cached tokens are in the prompt and charged once; streams carry the same usage."""
    router, sink = build(openai_wire)
    openai_wire.chat_reply("Fine, thanks.", usage=USAGE, times=2)
    plain = call(router, mode, "chat", model="azure-east/gpt-4o", messages=USER)
    _, s = stream(router, mode, model="azure-east/gpt-4o", messages=USER)
    assert openai_wire.last("/chat/completions").json["stream_options"] == {
        "include_usage": True}
    for resp in (plain, s.response):
        u = resp.usage
        assert (u.prompt_tokens, u.completion_tokens, u.total_tokens, u.cached_tokens,
                u.reasoning_tokens, u.source) == (1200, 300, 1500, 1024, 100, "provider")
        assert resp.cost.total == COST and resp.cost.cached_input == Decimal("0.00128")
    assert [r.cost.total for r in sink.records] == [COST, COST]
    assert [r.provider for r in sink.records] == ["azure-east", "azure-east"]
    (row,) = router.usage.summary(by="provider")
    assert (row.key, row.calls, row.cost) == ("azure-east", 2, 2 * COST)
    router.close()


@pytest.mark.parametrize("mode", MODES)
def test_budget_and_rate_limit_refuse_before_any_request(openai_wire, mode):
    router, sink = build(openai_wire, budgets=[{"limit": "0.01"}], rate_limits=[{"rpm": 2}])
    openai_wire.chat_reply("ok", usage=USAGE)
    # the worst case (4096 output tokens at $10/M) does not fit in one cent
    raises(router, mode, "chat", BudgetExceededError, model="azure-east/gpt-4o",
           messages=USER)
    assert openai_wire.hits_to("/chat/completions") == 0
    call(router, mode, "chat", model="azure-east/gpt-4o", messages=USER, max_tokens=300)
    assert router.usage.budget().spent == COST and router.usage.budget().reserved == 0
    stream(router, mode, model="azure-east/gpt-4o", messages=USER, max_tokens=10)
    raises(router, mode, "chat", RateLimitExceededError, model="azure-east/gpt-4o",
           messages=USER, max_tokens=10)
    assert openai_wire.hits_to("/chat/completions") == 2
    assert [r.status for r in sink.records] == ["blocked", "ok", "ok", "blocked"]
    router.close()


@pytest.mark.parametrize("mode", MODES)
def test_project_key_scopes_a_real_call(openai_wire, mode):
    router, sink = build(openai_wire, name="openai")
    key = router.projects.create("acme", providers=["openai"], budget="1")
    call(router, mode, "chat", model="gpt-4o", messages=USER, api_key=key, max_tokens=50)
    assert sink.records[0].project == "acme" and sink.records[0].cost.total > 0
    assert router.usage.budget(project="acme").spent == sink.records[0].cost.total
    router.close()

"""Budgets and rate limits on the in-memory store, through both drivers: refusal before any
network call, reserve → settle / release, scopes and windows, and races of 200 concurrent calls.

Prices are overridden so costs are round: model ``m`` costs $1 per output token and nothing for
input, so a call with ``max_tokens=10`` reserves exactly $10.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
from parity import MODES, call, raises, stream

from cencori_core import (
    BudgetExceededError,
    ChatChunk,
    ConfigurationError,
    RateLimitExceededError,
    Router,
    Usage,
)
from cencori_core.testing import FakeProvider, UsageRecorder, http_error, reply

USER = [{"role": "user", "content": "Hello"}]
PRICES = {"m": {"input": 0, "output": 1_000_000}, "mi": {"input": 1_000_000, "output": 1_000_000}}
D = Decimal


def make(budgets=None, rate_limits=None, latency=0.0, **kw):
    fake = FakeProvider(name="local", models=["m", "mi", "other"], latency=latency)
    sink = UsageRecorder()
    router = Router(providers={"local": fake}, load_entrypoints=False, plugins=[sink],
                    prices=PRICES, budgets=budgets, rate_limits=rate_limits, **kw)
    return router, fake, sink


def out(n: int, prompt: int = 0) -> object:
    return reply("ok", usage=Usage.of(prompt, n))


# ---------------------------------------------------------------------------- budgets


@pytest.mark.parametrize("mode", MODES)
def test_exceeding_is_refused_before_any_network_call(mode):
    router, fake, sink = make(budgets=[{"limit": "5"}])
    err = raises(router, mode, "chat", BudgetExceededError, model="m", messages=USER,
                 max_tokens=10)
    raises(router, mode, "chat_stream", BudgetExceededError, model="m", messages=USER,
           max_tokens=10)
    assert fake.calls == []
    assert [r.status for r in sink.records] == ["blocked", "blocked"]
    assert (err.policy, err.rule, err.scope, err.limit) == ("budget", "total", "all", D(5))
    assert "up to $10" in str(err)


@pytest.mark.parametrize("mode", MODES)
def test_settles_the_actual_cost(mode):
    router, fake, _ = make(budgets=[{"limit": "100"}])
    fake.script(out(3), out(4))
    call(router, mode, "chat", model="m", messages=USER, max_tokens=10)
    stream(router, mode, model="m", messages=USER, max_tokens=10)
    state = router.usage.budget()
    assert (state.spent, state.reserved) == (D(7), D(0))


@pytest.mark.parametrize("mode", MODES)
def test_failure_releases_and_cancellation_charges_only_what_streamed(mode):
    router, fake, _ = make(budgets=[{"limit": "100"}])
    fake.script(http_error(400, "bad request"))
    raises(router, mode, "chat", Exception, model="m", messages=USER, max_tokens=10)
    assert router.usage.budget().spent == 0 and router.usage.budget().reserved == 0
    fake.script([ChatChunk(delta="a"), ChatChunk(delta="b"), http_error(500, "reset")])
    raises(router, mode, "chat_stream", Exception, model="m", messages=USER, max_tokens=10)
    fake.script(reply("one two three four five", usage=Usage.of(1, 5)))
    stream(router, mode, limit=1, model="m", messages=USER, max_tokens=10)
    state = router.usage.budget()
    assert state.reserved == 0
    # two partial answers, each estimated at one output token
    assert state.spent == D(2)


@pytest.mark.parametrize("mode", MODES)
def test_each_user_has_their_own_budget(mode):
    router, fake, _ = make(budgets=[{"user": "*", "limit": "10"}])
    fake.script(out(10), out(10))
    call(router, mode, "chat", model="m", messages=USER, max_tokens=10, user="ann")
    raises(router, mode, "chat", BudgetExceededError, model="m", messages=USER, max_tokens=1,
           user="ann")
    call(router, mode, "chat", model="m", messages=USER, max_tokens=10, user="bob")
    assert router.usage.budget(user="ann").spent == D(10)
    # calls without a user are outside per-user budgets
    call(router, mode, "chat", model="m", messages=USER, max_tokens=10)


@pytest.mark.parametrize("mode", MODES)
def test_project_budget_per_day(mode):
    router, fake, _ = make()
    key = router.projects.create("acme", budget="15", budget_window="day")
    fake.script(out(10))
    call(router, mode, "chat", model="m", messages=USER, max_tokens=10, api_key=key)
    err = raises(router, mode, "chat", BudgetExceededError, model="m", messages=USER,
                 max_tokens=10, project="acme")
    today = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d")
    assert err.scope == "project:acme" and today in str(err)
    state = router.usage.budget(project="acme", window="day")
    assert (state.period, state.spent) == (today, D(10))


@pytest.mark.parametrize("mode", MODES)
def test_budget_of_one_key(mode, tmp_path):
    path = tmp_path / "cencori.db"
    with Router(load_entrypoints=False, ledger_path=path) as admin:
        admin.projects.create("acme")
        key = admin.projects.add_key("acme")
    router, fake, _ = make(budgets=[{"key": key[:16], "limit": "3"}], ledger_path=path)
    raises(router, mode, "chat", BudgetExceededError, model="m", messages=USER,
           max_tokens=10, api_key=key)
    fake.script(out(2))
    call(router, mode, "chat", model="m", messages=USER, max_tokens=2, api_key=key)
    assert router.usage.budget(key=key[:16]).spent == D(2)
    router.close()


@pytest.mark.parametrize("mode", MODES)
def test_unpriced_models_pass_until_the_budget_is_exhausted(mode, caplog):
    router, fake, _ = make(budgets=[{"limit": "10"}])
    with caplog.at_level(logging.WARNING, "cencori_core"):
        call(router, mode, "chat", model="other", messages=USER, max_tokens=10)
    assert "budgets cannot estimate the cost of local/other" in caplog.text
    fake.script(out(10))
    call(router, mode, "chat", model="m", messages=USER, max_tokens=10)
    raises(router, mode, "chat", BudgetExceededError, model="other", messages=USER)


def test_reservation_bounds_the_input_whatever_the_language():
    """The input bound is the text's UTF-8 size: CJK text, where four characters a token
    undercounts, still cannot cost more than was reserved."""
    router, fake, _ = make(budgets=[{"limit": "1000"}])
    text = "预算" * 50  # 100 characters, 300 bytes
    fake.script(reply("ok", usage=Usage.of(150, 1)))  # more tokens than characters / 4
    router.chat(model="mi", messages=[{"role": "user", "content": text}], max_tokens=1)
    assert router.usage.budget().spent == D(151)


@pytest.mark.parametrize("mode", MODES)
def test_200_concurrent_calls_never_overspend(mode):
    router, fake, sink = make(budgets=[{"limit": "1000"}], latency=0.005)
    fake.script(*[out(10) for _ in range(200)])
    kw = {"model": "m", "messages": USER, "max_tokens": 10}

    def one(_: int) -> str:
        try:
            router.chat(**kw)
            return "ok"
        except BudgetExceededError:
            return "refused"

    async def aone() -> str:
        try:
            await router.achat(**kw)
            return "ok"
        except BudgetExceededError:
            return "refused"

    if mode == "sync":
        with ThreadPoolExecutor(50) as pool:
            results = list(pool.map(one, range(200)))
    else:
        async def main():
            return await asyncio.gather(*[aone() for _ in range(200)])
        results = asyncio.run(main())
    assert results.count("ok") == 100 and results.count("refused") == 100
    state = router.usage.budget()
    assert state.spent == D(1000) and state.reserved == 0
    assert len(sink.records) == 200


@pytest.mark.parametrize("mode", MODES)
def test_200_concurrent_calls_that_cost_less_than_reserved(mode):
    router, fake, _ = make(budgets=[{"limit": "500"}], latency=0.005)
    fake.script(*[out(i % 10) for i in range(200)])  # $0..$9, $10 reserved each
    kw = {"model": "m", "messages": USER, "max_tokens": 10}

    def one(_):
        try:
            return router.chat(**kw).cost.total
        except BudgetExceededError:
            return None

    async def aone():
        try:
            return (await router.achat(**kw)).cost.total
        except BudgetExceededError:
            return None

    if mode == "sync":
        with ThreadPoolExecutor(50) as pool:
            costs = list(pool.map(one, range(200)))
    else:
        async def main():
            return await asyncio.gather(*[aone() for _ in range(200)])
        costs = asyncio.run(main())
    paid = [c for c in costs if c is not None]
    state = router.usage.budget()
    assert state.reserved == 0 and state.spent == sum(paid) <= 500
    assert len(paid) >= 50  # at least as many as fit at the worst case


def test_bad_budget_rules():
    for rules, match in [([{"limit": "1", "project": "a", "user": "b"}], "at most one"),
                         ([{"limit": "1", "window": "week"}], "total, day, month"),
                         ([{"window": "day"}], "needs a 'limit'"),
                         ([{"limit": "1", "team": "x"}], "unknown key"),
                         ([{"rpm": 0}], None)]:
        kw = {"rate_limits": rules} if "rpm" in rules[0] else {"budgets": rules}
        with pytest.raises(ConfigurationError, match=match):
            Router(load_entrypoints=False, **kw)
    with pytest.raises(ConfigurationError, match="'open' or 'closed'"):
        Router(load_entrypoints=False, budget_fail_mode="maybe")


# ---------------------------------------------------------------------------- rate limits


@pytest.mark.parametrize("mode", MODES)
def test_requests_per_minute(mode):
    router, fake, sink = make(rate_limits=[{"rpm": 3}])
    for _ in range(3):
        call(router, mode, "chat", model="m", messages=USER)
    err = raises(router, mode, "chat", RateLimitExceededError, model="m", messages=USER)
    raises(router, mode, "chat_stream", RateLimitExceededError, model="m", messages=USER)
    assert len(fake.calls) == 3
    assert err.rule == "rpm" and 0 < err.retry_after <= 60
    assert "3 requests per minute" in str(err)
    assert [r.status for r in sink.records][-2:] == ["blocked", "blocked"]


@pytest.mark.parametrize("mode", MODES)
def test_scopes_of_rate_limits(mode):
    router, fake, _ = make(rate_limits=[{"model": "m", "rpm": 1}, {"user": "*", "rpm": 2}])
    call(router, mode, "chat", model="m", messages=USER)
    raises(router, mode, "chat", RateLimitExceededError, model="m", messages=USER)
    call(router, mode, "chat", model="other", messages=USER, user="ann")
    call(router, mode, "chat", model="other", messages=USER, user="ann")
    raises(router, mode, "chat", RateLimitExceededError, model="other", messages=USER,
           user="ann")
    call(router, mode, "chat", model="other", messages=USER, user="bob")
    key = router.projects.create("acme", rate_limits={"rpm": 1})
    call(router, mode, "chat", model="other", messages=USER, api_key=key)
    raises(router, mode, "chat", RateLimitExceededError, model="other", messages=USER,
           project="acme")


@pytest.mark.parametrize("mode", MODES)
def test_tokens_per_minute_count_actual_tokens(mode):
    router, fake, _ = make(rate_limits=[{"tpm": 100}])
    fake.script(out(78, prompt=2), out(78, prompt=2))
    call(router, mode, "chat", model="m", messages=USER)  # 80 tokens
    call(router, mode, "chat", model="m", messages=USER)  # fits (80 + 2), then 160 > 100
    err = raises(router, mode, "chat", RateLimitExceededError, model="m", messages=USER)
    assert err.rule == "tpm" and "100 tokens per minute" in str(err)
    big = [{"role": "user", "content": "x" * 1000}]
    err = raises(router, mode, "chat", RateLimitExceededError, model="other", messages=big)
    assert "more than the whole window" in str(err)


@pytest.mark.parametrize("mode", MODES)
def test_wait_instead_of_raising_when_configured(mode):
    router, fake, _ = make(rate_limits=[{"rpm": 2, "window_s": 1}], rate_limit_wait=5)
    for _ in range(3):  # the third waits for the window to move
        call(router, mode, "chat", model="m", messages=USER)
    assert len(fake.calls) == 3
    router, fake, _ = make(rate_limits=[{"rpm": 1}], rate_limit_wait=0.5)
    call(router, mode, "chat", model="m", messages=USER)
    raises(router, mode, "chat", RateLimitExceededError, model="m", messages=USER)


def test_a_refused_rate_limit_releases_the_budget_reservation():
    router, fake, _ = make(budgets=[{"limit": "100"}], rate_limits=[{"rpm": 1}])
    router.chat(model="m", messages=USER, max_tokens=10)
    with pytest.raises(RateLimitExceededError):
        router.chat(model="m", messages=USER, max_tokens=10)
    assert router.usage.budget().reserved == 0


@pytest.mark.parametrize("mode", MODES)
def test_200_concurrent_calls_share_one_window(mode):
    router, fake, _ = make(rate_limits=[{"rpm": 50}], latency=0.002)

    def one(_):
        try:
            router.chat(model="m", messages=USER)
            return True
        except RateLimitExceededError:
            return False

    async def aone():
        try:
            await router.achat(model="m", messages=USER)
            return True
        except RateLimitExceededError:
            return False

    if mode == "sync":
        with ThreadPoolExecutor(50) as pool:
            results = list(pool.map(one, range(200)))
    else:
        async def main():
            return await asyncio.gather(*[aone() for _ in range(200)])
        results = asyncio.run(main())
    assert results.count(True) == 50 == len(fake.calls)

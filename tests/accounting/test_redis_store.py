"""The Redis store against a real redis-server (tests/conftest.py): the Lua budget scripts,
`limits` windows, project keys shared between routers, both drivers, 4 worker processes sharing
one budget and one rate limit, and Redis down (fail closed / fail open, configurable)."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import time
from decimal import Decimal

import pytest
import redis as redis_py
from conftest import RedisServer, free_port
from parity import MODES, call, raises

from cencori_core import (
    AuthenticationError,
    BudgetExceededError,
    RateLimitExceededError,
    Router,
    Usage,
)
from cencori_core.stores import Counter
from cencori_core.stores.redis import RedisStore
from cencori_core.testing import FakeProvider, reply

USER = [{"role": "user", "content": "Hello"}]
PRICES = {"m": {"input": 0, "output": 1_000_000}}  # $1 per output token
D = Decimal


@pytest.fixture
def redis_url(redis_server):
    url = redis_server.url(0)
    client = redis_py.Redis.from_url(url)
    client.flushdb()
    client.close()
    return url


def make(url, *, budgets=None, rate_limits=None, latency=0.0, **kw):
    fake = FakeProvider(name="local", models=["m"], latency=latency)
    router = Router(providers={"local": fake}, load_entrypoints=False, prices=PRICES,
                    redis_url=url, budgets=budgets, rate_limits=rate_limits, **kw)
    return router, fake


def ten() -> object:
    return reply("ok", usage=Usage.of(0, 10))


# ---------------------------------------------------------------------------- the store


def test_lua_reserve_is_all_or_nothing_and_settle_is_exact(redis_url):
    store = RedisStore(redis_url)
    a, b = Counter("all:total:total", 100), Counter("user:ann:day:2030-01-01", 30, ttl=3600)
    far = time.time() + 600
    assert store.reserve([a, b], "r1", 25, far) is None
    refused = store.reserve([a, b], "r2", 10, far)  # b would pass 30: nothing is reserved
    assert refused.counter == b and (refused.spent, refused.reserved) == (0, 25)
    assert store.state(a.key) == (0, 25)
    store.settle([a.key, b.key], "r1", 7)
    assert store.state(a.key) == (7, 0) and store.state(b.key) == (7, 0)
    store.settle([a.key, b.key], "r1", 0)  # settling twice changes nothing
    assert store.state(a.key) == (7, 0)
    assert 0 < store.client.ttl("cencori:b:" + b.key) <= 3600
    assert store.client.ttl("cencori:b:" + a.key) == -1  # a total budget never expires
    big = 9_000_000 * 10**9  # nine million dollars in nano-dollars: exact
    assert store.reserve([Counter("big", big)], "r3", big - 1, far) is None
    store.settle(["big"], "r3", big - 1)
    assert store.state("big") == (big - 1, 0)
    store.close()


def test_an_unsettled_reservation_expires(redis_url):
    store = RedisStore(redis_url)
    c = Counter("all:total:total", 10)
    assert store.reserve([c], "dead-process", 10, time.time() - 1) is None
    assert store.reserve([c], "next", 10, time.time() + 60) is None  # the stale one is purged
    assert store.state(c.key) == (0, 10)
    store.close()


def test_async_twins(redis_url):
    store = RedisStore(redis_url)
    c = Counter("all:total:total", 10)

    async def main():
        assert await store.areserve([c], "a", 6, time.time() + 60) is None
        assert (await store.areserve([c], "b", 6, time.time() + 60)).reserved == 6
        await store.asettle([c.key], "a", 5)
        assert await store.astate(c.key) == (5, 0)
        await store.aclose()

    asyncio.run(main())


# ---------------------------------------------------------------------------- through the router


@pytest.mark.parametrize("mode", MODES)
def test_budget_and_rate_limit_on_redis(redis_url, mode):
    router, fake = make(redis_url, budgets=[{"limit": "25"}], rate_limits=[{"rpm": 3}])
    fake.script(ten(), ten())
    call(router, mode, "chat", model="m", messages=USER, max_tokens=10)
    call(router, mode, "chat", model="m", messages=USER, max_tokens=10)
    raises(router, mode, "chat", BudgetExceededError, model="m", messages=USER,
           max_tokens=10)
    call(router, mode, "chat", model="m", messages=USER, max_tokens=5)
    err = raises(router, mode, "chat", RateLimitExceededError, model="m", messages=USER,
                 max_tokens=1)
    assert err.retry_after > 0
    # another router (another process, say) sees the same counters
    other, _ = make(redis_url, budgets=[{"limit": "25"}])
    state = other.usage.budget()
    assert state.reserved == 0 and state.spent == D(20) + D(len("echo: Hello".split()))
    router.close()
    other.close()


@pytest.mark.parametrize("mode", MODES)
def test_project_keys_are_shared_through_redis(redis_url, mode):
    a, _ = make(redis_url)
    b, _ = make(redis_url)
    key = a.projects.create("acme", budget="100", rate_limits={"rpm": 100})
    assert call(b, mode, "chat", model="m", messages=USER, api_key=key, max_tokens=5).content
    from cencori_core import ConfigurationError

    with pytest.raises(ConfigurationError, match="already exists"):
        b.projects.create("acme")
    a.projects.revoke(key)
    c, _ = make(redis_url)
    raises(c, mode, "chat", AuthenticationError, model="m", messages=USER, api_key=key)
    raw = redis_py.Redis.from_url(redis_url)
    dump = b"".join(v for v in raw.hvals("cencori:keys"))
    assert key.encode() not in dump and key[:16].encode() in dump
    raw.close()
    for r in (a, b, c):
        r.close()


# ---------------------------------------------------------------------------- Redis down


def down_url() -> str:
    return f"redis://:hunter2-password@127.0.0.1:{free_port()}/0"


@pytest.mark.parametrize("mode", MODES)
def test_budgets_fail_closed_when_redis_is_down(mode):
    router, fake = make(down_url(), budgets=[{"limit": "100"}])
    err = raises(router, mode, "chat", BudgetExceededError, model="m", messages=USER)
    assert err.rule == "store_unavailable" and "unreachable" in str(err)
    assert "hunter2" not in str(err) and "budget_fail_mode='open'" in str(err)
    assert fake.calls == []


@pytest.mark.parametrize("mode", MODES)
def test_budgets_fail_open_when_configured(mode, caplog):
    router, fake = make(down_url(), budgets=[{"limit": "100"}], budget_fail_mode="open")
    with caplog.at_level(logging.WARNING, "cencori_core"):
        assert call(router, mode, "chat", model="m", messages=USER).content
    assert "budgets not enforced" in caplog.text and "hunter2" not in caplog.text


@pytest.mark.parametrize("mode", MODES)
def test_rate_limits_fail_open_by_default_and_closed_when_configured(mode, caplog):
    router, _ = make(down_url(), rate_limits=[{"rpm": 1}])
    with caplog.at_level(logging.WARNING, "cencori_core"):
        call(router, mode, "chat", model="m", messages=USER)
        call(router, mode, "chat", model="m", messages=USER)
    assert caplog.text.count("rate limits not enforced") == 1  # warned once, not per call
    router, _ = make(down_url(), rate_limits=[{"rpm": 1}], rate_limit_fail_mode="closed")
    err = raises(router, mode, "chat", RateLimitExceededError, model="m", messages=USER)
    assert err.rule == "store_unavailable"


def test_keys_cannot_be_checked_when_redis_is_down():
    router, _ = make(down_url())
    with pytest.raises(AuthenticationError, match="unreachable"):
        router.chat(model="m", messages=USER, api_key="csk_0123456789ab_" + "a" * 43)


@pytest.mark.parametrize("mode", MODES)
def test_redis_stopping_mid_run_fails_closed(mode):
    server = RedisServer()
    try:
        router, fake = make(server.url(), budgets=[{"limit": "100"}])
        fake.script(ten())
        call(router, mode, "chat", model="m", messages=USER, max_tokens=10)
    finally:
        server.stop()
    raises(router, mode, "chat", BudgetExceededError, model="m", messages=USER, max_tokens=10)
    assert len(fake.calls) == 1


# ---------------------------------------------------------------------------- 4 processes


def _worker(url: str, barrier, results, index: int) -> None:
    """One worker process: 50 concurrent async calls against the shared budget, then 50
    against the shared rate limit."""
    budget_router, fake = make(url, budgets=[{"limit": "1000"}], latency=0.005)
    fake.script(*[ten() for _ in range(50)])
    rate_router, _ = make(url, rate_limits=[{"rpm": 60}], latency=0.002)

    async def one(router, **kw):
        try:
            await router.achat(model="m", messages=USER, **kw)
            return "ok"
        except (BudgetExceededError, RateLimitExceededError) as exc:
            return type(exc).__name__

    async def main():
        barrier.wait()
        spent = await asyncio.gather(*[one(budget_router, max_tokens=10) for _ in range(50)])
        barrier.wait()
        limited = await asyncio.gather(*[one(rate_router) for _ in range(50)])
        await budget_router.aclose()
        await rate_router.aclose()
        return spent, limited

    results[index] = asyncio.run(main())


def test_four_processes_share_one_budget_and_one_rate_limit(redis_url):
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(4)
    with ctx.Manager() as manager:
        results = manager.dict()
        procs = [ctx.Process(target=_worker, args=(redis_url, barrier, results, i))
                 for i in range(4)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(120)
        assert [p.exitcode for p in procs] == [0, 0, 0, 0]
        spent = [r for i in range(4) for r in results[i][0]]
        limited = [r for i in range(4) for r in results[i][1]]
    # the same bounds as in one process: exactly what fits, nothing reserved at the end
    assert spent.count("ok") == 100 and spent.count("BudgetExceededError") == 100
    assert limited.count("ok") == 60 and limited.count("RateLimitExceededError") == 140
    router, _ = make(redis_url, budgets=[{"limit": "1000"}])
    state = router.usage.budget()
    assert state.spent == D(1000) and state.reserved == 0
    router.close()

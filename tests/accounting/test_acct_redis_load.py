"""Redis under async load (issue 13, item 3), against the real redis-server of tests/conftest.py.

Before: above ~100 concurrent async calls the connection pool ran out, its MaxConnectionsError
was taken for an outage, and rate limits failed open (rpm=50: 950 of 1,000 admitted) while
budgets failed closed. Now each event loop's clients share a blocking pool: a call waits for a
connection, and the admitted counts are exactly what the limits allow.
"""

from __future__ import annotations

import asyncio
import collections
import gc
import logging

import pytest
import redis as redis_py
from acct_fixtures import redis_url_fixture  # noqa: F401 - the redis_url fixture
from conftest import RedisServer, free_port

from cencori_core import BudgetExceededError, CencoriError, RateLimitExceededError, Router, Usage
from cencori_core.stores import StoreUnavailable
from cencori_core.stores.redis import RedisStore, mask_url
from cencori_core.testing import FunctionProvider, reply

PRICES = {"m": {"input": 0, "output": 1_000_000}}  # $1 an output token
TEN = Usage.of(0, 10)  # every answer: 10 output tokens, $10


def _router(url: str, **kw) -> Router:
    fn = FunctionProvider(lambda req: reply("ok", usage=TEN), name="local", models=["m"])
    return Router(providers={"local": fn}, load_entrypoints=False, prices=PRICES,
                  redis_url=url, **kw)


async def _one(router: Router, user: str, content: str) -> str:
    try:
        await router.achat(model="m", messages=[{"role": "user", "content": content}],
                           user=user, max_tokens=10)
        return "ok"
    except (BudgetExceededError, RateLimitExceededError) as exc:
        return f"{type(exc).__name__}:{exc.rule}"


def test_5000_concurrent_async_calls_admit_exactly_what_the_limits_allow(redis_url):
    # Three users at once through one router, each held by one limit; a router-wide rpm and
    # budget that all 5,000 calls pass through but never reach.
    # - "b": budget of $1,000, each call reserves and costs exactly $10 -> 100 calls;
    # - "r": 50 requests a minute -> 50 calls;
    # - "t": 1,000 tokens a minute, each call's 40 characters estimate 10 tokens up front and
    #   its usage reports 10 (nothing more to take at settle) -> 100 calls.
    router = _router(
        redis_url,
        budgets=[{"user": "b", "limit": "1000"}, {"limit": "1000000"}],
        rate_limits=[{"user": "r", "rpm": 50}, {"user": "t", "tpm": 1000}, {"rpm": 100_000}])
    plan = [("b", "hi")] * 2000 + [("r", "hi")] * 1500 + [("t", "x" * 40)] * 1500

    async def main() -> list[str]:
        out = await asyncio.gather(*[_one(router, u, c) for u, c in plan])
        await router.aclose()
        return out

    results = asyncio.run(main())
    by_user: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for (user, _), res in zip(plan, results, strict=True):
        by_user[user][res] += 1
    assert by_user["b"] == {"ok": 100, "BudgetExceededError:total": 1900}
    assert by_user["r"] == {"ok": 50, "RateLimitExceededError:rpm": 1450}
    assert by_user["t"] == {"ok": 100, "RateLimitExceededError:tpm": 1400}
    state = router.usage.budget(user="b")
    assert (state.spent, state.reserved) == (1000, 0)
    assert router.usage.budget().spent == 2500  # 250 admitted calls at $10


def test_a_busy_pool_waits_instead_of_failing(redis_url):
    # A pool of 2 connections for 300 concurrent calls: they queue for a connection, none is
    # refused as "unreachable" (fail closed) nor let through (fail open).
    router = _router(redis_url + "?max_connections=2", budgets=[{"limit": "1000"}],
                     rate_limits=[{"rpm": 200}])

    async def main() -> list[str]:
        out = await asyncio.gather(*[_one(router, "u", "hi") for _ in range(300)])
        await router.aclose()
        return out

    counts = collections.Counter(asyncio.run(main()))
    assert counts == {"ok": 100, "BudgetExceededError:total": 200}


def _connections(url: str, name: str | None = None) -> int:
    """Connections open on the server (named ``name``, when given), this one left out."""
    watch = redis_py.Redis.from_url(url.split("?")[0])
    try:
        return sum(1 for c in watch.client_list() if name is None or c.get("name") == name) \
            - (name is None)
    finally:
        watch.close()


def test_each_event_loop_closes_its_connections_when_it_ends(redis_url):
    url = redis_url + "?client_name=loops"  # other tests' connections are not counted
    router = _router(url, budgets=[{"limit": "1000"}], rate_limits=[{"rpm": 1000}])
    for _ in range(5):
        asyncio.run(_one(router, "u", "hi"))
        gc.collect()
    # asyncio.run shuts each loop's async generators down: the store's closer for that loop
    # closed its pool (before the fix: 2 more connections for each loop).
    assert _connections(url, "loops") == 0
    assert router._accounting.store._aio == {}
    # A loop closed without shutdown_asyncgens: its clients are dropped when the next loop
    # connects, not kept for ever.
    loop = asyncio.new_event_loop()
    loop.run_until_complete(_one(router, "u", "hi"))
    loop.close()
    asyncio.run(_one(router, "u", "hi"))
    assert router._accounting.store._aio == {}
    gc.collect()
    assert _connections(url, "loops") == 0
    router.close()


def test_the_password_never_shows(caplog):
    # item 6 (Redis part): in the URL's user part and in its query string; a port nobody
    # listens on, so every operation fails and its error and log are checked
    port = free_port()
    for url in (f"redis://:hunter2pw@127.0.0.1:{port}/0",
                f"redis://127.0.0.1:{port}/0?password=hunter2pw",
                f"redis://user:hunter2pw@127.0.0.1:{port}/0?socket_timeout=2"):
        masked = mask_url(url)
        assert "hunter2pw" not in masked and "***" in masked
        store = RedisStore(url)
        assert "hunter2pw" not in repr(store) and "hunter2pw" not in store.url
        with pytest.raises(StoreUnavailable) as info:
            store.state("x")
        text = "".join(str(e) + repr(e) for e in _chain(info.value))
        assert "hunter2pw" not in text and "unreachable" in text
        store.close()
        router = _router(url, budgets=[{"limit": "1"}], budget_fail_mode="open")
        with caplog.at_level(logging.DEBUG):
            router.chat(model="m", messages=[{"role": "user", "content": "hi"}])
            with pytest.raises(CencoriError) as info:
                router.usage.budget()
        assert "hunter2pw" not in "".join(str(e) + repr(e) for e in _chain(info.value))
        assert "hunter2pw" not in caplog.text and "budgets not enforced" in caplog.text
        router.close()
    assert mask_url("redis://127.0.0.1:6379/0?socket_timeout=2") == \
        "redis://127.0.0.1:6379/0?socket_timeout=2"


def _chain(exc: BaseException | None):
    while exc is not None:
        yield exc
        exc = exc.__cause__ or exc.__context__


def test_restartable_server_fixture():
    server = RedisServer()
    try:
        url = server.url()
        assert _connections(url) == 0
        server.stop(keep=True)
        server.start()
        assert _connections(url) == 0
    finally:
        server.stop()


def _scripts_run(url: str) -> int:
    watch = redis_py.Redis.from_url(url)
    try:
        return int(watch.info("commandstats").get("cmdstat_evalsha", {}).get("calls", 0))
    finally:
        watch.close()


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_one_round_trip_to_reserve_and_one_to_settle(redis_url, mode):
    # DESIGN: "Redis-backed key + budget + rpm/tpm: one round trip to reserve, one to settle".
    # Counted as scripts the server ran (each is one round trip); it was 5 (budget, rpm, tpm,
    # settle, the tokens beyond the estimate).
    router = _router(redis_url)
    key = router.projects.create("acme", budget="1000000",
                                 rate_limits={"rpm": 1_000_000, "tpm": 100_000_000})

    def calls(n: int) -> None:
        for _ in range(n):
            if mode == "sync":
                router.chat(model="m", messages=[{"role": "user", "content": "hi"}],
                            api_key=key)
            else:
                asyncio.run(router.achat(model="m", messages=[{"role": "user", "content": "hi"}],
                                         api_key=key))

    calls(2)  # the key and project are cached from here on
    before = _scripts_run(redis_url)
    calls(20)
    assert _scripts_run(redis_url) - before == 2 * 20
    router.close()


def test_a_refused_call_takes_nothing_from_the_other_limits(redis_url):
    # all or nothing: a call refused by its tokens-per-minute window takes no request from the
    # requests-per-minute window, nor any budget
    router = _router(redis_url, budgets=[{"limit": "100"}],
                     rate_limits=[{"rpm": 5}, {"tpm": 100}])
    big = "x" * 500  # 125 tokens estimated: more than the whole window
    for _ in range(10):
        with pytest.raises(RateLimitExceededError, match="tokens"):
            router.chat(model="m", messages=[{"role": "user", "content": big}], max_tokens=10)
    assert router.usage.budget().reserved == 0
    for _ in range(5):  # the 5 requests of the minute are all still there (10 tokens each)
        router.chat(model="m", messages=[{"role": "user", "content": "hi"}], max_tokens=1)
    with pytest.raises(RateLimitExceededError, match="requests"):
        router.chat(model="m", messages=[{"role": "user", "content": "hi"}], max_tokens=1)
    router.close()

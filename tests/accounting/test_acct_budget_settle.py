"""Budgets that hold whatever route a call ends on, and settles that survive a Redis hiccup
(issue 13, item 5), against the real redis-server of tests/conftest.py.

Before: the worst case was priced for the primary route only, so a fallback to a pricier model
overspent ($30 on a $25 budget here); a settle that failed while Redis was down was only logged,
the call's cost was never charged and its reservation held the budget for 15 minutes.
"""

from __future__ import annotations

import logging
from decimal import Decimal

import pytest
import redis as redis_py
from acct_fixtures import redis_url_fixture  # noqa: F401 - the redis_url fixture
from conftest import RedisServer
from parity import call, run_async, stream

from cencori_core import (
    BudgetExceededError,
    ContextWindowExceededError,
    RetryPolicy,
    Router,
    Usage,
    hookimpl,
)
from cencori_core.testing import FakeProvider, FunctionProvider, http_error, reply

MSG = [{"role": "user", "content": "hi"}]
# $1 an output token on "cheap", $2 on "dear": 10 output tokens cost $10 or $20
PRICES = {"cheap": {"input": 0, "output": 1_000_000}, "dear": {"input": 0, "output": 2_000_000}}
MODES = ("sync", "async", "stream", "astream")
ONCE = RetryPolicy(max_attempts=1)


def ten():
    return reply("ok", usage=Usage.of(0, 10))


class Fleet:
    """Provider type ``fleet``: one FakeProvider per base_url, so each deployment is scripted
    on its own (as tests/test_reliability.py does)."""

    def __init__(self, *names):
        self.fakes = {n: FakeProvider(n, models=["cheap", "dear"]) for n in names}

    @hookimpl
    def cencori_register_providers(self, register):
        register("fleet", lambda cfg: self.fakes[cfg.base_url], requires_key=False)


def fleet_router(fleet, **kw):
    """A deployment group ``grp``: deployment a serves cheap, b serves dear."""
    return Router(load_entrypoints=False, plugins=[fleet], prices=PRICES,
                  deployments={"grp": [{"provider": "fleet", "base_url": "d0",
                                        "model": "cheap", "name": "a"},
                                       {"provider": "fleet", "base_url": "d1",
                                        "model": "dear", "name": "b"}]}, **kw)


def go(router, mode, **kw):
    kw.setdefault("model", "cheap")
    kw.setdefault("messages", MSG)
    kw.setdefault("max_tokens", 10)
    kw.setdefault("retry", ONCE)
    if mode in ("sync", "async"):
        return call(router, mode, "chat", **kw)
    return stream(router, "sync" if mode == "stream" else "async", **kw)


def spent(router) -> Decimal:
    state = router.usage.budget()
    assert state.reserved == 0
    return state.spent


@pytest.mark.parametrize("mode", MODES)
def test_a_fallback_to_a_dearer_model_cannot_overspend(mode, redis_url):
    fake = FakeProvider("local", models=["cheap", "dear"])
    router = Router(providers={"local": fake}, load_entrypoints=False, prices=PRICES,
                    redis_url=redis_url, budgets=[{"limit": "25"}],
                    fallbacks={"cheap": ["dear"]})
    fake.script(ten())
    go(router, mode)
    assert spent(router) == 10
    # Another call on cheap may fall back to dear ($20): 10 + 20 > 25, refused up front
    # (it used to reserve $10, fall back, and end at $30 spent).
    fake.script(http_error(503), ten())
    with pytest.raises(BudgetExceededError, match="may cost up to \\$20"):
        go(router, mode)
    assert len(fake.calls) == 1 and spent(router) == 10
    router.close()


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_the_dearest_route_fits_and_is_charged_what_it_cost(mode, redis_url):
    fake = FakeProvider("local", models=["cheap", "dear"])
    router = Router(providers={"local": fake}, load_entrypoints=False, prices=PRICES,
                    redis_url=redis_url, budgets=[{"limit": "30"}],
                    context_window_fallbacks={"cheap": "dear"})
    fake.script(ten(), ContextWindowExceededError("too long", status_code=400), ten())
    go(router, mode)
    r = go(router, mode)  # cheap is too small: dear answers, $20
    assert r.model == "dear" and spent(router) == 30
    with pytest.raises(BudgetExceededError):
        go(router, mode)
    router.close()


def test_the_routes_a_call_may_attempt():
    fleet = Fleet("d0", "d1")
    router = fleet_router(fleet, budgets=[{"limit": "15"}])
    # a deployment group whose second deployment is the dear model: priced at $20 for 10
    # tokens, whichever deployment the balancer picks first
    with pytest.raises(BudgetExceededError, match="may cost up to \\$20"):
        router.chat(model="grp", messages=MSG, max_tokens=10, retry=ONCE)
    assert fleet.fakes["d0"].calls == [] and fleet.fakes["d1"].calls == []
    router.close()


def test_the_route_list_in_order():
    fleet = Fleet("d0", "d1")
    router = fleet_router(fleet, fallbacks={"*": ["grp", "no-such-model", "local/cheap"]},
                    providers={"local": FakeProvider("local", models=["cheap", "dear"])},
                    context_window_fallbacks={"local/cheap": "local/dear"})

    class Ctx:  # what attempt_routes reads of a CallContext
        route = None

    ctx = Ctx()
    ctx.route = router._registry.route_for("local/cheap")
    got = [(r.provider, r.model, r.deployment) for r in router._pipe.attempt_routes(ctx)]
    assert got == [("local", "cheap", None), ("local", "dear", None),
                   ("fleet", "cheap", None), ("fleet", "cheap", "a"), ("fleet", "dear", "b")]
    router.close()


# ---------------------------------------------------------------------------- Redis hiccup


class _Hiccup:
    """A provider handler that stops Redis while its call is in flight, when armed."""

    def __init__(self, server: RedisServer):
        self.server = server
        self.armed = False

    def __call__(self, request):
        if self.armed:
            self.armed = False
            self.server.stop(keep=True)
        return reply("ok", usage=Usage.of(0, 10))


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_settle_that_fails_during_a_redis_outage_is_kept_and_applied(mode, caplog):
    server = RedisServer(persist=True)
    try:
        hiccup = _Hiccup(server)
        fn = FunctionProvider(hiccup, name="local", models=["cheap"])
        router = Router(providers={"local": fn}, load_entrypoints=False, prices=PRICES,
                        redis_url=server.url(), budgets=[{"limit": "100"}])
        go(router, mode)
        assert spent(router) == 10
        hiccup.armed = True  # Redis goes down after the reservation, before the settle
        with caplog.at_level(logging.ERROR, "cencori_core"):
            r = go(router, mode)
        assert r.content == "ok"
        (pending,) = router.usage.unsettled()
        assert pending.cost == 10 and pending.request_id == r.id and pending.keys
        assert "could not settle the budget" in caplog.text and r.id in caplog.text
        server.start()  # Redis is back, with the reservation it held
        raw = redis_py.Redis.from_url(server.url())
        assert raw.hget("cencori:b:all:total:total", "reserved") == b"10000000000"
        raw.close()
        go(router, mode)  # the next reservation settles the pending charge first
        assert router.usage.unsettled() == []
        assert spent(router) == 30  # nothing lost, nothing charged twice, nothing held
        router.close()
    finally:
        server.stop()


def test_a_retried_settle_does_not_charge_twice(redis_url):
    # A settle whose reply was lost is tried again: the reservation is gone, and the spend is
    # not added a second time (unless the reservation may have expired).
    from cencori_core.stores import Counter
    from cencori_core.stores.redis import RedisStore

    store = RedisStore(redis_url)
    c = Counter("k", 100)
    assert store.reserve([c], "r1", 10, 2e9) is None
    store.settle([c.key], "r1", 7, late=False)
    store.settle([c.key], "r1", 7, late=False)
    assert store.state(c.key) == (7, 0)
    store.settle([c.key], "r1", 7, late=True)  # expired: it is charged
    assert store.state(c.key) == (14, 0)
    store.close()


def test_async_unsettled_drained_by_areserve(redis_url):
    # the async driver drains the journal too (aretry_unsettled before areserve)
    fn = FunctionProvider(lambda req: ten(), name="local", models=["cheap"])
    router = Router(providers={"local": fn}, load_entrypoints=False, prices=PRICES,
                    redis_url=redis_url, budgets=[{"limit": "100"}])
    from cencori_core.accounting.limits import Unsettled

    limiter = router._limiter
    run_async(router.achat(model="cheap", messages=MSG, max_tokens=10))
    limiter._pending.append(Unsettled(request_id="gone", keys=("all:total:total",),
                                      cost=Decimal(5), expires_at=0.0, error="x", since=0.0))
    run_async(router.achat(model="cheap", messages=MSG, max_tokens=10))
    assert router.usage.unsettled() == [] and spent(router) == 25
    router.close()


def test_a_dropped_async_stream_does_not_hold_the_budget(redis_url):
    # An async stream dropped without aclose(): its finalizer cannot await Redis, so the charge
    # goes to the journal and the next reservation applies it (it held $20 of budget for 15
    # minutes before).
    import gc

    fn = FunctionProvider(lambda req: "one two three", name="local", models=["cheap"])
    router = Router(providers={"local": fn}, load_entrypoints=False, prices=PRICES,
                    redis_url=redis_url, budgets=[{"limit": "100"}])

    async def drop() -> None:
        s = router.achat_stream(model="cheap", messages=MSG, max_tokens=20)
        await s.__anext__()  # one chunk, then the stream is let go
        del s
        gc.collect()

    run_async(drop())
    (pending,) = router.usage.unsettled()
    assert "dropped" in pending.error
    assert router.usage.budget().reserved == 20
    run_async(router.achat(model="cheap", messages=MSG, max_tokens=1))
    state = router.usage.budget()
    assert router.usage.unsettled() == [] and state.reserved == 0 and state.spent > 0
    router.close()

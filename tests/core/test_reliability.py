"""Retries, fallbacks, deployments, cooldown, cancellation and streams (with fakes, both paths).

End-to-end checks against real SDKs and loopback servers live in the provider test modules and
tests/test_reliability_e2e.py."""

from __future__ import annotations

import asyncio
import time

import pytest
from parity import MODES, call, raises, stream

from cencori_core import (
    AllAttemptsFailedError,
    ChatChunk,
    ContextWindowExceededError,
    InvalidRequestError,
    PolicyViolationError,
    ProviderAuthError,
    ProviderBadRequestError,
    ProviderRateLimitError,
    ProviderServerError,
    RetryPolicy,
    Router,
    StreamInterruptedError,
    hookimpl,
)
from cencori_core.errors import ConfigurationError
from cencori_core.testing import FakeProvider, UsageRecorder, http_error

MSG = [{"role": "user", "content": "hi"}]
FAST = RetryPolicy(max_attempts=3, initial_delay=0.001, multiplier=2, jitter=0)


class Fleet:
    """A plugin whose provider type ``fleet`` hands out one FakeProvider per base_url, so each
    deployment (or model) can be scripted on its own."""

    def __init__(self, *names, **kw):
        self.fakes = {n: FakeProvider(n, **kw) for n in names}

    @hookimpl
    def cencori_register_providers(self, register):
        register("fleet", lambda cfg: self.fakes[cfg.base_url], requires_key=False)
        for n in self.fakes:
            register(n, lambda cfg, n=n: self.fakes[n], prefixes=(n + "-",), requires_key=False)


def fleet_router(fleet, **kw):
    kw.setdefault("retry", FAST)
    kw.setdefault("plugins", [fleet])
    return Router(load_entrypoints=False, **kw)


# ------------------------------------------------------------------ retries


@pytest.mark.parametrize("mode", MODES)
def test_retries_then_succeeds_with_backoff_delays(mode):
    fleet = Fleet("a")
    fleet.fakes["a"].fail(500, times=2)
    r = call(fleet_router(fleet), mode, "chat", model="a-1", messages=MSG)
    assert r.content == "echo: hi"
    assert [a.status for a in r.attempts] == ["ProviderServerError"] * 2 + ["ok"]
    assert [a.delay for a in r.attempts] == [0.0, 0.001, 0.002]  # doubling, no jitter
    assert len(fleet.fakes["a"].calls) == 3


@pytest.mark.parametrize("mode", MODES)
def test_same_idempotency_key_on_every_retry(mode):
    rec = UsageRecorder()
    fleet = Fleet("a")
    fleet.fakes["a"].fail(500, times=2)
    router = fleet_router(fleet, plugins=[fleet, rec])
    call(router, mode, "chat", model="a-1", messages=MSG)
    call(router, mode, "chat", model="a-1", messages=MSG)
    keys = [req.idempotency_key for req in fleet.fakes["a"].requests]
    assert keys[0] == keys[1] == keys[2] != keys[3]
    assert [r.request_id for r in rec.records] == [keys[0], keys[3]]


@pytest.mark.parametrize("mode", MODES)
def test_permanent_500_makes_exactly_max_attempts(mode):
    fleet = Fleet("a")
    fleet.fakes["a"].fail(500, times=10)
    err = raises(fleet_router(fleet), mode, "chat", AllAttemptsFailedError, model="a-1",
                 messages=MSG)
    assert len(fleet.fakes["a"].calls) == 3
    assert [type(e) for e in err.exceptions] == [ProviderServerError] * 3
    assert [a.status_code for a in err.attempts] == [500, 500, 500]
    assert "all 3 attempts failed" in str(err)


@pytest.mark.parametrize("mode", MODES)
def test_retry_after_is_honoured(mode):
    fleet = Fleet("a")
    fleet.fakes["a"].fail(429, retry_after=0.02)
    r = call(fleet_router(fleet), mode, "chat", model="a-1", messages=MSG)
    assert [a.delay for a in r.attempts] == [0.0, 0.02]


@pytest.mark.parametrize("mode", MODES)
def test_long_retry_after_is_not_slept(mode):
    fleet = Fleet("a", "b")
    fleet.fakes["a"].fail(429, retry_after=3600, times=5)
    router = fleet_router(fleet, fallbacks={"a-1": ["b-1"]})
    r = call(router, mode, "chat", model="a-1", messages=MSG)
    assert r.provider == "b" and [a.delay for a in r.attempts] == [0.0, 0.0]
    # without a fallback the error surfaces with retry_after set, after one attempt
    fleet.fakes["a"].fail(429, retry_after=3600)
    err = raises(fleet_router(fleet), mode, "chat", ProviderRateLimitError, model="a-1",
                 messages=MSG)
    assert err.retry_after == 3600


@pytest.mark.parametrize("mode", MODES)
def test_non_retryable_errors_are_not_retried(mode):
    fleet = Fleet("a", "b")
    fleet.fakes["a"].fail(400)
    router = fleet_router(fleet, fallbacks={"a-1": ["b-1"]})
    raises(router, mode, "chat", ProviderBadRequestError, model="a-1", messages=MSG)
    assert len(fleet.fakes["a"].calls) == 1 and fleet.fakes["b"].calls == []


@pytest.mark.parametrize("mode", MODES)
def test_retry_per_call_and_per_model(mode):
    fleet = Fleet("a")
    fleet.fakes["a"].fail(503, times=10)
    router = fleet_router(fleet, retry_per_model={"a-1": RetryPolicy(max_attempts=2,
                                                                     initial_delay=0)})
    raises(router, mode, "chat", AllAttemptsFailedError, model="a-1", messages=MSG)
    assert len(fleet.fakes["a"].calls) == 2
    raises(router, mode, "chat", ProviderServerError, model="a-1", messages=MSG,
           retry=RetryPolicy(max_attempts=1))
    assert len(fleet.fakes["a"].calls) == 3


@pytest.mark.parametrize("mode", MODES)
def test_deadline_bounds_retries_and_attempt_timeout(mode):
    fleet = Fleet("a")
    fleet.fakes["a"].fail(500, retry_after=0.05, times=10)
    router = fleet_router(fleet)
    raises(router, mode, "chat", Exception, model="a-1", messages=MSG,
           retry=RetryPolicy(max_attempts=10, deadline=0.08))
    assert len(fleet.fakes["a"].calls) == 2  # the third would start after the deadline
    fleet.fakes["a"].clear()
    call(router, mode, "chat", model="a-1", messages=MSG, retry=RetryPolicy(deadline=5.0))
    assert 0 < fleet.fakes["a"].last_request.timeout <= 5.0


# ------------------------------------------------------------------ fallbacks


@pytest.mark.parametrize("mode", MODES)
def test_fallback_chain_in_order(mode):
    fleet = Fleet("a", "b", "c")
    fleet.fakes["a"].fail(503, times=3)
    fleet.fakes["b"].fail(429, times=3)
    router = fleet_router(fleet, fallbacks={"a-1": ["b-1", "c-1"]})
    r = call(router, mode, "chat", model="a-1", messages=MSG)
    assert (r.provider, r.model) == ("c", "c-1")
    assert [(a.provider, a.status) for a in r.attempts] == (
        [("a", "ProviderServerError")] * 3 + [("b", "ProviderRateLimitError")] * 3
        + [("c", "ok")])
    assert r.attempts[0].model == "a-1"  # the requested name is the first attempt's


@pytest.mark.parametrize("mode", MODES)
def test_default_fallback_chain_and_all_failed(mode):
    fleet = Fleet("a", "b")
    fleet.fakes["a"].fail(500, times=3)
    fleet.fakes["b"].fail(500, times=3)
    router = fleet_router(fleet, fallbacks={"*": ["b-1"]})
    err = raises(router, mode, "chat", AllAttemptsFailedError, model="a-1", messages=MSG)
    assert [a.provider for a in err.attempts] == ["a"] * 3 + ["b"] * 3
    assert len(err.exceptions) == 6


@pytest.mark.parametrize("mode", MODES)
def test_context_window_goes_straight_to_bigger_model(mode):
    fleet = Fleet("a", "b", "c")
    fleet.fakes["a"].script(ContextWindowExceededError("too long", status_code=400))
    router = fleet_router(fleet, fallbacks={"a-1": ["b-1"]},
                          context_window_fallbacks={"a-1": "c-1"})
    r = call(router, mode, "chat", model="a-1", messages=MSG)
    assert r.provider == "c" and len(fleet.fakes["a"].calls) == 1 and fleet.fakes["b"].calls == []


class Blocker:
    @hookimpl
    def cencori_pre_request(self, context):
        raise PolicyViolationError("blocked", policy="p", rule="r")


@pytest.mark.parametrize("mode", MODES)
def test_never_fall_back_on_policy_or_bad_request(mode):
    fleet = Fleet("a", "b")
    router = fleet_router(fleet, fallbacks={"a-1": ["b-1"]}, policies=[Blocker()])
    raises(router, mode, "chat", PolicyViolationError, model="a-1", messages=MSG)
    raises(router, mode, "chat", InvalidRequestError, model="a-1", messages=MSG, max_tokens=-1)
    assert fleet.fakes["a"].calls == [] and fleet.fakes["b"].calls == []


# ------------------------------------------------------------------ deployments


def deployments(n, **extra):
    return {"gpt-x": [{"provider": "fleet", "base_url": f"d{i}", "name": f"dep{i}", **extra}
                      for i in range(n)]}


@pytest.mark.parametrize("mode", MODES)
def test_deployment_named_in_response_and_retry_moves_on(mode):
    fleet = Fleet("d0", "d1")
    fleet.fakes["d0"].fail(500, times=5)
    fleet.fakes["d1"].fail(500, times=5)
    router = fleet_router(fleet, deployments=deployments(2))
    fleet.fakes["d0"].clear()
    fleet.fakes["d1"].clear()
    r = call(router, mode, "chat", model="gpt-x", messages=MSG)
    assert r.deployment in ("dep0", "dep1") and r.provider == "fleet"
    assert "key" not in str(r.deployment)
    # a failing deployment: the retry goes to the other one
    fleet.fakes["d0"].fail(500, times=5)
    for _ in range(6):
        r = call(router, mode, "chat", model="gpt-x", messages=MSG)
        assert r.deployment == "dep1"
        assert all(a.deployment == "dep0" for a in r.attempts[:-1])


@pytest.mark.parametrize("mode", MODES)
def test_cooldown_skips_then_expires(mode):
    fleet = Fleet("d0", "d1")
    d0, d1 = fleet.fakes["d0"], fleet.fakes["d1"]
    router = fleet_router(fleet, deployments=deployments(2),
                          cooldown={"allowed_fails": 1, "window_s": 60, "cooldown_s": 2.0},
                          retry=RetryPolicy(max_attempts=2, initial_delay=0))
    # cooldown_s long enough that a loaded machine's ten calls stay inside it (0.5 s did not)
    d0.fail(401)  # 401 cools a deployment at once
    while not d0.calls:
        try:
            call(router, mode, "chat", model="gpt-x", messages=MSG)
        except ProviderAuthError:
            pass
    before = len(d0.calls)
    assert {call(router, mode, "chat", model="gpt-x", messages=MSG).deployment
            for _ in range(10)} == {"dep1"}
    assert len(d0.calls) == before  # skipped while cooling
    # d1 fails once (allowed_fails=1): now both cool, one is still tried and the error says so
    d0.fail(500, times=3)
    d1.fail(500, times=3)
    err = raises(router, mode, "chat", Exception, model="gpt-x", messages=MSG,
                 retry=RetryPolicy(max_attempts=1))
    err = raises(router, mode, "chat", Exception, model="gpt-x", messages=MSG,
                 retry=RetryPolicy(max_attempts=1))
    assert "all deployments of gpt-x are cooling down" in str(err)
    time.sleep(2.05)  # cooldown_s passes: both are healthy again
    d0.clear()
    d1.clear()
    names = {call(router, mode, "chat", model="gpt-x", messages=MSG).deployment
             for _ in range(30)}
    assert names == {"dep0", "dep1"}


def test_weighted_strategy_follows_weights():
    fleet = Fleet("d0", "d1")
    deps = {"gpt-x": [{"provider": "fleet", "base_url": "d0", "weight": 9},
                      {"provider": "fleet", "base_url": "d1", "weight": 1}]}
    router = fleet_router(fleet, deployments=deps)
    names = [router.chat(model="gpt-x", messages=MSG).deployment for _ in range(400)]
    assert names.count("gpt-x#0") > 300 and names.count("gpt-x#1") > 10  # 9:1, not uniform


def test_lowest_latency_prefers_fast_deployment():
    fleet = Fleet("d0", "d1")
    fleet.fakes["d0"].latency = 0.02
    router = fleet_router(fleet, deployments=deployments(2), routing_strategy="lowest_latency")
    names = [router.chat(model="gpt-x", messages=MSG).deployment for _ in range(12)]
    assert set(names[:2]) == {"dep0", "dep1"}  # each measured once first
    assert names[2:] == ["dep1"] * 10


def test_least_busy_spreads_concurrent_calls():
    fleet = Fleet("d0", "d1", latency=0.02)
    router = fleet_router(fleet, deployments=deployments(2), routing_strategy="least_busy")

    async def run():
        return await asyncio.gather(*(router.achat(model="gpt-x", messages=MSG)
                                      for _ in range(10)))

    names = [r.deployment for r in asyncio.run(run())]
    assert names.count("dep0") == 5 and names.count("dep1") == 5


def test_resolve_explains_deployment_and_bad_config():
    fleet = Fleet("d0")
    router = fleet_router(fleet, deployments=deployments(1))
    route = router.resolve("gpt-x")
    assert (route.provider, route.deployment, route.via) == ("fleet", "dep0", "deployment")
    with pytest.raises(ConfigurationError, match="routing_strategy"):
        fleet_router(fleet, routing_strategy="fastest")
    with pytest.raises(ConfigurationError, match="needs 'provider'"):
        fleet_router(fleet, deployments={"m": [{"api_key": "x"}]})


# ------------------------------------------------------------------ cancellation and streams


def test_cancelling_an_async_call_propagates_and_records_cancelled():
    rec = UsageRecorder()
    fake = FakeProvider(prefixes=("",), latency=5)
    router = Router(providers={"fake": fake}, load_entrypoints=False, plugins=[rec])

    async def run():
        task = asyncio.create_task(router.achat(model="m", messages=MSG))
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(run())
    assert [r.status for r in rec.records] == ["cancelled"]

    async def with_timeout():
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.01):
                await router.achat(model="m", messages=MSG)

    asyncio.run(with_timeout())
    assert [r.status for r in rec.records] == ["cancelled", "cancelled"]


@pytest.mark.parametrize("mode", MODES)
def test_stream_retries_before_first_chunk(mode):
    fleet = Fleet("a", "b")
    fleet.fakes["a"].fail(503, times=3)
    router = fleet_router(fleet, fallbacks={"a-1": ["b-1"]})
    chunks, s = stream(router, mode, model="a-1", messages=MSG)
    assert s.response.provider == "b" and len(s.response.attempts) == 4
    assert "".join(c.delta for c in chunks) == "echo: hi"


@pytest.mark.parametrize("mode", MODES)
def test_stream_failure_after_chunks_is_interrupted_with_partial(mode):
    rec = UsageRecorder()
    fake = FakeProvider(prefixes=("",))
    fake.script([ChatChunk(delta="Hello "), ChatChunk(delta="wor"),
                 http_error(500, "connection dropped")])
    router = Router(providers={"fake": fake}, load_entrypoints=False, plugins=[rec],
                    fallbacks={"*": ["other"]}, retry=FAST)
    err = raises(router, mode, "chat_stream", StreamInterruptedError, model="m", messages=MSG)
    assert err.partial.content == "Hello wor"
    assert err.partial.usage.source == "estimated" and err.partial.usage.completion_tokens > 0
    assert isinstance(err.__cause__, ProviderServerError)
    assert len(fake.calls) == 1  # no retry once the caller has chunks
    assert [r.status for r in rec.records] == ["interrupted"]


@pytest.mark.parametrize("mode", MODES)
def test_auth_error_is_not_retried(mode):
    fleet = Fleet("a")
    fleet.fakes["a"].fail(401)
    raises(fleet_router(fleet), mode, "chat", ProviderAuthError, model="a-1", messages=MSG)
    assert len(fleet.fakes["a"].calls) == 1

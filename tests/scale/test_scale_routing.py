"""Shared routing state and per-deployment limits (issue 19, item 3): in one process (memory
store) and in two processes on one Redis."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter

import pytest
from parity import MODES, call
from scale_kit import ask, child, redis_url_fixture, stop  # noqa: F401 (the fixture)

from cencori_core import RateLimitExceededError, Router, hookimpl
from cencori_core.errors import ConfigurationError
from cencori_core.testing import FakeProvider

MSG = [{"role": "user", "content": "hi"}]


def fresh_minute() -> None:
    """Per-deployment limits count per UTC minute: start a test well inside one."""
    left = 60 - time.time() % 60
    if left < 10:
        time.sleep(left + 0.05)


def echo_deps(**limits: dict[str, int]) -> dict[str, list[dict[str, object]]]:
    return {"g": [{"provider": "echo", "model": "echo", "name": name, **lim}
                  for name, lim in limits.items()]}


# ------------------------------------------------------------------ in one process


@pytest.mark.parametrize("mode", MODES)
def test_a_deployment_at_its_rpm_is_skipped_and_all_at_limit_is_a_rate_limit_error(mode):
    fresh_minute()
    router = Router(load_entrypoints=False,
                    deployments=echo_deps(a={"rpm": 2}, b={"rpm": 3}))
    used = Counter(call(router, mode, "chat", model="g", messages=MSG).deployment
                   for _ in range(5))
    assert used == {"a": 2, "b": 3}
    with pytest.raises(RateLimitExceededError, match=r"a \(2 rpm\), b \(3 rpm\)") as info:
        call(router, mode, "chat", model="g", messages=MSG)
    assert info.value.rule == "deployment" and 0 < info.value.retry_after <= 60


def test_a_deployment_tpm_counts_the_tokens_the_calls_used():
    fresh_minute()
    # echo answers "hi" with 3 tokens: 1 estimated up front, 2 more after the call
    router = Router(load_entrypoints=False, deployments=echo_deps(a={"tpm": 6}, b={}),
                    routing_strategy="least_busy")
    seen = [router.chat(model="g", messages=MSG).deployment for _ in range(8)]
    assert seen.count("a") <= 2  # 3 + 3 tokens: a third call (1 estimated) would pass 6
    assert seen.count("b") >= 6


def test_usage_based_sends_each_call_to_the_deployment_with_the_fewest_tokens():
    fresh_minute()
    router = Router(load_entrypoints=False, routing_strategy="usage_based",
                    deployments=echo_deps(a={}, b={}, c={}))
    used = Counter(router.chat(model="g", messages=MSG).deployment for _ in range(9))
    assert used == {"a": 3, "b": 3, "c": 3}


@pytest.mark.parametrize("value", ["10", -1, 1.5, True])
def test_bad_deployment_limits_are_configuration_errors(value):
    with pytest.raises(ConfigurationError, match=r"deployments\['g'\]\[0\]\.rpm must be a "
                                                 r"positive integer"):
        Router(load_entrypoints=False, deployments=echo_deps(a={"rpm": value}))


# ------------------------------------------------------------------ two processes, one Redis


def test_deployment_rpm_is_shared_by_two_processes(redis_url):
    fresh_minute()
    deps = echo_deps(a={"rpm": 2}, b={"rpm": 2})
    router = Router(load_entrypoints=False, redis_url=redis_url, deployments=deps)
    proc = child(redis_url, json.dumps({"deployments": deps}))
    try:
        mine = [call(router, "sync", "chat", model="g", messages=MSG).deployment
                for _ in range(3)]
        theirs = json.loads(ask(proc, "route g 3"))
        assert Counter(mine + theirs) == {"a": 2, "b": 2, "RateLimitExceededError": 2}
        # the parent's three fit; the child found one slot left, then none
        assert theirs[1:] == ["RateLimitExceededError"] * 2
        with pytest.raises(RateLimitExceededError, match="every deployment of g"):
            router.chat(model="g", messages=MSG)
    finally:
        router.close()
        stop(proc)


def test_usage_based_reads_the_tokens_of_the_other_process(redis_url):
    fresh_minute()
    deps = echo_deps(a={}, b={})
    router = Router(load_entrypoints=False, redis_url=redis_url, deployments=deps,
                    routing_strategy="usage_based")
    proc = child(redis_url, json.dumps({"deployments": deps,
                                        "routing_strategy": "usage_based"}))
    try:
        mine = Counter(router.chat(model="g", messages=MSG).deployment for _ in range(3))
        fewer = min(mine, key=lambda name: mine[name])
        assert sorted(mine.values()) == [1, 2]
        assert json.loads(ask(proc, "route g 1")) == [fewer]
    finally:
        router.close()
        stop(proc)


class Gated:
    """Provider type ``gated``: its first call stays in flight until the test opens the gate."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.gate = threading.Event()
        self.fake = FakeProvider("gated", models=["g"])
        self.fake.script(self._hold)

    def _hold(self, request: object) -> str:
        self.started.set()
        self.gate.wait(30)
        return "held"

    @hookimpl
    def cencori_register_providers(self, register):
        register("gated", lambda cfg: self.fake, requires_key=False)


def test_least_busy_sees_the_calls_in_flight_in_another_process(redis_url):
    gated = Gated()
    router = Router(load_entrypoints=False, redis_url=redis_url, plugins=[gated],
                    routing_strategy="least_busy",
                    deployments={"g": [{"provider": "gated", "name": "a"},
                                       {"provider": "gated", "name": "b"}]})
    # the other process serves the same deployments (same group and names) with echo
    proc = child(redis_url, json.dumps({"deployments": echo_deps(a={}, b={}),
                                        "routing_strategy": "least_busy"}))
    held: list[str] = []
    worker = threading.Thread(
        target=lambda: held.append(router.chat(model="g", messages=MSG).deployment))
    try:
        worker.start()
        assert gated.started.wait(30)
        theirs = json.loads(ask(proc, "route g 4"))
        gated.gate.set()
        worker.join(30)
        other = {"a": "b", "b": "a"}[held[0]]
        assert theirs == [other] * 4  # never the one busy in the other process
        # once it is done (its release sent within LINGER), both are free again: the child's
        # choices spread over both
        for _ in range(20):
            time.sleep(0.005)
            if set(json.loads(ask(proc, "route g 8"))) == {"a", "b"}:
                break
        else:
            raise AssertionError("the held deployment still looks busy after 20 polls")
    finally:
        gated.gate.set()
        router.close()
        stop(proc)


def test_routing_falls_back_to_this_process_while_redis_is_down(caplog):
    from conftest import RedisServer

    fresh_minute()
    server = RedisServer()  # its own server: this test stops it
    router = Router(load_entrypoints=False, redis_url=server.url(0),
                    routing_strategy="least_busy", deployments=echo_deps(a={"rpm": 1},
                                                                         b={"rpm": 1}))
    try:
        assert router.chat(model="g", messages=MSG).deployment in ("a", "b")
        server.stop(keep=True)
        with caplog.at_level("WARNING", logger="cencori_core"):
            # this process's own view: its limits still hold, nothing is refused for want of
            # Redis (the shared count of the first call is not known here)
            local = [router.chat(model="g", messages=MSG).deployment for _ in range(2)]
            with pytest.raises(RateLimitExceededError, match="every deployment of g"):
                router.chat(model="g", messages=MSG)
        assert sorted(local) == ["a", "b"]
        assert sum("deployment routing state" in r.getMessage() for r in caplog.records) == 1
    finally:
        router.close()
        server.stop()

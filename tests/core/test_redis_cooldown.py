"""Deployment cooldowns shared through a real Redis server by several processes."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import textwrap

from cencori_core import ProviderAuthError, ProviderServerError, RetryPolicy, Router, hookimpl
from cencori_core.testing import FakeProvider

MSG = [{"role": "user", "content": "hi"}]


class Fleet:
    def __init__(self):
        self.fakes = {n: FakeProvider(n) for n in ("d0", "d1")}

    @hookimpl
    def cencori_register_providers(self, register):
        register("fleet", lambda cfg: self.fakes[cfg.base_url], requires_key=False)


def make(url, fleet, **kw):
    return Router(load_entrypoints=False, plugins=[fleet], redis_url=url,
                  deployments={"gpt-x": [{"provider": "fleet", "base_url": "d0", "name": "a"},
                                         {"provider": "fleet", "base_url": "d1", "name": "b"}]},
                  cooldown={"allowed_fails": 2, "window_s": 60, "cooldown_s": 30},
                  retry=RetryPolicy(max_attempts=1), **kw)


def test_a_cooldown_seen_by_another_process(redis_server):
    url = redis_server.url(5)
    fleet = Fleet()
    router = make(url, fleet)
    fleet.fakes["d0"].fail(401, times=1)
    for _ in range(200):  # bounded: until deployment "a" has answered 401
        if fleet.fakes["d0"].calls:
            break
        with contextlib.suppress(ProviderAuthError):
            router.chat(model="gpt-x", messages=MSG)
    assert len(fleet.fakes["d0"].calls) == 1
    # another process, with its own memory, sees "a" cooling and only uses "b"
    code = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(__import__('pathlib').Path(__file__).parent)!r})
        from test_redis_cooldown import Fleet, make, MSG
        fleet = Fleet()
        router = make({url!r}, fleet)
        names = {{router.chat(model="gpt-x", messages=MSG).deployment for _ in range(20)}}
        print(sorted(names), len(fleet.fakes["d0"].calls))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "['b'] 0"


def test_failures_count_across_routers(redis_server):
    url = redis_server.url(6)
    f1, f2 = Fleet(), Fleet()
    r1, r2 = make(url, f1), make(url, f2)
    for fleet, router in ((f1, r1), (f2, r2)):  # one retryable failure in each "process"
        fleet.fakes["d0"].fail(500)
        for _ in range(200):  # bounded: the balancer picks "a" sooner or later
            if fleet.fakes["d0"].calls:
                break
            with contextlib.suppress(ProviderServerError):
                router.chat(model="gpt-x", messages=MSG)
        assert len(fleet.fakes["d0"].calls) == 1
    # two failures in the window (allowed_fails=2), one in each: "a" now cools for every
    # router on this Redis; a third one (its local mirror empty) reads that at once
    f3 = Fleet()
    r3 = make(url, f3)
    names = {r3.chat(model="gpt-x", messages=MSG).deployment for _ in range(10)}
    assert names == {"b"} and not f3.fakes["d0"].calls


def test_cooldowns_fall_back_to_the_process_when_redis_is_down():
    fleet = Fleet()
    router = make("redis://127.0.0.1:1/0", fleet, budget_fail_mode="open",
                  rate_limit_fail_mode="open")
    fleet.fakes["d0"].fail(401)
    for _ in range(30):
        try:
            router.chat(model="gpt-x", messages=MSG)
        except ProviderAuthError:
            pass
    assert len(fleet.fakes["d0"].calls) == 1  # cooled locally although Redis is unreachable

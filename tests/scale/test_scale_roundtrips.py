"""Redis in one round trip each way (issue 19, item 1), counted on the real server.

A call with a project key, a budget and rpm + tpm limits reaches Redis twice: one script
reserves (key revocation check, budget, rpm, tpm), one settles. Counted with ``INFO
commandstats`` after ``CONFIG RESETSTAT``: every command any client sent in between.
"""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
import redis
from parity import MODES, call
from scale_kit import redis_url_fixture  # noqa: F401 (the fixture)

from cencori_core import AuthenticationError, Router
from cencori_core.stores import Counter
from cencori_core.stores.redis import REVOKED, RedisStore

MSG = [{"role": "user", "content": "hi"}]
END = "cencori-scale-test-end"


def round_trips(url: str, action) -> list[str]:
    """The commands clients sent while ``action()`` ran, seen through ``MONITOR`` (those a Lua
    script runs on the server are not round trips and are left out)."""
    admin = redis.Redis.from_url(url)
    ender = redis.Redis.from_url(url)
    ender.ping()  # connected before the count starts
    seen: list[str] = []
    with admin.monitor() as mon:
        def collect() -> None:
            while True:
                cmd = mon.next_command()
                if END in cmd["command"]:
                    return
                if cmd["client_type"] != "lua":
                    seen.append(cmd["command"].split(" ", 1)[0].upper())

        reader = threading.Thread(target=collect)
        reader.start()
        try:
            action()
        finally:
            ender.echo(END)
            reader.join(10)
    admin.close()
    ender.close()
    return seen


def listening(router: Router) -> None:
    """Wait (a bounded number of short sleeps) until the router's change listener is
    subscribed: its first subscription empties the key cache."""
    for _ in range(200):
        if router.projects.listening():
            return
        time.sleep(0.01)
    raise AssertionError("the change listener did not subscribe within 200 polls")


def scaled_router(url: str) -> tuple[Router, str]:
    router = Router(load_entrypoints=False, redis_url=url,
                    budgets=[{"limit": "100", "window": "day"}],
                    rate_limits=[{"rpm": 1000}, {"tpm": 1_000_000}],
                    prices={"echo/echo": {"input": "1", "output": "2"}})
    key = router.projects.create("acme", budget="50", rate_limits={"rpm": 500, "tpm": 500_000})
    return router, key


@pytest.mark.parametrize("mode", MODES)
def test_a_call_with_key_budget_rpm_tpm_is_one_round_trip_each_way(redis_url, mode):
    router, key = scaled_router(redis_url)
    try:
        call(router, mode, "chat", model="echo/echo", messages=MSG, api_key=key)
        listening(router)
        call(router, mode, "chat", model="echo/echo", messages=MSG, api_key=key)  # cached
        seen = round_trips(redis_url, lambda: call(router, mode, "chat", model="echo/echo",
                                                   messages=MSG, api_key=key))
        assert seen == ["EVALSHA", "EVALSHA"], seen
        # two budget counters (router, project) and four windows went through those two
        assert router.usage.budget(project="acme", window="total").spent > 0
    finally:
        router.close()


def test_a_flushed_script_cache_is_loaded_again(redis_url):
    """NOSCRIPT (a restarted or flushed server): the script is loaded again, the call goes on."""
    router, key = scaled_router(redis_url)
    admin = redis.Redis.from_url(redis_url)
    try:
        router.chat(model="echo/echo", messages=MSG, api_key=key)
        listening(router)
        router.chat(model="echo/echo", messages=MSG, api_key=key)
        admin.script_flush()
        seen = round_trips(redis_url, lambda: router.chat(model="echo/echo", messages=MSG,
                                                          api_key=key))
        # the reserve is refused (NOSCRIPT), loaded, run; the settle's script is loaded too
        assert seen.count("EVALSHA") == 4 and seen.count("SCRIPT") == 2, seen
    finally:
        router.close()
        admin.close()


def test_the_reservation_script_refuses_a_revoked_key(redis_url):
    store = RedisStore(redis_url)
    try:
        c = Counter("all:total:total", 10**9)
        assert store.reserve_all([c], "r1", 5, 2e9, (), key_id="csk_000000000001") is None
        redis.Redis.from_url(redis_url).sadd(store.revoked_set, "csk_000000000001")
        out = store.reserve_all([c], "r2", 5, 2e9, (), key_id="csk_000000000001")
        assert out == REVOKED
        assert store.state("all:total:total") == (0, 5)  # the refused call reserved nothing
        assert asyncio.run(store.areserve_all([c], "r3", 5, 2e9, (),
                                              key_id="csk_000000000001")) == REVOKED
        # other keys and calls without a key go on
        assert store.reserve_all([c], "r4", 5, 2e9, (), key_id="csk_000000000002") is None
        assert store.reserve_all([c], "r5", 5, 2e9, ()) is None
    finally:
        store.close()


@pytest.mark.parametrize("mode", MODES)
def test_a_key_revoked_without_announcement_is_refused_by_the_next_reservation(redis_url,
                                                                              mode):
    """The key cache may still hold the key (a lost pub/sub message, a listener reconnecting):
    a call with a budget or rate limit is refused all the same, by its reservation script."""
    router, key = scaled_router(redis_url)
    try:
        call(router, mode, "chat", model="echo/echo", messages=MSG, api_key=key)
        key_id = key[:16]
        admin = redis.Redis.from_url(redis_url)
        admin.sadd("cencori:revoked", key_id)  # revoked behind the router's back: no message
        admin.close()
        with pytest.raises(AuthenticationError, match="unknown or revoked"):
            call(router, mode, "chat", model="echo/echo", messages=MSG, api_key=key)
        # and every call after it
        with pytest.raises(AuthenticationError, match="unknown or revoked"):
            call(router, mode, "chat", model="echo/echo", messages=MSG, api_key=key)
    finally:
        router.close()

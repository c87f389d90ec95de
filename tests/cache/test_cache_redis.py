"""The response cache on a real Redis (tests/conftest.py's server): hits and misses for chat,
streams and embeddings through both drivers, answers shared by two routers (two workers),
project isolation, compressed values with a server-side TTL, the per-entry size limit, and a
Redis that stops mid-run: the cache is skipped (logged once, left alone for ``retry_after``
seconds on the injected clock) and every call still works; it is used again once Redis is back.
"""

from __future__ import annotations

import json
import logging
import zlib
from typing import Any

import pytest
import redis as redis_py
from conftest import RedisServer
from parity import MODES, call, stream

from cencori_core import ResponseCache, Router
from cencori_core.testing import FakeProvider, UsageRecorder

USER = [{"role": "user", "content": "Hello"}]


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    url = redis_server.url(3)
    client = redis_py.Redis.from_url(url)
    client.flushdb()
    client.close()
    return url


def make(cache: Any, **kw: Any) -> tuple[Router, FakeProvider, UsageRecorder]:
    fake = FakeProvider(name="local", models=["m", "e"])
    sink = UsageRecorder()
    router = Router(providers={"local": fake}, load_entrypoints=False, plugins=[sink],
                    cache=cache, **kw)
    return router, fake, sink


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("where", ["redis_url", "cache_url"])
def test_hits_and_misses_on_redis(mode: str, where: str, redis_url: str) -> None:
    kw: dict[str, Any] = ({"redis_url": redis_url, "cache": True} if where == "redis_url"
                          else {"cache": {"url": redis_url}})
    router, fake, sink = make(**kw)
    assert router.cache is not None and router.cache.stats()["backend"] == "redis"
    first = call(router, mode, "chat", model="m", messages=USER)
    hit = call(router, mode, "chat", model="m", messages=USER)
    _, s = stream(router, mode, model="m", messages=USER)
    e1 = call(router, mode, "embed", "e", ["a", "b"])
    e2 = call(router, mode, "embed", "e", ["a", "b"])
    assert (first.cache_hit, hit.cache_hit, s.response.cache_hit) == (False, True, True)
    assert hit.content == first.content and s.response.content == first.content
    assert e2.cache_hit and e2.vectors == e1.vectors
    assert len(fake.calls) == 2
    assert [r.cache_hit for r in sink.records] == [False, True, True, False, True]
    router.close()


@pytest.mark.parametrize("mode", MODES)
def test_a_stream_miss_is_stored_for_the_next_worker(mode: str, redis_url: str) -> None:
    one, fake1, _ = make({"url": redis_url})
    two, fake2, _ = make({"url": redis_url})
    chunks, s = stream(one, mode, model="m", messages=USER)
    hit = call(two, mode, "chat", model="m", messages=USER)
    assert hit.cache_hit and hit.content == s.response.content
    assert (len(fake1.calls), len(fake2.calls)) == (1, 0)
    one.close()
    two.close()


@pytest.mark.parametrize("mode", MODES)
def test_projects_are_isolated_on_redis(mode: str, redis_url: str) -> None:
    router, fake, _ = make(True, redis_url=redis_url)
    router.projects.create("a")
    router.projects.create("b")
    fake.script("for a", "for b")
    assert call(router, mode, "chat", model="m", messages=USER, project="a").content == "for a"
    assert call(router, mode, "chat", model="m", messages=USER, project="b").content == "for b"
    assert call(router, mode, "chat", model="m", messages=USER, project="a").content == "for a"
    assert len(fake.calls) == 2
    router.close()


def test_values_are_compressed_with_a_server_side_ttl(redis_url: str) -> None:
    router, fake, _ = make({"url": redis_url, "ttl": 120})
    router.chat(model="m", messages=[{"role": "user", "content": "word " * 200}])
    router.chat(model="m", messages=USER, cache={"ttl": 7})
    client = redis_py.Redis.from_url(redis_url)
    keys = sorted(client.scan_iter(match="cencori:cache:*"))
    assert len(keys) == 2
    ttls = sorted(client.pttl(k) for k in keys)
    assert 0 < ttls[0] <= 7000 and 7000 < ttls[1] <= 120_000
    values = [client.get(k) for k in keys]
    docs = [json.loads(zlib.decompress(v)) for v in values]
    long = max(range(2), key=lambda i: len(docs[i]["r"]["content"]))
    assert len(values[long]) < len(json.dumps(docs[long]))  # compressed
    router.cache.clear()  # type: ignore[union-attr]
    assert list(client.scan_iter(match="cencori:cache:*")) == []
    client.close()
    router.close()


def test_an_entry_over_the_size_limit_is_not_stored(redis_url: str) -> None:
    router, fake, _ = make({"url": redis_url, "max_entry_bytes": 300})
    noise = "".join(chr(0x4E00 + (i * 7919) % 20000) for i in range(400))  # incompressible
    router.chat(model="m", messages=[{"role": "user", "content": noise}])
    assert not router.chat(model="m", messages=[{"role": "user", "content": noise}]).cache_hit
    router.chat(model="m", messages=USER)
    assert router.chat(model="m", messages=USER).cache_hit
    assert router.cache.stats()["skipped"] == 2  # type: ignore[union-attr]
    router.close()


@pytest.mark.parametrize("mode", MODES)
def test_redis_down_skips_the_cache_and_the_calls_still_work(
        mode: str, caplog: pytest.LogCaptureFixture) -> None:
    server = RedisServer()
    clock = Clock()
    cache = ResponseCache(url=server.url(), clock=clock, retry_after=30)
    router, fake, sink = make(cache)
    try:
        call(router, mode, "chat", model="m", messages=USER)
        assert call(router, mode, "chat", model="m", messages=USER).cache_hit
        server.stop(keep=True)
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="cencori_core"):
            for _ in range(3):
                r = call(router, mode, "chat", model="m", messages=USER)
                assert not r.cache_hit and r.content == "echo: Hello"
                _, s = stream(router, mode, model="m", messages=USER)
                assert not s.response.cache_hit
        warnings = [r for r in caplog.records if "response cache" in r.getMessage()]
        assert len(warnings) == 1  # logged once per outage
        assert "Redis at redis://127.0.0.1" in warnings[0].getMessage()
        # the first call found Redis down; the cache then left it alone for retry_after
        assert cache.stats()["errors"] == 1
        assert len(fake.calls) == 1 + 6
        assert all(r.status == "ok" for r in sink.records)
        server.start()
        clock.now += 29
        assert not call(router, mode, "chat", model="m", messages=USER).cache_hit  # still paused
        clock.now += 1
        # Redis is used again (it restarted empty): a miss that is stored, then a hit
        assert not call(router, mode, "chat", model="m", messages=USER).cache_hit
        assert call(router, mode, "chat", model="m", messages=USER).cache_hit
        assert cache.stats()["errors"] == 1
    finally:
        router.close()
        server.stop()


def test_no_key_or_secret_in_redis_keys_or_values(redis_url: str) -> None:
    secret = "sk-proj-REDISCACHESECRET0123456789"
    router, fake, _ = make({"url": redis_url})
    key = router.projects.create("acme")
    for _ in range(2):
        router.chat(model="m", messages=USER, api_key=key, user="alice@example.com",
                    metadata={"note": secret},
                    provider_options={"extra_headers": {"Authorization": "Bearer " + secret}})
    client = redis_py.Redis.from_url(redis_url)
    [entry] = list(client.scan_iter(match="cencori:cache:*"))
    blob = entry + zlib.decompress(client.get(entry))
    for text in (key, secret, "alice@example.com", "acme"):
        assert text.encode() not in blob
    assert len(fake.calls) == 1
    client.close()
    router.close()


def test_backend_choice(redis_url: str) -> None:
    from cencori_core import ConfigurationError

    router = Router(load_entrypoints=False, redis_url=redis_url,
                    cache=ResponseCache(backend="memory"))
    assert router.cache is not None and router.cache.stats()["backend"] == "memory"
    router.close()
    with pytest.raises(ConfigurationError, match="needs a url"):
        Router(load_entrypoints=False, cache={"backend": "redis"})
    with pytest.raises(ConfigurationError, match="contradict"):
        Router(load_entrypoints=False, cache={"backend": "memory", "url": redis_url})
    with pytest.raises(ConfigurationError, match="not a valid Redis URL") as info:
        Router(load_entrypoints=False, cache={"url": "redis://:hunter2secret@[bad"})
    assert "hunter2secret" not in str(info.value)

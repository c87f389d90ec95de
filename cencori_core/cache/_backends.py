"""Where cached answers live: an in-process LRU (default) or Redis.

Both store bytes under string keys with a time to live. The memory backend bounds itself by
entries and bytes, evicting the least recently used; Redis bounds itself (``maxmemory`` and its
eviction policy are the server's business) and expires entries server-side.

The Redis backend fails open: an error (server down, timeout, a full pool) makes that lookup a
miss and that store a no-op, logged once per outage, and the cache then stays away from Redis
for ``retry_after`` seconds so calls do not each wait for a dead server. The first success after
an outage is logged too.
"""

from __future__ import annotations

import logging
import threading
import zlib
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

__all__ = ["MemoryBackend", "RedisBackend"]

log = logging.getLogger("cencori_core")


class MemoryBackend:
    """An LRU of at most ``max_entries`` entries and ``max_bytes`` bytes (keys and values)."""

    name = "memory"

    def __init__(self, max_entries: int, max_bytes: int, clock: Callable[[], float]) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._clock = clock
        self._lock = threading.Lock()
        self._data: OrderedDict[str, tuple[float | None, bytes, int]] = OrderedDict()
        self.bytes = 0

    def pack(self, value: bytes) -> bytes:
        return value  # kept as is: a hit should not pay for a decompression

    def get(self, key: str) -> bytes | None:
        with self._lock:
            item = self._data.get(key)
            if item is None:
                return None
            expires, value, size = item
            if expires is not None and self._clock() >= expires:
                del self._data[key]
                self.bytes -= size
                return None
            self._data.move_to_end(key)
            return value

    def put(self, key: str, value: bytes, ttl: float | None) -> None:
        size = len(key) + len(value)
        expires = None if ttl is None else self._clock() + ttl
        with self._lock:
            old = self._data.pop(key, None)
            if old is not None:
                self.bytes -= old[2]
            self._data[key] = (expires, value, size)
            self.bytes += size
            data = self._data
            while len(data) > self.max_entries or self.bytes > self.max_bytes:
                _, (_, _, gone) = data.popitem(last=False)
                self.bytes -= gone

    async def aget(self, key: str) -> bytes | None:
        return self.get(key)

    async def aput(self, key: str, value: bytes, ttl: float | None) -> None:
        self.put(key, value, ttl)

    def __len__(self) -> int:
        return len(self._data)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
            self.bytes = 0

    def close(self) -> None:
        pass

    async def aclose(self) -> None:
        pass


class RedisBackend:
    """Entries in Redis (zlib-compressed), through the clients of a
    :class:`~cencori_core.stores.redis.RedisStore` (the router's own when the cache uses its
    ``redis_url``)."""

    name = "redis"

    def __init__(self, store: Any, *, owned: bool, clock: Callable[[], float],
                 retry_after: float, prefix: str) -> None:
        import redis

        self.store = store
        self.owned = owned
        self.prefix = prefix
        self._clock = clock
        self.retry_after = retry_after
        self._errors: tuple[type[BaseException], ...] = (redis.RedisError, OSError)
        self._paused_until = 0.0
        self._down = False
        self.errors = 0
        """Redis failures seen (each made a lookup a miss or skipped a store)."""

    def pack(self, value: bytes) -> bytes:
        return zlib.compress(value, 6)

    # ------------------------------------------------------------------ fail open

    def _skip(self) -> bool:
        return self._down and self._clock() < self._paused_until

    def _failed(self, exc: BaseException) -> None:
        self.errors += 1
        self._paused_until = self._clock() + self.retry_after
        if not self._down:
            self._down = True
            log.warning("response cache: Redis at %s failed (%s); calls go to the providers "
                        "uncached, trying Redis again in %.0f s", self.store.describe(),
                        type(exc).__name__, self.retry_after)

    def _ok(self) -> None:
        if self._down:
            self._down = False
            log.warning("response cache: Redis at %s answers again", self.store.describe())

    def _unpack(self, data: Any) -> bytes | None:
        if data is None:
            return None
        try:
            return zlib.decompress(data)
        except zlib.error:
            log.warning("response cache: an unreadable entry in Redis was ignored")
            return None

    # ------------------------------------------------------------------ sync and async

    def get(self, key: str) -> bytes | None:
        if self._skip():
            return None
        try:
            data = self.store.client.get(key)
        except self._errors as exc:
            self._failed(exc)
            return None
        self._ok()
        return self._unpack(data)

    def put(self, key: str, value: bytes, ttl: float | None) -> None:
        if self._skip():
            return
        try:
            self.store.client.set(key, value, px=_ms(ttl))
        except self._errors as exc:
            self._failed(exc)
            return
        self._ok()

    async def aget(self, key: str) -> bytes | None:
        if self._skip():
            return None
        try:
            data = await self.store._aio_for_loop().client.get(key)
        except self._errors as exc:
            self._failed(exc)
            return None
        self._ok()
        return self._unpack(data)

    async def aput(self, key: str, value: bytes, ttl: float | None) -> None:
        if self._skip():
            return
        try:
            await self.store._aio_for_loop().client.set(key, value, px=_ms(ttl))
        except self._errors as exc:
            self._failed(exc)
            return
        self._ok()

    def clear(self) -> None:
        """Delete every entry under this cache's prefix (SCAN, not KEYS: Redis stays free)."""
        client = self.store.client
        batch: list[Any] = []
        for key in client.scan_iter(match=self.prefix + "*", count=500):
            batch.append(key)
            if len(batch) >= 500:
                client.unlink(*batch)
                batch.clear()
        if batch:
            client.unlink(*batch)

    def close(self) -> None:
        if self.owned:
            self.store.close()

    async def aclose(self) -> None:
        if self.owned:
            await self.store.aclose()


def _ms(ttl: float | None) -> int | None:
    return None if ttl is None else max(1, int(ttl * 1000))

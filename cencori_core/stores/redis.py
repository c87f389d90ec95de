"""The Redis store: budgets, rate limits and project keys shared by every process.

A call's reservation (its budget counters and its rate-limit windows, all or nothing) is one
Lua script, and so is its settle: one round trip each way. The windows are `limits`' (same keys
and algorithms: a moving window for requests, a sliding window counter for tokens), whose
storage still answers window reads (``window()``, for ``retry_after``). The sync driver uses
redis-py's client, the async driver its asyncio client (one per event loop: an asyncio
connection belongs to the loop that opened it).

A budget counter is a hash ``<prefix>b:<counter>`` with ``spent``, ``reserved`` and one
``r:<id>`` field per open reservation, plus a sorted set ``<prefix>b:<counter>:r`` of reservation
ids by expiry: a process that dies between reserve and settle leaves a reservation that expires
instead of blocking the budget forever.

Connections fail fast (1 s socket timeouts, one retry) so an unreachable Redis becomes a
:class:`~cencori_core.stores.StoreUnavailable` quickly. Each client (the sync one, and the async
one of each event loop) draws from a *blocking* pool of ``max_connections`` (default
:data:`MAX_CONNECTIONS`) shared with its `limits` storage: under load a call waits for a free
connection (up to ``timeout`` seconds, default :data:`POOL_TIMEOUT`) instead of failing, so a
busy pool is never mistaken for an outage. Options in the URL's query string
(``?socket_timeout=5&max_connections=200&timeout=30``) override these defaults.

An event loop's async clients are closed when that loop shuts its async generators down
(``asyncio.run`` does), and any left by a loop closed otherwise are dropped the next time a new
loop connects, so short-lived loops do not leak connections.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from . import Counter, Refused, StoreUnavailable

__all__ = ["RedisStore", "RedisProjects", "mask_url"]

PREFIX = "cencori:"

# The weighted count of a sliding window counter (previous, current), after rolling the window
# over when its period has passed, as limits' acquire_sliding_window.lua does.
_SLIDING = """
local function weighted(prev, cur, ms)
  local cur_ttl = tonumber(redis.call('PTTL', cur))
  if cur_ttl > 0 and cur_ttl < ms then
    redis.call('RENAME', cur, prev)
    redis.call('SET', cur, 0, 'PX', cur_ttl + ms)
  end
  local pc = tonumber(redis.call('GET', prev)) or 0
  local pt = tonumber(redis.call('PTTL', prev)) or 0
  if pt < 0 then pt = 0 end
  return math.floor(pc * pt / ms) + (tonumber(redis.call('GET', cur)) or 0)
end
local function add(cur, n, ms)
  if redis.call('EXISTS', cur) == 1 then
    redis.call('INCRBY', cur, n)
  else
    redis.call('SET', cur, n, 'PX', ms * 2)
  end
end
"""

# One round trip for a call's whole reservation: its budget counters and its rate-limit windows,
# all or nothing. KEYS: (hash, zset) per budget counter, then per rate hit its window keys (one
# list for a moving window, previous and current counters for a sliding window counter: the keys
# and algorithms of `limits`, whose scripts acquire_moving_window.lua and
# acquire_sliding_window.lua these steps follow, so its window reads stay valid).
# ARGV: amount, rid, now, expires_at, nb, (limit, ttl) per counter, nh, (kind, limit, expiry,
# cost) per hit. Returns 0, {1, index, spent, reserved} for a budget that cannot take it, or
# {2, index} for a full rate window.
_RESERVE_ALL = _SLIDING + """
local amount = tonumber(ARGV[1])
local now = tonumber(ARGV[3])
local nb = tonumber(ARGV[5])
local h0 = 6 + 2 * nb
local nh = tonumber(ARGV[h0])
for i = 1, nb do
  local h, z = KEYS[2 * i - 1], KEYS[2 * i]
  local stale = redis.call('ZRANGEBYSCORE', z, '-inf', now)
  for _, r in ipairs(stale) do
    local a = redis.call('HGET', h, 'r:' .. r)
    if a then
      redis.call('HINCRBY', h, 'reserved', '-' .. a)
      redis.call('HDEL', h, 'r:' .. r)
    end
  end
  if #stale > 0 then redis.call('ZREMRANGEBYSCORE', z, '-inf', now) end
end
for i = 1, nb do
  local h = KEYS[2 * i - 1]
  local spent = redis.call('HGET', h, 'spent') or '0'
  local reserved = redis.call('HGET', h, 'reserved') or '0'
  if tonumber(spent) + tonumber(reserved) + amount > tonumber(ARGV[4 + 2 * i]) then
    return {1, i, spent, reserved}
  end
end
local k = 2 * nb + 1
for j = 1, nh do
  local b = h0 + 4 * (j - 1)
  local limit, expiry, cost = tonumber(ARGV[b + 2]), tonumber(ARGV[b + 3]), tonumber(ARGV[b + 4])
  if cost > limit then return {2, j} end
  if ARGV[b + 1] == 'm' then
    local entry = redis.call('LINDEX', KEYS[k], limit - cost)
    if entry and tonumber(entry) >= now - expiry then return {2, j} end
    k = k + 1
  else
    if weighted(KEYS[k], KEYS[k + 1], expiry * 1000) + cost > limit then return {2, j} end
    k = k + 2
  end
end
for i = 1, nb do
  local h, z = KEYS[2 * i - 1], KEYS[2 * i]
  redis.call('HINCRBY', h, 'reserved', ARGV[1])
  redis.call('HSET', h, 'r:' .. ARGV[2], ARGV[1])
  redis.call('ZADD', z, ARGV[4], ARGV[2])
  if tonumber(ARGV[5 + 2 * i]) > 0 then
    redis.call('EXPIRE', h, ARGV[5 + 2 * i])
    redis.call('EXPIRE', z, ARGV[5 + 2 * i])
  end
end
k = 2 * nb + 1
for j = 1, nh do
  local b = h0 + 4 * (j - 1)
  local limit, expiry, cost = tonumber(ARGV[b + 2]), tonumber(ARGV[b + 3]), tonumber(ARGV[b + 4])
  if ARGV[b + 1] == 'm' then
    for _ = 1, cost do redis.call('LPUSH', KEYS[k], ARGV[3]) end
    redis.call('LTRIM', KEYS[k], 0, limit - 1)
    redis.call('EXPIRE', KEYS[k], expiry)
    k = k + 1
  else
    add(KEYS[k + 1], cost, expiry * 1000)
    k = k + 2
  end
end
return 0
"""

# One round trip for a call's settle: each budget counter's reservation replaced by the actual
# cost, and the tokens its usage had beyond what was taken up front added to each
# tokens-per-minute window, up to what the window has left. A settle retried after a lost reply
# finds its reservation gone and must not charge twice, so the spend is added only with the
# reservation, or when the caller says it may have expired (late = '1').
# KEYS: (hash, zset) per budget counter, then (previous, current) per window. ARGV: rid, actual,
# late, nb, then (limit, expiry, extra) per window.
_SETTLE_ALL = _SLIDING + """
local nb = tonumber(ARGV[4])
for i = 1, nb do
  local h, z = KEYS[2 * i - 1], KEYS[2 * i]
  local a = redis.call('HGET', h, 'r:' .. ARGV[1])
  if a then
    redis.call('HINCRBY', h, 'reserved', '-' .. a)
    redis.call('HDEL', h, 'r:' .. ARGV[1])
    redis.call('ZREM', z, ARGV[1])
  end
  if ARGV[2] ~= '0' and (a or ARGV[3] == '1') then
    redis.call('HINCRBY', h, 'spent', ARGV[2])
  end
end
local k = 2 * nb + 1
local b = 5
while ARGV[b] do
  local limit, extra, ms = tonumber(ARGV[b]), tonumber(ARGV[b + 2]), tonumber(ARGV[b + 1]) * 1000
  local n = math.min(extra, limit - weighted(KEYS[k], KEYS[k + 1], ms))
  if n > 0 then add(KEYS[k + 1], n, ms) end
  k = k + 2
  b = b + 3
end
return 0
"""

_DEFAULTS: dict[str, Any] = {"socket_timeout": 1.0, "socket_connect_timeout": 1.0}

MAX_CONNECTIONS = 64
"""Connections per pool (one pool for the sync driver, one per event loop): enough to keep a
single-threaded Redis busy; more callers wait their turn."""
POOL_TIMEOUT = 20.0
"""Seconds a call waits for a free pooled connection before the store counts as unavailable.
Waiting is bounded by the load (every command holds a connection for one round trip), so this
only trips when Redis has stopped answering."""


def mask_url(url: str) -> str:
    """The URL without its password (``redis://:pw@host`` or ``?password=pw``), for messages
    and reprs."""
    try:
        parts = urlsplit(url)
        password = parts.password
        port = parts.port
    except ValueError:  # not a URL we can take apart: show none of it
        return "<redis url>"
    netloc = parts.netloc
    if password is not None:
        host = parts.hostname or ""
        if port:
            host += f":{port}"
        netloc = f"{parts.username or ''}:***@{host}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, "***" if k.lower() in _SECRET_PARAMS else v) for k, v in pairs],
                          safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


_SECRET_PARAMS = frozenset({"password", "pass", "pwd", "secret", "token"})


def _options(url: str) -> dict[str, Any]:
    """Our defaults, minus those the URL's query string sets (redis-py reads those)."""
    try:
        given = {k for k, _ in parse_qsl(urlsplit(url).query)}
    except ValueError:
        given = set()
    return {k: v for k, v in _DEFAULTS.items() if k not in given}


def _sync_pool(url: str, retry: Any) -> Any:
    from redis import BlockingConnectionPool

    # the retry goes to the connections too: a connect that times out is tried again
    return BlockingConnectionPool.from_url(url, retry=retry, **_pool_defaults(url))


def _pool_defaults(url: str) -> dict[str, Any]:
    out = _options(url)
    try:
        given = {k for k, _ in parse_qsl(urlsplit(url).query)}
    except ValueError:
        given = set()
    if "max_connections" not in given:
        out["max_connections"] = MAX_CONNECTIONS
    if "timeout" not in given:
        out["timeout"] = POOL_TIMEOUT
    return out


class _Async:
    """The asyncio clients of one event loop: ours and `limits`', on one blocking pool."""

    def __init__(self, url: str) -> None:
        import redis.asyncio as aioredis
        from limits.aio.storage import RedisStorage
        from limits.aio.strategies import (
            MovingWindowRateLimiter,
            SlidingWindowCounterRateLimiter,
        )
        from redis.asyncio.retry import Retry
        from redis.backoff import ExponentialBackoff

        retry = Retry(ExponentialBackoff(cap=0.05, base=0.01), 1)
        # The retry goes to the connections too: a connect whose timeout ran out while the loop
        # was busy (thousands of calls starting at once) is tried again, not an outage.
        self.pool = aioredis.BlockingConnectionPool.from_url(url, retry=retry,
                                                             **_pool_defaults(url))
        self.client = aioredis.Redis(connection_pool=self.pool, retry=retry)
        self.reserve_all = self.client.register_script(_RESERVE_ALL)
        self.settle_all = self.client.register_script(_SETTLE_ALL)
        self.storage = RedisStorage("async+" + url, implementation="redispy",
                                    key_prefix=PREFIX + "rl", wrap_exceptions=True,
                                    connection_pool=self.pool,  # type: ignore[arg-type]
                                    retry=retry)  # type: ignore[arg-type]
        self.limiters = (MovingWindowRateLimiter(self.storage),
                         SlidingWindowCounterRateLimiter(self.storage))
        self.closer: Any = None
        self.closed = False

    async def aclose(self) -> None:
        if self.closed:
            return
        self.closed = True
        await self.client.aclose()
        await self.pool.aclose()


async def _close_with_loop(store: RedisStore, loop: Any, aio: _Async) -> Any:
    """An async generator parked at its ``yield`` for the life of ``loop``: the loop's
    ``shutdown_asyncgens()`` (run by ``asyncio.run`` before it closes the loop) finalizes it,
    which closes that loop's connections while the loop can still run the close."""
    try:
        yield
    finally:
        store._drop(loop, aio)
        await aio.aclose()


class RedisStore:
    """Budgets and rate limits in Redis (redis-py sync and asyncio clients, `limits`)."""

    name = "redis"

    def __init__(self, url: str, *, prefix: str = PREFIX) -> None:
        try:
            import limits  # noqa: F401
            import redis
        except ImportError as exc:
            from ..errors import MissingDependencyError

            raise MissingDependencyError(
                f"redis_url needs redis-py and limits ({exc.name} is missing): "
                'pip install "cencori-core[redis]"', extra="redis") from None
        from limits.storage import RedisStorage
        from limits.strategies import MovingWindowRateLimiter, SlidingWindowCounterRateLimiter
        from redis.backoff import ExponentialBackoff
        from redis.retry import Retry

        self._url = url
        self.prefix = prefix
        retry = Retry(ExponentialBackoff(cap=0.05, base=0.01), 1)
        self._errors: tuple[type[BaseException], ...] = (redis.RedisError, OSError)
        try:
            self._pool = _sync_pool(url, retry)
        except (ValueError, TypeError) as exc:
            from ..errors import ConfigurationError

            # redis-py's message may quote the URL; ours names it masked.
            raise ConfigurationError(f"redis_url {mask_url(url)} is not a valid Redis URL "
                                     f"({type(exc).__name__}); expected "
                                     "redis://[:password@]host[:port][/db]") from None
        self.client = redis.Redis(connection_pool=self._pool, retry=retry)
        self._reserve_all = self.client.register_script(_RESERVE_ALL)
        self._settle_all = self.client.register_script(_SETTLE_ALL)
        self._storage = RedisStorage(url, key_prefix=prefix + "rl", wrap_exceptions=True,
                                     connection_pool=self._pool,
                                     retry=retry)  # type: ignore[arg-type]
        self._limiters = (MovingWindowRateLimiter(self._storage),
                          SlidingWindowCounterRateLimiter(self._storage))
        # Keyed by the loop itself (not weakly: the clients' transports refer to their loop, so
        # a weak key would never die); entries of closed loops are swept (see _aio_for_loop).
        self._aio: dict[Any, _Async] = {}
        self._aio_lock = threading.RLock()

    @property
    def url(self) -> str:
        """The URL with its password masked (the real one stays private)."""
        return mask_url(self._url)

    def __repr__(self) -> str:
        return f"RedisStore({self.url!r})"

    def describe(self) -> str:
        return mask_url(self._url)

    def _unavailable(self, exc: BaseException) -> StoreUnavailable:
        if "No connection available" in str(exc):
            return StoreUnavailable(
                f"Redis at {self.describe()}: no pooled connection came free within the pool "
                "timeout (raise it with ?timeout=<seconds> or ?max_connections=<n> in the URL)")
        return StoreUnavailable(f"Redis at {self.describe()} is unreachable "
                                f"({type(exc).__name__})")

    def _aio_for_loop(self) -> _Async:
        import asyncio

        loop = asyncio.get_running_loop()
        found = self._aio.get(loop)
        if found is None:
            with self._aio_lock:
                found = self._aio.get(loop)
                if found is None:
                    self._sweep()
                    found = self._aio[loop] = _Async(self._url)
                    found.closer = _close_with_loop(self, loop, found)
                    _park(found.closer)
        return found

    def _sweep(self) -> None:
        """Forget the clients of loops closed without ``shutdown_asyncgens()``: nothing can run
        on them any more, and dropping them lets their sockets be collected."""
        for old in [lp for lp in self._aio if lp.is_closed()]:
            aio = self._aio.pop(old)
            aio.closed = True
            _finish(aio.closer)

    def _drop(self, loop: Any, aio: _Async) -> None:
        with self._aio_lock:
            if self._aio.get(loop) is aio:
                del self._aio[loop]

    # ------------------------------------------------------------------ budgets

    def _budget_keys(self, keys: Sequence[str]) -> list[str]:
        out = []
        for key in keys:
            h = f"{self.prefix}b:{key}"
            out += [h, h + ":r"]
        return out

    def reserve(self, counters: Sequence[Counter], rid: str, amount: int, expires_at: float,
                now: float | None = None) -> Refused | None:
        out = self.reserve_all(counters, rid, amount, expires_at, (), now)
        assert not isinstance(out, int)
        return out

    async def areserve(self, counters: Sequence[Counter], rid: str, amount: int,
                       expires_at: float, now: float | None = None) -> Refused | None:
        out = await self.areserve_all(counters, rid, amount, expires_at, (), now)
        assert not isinstance(out, int)
        return out

    def settle(self, keys: Sequence[str], rid: str, actual: int, late: bool = True) -> None:
        self.settle_all(keys, rid, actual, late, ())

    async def asettle(self, keys: Sequence[str], rid: str, actual: int,
                      late: bool = True) -> None:
        await self.asettle_all(keys, rid, actual, late, ())

    # ------------------------------------------------------------------ one round trip

    def _window_keys(self, item: Any, scope: str, sliding: bool) -> list[str]:
        """The keys `limits` keeps ``item``'s window of ``scope`` under."""
        st = self._storage
        key = item.key_for(scope)
        if not sliding:
            return [st.prefixed_key(key)]
        return [st.prefixed_key(st._previous_window_key(key)),
                st.prefixed_key(st._current_window_key(key))]

    def _all_args(self, counters: Sequence[Counter], rid: str, amount: int, expires_at: float,
                  hits: Sequence[tuple[Any, str, int, str]],
                  now: float) -> tuple[list[str], list[Any]]:
        keys = self._budget_keys([c.key for c in counters])
        args: list[Any] = [amount, rid, repr(now), repr(expires_at), len(counters)]
        for c in counters:
            args += [c.limit, c.ttl]
        args.append(len(hits))
        for item, scope, cost, rule in hits:
            sliding = rule == "tpm"
            keys += self._window_keys(item, scope, sliding)
            args += ["s" if sliding else "m", item.amount, item.get_expiry(), cost]
        return keys, args

    @staticmethod
    def _all_result(counters: Sequence[Counter], out: Any) -> Refused | int | None:
        if not out:
            return None
        if int(out[0]) == 1:
            return Refused(counters[int(out[1]) - 1], int(out[2]), int(out[3]))
        return int(out[1]) - 1

    def reserve_all(self, counters: Sequence[Counter], rid: str, amount: int,
                    expires_at: float, hits: Sequence[tuple[Any, str, int, str]],
                    now: float | None = None) -> Refused | int | None:
        """Reserve ``amount`` on every budget counter and take every rate-limit hit
        ``(item, scope, cost, rule)``, in one atomic script, or nothing: None when done, the
        :class:`Refused` budget, or the index of the first hit whose window is full."""
        keys, args = self._all_args(counters, rid, amount, expires_at, hits,
                                    time.time() if now is None else now)
        try:
            out = self._reserve_all(keys=keys, args=args)
        except self._errors as exc:
            raise self._unavailable(exc) from exc
        return self._all_result(counters, out)

    async def areserve_all(self, counters: Sequence[Counter], rid: str, amount: int,
                           expires_at: float, hits: Sequence[tuple[Any, str, int, str]],
                           now: float | None = None) -> Refused | int | None:
        keys, args = self._all_args(counters, rid, amount, expires_at, hits,
                                    time.time() if now is None else now)
        try:
            out = await self._aio_for_loop().reserve_all(keys=keys, args=args)
        except self._errors as exc:
            raise self._unavailable(exc) from exc
        return self._all_result(counters, out)

    def _settle_args(self, keys: Sequence[str], rid: str, actual: int, late: bool,
                     tpm: Sequence[tuple[Any, str, int]]) -> tuple[list[str], list[Any]]:
        all_keys = self._budget_keys(keys)
        args: list[Any] = [rid, actual, int(late), len(keys)]
        for item, scope, extra in tpm:
            all_keys += self._window_keys(item, scope, True)
            args += [item.amount, item.get_expiry(), extra]
        return all_keys, args

    def settle_all(self, keys: Sequence[str], rid: str, actual: int, late: bool,
                   tpm: Sequence[tuple[Any, str, int]]) -> None:
        """Settle the budget counters ``keys`` and add each ``(item, scope, extra)`` to its
        tokens window (up to what it has left), in one script."""
        all_keys, args = self._settle_args(keys, rid, actual, late, tpm)
        try:
            self._settle_all(keys=all_keys, args=args)
        except self._errors as exc:
            raise self._unavailable(exc) from exc

    async def asettle_all(self, keys: Sequence[str], rid: str, actual: int, late: bool,
                          tpm: Sequence[tuple[Any, str, int]]) -> None:
        all_keys, args = self._settle_args(keys, rid, actual, late, tpm)
        try:
            await self._aio_for_loop().settle_all(keys=all_keys, args=args)
        except self._errors as exc:
            raise self._unavailable(exc) from exc

    def state(self, key: str) -> tuple[int, int]:
        """(spent, reserved) of a counter, in units (expired reservations included until the
        next reservation purges them)."""
        try:
            spent, reserved = self.client.hmget(f"{self.prefix}b:{key}", "spent", "reserved")
        except self._errors as exc:
            raise self._unavailable(exc) from exc
        return int(spent or 0), int(reserved or 0)

    async def astate(self, key: str) -> tuple[int, int]:
        try:
            spent, reserved = await self._aio_for_loop().client.hmget(
                f"{self.prefix}b:{key}", "spent", "reserved")
        except self._errors as exc:
            raise self._unavailable(exc) from exc
        return int(spent or 0), int(reserved or 0)

    # ------------------------------------------------------------------ rate limits

    def _limits_errors(self) -> tuple[type[BaseException], ...]:
        from limits.errors import StorageError

        return (StorageError, *self._errors)

    def hit(self, item: Any, ident: str, cost: int = 1, sliding: bool = False) -> bool:
        try:
            return bool(self._limiters[sliding].hit(item, ident, cost=cost))
        except self._limits_errors() as exc:
            raise self._unavailable(exc) from exc

    def window(self, item: Any, ident: str, sliding: bool = False) -> tuple[float, int]:
        try:
            stats = self._limiters[sliding].get_window_stats(item, ident)
        except self._limits_errors() as exc:
            raise self._unavailable(exc) from exc
        return stats.reset_time, stats.remaining

    async def ahit(self, item: Any, ident: str, cost: int = 1, sliding: bool = False) -> bool:
        try:
            limiter = self._aio_for_loop().limiters[sliding]
            return bool(await limiter.hit(item, ident, cost=cost))
        except self._limits_errors() as exc:
            raise self._unavailable(exc) from exc

    async def awindow(self, item: Any, ident: str, sliding: bool = False) -> tuple[float, int]:
        try:
            stats = await self._aio_for_loop().limiters[sliding].get_window_stats(item, ident)
        except self._limits_errors() as exc:
            raise self._unavailable(exc) from exc
        return stats.reset_time, stats.remaining

    # ------------------------------------------------------------------ lifecycle

    def close(self) -> None:
        self.client.close()
        self._pool.disconnect()
        with self._aio_lock:
            self._sweep()

    async def aclose(self) -> None:
        import asyncio

        self.close()
        with self._aio_lock:
            aio = self._aio.pop(asyncio.get_running_loop(), None)
        if aio is not None:
            await aio.aclose()
            _finish(aio.closer)


def _park(agen: Any) -> None:
    """Start ``agen`` (registering it with the running loop's async-generator hooks) and run it
    to its first ``yield``: nothing before that awaits, so one ``send`` gets there."""
    step = agen.__anext__()
    try:
        step.send(None)
    except StopIteration:
        pass


def _finish(agen: Any) -> None:
    """Finalize a parked closer whose clients are already closed (or whose loop is gone): its
    ``finally`` then awaits nothing, so it completes here and the loop's finalizer hook never
    has to schedule it on a loop that may be closed."""
    if agen is None:
        return
    step = agen.aclose()
    try:
        step.send(None)
    except (StopIteration, RuntimeError):
        pass


class RedisProjects:
    """Projects and key records in two Redis hashes (JSON values), shared by every process."""

    def __init__(self, store: RedisStore) -> None:
        self._store = store
        self._r = store.client
        self._projects = store.prefix + "projects"
        self._keys = store.prefix + "keys"

    def _call(self, fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except self._store._errors as exc:
            raise self._store._unavailable(exc) from exc

    def create_project(self, data: dict[str, Any], key: dict[str, Any]) -> bool:
        if not self._call(self._r.hsetnx, self._projects, data["name"], json.dumps(data)):
            return False
        self.add_key(key)
        return True

    def update_project(self, data: dict[str, Any]) -> bool:
        if not self._call(self._r.hexists, self._projects, data["name"]):
            return False
        self._call(self._r.hset, self._projects, data["name"], json.dumps(data))
        return True

    def _load(self, raw: Any, kind: str, what: str) -> dict[str, Any]:
        """A stored record, checked: tampering is a ConfigurationError naming the hash."""
        from ..accounting.projects import load_record

        table = self._projects if kind == "project" else self._keys
        return load_record(raw, kind, what, f"Redis at {self._store.describe()}, hash {table}")

    def get_project(self, name: str) -> dict[str, Any] | None:
        raw = self._call(self._r.hget, self._projects, name)
        return self._load(raw, "project", f"project {name!r}") if raw else None

    def list_projects(self) -> list[dict[str, Any]]:
        return [self._load(v, "project", "a project")
                for v in self._call(self._r.hvals, self._projects)]

    def add_key(self, key: dict[str, Any]) -> None:
        self._call(self._r.hset, self._keys, key["id"], json.dumps(key))

    def get_key(self, key_id: str) -> dict[str, Any] | None:
        raw = self._call(self._r.hget, self._keys, key_id)
        return self._load(raw, "key", f"key {key_id!r}") if raw else None

    def revoke_key(self, key_id: str, when: float) -> bool:
        key = self.get_key(key_id)
        if key is None or key.get("revoked"):
            return False
        key["revoked"] = when
        self.add_key(key)
        return True

    def list_keys(self) -> list[dict[str, Any]]:
        return [self._load(v, "key", "a key") for v in self._call(self._r.hvals, self._keys)]

    def close(self) -> None:
        pass


# ---------------------------------------------------------------------------- cooldowns

_FAIL = """
local now, window, allowed = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local cooldown, hard = tonumber(ARGV[4]), ARGV[5]
local function cool()
  local ms = math.max(1, math.ceil(cooldown * 1000))
  redis.call('SET', KEYS[2], tostring(now + cooldown), 'PX', ms)
  redis.call('DEL', KEYS[1])
  return 1
end
if hard == '1' then return cool() end
redis.call('ZADD', KEYS[1], now, ARGV[6])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
redis.call('PEXPIRE', KEYS[1], math.max(1, math.ceil(window * 1000)))
if redis.call('ZCARD', KEYS[1]) >= allowed then return cool() end
return 0
"""


class RedisDeploymentState:
    """Deployment cooldowns shared through Redis, so several worker processes agree.

    Failures and cooldowns live in Redis (an atomic Lua script counts failures within the
    window and starts the cooldown); in-flight counts and latency averages stay per process.
    Reads are mirrored locally for ``refresh_s`` seconds: the attempt loop asks on every
    attempt, and a Redis round trip there would stall the event loop of the async path. If Redis
    is unreachable, cooldowns fall back to this process's own view (with a warning): a
    deployment is never refused for want of Redis.
    """

    def __init__(self, store: RedisStore, *, refresh_s: float = 0.5) -> None:
        from ..resilience import MemoryDeploymentState

        self._store = store
        self._script = store.client.register_script(_FAIL)
        self._local = MemoryDeploymentState()
        self.in_flight = self._local.in_flight
        self.latency = self._local.latency
        self.refresh_s = refresh_s
        self._mirror: dict[str, float] = {}
        self._mirror_at = 0.0
        self._warned = False

    def _key(self, key: str, kind: str) -> str:
        return f"{self._store.prefix}cd:{kind}:{key}"

    def _down(self, exc: BaseException) -> None:
        if not self._warned:
            self._warned = True
            import logging

            logging.getLogger("cencori_core").warning(
                "deployment cooldowns: Redis at %s is unreachable (%s); using this process's "
                "own view", self._store.describe(), type(exc).__name__)

    def record_failure(self, key: str, cfg: Any, *, hard: bool, now: float) -> bool:
        local = self._local.record_failure(key, cfg, hard=hard, now=now)
        wall = time.time()
        try:
            cooled = bool(self._script(
                keys=[self._key(key, "fails"), self._key(key, "until")],
                args=[repr(wall), cfg.window_s, cfg.allowed_fails, cfg.cooldown_s,
                      "1" if hard else "0", f"{wall}:{os.getpid()}:{id(self)}"]))
        except self._store._errors as exc:
            self._down(exc)
            return local
        self._mirror_at = 0.0  # see the new state on the next read
        return cooled

    def cooling_until(self, keys: list[str], now: float) -> dict[str, float]:
        wall = time.time()
        if wall - self._mirror_at >= self.refresh_s or any(k not in self._mirror for k in keys):
            try:
                values = self._store.client.mget([self._key(k, "until") for k in keys])
            except self._store._errors as exc:
                self._down(exc)
                return self._local.cooling_until(keys, now)
            for k, val in zip(keys, values, strict=True):
                self._mirror[k] = float(val) if val is not None else 0.0
            self._mirror_at = wall
        # the local view covers failures this process saw but could not write
        out = {k: until for k in keys if (until := self._mirror.get(k, 0.0)) > wall}
        for k, until in self._local.cooling_until(keys, now).items():
            out.setdefault(k, until - now + wall)
        return out

    def acquire(self, key: str) -> None:
        self._local.acquire(key)

    def release(self, key: str, latency_ms: float | None) -> None:
        self._local.release(key, latency_ms)

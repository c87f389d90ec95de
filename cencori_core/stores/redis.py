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

import threading
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from . import Counter, Refused, StoreUnavailable
from ._lua import RESERVE_ALL, SETTLE_ALL

__all__ = ["RedisStore", "RedisProjects", "RedisDeploymentState", "mask_url", "REVOKED"]

PREFIX = "cencori:"

REVOKED = "revoked"
"""What :meth:`RedisStore.reserve_all` returns when the call's key is revoked."""

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
        self.reserve_all = self.client.register_script(RESERVE_ALL)
        self.settle_all = self.client.register_script(SETTLE_ALL)
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
        self.revoked_set = prefix + "revoked"
        """The set of revoked key ids the reservation script checks."""
        self.channel = prefix + "changes"
        """The pub/sub channel project and key changes are announced on."""
        self._watcher: Any = None
        self._watch_lock = threading.Lock()
        self._on_close: list[Any] = []
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
        self._reserve_all = self.client.register_script(RESERVE_ALL)
        self._settle_all = self.client.register_script(SETTLE_ALL)
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
        assert not isinstance(out, (int, str))
        return out

    async def areserve(self, counters: Sequence[Counter], rid: str, amount: int,
                       expires_at: float, now: float | None = None) -> Refused | None:
        out = await self.areserve_all(counters, rid, amount, expires_at, (), now)
        assert not isinstance(out, (int, str))
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
                  hits: Sequence[tuple[Any, str, int, str]], now: float,
                  key_id: str | None) -> tuple[list[str], list[Any]]:
        keys = self._budget_keys([c.key for c in counters])
        args: list[Any] = [amount, rid, repr(now), repr(expires_at), len(counters)]
        for c in counters:
            args += [c.limit, c.ttl]
        args.append(len(hits))
        for item, scope, cost, rule in hits:
            sliding = rule == "tpm"
            keys += self._window_keys(item, scope, sliding)
            args += ["s" if sliding else "m", item.amount, item.get_expiry(), cost]
        if hits and not counters:
            # rate limits only: the request's marker, so the script sent again after a lost
            # reply finds it and does not take the request twice (with a budget, the budget's
            # own per-request entry plays that part)
            keys.append(f"{self.prefix}rid:{rid}")
        keys.append(self.revoked_set)
        args.append(key_id or "")
        return keys, args

    @staticmethod
    def _all_result(counters: Sequence[Counter], out: Any) -> Refused | int | str | None:
        if not out:
            return None
        if int(out[0]) == 3:
            return REVOKED
        if int(out[0]) == 1:
            return Refused(counters[int(out[1]) - 1], int(out[2]), int(out[3]))
        return int(out[1]) - 1

    def reserve_all(self, counters: Sequence[Counter], rid: str, amount: int,
                    expires_at: float, hits: Sequence[tuple[Any, str, int, str]],
                    now: float | None = None,
                    key_id: str | None = None) -> Refused | int | str | None:
        """Check that the call's key (``key_id``) is not revoked, reserve ``amount`` on every
        budget counter and take every rate-limit hit ``(item, scope, cost, rule)``, in one
        atomic script, or nothing: None when done, :data:`REVOKED`, the :class:`Refused`
        budget, or the index of the first hit whose window is full."""
        keys, args = self._all_args(counters, rid, amount, expires_at, hits,
                                    time.time() if now is None else now, key_id)
        try:
            out = self._reserve_all(keys=keys, args=args)
        except self._errors as exc:
            raise self._unavailable(exc) from exc
        return self._all_result(counters, out)

    async def areserve_all(self, counters: Sequence[Counter], rid: str, amount: int,
                           expires_at: float, hits: Sequence[tuple[Any, str, int, str]],
                           now: float | None = None,
                           key_id: str | None = None) -> Refused | int | str | None:
        keys, args = self._all_args(counters, rid, amount, expires_at, hits,
                                    time.time() if now is None else now, key_id)
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

    def watch(self, callback: Any) -> Any:
        """Start (once) the background listener that calls ``callback(kind, name)`` for each
        change announced on :attr:`channel` (``callback(None, None)`` after a (re)connect:
        anything may have changed meanwhile). Returns the listener."""
        from .redis_watch import Watcher

        with self._watch_lock:
            if self._watcher is None or not self._watcher.alive():  # none yet, or forked
                self._watcher = Watcher(self._url, self.channel, self._errors)
            self._watcher.add(callback)
            return self._watcher

    def on_close(self, fn: Any) -> None:
        """Have ``fn()`` called first when the store closes (background senders flush)."""
        self._on_close.append(fn)

    def close(self) -> None:
        for fn in self._on_close:
            fn()
        with self._watch_lock:
            watcher, self._watcher = self._watcher, None
        if watcher is not None:
            watcher.close()
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


# Split off along their seams; importable from here as before.
from .redis_projects import RedisProjects  # noqa: E402
from .redis_routing import RedisDeploymentState  # noqa: E402

"""The response cache: ``Router(cache=True | {...} | ResponseCache(...))``.

A call whose normalized request (after the pre-request policies) was answered before, in the
same project, gets that answer back without a provider call: no budget reservation, no
rate-limit tokens, cost 0, ``cache_hit=True`` and the saved cost on its usage record. The
post-response policies still run on the cached answer, and a stream replays it as chunks
through the stream hooks. See docs/cache.md for the key, the temperature rule and Redis.

Pieces: :mod:`._key` (the key), :mod:`._codec` (answers as bytes), :mod:`._backends` (memory LRU
and Redis). The pipeline asks :meth:`ResponseCache.plan` once per call (pure), then
``get``/``aget`` before the attempts and ``put``/``aput`` after a completed call.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from ..errors import ConfigurationError, InvalidRequestError
from ._codec import CACHED_OPERATIONS, decode, encode
from ._key import cache_key

__all__ = ["ResponseCache", "Lookup", "coerce_cache", "call_option", "CACHED_OPERATIONS",
           "OPTIONS"]

log = logging.getLogger("cencori_core")

OPTIONS = ("ttl", "max_entries", "max_bytes", "max_entry_bytes", "temperature", "url",
           "backend", "clock", "prefix", "retry_after")
"""Keywords of :class:`ResponseCache` (and keys of ``Router(cache={...})`` / ``[cache]``)."""

_MIB = 1024 * 1024


class Lookup:
    """One call's use of the cache (the pipeline's bookkeeping, on ``ctx._call.cache``)."""

    __slots__ = ("key", "operation", "mode", "ttl", "hit", "saved", "value")

    def __init__(self, key: str, operation: str, mode: str, ttl: float | None) -> None:
        self.key = key
        self.operation = operation
        self.mode = mode  # "use" (look up, store a miss) or "refresh" (store only)
        self.ttl = ttl
        self.hit = False
        self.saved: Any = None  # the Cost the cached answer had: what this hit saved
        self.value: bytes | None = None  # the answer to store, once the call completed


class ResponseCache:
    """Answers of earlier calls, by normalized request and project.

    ``ttl``: seconds an answer is kept (None: until evicted). ``max_entries`` / ``max_bytes``:
    bounds of the in-memory LRU. ``max_entry_bytes``: a larger answer is not stored (measured
    as stored: compressed on Redis). ``temperature``: also cache requests with
    ``temperature > 0`` (off by default: see docs/cache.md). ``url``: a Redis URL (else the
    router's ``redis_url``, else memory); ``backend="memory"`` keeps it in the process even when
    the router has a ``redis_url``. ``clock``: seconds, for expiry in memory and the Redis
    back-off (default ``time.monotonic``; tests inject one). ``prefix``: of Redis keys.
    ``retry_after``: seconds the cache leaves a failed Redis alone.
    """

    def __init__(self, *, ttl: float | None = 300.0, max_entries: int = 10_000,
                 max_bytes: int = 64 * _MIB, max_entry_bytes: int = 1 * _MIB,
                 temperature: bool = False, url: str | None = None,
                 backend: str | None = None, clock: Callable[[], float] | None = None,
                 prefix: str = "cencori:cache:", retry_after: float = 5.0) -> None:
        self.ttl = _ttl(ttl, "ttl", ConfigurationError)
        self.max_entries = _count(max_entries, "max_entries")
        self.max_bytes = _count(max_bytes, "max_bytes")
        self.max_entry_bytes = _count(max_entry_bytes, "max_entry_bytes")
        if not isinstance(temperature, bool):
            raise ConfigurationError(f"cache temperature must be true or false, got "
                                     f"{type(temperature).__name__}")
        self.temperature = temperature
        if url is not None and (not isinstance(url, str) or not url):
            raise ConfigurationError("cache url must be a Redis URL such as "
                                     "'redis://127.0.0.1:6379/0'")
        if backend not in (None, "memory", "redis"):
            raise ConfigurationError(f"cache backend must be 'memory' or 'redis', got "
                                     f"{backend!r}")
        if backend == "memory" and url is not None:
            raise ConfigurationError("cache backend='memory' and a cache url contradict each "
                                     "other: drop one")
        if not isinstance(prefix, str) or not prefix:
            raise ConfigurationError("cache prefix must be a non-empty string")
        self.url = url
        self.backend_name = backend
        self.clock = clock or time.monotonic
        self.prefix = prefix
        self.retry_after = float(_ttl(retry_after, "retry_after", ConfigurationError) or 0.0)
        self.backend: Any = None
        self.hits = 0
        self.misses = 0
        self.stores = 0
        self.skipped = 0
        """Answers not stored: larger than ``max_entry_bytes``."""

    # ------------------------------------------------------------------ set-up

    def bind(self, redis_url: str | None, store: Any = None) -> None:
        """Choose the backend once the router's ``redis_url`` (and its store) are known."""
        if self.backend is not None:
            return
        from ._backends import MemoryBackend, RedisBackend

        url = self.url
        if url is None and self.backend_name != "memory":
            url = redis_url
        if url is None:
            if self.backend_name == "redis":
                raise ConfigurationError("cache backend='redis' needs a url: "
                                         "cache={'url': 'redis://...'} or Router(redis_url=...)")
            self.backend = MemoryBackend(self.max_entries, self.max_bytes, self.clock)
            return
        owned = not (store is not None and getattr(store, "name", None) == "redis"
                     and url == redis_url)
        if owned:
            from ..stores.redis import RedisStore

            store = RedisStore(url)
        self.backend = RedisBackend(store, owned=owned, clock=self.clock,
                                    retry_after=self.retry_after, prefix=self.prefix)

    def __repr__(self) -> str:
        where = self.backend.name if self.backend is not None else "unbound"
        return f"<ResponseCache {where} ttl={self.ttl} entries={self.max_entries}>"

    # ------------------------------------------------------------------ per call

    def plan(self, ctx: Any, option: tuple[str, float | None, bool]) -> Lookup | None:
        """The call's lookup, or None when this call is not cached (operation, temperature)."""
        op = ctx.operation
        if op not in CACHED_OPERATIONS:
            return None
        mode, ttl, force = option
        if op == "chat" and not (force or self.temperature):
            t = ctx.request.temperature
            if t is not None and t > 0:
                return None
        route = ctx.route
        if route.via == "deployment":
            provider, model = "deployments", route.requested
        else:
            provider, model = route.provider, route.model
        key = cache_key(op, ctx.project, provider, model, ctx.request, self.prefix)
        return Lookup(key, op, mode, self.ttl if ttl is None else ttl)

    def found(self, look: Lookup, data: bytes | None) -> Any:
        """The cached response for ``data`` (None: a miss, or an entry that cannot be read)."""
        if data is None:
            self.misses += 1
            return None
        try:
            resp = decode(look.operation, data)
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("response cache: an unreadable entry was ignored (%s)",
                        type(exc).__name__)
            self.misses += 1
            return None
        self.hits += 1
        look.hit = True
        look.saved = resp.cost
        return resp

    def keep(self, look: Lookup, response: Any) -> None:
        """Remember the provider's answer of a call in progress (stored once it completes)."""
        look.value = encode(look.operation, response)

    def _blob(self, look: Lookup) -> bytes | None:
        value, look.value = look.value, None
        if value is None:
            return None
        blob: bytes = self.backend.pack(value)
        if len(blob) > self.max_entry_bytes:
            self.skipped += 1
            return None
        self.stores += 1
        return blob

    def get(self, look: Lookup) -> Any:
        if look.mode != "use":
            return None
        return self.found(look, self.backend.get(look.key))

    async def aget(self, look: Lookup) -> Any:
        if look.mode != "use":
            return None
        return self.found(look, await self.backend.aget(look.key))

    def put(self, look: Lookup) -> None:
        blob = self._blob(look)
        if blob is not None:
            self.backend.put(look.key, blob, look.ttl)

    async def aput(self, look: Lookup) -> None:
        blob = self._blob(look)
        if blob is not None:
            await self.backend.aput(look.key, blob, look.ttl)

    # ------------------------------------------------------------------ maintenance

    def stats(self) -> dict[str, Any]:
        """Counters since the router started: hits, misses, stores, skipped (too large),
        and for memory the entries and bytes held, for Redis its errors."""
        out: dict[str, Any] = {"backend": None if self.backend is None else self.backend.name,
                               "hits": self.hits, "misses": self.misses,
                               "stores": self.stores, "skipped": self.skipped}
        if self.backend is not None and self.backend.name == "memory":
            out["entries"] = len(self.backend)
            out["bytes"] = self.backend.bytes
        elif self.backend is not None:
            out["errors"] = self.backend.errors
        return out

    def clear(self) -> None:
        """Forget every cached answer (on Redis: every key under this cache's prefix)."""
        if self.backend is not None:
            self.backend.clear()

    def close(self) -> None:
        if self.backend is not None:
            self.backend.close()

    async def aclose(self) -> None:
        if self.backend is not None:
            await self.backend.aclose()


# ---------------------------------------------------------------------------- arguments


def coerce_cache(value: Any) -> ResponseCache | None:
    """``Router(cache=...)``: True, a mapping of :data:`OPTIONS`, a :class:`ResponseCache`, or
    None / False (no cache)."""
    if value is None or value is False:
        return None
    if value is True:
        return ResponseCache()
    if isinstance(value, ResponseCache):
        return value
    if isinstance(value, Mapping):
        opts = dict(value)
        if opts.pop("enabled", True) is False:
            return None
        unknown = sorted(set(opts) - set(OPTIONS))
        if unknown:
            import difflib

            near = [m for k in unknown for m in difflib.get_close_matches(k, OPTIONS, 1)]
            hint = f" (did you mean {', '.join(near)}?)" if near else ""
            raise ConfigurationError(f"cache: unknown option(s) {unknown}{hint}; allowed: "
                                     f"{', '.join(OPTIONS)}, enabled")
        return ResponseCache(**opts)
    raise ConfigurationError(f"cache must be True, False, a dict of options or a "
                             f"ResponseCache, got {type(value).__name__}")


_CALL_KEYS = ("ttl", "temperature")


def call_option(value: Any, cache: ResponseCache | None) -> tuple[str, float | None, bool] | None:
    """A call's ``cache=`` argument → ``(mode, ttl, force)``, or None to bypass the cache.

    None: the router's rule. False: bypass (no lookup, no store). True: use it, even for
    ``temperature > 0``. ``"refresh"``: call the provider and overwrite the entry. A dict:
    ``{"ttl": seconds, "temperature": bool}`` for this call."""
    if value is None:
        return None if cache is None else ("use", None, False)
    if value is False:
        return None
    if value is True:
        option: tuple[str, float | None, bool] = ("use", None, True)
    elif isinstance(value, str) and value == "refresh":
        # isinstance first: an object's own __eq__ must not run (and raise) on a bad value
        option = ("refresh", None, False)
    elif isinstance(value, Mapping):
        unknown = sorted(str(k) for k in value if k not in _CALL_KEYS)
        if unknown:
            raise InvalidRequestError(f"cache: unknown key(s) {unknown} for a call; allowed: "
                                      "ttl, temperature", param="cache")
        force = value.get("temperature", False)
        if not isinstance(force, bool):
            raise InvalidRequestError("cache['temperature'] must be true or false",
                                      param="cache")
        option = ("use", _ttl(value.get("ttl"), "cache['ttl']", InvalidRequestError), force)
    else:
        raise InvalidRequestError(
            f"cache must be True, False, 'refresh' or {{'ttl': seconds}}, got {value!r}"
            if isinstance(value, str) else
            f"cache must be True, False, 'refresh' or {{'ttl': seconds}}, got "
            f"{type(value).__name__}", param="cache")
    if cache is None:
        raise InvalidRequestError(
            f"cache={value!r} needs a router with a response cache: Router(cache=True) or a "
            "[cache] table in the TOML file", param="cache")
    return option


def _ttl(value: Any, name: str, error: type[Exception]) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0 \
            or value == float("inf"):
        raise error(f"{name} must be a positive number of seconds (or None), got {value!r}")
    return float(value)


def _count(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigurationError(f"cache {name} must be a positive integer, got {value!r}")
    return value

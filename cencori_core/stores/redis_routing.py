"""Deployment health and routing state shared through Redis, so several worker processes agree
on cooldowns, per-deployment rate limits and the statistics the strategies read."""

from __future__ import annotations

import itertools
import os
import threading
import time
from typing import TYPE_CHECKING, Any

from ._lua import FAIL, RELEASE, ROUTE

if TYPE_CHECKING:
    from .redis import RedisStore

__all__ = ["RedisDeploymentState"]


INFLIGHT_TTL = 600.0
"""Seconds an in-flight entry counts at most: a process that dies mid-call leaves one that
expires by itself."""
_BATCH = 256
LINGER = 0.01
"""Seconds a finished attempt's release waits for the next choice to carry it before the
background sender sends it alone."""
_MODES = {"least_busy": "busy", "usage_based": "tokens", "lowest_latency": "latency"}


class RedisDeploymentState:
    """Deployment health and routing statistics shared through Redis, so several worker
    processes agree.

    - Failures and cooldowns: an atomic script counts failures within the window and starts the
      cooldown. Cooldown reads are mirrored locally for ``refresh_s`` seconds (the attempt loop
      asks on every attempt).
    - Choosing a deployment (:meth:`take`) is one script, one round trip: among the candidates
      under their own ``rpm`` / ``tpm``, the script picks by the strategy's metric as Redis holds
      it at that moment (in-flight calls, tokens of the minute, latency average) and takes it;
      every candidate's statistics come back, mirrored locally (``in_flight``, ``latency``,
      :meth:`tokens_used`). With the ``weighted`` strategy and no per-deployment limits nothing
      shared is needed and the choice stays local (no round trip).
    - Finishing an attempt (:meth:`release`) never waits for Redis: the next choice carries it
      in its own script, or a background thread sends it (batched) after :data:`LINGER`.

    If Redis is unreachable, everything falls back to this process's own view (with a warning):
    a deployment is never refused for want of Redis (per-deployment limits fail open).
    """

    def __init__(self, store: RedisStore, *, refresh_s: float = 0.5) -> None:
        from ..resilience import MemoryDeploymentState

        self._store = store
        self._script = store.client.register_script(FAIL)
        self._local = MemoryDeploymentState()
        self.in_flight = self._local.in_flight
        self.latency = self._local.latency
        self.refresh_s = refresh_s
        self._mirror: dict[str, float] = {}
        self._mirror_at = 0.0
        self._warned = False
        self._route = store.client.register_script(ROUTE)
        self._release = store.client.register_script(RELEASE)
        self._tokens: dict[str, tuple[str, int]] = {}  # key → (minute, tokens) as last seen
        self._ids = itertools.count()
        self._pending: list[tuple[str, str, str, int, str]] = []  # releases not sent yet
        self._plock = threading.Lock()
        self._send_lock = threading.Lock()
        self._wake = threading.Event()
        self._closing = False
        self._flusher: threading.Thread | None = None
        self._flusher_lock = threading.Lock()
        store.on_close(self.close)

    def _key(self, key: str, kind: str) -> str:
        return f"{self._store.prefix}cd:{kind}:{key}"

    def _down(self, exc: BaseException) -> None:
        if not self._warned:
            self._warned = True
            import logging

            logging.getLogger("cencori_core").warning(
                "deployment routing state: Redis at %s is unreachable (%s); using this "
                "process's own view", self._store.describe(), type(exc).__name__)

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

    def tokens_used(self, key: str) -> int:
        """Tokens ``key`` took in the current UTC minute, as the last choice saw them."""
        minute, tokens = self._tokens.get(key, ("", 0))
        return tokens if minute == str(int(time.time() // 60)) else 0

    def take(self, deps: list[Any], tokens: int, strategy: str = "weighted",
             ranks: dict[str, int] | None = None) -> tuple[Any, Any] | None:
        """See ``MemoryDeploymentState.take``; shared by every process (one round trip), the
        strategy's metric read from Redis at this moment (``ranks``: the grouping of
        ``Balancer.candidates``, which the metric never overrides)."""
        mode = _MODES.get(strategy, "first")
        if mode == "first" and not any(d.rpm or d.tpm for d in deps):
            return self._local.take(deps, tokens)  # nothing shared to read or to count
        wall = time.time()
        minute = str(int(wall // 60))
        member = f"{os.getpid()}:{id(self)}:{next(self._ids)}"
        keys: list[str] = []
        args: list[Any] = [repr(wall), minute, tokens, member, INFLIGHT_TTL, mode, len(deps)]
        for d in deps:
            keys += [self._key(d.key, "use"), self._key(d.key, "busy")]
            args += [d.rpm, d.tpm, (ranks or {}).get(d.key, 1)]
        # One lock with the background sender: the releases this process has not sent yet go
        # first in the same script, and never after a choice that should have seen them.
        with self._send_lock:
            batch = self._drain(_BATCH)  # a choice carries one batch at most
            self._release_args(batch, keys, args)
            try:
                out = self._route(keys=keys, args=args)
            except self._store._errors as exc:
                with self._plock:
                    self._pending[:0] = batch
                self._down(exc)
                return self._local.take(deps, tokens)
        for i, d in enumerate(deps):
            busy, lat, used = out[1 + 3 * i: 4 + 3 * i]
            self.in_flight[d.key] = int(busy)
            if lat:
                self.latency[d.key] = float(lat)
            self._tokens[d.key] = (minute, int(used))
        chosen = int(out[0])
        if chosen == 0:
            return None
        dep = deps[chosen - 1]
        return dep, (member, minute)

    def release(self, key: str, latency_ms: float | None, tokens: int = 0,
                ticket: Any = None) -> None:
        if ticket is None:  # taken locally
            self._local.release(key, latency_ms, tokens)
            return
        member, minute = ticket
        lat = repr(latency_ms) if latency_ms is not None else ""
        with self._plock:
            self._pending.append((key, member, lat, tokens, minute))
        self._wake.set()
        if self._flusher is None or not self._flusher.is_alive():  # not yet, or forked
            with self._flusher_lock:
                if (self._flusher is None or not self._flusher.is_alive()) \
                        and not self._closing:
                    self._flusher = threading.Thread(target=self._flush, daemon=True,
                                                     name="cencori-redis-release")
                    self._flusher.start()

    def _drain(self, most: int | None = None) -> list[tuple[str, str, str, int, str]]:
        with self._plock:
            if most is None or len(self._pending) <= most:
                out, self._pending = self._pending, []
            else:
                out, self._pending = self._pending[:most], self._pending[most:]
        return out

    def _release_args(self, batch: list[Any], keys: list[str], args: list[Any]) -> None:
        for key, member, lat, tokens, minute in batch:
            keys += [self._key(key, "use"), self._key(key, "busy")]
            args += [member, lat, tokens, minute]

    def _flush(self) -> None:
        """The background sender: releases the next :meth:`take` has not carried within
        :data:`LINGER` seconds go in batches of their own."""
        while True:
            self._wake.wait()
            if not self._closing:
                time.sleep(LINGER)
            self._wake.clear()
            with self._send_lock:
                batch = self._drain()
                for i in range(0, len(batch), _BATCH):
                    keys: list[str] = []
                    args: list[Any] = []
                    self._release_args(batch[i:i + _BATCH], keys, args)
                    try:
                        self._release(keys=keys, args=args)
                    except self._store._errors as exc:  # in-flight entries expire by themselves
                        self._down(exc)
            if self._closing:
                return

    def close(self) -> None:
        """Send what is pending and stop the sender (the store's ``close()`` calls this)."""
        with self._flusher_lock:
            self._closing = True
            flusher = self._flusher
        if flusher is not None:
            self._wake.set()
            flusher.join(timeout=2.0)
            self._flusher = None

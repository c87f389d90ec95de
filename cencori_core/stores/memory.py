"""The in-process store (default): budget counters under a lock, `limits`' memory storage.

Every operation is short CPU work under a lock, so the async driver calls the same code
(the ``a*`` twins) without a thread hop: one store serves both drivers with one set of counters.
"""

from __future__ import annotations

import heapq
import threading
import time
from collections.abc import Sequence
from typing import Any

from . import Counter, Refused

__all__ = ["MemoryStore", "MemoryProjects"]


class MemoryStore:
    """Budgets and rate limits of one process."""

    name = "memory"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counters: dict[str, list[int]] = {}  # key → [spent, reserved]
        self._reservations: dict[str, tuple[int, tuple[str, ...]]] = {}  # rid → (amount, keys)
        self._expiry: list[tuple[float, str]] = []  # heap of (expires_at, rid)
        self._limiters: Any = None

    # ------------------------------------------------------------------ budgets

    def reserve(self, counters: Sequence[Counter], rid: str, amount: int, expires_at: float,
                now: float | None = None) -> Refused | None:
        """Reserve ``amount`` on every counter, or on none (returns why) — atomically."""
        now = time.time() if now is None else now
        with self._lock:
            self._purge(now)
            for c in counters:
                spent, reserved = self._counters.get(c.key, (0, 0))
                if spent + reserved + amount > c.limit:
                    return Refused(c, spent, reserved)
            for c in counters:
                self._counters.setdefault(c.key, [0, 0])[1] += amount
            self._reservations[rid] = (amount, tuple(c.key for c in counters))
            heapq.heappush(self._expiry, (expires_at, rid))
        return None

    def settle(self, keys: Sequence[str], rid: str, actual: int, late: bool = True) -> None:
        """Drop the reservation ``rid`` and add ``actual`` to the spend (0: a release).
        ``late`` is for stores that can fail mid-settle (Redis); here a settle runs once."""
        with self._lock:
            self._drop(rid)
            if actual:
                for key in keys:
                    self._counters.setdefault(key, [0, 0])[0] += actual

    def state(self, key: str) -> tuple[int, int]:
        """(spent, reserved) of a counter, in units."""
        with self._lock:
            self._purge(time.time())
            spent, reserved = self._counters.get(key, (0, 0))
            return spent, reserved

    def _drop(self, rid: str) -> None:
        found = self._reservations.pop(rid, None)
        if found is not None:
            amount, keys = found
            for key in keys:
                self._counters[key][1] -= amount

    def _purge(self, now: float) -> None:
        # Reservations of calls that never settled (an abandoned stream) expire.
        while self._expiry and self._expiry[0][0] <= now:
            _, rid = heapq.heappop(self._expiry)
            self._drop(rid)

    async def areserve(self, counters: Sequence[Counter], rid: str, amount: int,
                       expires_at: float, now: float | None = None) -> Refused | None:
        return self.reserve(counters, rid, amount, expires_at, now)

    async def asettle(self, keys: Sequence[str], rid: str, actual: int,
                      late: bool = True) -> None:
        self.settle(keys, rid, actual)

    async def astate(self, key: str) -> tuple[int, int]:
        return self.state(key)

    # ------------------------------------------------------------------ rate limits

    def _limiter(self, sliding: bool) -> Any:
        if self._limiters is None:
            with self._lock:
                if self._limiters is None:
                    from limits.storage import MemoryStorage
                    from limits.strategies import (
                        MovingWindowRateLimiter,
                        SlidingWindowCounterRateLimiter,
                    )

                    storage = MemoryStorage()
                    self._limiters = (MovingWindowRateLimiter(storage),
                                      SlidingWindowCounterRateLimiter(storage))
        return self._limiters[sliding]

    def hit(self, item: Any, ident: str, cost: int = 1, sliding: bool = False) -> bool:
        """Take ``cost`` from a moving window (or a sliding window counter)."""
        return bool(self._limiter(sliding).hit(item, ident, cost=cost))

    def window(self, item: Any, ident: str, sliding: bool = False) -> tuple[float, int]:
        """(reset time, remaining) of a window."""
        stats = self._limiter(sliding).get_window_stats(item, ident)
        return stats.reset_time, stats.remaining

    async def ahit(self, item: Any, ident: str, cost: int = 1, sliding: bool = False) -> bool:
        return self.hit(item, ident, cost, sliding)

    async def awindow(self, item: Any, ident: str, sliding: bool = False) -> tuple[float, int]:
        return self.window(item, ident, sliding)

    # ------------------------------------------------------------------ lifecycle

    def describe(self) -> str:
        return "memory"

    def close(self) -> None:
        pass

    async def aclose(self) -> None:
        pass


class MemoryProjects:
    """Projects and key records of one process (records are plain dicts)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._projects: dict[str, dict[str, Any]] = {}
        self._keys: dict[str, dict[str, Any]] = {}

    def create_project(self, data: dict[str, Any], key: dict[str, Any]) -> bool:
        with self._lock:
            if data["name"] in self._projects:
                return False
            self._projects[data["name"]] = dict(data)
            self._keys[key["id"]] = dict(key)
            return True

    def update_project(self, data: dict[str, Any]) -> bool:
        with self._lock:
            if data["name"] not in self._projects:
                return False
            self._projects[data["name"]] = dict(data)
            return True

    def get_project(self, name: str) -> dict[str, Any] | None:
        found = self._projects.get(name)
        return dict(found) if found is not None else None

    def list_projects(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(p) for p in self._projects.values()]

    def add_key(self, key: dict[str, Any]) -> None:
        with self._lock:
            self._keys[key["id"]] = dict(key)

    def get_key(self, key_id: str) -> dict[str, Any] | None:
        found = self._keys.get(key_id)
        return dict(found) if found is not None else None

    def revoke_key(self, key_id: str, when: float) -> bool:
        with self._lock:
            key = self._keys.get(key_id)
            if key is None or key.get("revoked"):
                return False
            key["revoked"] = when
            return True

    def list_keys(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(k) for k in self._keys.values()]

    def close(self) -> None:
        pass

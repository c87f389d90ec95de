"""The change listener of a Redis store: one background thread per store, subscribed to the
store's pub/sub channel, that tells the local caches what another process changed.

Messages are ``<kind>:<name>`` (``key:csk_...``, ``project:acme``). Pub/sub delivers a message
to every subscriber within a millisecond or so of its ``PUBLISH``, but not while a subscriber is
disconnected: after each (re)connect the listener calls its callbacks with ``(None, None)``,
"anything may have changed", so the caches drop everything they hold. While the listener is
down the caches fall back to their TTL.

The thread is a daemon, started by the first :meth:`RedisStore.watch` and stopped by the
store's ``close()``; it reconnects with a capped backoff (50 ms doubling to 1 s).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

__all__ = ["Watcher", "RECONNECT_MAX"]

log = logging.getLogger("cencori_core")

RECONNECT_MAX = 1.0
"""Longest wait, in seconds, between two reconnection attempts of the listener."""
_POLL = 0.2  # seconds a read waits before the thread looks at its stop flag again

Callback = Callable[[str | None, str | None], None]


class Watcher:
    """A daemon thread listening on one channel (see the module docstring)."""

    def __init__(self, url: str, channel: str, errors: tuple[type[BaseException], ...]) -> None:
        import redis

        # Its own client: a subscribed connection is held for good and must not be taken from
        # (or returned to) the pool the calls use. No socket timeout on reads: get_message()
        # bounds its own wait.
        self._client = redis.Redis.from_url(url, socket_connect_timeout=1.0,
                                            socket_timeout=None, health_check_interval=30)
        self._channel = channel
        self._errors = errors
        self._callbacks: list[Callback] = []
        self._stop = threading.Event()
        self.connected = threading.Event()
        """Set while subscribed (cleared when the connection is lost)."""
        self.connects = 0
        """How many times the listener has (re)subscribed."""
        self._thread = threading.Thread(target=self._run, name="cencori-redis-watch",
                                        daemon=True)
        self._thread.start()

    def alive(self) -> bool:
        """Whether the thread runs (in this process: a forked child has none)."""
        return self._thread.is_alive()

    def add(self, callback: Callback) -> None:
        if callback not in self._callbacks:
            self._callbacks.append(callback)

    def wait(self, timeout: float) -> bool:
        """Wait until subscribed (True) or ``timeout`` seconds passed (False)."""
        return self.connected.wait(timeout)

    def _notify(self, kind: str | None, name: str | None) -> None:
        for cb in list(self._callbacks):
            try:
                cb(kind, name)
            except Exception:  # a cache bug must not kill the listener
                log.exception("cencori: a change listener callback failed")

    def _run(self) -> None:
        delay = 0.05
        warned = False
        while not self._stop.is_set():
            pubsub = self._client.pubsub()
            try:
                pubsub.subscribe(self._channel)
                while not self._stop.is_set():
                    msg = pubsub.get_message(timeout=_POLL)
                    if msg is None:
                        continue
                    if msg["type"] == "subscribe":
                        self.connects += 1
                        # anything may have changed while we were not listening
                        self._notify(None, None)
                        self.connected.set()
                        delay, warned = 0.05, False
                    elif msg["type"] == "message":
                        data = msg["data"]
                        text = data.decode() if isinstance(data, bytes) else str(data)
                        kind, _, name = text.partition(":")
                        self._notify(kind, name)
            except self._errors as exc:
                self.connected.clear()
                if not warned and not self._stop.is_set():
                    warned = True
                    log.warning("cencori: lost the Redis change listener (%s); key and project "
                                "caches fall back to their TTL until it reconnects",
                                type(exc).__name__)
            finally:
                try:
                    pubsub.close()
                except self._errors:
                    pass
            if self._stop.wait(delay):
                break
            delay = min(RECONNECT_MAX, delay * 2)
        self.connected.clear()
        try:
            self._client.close()
        except self._errors:
            pass

    def close(self) -> None:
        """Stop the thread without waiting for it: it ends within one poll (0.2 s) and closes
        its own connection."""
        self._stop.set()
        self.connected.clear()

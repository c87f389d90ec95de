"""SDK clients for provider plugins: :class:`ClientHolder` (one sync client, one async client
per running event loop, closed with its loop). Public through :mod:`cencori_core.provider`."""

from __future__ import annotations

import inspect
import sys
import threading
import weakref
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from .errors import InvalidRequestError

if TYPE_CHECKING:
    import asyncio

# asyncio costs ~30 ms to import and `Router()` must not pay it (DESIGN: only the async paths
# import it): the async methods below run inside a loop, so asyncio is in sys.modules there.

S = TypeVar("S")
A = TypeVar("A")


# ---------------------------------------------------------------------------- SDK clients


class _LoopEntry:
    """One event loop's async client, and the async generator that closes it with the loop."""

    __slots__ = ("loop", "client", "agen", "dropped", "closer")

    def __init__(self, loop: asyncio.AbstractEventLoop, client: Any) -> None:
        self.loop = loop
        self.client = client
        self.agen: Any = None
        self.dropped = False
        self.closer: Callable[[Any], Awaitable[None]] | None = None
        """Set when the holder was closed from inside this running loop: the loop's shutdown
        closes the client (see :meth:`ClientHolder.close`)."""


# Entries whose client their loop's shutdown will close (the holder was closed from inside the
# loop): kept alive here until then, since the loop holds its async generators weakly.
_CLOSING: set[_LoopEntry] = set()


async def _closes_with_loop(entry: _LoopEntry, holder_ref: Any) -> AsyncGenerator[None, None]:
    # Registered with the loop's async-generator hooks on first iteration: asyncio.run() (and
    # every runner that calls loop.shutdown_asyncgens()) closes it while the loop still runs,
    # which is the last moment the client's connections can be closed cleanly.
    try:
        yield
    finally:
        closer = entry.closer
        if closer is not None:  # the holder was closed from inside this loop
            entry.closer = None
            _CLOSING.discard(entry)
            await _aclose_quietly(entry.client, closer)
        holder = holder_ref()
        if not entry.dropped and holder is not None:
            holder._forget(entry)
            if holder.owns_async:
                await _aclose_quietly(entry.client, holder._close_async)


def _finish_agen(entry: _LoopEntry) -> None:
    """Finish an entry's loop-closing generator synchronously, without touching its loop (a
    generator left unfinished would be handed to a closed loop's finalizer when collected)."""
    entry.dropped = True
    agen, entry.agen = entry.agen, None
    if agen is None:
        return
    try:
        agen.aclose().send(None)
    except StopIteration:
        pass
    except RuntimeError:  # being closed by its loop right now, in another thread
        pass


def _finish_all(entries: dict[Any, _LoopEntry]) -> None:
    for entry in list(entries.values()):
        _finish_agen(entry)
    entries.clear()


def _close_sync_default(client: Any) -> None:
    close = getattr(client, "close", None)
    if close is not None:
        close()


async def _close_async_default(client: Any) -> None:
    close = getattr(client, "aclose", None) or getattr(client, "close", None)
    if close is not None:
        result = close()
        if inspect.isawaitable(result):
            await result


async def _aclose_quietly(client: Any, close: Callable[[Any], Awaitable[None]]) -> None:
    try:
        await close(client)
    except Exception:  # noqa: BLE001 - closing must never fail a call or a shutdown
        pass


class ClientHolder(Generic[S, A]):
    """SDK clients of one provider: one sync client, one async client per running event loop.

    Async SDK clients hold connections bound to the loop that opened them, so a router used from
    successive loops (``asyncio.run()`` per job, a test runner's loop per test) needs one client
    per loop. A loop's client is closed inside that loop when the loop shuts down its async
    generators (``asyncio.run()`` does), and dropped (its sockets closed by the collector) when
    the loop is found closed otherwise; nothing here keeps a finished loop alive.

    ``new_sync()`` / ``new_async()`` build a client. ``owns_sync`` / ``owns_async`` False (a
    user-supplied ``http_client`` / ``async_http_client`` inside) means we never close them.
    ``close_sync(client)`` / ``close_async(client)`` default to ``client.close()`` and
    ``await client.aclose()`` (or ``close()``, awaited when it returns an awaitable).
    """

    def __init__(
        self,
        new_sync: Callable[[], S] | None,
        new_async: Callable[[], A] | None,
        *,
        owns_sync: bool = True,
        owns_async: bool = True,
        close_sync: Callable[[S], None] | None = None,
        close_async: Callable[[A], Awaitable[None]] | None = None,
    ) -> None:
        self._new_sync = new_sync
        self._new_async = new_async
        self.owns_sync = owns_sync
        self.owns_async = owns_async
        self._close_sync: Callable[[Any], None] = close_sync or _close_sync_default
        self._close_async: Callable[[Any], Awaitable[None]] = (
            close_async or _close_async_default)
        self._lock = threading.Lock()
        self._sync: S | None = None
        self._entries: dict[asyncio.AbstractEventLoop, _LoopEntry] = {}
        # The hot path: the last loop and its client, read without the lock (one tuple).
        self._last: tuple[Any, Any] = (None, None)
        weakref.finalize(self, _finish_all, self._entries)

    def __repr__(self) -> str:
        return f"<ClientHolder sync={self._sync is not None} async_loops={len(self._entries)}>"

    @property
    def async_clients(self) -> int:
        """How many async clients are alive (one per event loop in use)."""
        return len(self._entries)

    def sync_client(self) -> S:
        """The sync client, built on first use."""
        client = self._sync
        if client is None:
            with self._lock:
                client = self._sync
                if client is None:
                    if self._new_sync is None:
                        raise InvalidRequestError("this provider has no sync client")
                    client = self._sync = self._new_sync()
        return client

    def async_client(self) -> A:
        """The async client of the running event loop, built on first use in that loop."""
        loop = sys.modules["asyncio"].get_running_loop()
        last_loop, client = self._last
        if last_loop is loop:
            return client  # type: ignore[no-any-return]
        with self._lock:
            self._sweep()
            entry = self._entries.get(loop)
            if entry is None:
                if self._new_async is None:
                    raise InvalidRequestError("this provider has no async client")
                entry = _LoopEntry(loop, self._new_async())
                self._entries[loop] = entry
                self._watch(entry)
            self._last = (loop, entry.client)
            return entry.client  # type: ignore[no-any-return]

    def _watch(self, entry: _LoopEntry) -> None:
        agen = _closes_with_loop(entry, weakref.ref(self))
        entry.agen = agen
        try:  # run it to its yield: the loop's firstiter hook registers it
            agen.asend(None).send(None)
        except StopIteration:
            pass

    def _sweep(self) -> None:
        """Drop the clients of loops that were closed without shutting their generators down."""
        dead = [e for loop, e in self._entries.items() if loop.is_closed()]
        for entry in dead:
            self._entries.pop(entry.loop, None)
            _finish_agen(entry)
        if dead and self._last[0] is not None and self._last[0].is_closed():
            self._last = (None, None)

    def _forget(self, entry: _LoopEntry) -> None:
        with self._lock:
            entry.dropped = True
            if self._entries.get(entry.loop) is entry:
                del self._entries[entry.loop]
            if self._last[0] is entry.loop:
                self._last = (None, None)

    def _take_all(self) -> list[_LoopEntry]:
        with self._lock:
            entries = list(self._entries.values())
            self._entries.clear()
            self._last = (None, None)
        for entry in entries:
            entry.dropped = True
        return entries

    def _close_elsewhere(self, entry: _LoopEntry) -> None:
        """Close a client of another loop: in that loop when it still runs, else drop it."""
        loop = entry.loop
        if self.owns_async and loop.is_running() and not loop.is_closed():
            try:
                sys.modules["asyncio"].run_coroutine_threadsafe(
                    _aclose_quietly(entry.client, self._close_async), loop)
            except RuntimeError:  # closed in the meantime
                pass
        _finish_agen(entry)

    def close(self) -> None:
        """Close the sync client and schedule the close of async clients whose loops still
        run (an async client cannot be closed outside its loop); drop the others."""
        with self._lock:
            sync, self._sync = self._sync, None
        if sync is not None and self.owns_sync:
            self._close_sync(sync)
        aio = sys.modules.get("asyncio")  # no loop can be running without it imported
        current = aio._get_running_loop() if aio is not None else None
        for entry in self._take_all():
            if entry.loop is current and entry.agen is not None and self.owns_async:
                # A sync close inside a running loop (``with Router() as r:`` in async code):
                # a close scheduled on the loop now would be cancelled by asyncio.run() before
                # it ran; the loop's own shutdown of its async generators closes it cleanly.
                entry.closer = self._close_async
                _CLOSING.add(entry)
            else:
                self._close_elsewhere(entry)

    async def aclose(self) -> None:
        """Close every client: the running loop's async client here, the others as
        :meth:`close` does."""
        current = sys.modules["asyncio"].get_running_loop()
        mine = None
        for entry in self._take_all():
            if entry.loop is current:
                mine = entry
            else:
                self._close_elsewhere(entry)
        if mine is not None:
            _finish_agen(mine)
            if self.owns_async:
                await self._close_async(mine.client)
        self.close()

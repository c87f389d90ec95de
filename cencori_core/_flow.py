"""The attempt flow's two drivers (like httpx's auth flows).

The attempt loop of a call (which target next, after which delay, retry, fallback, give up) is
written once, as a plain generator in the pipeline: it yields a :class:`Step` ("call this, after
this delay, inside this span") and is sent the :class:`Outcome`. Its return value is the call's
result. :func:`run_sync` sleeps and calls; :func:`run_async` awaits the sleep and the call.
Non-stream calls and both stream shells (to open their stream) use the same flow.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Generator
from typing import Any, TypeVar

__all__ = ["Step", "Outcome", "Flow", "run_sync", "run_async"]

T = TypeVar("T")
_perf = time.perf_counter


# Plain tuples, not NamedTuples: one of each is built per attempt on every call.
Step = tuple[float, Any, Callable[[], Any]]
"""One attempt: ``(delay, scope, call)``: wait ``delay`` seconds, then ``call()`` inside
``scope`` (the attempt's span). ``call`` returns the result, or an awaitable of it for the async
driver."""

Outcome = tuple[Any, "Exception | None", float]
"""How an attempt went: ``(value, error, latency_ms)``, ``error`` None on success."""

Flow = Generator[Step, Outcome, T]


def run_sync(flow: Flow[T]) -> T:
    """Drive ``flow``: sleep, call, report; the flow's return value is the result."""
    delay, scope, call = next(flow)
    while True:
        if delay:
            time.sleep(delay)
        t0 = _perf()
        try:
            with scope:
                value = call()
        except Exception as exc:
            outcome: Outcome = (None, exc, (_perf() - t0) * 1000.0)
        else:
            outcome = (value, None, (_perf() - t0) * 1000.0)
        try:
            delay, scope, call = flow.send(outcome)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]


async def run_async(flow: Flow[T]) -> T:
    """Drive ``flow`` on the event loop: the same steps, awaited."""
    delay, scope, call = next(flow)
    while True:
        if delay:
            await _sleep(delay)
        t0 = _perf()
        try:
            with scope:
                value = await call()
        except Exception as exc:
            outcome: Outcome = (None, exc, (_perf() - t0) * 1000.0)
        else:
            outcome = (value, None, (_perf() - t0) * 1000.0)
        try:
            delay, scope, call = flow.send(outcome)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]


def _sleep(seconds: float) -> Awaitable[None]:
    # asyncio costs 30 ms to import: only the async path imports it
    import asyncio

    return asyncio.sleep(seconds)

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
from typing import Any, Generic, NamedTuple, TypeVar

__all__ = ["Step", "Outcome", "Flow", "run_sync", "run_async"]

T = TypeVar("T")
_perf = time.perf_counter


class Step(NamedTuple):
    """One attempt: wait ``delay`` seconds, then ``call()`` inside ``scope`` (the attempt's
    span). ``call`` returns the result, or an awaitable of it for the async driver."""

    delay: float
    scope: Any
    call: Callable[[], Any]


class Outcome(NamedTuple, Generic[T]):
    """How an attempt went: its value or its error, and how long it took."""

    value: T | None
    error: Exception | None
    latency_ms: float


Flow = Generator[Step, Outcome[Any], T]


def run_sync(flow: Flow[T]) -> T:
    """Drive ``flow``: sleep, call, report; the flow's return value is the result."""
    step = next(flow)
    while True:
        if step.delay:
            time.sleep(step.delay)
        t0 = _perf()
        try:
            with step.scope:
                value = step.call()
        except Exception as exc:
            outcome: Outcome[Any] = Outcome(None, exc, (_perf() - t0) * 1000.0)
        else:
            outcome = Outcome(value, None, (_perf() - t0) * 1000.0)
        try:
            step = flow.send(outcome)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]


async def run_async(flow: Flow[T]) -> T:
    """Drive ``flow`` on the event loop: the same steps, awaited."""
    step = next(flow)
    while True:
        if step.delay:
            await _sleep(step.delay)
        t0 = _perf()
        try:
            with step.scope:
                value = await step.call()
        except Exception as exc:
            outcome: Outcome[Any] = Outcome(None, exc, (_perf() - t0) * 1000.0)
        else:
            outcome = Outcome(value, None, (_perf() - t0) * 1000.0)
        try:
            step = flow.send(outcome)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]


def _sleep(seconds: float) -> Awaitable[None]:
    # asyncio costs 30 ms to import: only the async path imports it
    import asyncio

    return asyncio.sleep(seconds)

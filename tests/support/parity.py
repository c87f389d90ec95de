"""Run one behaviour through the sync or the async path of the router (parity tests)."""

from __future__ import annotations

import asyncio
import contextvars
from typing import Any

MODES = ("sync", "async")

_runner: asyncio.Runner | None = None


def run_async(coro: Any) -> Any:
    """Run ``coro`` on one event loop shared by every parity call (as an application would:
    async SDK clients created on a loop must be used on that loop)."""
    global _runner
    if _runner is None:
        _runner = asyncio.Runner()
    # the caller's context (e.g. no_network()) goes with the call, as asyncio.run would do
    return _runner.run(coro, context=contextvars.copy_context())


def call(router: Any, mode: str, op: str, *args: Any, **kw: Any) -> Any:
    """``router.<op>(...)`` or ``await router.a<op>(...)``."""
    if mode == "sync":
        return getattr(router, op)(*args, **kw)
    return run_async(getattr(router, "a" + op)(*args, **kw))


def stream(router: Any, mode: str, *, limit: int | None = None, **kw: Any) -> tuple[list, Any]:
    """Consume ``chat_stream`` / ``achat_stream``; returns (chunks, stream object)."""
    if mode == "sync":
        chunks = []
        with router.chat_stream(**kw) as s:
            for c in s:
                chunks.append(c)
                if limit is not None and len(chunks) >= limit:
                    break
        return chunks, s

    async def run() -> tuple[list, Any]:
        chunks = []
        async with router.achat_stream(**kw) as s:
            async for c in s:
                chunks.append(c)
                if limit is not None and len(chunks) >= limit:
                    break
        return chunks, s

    return run_async(run())


def raises(router: Any, mode: str, op: str, exc: type, *args: Any, **kw: Any) -> BaseException:
    """Assert that the call raises ``exc`` and return the exception."""
    import pytest

    with pytest.raises(exc) as info:
        if op == "chat_stream":
            stream(router, mode, **kw)
        else:
            call(router, mode, op, *args, **kw)
    return info.value

"""Every ``anthropic`` SDK internal this plugin relies on, in one place, with a public fallback.

The fast path goes past the SDK's response models (most of its cost per call and per stream
event): ``messages.with_raw_response.create`` still builds, checks, authenticates and sends the
request and raises the SDK's errors, but hands back the raw response, whose JSON we read; a
stream is read by constructing the SDK's own ``Stream`` / ``AsyncStream`` with
``cast_to=object`` (its SSE decoder, ping skipping and in-band ``error`` events, yielding each
event's JSON). Constructing those classes directly, and the client methods they call
(``_make_sse_decoder``, ``_process_response_data``), are not public API.

They are feature-detected at import (:data:`AVAILABLE`). When an SDK release drops or changes
them, :data:`PUBLIC` is used: ``messages.create`` and its typed ``Message`` / stream events,
which the converters read as well (slower, never wrong). ``CENCORI_SDK_INTERNALS=0`` in the
environment selects the public path for providers built afterwards (tests run both paths).
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Awaitable
from typing import Any

import anthropic

__all__ = ["AVAILABLE", "FAST", "PUBLIC", "SDKPath", "select"]


class SDKPath:
    """How the provider talks to the SDK: the public path (``messages.create``)."""

    name = "public"

    @staticmethod
    def create(client: Any, params: dict[str, Any]) -> Any:
        """Send a non-streamed request (awaitable with the async client)."""
        return client.messages.create(**params)

    @staticmethod
    def message(answer: Any) -> Any:
        """The ``message`` in ``answer`` (JSON, or the SDK's ``Message``)."""
        return answer

    @staticmethod
    def open_stream(client: Any, params: dict[str, Any]) -> Any:
        """Start a stream (``params`` say ``stream=True``): an iterable (async iterable) of
        events with ``close()``; awaitable with the async client."""
        return client.messages.create(**params)


class _Fast(SDKPath):
    """Past the SDK's response models (see the module docstring)."""

    name = "fast"

    @staticmethod
    def create(client: Any, params: dict[str, Any]) -> Any:
        return client.messages.with_raw_response.create(**params)

    @staticmethod
    def message(answer: Any) -> Any:
        return answer.http_response.json()

    @staticmethod
    def open_stream(client: Any, params: dict[str, Any]) -> Any:
        raw = client.messages.with_raw_response.create(**params)
        if inspect.isawaitable(raw):
            return _aopen(client, raw)
        return anthropic.Stream(cast_to=object, response=raw.http_response, client=client)


async def _aopen(client: Any, raw: Awaitable[Any]) -> Any:
    response = (await raw).http_response
    return anthropic.AsyncStream(cast_to=object, response=response, client=client)


def _detect() -> bool:
    """Whether this SDK still has every internal :class:`_Fast` uses, as it uses them."""
    try:
        for cls in (anthropic.Stream, anthropic.AsyncStream):
            if not {"cast_to", "response", "client"} <= inspect.signature(cls).parameters.keys():
                return False
        for client in (anthropic.Anthropic, anthropic.AsyncAnthropic):
            if not (callable(getattr(client, "_make_sse_decoder", None))
                    and callable(getattr(client, "_process_response_data", None))):
                return False
        from anthropic.resources.messages import AsyncMessages, Messages

        return hasattr(Messages, "with_raw_response") and hasattr(AsyncMessages,
                                                                  "with_raw_response")
    except (ImportError, AttributeError, TypeError, ValueError):
        return False


AVAILABLE: bool = _detect()
"""Whether the fast path's internals are all there."""
FAST: SDKPath = _Fast()
PUBLIC: SDKPath = SDKPath()


def select() -> SDKPath:
    """The path a new provider uses: fast when available, unless ``CENCORI_SDK_INTERNALS=0``."""
    return FAST if AVAILABLE and os.environ.get("CENCORI_SDK_INTERNALS") != "0" else PUBLIC

"""The one place the mistral plugin goes past the ``mistralai`` SDK's public API.

Fast path: stream events read as JSON. The SDK validates every stream event into its pydantic
models, building a pydantic model class for each event (its ``unmarshal`` calls
``pydantic.create_model``), which costs about as much as the rest of the call. Its SSE reader
(``mistralai.client.utils.eventstreaming.stream_events`` / ``stream_events_async``, a
generated module, not documented API) takes a decoder of our own: with ``json.loads`` the
events reach :class:`~cencori_mistral._convert.MistralStream` as JSON objects, and the
stream's ``response`` (a public attribute of the SDK's ``EventStream``) is the one the SDK
opened, errors and all already handled by it.

Feature-detected at import: when the SDK no longer has these names, :data:`RAW_EVENTS` is
False and the events come from iterating the SDK's own ``EventStream`` (its public path; the
stream state reads its models as well). The wire tests run both (``force_public_path``).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

try:
    from mistralai.client.utils.eventstreaming import stream_events, stream_events_async
except ImportError:  # pragma: no cover - an SDK release without them: the public path
    RAW_EVENTS = False
else:
    RAW_EVENTS = True

__all__ = ["RAW_EVENTS", "events", "aevents"]

_DONE = "[DONE]"


def _raw_ok(opened: Any) -> bool:
    return RAW_EVENTS and getattr(opened, "response", None) is not None


def events(opened: Any) -> Iterator[Any]:
    """The stream's events: JSON text/objects on the fast path, SDK models otherwise."""
    if _raw_ok(opened):
        for event in stream_events(opened.response, json.loads, _DONE):
            yield event.get("data")
        return
    for event in opened:
        yield event.data


async def aevents(opened: Any) -> AsyncIterator[Any]:
    if _raw_ok(opened):
        async for event in stream_events_async(opened.response, json.loads, _DONE):
            yield event.get("data")
        return
    async for event in opened:
        yield event.data

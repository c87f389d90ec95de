"""Every private name of the ``openai`` SDK the plugin uses, feature-detected at import.

The chat hot path goes past the SDK's request transforms and response models (most of its cost
per call and per stream chunk): it posts our JSON body through the client's generic ``post`` with
the ``security`` option (bearer authentication) and, for non-streamed answers, the SDK's private
raw-response header (``openai._constants.RAW_RESPONSE_HEADER``) so the answer comes back unparsed;
stream events are read with the SDK's own SSE reader (``openai.Stream(cast_to=object, ...)``), as
the JSON the API sent.

When an SDK release renames or removes any of these, :data:`AVAILABLE` is False and the plugin
takes the SDK's public path (``chat.completions.with_raw_response.create`` and
``chat.completions.create(stream=True)``): slower, never wrong. The wire tests run both paths
(the ``fast_path`` fixture sets :data:`AVAILABLE` to False for the fallback run).
"""

from __future__ import annotations

import inspect
from typing import Any

import openai
from openai.types.chat import ChatCompletion

__all__ = ["AVAILABLE", "post_chat", "stream_chat", "events", "aevents"]

CHAT_PATH = "/chat/completions"


def _detect() -> tuple[bool, Any, Any]:
    try:
        import httpx2  # the SDK's own HTTP package: what ``cast_to`` must name for a raw body
        from openai._constants import RAW_RESPONSE_HEADER  # private
    except ImportError:
        return False, None, None
    try:
        post = inspect.signature(openai.OpenAI.post).parameters
        stream = inspect.signature(openai.Stream.__init__).parameters
    except (TypeError, ValueError):
        return False, None, None
    ok = ({"cast_to", "body", "options", "stream"} <= set(post)
          and {"cast_to", "response", "client"} <= set(stream))
    return ok, RAW_RESPONSE_HEADER, httpx2.Response


#: Whether the private path is usable with the installed SDK.
AVAILABLE, _RAW_HEADER, _HTTP_RESPONSE = _detect()

# Bearer authentication: what the SDK's own ``create`` adds to its request options.
_AUTH = {"bearer_auth": True}


def _options(timeout: float | None, raw: bool) -> dict[str, Any]:
    """The SDK request options of a chat call: a new dict each time, the SDK keeps it."""
    opts: dict[str, Any] = {"security": _AUTH}
    if raw:
        opts["headers"] = {_RAW_HEADER: "true"}
    if timeout is not None:
        opts["timeout"] = timeout
    return opts


def post_chat(client: Any, body: dict[str, Any], timeout: float | None) -> Any:
    """POST a chat body; the SDK's raw response (``.http_response``), awaitable with an async
    client. Status errors and transport errors are the SDK's."""
    return client.post(CHAT_PATH, body=body, options=_options(timeout, True),
                       cast_to=ChatCompletion)


def stream_chat(client: Any, body: dict[str, Any], timeout: float | None) -> Any:
    """POST a streamed chat body; the open HTTP response (awaitable with an async client)."""
    return client.post(CHAT_PATH, body=body, options=_options(timeout, False),
                       cast_to=_HTTP_RESPONSE, stream=True)


def events(client: Any, http: Any) -> Any:
    """The SDK's SSE reader over ``http``: each event's JSON as sent (``[DONE]`` ends it, an
    error event raises the SDK's ``APIError``)."""
    return openai.Stream(cast_to=object, response=http, client=client)


def aevents(client: Any, http: Any) -> Any:
    return openai.AsyncStream(cast_to=object, response=http, client=client)

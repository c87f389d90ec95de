"""The OpenAI drop-in: ``router.openai_client()`` / ``router.async_openai_client()``.

Real ``openai.OpenAI`` / ``openai.AsyncOpenAI`` clients whose HTTP transport is the router: code
written for the ``openai`` SDK (and frameworks that take an OpenAI client) runs unchanged but for
the line that builds the client, on any model of any provider, through the whole pipeline.
The module loads the SDK only when a client is built (``import cencori_core`` imports neither).

- ``_wire``: the OpenAI wire format both ways (bodies ↔ keyword arguments, results, errors)
- ``_app``: the OpenAI HTTP API as plain request → answer code over a router
- ``_transport``: the httpx transports and the two client builders
"""

from __future__ import annotations

from ._app import Answer, App
from ._transport import PLACEHOLDER_URL, async_openai_client, openai_client

__all__ = ["App", "Answer", "PLACEHOLDER_URL", "openai_client", "async_openai_client",
           "cencori_error"]


def cencori_error(exc: BaseException) -> BaseException | None:
    """The router's error behind an ``openai`` exception raised by a drop-in client (its
    ``__cause__``), or None. Frameworks that wrap the SDK's exception keep it one level down,
    so the whole cause/context chain is searched."""
    from ..errors import CencoriError

    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        if isinstance(cur, CencoriError):
            return cur
        seen.add(id(cur))
        cur = cur.__cause__ or cur.__context__
    return None


def __dir__() -> list[str]:
    return list(__all__)



"""The fast async transport: provider SDKs' async HTTP on aiohttp instead of httpx's pool.

On loopback at concurrency 100 the SDKs' default async client (httpx/httpx2 over httpcore)
spends most of a call's CPU in the connection-pool scan and anyio locks; aiohttp's connector
does the same work at a fraction of it (benchmarks/RESULTS.md, "fast async transport"). With
the ``fast`` extra installed (``pip install "cencori-core[fast]"``: aiohttp and httpx-aiohttp)
the async paths of the openai-family, anthropic, google, mistral and cohere plugins use it;
their sync paths keep httpx.

One decision for every plugin, :func:`fast_transport`:

* a provider configured with its own ``async_http_client`` keeps it (the user's client wins);
* ``fast_transport = true | false`` in the provider's configuration decides for that provider;
* else ``CENCORI_FAST_TRANSPORT=0`` (or ``false``/``no``/``off``) turns it off for every
  provider;
* else it is on when aiohttp and httpx-aiohttp are importable.

The clients themselves are the SDKs' own aiohttp clients where they ship one (openai's,
anthropic's and cohere's ``DefaultAioHttpClient``, google-genai's built-in aiohttp support) and
httpx-aiohttp's ``Httpx2AiohttpClient`` for mistral, which takes any httpx2 client. google-genai
and cohere switch to aiohttp by themselves whenever it is importable: their plugins name the
httpx transport explicitly when the fast transport is off. Nothing here imports aiohttp until a
client is built, inside a running event loop: ``import cencori_core`` and ``Router()`` never do.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from typing import TYPE_CHECKING, Any

from .errors import (
    ConfigurationError,
    MissingDependencyError,
    ProviderConnectionError,
    ProviderError,
)

if TYPE_CHECKING:
    from .config import ProviderConfig

__all__ = ["FAST_ENV", "fast_available", "fast_transport", "aiohttp_httpx2_client", "refiled"]

FAST_ENV = "CENCORI_FAST_TRANSPORT"
_OFF = frozenset({"0", "false", "no", "off"})
_available: bool | None = None


def fast_available() -> bool:
    """Whether the ``fast`` extra is installed (found without importing it)."""
    global _available
    if _available is None:
        _available = all(importlib.util.find_spec(m) is not None
                         for m in ("aiohttp", "httpx_aiohttp"))
    return _available


def fast_transport(config: ProviderConfig) -> bool:
    """Whether this provider's async client should run on aiohttp (see the module)."""
    if config.async_http_client is not None:
        return False
    choice = config.options.get("fast_transport")
    if choice is not None:
        if not isinstance(choice, bool):
            raise ConfigurationError(
                f"providers[{config.name!r}].fast_transport must be true or false, got "
                f"{type(choice).__name__}")
        if choice and not fast_available():
            raise MissingDependencyError(
                f"providers[{config.name!r}] asks for fast_transport but aiohttp and "
                "httpx-aiohttp are not installed: pip install \"cencori-core[fast]\"",
                extra="fast")
        return choice
    if os.environ.get(FAST_ENV, "").strip().lower() in _OFF:
        return False
    return fast_available()


def aiohttp_httpx2_client(**kwargs: Any) -> Any:
    """An ``httpx2.AsyncClient`` whose requests go through aiohttp (for SDKs on httpx2)."""
    from httpx_aiohttp.httpx2 import Httpx2AiohttpClient

    return Httpx2AiohttpClient(**kwargs)


def refiled(err: ProviderError, exc: BaseException, *, provider: str, model: str,
            ) -> ProviderError:
    """A timeout error that aiohttp did not time out: a ``ProviderConnectionError``.

    httpx-aiohttp (and the copies openai and anthropic ship) map every
    ``aiohttp.ClientConnectionError`` to httpx's ``ConnectTimeout``, a refused connection and
    a dropped one included, so the SDKs and the plugins' mappers report a timeout. The chain
    still holds aiohttp's own error: when it is a connection error and not one of aiohttp's
    timeouts, the call failed to connect (or lost its connection), as it would say on httpx."""
    aiohttp = sys.modules.get("aiohttp")
    if aiohttp is None:
        return err
    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, aiohttp.ClientConnectionError):
            if isinstance(e, (aiohttp.ServerTimeoutError, TimeoutError)):
                return err
            return ProviderConnectionError(
                f"connection to {provider} failed: {type(e).__name__}: {e}",
                provider=provider, model=model)
        e = e.__cause__ or e.__context__
    return err

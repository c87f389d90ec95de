"""Anthropic (Claude) provider plugin: the Messages API through the official ``anthropic`` SDK.

Registers the ``anthropic`` provider (prefix ``claude-``, key ``ANTHROPIC_API_KEY``, base URL
``ANTHROPIC_BASE_URL``). This module only registers names: the SDK is imported by ``_provider``
the first time the provider is used, so ``import cencori_core`` and ``Router()`` stay SDK-free.

Provider options (``Router(providers={"anthropic": {...}})``): ``headers`` (extra HTTP headers),
``api_version`` (the ``anthropic-version`` header; an older version such as ``2023-06-01`` also
lets ``temperature`` / ``top_p`` through, which the SDK's current version rejects) and
``open_telemetry`` (the SDK's own tracing option).

Layout (the shape every in-tree plugin has): ``_catalog`` (models), ``_provider`` (the
:class:`~cencori_core.provider.SDKProvider`), ``_convert`` (pure translation), ``_errors``
(``map_error``), ``_fast`` (every SDK internal, with the public fallback) and ``_httpx_bridge``
(legacy ``httpx`` clients behind the ``httpx2`` interface the SDK requires).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from cencori_core import hookimpl

from ._catalog import DEFAULT_MAX_TOKENS, MODELS

if TYPE_CHECKING:
    from cencori_core import Provider, ProviderConfig

__all__ = ["MODELS", "DEFAULT_MAX_TOKENS", "cencori_register_providers", "make_provider"]


def make_provider(config: ProviderConfig) -> Provider:
    """The provider for ``config`` (imports the SDK)."""
    from ._provider import AnthropicProvider

    return AnthropicProvider(config)


@hookimpl
def cencori_register_providers(register: Callable[..., Any]) -> None:
    register("anthropic", make_provider, prefixes=("claude-",), models=MODELS,
             env_keys=("ANTHROPIC_API_KEY",), env_base_url="ANTHROPIC_BASE_URL",
             extra="anthropic", config_keys=("api_version", "open_telemetry"))

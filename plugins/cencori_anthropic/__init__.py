"""Anthropic (Claude) provider plugin: the Messages API through the official ``anthropic`` SDK.

Registers the ``anthropic`` provider (prefix ``claude-``, key ``ANTHROPIC_API_KEY``, base URL
``ANTHROPIC_BASE_URL``). This module only registers names: the SDK is imported by ``_provider``
the first time the provider is used, so ``import cencori_core`` and ``Router()`` stay SDK-free.

Provider options (``Router(providers={"anthropic": {...}})``): ``headers`` (extra HTTP headers),
``api_version`` (the ``anthropic-version`` header; an older version such as ``2023-06-01`` also
lets ``temperature`` / ``top_p`` through, which the SDK's current version rejects) and
``open_telemetry`` (the SDK's own tracing option).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from cencori_core import ModelInfo, hookimpl

if TYPE_CHECKING:
    from cencori_core import Provider, ProviderConfig

__all__ = ["MODELS", "DEFAULT_MAX_TOKENS", "cencori_register_providers"]

_CURRENT = frozenset({"chat", "streaming", "tools", "vision", "json", "reasoning"})
# Structured outputs (``output_config.format``) arrived with Opus 4.1 and the 4.5 generation.
_NO_JSON = _CURRENT - {"json"}
_NO_REASONING = _NO_JSON - {"reasoning"}


def _m(name: str, context: int, output: int, caps: frozenset[str] = _CURRENT,
       aliases: tuple[str, ...] = (), price_id: str | None = None) -> ModelInfo:
    return ModelInfo(name=name, provider="anthropic", capabilities=caps, context_window=context,
                     max_output_tokens=output, aliases=aliases, price_id=price_id)


_1M, _200K = 1_000_000, 200_000

# API ids as the Models API lists them. Models whose id carries a snapshot date are entered
# under that id, and Anthropic's own short alias (plus the bare family name) points at it.
# genai-prices matches these ids (prefix and dated forms) except two Mythos releases, which
# Anthropic prices exactly as the Fable release of the same number.
MODELS: tuple[ModelInfo, ...] = (
    _m("claude-fable-5-2", _1M, 128_000),
    _m("claude-fable-5-1", _1M, 128_000),
    _m("claude-fable-5", _1M, 128_000),
    _m("claude-mythos-5-2", _1M, 128_000),
    _m("claude-mythos-5-1", _1M, 128_000, price_id="claude-fable-5-1"),
    _m("claude-mythos-5", _1M, 128_000, price_id="claude-fable-5"),
    _m("claude-opus-5-5", _1M, 128_000),
    _m("claude-opus-5", _1M, 128_000),
    _m("claude-sonnet-5-5", _1M, 128_000),
    _m("claude-sonnet-5", _1M, 128_000),
    _m("claude-haiku-5-5", _1M, 128_000),
    _m("claude-opus-4-8", _1M, 128_000),
    _m("claude-opus-4-7", _1M, 128_000),
    _m("claude-opus-4-6", _1M, 128_000),
    _m("claude-sonnet-4-6", _1M, 128_000),
    _m("claude-haiku-4-5-20251001", _200K, 64_000, aliases=("claude-haiku-4-5",)),
    _m("claude-opus-4-5-20251101", _200K, 64_000, aliases=("claude-opus-4-5",)),
    _m("claude-sonnet-4-5-20250929", _200K, 64_000, aliases=("claude-sonnet-4-5",)),
    _m("claude-opus-4-1-20250805", _200K, 32_000, aliases=("claude-opus-4-1",)),
    _m("claude-opus-4-20250514", _200K, 32_000, _NO_JSON,
       aliases=("claude-opus-4-0", "claude-opus-4")),
    _m("claude-sonnet-4-20250514", _200K, 64_000, _NO_JSON,
       aliases=("claude-sonnet-4-0", "claude-sonnet-4")),
    # Retired by Anthropic (2026-02-19); kept so that old configurations resolve and price.
    _m("claude-3-7-sonnet-20250219", _200K, 64_000, _NO_JSON,
       aliases=("claude-3-7-sonnet-latest", "claude-3-7-sonnet")),
    _m("claude-3-5-haiku-20241022", _200K, 8_192, _NO_REASONING,
       aliases=("claude-3-5-haiku-latest", "claude-3-5-haiku")),
)

DEFAULT_MAX_TOKENS = 4096
"""``max_tokens`` for a model outside the catalog when the caller gives none (the API requires
one); every Claude model accepts this much."""


def _factory(config: ProviderConfig) -> Provider:
    from ._provider import AnthropicProvider

    return AnthropicProvider(config)


@hookimpl
def cencori_register_providers(register: Callable[..., Any]) -> None:
    register("anthropic", _factory, prefixes=("claude-",), models=MODELS,
             env_keys=("ANTHROPIC_API_KEY",), env_base_url="ANTHROPIC_BASE_URL",
             extra="anthropic")

"""The Anthropic models cencori knows: context windows, output limits, capabilities, aliases,
and the ``max_tokens`` sent when the caller gives none (the Messages API requires one)."""

from __future__ import annotations

from cencori_core import ModelInfo

__all__ = ["MODELS", "DEFAULT_MAX_TOKENS", "default_max_tokens"]

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


# Catalog names and aliases, longest first, so a dated or newer id falls back to the closest
# known family (claude-opus-4-8-20270101 -> claude-opus-4-8) before the generic default.
_LIMITS = sorted(((name, info.max_output_tokens or DEFAULT_MAX_TOKENS)
                  for info in MODELS for name in (info.name, *info.aliases)),
                 key=lambda item: -len(item[0]))
_LIMIT_CACHE: dict[str, int] = {}


def default_max_tokens(model: str) -> int:
    """The ``max_tokens`` sent when the caller gives none: the model's output limit."""
    limit = _LIMIT_CACHE.get(model)
    if limit is None:
        limit = next((n for name, n in _LIMITS if model.startswith(name)), DEFAULT_MAX_TOKENS)
        if len(_LIMIT_CACHE) < 1024:  # bounded: model names come from callers
            _LIMIT_CACHE[model] = limit
    return limit

"""Cost from usage with genai-prices (offline data, cache-token aware), loaded lazily.

Money is ``Decimal`` USD, unrounded. An unknown price is ``None`` with a reason, never 0 or a
guess. A model's prices are looked up once per (provider, model) and cached.

Token prices (plain or tiered) are applied per call with genai-prices' own ``calc_unit_price``
on the four token units we report (uncached input, cache reads, cache writes, output), so the
result equals ``genai_prices.calc_price`` to the last digit (a test compares both on the whole
data set) at a fraction of its cost. Calls that report audio seconds or characters (speech,
transcription) go through ``ModelPrice.calc_price`` itself, which knows those units.

The cost is split into ``input`` (everything not charged as output: uncached input, cache reads,
cache writes, audio in, characters), ``output``, and, of ``input``, ``cached_input`` and
``cache_write``.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ..errors import ConfigurationError
from ..types import Cost, Usage

if TYPE_CHECKING:
    from ..catalog import ModelInfo

__all__ = ["Pricing", "PROVIDER_IDS", "worst_case_usage"]

_MILLION = 1_000_000
_ZERO = Decimal(0)

# Our provider (type) names → genai-prices provider ids.
PROVIDER_IDS = {
    "openai": "openai",
    "anthropic": "anthropic",
    "google": "google",
    "xai": "x-ai",
    "mistral": "mistral",
    "deepseek": "deepseek",
    "meta": "meta",
    "cohere": "cohere",
    "azure": "azure",
    "vertex": "google",
    "bedrock": "aws",
}

_UNPRICED_PROVIDERS = {"echo", "fake"}

# genai-prices price keys by what they count.
_TOKEN_KEYS = ("input_mtok", "output_mtok", "cache_read_mtok", "cache_write_mtok")
_DURATION_KEYS = ("audio_hours", "input_audio_hours", "output_audio_hours")
_CHARACTER_KEYS = ("input_mchars",)

# Override keys (USD): per million tokens, per audio second, per million characters, per image.
_OVERRIDE_KEYS = {"input", "output", "cache_read", "cache_write", "per_audio_second",
                  "per_million_characters", "per_image", "per_search_unit"}
# Rerank: genai-prices' price per thousand searches (a Cohere search unit is one search).
_SEARCH_KEY = "rerank_searches_kcount"


def _dec(value: Any, where: str) -> Decimal:
    if isinstance(value, bool):
        value = None  # True is not a price
    try:
        out = Decimal(str(value))
    except Exception:
        out = Decimal("NaN")
    if not out.is_finite() or out < 0:
        raise ConfigurationError(f"prices: {where} must be a non-negative number of USD, "
                                 f"got {value!r}")
    return out


class _Price:
    """The prices of one model as we apply them."""

    __slots__ = ("input", "output", "cache_read", "cache_write", "model_price", "units",
                 "audio_second", "million_chars", "image", "search_unit")

    def __init__(self, *, input: Any = None, output: Any = None, cache_read: Any = None,
                 cache_write: Any = None, model_price: Any = None,
                 units: frozenset[str] = frozenset(), audio_second: Decimal | None = None,
                 million_chars: Decimal | None = None, image: Decimal | None = None,
                 search_unit: Decimal | None = None) -> None:
        # Each token price is a Decimal or a genai-prices TieredPrices (USD per million tokens).
        self.input = input
        self.output = output
        self.cache_read = cache_read
        self.cache_write = cache_write
        self.model_price = model_price
        """genai-prices' ModelPrice, for units other than tokens (None for overrides)."""
        self.units = units
        """What the model is priced by: ``tokens``, ``durations``, ``characters``, ``images``."""
        self.audio_second = audio_second
        self.million_chars = million_chars
        self.image = image
        self.search_unit = search_unit


def _override(model: str, p: Any) -> _Price:
    if not isinstance(p, Mapping) or not p:
        raise ConfigurationError(
            f"prices[{model!r}] must be a table of USD prices: input/output/cache_read/"
            "cache_write (per million tokens), per_audio_second, per_million_characters, "
            "per_image, per_search_unit")
    unknown = sorted(set(p) - _OVERRIDE_KEYS)
    if unknown:
        raise ConfigurationError(f"prices[{model!r}]: unknown key(s) {unknown}; known: "
                                 f"{sorted(_OVERRIDE_KEYS)}")
    has_tokens = "input" in p or "output" in p
    if has_tokens and not ("input" in p and "output" in p):
        raise ConfigurationError(f"prices[{model!r}] needs both 'input' and 'output' "
                                 "(USD per million tokens)")

    def get(key: str) -> Decimal | None:
        return _dec(p[key], f"{model}.{key}") if key in p else None

    units = {u for u, keys in (("tokens", ("input",)), ("durations", ("per_audio_second",)),
                               ("characters", ("per_million_characters",)),
                               ("images", ("per_image",)),
                               ("searches", ("per_search_unit",))) if any(k in p for k in keys)}
    return _Price(input=get("input"), output=get("output"), cache_read=get("cache_read"),
                  cache_write=get("cache_write"), units=frozenset(units),
                  audio_second=get("per_audio_second"),
                  million_chars=get("per_million_characters"), image=get("per_image"),
                  search_unit=get("per_search_unit"))


class Pricing:
    """Prices calls; ``overrides`` maps model names (or ``provider/model``) to USD prices::

        {"my-model": {"input": 0.5, "output": 1.5, "cache_read": 0.05, "cache_write": 0.6},
         "dall-e-3": {"per_image": "0.04"}, "my-tts": {"per_million_characters": 15}}

    Token prices are per million tokens. An override wins over the price data.
    """

    def __init__(self, overrides: Mapping[str, Any] | None = None) -> None:
        self._cache: dict[tuple[str, str, str | None], _Price | str] = {}
        if overrides is not None and not isinstance(overrides, Mapping):
            raise ConfigurationError("prices must be a table: model name → its prices")
        self._overrides = {model: _override(model, p) for model, p in (overrides or {}).items()}

    def price(self, provider: str, model: str,
              info: ModelInfo | None = None) -> _Price | str:
        """The model's prices, or the reason it has none (cached per model)."""
        if self._overrides:
            over = self._overrides.get(model) or self._overrides.get(f"{provider}/{model}")
            if over is not None:
                return over
        price_id = info.price_id if info is not None else None
        key = (provider, model, price_id)
        found = self._cache.get(key)
        if found is None:
            found = self._cache[key] = _lookup(provider, model, price_id)
        return found

    def cost(self, provider: str, model: str, usage: Usage, operation: str = "chat",
             info: ModelInfo | None = None) -> tuple[Cost | None, str | None]:
        """(cost, None), or (None, reason) when the call cannot be priced."""
        price = self.price(provider, model, info)
        if isinstance(price, str):
            return None, price
        return _compute(price, usage, operation, model)


def _lookup(provider: str, model: str, price_id: str | None) -> _Price | str:
    if provider in _UNPRICED_PROVIDERS:
        return f"provider {provider!r} has no prices"
    pid = PROVIDER_IDS.get(provider)
    if pid is None:
        return f"no price data for provider {provider!r}; add prices={{{model!r}: {{...}}}}"
    try:
        from genai_prices import Usage as GUsage
        from genai_prices import calc_price
    except ImportError:  # pragma: no cover - a dependency of cencori-core
        return "genai-prices is not installed"
    try:
        calc = calc_price(GUsage(input_tokens=0, output_tokens=0), price_id or model,
                          provider_id=pid)
    except LookupError:
        return (f"model {model!r} of {provider!r} is not in the price data; "
                f"add prices={{{model!r}: {{...}}}}")
    except Exception as exc:  # noqa: BLE001 - unknown data shapes must not fail a call
        return f"price lookup failed: {type(exc).__name__}"
    mp = calc.model_price
    keys = {k for k, val in vars(mp).items() if val is not None and not k.startswith("_")}
    units = set()
    if keys & set(_TOKEN_KEYS):
        units.add("tokens")
    if keys & set(_DURATION_KEYS):
        units.add("durations")
    if keys & set(_CHARACTER_KEYS):
        units.add("characters")
    searches = getattr(mp, _SEARCH_KEY, None)
    if searches is not None:
        units.add("searches")
    return _Price(input=getattr(mp, "input_mtok", None), output=getattr(mp, "output_mtok", None),
                  cache_read=getattr(mp, "cache_read_mtok", None),
                  cache_write=getattr(mp, "cache_write_mtok", None), model_price=mp,
                  units=frozenset(units),
                  search_unit=Decimal(str(searches)) / 1000 if searches is not None else None)


def _compute(p: _Price, u: Usage, operation: str, model: str) -> tuple[Cost | None, str | None]:
    if not p.units:
        # The price data lists the model with nothing to pay (e.g. OpenAI moderation).
        return Cost(), None
    seconds = u.audio_seconds if "durations" in p.units else None
    chars = u.characters if "characters" in p.units else None
    images = u.images if "images" in p.units else None
    searches = u.search_units if "searches" in p.units else None
    if seconds is None and chars is None and images is None and searches is None \
            and "tokens" not in p.units:
        what = {"durations": "audio seconds", "characters": "characters",
                "images": "images", "searches": "search units"}
        wanted = " or ".join(what[x] for x in sorted(p.units) if x in what)
        return None, f"{model!r} is priced by {wanted}, which the provider did not report"
    if p.model_price is not None and (seconds is not None or chars is not None):
        return _via_genai(p, u, operation, seconds, chars), None
    return _tokens(p, u, seconds, chars, images, searches), None


def _tokens(p: _Price, u: Usage, seconds: float | None = None, chars: int | None = None,
            images: int | None = None, searches: int | None = None) -> Cost:
    """Token prices with genai-prices' arithmetic (``price * count / 1M`` on Decimals; tiered
    prices through its ``calc_unit_price``). Cache reads and writes without a price of their
    own are charged as plain input, as genai-prices does."""
    prompt = u.prompt_tokens
    cached = u.cached_tokens if p.cache_read is not None else 0
    written = u.cache_write_tokens if p.cache_write is not None else 0
    uncached = max(0, prompt - cached - written)
    inp = _unit(p.input, uncached, prompt)
    cached_cost = _unit(p.cache_read, cached, prompt)
    write_cost = _unit(p.cache_write, written, prompt)
    out = _unit(p.output, u.completion_tokens, prompt)
    inp += cached_cost + write_cost
    # Override-only units (genai-prices has no per-image price).
    if seconds and p.audio_second is not None:
        inp += p.audio_second * Decimal(str(seconds))
    if chars and p.million_chars is not None:
        inp += p.million_chars * chars / _MILLION
    if images and p.image is not None:
        out += p.image * images
    if searches and p.search_unit is not None:
        inp += p.search_unit * searches
    return Cost(input=inp, output=out, total=inp + out, cached_input=cached_cost,
                cache_write=write_cost)


def _unit(price: Any, count: int, prompt: int) -> Decimal:
    if not count or price is None:
        return _ZERO
    if isinstance(price, Decimal):
        return price * count / _MILLION
    from genai_prices.types import calc_unit_price  # tiered: the tier follows the prompt size

    return calc_unit_price(price, count, prompt, _MILLION)


def _via_genai(p: _Price, u: Usage, operation: str, seconds: float | None,
               chars: int | None) -> Cost:
    """Durations and characters: genai-prices computes the whole call."""
    from genai_prices import Usage as GUsage
    from genai_prices.types import calc_unit_price

    kw: dict[str, Any] = {"input_tokens": u.prompt_tokens, "output_tokens": u.completion_tokens}
    if u.cached_tokens:
        kw["cache_read_tokens"] = u.cached_tokens
    if u.cache_write_tokens:
        kw["cache_write_tokens"] = u.cache_write_tokens
    if seconds is not None:
        # Speech produces audio, transcription consumes it.
        kw["audio_seconds"] = seconds
        kw["output_audio_seconds" if operation == "speech" else "input_audio_seconds"] = seconds
    if chars is not None:
        kw["input_characters"] = chars
    res = p.model_price.calc_price(GUsage(**kw))
    total, output = res["total_price"], res["output_price"]
    cached = (calc_unit_price(p.cache_read, u.cached_tokens, u.prompt_tokens, _MILLION)
              if u.cached_tokens and p.cache_read is not None else _ZERO)
    written = (calc_unit_price(p.cache_write, u.cache_write_tokens, u.prompt_tokens, _MILLION)
               if u.cache_write_tokens and p.cache_write is not None else _ZERO)
    return Cost(input=total - output, output=output, total=total, cached_input=cached,
                cache_write=written)


def worst_case_usage(prompt_tokens: int, max_output_tokens: int) -> Usage:
    """The usage a budget reserves before a call: the input estimate and every output token."""
    return Usage.of(prompt_tokens, max_output_tokens, source="estimated")

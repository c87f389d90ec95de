"""Cost from usage with genai-prices (offline data, cache-token aware), loaded lazily.

Money is ``Decimal`` USD, unrounded. An unknown price is ``None`` with a reason, never 0 or a
guess. The model's price is looked up once per (provider, model) and cached; the arithmetic per
call is then a few Decimal multiplications with genai-prices' own per-million-token prices, so
the result equals ``genai_prices.calc_price`` to the last digit.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ..errors import ConfigurationError
from ..types import Cost, Usage

if TYPE_CHECKING:
    from ..catalog import ModelInfo

_MILLION = Decimal(1_000_000)

# Our provider names → genai-prices provider ids.
PROVIDER_IDS = {
    "openai": "openai",
    "anthropic": "anthropic",
    "google": "google",
    "xai": "x-ai",
    "mistral": "mistral",
    "deepseek": "deepseek",
    "meta": "meta",
    "cohere": "cohere",
}

_UNPRICED_PROVIDERS = {"echo", "fake"}


def _dec(value: Any, where: str) -> Decimal:
    try:
        return Decimal(str(value))
    except Exception:
        raise ConfigurationError(f"prices: {where} must be a number (USD per million tokens), "
                                 f"got {value!r}") from None


class _Price:
    """Per-million-token prices of one model (plain Decimals), or a genai-prices fallback."""

    __slots__ = ("input", "output", "cache_read", "cache_write", "model_price")

    def __init__(self, input: Decimal, output: Decimal, cache_read: Decimal | None,
                 cache_write: Decimal | None, model_price: Any = None):
        self.input = input
        self.output = output
        self.cache_read = cache_read
        self.cache_write = cache_write
        self.model_price = model_price


class Pricing:
    """Prices calls; ``overrides`` maps model names to USD per million tokens::

        {"my-model": {"input": 0.5, "output": 1.5, "cache_read": 0.05, "cache_write": 0.6}}
    """

    def __init__(self, overrides: Mapping[str, Any] | None = None) -> None:
        self._cache: dict[tuple[str, str], _Price | str] = {}
        self._overrides: dict[str, _Price] = {}
        for model, p in (overrides or {}).items():
            if not isinstance(p, Mapping) or "input" not in p or "output" not in p:
                raise ConfigurationError(
                    f"prices[{model!r}] needs 'input' and 'output' (USD per million tokens)")
            self._overrides[model] = _Price(
                _dec(p["input"], f"{model}.input"), _dec(p["output"], f"{model}.output"),
                _dec(p["cache_read"], f"{model}.cache_read") if "cache_read" in p else None,
                _dec(p["cache_write"], f"{model}.cache_write") if "cache_write" in p else None)

    def cost(self, provider: str, model: str, usage: Usage, operation: str = "chat",
             info: ModelInfo | None = None) -> tuple[Cost | None, str | None]:
        """(cost, None), or (None, reason) when the model is unpriced."""
        price = self._overrides.get(model) or self._overrides.get(f"{provider}/{model}")
        if price is None:
            key = (provider, model)
            found = self._cache.get(key)
            if found is None:
                found = self._lookup(provider, model, info)
                self._cache[key] = found
            if isinstance(found, str):
                return None, found
            price = found
        return self._compute(price, usage), None

    def _lookup(self, provider: str, model: str, info: ModelInfo | None) -> _Price | str:
        if provider in _UNPRICED_PROVIDERS:
            return f"provider {provider!r} has no prices"
        pid = PROVIDER_IDS.get(provider)
        if pid is None:
            return f"no price data for provider {provider!r}; add prices={{...}} to price it"
        try:
            from genai_prices import Usage as GUsage
            from genai_prices import calc_price
        except ImportError:  # pragma: no cover - a dependency of cencori-core
            return "genai-prices is not installed"
        ref = (info.price_id if info is not None and info.price_id else None) or model
        try:
            calc = calc_price(GUsage(input_tokens=0, output_tokens=0), ref, provider_id=pid)
        except LookupError:
            return f"model {model!r} of {provider!r} is not in the price data"
        except Exception as exc:  # noqa: BLE001 - unknown data shapes must not fail a call
            return f"price lookup failed: {type(exc).__name__}"
        mp = calc.model_price
        fields = (mp.input_mtok, mp.output_mtok, mp.cache_read_mtok, mp.cache_write_mtok)
        plain = all(f is None or isinstance(f, (Decimal, int, float)) for f in fields)
        if plain and mp.input_mtok is not None and mp.output_mtok is not None:
            return _Price(Decimal(mp.input_mtok), Decimal(mp.output_mtok),
                          None if mp.cache_read_mtok is None else Decimal(mp.cache_read_mtok),
                          None if mp.cache_write_mtok is None else Decimal(mp.cache_write_mtok))
        # Tiered or otherwise structured prices: let genai-prices compute every call.
        return _Price(Decimal(0), Decimal(0), None, None, model_price=mp)

    @staticmethod
    def _compute(p: _Price, u: Usage) -> Cost:
        if p.model_price is not None:
            return _via_genai(p.model_price, u)
        cached = u.cached_tokens if p.cache_read is not None else 0
        written = u.cache_write_tokens if p.cache_write is not None else 0
        uncached = max(0, u.prompt_tokens - cached - written)
        cached_cost = cached * p.cache_read / _MILLION if cached and p.cache_read is not None \
            else Decimal(0)
        write_cost = written * p.cache_write / _MILLION if written and p.cache_write is not None \
            else Decimal(0)
        inp = uncached * p.input / _MILLION + cached_cost + write_cost
        out = u.completion_tokens * p.output / _MILLION
        return Cost(input=inp, output=out, total=inp + out, cached_input=cached_cost,
                    cache_write=write_cost)


def _via_genai(model_price: Any, u: Usage) -> Cost:
    from genai_prices import Usage as GUsage

    res = model_price.calc_price(GUsage(
        input_tokens=u.prompt_tokens, output_tokens=u.completion_tokens,
        cache_read_tokens=u.cached_tokens or None, cache_write_tokens=u.cache_write_tokens or None))
    return Cost(input=res["input_price"], output=res["output_price"], total=res["total_price"])

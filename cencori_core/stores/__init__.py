"""Shared counters for budgets and rate limits: in memory (default) or in Redis.

A store offers the same operations to the sync and the async driver (``reserve`` / ``areserve``,
``settle`` / ``asettle``, ``hit`` / ``ahit`` ...). Budget counters are integers in
:data:`UNITS_PER_USD` (nano-dollars) so Redis can keep them exactly; rate limits are `limits`
windows. A store that cannot be reached raises :class:`StoreUnavailable`, and the caller
decides whether to fail open or closed.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal
from typing import Any

from ..errors import CencoriError

__all__ = ["UNITS_PER_USD", "Counter", "Refused", "StoreUnavailable", "to_units", "to_usd",
           "open_store"]

UNITS_PER_USD = 10**9
"""Budget counters count nano-dollars: exact in Redis integers (and in Lua doubles up to about
nine million dollars), and one unit is far below any call's price."""


def to_units(amount: Decimal) -> int:
    """USD → units, rounded up so a budget is never undercharged."""
    return int((amount * UNITS_PER_USD).to_integral_value(rounding=ROUND_CEILING))


def to_usd(units: int) -> Decimal:
    return Decimal(units) / UNITS_PER_USD


@dataclass(frozen=True, slots=True)
class Counter:
    """One budget counter a reservation touches."""

    key: str
    """Scope, window and period, e.g. ``project:acme:day:2025-01-31``."""
    limit: int
    """The budget, in units."""
    ttl: int = 0
    """Seconds to keep the counter after its last change (0: forever)."""


@dataclass(frozen=True, slots=True)
class Refused:
    """Why a reservation did not fit: the counter and its state at that moment (units)."""

    counter: Counter
    spent: int
    reserved: int


class StoreUnavailable(CencoriError):
    """The shared store cannot be reached (the message never holds a password). Calls turn it
    into their budget / rate-limit / authentication errors; ``router.usage.budget()`` raises it
    as is."""


def open_store(redis_url: str | None, **options: Any) -> Any:
    """The store for ``redis_url``, or the in-process store."""
    if redis_url:
        from .redis import RedisStore

        return RedisStore(redis_url, **options)
    from .memory import MemoryStore

    return MemoryStore()
